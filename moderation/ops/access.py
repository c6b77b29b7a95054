"""Who may read the operations figures: ``/metrics`` and the details of ``/readyz``.

With ``MODERATION_METRICS_TOKEN`` set, a request must send ``Authorization: Bearer <token>``; without a token
only loopback clients are answered, and a request that came through a proxy (it carries ``X-Forwarded-For``)
does not count as loopback."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest


def authorised(request: HttpRequest) -> bool:
    """True if the request may read metrics: the bearer token when one is configured, else a loopback client
    that did not come through a proxy."""
    token = settings.MODERATION_METRICS_TOKEN
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode())
    if "X-Forwarded-For" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
