"""Validation of a comment submission: one contract for the Celery task, the Python client and the HTTP API.

``validate_submission(data)`` takes the JSON object a site sent and returns a clean dict, or raises
``SubmissionError`` naming the field and the limit. Nothing is stored or enqueued before it has passed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from training.labels import LABELS


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
OPTIONAL_FIELDS = (
    "story_title",
    "author_name",
    "parent_id",
    "created_at",
    "edited_at",
    "ip",
    "user_agent",
    "language",
)
ALLOWED_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)


DEFAULT_MAX_TEXT_CHARS = 10_000


def max_text_chars() -> int:
    """The text limit in characters: the MODERATION_MAX_TEXT_CHARS setting, or 10,000 where Django is not set
    up (a site using ``moderation.client`` without our settings)."""
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
        # in C: fails exactly on lone surrogates, which a per-character loop found slowly
        value.encode("utf-8")
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


def _check_datetime(field: str, value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    _check_string(field, value, 64)
    try:
        parsed: datetime | None = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise SubmissionError(field, "must be an ISO 8601 date-time, e.g. 2026-11-27T10:15:00Z")
    if parsed.tzinfo is None:
        raise SubmissionError(field, "must include a time zone offset, e.g. Z or +05:00")
    return parsed


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

    # edited_at (issue 21): the reader edited the comment at that time; a new text is moderated again.
    for field in ("created_at", "edited_at"):
        clean[field] = _check_datetime(field, data.get(field))

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


def validate_policy_overrides(overrides: Any) -> None:
    """Check a Site.policy_overrides value: {label: {"review"|"reject": number in [0, 1]}}, review ≤ reject
    when both are given. Raises django ValidationError naming the label and the key."""
    if not isinstance(overrides, dict):
        raise ValidationError('policy_overrides must be an object like {"toxicity": {"review": 0.4}}')
    for label, cuts in overrides.items():
        if label not in LABELS:
            raise ValidationError(f"policy_overrides: {label!r} is not a label ({', '.join(LABELS)})")
        if not isinstance(cuts, dict) or not cuts or set(cuts) - {"review", "reject"}:
            raise ValidationError(f'policy_overrides.{label} must be an object with "review" and/or "reject"')
        for key, value in cuts.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValidationError(f"policy_overrides.{label}.{key} must be a number from 0 to 1")
        if "review" in cuts and "reject" in cuts and cuts["review"] > cuts["reject"]:
            raise ValidationError(f"policy_overrides.{label}: review must not be above reject")


def validate_review_budget(budget: Any) -> None:
    """Check a Site.review_budget value (None: the model's default); raises django ValidationError."""
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget < 1
    ):
        raise ValidationError(f"review_budget must be between 0 and 1 (a share), got {budget}")


def validate_report_threshold(threshold: Any) -> None:
    """Check a Site.report_threshold value: a whole number of readers from 1 to 1000; raises django
    ValidationError."""
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 1000:
        raise ValidationError(
            f"report_threshold must be a whole number of readers from 1 to 1000, got {threshold}"
        )


_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
MAX_LINK_DOMAINS = 1000


def validate_link_domains(name: str, domains: Any) -> None:
    """Check a Site link-domain list (issue 21): a list of up to 1000 lower-case host names like
    "example.com" (each also covers its subdomains); raises django ValidationError naming the list and the
    entry."""
    if not isinstance(domains, list):
        raise ValidationError(f'{name} must be a list of domains like ["example.com"]')
    if len(domains) > MAX_LINK_DOMAINS:
        raise ValidationError(f"{name} holds {len(domains)} domains; the limit is {MAX_LINK_DOMAINS}")
    for domain in domains:
        if not isinstance(domain, str) or not _DOMAIN_RE.match(domain):
            raise ValidationError(
                f"{name}: {domain!r} is not a lower-case domain like example.com (no scheme, path or port)"
            )


# --- Issue 21: reader reports and commenter states (the API, the Celery task and the dashboard) ---

REPORT_REASON_CHARS = 500
COMMENTER_STATES = ("trusted", "normal", "premoderated", "suspended", "banned")


def _only_fields(data: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SubmissionError("body", f"must be a JSON object, got {_json_type(data)}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise SubmissionError(unknown[0], f"is not a known field; send only {', '.join(allowed)}")
    return data


def _required_string(data: dict, field: str, limit: int) -> str:
    if data.get(field) is None:
        raise SubmissionError(field, "is required")
    value = _check_string(field, data[field], limit).strip()
    if not value:
        raise SubmissionError(field, "must not be empty")
    return value


def validate_author_id(value: Any) -> str:
    """A commenter's id as the site sends it (1 to 255 characters, no NUL); raises SubmissionError."""
    value = _check_string("author_id", value, STRING_LIMITS["author_id"])
    if not value.strip():
        raise SubmissionError("author_id", "must not be empty")
    return value


def validate_report(data: Any) -> dict[str, str]:
    """A reader's report: ``{"reporter_id", "reason"}``, both required strings (the reporter's id on the site,
    up to 255 characters; the reason, up to 500). Returns them stripped; raises SubmissionError naming the
    field."""
    data = _only_fields(data, ("reporter_id", "reason"))
    return {
        "reporter_id": _required_string(data, "reporter_id", STRING_LIMITS["author_id"]),
        "reason": _required_string(data, "reason", REPORT_REASON_CHARS),
    }


def validate_commenter(data: Any, now: datetime) -> dict[str, Any]:
    """A commenter's state: ``{"state", "until", "reason"}``. ``state`` is one of ``COMMENTER_STATES``;
    ``until`` (an ISO 8601 date-time with a time zone, after ``now``) is required for "suspended" and refused
    for the others; ``reason`` is optional, up to 500 characters. Returns {"state", "until" (aware datetime or
    None), "reason"}; raises SubmissionError naming the field."""
    data = _only_fields(data, ("state", "until", "reason"))
    state = data.get("state")
    if state not in COMMENTER_STATES:
        raise SubmissionError("state", f"must be one of {', '.join(COMMENTER_STATES)}, got {state!r}")
    reason = "" if data.get("reason") is None else _check_string("reason", data["reason"], 500).strip()
    until = data.get("until")
    if state != "suspended":
        if until not in (None, ""):
            raise SubmissionError("until", f'is only for state "suspended", not {state!r}')
        return {"state": state, "until": None, "reason": reason}
    if until in (None, ""):
        raise SubmissionError("until", 'is required for state "suspended" (e.g. 2026-12-31T00:00:00Z)')
    if isinstance(until, datetime):
        parsed = until
    else:
        _check_string("until", until, 64)
        try:
            parsed = parse_datetime(until)
        except ValueError:
            parsed = None
        if parsed is None:
            raise SubmissionError(
                "until", f"must be an ISO 8601 date-time like 2026-12-31T00:00:00Z, got {until!r}"
            )
    if parsed.tzinfo is None:
        raise SubmissionError("until", "must carry a time zone, e.g. 2026-12-31T00:00:00Z")
    if parsed <= now:
        raise SubmissionError("until", f"must be in the future (now is {now.isoformat(timespec='seconds')})")
    return {"state": state, "until": parsed, "reason": reason}


# --- Webhook endpoints: URL and secrets (Model.clean and create_webhook_endpoint call these) ---

SECRET_PREFIX = "whsec_"


class WebhookURLRefused(Exception):
    """The webhook URL is malformed or resolves to an address range that is not allowed."""


def secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret must start with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret must be whsec_ followed by base64") from None
    if len(key) < 16:
        raise ValueError("a webhook secret must hold at least 16 bytes of key")
    return key


def _address_range(ip: str) -> str:
    """'' for a public address, else the name of its range as used by MODERATION_WEBHOOK_ALLOW_PRIVATE."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link_local"
    if addr.is_private or not addr.is_global or addr.is_multicast or addr.is_reserved or addr.is_unspecified:
        return "private"  # RFC 1918, ULA, CGNAT, 0.0.0.0, documentation ranges, ...
    return ""


def resolve_allowed(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, after checking every one of them against the allowed ranges.
    Raises WebhookURLRefused naming the address, its range and the setting that would allow it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookURLRefused(f"webhook host {host!r} does not resolve: {exc}") from None
    allowed = {a.strip().lower() for a in settings.MODERATION_WEBHOOK_ALLOW_PRIVATE}
    addresses: list[str] = []
    for info in infos:
        ip = info[4][0]
        if ip in addresses:
            continue
        kind = _address_range(ip)
        if kind and kind not in allowed and "all" not in allowed:
            raise WebhookURLRefused(
                f"webhook host {host!r} resolves to {ip}, a {kind} address; refused "
                f"(set MODERATION_WEBHOOK_ALLOW_PRIVATE={kind} to allow it)"
            )
        addresses.append(ip)
    if not addresses:
        raise WebhookURLRefused(f"webhook host {host!r} resolves to no address")
    return addresses


def split_url(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookURLRefused(f"webhook URL must be http:// or https://, got {url!r}")
    if not parts.hostname:
        raise WebhookURLRefused(f"webhook URL {url!r} has no host")
    if parts.username or parts.password:
        raise WebhookURLRefused("webhook URL must not carry credentials; sign with the secret instead")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def validate_endpoint(url: str, secrets: str) -> None:
    """Check an endpoint's URL (scheme, host, allowed address ranges) and secrets (``whsec_<base64>`` each, at
    least one). Raises django ValidationError keyed by field, for admin forms and
    ``create_webhook_endpoint``."""
    errors: dict[str, str] = {}
    try:
        _, host, port, _ = split_url(url)
        resolve_allowed(host, port)
    except WebhookURLRefused as exc:
        errors["url"] = str(exc)
    secret_list = (secrets or "").split()
    if not secret_list:
        errors["secrets"] = "at least one whsec_ secret is required"
    for secret in secret_list:
        try:
            secret_key(secret)
        except ValueError as exc:
            errors["secrets"] = str(exc)
    if errors:
        raise ValidationError(errors)
