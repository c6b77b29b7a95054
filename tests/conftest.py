"""Shared fixtures: factories for sites, keys and comments, and a real Celery worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Fixtures through which a test reaches the database (pytest-django's, and every fixture built on them: an
# item's fixturenames is the closure).
_DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def pytest_collection_modifyitems(config, items):
    """MODERATION_DB_TESTS_ONLY=1 (set by .ci/run for its PostgreSQL pass) deselects every test that never
    touches the database: the SQLite pass has run them, and running them on PostgreSQL would test nothing
    new."""
    if os.environ.get("MODERATION_DB_TESTS_ONLY") != "1":
        return
    keep, drop = [], []
    for item in items:
        touches = item.get_closest_marker("django_db") is not None or bool(
            _DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        )
        (keep if touches else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def site(db):
    from moderation.services import get_or_create_site

    return get_or_create_site("default", "Default site")


@pytest.fixture
def api_key(site):
    from moderation.services import create_api_key

    _, raw = create_api_key(site)
    return raw


@pytest.fixture
def moderator(db, django_user_model):
    return django_user_model.objects.create_user(username="mod", password="correct horse battery")


def comment_payload(n: int | str = 1, **overrides) -> dict:
    """A valid submission; override any field."""
    payload = {
        "site_comment_id": f"c-{n}",
        "text": "Pakistan's caution about recognising the Taliban makes sense given the border situation.",
        "author_id": "reader-1",
        "story_id": "story-pak-taliban",
        "story_title": "Pakistan treads carefully on recognising the Taliban government",
        "author_name": "A Reader",
        "created_at": "2026-11-27T10:15:00Z",
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def make_comment(site):
    """Store a comment directly (as the HTTP path would) and return it."""
    from moderation.services import accept_comment
    from moderation.validation import validate_submission

    counter = {"n": 0}

    def make(**overrides):
        counter["n"] += 1
        comment, _ = accept_comment(
            site, validate_submission(comment_payload(counter["n"], **overrides)), "api"
        )
        return comment

    return make


@pytest.fixture
def fresh_model_state(monkeypatch):
    """This process's model handle as a fresh process has it: no model loaded, no failed load, no cached read
    of the registry's active version (a cached read from an earlier test, whose database rows are gone, would
    serve that test's model). Restored afterwards, so the shipped model is not reloaded for every test."""
    from moderation import scoring

    for name in ("_model", "_failure", "_active", "_active_read_at", "_switch_failure"):
        monkeypatch.setattr(scoring, name, None)
    return scoring


def reconnect_producer() -> None:
    """Make the project's Celery app send to the broker the settings name now (tests point it at a private
    Redis and back). Its configuration is read from the settings on each use, but it keeps the connection pool
    and the producer pool of the broker it first used (``app.close()`` forgets only the first, and deregisters
    the app). Both are forgotten here, not closed: kombu keeps pools per broker in its own registry, so the
    next send gets the pools of the broker named now, as a new app would."""
    from moderation.queue import producer

    app = producer()
    app._pool = None
    app.amqp._producer_pool = None


# --- Real services ------------------------------------------------------------------------------------------


def redis_client():
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)


@pytest.fixture
def one_rate_window(monkeypatch):
    """For a test that counts requests up to an abuse limit and past it (``moderation.ratelimit``), two things
    that would let a request through and are not what it tests:

    - The limits count in fixed windows that start on the minute (the hour windows of reader reports too), and
      the count starts again at a boundary: the test starts with at least 10 s of its minute left.
    - The limiter gives Redis 0.25 s and then lets the request through (fail open, tested on its own with an
      unreachable Redis); CI runs three test passes on two cores, where a round trip can take longer. Here
      the machine's Redis gets 5 s."""
    import redis
    from django.conf import settings

    from moderation import ratelimit

    url = settings.REDIS_URL
    patient = redis.Redis.from_url(ratelimit.redis_py_url(url), socket_connect_timeout=5, socket_timeout=5)
    monkeypatch.setitem(ratelimit._clients, url, patient)
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.05)


@pytest.fixture(scope="session")
def real_redis():
    """The machine's Redis (REDIS_URL); the test fails with a clear message if it does not answer. Every key
    this run wrote (they share one prefix) is deleted at the end."""
    import redis
    from django.conf import settings

    client = redis_client()
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis at {settings.REDIS_URL} does not answer ({exc}); start it (see ../shared/SERVICES.md) "
            "or set REDIS_URL"
        )
    yield client
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    if prefix:
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)


def database_url() -> str:
    """A DATABASE_URL for the database the tests are using now (the test database, once created)."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += ":" + s["PASSWORD"]
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def worker_env(**extra: str) -> dict:
    from django.conf import settings

    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="moderation.config.settings",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        MODERATION_QUEUE=settings.MODERATION_QUEUE,
        MODERATION_SUBMIT_QUEUE=settings.MODERATION_SUBMIT_QUEUE,
        MODERATION_REDIS_KEY_PREFIX=settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""),
        MODERATION_VAR_DIR=str(settings.VAR_DIR),
        MODERATION_ENV="test",
    )
    env.update(extra)
    return env


class WorkerProcess:
    """A real ``celery worker`` process on this run's queue."""

    def __init__(self, name: str, pool: str = "solo", concurrency: int = 1, **env: str):
        self.name = name
        self.log_path = Path(os.environ["MODERATION_VAR_DIR"]) / f"{name}.log"
        from django.conf import settings

        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "moderation.config.celery:app",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "-Q",
            settings.MODERATION_QUEUE,
            "--hostname",
            f"{name}-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        self.log = open(self.log_path, "wb")
        # Its own process group, so a test can kill the worker with its pool processes at once.
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=worker_env(**env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited at start:\n{self.output()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"worker {self.name} not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of its pool
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()


@pytest.fixture
def start_worker(real_redis, transactional_db):
    """Start real worker processes for this test; all are stopped at its end."""
    started: list[WorkerProcess] = []

    def start(name: str = "worker", **kwargs) -> WorkerProcess:
        proc = WorkerProcess(name, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def wait_for(predicate, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {message}")
