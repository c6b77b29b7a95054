"""Privacy: IP retention (periodic task) and erasing an author (command and API), everywhere their data is."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.core import serializers
from django.core.management import CommandError, call_command
from django.utils import timezone

from moderation.models import AuditEntry, Comment, CommentStatus, Decision, WebhookDelivery
from moderation.queue import producer, queue_names
from moderation.services import (
    ERASED_AUTHOR,
    ModelVerdict,
    accept_comment,
    apply_retention,
    create_api_key,
    create_webhook_endpoint,
    erase_author,
    get_or_create_site,
    moderate_comments,
    record_model_decisions,
    truncate_ip,
)
from moderation.validation import validate_submission
from tests.conftest import comment_payload, reconnect_producer

pytestmark = pytest.mark.django_db

THRESHOLDS = {"toxicity": {"review": 0.5, "reject": 0.9}}
TEXT = "Jane's very personal opinion about the Peshawar border crossing."
PERSONAL = (TEXT, "Jane Doe", "198.51.100.77", "author-jane", "JaneBrowser/1.0", "quoting Jane's words")


def store(site, n, **overrides):
    comment, _ = accept_comment(site, validate_submission(comment_payload(n, **overrides)), "api")
    return comment


# --- IP retention -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ip, expected",
    [("203.0.113.77", "203.0.113.0"), ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"), ("::1", "::")],
)
def test_truncate_ip(ip, expected):
    assert truncate_ip(ip) == expected


def test_retention_truncates_old_ips_once(site, settings):
    settings.MODERATION_IP_RETENTION_DAYS = 30
    old, recent, v6 = (
        store(site, 1, ip="203.0.113.77"),
        store(site, 2, ip="203.0.113.78"),
        store(site, 3, ip="2001:db8:abcd:12::9"),
    )
    no_ip = store(site, 4)
    Comment.objects.filter(pk__in=[old.pk, v6.pk, no_ip.pk]).update(
        submitted_at=timezone.now() - timedelta(days=31)
    )

    assert apply_retention() == 2
    for comment in (old, recent, v6, no_ip):
        comment.refresh_from_db()
    assert (old.ip, old.ip_truncated) == ("203.0.113.0", True)
    assert (v6.ip, v6.ip_truncated) == ("2001:db8:abcd::", True)
    assert (recent.ip, recent.ip_truncated) == ("203.0.113.78", False)
    assert no_ip.ip is None
    assert apply_retention() == 0  # idempotent


def test_retention_task_is_scheduled_by_beat(settings):
    import worker.tasks  # noqa: F401  (registers the tasks, as a worker does at start)
    from moderation.config.celery import app

    entry = next(
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "moderation.apply_retention"
    )
    assert entry["schedule"] == settings.MODERATION_RETENTION_EVERY_SECONDS
    assert "moderation.apply_retention" in app.tasks
    assert "moderation.requeue_stale" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}


def test_retention_task_runs(site):
    from worker.tasks import apply_retention as task

    comment = store(site, 1, ip="192.0.2.200")
    Comment.objects.filter(pk=comment.pk).update(submitted_at=timezone.now() - timedelta(days=400))
    assert task.apply().get() == {"truncated": 1}
    comment.refresh_from_db()
    assert comment.ip == "192.0.2.0"


# --- Erasing an author --------------------------------------------------------------------------------------


@pytest.fixture
def jane(site, moderator, settings):
    """Author "author-jane" on the default site: one comment decided by the model then a moderator (with a
    note quoting her), one held, one still queued, with a webhook endpoint so outbox copies exist; the
    same author id on another site, and another author on this site."""
    settings.MODERATION_WEBHOOK_ALLOW_PRIVATE = ["loopback"]
    create_webhook_endpoint(site, "http://127.0.0.1:9/hook")
    personal = dict(
        text=TEXT,
        author_id="author-jane",
        author_name="Jane Doe",
        ip="198.51.100.77",
        user_agent="JaneBrowser/1.0",
    )
    decided, held, queued = (store(site, n, **personal) for n in (1, 2, 3))
    record_model_decisions(
        [
            ModelVerdict(decided.pk, {"toxicity": 0.6}, "m-1", THRESHOLDS),
            ModelVerdict(held.pk, {"toxicity": 0.7}, "m-1", THRESHOLDS),
        ]
    )
    moderate_comments(
        {decided.pk: CommentStatus.NEEDS_REVIEW}, moderator, "reject", "other", "quoting Jane's words"
    )
    other_site = get_or_create_site("other", "Other")
    elsewhere = store(other_site, 1, **personal)
    someone_else = store(site, 4, author_id="author-bob", text="Bob's comment stays as it is.")
    return {"mine": [decided, held, queued], "elsewhere": elsewhere, "someone_else": someone_else}


def dump(comment_ids) -> str:
    rows = [
        *Comment.objects.filter(pk__in=comment_ids),
        *Decision.objects.filter(comment_id__in=comment_ids),
        *AuditEntry.objects.filter(comment_id__in=comment_ids),
        *AuditEntry.objects.filter(comment__isnull=True),
        *WebhookDelivery.objects.filter(comment_id__in=comment_ids),
    ]
    return serializers.serialize("json", rows)


def assert_erased(jane, erased_ids):
    ids = [c.pk for c in jane["mine"]]
    assert sorted(erased_ids) == sorted(ids)
    everything = dump(ids)
    for value in PERSONAL:
        assert value not in everything, value
    for comment in Comment.objects.filter(pk__in=ids):
        assert (
            comment.status == CommentStatus.ERASED
            and comment.erased_at
            and comment.author_id == ERASED_AUTHOR
        )
        assert comment.site_comment_id.startswith("c-") and comment.story_id  # the tombstone
    # The decisions are still there (outcome, who), without their copies of scores, reasons and notes.
    assert Decision.objects.filter(comment_id__in=ids, kind="moderator", outcome="rejected").count() == 1
    assert not WebhookDelivery.objects.filter(comment_id__in=ids, status="pending").exists()
    entry = AuditEntry.objects.get(action="author_erased")
    assert entry.after["comment_ids"] == sorted(ids) and "author-jane" not in json.dumps(entry.after)
    # Other sites and other authors are untouched.
    for untouched in (jane["elsewhere"], jane["someone_else"]):
        before = untouched.text
        untouched.refresh_from_db()
        assert untouched.text == before and untouched.status == CommentStatus.QUEUED


def test_erase_author_command(jane):
    call_command("erase_author", "default", "author-jane")
    assert_erased(jane, [c.pk for c in Comment.objects.filter(status=CommentStatus.ERASED)])
    assert AuditEntry.objects.get(action="author_erased").actor_label == "manage.py erase_author"


def test_erase_author_command_errors(jane):
    with pytest.raises(CommandError, match="no site 'nope'"):
        call_command("erase_author", "nope", "author-jane")
    with pytest.raises(CommandError, match="no comments by this author"):
        call_command("erase_author", "default", "author-nobody")


def test_erase_author_api(client, jane, site):
    _, key = create_api_key(site)
    response = client.post("/api/v1/authors/author-jane:erase", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    assert response.json()["erased_comments"] == 3
    assert_erased(jane, response.json()["comment_ids"])
    assert AuditEntry.objects.get(action="author_erased").actor_label == "site:default"
    # Done already: nothing by that author any more.
    assert (
        client.post("/api/v1/authors/author-jane:erase", HTTP_AUTHORIZATION=f"Bearer {key}").status_code
        == 404
    )
    assert (
        client.get("/api/v1/authors/author-jane:erase", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 405
    )
    assert client.post("/api/v1/authors/author-jane:erase").status_code == 401


def test_an_erased_comment_still_queued_is_skipped_by_the_worker(jane, site):
    from moderation.services.ingest import decide_comments

    queued = jane["mine"][2]
    erase_author(site, "author-jane")
    assert decide_comments([queued.pk]) == []
    queued.refresh_from_db()
    assert queued.status == CommentStatus.ERASED and queued.scores == {}
    assert not Decision.objects.filter(comment=queued).exists()


def test_erased_comments_are_not_in_the_review_queue(jane, site, moderator, client):
    erase_author(site, "author-jane")
    client.force_login(moderator)
    page = client.get("/dashboard/").content.decode()
    assert TEXT not in page and "Jane Doe" not in page


# --- Queued work in the broker ------------------------------------------------------------------------------


def queued_submissions(settings) -> list[tuple[str, dict]]:
    """(task, kwargs) of every message waiting on the submission and main queues, read from the real Redis."""

    out = []
    with producer().connection_for_read() as conn:
        channel = conn.default_channel
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        for queue in queue_names():
            for raw in channel.client.execute_command("LRANGE", prefix + queue, 0, -1):
                message = json.loads(raw)
                _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
                out.append((message["headers"]["task"], kwargs))
    return out


@pytest.fixture
def clean_queues(settings, real_redis):

    reconnect_producer()

    def purge():
        with producer().connection_for_write() as conn:
            for queue in queue_names():
                conn.default_channel.queue_purge(queue)

    purge()
    yield
    purge()


def test_erasing_drops_the_authors_submissions_still_in_the_broker(site, settings, clean_queues):
    app = producer()
    jane = dict(text=TEXT, author_id="author-jane", story_id="s-1")
    app.send_task("moderation.submit_comment", kwargs={"site_comment_id": "q-1", **jane})
    app.send_task("moderation.submit_comment", kwargs={"site_comment_id": "q-2", **jane, "site": "other"})
    app.send_task(
        "moderation.submit_comment",
        kwargs={
            "site_comment_id": "q-3",
            "text": "Bob's text.",
            "author_id": "author-bob",
            "story_id": "s-1",
        },
    )
    app.send_task(
        "moderation.submit_comments",
        kwargs={
            "comments": [
                {"site_comment_id": "q-4", **jane},
                {
                    "site_comment_id": "q-5",
                    "text": "Bob again.",
                    "author_id": "author-bob",
                    "story_id": "s-1",
                },
            ]
        },
    )
    assert len(queued_submissions(settings)) == 4

    erasure = erase_author(site, "author-jane")
    assert erasure.dropped_submissions == 2 and erasure.comment_ids == []
    left = queued_submissions(settings)
    assert TEXT not in json.dumps([kwargs for task, kwargs in left if kwargs.get("site") != "other"])
    assert sorted(
        k.get("site_comment_id") or [c["site_comment_id"] for c in k["comments"]][0] for _, k in left
    ) == ["q-2", "q-3", "q-5"]
    entry = AuditEntry.objects.get(action="author_erased")
    assert entry.after["queued_submissions_dropped"] == 2 and "author-jane" not in json.dumps(entry.after)
