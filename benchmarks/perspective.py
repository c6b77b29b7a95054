"""Latency of the Perspective-compatible ``POST /v1alpha1/comments:analyze`` under an open-loop load.

    python -m benchmarks.perspective            # indented JSON
    python -m benchmarks.perspective --json     # one line
    python -m benchmarks.perspective --rate 100 --seconds 20 --spans

Starts gunicorn (2 worker processes, like ``make up``) on a free loopback port with a fresh SQLite database
and a site key, warms every worker (model loaded), then sends ``--rate`` requests per second for
``--seconds``: each one leaves on schedule whether or not the earlier ones have returned (open loop, so a slow
server cannot slow the offered load down and hide its own queueing). Each request asks for TOXICITY,
SEVERE_TOXICITY, INSULT, PROFANITY, THREAT, IDENTITY_ATTACK and SPAM in English, as Coral Talk-style callers
do. Prints p50/p95/p99/max in ms, the errors and non-200 answers; issue 7's target is p99 ≤ 50 ms at 50
requests/s (Coral's default Perspective timeout is 800 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.load import open_loop, percentile
from benchmarks.pipeline import REPO, TEXTS, free_port

TARGET_P99_MS = 50.0
ATTRIBUTES = ["TOXICITY", "SEVERE_TOXICITY", "INSULT", "PROFANITY", "THREAT", "IDENTITY_ATTACK", "SPAM"]
PATH = "/v1alpha1/comments:analyze"

# Until moderation.config.urls includes moderation.api.perspective_urls, gunicorn serves this module's
# ``application``: the project's URLs plus the Perspective routes. Once it does, this is the same as
# moderation.config.wsgi's application.
urlpatterns: list = []


def _application():
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    from django.conf import settings
    from django.urls import Resolver404, include, path, resolve

    try:
        resolve(PATH)
    except Resolver404:
        urlpatterns[:] = [
            path("", include("moderation.config.urls")),
            path("", include("moderation.api.perspective_urls")),
        ]
        settings.ROOT_URLCONF = __name__
    return app


def application(environ, start_response):  # gunicorn entry point: benchmarks.perspective:application
    global _app
    try:
        app = _app
    except NameError:
        app = _app = _application()
    return app(environ, start_response)


def _setup(var: Path) -> str:
    os.environ.update(
        MODERATION_VAR_DIR=str(var),
        MODERATION_ENV="local",
        DATABASE_URL=f"sqlite:///{var / 'bench.sqlite3'}",
        DJANGO_SETTINGS_MODULE="moderation.config.settings",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    from moderation.services import create_api_key, get_or_create_site

    call_command("migrate", verbosity=0)
    _, key = create_api_key(get_or_create_site("bench"))
    return key


def run(rate: float, seconds: float, workers: int, spans: bool) -> dict:
    var = Path(tempfile.mkdtemp(prefix="bench-perspective-"))
    key = _setup(var)
    port = free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "benchmarks.perspective:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
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
    url = f"http://127.0.0.1:{port}{PATH}?key={key}"
    statuses: dict[int, int] = {}

    def call(text: str) -> float:
        body = {
            "comment": {"text": text},
            "languages": ["en"],
            "doNotStore": True,
            "requestedAttributes": {name: {} for name in ATTRIBUTES},
            "spanAnnotations": spans,
        }
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        elapsed = (time.perf_counter() - t0) * 1000
        statuses[status] = statuses.get(status, 0) + 1
        return elapsed

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                call("warm up")
                break
            except OSError:
                if time.monotonic() > deadline or web.poll() is not None:
                    raise RuntimeError(f"gunicorn did not answer on port {port}") from None
                time.sleep(0.2)
        for _ in range(10 * workers):  # every worker loads the model before the clock starts
            call(random.choice(TEXTS))
        statuses.clear()
        load = open_loop(lambda: call(random.choice(TEXTS)), rate, seconds)
        latencies, errors, n, offered = load.latencies_ms, load.errors, load.requests, load.offered_per_s
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
        shutil.rmtree(var, ignore_errors=True)
    p99 = percentile(latencies, 0.99)
    return {
        "endpoint": PATH,
        "attributes": len(ATTRIBUTES),
        "span_annotations": spans,
        "web_workers": workers,
        "cores": os.cpu_count(),
        "requests_per_s": rate,
        "offered_per_s": round(offered, 1),
        "requests": n,
        "errors": len(errors),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50": round(percentile(latencies, 0.50), 2),
        "p95": round(percentile(latencies, 0.95), 2),
        "p99": round(p99, 2),
        "max": round(max(latencies, default=float("nan")), 2),
        "target_p99_ms": TARGET_P99_MS,
        "within_target": bool(p99 <= TARGET_P99_MS) and not errors and set(statuses) == {200},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.perspective", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second offered (default 50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the run (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--spans", action="store_true", help="ask for per-sentence spanScores too")
    parser.add_argument("--json", action="store_true", help="print one JSON object on one line")
    args = parser.parse_args(argv)
    random.seed(20261127)
    result = run(args.rate, args.seconds, args.workers, args.spans)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
