"""Fault tests on real processes: a worker killed mid-batch, a broker restarted without persistence.
Every accepted comment must end with exactly one automatic decision. Bounded in time: they stop alone."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from django.db.models import Count

from moderation.models import Comment, CommentStatus, Decision
from tests.conftest import comment_payload, reconnect_producer, wait_for

pytestmark = pytest.mark.integration

DECIDED = [CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.NEEDS_REVIEW]
# Short enough that Redis hands a dead worker's unacknowledged messages to the next one within the test.
FAST_REDELIVERY = {
    "CELERY_VISIBILITY_TIMEOUT": "8",
    "CELERY_TASK_TIME_LIMIT": "3",
    "CELERY_TASK_SOFT_TIME_LIMIT": "2",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_MUTEX_EXPIRE": "5",
    "MODERATION_SUBMIT_LEASE_SECONDS": "3",
}


def store_comments(site, n: int, prefix: str) -> list[int]:
    from moderation.services import accept_comments
    from moderation.validation import validate_submission

    texts = [
        "Sensible take on the Taliban question.",
        "You utter moron, nobody cares.",
        "Subscribe to my channel for free gift cards!!! http://spam.example",
    ]
    cleans = [
        validate_submission(comment_payload(f"{prefix}-{i}", text=f"{texts[i % 3]} #{i}")) for i in range(n)
    ]
    return [c.pk for c, _ in accept_comments(site, cleans, "api")]


def assert_each_decided_exactly_once(ids: list[int]) -> None:
    assert Comment.objects.filter(pk__in=ids, status__in=DECIDED).count() == len(ids)
    per_comment = Decision.objects.filter(comment_id__in=ids, kind="auto").values_list(
        "comment_id", flat=True
    )
    assert sorted(per_comment) == sorted(ids), "a comment was decided twice or not at all"


def test_worker_killed_mid_batch_loses_nothing_and_decides_once(start_worker, site, settings):
    from moderation.queue import dispatch

    settings.MODERATION_DISPATCH_BATCH = 25
    ids = store_comments(site, 1500, "kill")
    first = start_worker(
        "doomed", pool="prefork", concurrency=2, CELERY_WORKER_PREFETCH_MULTIPLIER="8", **FAST_REDELIVERY
    )
    assert dispatch(ids)
    decided = wait_for(
        lambda: Comment.objects.filter(pk__in=ids, status__in=DECIDED).count(),
        timeout=60,
        interval=0.02,
        message="the first decisions",
    )
    os.killpg(first.proc.pid, signal.SIGKILL)  # the worker and its pool processes, mid-batch, no goodbye
    first.proc.wait(timeout=10)
    remaining = len(ids) - Comment.objects.filter(pk__in=ids, status__in=DECIDED).count()
    assert remaining > 0, f"all {len(ids)} were decided before the kill ({decided} at first look): no fault"

    start_worker("rescuer", **FAST_REDELIVERY)

    def all_decided():
        counts = dict(
            Comment.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id")).order_by()
        )
        return sum(counts.get(s, 0) for s in DECIDED) == len(ids)

    deadline = time.monotonic() + 30
    while not all_decided() and time.monotonic() < deadline:  # Redis hands the dead worker's messages back
        time.sleep(1)
    if not all_decided():
        # Seen in about 1 run in 3: kombu's Redis transport pops a message (BRPOP) before recording it as
        # unacknowledged (celery/celery#7950), so a kill between the two loses that message. For these
        # comments the database is the source of truth: the reconciler sends what is still queued, and the
        # decisions must still be exactly one per comment. (The submission queue has no such window:
        # worker/batching.py.)
        from moderation.services import requeue_stale

        requeue_stale(older_than_seconds=0)
    wait_for(all_decided, timeout=60, interval=1, message="every comment decided after the kill")
    assert_each_decided_exactly_once(ids)


def test_worker_killed_mid_batch_on_the_submission_queue_loses_nothing(start_worker, site, settings):
    """The submission reader releases a batch only after the write: a kill mid-batch leaves the messages in
    its in-flight list, and the next reader puts them back once the dead one's lease expires. No reconciler
    here: these comments exist nowhere but in Redis until they are written."""
    from moderation.queue import producer

    n = 3000
    app = producer()
    with app.producer_or_acquire() as prod:
        for i in range(n):
            app.send_task(
                "moderation.submit_comment",
                kwargs=comment_payload(f"sq-{i}", text=f"Comment number {i}"),
                queue=settings.MODERATION_SUBMIT_QUEUE,
                producer=prod,
            )
    first = start_worker("doomed-sq", **FAST_REDELIVERY)
    stored = lambda: Comment.objects.filter(site_comment_id__startswith="c-sq-").count()  # noqa: E731
    wait_for(stored, timeout=60, interval=0.02, message="the first batch")
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    assert stored() < n, "every comment was stored before the kill: no fault was injected"

    start_worker("rescuer-sq", **FAST_REDELIVERY)
    wait_for(
        lambda: Comment.objects.filter(site_comment_id__startswith="c-sq-", status__in=DECIDED).count() == n,
        timeout=90,
        interval=0.5,
        message="every submission decided after the kill",
    )
    ids = list(Comment.objects.filter(site_comment_id__startswith="c-sq-").values_list("pk", flat=True))
    assert len(ids) == n
    assert_each_decided_exactly_once(ids)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own (no persistence) that the test can stop and start again on the same port."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            pytest.skip("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        wait_for(lambda: self._ping(redis), timeout=10, message="the private redis-server")

    def _ping(self, redis) -> bool:
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path, settings):
    server = PrivateRedis(tmp_path)
    server.start()
    settings.REDIS_URL = settings.CELERY_BROKER_URL = server.url
    reconnect_producer()
    yield server
    server.stop()
    reconnect_producer()


def test_redis_restart_without_persistence_loses_nothing_after_the_reconciler(
    start_worker, site, private_redis, client, api_key
):
    import json

    from moderation.services import requeue_stale

    def post(n):
        return client.post(
            "/api/v1/comments",
            json.dumps(comment_payload(f"redis-{n}")),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_key}",
        )

    ids = [post(n).json()["id"] for n in range(20)]  # enqueued on the private broker; no worker runs yet
    private_redis.stop()  # ...and the broker dies, with every message
    down = post("while-down")
    assert down.status_code == 202, "the API stores what it can while the broker is down"
    ids.append(down.json()["id"])
    private_redis.start()

    start_worker(REDIS_URL=private_redis.url)
    time.sleep(1)
    assert Comment.objects.filter(pk__in=ids, status=CommentStatus.QUEUED).count() == len(ids), (
        "the messages should have died with the broker"
    )
    assert requeue_stale(older_than_seconds=0) == (len(ids), 0)
    wait_for(
        lambda: Comment.objects.filter(pk__in=ids, status__in=DECIDED).count() == len(ids),
        timeout=60,
        message="every comment decided after the reconciler ran",
    )
    assert_each_decided_exactly_once(ids)


@pytest.mark.parametrize("path", ["task", "submission reader"])
def test_database_unavailable_for_a_moment_tasks_retry_and_nothing_is_lost(
    start_worker, site, settings, path
):
    """PostgreSQL only: new connections are refused and the worker's are cut while work arrives; the tasks
    retry with backoff and every comment is decided once the database is back."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): SQLite cannot refuse connections; .ci/run runs this")
    from moderation.client import submit

    worker = start_worker()
    name = connection.settings_dict["NAME"]

    def cut_off(allow: bool) -> None:
        import psycopg

        s = connection.settings_dict
        with psycopg.connect(
            host=s["HOST"] or "127.0.0.1",
            port=s["PORT"] or 5432,
            user=s["USER"],
            password=s["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
        ) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')
            if not allow:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                    [name, connection.connection.info.backend_pid],
                )

    cut_off(allow=False)
    try:
        for n in range(5):
            submit(
                **comment_payload(f"dbdown-{n}"),
                broker_url=settings.REDIS_URL,
                queue=settings.MODERATION_QUEUE if path == "task" else settings.MODERATION_SUBMIT_QUEUE,
            )
        retried = "Retry in" if path == "task" else "put back on the queue"
        wait_for(lambda: retried in worker.output(), timeout=30, message="the worker to retry")
    finally:
        cut_off(allow=True)
    wait_for(
        lambda: (
            Comment.objects.filter(site_comment_id__startswith="c-dbdown-", status__in=DECIDED).count() == 5
        ),
        timeout=90,
        interval=0.5,
        message="every comment decided once the database is back",
    )
    ids = list(Comment.objects.filter(site_comment_id__startswith="c-dbdown-").values_list("pk", flat=True))
    assert_each_decided_exactly_once(ids)
