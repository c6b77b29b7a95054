"""Webhooks: outbox rows written with the decisions, Standard Webhooks signatures checked by an independent
verifier (the README's), retries with backoff, 410, private-address refusal, admin pages. The receiver is a
real HTTP server on loopback in a thread."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from moderation.models import CommentStatus, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus
from moderation.services import (
    ModelVerdict,
    create_webhook_endpoint,
    moderate_comments,
    record_model_decisions,
    reject_pending_by_author,
    undo_moderator_actions,
)
from moderation.webhooks import delivery as webhooks

# Two labels, so that a score at both reject thresholds is a rejection (one label alone never rejects).
THRESHOLDS = {"toxicity": {"reject": 0.9, "review": 0.4}, "insult": {"reject": 0.9, "review": 0.9}}


# --- A receiver, written the way the README tells a site to write one ---------------------------------------


class InvalidSignature(Exception):
    pass


def verify(secret: str, headers, body: bytes, tolerance: int = 300) -> dict:
    """The README's receiver check: timestamp within tolerance, then any v1 signature matching."""
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        raise InvalidSignature("timestamp outside tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split():
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return json.loads(body)
    raise InvalidSignature("no matching signature")


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every request and answers with the next status of
    ``script`` (then 200 for ever)."""

    def __init__(self, script: list[int] | None = None):
        self.script = list(script or [])
        self.requests: list[tuple[dict, bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/moderation?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verified_events(self, secret: str) -> dict[str, dict]:
        """De-duplicated by webhook-id: {webhook-id: event}; raises if any request fails verification."""
        with self.lock:
            requests = list(self.requests)
        return {headers["webhook-id"]: verify(secret, headers, body) for headers, body in requests}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(script=None) -> Receiver:
        made.append(Receiver(script))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def no_broker(monkeypatch):
    """Record the delivery tasks the code would enqueue instead of sending them (no worker in these tests)."""
    sent: list[tuple[list[int], float | None]] = []
    monkeypatch.setattr(
        "moderation.queue.enqueue_webhook_delivery",
        lambda ids, countdown=None: sent.append((list(ids), countdown)) or True,
    )
    return sent


def decide(comment, score: float):
    scores = {"toxicity": score, "insult": score}
    return record_model_decisions([ModelVerdict(comment.pk, scores, "test-v1", THRESHOLDS)])


def deliver_until_done(rounds: int = 40) -> None:
    for _ in range(rounds):
        webhooks.deliver()
        if not WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING).exists():
            return
        time.sleep(0.05)
    raise AssertionError("deliveries still pending")


# --- Signatures ---------------------------------------------------------------------------------------------


def test_signature_matches_the_standard_webhooks_reference_vector():
    # The example in the Standard Webhooks specification / reference libraries.
    sig = webhooks.signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
    )
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_every_active_secret_signs_for_rotation():
    old, new = webhooks.generate_secret(), webhooks.generate_secret()
    header = webhooks.signature_header([old, new], "msg_1", 1700000000, "{}")
    parts = header.split(" ")
    assert len(parts) == 2 and all(p.startswith("v1,") for p in parts)
    assert parts[0] == webhooks.signature(old, "msg_1", 1700000000, "{}")
    assert parts[1] == webhooks.signature(new, "msg_1", 1700000000, "{}")


# --- Outbox -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_decision_writes_an_outbox_row_in_its_transaction(site, make_comment, moderator, receiver):
    create_webhook_endpoint(site, receiver().url)
    first, second, third = make_comment(), make_comment(author_id="troll"), make_comment(author_id="troll")
    assert WebhookDelivery.objects.count() == 0  # submission is not a decision
    decide(first, 0.5)  # automatic: needs review
    record_model_decisions(
        [ModelVerdict(c.pk, {"toxicity": 0.5}, "test-v1", THRESHOLDS) for c in (second, third)]
    )
    assert WebhookDelivery.objects.count() == 3
    result = moderate_comments({first.pk: CommentStatus.NEEDS_REVIEW}, moderator, "approve")
    assert WebhookDelivery.objects.count() == 4
    undo_moderator_actions(result.audit_ids, moderator)
    assert WebhookDelivery.objects.count() == 5
    reject_pending_by_author(site.pk, "troll", moderator, "spam")
    assert WebhookDelivery.objects.count() == 7

    events = [json.loads(d.body) for d in WebhookDelivery.objects.order_by("id")]
    assert [e["data"]["decision"] for e in events] == ["automatic"] * 3 + ["moderator", "undo"] + [
        "moderator"
    ] * 2
    assert [e["data"]["status"] for e in events][3:] == ["approved", "needs_review", "rejected", "rejected"]
    assert events[3]["data"]["final"] is True and events[4]["data"]["final"] is False
    assert events[5]["data"]["reason_code"] == "spam"
    assert events[0]["data"]["site_comment_id"] == first.site_comment_id
    assert events[0]["data"]["model_version"] == "test-v1" and events[0]["data"]["scores"] == {
        "toxicity": 0.5,
        "insult": 0.5,
    }
    assert len({d.message_id for d in WebhookDelivery.objects.all()}) == 7

    # A decision whose transaction rolls back leaves no outbox row behind.
    fourth = make_comment()
    with pytest.raises(RuntimeError), transaction.atomic():
        decide(fourth, 0.1)
        raise RuntimeError("rolled back")
    assert WebhookDelivery.objects.count() == 7


@pytest.mark.django_db
def test_no_endpoint_no_outbox_rows(make_comment):
    decide(make_comment(), 0.1)
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.django_db
def test_delivery_is_enqueued_on_commit(
    site, make_comment, receiver, no_broker, django_capture_on_commit_callbacks
):
    create_webhook_endpoint(site, receiver().url)
    with django_capture_on_commit_callbacks(execute=True):
        decide(make_comment(), 0.1)
    assert no_broker == [([WebhookDelivery.objects.get().pk], None)]


# --- Delivery -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_events_arrive_signed_and_verify_with_each_rotated_secret(site, make_comment, receiver, no_broker):
    old, new = webhooks.generate_secret(), webhooks.generate_secret()
    r = receiver()
    create_webhook_endpoint(site, r.url, secrets=f"{old} {new}")
    comment = make_comment()
    decide(comment, 0.95)
    assert webhooks.deliver() == {"delivered": 1, "retrying": 0, "failed": 0}

    ((headers, body),) = r.requests
    delivery = WebhookDelivery.objects.get()
    assert headers["webhook-id"] == delivery.message_id and body.decode() == delivery.body
    assert headers["content-type"] == "application/json"
    for secret in (old, new):
        event = verify(secret, headers, body)
        assert event["type"] == "comment.decided"
        assert event["data"]["comment_id"] == comment.pk and event["data"]["status"] == "rejected"
    with pytest.raises(InvalidSignature):
        verify(webhooks.generate_secret(), headers, body)
    assert delivery.status == WebhookDeliveryStatus.DELIVERED and delivery.attempts == 1
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 200 and attempt.error == "" and attempt.response_body == "ok"
    assert webhooks.deliver() == {"delivered": 0, "retrying": 0, "failed": 0}  # delivered once
    assert len(r.requests) == 1


@pytest.mark.django_db
def test_tampered_body_or_replayed_timestamp_fails_verification(site, make_comment, receiver, no_broker):
    secret = webhooks.generate_secret()
    r = receiver()
    create_webhook_endpoint(site, r.url, secrets=secret)
    decide(make_comment(), 0.1)
    webhooks.deliver()
    ((headers, body),) = r.requests
    verify(secret, headers, body)
    tampered = body.replace(b'"approved"', b'"rejected"')
    assert tampered != body
    with pytest.raises(InvalidSignature):
        verify(secret, headers, tampered)
    with pytest.raises(InvalidSignature):
        verify(secret, {**headers, "webhook-id": "msg_other"}, body)
    old = str(int(headers["webhook-timestamp"]) - 3600)
    with pytest.raises(InvalidSignature):
        verify(secret, {**headers, "webhook-timestamp": old}, body)


@pytest.mark.django_db
def test_receiver_that_fails_then_recovers_gets_every_event_once_after_dedup(
    site, make_comment, moderator, receiver, no_broker, settings
):
    settings.MODERATION_WEBHOOK_BACKOFF_BASE_SECONDS = 0.01
    secret = webhooks.generate_secret()
    r = receiver(script=[500, 503, 502, 500, 404])
    create_webhook_endpoint(site, r.url, secrets=secret)
    comments = [make_comment() for _ in range(3)]
    record_model_decisions([ModelVerdict(c.pk, {"toxicity": 0.5}, "test-v1", THRESHOLDS) for c in comments])
    moderate_comments({comments[0].pk: CommentStatus.NEEDS_REVIEW}, moderator, "approve")
    deliver_until_done()

    expected = set(WebhookDelivery.objects.values_list("message_id", flat=True))
    events = r.verified_events(secret)
    assert set(events) == expected and len(expected) == 4
    assert len(r.requests) == 4 + 5  # every failure was retried
    assert WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.DELIVERED).count() == 4
    assert WebhookAttempt.objects.count() == 9
    assert WebhookAttempt.objects.filter(status_code=500).count() == 2
    retried = WebhookDelivery.objects.filter(attempts__gt=1)
    assert retried.exists() and all(d.last_error == "" for d in retried)  # cleared by the success
    assert sorted(WebhookAttempt.objects.exclude(error="").values_list("error", flat=True)) == [
        "HTTP 404",
        "HTTP 500",
        "HTTP 500",
        "HTTP 502",
        "HTTP 503",
    ]
    assert no_broker and all(countdown and countdown >= 1 for _, countdown in no_broker)  # retries scheduled


@pytest.mark.django_db
def test_a_receiver_that_never_answers_is_retried_then_given_up(site, make_comment, no_broker, settings):
    # Nothing listens on this loopback port: connection refused.
    create_webhook_endpoint(site, "http://127.0.0.1:9/hook")
    decide(make_comment(), 0.1)
    assert webhooks.deliver() == {"delivered": 0, "retrying": 1, "failed": 0}
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDeliveryStatus.PENDING and delivery.next_attempt_at > timezone.now()
    assert "ConnectionRefusedError" in delivery.last_error
    assert webhooks.deliver() == {"delivered": 0, "retrying": 0, "failed": 0}  # not due yet

    # Past the retry window (26 h by default) the next failure gives up.
    WebhookDelivery.objects.update(
        created_at=timezone.now() - timedelta(hours=27), next_attempt_at=timezone.now()
    )
    assert webhooks.deliver() == {"delivered": 0, "retrying": 0, "failed": 1}
    assert WebhookDelivery.objects.get().status == WebhookDeliveryStatus.FAILED
    assert WebhookAttempt.objects.count() == 2


def test_backoff_is_exponential_with_jitter_and_spans_more_than_a_day(settings):
    settings.MODERATION_WEBHOOK_BACKOFF_BASE_SECONDS = 5
    delays = [webhooks.backoff_seconds(n) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        assert 0.75 * 5 * 2 ** (n - 1) <= delay <= 1.25 * 5 * 2 ** (n - 1)
    assert len({round(webhooks.backoff_seconds(3), 6) for _ in range(20)}) > 1  # jitter
    assert webhooks.backoff_seconds(60) <= 1.25 * settings.MODERATION_WEBHOOK_BACKOFF_MAX_SECONDS
    assert settings.MODERATION_WEBHOOK_RETRY_FOR_SECONDS >= 24 * 3600


@pytest.mark.django_db
def test_410_gone_disables_the_endpoint(site, make_comment, receiver, no_broker):
    r = receiver(script=[410])
    endpoint = create_webhook_endpoint(site, r.url)
    decide(make_comment(), 0.1)
    decide(make_comment(), 0.1)
    assert webhooks.deliver() == {"delivered": 0, "retrying": 0, "failed": 1}
    assert len(r.requests) == 1  # the second event is not sent to a disabled endpoint
    endpoint.refresh_from_db()
    assert endpoint.enabled is False and "410" in endpoint.disabled_reason
    decide(make_comment(), 0.1)  # new decisions write no rows for a disabled endpoint
    assert WebhookDelivery.objects.count() == 2
    assert WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url, kind",
    [
        ("http://127.0.0.1:8000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link_local"),
        ("http://0.0.0.0/hook", "private"),
    ],
)
def test_private_addresses_are_refused_unless_allowed(site, settings, url, kind):
    settings.MODERATION_WEBHOOK_ALLOW_PRIVATE = []
    with pytest.raises(ValidationError) as err:
        create_webhook_endpoint(site, url)
    assert kind in str(err.value) and "MODERATION_WEBHOOK_ALLOW_PRIVATE" in str(err.value)
    if kind != "private" or "0.0.0.0" not in url:
        settings.MODERATION_WEBHOOK_ALLOW_PRIVATE = [kind]
        create_webhook_endpoint(site, url)  # allowed explicitly


@pytest.mark.django_db
def test_bad_urls_and_secrets_are_refused(site):
    for url in ("ftp://127.0.0.1/x", "http:///nohost", "http://user:pw@127.0.0.1/x"):
        with pytest.raises(ValidationError):
            create_webhook_endpoint(site, url)
    for secrets in ("plain-secret", "whsec_not*base64", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(ValidationError) as err:
            create_webhook_endpoint(site, "http://127.0.0.1/x", secrets=secrets)
        assert "secrets" in err.value.message_dict


@pytest.mark.django_db
def test_an_address_refused_at_delivery_time_is_never_contacted(
    site, make_comment, receiver, no_broker, settings
):
    # Saved while loopback was allowed (or the name resolved elsewhere then): checked again at every attempt.
    r = receiver()
    create_webhook_endpoint(site, r.url)
    decide(make_comment(), 0.1)
    settings.MODERATION_WEBHOOK_ALLOW_PRIVATE = []
    assert webhooks.deliver()["retrying"] == 1
    assert r.requests == []
    assert "loopback" in WebhookDelivery.objects.get().last_error


@pytest.mark.django_db
def test_admins_see_endpoints_deliveries_and_attempts(site, make_comment, receiver, no_broker, admin_client):
    r = receiver(script=[500])
    create_webhook_endpoint(site, r.url)
    decide(make_comment(), 0.1)
    webhooks.deliver()
    delivery = WebhookDelivery.objects.get()
    for url in (
        "/admin/moderation/webhookendpoint/",
        "/admin/moderation/webhookdelivery/",
        "/admin/moderation/webhookattempt/",
        f"/admin/moderation/webhookdelivery/{delivery.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    page = admin_client.get(f"/admin/moderation/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert delivery.message_id in page and "HTTP 500" in page
    # "Retry now" makes it due at once and enqueues it.
    admin_client.post(
        "/admin/moderation/webhookdelivery/", {"action": "retry_now", "_selected_action": [delivery.pk]}
    )
    assert no_broker[-1] == ([delivery.pk], None)
    assert webhooks.deliver()["delivered"] == 1
