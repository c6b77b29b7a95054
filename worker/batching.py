"""Comment submissions decided in batches across messages, read from Redis so a killed worker loses nothing.

A site sends one ``moderation.submit_comment`` message per comment as readers post. Going through Celery's
task machinery, each message costs about a millisecond of worker CPU before any work, and the work itself (one
model call, one transaction) costs more again when done one comment at a time. So every worker runs a reader
thread (a bootstep, ``SubmissionReaderStep``) that takes the submission queue's messages in batches of up to
``MODERATION_BATCH_MAX`` messages or ``MODERATION_BATCH_MAX_BYTES`` (waiting at most
``MODERATION_BATCH_FLUSH_MS`` after the first), validates them, scores them in one model call and writes them
with their decisions in one transaction.

Why not kombu's consumer: kombu's Redis transport takes a message with ``BRPOP`` and only then records it as
unacknowledged (``ZADD``/``HSET``, celery/celery#7950, celery/kombu#305). A worker killed between the two
loses the message for good; our fault test hit that window about once in three runs. The reader instead uses
the reliable-queue pattern: ``BRPOPLPUSH`` moves each message atomically, inside Redis, from the queue to an
in-flight list of its own, and deletes that list only after the batch is written. Each reader holds a lease
key that it refreshes every loop (``MODERATION_SUBMIT_LEASE_SECONDS``); any reader that finds another's lease
expired moves that reader's in-flight messages back to the queue (one Lua script, so each message moves once).
Writes are idempotent (unique site + ``site_comment_id``), so a message processed twice (a reader paused
longer than its lease) still makes one comment with one decision.

The messages are ordinary Celery task messages as kombu stores them in Redis (a JSON envelope; the body is
protocol 2 ``[args, kwargs, embed]`` with the task name in the headers) for ``moderation.submit_comment`` (one
comment) and ``moderation.submit_comments`` (a list), routed to ``MODERATION_SUBMIT_QUEUE``. The same task
names also exist as ordinary tasks, so a message sent to the main queue is decided too. A message that cannot
be read, is not a submission, or carries a comment that fails validation is logged and kept in the
``<queue>.dead`` list with the reason (the newest ``MODERATION_DEAD_LETTER_MAX``), never silently dropped.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from collections import defaultdict

import redis
from celery import bootsteps
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from kombu import Exchange, Queue

from moderation.queue import DECIDE_COMMENTS, SubmissionKeys, redis_from_broker_url
from moderation.services import DEFAULT_SITE_SLUG, get_or_create_site
from moderation.services.ingest import submit_and_decide
from moderation.validation import SubmissionError, validate_submission

log = logging.getLogger(__name__)

SUBMIT_COMMENT = "moderation.submit_comment"
SUBMIT_COMMENTS = "moderation.submit_comments"

# Move up to ARGV[1] messages that fit in ARGV[2] bytes from the queue (KEYS[1]) to the in-flight list
# (KEYS[2]), oldest first; ARGV[3] = "1" takes the first message whatever its size. The byte budget keeps a
# batch of many-comment messages small, so several workers share a burst instead of one taking it all.
TAKE = """
local out = {}
local budget = tonumber(ARGV[2])
for i = 1, tonumber(ARGV[1]) do
  local v = redis.call('LINDEX', KEYS[1], -1)
  if not v then break end
  if string.len(v) > budget and not (i == 1 and ARGV[3] == '1') then break end
  redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  out[#out + 1] = v
  budget = budget - string.len(v)
end
return out
"""
# Move every message of an in-flight list (KEYS[1]) back to the consuming end of the queue (KEYS[2]).
GIVE_BACK = """
local n = 0
while true do
  local v = redis.call('LPOP', KEYS[1])
  if not v then break end
  redis.call('RPUSH', KEYS[2], v)
  n = n + 1
end
return n
"""


class BadMessage(ValueError):
    """A message on the submission queue that is not a readable submission."""


def submission_queue() -> Queue:
    name = settings.MODERATION_SUBMIT_QUEUE
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def decode(raw: bytes) -> tuple[str, dict]:
    """(task name, kwargs) of one message as kombu's Redis transport stores it."""
    try:
        envelope = json.loads(raw)
        headers = envelope.get("headers") or {}
        properties = envelope.get("properties") or {}
        body = envelope["body"]
        if properties.get("body_encoding") == "base64":
            body = base64.b64decode(body)
        if envelope.get("content-type", "application/json") != "application/json":
            raise BadMessage(f"content type {envelope.get('content-type')!r}; only JSON is accepted")
        payload = json.loads(body)
    except BadMessage:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadMessage(f"unreadable message: {exc}") from exc
    kwargs = payload[1] if isinstance(payload, list) and len(payload) > 1 else None
    if not isinstance(kwargs, dict):
        raise BadMessage("the body is not a task message with keyword arguments")
    return headers.get("task"), kwargs


def payloads_of(task: str | None, kwargs: dict) -> list[tuple[str | None, object]]:
    """(site slug, submission) pairs carried by one task message."""
    kwargs = dict(kwargs)
    site = kwargs.pop("site", None)
    if task == SUBMIT_COMMENT:
        return [(site, kwargs)]
    if task == SUBMIT_COMMENTS and isinstance(kwargs.get("comments"), list):
        return [(site, item) for item in kwargs["comments"]]
    raise BadMessage(f"task {task!r} is not a submission")


class SubmissionReader:
    """Moves batches from the submission queue to its own in-flight list, decides them, then releases them."""

    def __init__(self, client: redis.Redis, app, name: str | None = None):
        self.client = client
        self.app = app
        self.keys = SubmissionKeys()
        self.queue_key = self.keys.queue
        self.name = name or f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.inflight_key = self.keys.inflight(self.name)
        self.readers_key = self.keys.readers
        self.dead_key = self.keys.dead
        self.lease_ms = int(settings.MODERATION_SUBMIT_LEASE_SECONDS * 1000)
        self.batch_max = settings.MODERATION_BATCH_MAX
        self.batch_bytes = settings.MODERATION_BATCH_MAX_BYTES
        self.flush_s = settings.MODERATION_BATCH_FLUSH_MS / 1000
        self._take = client.register_script(TAKE)
        self._give_back = client.register_script(GIVE_BACK)
        self.next_sweep = 0.0

    def lease_key(self, name: str) -> str:
        return self.keys.lease(name)

    # --- Redis bookkeeping ----------------------------------------------------------------------------------

    def renew_lease(self) -> None:
        # Lease first, then membership: a sweeper never sees this reader listed without a lease.
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.lease_key(self.name), "1", px=self.lease_ms)
        pipe.sadd(self.readers_key, self.name)
        pipe.execute()

    def leave(self) -> None:
        self.give_back()
        pipe = self.client.pipeline(transaction=False)
        pipe.srem(self.readers_key, self.name)
        pipe.delete(self.lease_key(self.name))
        pipe.execute()

    def take_batch(self, block_s: float = 1.0) -> list[bytes]:
        """Up to ``batch_max`` messages, moved to this reader's in-flight list; waits up to ``block_s`` for
        the first and up to the flush interval after it for more. [] when the queue stayed empty."""
        batch = list(
            self._take(keys=[self.queue_key, self.inflight_key], args=[self.batch_max, self.batch_bytes, 1])
        )
        if not batch:
            first = self.client.brpoplpush(self.queue_key, self.inflight_key, timeout=block_s)
            if first is None:
                return []
            batch = [first]
        deadline = time.monotonic() + self.flush_s
        while not self.full(batch):
            more = self._take(
                keys=[self.queue_key, self.inflight_key],
                args=[self.batch_max - len(batch), self.batch_bytes - sum(map(len, batch)), 0],
            )
            batch += more
            remaining = deadline - time.monotonic()
            if self.full(batch) or remaining <= 0:
                break
            if not more:
                if self.client.llen(self.queue_key):
                    break  # messages are waiting, and the next one does not fit in this batch
                item = self.client.brpoplpush(
                    self.queue_key, self.inflight_key, timeout=max(remaining, 0.001)
                )
                if item is None:
                    break
                batch.append(item)
        return batch

    def full(self, batch: list[bytes]) -> bool:
        # Full by count, or too full for one more ordinary (single-comment, ~1.5 KB) message.
        return len(batch) >= self.batch_max or sum(map(len, batch)) >= self.batch_bytes - 2048

    def release(self) -> None:
        """The batch is written: forget it."""
        self.client.delete(self.inflight_key)

    def give_back(self) -> int:
        """Put this reader's in-flight messages back on the queue (after a failure, or when stopping)."""
        return int(self._give_back(keys=[self.inflight_key, self.queue_key]))

    def rescue(self) -> int:
        """Move the in-flight messages of readers whose lease expired (killed workers) back to the queue."""
        moved = 0
        for raw_name in self.client.smembers(self.readers_key):
            name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
            if name == self.name or self.client.exists(self.lease_key(name)):
                continue
            count = int(self._give_back(keys=[self.keys.inflight(name), self.queue_key]))
            self.client.srem(self.readers_key, name)
            if count:
                log.warning(
                    "reader %s stopped without finishing: %d submissions put back on the queue", name, count
                )
            moved += count
        return moved

    def dead_letter(self, raw, reason: str) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else json.dumps(raw, default=str)
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(self.dead_key, json.dumps({"reason": reason, "message": text, "at": time.time()}))
        # Bounded: Redis runs with noeviction; a flood of bad messages must not fill it and stop the broker.
        pipe.ltrim(self.dead_key, 0, settings.MODERATION_DEAD_LETTER_MAX - 1)
        pipe.execute()

    # --- Deciding -------------------------------------------------------------------------------------------

    def process(self, batch: list[bytes]) -> None:
        by_site: dict[str | None, list[dict]] = defaultdict(list)
        for raw in batch:
            try:
                items = payloads_of(*decode(raw))
            except BadMessage as exc:
                log.warning("submission queue: %s (kept in %s)", exc, self.dead_key)
                self.dead_letter(raw, str(exc))
                continue
            for site, payload in items:
                try:
                    by_site[site].append(validate_submission(payload))
                except SubmissionError as exc:
                    sid = payload.get("site_comment_id") if isinstance(payload, dict) else None
                    log.warning("submission refused (site_comment_id=%r): %s", sid, exc)
                    self.dead_letter({"site": site, "submission": payload}, str(exc))
        retry: list[int] = []
        for site, cleans in by_site.items():
            retry += submit_and_decide(get_or_create_site(site or DEFAULT_SITE_SLUG), cleans)
        if retry:
            # Stored but not scored (a scoring error): the decide task retries and counts attempts.
            self.app.send_task(
                DECIDE_COMMENTS, kwargs={"comment_ids": retry}, queue=settings.MODERATION_QUEUE, countdown=1
            )

    def handle(self, batch: list[bytes]) -> bool:
        """Decide one batch and release it; on failure put it back. True when the batch was written."""
        try:
            close_old_connections()
            self.process(batch)
        except DatabaseError as exc:
            log.warning("database error deciding %d submissions, put back on the queue: %s", len(batch), exc)
            self.give_back()
            return False
        except Exception:
            log.exception("deciding %d submissions failed; put back on the queue", len(batch))
            self.give_back()
            return False
        self.release()
        return True

    def step(self, block_s: float = 1.0) -> int:
        """One round: renew the lease, rescue dead readers' messages now and then, take and decide one batch.
        Returns the number of messages taken; raises on a failed batch (after putting it back)."""
        self.renew_lease()
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + max(0.5, self.lease_ms / 3000)
            self.rescue()
        batch = self.take_batch(block_s)
        if batch and not self.handle(batch):
            raise RuntimeError("batch put back")
        return len(batch)

    def run(self, stopping: threading.Event) -> None:
        self.give_back()  # nothing should be there; a reused name must not strand messages
        while not stopping.is_set():
            try:
                self.step()
            except redis.RedisError as exc:
                log.warning("submission reader: Redis unavailable (%s); retrying in 2 s", exc)
                stopping.wait(2.0)
            except Exception:  # a failed batch (already put back) or a bug: pause, do not spin
                stopping.wait(2.0)
        try:
            self.leave()
        except redis.RedisError as exc:
            log.warning(
                "submission reader %s could not leave cleanly (%s); its lease expires by itself",
                self.name,
                exc,
            )
        connection.close()


class SubmissionReaderStep(bootsteps.StartStopStep):
    """Runs a SubmissionReader in a thread of the worker's consumer (started before its event loop)."""

    requires = ("celery.worker.consumer:Connection",)

    def include_if(self, parent) -> bool:
        return settings.MODERATION_BATCH_CONSUMER

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()

    def start(self, c):
        if self.thread is not None and self.thread.is_alive():
            return
        try:
            client = redis_from_broker_url(c.app.conf.broker_url)
        except ValueError as exc:
            log.error("submission reader not started: %s", exc)
            return
        with c.app.connection_for_write() as conn:  # the queue and its binding, so producers can route to it
            submission_queue()(conn.default_channel).declare()
        reader = SubmissionReader(client, c.app, name=f"{c.hostname}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=reader.run, args=(self.stopping,), name="submission-reader", daemon=True
        )
        self.thread.start()
        log.info("submission reader %s on %s", reader.name, reader.queue_key)

    def stop(self, c):
        if self.thread is None:
            return
        self.stopping.set()
        self.thread.join(timeout=60)
        self.thread = None

    shutdown = stop
