"""``OperationsMiddleware``: the operations endpoints, answered before the host check.

Probes and scrapers reach a process by container name or IP address, which ``DJANGO_ALLOWED_HOSTS`` need
not list, so GET and HEAD of ``/healthz``, ``/readyz`` and ``/metrics`` are served here, ahead of Django's
``SecurityMiddleware``, sessions and host validation. (The other middleware of this package:
``ops.request_guard`` for hostile request values and ``ops.security`` for the Content-Security-Policy.)"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from moderation.ops.health import healthz, readyz
from moderation.ops.metrics import metrics_view

VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics_view,
}


class OperationsMiddleware:
    """Answers GET /healthz, /readyz and /metrics before the host check and the session machinery."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = VIEWS.get(request.path_info)
        if view is not None and request.method in ("GET", "HEAD"):
            return view(request)
        return self.get_response(request)
