"""JSON in and out for the site-facing API: the v1 error shape ``{"error": {"field", "message"}}`` and a
request body read as JSON with limits (size, UTF-8, depth) checked before anything else looks at it. The
Perspective drop-in reads bodies its own way (Google's lenient JSON) but shares the depth limit."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from moderation.validation import SubmissionError

MAX_JSON_DEPTH = 8


def error(status: int, field: str, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": {"field": field, "message": message}}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def json_depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def read_json_body(request: HttpRequest, limit: int | None = None) -> Any:
    """Decode the request body as JSON, refusing what cannot be a submission before looking further.
    Raises SubmissionError (413 for a body over ``limit``, default MODERATION_MAX_BODY_BYTES; 400
    otherwise)."""
    limit = limit or settings.MODERATION_MAX_BODY_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise SubmissionError("body", f"is {declared} bytes; the limit is {limit}", status=413)
    body = request.body
    if len(body) > limit:
        raise SubmissionError("body", f"is {len(body)} bytes; the limit is {limit}", status=413)
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise SubmissionError("Content-Type", "must be application/json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError("body", f"is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise SubmissionError("body", f"is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        raise SubmissionError("body", f"is not valid JSON: {exc}") from None
    if json_depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise SubmissionError("body", f"is nested deeper than {MAX_JSON_DEPTH} levels")
    return data
