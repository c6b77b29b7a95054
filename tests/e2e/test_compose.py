"""docker-compose.yml: checked by ``docker-compose config``, and each service's command run natively (no
Docker engine runs here) against the machine's Redis and a fresh PostgreSQL database, with the service's
own environment from the file. The commands are read from the file, so these tests prove the file's
commands work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, reconnect_producer, wait_for

pytestmark = pytest.mark.integration

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker-compose.yml (pip install pyyaml)")

COMPOSE_FILE = REPO / "docker-compose.yml"
SECRET = "compose-test-secret-key-" + "x" * 40
API_KEY = "mod_compose_test_key_" + uuid.uuid4().hex
PG_ADMIN_URL = os.environ.get("COMPOSE_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def compose_config() -> dict:
    """The file as docker-compose resolves it when the binary is installed, else as YAML (anchors merged)."""
    if shutil.which("docker-compose"):
        result = subprocess.run(
            ["docker-compose", "-f", str(COMPOSE_FILE), "config"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DJANGO_SECRET_KEY": SECRET},
        )
        assert result.returncode == 0, result.stderr
        return yaml.safe_load(result.stdout)
    config = yaml.safe_load(COMPOSE_FILE.read_text())
    for service in config["services"].values():  # the ${VAR:-default} interpolation docker-compose would do
        for key, value in list(service.get("environment", {}).items()):
            if isinstance(value, str) and value.startswith("${") and ":-" in value:
                service["environment"][key] = value[value.index(":-") + 2 : -1]
    return config


# --- docker-compose config ----------------------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (Debian: apt-get install -y docker-compose)",
)
def test_docker_compose_config_accepts_the_file_and_has_every_service():
    config = compose_config()
    services = config["services"]
    assert {"redis", "postgres", "migrate", "web", "worker", "beat"} <= set(services)

    redis_cmd = services["redis"]["command"]
    for flag, value in (
        ("--appendonly", "yes"),
        ("--appendfsync", "everysec"),
        ("--maxmemory-policy", "noeviction"),
    ):
        assert redis_cmd[redis_cmd.index(flag) + 1] == value

    volumes = set(config["volumes"])
    assert (
        any(
            str(v).startswith("postgres-data:")
            or (isinstance(v, dict) and v.get("source") == "postgres-data")
            for v in services["postgres"]["volumes"]
        )
        and "postgres-data" in volumes
    )
    assert "redis-data" in volumes

    assert services["migrate"]["restart"] == "no" and "migrate" in " ".join(services["migrate"]["command"])
    assert services["web"]["command"][0] == "gunicorn" and "healthz" in " ".join(
        services["web"]["healthcheck"]["test"]
    )
    assert services["worker"]["command"][:4] == ["celery", "-A", "moderation.config.celery:app", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "moderation.config.celery:app", "beat"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["MODERATION_ENV"] == "production"
    # Optional flower: only with its profile, only on the host's loopback (not run natively: not installed).
    assert services["flower"]["profiles"] == ["flower"]
    for port in services["flower"]["ports"]:
        assert (port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]) == "127.0.0.1"
    assert "ports" not in services["worker"]  # workers scale with --scale worker=N: nothing to collide on
    # The web health check reaches the process as 127.0.0.1, which DJANGO_ALLOWED_HOSTS need not list:
    # /healthz is answered before the host check (test_compose_commands_run_natively runs that check).
    assert "127.0.0.1:8000/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_docker_compose_config_refuses_a_missing_secret_key():
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install -y docker-compose)")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd="/",
    )
    assert result.returncode != 0 and "set DJANGO_SECRET_KEY" in result.stderr


# --- each service's command, natively -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def fresh_postgres():
    """A new PostgreSQL database for this module, dropped at the end."""
    psycopg = pytest.importorskip("psycopg")
    name = f"moderation_compose_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} does not answer ({exc}); start it (../shared/SERVICES.md) or set "
            "COMPOSE_TEST_PG_ADMIN_URL"
        )
    admin.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def stack(fresh_postgres, tmp_path_factory):
    """The compose services' commands and environments, pointed at the local Redis and the fresh database."""
    from django.conf import settings

    config = compose_config()
    var_dir = tmp_path_factory.mktemp("compose-var")
    venv_bin = str(Path(sys.executable).parent)

    def env_of(service: str, **extra: str) -> dict:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MODERATION_", "DATABASE_"))
        }
        env.update({k: str(v) for k, v in config["services"][service].get("environment", {}).items()})
        env.update(
            PATH=venv_bin + os.pathsep + env.get("PATH", ""),
            DJANGO_SECRET_KEY=SECRET,
            DJANGO_SETTINGS_MODULE="moderation.config.settings",
            DATABASE_URL=fresh_postgres,
            REDIS_URL=settings.REDIS_URL,
            # This run's own queue and key prefix on the shared Redis (../shared/SERVICES.md).
            MODERATION_QUEUE=settings.MODERATION_QUEUE,
            MODERATION_REDIS_KEY_PREFIX=settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""),
            MODERATION_VAR_DIR=str(var_dir),
            MODERATION_API_KEY=API_KEY,
            MODERATION_ADMIN_PASSWORD="compose-admin-password",
        )
        if getattr(settings, "MODERATION_SUBMIT_QUEUE", None):
            env["MODERATION_SUBMIT_QUEUE"] = settings.MODERATION_SUBMIT_QUEUE
        env.update(extra)
        return env

    procs: list[tuple[subprocess.Popen, object]] = []

    def start(service: str, command: list[str], log_name: str, **extra: str) -> tuple[subprocess.Popen, Path]:
        log_path = var_dir / f"{log_name}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            env=env_of(service, **extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append((proc, log))
        return proc, log_path

    yield {
        "config": config,
        "env_of": env_of,
        "start": start,
        "var_dir": var_dir,
        "database_url": fresh_postgres,
    }
    for proc, log in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # pool processes / gunicorn workers left behind
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()


def http(method: str, url: str, data: dict | None = None, key: str | None = API_KEY) -> tuple[int, dict]:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Host", "localhost")  # DJANGO_ALLOWED_HOSTS of the compose file
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except OSError:
        return 0, {}


def log_text(path: Path) -> str:
    return path.read_text(errors="replace")


def test_compose_commands_run_natively(stack, real_redis):
    """migrate, then web (health check and API), worker (consumes the web's task and a Celery submission),
    beat (sends the reconciler and the retention job, which the worker runs) — each with its command from
    the file."""
    services = stack["config"]["services"]

    # migrate: one-off, exits 0.
    result = subprocess.run(
        services["migrate"]["command"],
        cwd=REPO,
        env=stack["env_of"]("migrate"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Moderator account created: admin" in result.stdout

    # web: the file's gunicorn command on a free loopback port instead of 0.0.0.0:8000.
    port = free_port()
    web_cmd = [f"127.0.0.1:{port}" if arg == "0.0.0.0:8000" else arg for arg in services["web"]["command"]]
    assert web_cmd != services["web"]["command"], (
        "the web command no longer binds 0.0.0.0:8000; update this test"
    )
    web, web_log = stack["start"]("web", web_cmd, "web")
    health = [
        arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        for arg in services["web"]["healthcheck"]["test"][1:]
    ]

    def healthy():
        assert web.poll() is None, f"web exited:\n{log_text(web_log)}"
        return (
            subprocess.run(health, env=stack["env_of"]("web"), capture_output=True, timeout=30).returncode
            == 0
        )

    wait_for(healthy, timeout=60, interval=0.5, message="the compose health check of web")
    base = f"http://127.0.0.1:{port}"
    status, ready = http("GET", f"{base}/readyz", key=None)
    assert status == 200 and ready["status"] == "ready", ready

    # A comment over HTTP is stored queued and its task waits in Redis until a worker runs.
    status, body = http(
        "POST",
        f"{base}/api/v1/comments",
        {
            "site_comment_id": "compose-1",
            "text": "Pakistan is right to be cautious about the Taliban here.",
            "author_id": "u-1",
            "story_id": "s-1",
        },
    )
    assert status == 202, body
    comment_id = body["id"]

    # A Celery-path submission, sent by task name as a site would (routed by the same settings).
    from moderation.queue import producer

    reconnect_producer()
    producer().send_task(
        "moderation.submit_comment",
        kwargs={
            "site_comment_id": "compose-2",
            "text": "A second comment, sent through Celery.",
            "author_id": "u-2",
            "story_id": "s-1",
        },
    )

    # worker: the file's command consumes both.
    worker, worker_log = stack["start"]("worker", services["worker"]["command"], "worker")

    def decided(site_comment_id=None):
        assert worker.poll() is None, f"worker exited:\n{log_text(worker_log)}"
        state = http("GET", f"{base}/api/v1/comments/{comment_id}")[1]
        return state if state.get("status") in ("approved", "rejected", "needs_review") else None

    state = wait_for(decided, timeout=90, interval=0.5, message="the worker deciding the HTTP comment")
    assert state["decided_by"] == "model" and state["model_version"]

    def submission_decided():
        # Read the worker's row straight from the database: a re-POST of compose-2 while the worker has not
        # stored it yet would create it over HTTP (one run in CI: the prefork pool took the HTTP task first).
        import psycopg

        with psycopg.connect(stack["database_url"], connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT source, decided_by FROM moderation_comment WHERE site_comment_id = %s", ("compose-2",)
            ).fetchone()
        return row if row and row[1] == "model" else None

    source, _ = wait_for(
        submission_decided, timeout=60, interval=0.5, message="the worker storing the Celery submission"
    )
    assert source == "celery"
    # Submitting the same site_comment_id again answers 200 with the stored state: no second comment.
    status, state = http(
        "POST",
        f"{base}/api/v1/comments",
        {
            "site_comment_id": "compose-2",
            "text": "A second comment, sent through Celery.",
            "author_id": "u-2",
            "story_id": "s-1",
        },
    )
    assert status == 200 and state["decided_by"] == "model", (status, state)

    # beat: the file's command, with short intervals, sends the reconciler and the retention job.
    beat, beat_log = stack["start"](
        "beat",
        services["beat"]["command"],
        "beat",
        MODERATION_REQUEUE_EVERY_SECONDS="1",
        MODERATION_RETENTION_EVERY_SECONDS="1",
    )

    def beat_sent():
        assert beat.poll() is None, f"beat exited:\n{log_text(beat_log)}"
        text = log_text(beat_log)
        return "moderation.requeue_stale" in text and "moderation.apply_retention" in text

    wait_for(beat_sent, timeout=60, interval=0.5, message="beat sending the reconciler and the retention job")

    def worker_ran(task):
        return lambda: any(task in line and "succeeded" in line for line in log_text(worker_log).splitlines())

    wait_for(
        worker_ran("moderation.requeue_stale"), timeout=60, interval=0.5, message="the worker running it"
    )
    wait_for(worker_ran("moderation.apply_retention"), timeout=60, interval=0.5, message="the retention job")

    # The file asks for JSON logs: the worker's lines about a task carry its comment ids, never the text.
    assert services["worker"]["environment"]["LOG_FORMAT"] == "json"
    entries = [json.loads(line) for line in log_text(worker_log).splitlines() if line.startswith("{")]
    assert any(
        e.get("task") == "moderation.decide_comments" and e.get("comment_ids") == [comment_id]
        for e in entries
    ), log_text(worker_log)[-3000:]
    assert "cautious about the Taliban" not in log_text(worker_log)
