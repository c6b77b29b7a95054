"""The release loop end to end on small data, with a real worker: moderator labels are exported, a model is
trained on them (small-sample config, seconds), registered and promoted while comments stream through the
worker. The worker switches without a restart; every decision names exactly one of the two versions, and none
is lost."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.core.management import call_command

from moderation.models import Comment, CommentStatus, Decision
from moderation.services import moderate_comments
from moderation.services.registry import promote, register_model
from tests.conftest import comment_payload, wait_for
from training.runtime import default_model_path

pytestmark = pytest.mark.integration

DECIDED = {CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.NEEDS_REVIEW}
TEXTS = [
    "Pakistan is right to wait; recognising the Taliban now would reward them for nothing.",
    "You are a pathetic idiot and a moron, shut your stupid mouth.",
    "CHECK OUT my channel!!! subscribe http://free-money.example.com win an iPhone now click here",
    "As an Afghan living in Peshawar, I think the refugees deserve more attention in this story.",
]


def submit_many(prefix: str, n: int, pause: float = 0.0) -> None:
    from moderation.client import submit

    for i in range(n):
        submit(
            **comment_payload(f"{prefix}-{i}", text=TEXTS[i % len(TEXTS)] + f" ({prefix} {i})"),
            broker_url=settings.REDIS_URL,
            queue=settings.MODERATION_QUEUE,
        )
        if pause:
            time.sleep(pause)


def test_export_train_register_promote_while_a_worker_decides(start_worker, site, moderator, tmp_path):
    from training.offline.cli import main as training_main

    version_a = register_model(default_model_path()).version
    promote(version_a)
    start_worker(MODERATION_MODEL_CHECK_SECONDS="0.5")

    # Phase 1: the worker decides with A; moderators label some of them.
    submit_many("first", 12)
    wait_for(lambda: Comment.objects.filter(status__in=DECIDED).count() == 12, timeout=60, message="phase 1")
    for comment in Comment.objects.order_by("id")[:8]:
        action = "reject" if comment.status != CommentStatus.APPROVED else "approve"
        moderate_comments(
            {comment.pk: comment.status}, moderator, action, "toxic" if action == "reject" else ""
        )

    # Export -> train (small) -> register.
    labels = tmp_path / "labels.csv"
    call_command("export_labels", "--since", "2000-01-01", "--out", str(labels))
    config = tmp_path / "small.json"
    config.write_text(
        json.dumps(
            {
                "max_rows_per_source": 120,
                "evaluate_external": False,
                "word_max_features": 3000,
                "char_max_features": 6000,
                "identity_sentences_per_identity": 2,
            }
        )
    )
    candidate = tmp_path / "candidate.joblib"
    assert (
        training_main(["train", "--config", str(config), "--labels", f"{labels}:3", "--out", str(candidate)])
        == 0
    )
    version_b = register_model(candidate).version
    assert version_b != version_a

    # Phase 2: a stream of comments, with the promotion in the middle of it.
    submit_many("stream-a", 15, pause=0.05)
    promote(version_b)
    submit_many("stream-b", 15, pause=0.05)
    time.sleep(1.5)  # past the worker's check interval: what follows must be decided by B
    submit_many("after", 5)

    total = 12 + 15 + 15 + 5
    wait_for(
        lambda: Comment.objects.filter(status__in=DECIDED).count() == total,
        timeout=120,
        message=f"{total} decided comments",
    )
    assert Comment.objects.count() == total  # none lost, none duplicated
    auto = list(
        Decision.objects.filter(kind="auto")
        .order_by("created_at", "id")
        .values_list("comment__site_comment_id", "model_version")
    )
    # exactly one automatic decision each
    assert len(auto) == total and len({sid for sid, _ in auto}) == total
    versions = [v for _, v in auto]
    assert set(versions) == {version_a, version_b}  # every decision names exactly one of the two
    # One worker process: once it switched it never went back.
    first_b = versions.index(version_b)
    assert all(v == version_b for v in versions[first_b:])
    assert all(v == version_a for sid, v in auto if sid.startswith("c-first-"))
    assert all(v == version_b for sid, v in auto if sid.startswith("c-after-"))
    # The comment's own record agrees with its decision.
    for comment in Comment.objects.all():
        assert comment.model_version == comment.decisions.get(kind="auto").model_version
