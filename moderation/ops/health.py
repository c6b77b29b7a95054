"""``/healthz`` (the process answers) and ``/readyz`` (database, broker and model usable).

Both are served by ``ops.middleware.OperationsMiddleware`` ahead of Django's host check, so a container
health check that reaches the process by an address not in ``DJANGO_ALLOWED_HOSTS`` still gets an answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from moderation.ops.access import authorised
from moderation.queue import producer
from moderation.scoring import current_model

log = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up (no dependency is checked: a broker outage must not get the web containers
    restarted)."""
    return JsonResponse({"status": "ok"})


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def check_broker() -> str:
    with producer().connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
        conn.default_channel.client.ping()
    return "ok"


def check_model() -> str:
    model = current_model()
    return f"ok ({model.version}, {model.stages})"


READINESS_CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "model": check_model,
}


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and the model are usable, else 503 naming the checks that failed
    (``{"status": "unavailable", "failed": ["broker"], ...}``). The error of each check is shown only to
    clients allowed to read metrics (it can name hosts)."""
    checks: dict[str, str] = {}
    failed: list[str] = []
    for name, check in READINESS_CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # any failure of a dependency means "not ready"; the name says which
            failed.append(name)
            checks[name] = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("readiness check %s failed: %s", name, checks[name])
    body: dict = {"status": "unavailable" if failed else "ready", "failed": failed}
    if authorised(request):
        body["checks"] = checks
    return JsonResponse(body, status=503 if failed else 200)
