"""The queue path, measured on real parts: Redis, real worker processes, a real database, the shipped model.

    python -m benchmarks pipeline [--comments N] [--rate R] [--workers W] [--context-lookups on|off] [--json]

Prints one JSON object:
- ``per_message``: one comment per message (``moderation.submit_comment``), queue filled first, all N stored
  and decided: ``decisions_per_s``; ``celery_noop_per_s``: N no-op tasks in the same worker layout, same run;
  ``ratio`` = first / second; ``outcomes``: {status: comments}.
- ``bulk``: ``moderation.submit_comments`` with many comments per message, producer included:
  ``decisions_per_s``; ``in_process_scoring_per_s``: the same model scoring the same texts in batches in this
  process; ``ratio``; ``outcomes``.
- ``latency_ms``: ``{p50, p95, p99}`` from submission to stored decision at ``--rate`` comments/s offered.
- ``check_latency_ms``: ``{p50, p99}`` of ``POST /api/v1/check`` at 50 requests/s (gunicorn, 2 processes).

The database is a fresh SQLite file, or with ``--database-url postgres://user@host:5432/`` a fresh PostgreSQL
database created (and dropped) on that server. Redis is ``REDIS_URL`` (default 127.0.0.1:6379) with a key
prefix of its own; nothing else there is touched. Workers are ``celery worker -P solo`` processes (one per
core by default: with prefork one parent process handles every message).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks.load import open_loop, percentile

REPO = Path(__file__).resolve().parent.parent

TEXTS = [
    "Pakistan is right to be cautious; recognising the Taliban now would reward them for nothing.",
    "As someone from Peshawar I think the refugee question deserves more attention in this story.",
    "You are a pathetic idiot, shut up.",
    "Great reporting, thanks for the balanced view of the border talks.",
    "Check out my channel for FREE gift cards!!! http://spam.example.com",
    "The Taliban have not kept a single promise since 2021, why would anyone trust them?",
    "What a load of rubbish, the writer clearly knows nothing about the region.",
    "Interesting piece. The economic angle with China is missing though.",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Environment:
    """A private database, queue name and Redis key prefix, set in os.environ before Django starts."""

    def __init__(self, database_url: str | None):
        self.tmp = Path(tempfile.mkdtemp(prefix="moderation-bench-"))
        run = uuid.uuid4().hex[:8]
        self.pg_admin_url = None
        if database_url:
            # any database path given is replaced: the benchmark makes its own
            server = urlsplit(database_url)
            self.pg_admin_url = urlunsplit(server._replace(path="/postgres"))
            self.db_name = f"moderation_bench_{run}"
            self._psql(f"CREATE DATABASE {self.db_name}")
            url = urlunsplit(server._replace(path=f"/{self.db_name}"))
        else:
            url = f"sqlite:///{self.tmp / 'bench.sqlite3'}"
        os.environ.update(
            DATABASE_URL=url,
            MODERATION_VAR_DIR=str(self.tmp),
            MODERATION_QUEUE=f"moderation-bench-{run}",
            MODERATION_REDIS_KEY_PREFIX=f"moderation-bench-{run}:",
            DJANGO_SETTINGS_MODULE="moderation.config.settings",
            LOG_LEVEL="WARNING",
        )
        os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.database_url = url

    def _psql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def setup_django(self) -> None:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)

    def cleanup(self) -> None:
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        for key in client.scan_iter(match=os.environ["MODERATION_REDIS_KEY_PREFIX"] + "*"):
            client.delete(key)
        if self.pg_admin_url:
            from django.db import connections

            connections.close_all()
            self._psql(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
        shutil.rmtree(self.tmp, ignore_errors=True)


class Workers:
    """``n`` real ``celery worker -P solo`` processes on the benchmark's queue."""

    def __init__(self, n: int):
        self.procs = []
        self.logs = []
        for i in range(n):
            log = Path(os.environ["MODERATION_VAR_DIR"]) / f"worker-{i}-{time.monotonic_ns()}.log"
            self.logs.append(log)
            cmd = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "moderation.config.celery:app",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "WARNING",
                "-Q",
                os.environ["MODERATION_QUEUE"],
                "--hostname",
                f"bench{i}-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--prefetch-multiplier",
                "32",
            ]
            self.procs.append(
                subprocess.Popen(
                    cmd, cwd=REPO, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True
                )
            )

    def wait_consuming(self, app, timeout: float = 120) -> float:
        """Return once the workers take messages (they load the model first), by sending a no-op and waiting
        for the queues to empty. Returns the monotonic time it happened."""
        client = broker()
        app.send_task("worker.noop", queue=os.environ["MODERATION_QUEUE"])
        deadline = time.monotonic() + timeout
        while queue_depth(client) and time.monotonic() < deadline:
            time.sleep(0.01)
        return time.monotonic()

    def log_tails(self, lines: int = 15) -> str:
        """The last lines of each worker's log, with its exit code if it ended."""
        out = []
        for proc, log in zip(self.procs, self.logs, strict=True):
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
            out.append(f"-- {log.name} (exit code {proc.poll()}):\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def broker():
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


def queue_depth(client) -> int:
    """Messages waiting on both queues plus those delivered but not yet acknowledged (kombu's unacked hash for
    the main queue, the readers' in-flight lists for the submission queue)."""
    from django.conf import settings

    from moderation.queue import submission_backlog

    prefix = os.environ["MODERATION_REDIS_KEY_PREFIX"]
    return (
        client.llen(prefix + settings.MODERATION_QUEUE)
        + client.llen(prefix + settings.MODERATION_SUBMIT_QUEUE)
        + client.hlen(prefix + "unacked")
        + submission_backlog(client)[0]
    )


def drain_rate(n: int, fill, done, workers: int) -> float:
    """Fill the queue with ``n`` messages, start the workers, and time from the first message taken to the
    last one finished (``done()`` true). Returns messages per second."""
    client = broker()
    fill()
    pool = Workers(workers)
    try:
        deadline = time.monotonic() + 300
        while queue_depth(client) >= n and time.monotonic() < deadline:
            time.sleep(0.002)
        start = time.monotonic()
        while not done() and time.monotonic() < deadline:
            time.sleep(0.005)
        elapsed = time.monotonic() - start
        if not done():
            raise RuntimeError(
                f"workers did not finish within 300 s ({queue_depth(client)} of {n} messages left); "
                f"the end of their logs (removed with the run's directory):\n{pool.log_tails()}"
            )
    finally:
        pool.stop()
    return n / elapsed


_REAL_TEXTS: list[str] = []


def real_texts() -> list[str]:
    """Real news-site comments (Civil Comments sample, ~4,000 varied texts), as the model benchmark uses; the
    eight TEXTS above only if the data is not there. Eight repeated sentences would flatter every figure: the
    normaliser caches per word, so scoring them is ~8x faster than scoring real comments."""
    if not _REAL_TEXTS:
        try:
            from training.offline.datasets import data_dir, read_rows

            rows = read_rows(data_dir() / "civil_comments_samples_4k" / "data.csv", ["text"])
            _REAL_TEXTS.extend(r["text"][:4000] for r in rows if r["text"].strip())
        except (OSError, KeyError, ValueError):
            pass
        if not _REAL_TEXTS:
            _REAL_TEXTS.extend(TEXTS)
    return _REAL_TEXTS


def payload(i: int, prefix: str) -> dict:
    texts = real_texts()
    return {
        "site_comment_id": f"{prefix}-{i}",
        "text": f"{texts[i % len(texts)]} ({i})",
        "author_id": f"reader-{i % 500}",
        "story_id": "pak-taliban",
        "story_title": "Pakistan weighs recognising the Taliban government",
    }


def decided_count(prefix: str) -> int:
    from moderation.models import Comment, CommentStatus

    return (
        Comment.objects.filter(site_comment_id__startswith=prefix + "-")
        .exclude(status=CommentStatus.QUEUED)
        .count()
    )


def outcomes(prefix: str) -> dict[str, int]:
    """{status: comments} of a run: with the context lookups on, the benchmark's 500 readers post faster than
    the burst limit and repeat texts, so many are held or rejected that the lookups-off run approves."""
    from django.db.models import Count

    from moderation.models import Comment

    rows = (
        Comment.objects.filter(site_comment_id__startswith=prefix + "-")
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(sorted(rows))


def bench_per_message(n: int, workers: int) -> dict:
    from django.conf import settings

    from moderation.queue import SUBMIT_COMMENT, producer

    app = producer()
    queue = settings.MODERATION_QUEUE

    def fill_noop():
        with app.producer_or_acquire() as prod:
            for _ in range(n):
                app.send_task("worker.noop", queue=queue, producer=prod)

    client = broker()
    noop_rate = drain_rate(n, fill_noop, lambda: queue_depth(client) == 0, workers)

    def fill_submit():
        with app.producer_or_acquire() as prod:
            for i in range(n):
                # routed to the submit queue
                app.send_task(SUBMIT_COMMENT, kwargs=payload(i, "pm"), producer=prod)

    decide_rate = drain_rate(n, fill_submit, lambda: decided_count("pm") >= n, workers)
    return {
        "comments": n,
        "workers": f"{workers} x celery -P solo",
        "decisions_per_s": round(decide_rate, 1),
        "celery_noop_per_s": round(noop_rate, 1),
        "ratio": round(decide_rate / noop_rate, 3),
        "outcomes": outcomes("pm"),
    }


def bench_bulk(n: int, workers: int, per_message: int) -> dict:
    from moderation.queue import producer
    from moderation.scoring import current_model

    app = producer()
    os.environ["MODERATION_QUEUE"]
    items = [payload(i, "bulk") for i in range(n)]
    pool = Workers(workers)
    try:
        deadline = pool.wait_consuming(app) + 120
        start = time.monotonic()
        with app.producer_or_acquire() as prod:
            for i in range(0, n, per_message):
                app.send_task(
                    "moderation.submit_comments",
                    kwargs={"comments": items[i : i + per_message]},
                    producer=prod,
                )
        while decided_count("bulk") < n and time.monotonic() < deadline + 300:
            time.sleep(0.01)
        elapsed = time.monotonic() - start
    finally:
        pool.stop()

    model = current_model()
    texts = [item["text"] for item in items]
    model.score(texts[:per_message])  # warm
    t0 = time.monotonic()
    for i in range(0, n, per_message):
        model.score(texts[i : i + per_message])
    scoring_rate = n / (time.monotonic() - t0)
    rate = n / elapsed
    return {
        "comments": n,
        "comments_per_message": per_message,
        "decisions_per_s": round(rate, 1),
        "in_process_scoring_per_s": round(scoring_rate, 1),
        "ratio": round(rate / scoring_rate, 3),
        "outcomes": outcomes("bulk"),
    }


def bench_latency(rate: float, seconds: float, workers: int) -> dict:
    from django.utils import timezone

    from moderation.models import Comment
    from moderation.queue import SUBMIT_COMMENT, producer

    app = producer()
    os.environ["MODERATION_QUEUE"]
    pool = Workers(workers)
    sent: dict[str, float] = {}
    try:
        deadline = pool.wait_consuming(app) + 120
        n = int(rate * seconds)
        start = time.monotonic()
        with app.producer_or_acquire() as prod:
            for i in range(n):
                due = start + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                item = payload(i, "lat")
                sent[item["site_comment_id"]] = timezone.now().timestamp()
                app.send_task(SUBMIT_COMMENT, kwargs=item, producer=prod)
        offered = n / (time.monotonic() - start)
        while decided_count("lat") < n and time.monotonic() < deadline + 120:
            time.sleep(0.05)
    finally:
        pool.stop()
    rows = Comment.objects.filter(site_comment_id__startswith="lat-").values_list(
        "site_comment_id", "decided_at"
    )
    latencies = [(decided.timestamp() - sent[sid]) * 1000 for sid, decided in rows if decided]
    return {
        "offered_per_s": round(offered, 1),
        "comments": len(sent),
        "decided": len(latencies),
        "p50": round(percentile(latencies, 0.50), 1),
        "p95": round(percentile(latencies, 0.95), 1),
        "p99": round(percentile(latencies, 0.99), 1),
    }


def bench_check(rate: float, seconds: float) -> dict:
    from moderation.services import create_api_key, get_or_create_site

    _, key = create_api_key(get_or_create_site("bench"))
    port = free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "moderation.config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            # no --preload: a worker forked after the master created an onnxruntime session hangs in
            # onnxruntime's exit handlers until gunicorn's graceful timeout (see training.onnx_encoder)
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api/v1/check"

    def call(text: str) -> float:
        request = urllib.request.Request(url, data=json.dumps({"text": text}).encode(), method="POST")
        request.add_header("Authorization", f"Bearer {key}")
        request.add_header("Content-Type", "application/json")
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        return (time.perf_counter() - t0) * 1000

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                call("warm up")
                break
            except OSError:
                time.sleep(0.2)
        for _ in range(20):
            call(random.choice(real_texts()))
        load = open_loop(lambda: call(random.choice(real_texts())), rate, seconds)
        latencies, errors, n = load.latencies_ms, load.errors, load.requests
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=20)
    return {
        "requests_per_s": rate,
        "requests": n,
        "errors": len(errors),
        "p50": round(percentile(latencies, 0.50), 2),
        "p99": round(percentile(latencies, 0.99), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks pipeline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--comments",
        type=int,
        default=20000,
        help="comments per throughput run (default 20000: with 5000 the run lasts ~2.5 s, a good "
        "part of it the workers' warm-up, which is not a sustained rate)",
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="offered comments/s for latency (default 200)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency runs (default 10)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="worker processes (default: cores)"
    )
    parser.add_argument(
        "--per-message", type=int, default=500, help="comments per bulk message (default 500)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server URL (e.g. postgres://postgres@127.0.0.1:5432/); default SQLite",
    )
    parser.add_argument(
        "--context-lookups",
        choices=("on", "off"),
        default="on",
        help="commenter states and context signals (issue 21) on every decision (default on); run both to "
        "measure their cost side by side",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    os.environ["MODERATION_CONTEXT_LOOKUPS"] = args.context_lookups  # the workers inherit it
    if args.comments < 100:
        parser.error("--comments must be at least 100")
    random.seed(20261127)

    env = Environment(args.database_url)
    try:
        env.setup_django()
        from django.db import connection

        result = {
            "database": connection.vendor,
            "context_lookups": args.context_lookups,
            "cores": os.cpu_count(),
            "per_message": bench_per_message(args.comments, args.workers),
            "bulk": bench_bulk(args.comments, args.workers, args.per_message),
            "latency_ms": bench_latency(args.rate, args.seconds, args.workers),
            "check_latency_ms": bench_check(50.0, args.seconds),
        }
    finally:
        env.cleanup()
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
