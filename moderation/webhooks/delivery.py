"""Decision events to the sites, the Standard Webhooks way (https://www.standardwebhooks.com/).

- **Outbox.** ``write_outbox`` is called by the decision functions of ``moderation.services`` inside their
  transaction: one ``WebhookDelivery`` row per event and enabled endpoint of the comment's site, holding the
  exact JSON body. The rows exist if and only if the decision does; the delivery task is enqueued on commit,
  and the periodic reconciler (``moderation.reconcile_webhooks``) sends whatever is due, so a lost message
  only delays.
- **Signing.** ``webhook-signature: v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>``,
  one ``v1,`` signature per active secret (space-separated) so secrets can be rotated. A secret is
  ``whsec_<base64 key>``.
- **Retries.** Any answer other than 2xx (or no answer) is retried with exponential backoff and jitter for at
  least ``MODERATION_WEBHOOK_RETRY_FOR_SECONDS`` (26 h by default), then the delivery is marked failed. ``410
  Gone`` disables the endpoint. Every attempt is stored (``WebhookAttempt``) and shown in Django admin.
- **Where we connect.** A URL whose host resolves to a loopback, private or link-local address (or any other
  non-public one) is refused, when the endpoint is saved and again at each attempt, and the connection goes to
  the address that was checked (no second DNS lookup), unless ``MODERATION_WEBHOOK_ALLOW_PRIVATE`` allows that
  range.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import random
import secrets as secrets_module
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from moderation import queue
from moderation.models import (
    Comment,
    CommentStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from moderation.validation import (
    SECRET_PREFIX,
    WebhookURLRefused,
    resolve_allowed,
    secret_key,
    split_url,
)

log = logging.getLogger(__name__)

EVENT_DECIDED = "comment.decided"
# How long a claimed delivery is left alone (a worker that died mid-attempt is retried after it).
CLAIM_LEASE = timedelta(minutes=5)
# Retries due within this many seconds are sent as a delayed task; later ones are left to the reconciler (a
# Celery countdown longer than the broker's visibility timeout would be delivered twice).
MAX_COUNTDOWN_SECONDS = 300
USER_AGENT = "moderation-webhooks/1"


# --- Secrets and signatures ---------------------------------------------------------------------------------


def generate_secret() -> str:
    """A new random secret (24 bytes), in the ``whsec_<base64>`` form receivers expect."""
    return SECRET_PREFIX + base64.b64encode(secrets_module.token_bytes(24)).decode("ascii")


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{message_id}.{timestamp}.{body}`` with ``secret`` (``whsec_…``)."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secret_list: Iterable[str], message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header: one signature per active secret, space-separated."""
    return " ".join(signature(s, message_id, timestamp, body) for s in secret_list)


# --- Outbox -------------------------------------------------------------------------------------------------


def event_data(comment: Comment, decision: str, reason_code: str = "") -> dict[str, Any]:
    """What a site learns about one decision. ``decision`` is automatic | moderator | undo | reported
    (readers' reports sent an approved comment back to review)."""
    return {
        "comment_id": comment.pk,
        "site_comment_id": comment.site_comment_id,
        "status": comment.status,
        "final": comment.status in (CommentStatus.APPROVED, CommentStatus.REJECTED),
        "decision": decision,
        "decided_by": comment.decided_by,
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
        "reason_code": reason_code,
        "reasons": list(comment.reasons or []),
        "reason_codes": list(comment.reason_codes or []),
        "scores": dict(comment.scores or {}),
        "model_version": comment.model_version,
        # Issue 20: the site's adapter that re-scored toxicity, null for the shared model's scores.
        "adapter_version": comment.adapter_version or None,
        # Issue 21: an edited comment is decided again; the revision says which text a decision is about.
        "revision": comment.revision,
    }


def write_outbox(comments: Iterable[Comment], decision: str, reason_code: str = "") -> list[int]:
    """Write one outbox row per (comment, enabled endpoint of its site), to be called INSIDE the transaction
    that records the decisions; the delivery task is enqueued when that transaction commits. Returns the row
    ids (none, and no query beyond one endpoint lookup, when the sites have no endpoint)."""
    comments = list(comments)
    if not comments:
        return []
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(site_id__in={c.site_id for c in comments}, enabled=True):
        endpoints.setdefault(endpoint.site_id, []).append(endpoint)
    if not endpoints:
        return []
    now = timezone.now()
    rows = []
    for comment in comments:
        targets = endpoints.get(comment.site_id)
        if not targets:
            continue
        body = json.dumps(
            {
                "type": EVENT_DECIDED,
                "timestamp": now.isoformat(),
                "data": event_data(comment, decision, reason_code),
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        for endpoint in targets:
            rows.append(
                WebhookDelivery(
                    endpoint=endpoint,
                    message_id="msg_" + uuid.uuid4().hex,
                    event_type=EVENT_DECIDED,
                    comment=comment,
                    body=body,
                    next_attempt_at=now,
                )
            )
    created = WebhookDelivery.objects.bulk_create(rows)
    ids = [row.pk for row in created]
    if ids:
        transaction.on_commit(lambda: queue.enqueue_webhook_delivery(ids))
    return ids


# --- Delivery -----------------------------------------------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, not to whatever the host name resolves to a moment later."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, str]:
    """POST ``body`` to ``url`` (redirects are not followed). Returns (status, first 1000 characters of the
    response). Raises WebhookURLRefused, OSError or http.client.HTTPException."""
    scheme, host, port, path = split_url(url)
    address = resolve_allowed(host, port)[0]
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    conn = cls(host, port, address, timeout)
    try:
        conn.request("POST", path, body=body, headers=dict(headers))
        response = conn.getresponse()
        text = response.read(4000).decode("utf-8", errors="replace")[:1000]
        return response.status, text
    finally:
        conn.close()


def backoff_seconds(attempts: int) -> float:
    """Delay after ``attempts`` failed tries: BASE * 2^(attempts-1), capped, with +-25 % jitter."""
    base = settings.MODERATION_WEBHOOK_BACKOFF_BASE_SECONDS
    delay = min(settings.MODERATION_WEBHOOK_BACKOFF_MAX_SECONDS, base * 2 ** min(max(attempts - 1, 0), 30))
    return delay * random.uniform(0.75, 1.25)


def _attempt(delivery: WebhookDelivery) -> float | None:
    """One HTTP attempt; records it and the delivery's new state. Returns the retry delay, or None if done."""
    endpoint = delivery.endpoint
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            endpoint.secret_list(), delivery.message_id, timestamp, delivery.body
        ),
    }
    started = time.monotonic()
    status_code, response_text, error = None, "", ""
    try:
        status_code, response_text = post(
            endpoint.url, delivery.body.encode("utf-8"), headers, settings.MODERATION_WEBHOOK_TIMEOUT_SECONDS
        )
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except WebhookURLRefused as exc:
        error = str(exc)
    except (OSError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    now = timezone.now()
    retry_in: float | None = None
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            status_code=status_code,
            error=error[:500],
            response_body=response_text[:1000],
            duration_ms=duration_ms,
        )
        delivery.attempts += 1
        delivery.last_error = error[:500]
        if not error:
            delivery.status, delivery.delivered_at = WebhookDeliveryStatus.DELIVERED, now
        elif status_code == 410:
            # The receiver says the endpoint is gone for good: stop sending to it (an admin can re-enable it).
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                enabled=False,
                disabled_reason=f"410 Gone at {now.isoformat()} (delivery {delivery.message_id})",
            )
            delivery.status = WebhookDeliveryStatus.FAILED
            log.warning("webhook endpoint %s answered 410 Gone: disabled", endpoint.pk)
        elif (now - delivery.created_at).total_seconds() >= settings.MODERATION_WEBHOOK_RETRY_FOR_SECONDS:
            delivery.status = WebhookDeliveryStatus.FAILED
            log.warning(
                "webhook %s gave up after %d attempts: %s", delivery.message_id, delivery.attempts, error
            )
        else:
            retry_in = backoff_seconds(delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
        delivery.save(update_fields=["attempts", "last_error", "status", "delivered_at", "next_attempt_at"])
    return retry_in


def deliver(
    delivery_ids: Iterable[int] | None = None, limit: int = 200, budget_seconds: float = 60.0
) -> dict:
    """Attempt the pending deliveries that are due (among ``delivery_ids``, or all of them), oldest first,
    each claimed first so that two workers never send the same one at once. Stops after ``limit`` deliveries
    or ``budget_seconds`` (the rest stay due for the reconciler). Retries due soon are enqueued with a
    countdown. Returns counts: {"delivered", "retrying", "failed"}."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
    )
    if delivery_ids is not None:
        due = due.filter(pk__in=list(delivery_ids))
    ids = list(due.order_by("id").values_list("pk", flat=True)[:limit])
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    soon: dict[int, list[int]] = {}
    started = time.monotonic()
    for pk in ids:
        if time.monotonic() - started > budget_seconds:
            break
        claimed = WebhookDelivery.objects.filter(
            pk=pk, status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=timezone.now() + CLAIM_LEASE)
        if not claimed:
            continue  # another worker has it
        delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=pk)
        if not delivery.endpoint.enabled:  # disabled (410) by an earlier attempt in this loop
            WebhookDelivery.objects.filter(pk=pk).update(next_attempt_at=now)
            continue
        retry_in = _attempt(delivery)
        if retry_in is None:
            counts["delivered" if delivery.status == WebhookDeliveryStatus.DELIVERED else "failed"] += 1
        else:
            counts["retrying"] += 1
            if retry_in <= MAX_COUNTDOWN_SECONDS:
                soon.setdefault(int(retry_in) + 1, []).append(pk)
    for countdown, pks in soon.items():
        queue.enqueue_webhook_delivery(pks, countdown=countdown)
    return counts
