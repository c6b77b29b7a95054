"""Enqueueing work for the workers, by task name: the web side never imports ``worker``.

Task names are the contract between the two sides:
- ``moderation.submit_comment`` — a site submits one comment (validated, stored and decided by the worker);
- ``moderation.decide_comments`` — decide comments already stored as ``queued`` (the HTTP path), by id.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery
from django.conf import settings

log = logging.getLogger(__name__)

SUBMIT_COMMENT = "moderation.submit_comment"
DECIDE_COMMENTS = "moderation.decide_comments"


@lru_cache(maxsize=1)
def producer() -> Celery:
    """A Celery app used only to send messages, configured from the same CELERY_ settings as the workers."""
    app = Celery("moderation-producer")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    return app


def enqueue_decide(comment_ids: list[int]) -> bool:
    """Ask the workers to decide these stored comments. Returns False (and logs) if the broker cannot be
    reached: the comments stay ``queued`` in the database and ``manage.py requeue_stale`` sends them later."""
    try:
        producer().send_task(
            DECIDE_COMMENTS, kwargs={"comment_ids": list(comment_ids)}, queue=settings.MODERATION_QUEUE
        )
    except Exception as exc:  # kombu raises several connection error types; all mean "not sent"
        log.warning(
            "broker unreachable at %s (set REDIS_URL): %d comment(s) stay queued for requeue_stale: %s",
            settings.CELERY_BROKER_URL, len(comment_ids), exc,
        )
        return False
    return True


def dispatch(comment_ids: list[int]) -> bool:
    """Send stored comments to the workers packed into messages of up to MODERATION_DISPATCH_BATCH ids, so the
    per-message cost of the broker and the worker is shared. False if any message could not be sent."""
    size = settings.MODERATION_DISPATCH_BATCH
    return all([enqueue_decide(comment_ids[i : i + size]) for i in range(0, len(comment_ids), size)])


def requeue_stale(older_than_seconds: int) -> tuple[int, int]:
    """Re-enqueue comments queued longer than ``older_than_seconds``. Returns (sent, left unsent)."""
    from .services import stale_queued_comment_ids

    ids = stale_queued_comment_ids(older_than_seconds)
    size = settings.MODERATION_DISPATCH_BATCH
    for start in range(0, len(ids), size):
        if not enqueue_decide(ids[start : start + size]):
            return start, len(ids) - start
    return len(ids), 0


# --- Webhooks -----------------------------------------------------------------------------------------------------

DELIVER_WEBHOOKS = "moderation.deliver_webhooks"


def enqueue_webhook_delivery(delivery_ids: list[int], countdown: float | None = None) -> bool:
    """Ask the workers to send these webhook outbox rows (``moderation.deliver_webhooks``), after ``countdown``
    seconds if given. False (logged) if the broker cannot be reached: the rows stay pending and the reconciler
    (``moderation.reconcile_webhooks``, Celery beat) sends them."""
    try:
        producer().send_task(
            DELIVER_WEBHOOKS, kwargs={"delivery_ids": list(delivery_ids)}, queue=settings.MODERATION_QUEUE,
            countdown=countdown,
        )
    except Exception as exc:  # kombu raises several connection error types; all mean "not sent"
        log.warning(
            "broker unreachable at %s: %d webhook delivery(ies) left for the reconciler: %s",
            settings.CELERY_BROKER_URL, len(delivery_ids), exc,
        )
        return False
    return True
