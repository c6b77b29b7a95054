"""Comment submissions decided in batches across messages, with acknowledgement after the write.

A site sends one ``moderation.submit_comment`` message per comment as readers post. Going through Celery's task
machinery, each message costs about a millisecond of worker CPU before any work, and the work itself (one model
call, one transaction) costs more again when done one comment at a time. This consumer, a Celery bootstep in every
worker, reads the submission queue directly: it buffers messages and every ``MODERATION_BATCH_FLUSH_MS``
milliseconds (or at ``MODERATION_BATCH_MAX`` messages) validates them, scores them in one model call, writes them
with their decisions in one transaction, and only then acknowledges them. So a worker killed mid-batch loses
nothing (the unacknowledged messages are redelivered and the writes are idempotent), and a database error puts the
messages back on the queue to be tried again after a pause.

The messages are ordinary Celery task messages (protocol 2: ``[args, kwargs, embed]`` with the task name in the
headers) for ``moderation.submit_comment`` (one comment) and ``moderation.submit_comments`` (a list), routed to the
submission queue (``MODERATION_SUBMIT_QUEUE``). The same task names also exist as ordinary tasks, so a message sent
to the main queue is decided too.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

from celery import bootsteps
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from kombu import Consumer, Exchange, Queue

from moderation.queue import DECIDE_COMMENTS
from moderation.services import DEFAULT_SITE_SLUG, get_or_create_site
from moderation.validation import SubmissionError, validate_submission

from .pipeline import submit_and_decide

log = logging.getLogger(__name__)

SUBMIT_COMMENT = "moderation.submit_comment"
SUBMIT_COMMENTS = "moderation.submit_comments"


def submission_queue() -> Queue:
    name = settings.MODERATION_SUBMIT_QUEUE
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def payloads_of(message) -> list[tuple[str | None, dict]]:
    """(site slug, submission) pairs carried by one task message; [] for a message that is not a submission."""
    task = (message.headers or {}).get("task")
    body = message.decode()
    kwargs = body[1] if isinstance(body, (list, tuple)) and len(body) > 1 else {}
    if not isinstance(kwargs, dict):
        return []
    kwargs = dict(kwargs)
    site = kwargs.pop("site", None)
    if task == SUBMIT_COMMENT:
        return [(site, kwargs)]
    if task == SUBMIT_COMMENTS and isinstance(kwargs.get("comments"), list):
        return [(site, item) for item in kwargs["comments"]]
    log.warning("message for task %r on the submission queue: dropped", task)
    return []


class SubmissionBatchConsumer(bootsteps.ConsumerStep):
    """Consumes the submission queue in batches; see the module docstring."""

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.buffer: list = []
        self.first_at = 0.0  # when the oldest message in the buffer arrived
        self.timer_entry = None
        self.paused_until = 0.0
        self.app = None

    def get_consumers(self, channel):
        return [
            Consumer(
                channel,
                queues=[submission_queue()],
                on_message=self.on_message,
                accept=["json"],
                prefetch_count=settings.MODERATION_BATCH_MAX * 2,
            )
        ]

    def start(self, c):
        self.app = c.app
        super().start(c)
        # Check often; flush when the oldest buffered message has waited MODERATION_BATCH_FLUSH_MS (or the batch
        # is full). Flushing on a fixed tick instead made batches tiny after a slow flush (the tick was already
        # due, with one or two messages in): ~10 comments a transaction, ~100/s on PostgreSQL.
        self.timer_entry = c.timer.call_repeatedly(max(0.002, settings.MODERATION_BATCH_FLUSH_MS / 4000), self.flush)

    def stop(self, c):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None
        self.flush(force=True)
        super().stop(c)

    def on_message(self, message) -> None:
        if not self.buffer:
            self.first_at = time.monotonic()
        self.buffer.append(message)
        if len(self.buffer) >= settings.MODERATION_BATCH_MAX:
            self.flush()

    def flush(self, force: bool = False) -> None:
        if not self.buffer:
            return
        now = time.monotonic()
        if not force:
            if now < self.paused_until:
                return
            full = len(self.buffer) >= settings.MODERATION_BATCH_MAX
            if not full and now - self.first_at < settings.MODERATION_BATCH_FLUSH_MS / 1000:
                return
        batch, self.buffer = self.buffer, []
        close_old_connections()
        try:
            self.process(batch)
        except DatabaseError as exc:
            # Nothing acknowledged: put every message back and pause before taking more.
            log.warning("database error deciding %d submissions, requeued: %s", len(batch), exc)
            self.paused_until = time.monotonic() + 2.0
            for message in batch:
                message.requeue()
            return
        except Exception:
            log.exception("deciding %d submissions failed; requeued", len(batch))
            self.paused_until = time.monotonic() + 2.0
            for message in batch:
                message.requeue()
            return
        for message in batch:
            message.ack()

    def process(self, batch) -> None:
        by_site: dict[str | None, list[dict]] = defaultdict(list)
        for message in batch:
            try:
                items = payloads_of(message)
            except Exception as exc:  # undecodable body: nothing to decide
                log.warning("undecodable submission message dropped: %s", exc)
                continue
            for site, payload in items:
                try:
                    by_site[site].append(validate_submission(payload))
                except SubmissionError as exc:
                    sid = payload.get("site_comment_id") if isinstance(payload, dict) else None
                    log.warning("submission refused (site_comment_id=%r): %s", sid, exc)
        retry: list[int] = []
        for site, cleans in by_site.items():
            retry += submit_and_decide(get_or_create_site(site or DEFAULT_SITE_SLUG), cleans)
        if retry:
            # Stored but not scored (a scoring error): the decide task retries and counts attempts.
            self.app.send_task(
                DECIDE_COMMENTS, kwargs={"comment_ids": retry}, queue=settings.MODERATION_QUEUE, countdown=1
            )
