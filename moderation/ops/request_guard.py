"""Last line of defence against hostile request values that the views do not check one by one (issue 6).

- A query-string or form value (dashboard filters, action forms, login) holding a NUL character is refused
  with   400 before any view runs: PostgreSQL cannot store NUL in text, and SQLite would store it silently, so
  refusing it   up front gives one answer on both databases. (The JSON API checks NUL per field in
  ``validation.py``.)
- A number too large for the database (``?comment=99999999999999999999``, a bulk selection id, a site id)
  raises   ``OverflowError`` (SQLite) or ``DataError`` (PostgreSQL: "bigint out of range", NUL in a string)
  deep inside a   query. That is the client's error, not the server's: it becomes a 400 here. Writes go
  through ``transaction.atomic`` in ``services.py``, so nothing is half-written when it happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

log = logging.getLogger(__name__)


def _bad_request(request: HttpRequest, field: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"field": field, "message": message}}, status=400)
    return HttpResponseBadRequest(f"{field}: {message}", content_type="text/plain; charset=utf-8")


class RequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in v for v in values):
                return _bad_request(request, name.replace("\x00", "\\0"), "must not contain NUL characters")
        # The JSON API reads its body itself; forms (dashboard, login, admin) are checked here.
        if (
            request.method == "POST"
            and not request.path.startswith("/api/")
            and request.content_type
            in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            )
        ):
            for name, values in request.POST.lists():
                if "\x00" in name or any("\x00" in v for v in values):
                    return _bad_request(
                        request, name.replace("\x00", "\\0"), "must not contain NUL characters"
                    )
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OverflowError, DataError)):
            log.warning(
                "refused a request the database cannot take: %s %s: %s",
                request.method,
                request.path,
                exception,
            )
            return _bad_request(
                request,
                "request",
                "holds a value out of range for this server "
                "(a number too large, or a character the database cannot store)",
            )
        return None
