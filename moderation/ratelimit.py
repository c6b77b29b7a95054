"""Abuse limits kept in Redis (issue 6): requests per API key per minute, reader reports per reporter (issue
21), and failed dashboard logins per username and address.

- ``check_api_rate(key_hash)``: a fixed one-minute window per API key,
  ``MODERATION_RATE_LIMIT_PER_MINUTE`` requests (0 turns it off). The counter is keyed by the key's stored
  SHA-256 (the identity of the key in the database), never by a client-supplied header, so
  ``X-Forwarded-For`` and friends change nothing.
- ``login_lockout_seconds``, ``record_login_failure``, ``clear_login_failures``: failed dashboard logins
  per (username, address), read by the login view (``dashboard/login.py``): after
  ``MODERATION_LOGIN_MAX_FAILURES`` failures within ``MODERATION_LOGIN_LOCKOUT_SECONDS`` that pair is locked
  out for the rest of the window.

Every key starts with ``MODERATION_REDIS_KEY_PREFIX`` + ``ratelimit:``, so installations and test runs
sharing one Redis do not collide. If Redis cannot be reached the limits fail open (the request goes
through) and a warning is logged, at most once a minute: an outage of the limiter must not become an outage
of ingestion.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

log = logging.getLogger(__name__)

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()
_last_warning = 0.0


def redis_py_url(url: str) -> str:
    """The broker URL in redis-py's terms: kombu writes the embedded server's unix socket (``make up`` without
    Redis) as ``redis+socket://PATH``, redis-py as ``unix://PATH``."""
    if url.startswith("redis+socket://"):
        return "unix://" + url[len("redis+socket://") :]
    return url


def _client() -> redis.Redis:
    url = settings.REDIS_URL
    with _lock:
        if url not in _clients:
            # Short timeouts: when Redis is gone, a request waits a fraction of a second, then goes through.
            _clients[url] = redis.Redis.from_url(
                redis_py_url(url), socket_connect_timeout=0.25, socket_timeout=0.25
            )
        return _clients[url]


def _key(*parts: str) -> str:
    return f"{getattr(settings, 'MODERATION_REDIS_KEY_PREFIX', '')}ratelimit:" + ":".join(parts)


def _warn_unavailable(what: str, exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= 60:
        _last_warning = now
        log.warning(
            "%s: Redis at %s is unreachable (%s); not limiting until it answers (fail open)",
            what,
            settings.REDIS_URL,
            exc,
        )


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets (0 when allowed)


def _fixed_window(
    what: str, parts: tuple[str, ...], limit: int, seconds: int, now: float | None
) -> RateDecision:
    """Count one event in the current fixed window of ``seconds`` for the counter named by ``parts``."""
    if limit <= 0:
        return RateDecision(True, 0, 0, 0)
    now = time.time() if now is None else now
    window = int(now // seconds)
    key = _key(*parts, str(window))
    try:
        pipe = _client().pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 2 * seconds)
        count, _ = pipe.execute()
    except redis.RedisError as exc:
        _warn_unavailable(what, exc)
        return RateDecision(True, limit, limit, 0)
    retry_after = max(1, math.ceil((window + 1) * seconds - now))
    if count > limit:
        return RateDecision(False, limit, 0, retry_after)
    return RateDecision(True, limit, limit - count, 0)


def check_api_rate(key_hash: str, now: float | None = None) -> RateDecision:
    """Count one request for the API key whose stored hash is ``key_hash``. Out: whether it may proceed,
    and the seconds until the current minute's window ends. Never raises: an unreachable Redis allows the
    request."""
    limit = int(getattr(settings, "MODERATION_RATE_LIMIT_PER_MINUTE", 0) or 0)
    return _fixed_window("API rate limit", ("api", key_hash[:32]), limit, 60, now)


def check_report_rate(site_id: int, reporter_id: str, now: float | None = None) -> RateDecision:
    """Count one report by reader ``reporter_id`` of site ``site_id`` (issue 21):
    ``MODERATION_REPORTS_PER_WINDOW`` reports per ``MODERATION_REPORT_WINDOW_SECONDS`` (0: no limit), so one
    reader cannot bury comments. The reader's id is hashed in the key. Never raises (fails open)."""
    limit = int(getattr(settings, "MODERATION_REPORTS_PER_WINDOW", 0) or 0)
    seconds = int(getattr(settings, "MODERATION_REPORT_WINDOW_SECONDS", 3600) or 3600)
    digest = hashlib.sha256(f"{site_id}\n{reporter_id}".encode("utf-8", "replace")).hexdigest()[:32]
    return _fixed_window("report rate limit", ("report", digest), limit, seconds, now)


# --- Login throttling ---------------------------------------------------------------------------------------


def _login_key(username: str, address: str) -> str:
    # Hashed: usernames typed at a login form (often passwords typed in the wrong box) are not kept in Redis.
    digest = hashlib.sha256(f"{username.strip().lower()}\n{address}".encode("utf-8", "replace")).hexdigest()
    return _key("login", digest[:32])


def login_lockout_seconds(username: str, address: str) -> int:
    """Seconds this (username, address) stays locked out, 0 if it may try. Fails open."""
    max_failures = int(getattr(settings, "MODERATION_LOGIN_MAX_FAILURES", 5))
    if max_failures <= 0:
        return 0
    key = _login_key(username, address)
    try:
        pipe = _client().pipeline(transaction=True)
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = pipe.execute()
    except redis.RedisError as exc:
        _warn_unavailable("login throttling", exc)
        return 0
    if count is not None and int(count) >= max_failures:
        return max(int(ttl), 1)
    return 0


def record_login_failure(username: str, address: str) -> None:
    window = int(getattr(settings, "MODERATION_LOGIN_LOCKOUT_SECONDS", 900))
    key = _login_key(username, address)
    try:
        pipe = _client().pipeline(transaction=True)
        pipe.set(key, 0, ex=window, nx=True)  # the window starts at the first failure; INCR keeps the expiry
        pipe.incr(key)
        pipe.execute()
    except redis.RedisError as exc:
        _warn_unavailable("login throttling", exc)


def clear_login_failures(username: str, address: str) -> None:
    try:
        _client().delete(_login_key(username, address))
    except redis.RedisError as exc:
        _warn_unavailable("login throttling", exc)
