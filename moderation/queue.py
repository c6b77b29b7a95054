"""Enqueueing work for the workers, by task name: the web side never imports ``worker``.

Task names are the contract between the two sides:
- ``moderation.submit_comment`` — a site submits one comment (validated, stored and decided by the worker);
- ``moderation.decide_comments`` — decide comments already stored as ``queued`` (the HTTP path), by id.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

import redis
from celery import Celery, current_app
from django.conf import settings

log = logging.getLogger(__name__)

SUBMIT_COMMENT = "moderation.submit_comment"
DECIDE_COMMENTS = "moderation.decide_comments"


def producer() -> Celery:
    """The project's one Celery app (moderation.config.celery, current in every process that loaded the
    settings), used here only to send messages."""
    return current_app._get_current_object()


def queue_names() -> list[str]:
    """Every broker queue the workers consume: ``MODERATION_QUEUE`` and any queue a ``CELERY_TASK_ROUTES``
    route names, sorted."""
    names = {settings.MODERATION_QUEUE}
    for route in getattr(settings, "CELERY_TASK_ROUTES", {}).values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)


class SubmissionKeys:
    """The Redis keys of the submission queue and of the readers that take from it (worker/batching.py)."""

    def __init__(self):
        self.queue = settings.MODERATION_REDIS_KEY_PREFIX + settings.MODERATION_SUBMIT_QUEUE
        self.readers = f"{self.queue}.readers"  # set of reader names
        self.dead = f"{self.queue}.dead"  # messages that are not readable submissions, with the reason

    def inflight(self, reader: str) -> str:
        return f"{self.queue}.inflight.{reader}"

    def lease(self, reader: str) -> str:
        return f"{self.queue}.lease.{reader}"


def redis_from_broker_url(url: str) -> redis.Redis:
    """A redis-py client for a kombu broker URL (``redis://``, ``rediss://``, ``redis+socket://`` for a unix
    socket, as ``make up`` uses for its embedded server)."""
    parts = urlsplit(url)
    if parts.scheme in ("redis+socket", "socket", "unix"):
        query = dict(pair.partition("=")[::2] for pair in (parts.query or "").split("&") if pair)
        db = query.get("virtual_host") or query.get("db") or "0"
        return redis.Redis(
            unix_socket_path=unquote(parts.path),
            db=int(db) if db.isdigit() else 0,
            password=parts.password,
            socket_timeout=30,
            socket_connect_timeout=3,
        )
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"a Redis broker is needed here, not {parts.scheme}://")
    return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=3)


def submission_backlog(client) -> tuple[int, int]:
    """(submissions taken by a reader and not yet written, submissions kept in the dead list)."""
    keys = SubmissionKeys()
    names = [n.decode() if isinstance(n, bytes) else n for n in client.smembers(keys.readers)]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.llen(keys.inflight(name))
    pipe.llen(keys.dead)
    counts = pipe.execute()
    return sum(counts[:-1]), counts[-1]


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
            settings.CELERY_BROKER_URL,
            len(comment_ids),
            exc,
        )
        return False
    return True


def dispatch(comment_ids: list[int]) -> bool:
    """Send stored comments to the workers packed into messages of up to MODERATION_DISPATCH_BATCH ids, so the
    per-message cost of the broker and the worker is shared. False if any message could not be sent."""
    size = settings.MODERATION_DISPATCH_BATCH
    return all([enqueue_decide(comment_ids[i : i + size]) for i in range(0, len(comment_ids), size)])


# --- Webhooks -----------------------------------------------------------------------------------------------

DELIVER_WEBHOOKS = "moderation.deliver_webhooks"


def enqueue_webhook_delivery(delivery_ids: list[int], countdown: float | None = None) -> bool:
    """Ask the workers to send these webhook outbox rows (``moderation.deliver_webhooks``), after
    ``countdown`` seconds if given. False (logged) if the broker cannot be reached: the rows stay pending and
    the reconciler (``moderation.reconcile_webhooks``, Celery beat) sends them."""
    try:
        producer().send_task(
            DELIVER_WEBHOOKS,
            kwargs={"delivery_ids": list(delivery_ids)},
            queue=settings.MODERATION_QUEUE,
            countdown=countdown,
        )
    except Exception as exc:  # kombu raises several connection error types; all mean "not sent"
        log.warning(
            "broker unreachable at %s: %d webhook delivery(ies) left for the reconciler: %s",
            settings.CELERY_BROKER_URL,
            len(delivery_ids),
            exc,
        )
        return False
    return True
