"""Structured JSON logs (moderation/ops/logging.py): ids in, comment text and IP addresses out unless asked
for."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from celery import Celery

from moderation.ops.logging import JsonFormatter, redact_ips
from tests.conftest import REPO, worker_env

SECRET_TEXT = "my secret comment text about my neighbour"


def record(message: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("moderation.test", logging.WARNING, __file__, 1, message, args, exc_info)
    rec.__dict__.update(extra)
    return rec


def test_ids_kept_personal_fields_and_ips_left_out():
    line = JsonFormatter(personal_data=False).format(
        record(
            "comment %s from %s refused",
            42,
            "198.51.100.23",
            comment_id=42,
            site="news",
            text=SECRET_TEXT,
            ip="198.51.100.23",
            author_name="Jane Doe",
            user_agent="Firefox",
        )
    )
    entry = json.loads(line)
    assert entry["comment_id"] == 42 and entry["site"] == "news"
    assert (
        entry["level"] == "WARNING"
        and entry["logger"] == "moderation.test"
        and entry["ts"].endswith("+00:00")
    )
    assert entry["message"] == "comment 42 from [ip] refused"
    for personal in (SECRET_TEXT, "198.51.100.23", "Jane Doe", "Firefox"):
        assert personal not in line


def test_debug_setting_lets_personal_data_through(settings):
    settings.MODERATION_LOG_PERSONAL_DATA = True
    entry = json.loads(
        JsonFormatter().format(record("from %s", "2001:db8::7", text=SECRET_TEXT, ip="2001:db8::7"))
    )
    assert (
        entry["message"] == "from 2001:db8::7"
        and entry["text"] == SECRET_TEXT
        and entry["ip"] == "2001:db8::7"
    )


def test_ips_are_redacted_from_tracebacks():
    try:
        raise ConnectionError("cannot reach 10.20.30.40:5432")
    except ConnectionError:
        entry = json.loads(
            JsonFormatter(personal_data=False).format(record("db down", exc_info=sys.exc_info()))
        )
    assert "10.20.30.40" not in entry["exception"] and "[ip]:5432" in entry["exception"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("at 10.0.0.1.", "at [ip]."),
        ("v6 fe80::1ff:fe23:4567:890a and ::ffff:10.0.0.1,", "v6 [ip] and [ip],"),
        ("model tox-spam-2026.11.27-303f3a52 version 1.2.3 at 10:15:00", None),
    ],
)
def test_ip_redaction(text, expected):
    assert redact_ips(text) == (expected or text)


def test_inside_a_celery_task_the_line_carries_the_task_and_comment_ids():
    app = Celery("log-test", set_as_current=False)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(personal_data=False))
    logger = logging.getLogger("moderation.test.task")
    logger.addHandler(handler)

    @app.task(name="moderation.decide_comments", shared=False)
    def decide(comment_ids):
        logger.warning("deciding")

    try:
        decide.apply(kwargs={"comment_ids": [7, 8]})
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue().strip())
    assert (
        entry["task"] == "moderation.decide_comments" and entry["comment_ids"] == [7, 8] and entry["task_id"]
    )


def test_log_format_json_setting_configures_every_logger(db):
    script = (
        "import django, logging; django.setup(); "
        f"logging.getLogger('moderation.services.ingest').warning('comment %s from 192.0.2.1', 5, "
        f"extra={{'comment_id': 5, 'text': {SECRET_TEXT!r}}})"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=worker_env(LOG_FORMAT="json"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    entry = next(e for e in lines if e["logger"] == "moderation.services.ingest")
    assert entry["comment_id"] == 5 and entry["message"] == "comment 5 from [ip]"
    assert SECRET_TEXT not in result.stderr and "192.0.2.1" not in result.stderr


def test_a_bad_log_format_stops_start_up(db):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=worker_env(LOG_FORMAT="xml"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "LOG_FORMAT='xml' is not one of plain, json" in result.stderr
