"""Horizontal workers: two worker processes on the same queue at once decide each comment exactly once, even
when every message is delivered twice (as a redelivery after a lost acknowledgement would)."""

from __future__ import annotations

import re

import pytest

from moderation.models import AuditEntry, Comment, CommentStatus, Decision
from moderation.queue import enqueue_decide
from moderation.services import accept_comments
from moderation.validation import validate_submission
from tests.conftest import comment_payload, wait_for

pytestmark = pytest.mark.integration

COMMENTS = 240
IDS_PER_MESSAGE = 4
TEXTS = [
    "Pakistan is right to wait before recognising the Taliban government.",
    "You are a pathetic idiot and a moron, shut your stupid mouth.",
    "CHECK OUT my channel!!! subscribe http://free-money.example.com win an iPhone now click here",
]


def tasks_run(worker) -> int:
    return len(re.findall(r"Task moderation\.decide_comments\[[^\]]+\] succeeded", worker.output_all()))


def test_two_workers_on_one_queue_decide_each_comment_once(site, start_worker):
    workers = [start_worker("scale-a"), start_worker("scale-b")]
    for worker in workers:  # the whole log, not the tail the fixture's output() keeps
        worker.output_all = lambda w=worker: w.log_path.read_text(errors="replace")

    cleans = [
        validate_submission(comment_payload(f"scale-{n}", text=TEXTS[n % len(TEXTS)]))
        for n in range(COMMENTS)
    ]
    ids = [comment.pk for comment, created in accept_comments(site, cleans, source="api") if created]
    assert len(ids) == COMMENTS
    # Every message twice, interleaved, so both workers hold copies of the same ids at the same time.
    chunks = [ids[i : i + IDS_PER_MESSAGE] for i in range(0, len(ids), IDS_PER_MESSAGE)]
    for chunk in chunks:
        assert enqueue_decide(chunk)
    for chunk in reversed(chunks):
        assert enqueue_decide(chunk)

    def all_decided():
        return not Comment.objects.filter(pk__in=ids, status=CommentStatus.QUEUED).exists()

    wait_for(all_decided, timeout=180, interval=0.5, message=f"{COMMENTS} comments decided by two workers")
    wait_for(
        lambda: sum(tasks_run(w) for w in workers) == 2 * len(chunks),
        timeout=60,
        interval=0.5,
        message="every message (and its copy) acknowledged",
    )

    # Exactly once: one automatic decision and one automatic audit entry per comment.
    assert Decision.objects.filter(comment_id__in=ids, kind="auto").count() == COMMENTS
    assert Decision.objects.filter(comment_id__in=ids).values("comment_id").distinct().count() == COMMENTS
    assert AuditEntry.objects.filter(comment_id__in=ids, actor_label="model").count() == COMMENTS
    outcomes = set(Comment.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert outcomes <= {CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.NEEDS_REVIEW}
    # And both processes did part of the work.
    runs = [tasks_run(w) for w in workers]
    print(f"decide_comments messages run per worker: {runs}")
    assert all(n > 0 for n in runs), f"one worker did everything: {runs}"
