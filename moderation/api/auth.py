"""One place that turns an API key into a site: the key is looked up by its stored hash, then counted against
its per-minute limit (``MODERATION_RATE_LIMIT_PER_MINUTE``, the Redis counter in ``moderation/ratelimit.py``).

Each protocol reads the key where its clients send it (v1: ``Authorization: Bearer``; Perspective: ``?key=``
or ``X-Goog-Api-Key``; Coral: ``?key=``) and answers a refusal in its own error format; the decision is made
here.
"""

from __future__ import annotations

from dataclasses import dataclass

from moderation.models import ApiKey, Site
from moderation.ratelimit import check_api_rate
from moderation.services import site_for_api_key

MISSING = "missing"
INVALID = "invalid"
OVER_LIMIT = "over_limit"


@dataclass(frozen=True)
class KeyCheck:
    """The site of a valid key within its limit; else ``refusal`` (MISSING, INVALID, OVER_LIMIT) and, over the
    limit, the limit and the seconds until the next minute."""

    site: Site | None = None
    refusal: str = ""
    limit: int = 0
    retry_after: int = 0


def check_key(raw_key: str | None) -> KeyCheck:
    raw_key = (raw_key or "").strip()
    if not raw_key:
        return KeyCheck(refusal=MISSING)
    site = site_for_api_key(raw_key)
    if site is None:
        return KeyCheck(refusal=INVALID)
    # Keyed by the key's stored hash, never by a header a client chooses.
    rate = check_api_rate(ApiKey.hash_key(raw_key))
    if not rate.allowed:
        return KeyCheck(refusal=OVER_LIMIT, limit=rate.limit, retry_after=rate.retry_after)
    return KeyCheck(site=site)
