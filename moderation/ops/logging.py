"""Structured logs: ``JsonFormatter`` writes one JSON object per line (enabled by ``LOG_FORMAT=json``).

Each line carries time, level, logger, message and, when known, the comment ids it concerns: from
``extra=`` (``comment_id``, ``comment_ids``, ``site``, ``site_comment_id``) or, inside a Celery task, from
the task's own keyword arguments, with the task name and id. Personal data stays out unless
``MODERATION_LOG_PERSONAL_DATA`` is on (debugging only): the fields ``text``, ``author_name``, ``ip``,
``user_agent`` passed as ``extra`` are dropped, and IP addresses inside messages and tracebacks are
replaced by ``[ip]``. Comment text reaches a log line only if code puts it in the message; no module of
this project does."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

ID_FIELDS = ("comment_id", "comment_ids", "site", "site_comment_id", "task", "task_id")
PERSONAL_FIELDS = ("text", "author_name", "ip", "user_agent", "author_id")
# Dotted quads; full IPv6 (eight groups); compressed IPv6 ("::"), possibly ending in a dotted quad. Times
# such as 10:15:00 are neither.
_IPV4 = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}"
_IPV6 = r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
_IPV6_SHORT = (
    rf"(?:[0-9A-Fa-f]{{1,4}}:)*[0-9A-Fa-f]{{0,4}}::(?:[0-9A-Fa-f]{{1,4}}:)*(?:{_IPV4}|[0-9A-Fa-f]{{1,4}})?"
)
IP_PATTERN = re.compile(
    rf"(?<![\w.:])(?:{_IPV6_SHORT}|{_IPV6})(?![\w:]|\.\d)"  # IPv6
    rf"|(?<![\w.])(?:{_IPV4})(?!\w|\.\d)"  # IPv4, perhaps with :port
)


def redact_ips(text: str) -> str:
    return IP_PATTERN.sub("[ip]", text)


def _personal_data_allowed() -> bool:
    try:
        from django.conf import settings

        return bool(getattr(settings, "MODERATION_LOG_PERSONAL_DATA", False))
    except Exception:  # settings not configured (a script): be strict
        return False


def _task_context() -> dict:
    """Task name, id and the comment ids among its keyword arguments, when logging inside a Celery task."""
    try:
        from celery import current_task
    except ImportError:
        return {}
    task = current_task
    if not task or not getattr(task, "request", None) or task.request.id is None:
        return {}
    out = {"task": task.name, "task_id": task.request.id}
    kwargs = task.request.kwargs or {}
    if "comment_ids" in kwargs:
        out["comment_ids"] = list(kwargs["comment_ids"])[:100]
    if "site_comment_id" in kwargs:
        out["site_comment_id"] = str(kwargs["site_comment_id"])
    if "comments" in kwargs and isinstance(kwargs["comments"], list):
        out["site_comment_ids"] = [
            str(c.get("site_comment_id")) for c in kwargs["comments"][:100] if isinstance(c, dict)
        ]
    if kwargs.get("site"):
        out["site"] = str(kwargs["site"])
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per record; see the module docstring for what it leaves out."""

    def __init__(self, *args, personal_data: bool | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._personal_data = personal_data

    def personal_data(self) -> bool:
        return _personal_data_allowed() if self._personal_data is None else self._personal_data

    def format(self, record: logging.LogRecord) -> str:
        personal = self.personal_data()
        message = record.getMessage()
        entry: dict = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message if personal else redact_ips(message),
        }
        entry.update(_task_context())
        for name in ID_FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if personal:
            for name in PERSONAL_FIELDS:
                if name in record.__dict__:
                    entry[name] = record.__dict__[name]
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            entry["exception"] = trace if personal else redact_ips(trace)
        return json.dumps(entry, default=str, ensure_ascii=False)
