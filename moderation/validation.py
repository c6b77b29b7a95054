"""Validation of a comment submission: one contract for the Celery task, the Python client and the HTTP API.

``validate_submission(data)`` takes the JSON object a site sent and returns a clean dict, or raises
``SubmissionError`` naming the field and the limit. Nothing is stored or enqueued before it has passed.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime


@dataclass
class SubmissionError(Exception):
    """A submission that cannot be accepted. ``status`` is the HTTP status the API answers with."""

    field: str
    message: str
    status: int = 400

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"field": self.field, "message": self.message}}


# field name -> maximum length in characters; all optional identifiers are plain strings.
REQUIRED_FIELDS = ("site_comment_id", "text", "author_id", "story_id")
STRING_LIMITS = {
    "site_comment_id": 255,
    "author_id": 255,
    "story_id": 255,
    "story_title": 500,
    "author_name": 255,
    "parent_id": 255,
    "user_agent": 500,
    "language": 35,
}
OPTIONAL_FIELDS = ("story_title", "author_name", "parent_id", "created_at", "ip", "user_agent", "language")
ALLOWED_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)


DEFAULT_MAX_TEXT_CHARS = 10_000


def max_text_chars() -> int:
    """The text limit in characters: the MODERATION_MAX_TEXT_CHARS setting, or 10,000 where Django is not set up
    (a site using ``moderation.client`` without our settings)."""
    if settings.configured:
        return getattr(settings, "MODERATION_MAX_TEXT_CHARS", DEFAULT_MAX_TEXT_CHARS)
    return DEFAULT_MAX_TEXT_CHARS


def _is_invisible(ch: str) -> bool:
    # White space, format characters (zero-width space/joiners, BOM, bidi marks) and other invisibles.
    return ch.isspace() or unicodedata.category(ch) in {"Cf", "Zs", "Zl", "Zp", "Cc"}


def _check_string(field: str, value: Any, limit: int | None) -> str:
    if not isinstance(value, str):
        raise SubmissionError(field, f"must be a string, got {_json_type(value)}")
    if "\x00" in value:
        raise SubmissionError(field, "must not contain NUL characters")
    try:
        value.encode(
            "utf-8"
        )  # in C: fails exactly on lone surrogates, which a per-character loop found slowly
    except UnicodeEncodeError:
        raise SubmissionError(field, "must be valid Unicode (contains a lone surrogate)") from None
    if limit is not None and len(value) > limit:
        raise SubmissionError(field, f"is {len(value)} characters; the limit is {limit}")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def validate_submission(data: Any) -> dict[str, Any]:
    """Check one submission and return its clean fields.

    In: the decoded JSON object. Out: a dict with every allowed field (optional ones defaulted to "" / None),
    ``text`` stripped of surrounding white space, ``created_at`` as an aware datetime or None.
    Raises ``SubmissionError`` (status 400, or 413 for text over the limit) naming the first bad field.
    """
    if not isinstance(data, dict):
        raise SubmissionError("body", f"must be a JSON object, got {_json_type(data)}")
    unknown = sorted(set(data) - ALLOWED_FIELDS)
    if unknown:
        raise SubmissionError(
            unknown[0], f"is not a known field (allowed: {', '.join(sorted(ALLOWED_FIELDS))})"
        )
    for field in REQUIRED_FIELDS:
        if field not in data or data[field] is None:
            raise SubmissionError(field, "is required")

    clean: dict[str, Any] = {}
    limit = max_text_chars()
    text = _check_string("text", data["text"], None)
    text = text.strip()
    if len(text) > limit:
        raise SubmissionError("text", f"is {len(text)} characters; the limit is {limit}", status=413)
    if not text or all(_is_invisible(ch) for ch in text):
        raise SubmissionError("text", "must not be empty or only white space / invisible characters")
    clean["text"] = text

    for field, max_len in STRING_LIMITS.items():
        value = data.get(field)
        if value is None:
            if field in REQUIRED_FIELDS:
                raise SubmissionError(field, "is required")
            clean[field] = ""
            continue
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and field in ("author_id", "story_id", "parent_id", "site_comment_id")
        ):
            value = str(value)  # numeric ids are common on sites; store them as their decimal string
        value = _check_string(field, value, max_len).strip()
        if field in REQUIRED_FIELDS and not value:
            raise SubmissionError(field, "must not be empty")
        clean[field] = value

    created_at = data.get("created_at")
    if created_at is None or created_at == "":
        clean["created_at"] = None
    else:
        _check_string("created_at", created_at, 64)
        try:
            parsed: datetime | None = parse_datetime(created_at)
        except ValueError:
            parsed = None
        if parsed is None:
            raise SubmissionError("created_at", "must be an ISO 8601 date-time, e.g. 2026-11-27T10:15:00Z")
        if parsed.tzinfo is None:
            raise SubmissionError("created_at", "must include a time zone offset, e.g. Z or +05:00")
        clean["created_at"] = parsed

    ip = data.get("ip")
    if ip is None or ip == "":
        clean["ip"] = None
    else:
        _check_string("ip", ip, 45)
        try:
            clean["ip"] = str(ipaddress.ip_address(ip))
        except ValueError:
            raise SubmissionError("ip", "must be an IPv4 or IPv6 address") from None
    return clean
