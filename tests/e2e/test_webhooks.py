"""Webhooks end to end: a real worker decides comments submitted over Celery, sends the events to a real HTTP
receiver on loopback that fails at first, and the receiver ends up with every decision (automatic and
moderator), each webhook-id once after de-duplication, every one verified with the README's code."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import timezone

from moderation.models import Comment, CommentStatus, WebhookDelivery, WebhookDeliveryStatus
from moderation.services import create_webhook_endpoint, moderate_comments
from moderation.webhooks import delivery as webhooks
from tests.conftest import comment_payload, wait_for
from tests.moderation.webhooks.test_webhooks import Receiver

pytestmark = pytest.mark.integration

DECIDED = {CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.NEEDS_REVIEW}


@pytest.fixture
def receiver():
    r = Receiver(script=[500, 503, 500])
    yield r
    r.close()


def test_a_real_worker_delivers_every_decision_signed_despite_a_failing_receiver(
    start_worker, site, moderator, receiver
):
    from moderation.client import submit
    from moderation.queue import producer

    secret = webhooks.generate_secret()
    create_webhook_endpoint(site, receiver.url, secrets=secret)
    start_worker(MODERATION_WEBHOOK_BACKOFF_BASE_SECONDS="0.2")
    texts = [
        "Pakistan is right to wait; recognising the Taliban now would reward them for nothing.",
        "You are a pathetic idiot and a moron, shut your stupid mouth.",
        "As an Afghan living in Peshawar, I think the refugees deserve more attention in this story.",
    ]
    for n, text in enumerate(texts):
        submit(
            **comment_payload(f"wh-{n}", text=text),
            broker_url=settings.REDIS_URL,
            queue=settings.MODERATION_QUEUE,
        )
    wait_for(
        lambda: Comment.objects.filter(status__in=DECIDED).count() == 3, timeout=60, message="3 decisions"
    )

    # A moderator decision in this process: its outbox row is enqueued when the transaction commits.
    comment = Comment.objects.get(site_comment_id="c-wh-0")
    moderate_comments({comment.pk: comment.status}, moderator, "reject", "off_topic")

    # An outbox row whose enqueue was lost: the reconciler (the beat task) sends it.
    lost = WebhookDelivery.objects.create(
        endpoint=site.webhook_endpoints.get(),
        message_id="msg_lost",
        event_type="comment.decided",
        body='{"type":"comment.decided","data":{}}',
        next_attempt_at=timezone.now(),
    )
    producer().send_task("moderation.reconcile_webhooks", queue=settings.MODERATION_QUEUE)

    wait_for(
        lambda: not WebhookDelivery.objects.exclude(status=WebhookDeliveryStatus.DELIVERED).exists(),
        timeout=90,
        message="every webhook delivered",
    )
    expected = set(WebhookDelivery.objects.values_list("message_id", flat=True))
    assert len(expected) == 3 + 1 + 1 and lost.message_id in expected
    events = receiver.verified_events(secret)  # raises if any request does not verify
    assert set(events) == expected
    assert len(receiver.requests) >= len(expected) + 3  # the three failures were retried
    decisions = sorted(
        (e["data"]["decision"], e["data"]["site_comment_id"]) for e in events.values() if e["data"]
    )
    assert decisions == [
        ("automatic", "c-wh-0"),
        ("automatic", "c-wh-1"),
        ("automatic", "c-wh-2"),
        ("moderator", "c-wh-0"),
    ]
    moderator_event = next(e for e in events.values() if e["data"].get("decision") == "moderator")
    assert (
        moderator_event["data"]["status"] == "rejected"
        and moderator_event["data"]["reason_code"] == "off_topic"
    )
    auto = [e for e in events.values() if e["data"].get("decision") == "automatic"]
    assert all(e["data"]["model_version"] and e["data"]["scores"] for e in auto)
