"""/healthz, /readyz and /metrics through Django's test client, on the real Redis and the test database."""

from __future__ import annotations

import re

import pytest

from moderation.models import CommentStatus, WebhookDelivery
from moderation.queue import producer
from moderation.services import (
    ModelVerdict,
    create_webhook_endpoint,
    moderate_comments,
    record_model_decisions,
)
from tests.conftest import reconnect_producer

pytestmark = pytest.mark.django_db

THRESHOLDS = {
    "toxicity": {"review": 0.5, "reject": 0.9},
    "insult": {"review": 0.9, "reject": 0.9},
    "spam": {"review": 0.5, "reject": 0.9},
}
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def metric(text: str, name: str, **labels) -> float | None:
    """The value of one sample of the exposition, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (re.escape("{" + wanted + "}") if labels else "") + r" (\S+)$"
    for line in text.splitlines():
        match = re.match(pattern, line)
        if match:
            return float(match.group(1))
    return None


@pytest.fixture
def decided(make_comment):
    """Three comments: approved, rejected by toxicity and insult, held for review by spam; one left queued."""
    comments = [make_comment() for _ in range(4)]
    record_model_decisions(
        [
            ModelVerdict(comments[0].pk, {"toxicity": 0.1, "insult": 0.0, "spam": 0.1}, "m-1", THRESHOLDS),
            ModelVerdict(comments[1].pk, {"toxicity": 0.95, "insult": 0.95, "spam": 0.1}, "m-1", THRESHOLDS),
            ModelVerdict(comments[2].pk, {"toxicity": 0.1, "insult": 0.0, "spam": 0.6}, "m-1", THRESHOLDS),
        ]
    )
    return comments


@pytest.fixture
def fresh_producer():
    reconnect_producer()
    yield
    reconnect_producer()


def test_healthz_answers_whatever_the_host(client, settings):
    settings.ALLOWED_HOSTS = ["moderation.example.com"]
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    # The host check still applies everywhere else.
    assert client.get("/api/v1/comments/1", HTTP_HOST="10.0.0.7:8000").status_code == 400


def test_readyz_ready_with_database_broker_and_model(client, real_redis, fresh_producer):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready" and body["failed"] == []
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] == "ok"
    assert body["checks"]["model"].startswith("ok (")


def test_readyz_names_the_broker_when_it_is_down(client, settings, fresh_producer):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]
    assert response.json()["checks"]["database"] == "ok"


def test_readyz_names_the_model_when_it_cannot_be_loaded(
    client, settings, tmp_path, real_redis, fresh_producer, fresh_model_state
):
    settings.MODERATION_MODEL_PATH = str(tmp_path / "missing.joblib")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["model"]
    assert "missing.joblib" in response.json()["checks"]["model"]


def test_readyz_hides_error_details_from_outside(client, settings, fresh_producer):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    body = client.get("/readyz", **OUTSIDE).json()
    assert body["failed"] == ["broker"] and "checks" not in body


def test_metrics_loopback_only_without_a_token(client):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", **OUTSIDE).status_code == 403
    # A proxy on the same machine forwards outside clients from 127.0.0.1: not loopback.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403


def test_metrics_with_a_token(client, settings):
    settings.MODERATION_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 403  # loopback is not enough once a token is set
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **OUTSIDE)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")


def test_metrics_figures(client, decided, site, real_redis, fresh_producer, moderator):
    text = client.get("/metrics").content.decode()
    assert metric(text, "moderation_comments_submitted_total", site="default") == 4
    assert metric(text, "moderation_decisions_total", kind="auto", outcome="approved") == 1
    assert metric(text, "moderation_decisions_total", kind="auto", outcome="rejected") == 1
    assert metric(text, "moderation_decisions_total", kind="auto", outcome="needs_review") == 1
    assert metric(text, "moderation_decisions_by_label_total", label="toxicity", outcome="rejected") == 1
    assert metric(text, "moderation_decisions_by_label_total", label="spam", outcome="needs_review") == 1
    assert metric(text, "moderation_decisions_by_label_total", label="toxicity", outcome="approved") is None
    assert metric(text, "moderation_comments", status="queued") == 1
    assert metric(text, "moderation_comments_failed_total") == 0
    # Histogram: cumulative buckets, +Inf equals the count.
    buckets = [
        float(v)
        for v in re.findall(r'^moderation_decision_latency_seconds_bucket\{le="[^"]+"\} (\S+)$', text, re.M)
    ]
    assert buckets == sorted(buckets) and buckets[-1] == 3
    assert metric(text, "moderation_decision_latency_seconds_count") == 3
    assert metric(text, "moderation_decision_latency_seconds_sum") >= 0
    assert metric(text, "moderation_broker_up") == 1
    assert metric(text, "moderation_model_loaded") == 1
    # prometheus_client writes labels in name order.
    assert re.search(
        r'^moderation_model_info\{source="(registry|process)",version="[^"]+"\} 1(\.0)?$', text, re.M
    )
    # Every family has HELP and TYPE lines.
    for family in (
        "moderation_comments_submitted_total",
        "moderation_decision_latency_seconds",
        "moderation_queue_depth",
        "moderation_webhook_deliveries",
    ):
        assert f"# TYPE {family} " in text

    # Counters only grow: a moderator's decision adds one, nothing is taken away.
    moderate_comments({decided[2].pk: CommentStatus.NEEDS_REVIEW}, moderator, "approve")
    again = client.get("/metrics").content.decode()
    assert metric(again, "moderation_decisions_total", kind="moderator", outcome="approved") == 1
    assert metric(again, "moderation_decisions_total", kind="auto", outcome="needs_review") == 1


def test_metrics_queue_depth_is_read_from_redis(client, settings, real_redis, fresh_producer):
    app = producer()
    for _ in range(3):
        app.send_task("worker.noop", queue=settings.MODERATION_QUEUE)
    try:
        text = client.get("/metrics").content.decode()
        assert metric(text, "moderation_queue_depth", queue=settings.MODERATION_QUEUE) == 3
        assert metric(text, "moderation_submissions_inflight") == 0
        assert metric(text, "moderation_submissions_dead") == 0
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(settings.MODERATION_QUEUE)


def test_metrics_say_when_the_broker_is_down(client, settings, fresh_producer):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert metric(text, "moderation_broker_up") == 0 and "moderation_queue_depth{" not in text


def test_metrics_webhook_backlog(client, site, make_comment, settings):
    settings.MODERATION_WEBHOOK_ALLOW_PRIVATE = ["loopback"]
    create_webhook_endpoint(site, "http://127.0.0.1:9/hook")
    comment = make_comment()
    record_model_decisions([ModelVerdict(comment.pk, {"toxicity": 0.1, "spam": 0.1}, "m-1", THRESHOLDS)])
    assert WebhookDelivery.objects.filter(status="pending").count() == 1
    text = client.get("/metrics").content.decode()
    assert metric(text, "moderation_webhook_deliveries", status="pending") == 1
