"""The submission reader in process, on the machine's real Redis and the test database, with the shipped
model.

Messages are sent the way a site sends them (Celery ``send_task`` to the submission queue), so the reader
decodes kombu's real envelope. Killed workers are simulated by a reader that takes a batch and never releases
it (its lease is deleted, as if it had expired); the real kill is in tests/e2e/test_faults.py."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError

from moderation.models import Comment, CommentStatus, Decision
from moderation.queue import SubmissionKeys, producer, redis_from_broker_url, submission_backlog
from tests.conftest import comment_payload

pytestmark = pytest.mark.django_db(transaction=True)  # the reader manages its own connection, as in a worker

DECIDED = [CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.NEEDS_REVIEW]


@pytest.fixture
def keys(real_redis, settings):
    # A queue of this test's own, so readers of other tests (or live workers) never see these messages.
    import uuid

    settings.MODERATION_SUBMIT_QUEUE = f"{settings.MODERATION_QUEUE}.submit-{uuid.uuid4().hex[:6]}"
    keys = SubmissionKeys()
    yield keys
    for key in real_redis.scan_iter(match=keys.queue + "*"):
        real_redis.delete(key)


def send(settings, n: int, prefix: str, **overrides) -> None:
    app = producer()
    with app.producer_or_acquire() as prod:
        for i in range(n):
            app.send_task(
                "moderation.submit_comment",
                kwargs=comment_payload(f"{prefix}-{i}", **overrides),
                queue=settings.MODERATION_SUBMIT_QUEUE,
                producer=prod,
            )


def reader(real_redis, name: str):
    from worker.batching import SubmissionReader

    return SubmissionReader(real_redis, producer(), name=name)


def test_a_batch_moves_to_in_flight_is_decided_and_released(real_redis, keys, settings, site):
    settings.MODERATION_BATCH_MAX = 50
    send(settings, 120, "rd")
    r = reader(real_redis, "r1")
    batch = r.take_batch(block_s=0.5)
    assert len(batch) == 50
    assert real_redis.llen(keys.inflight("r1")) == 50 and real_redis.llen(keys.queue) == 70
    assert r.handle(batch)
    assert real_redis.llen(keys.inflight("r1")) == 0
    assert Comment.objects.filter(site_comment_id__startswith="c-rd-", status__in=DECIDED).count() == 50
    while r.step(block_s=0.1):
        pass
    assert Comment.objects.filter(site_comment_id__startswith="c-rd-", status__in=DECIDED).count() == 120
    assert real_redis.llen(keys.queue) == 0


def test_a_dead_readers_batch_goes_back_and_is_decided_exactly_once(real_redis, keys, settings, site):
    settings.MODERATION_BATCH_MAX = 30
    send(settings, 40, "dead")
    doomed = reader(real_redis, "doomed")
    doomed.renew_lease()
    batch = doomed.take_batch(block_s=0.5)
    assert len(batch) == 30
    doomed.process(batch[:10])  # a third written, then "killed" before the release: all 30 still in flight
    assert real_redis.llen(keys.inflight("doomed")) == 30

    rescuer = reader(real_redis, "rescuer")
    assert rescuer.rescue() == 0, "a reader with a live lease keeps its messages"
    real_redis.delete(keys.lease("doomed"))  # the lease expires
    assert submission_backlog(real_redis) == (30, 0)
    assert rescuer.rescue() == 30
    assert real_redis.llen(keys.inflight("doomed")) == 0 and not real_redis.sismember(keys.readers, "doomed")
    while rescuer.step(block_s=0.1):
        pass
    ids = list(Comment.objects.filter(site_comment_id__startswith="c-dead-").values_list("pk", flat=True))
    assert len(ids) == 40
    assert Comment.objects.filter(pk__in=ids, status__in=DECIDED).count() == 40
    assert Decision.objects.filter(comment_id__in=ids, kind="auto").count() == 40, "one decision per comment"


def test_a_database_error_puts_the_batch_back(real_redis, keys, settings, site, monkeypatch):
    import worker.batching as batching

    send(settings, 5, "dberr")
    r = reader(real_redis, "r-db")

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(batching, "submit_and_decide", refuse)
    batch = r.take_batch(block_s=0.5)
    assert len(batch) == 5
    assert not r.handle(batch)
    assert real_redis.llen(keys.queue) == 5 and real_redis.llen(keys.inflight("r-db")) == 0
    monkeypatch.undo()
    assert r.step(block_s=0.1) == 5
    assert Comment.objects.filter(site_comment_id__startswith="c-dberr-", status__in=DECIDED).count() == 5


def test_unreadable_and_invalid_messages_are_kept_with_the_reason_and_the_rest_decided(
    real_redis, keys, settings, site
):
    send(settings, 3, "ok")
    send(settings, 1, "empty", text="   ")
    app = producer()
    app.send_task("moderation.something_else", kwargs={"x": 1}, queue=settings.MODERATION_SUBMIT_QUEUE)
    real_redis.lpush(keys.queue, b"\xff not json")
    r = reader(real_redis, "r-bad")
    assert r.step(block_s=0.5) == 6
    assert Comment.objects.filter(site_comment_id__startswith="c-ok-", status__in=DECIDED).count() == 3
    assert not Comment.objects.filter(site_comment_id="c-empty-0").exists()
    dead = [json.loads(item) for item in real_redis.lrange(keys.dead, 0, -1)]
    reasons = " | ".join(d["reason"] for d in dead)
    assert len(dead) == 3, reasons
    assert "text" in reasons and "moderation.something_else" in reasons and "unreadable" in reasons
    assert submission_backlog(real_redis) == (0, 3)


def test_a_reader_leaving_puts_its_in_flight_messages_back(real_redis, keys, settings, site):
    send(settings, 4, "leave")
    r = reader(real_redis, "r-leave")
    r.renew_lease()
    assert len(r.take_batch(block_s=0.5)) == 4
    r.leave()
    assert real_redis.llen(keys.queue) == 4
    assert not real_redis.exists(keys.lease("r-leave")) and not real_redis.sismember(keys.readers, "r-leave")


@pytest.mark.parametrize(
    "url,expected",
    [
        ("redis://127.0.0.1:6379/3", {"host": "127.0.0.1", "port": 6379, "db": 3}),
        ("redis+socket:///srv/var/redis.sock", {"path": "/srv/var/redis.sock", "db": 0}),
        ("redis+socket:///srv/var/redis.sock?virtual_host=2", {"path": "/srv/var/redis.sock", "db": 2}),
    ],
)
def test_broker_urls_become_redis_clients(url, expected):
    kwargs = redis_from_broker_url(url).connection_pool.connection_kwargs
    assert {k: kwargs.get(k) for k in expected} == expected


def test_a_broker_that_is_not_redis_is_refused_by_name():
    with pytest.raises(ValueError, match="amqp://"):
        redis_from_broker_url("amqp://guest@localhost//")


def test_a_batch_of_big_messages_stops_at_the_byte_budget(real_redis, keys, settings, site):
    settings.MODERATION_BATCH_MAX_BYTES = 10_000
    app = producer()
    for k in range(4):
        app.send_task(
            "moderation.submit_comments",
            queue=settings.MODERATION_SUBMIT_QUEUE,
            kwargs={"comments": [comment_payload(f"big-{k}-{i}") for i in range(40)]},
        )
    r = reader(real_redis, "r-big")
    first = r.take_batch(block_s=0.5)
    assert len(first) == 1 and len(first[0]) > 10_000, "one message over the budget is still taken alone"
    assert real_redis.llen(keys.queue) == 3
    assert r.handle(first)
    while r.step(block_s=0.1):
        pass
    assert Comment.objects.filter(site_comment_id__startswith="c-big-", status__in=DECIDED).count() == 160


def test_the_dead_list_is_bounded(real_redis, keys, settings, site):
    settings.MODERATION_DEAD_LETTER_MAX = 3
    for i in range(5):
        real_redis.lpush(keys.queue, f"garbage {i}".encode())
    r = reader(real_redis, "r-bound")
    assert r.step(block_s=0.5) == 5
    kept = [json.loads(item)["message"] for item in real_redis.lrange(keys.dead, 0, -1)]
    assert kept == ["garbage 4", "garbage 3", "garbage 2"]
