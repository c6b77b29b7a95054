"""Reading a Perspective request: the body as JSON (Google's lenient reader), its fields checked one by one,
the requested attributes and languages, and the suggested scores of SuggestCommentScore. Every refusal is a
``PerspectiveError`` in Google's error shape."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from moderation.api.json_io import MAX_JSON_DEPTH, json_depth
from moderation.policy import ATTRIBUTE_LABELS
from training.language import check_language as language_gate

# Perspective attribute → our model's label. PROFANITY is the Jigsaw "obscene" label our model is trained on.
SUPPORTED_LANGUAGES = ("en",)
SCORE_TYPE = "PROBABILITY"
# limits.md: "The maximum text size per request is 20 KB" (bytes of UTF-8, not characters).
MAX_TEXT_BYTES = 20 * 1024
ERROR_TYPE_URL = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"

# google.rpc code → HTTP status, for the statuses this API answers with.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
}


# --- Errors -------------------------------------------------------------------------------------------------


class PerspectiveError(Exception):
    """An answer in Google's error shape. ``error_type`` is Perspective's ErrorType enum (limits.md),
    ``extra`` goes into the detail object beside it."""

    def __init__(
        self,
        message: str,
        status: str = "INVALID_ARGUMENT",
        error_type: str | None = "INVALID_REQUEST",
        **extra: Any,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.extra = extra
        self.headers: dict[str, str] = {}

    def response(self) -> JsonResponse:
        code = HTTP_STATUS[self.status]
        body: dict[str, Any] = {"code": code, "message": self.message, "status": self.status}
        if self.error_type:
            body["details"] = [{"@type": ERROR_TYPE_URL, "errorType": self.error_type, **self.extra}]
        response = JsonResponse({"error": body}, status=code)
        for name, value in self.headers.items():
            response[name] = value
        return response


def invalid(path: str, expected: str, value: Any) -> PerspectiveError:
    return PerspectiveError(f"Invalid value at '{path}' ({expected}), {json.dumps(value)[:80]}")


# --- Request parsing ----------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_COLON_NEXT = re.compile(r"\s*:")
_CLOSES_NEXT = re.compile(r"\s*[}\]]")


def _lenient_json(text: str) -> str:
    """``{comment: {text: "x"},}`` → ``{"comment": {"text": "x"}}``: quote bare keys and drop trailing commas.
    Google's JSON reader accepts both, and Perspective's own docs send them (the cURL sample in
    1-get-started/sample.md, the SuggestCommentScore example in 2-api/methods.md); strings are copied
    untouched."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
            continue
        match = _IDENTIFIER.match(text, i) if ch.isalpha() or ch in "_$" else None
        if match:  # a whole word at once, so the scan stays linear
            word = match.group()
            out.append(f'"{word}"' if _COLON_NEXT.match(text, match.end()) else word)
            i = match.end()
            continue
        if ch == "," and _CLOSES_NEXT.match(text, i + 1):
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def read_request(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object. Any content type is read as JSON, as Google's endpoint does (the
    Python sample in Perspective's docs sends no Content-Type). Raises PerspectiveError."""
    limit = settings.MODERATION_MAX_BODY_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > limit or len(request.body) > limit:
        raise PerspectiveError("Comment text too long.", error_type="COMMENT_TOO_LONG")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PerspectiveError(f"Invalid JSON payload received. Invalid UTF-8 at byte {exc.start}.") from None
    if not text.strip():
        raise PerspectiveError("Invalid JSON payload received. The body is empty; send a JSON object.")
    try:
        try:
            data = json.loads(text)
        except ValueError:
            data = json.loads(_lenient_json(text))
    except RecursionError:
        raise PerspectiveError(
            f"Invalid JSON payload received. Nested deeper than {MAX_JSON_DEPTH} levels."
        ) from None
    except ValueError as exc:
        raise PerspectiveError(f"Invalid JSON payload received. {exc}.") from None
    if not isinstance(data, dict):
        raise PerspectiveError("Invalid JSON payload received. Expected a JSON object at the top level.")
    if json_depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise PerspectiveError(f"Invalid JSON payload received. Nested deeper than {MAX_JSON_DEPTH} levels.")
    return data


def object_at(data: Mapping[str, Any], name: str, path: str) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(path, "TYPE_MESSAGE", value)
    return value


def string_at(data: Mapping[str, Any], name: str, path: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(path, "TYPE_STRING", value)
    return value


def bool_at(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(name, "TYPE_BOOL", value)
    return value


def number_at(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(path, "TYPE_FLOAT", value)
    return float(value)


def is_blank(text: str) -> bool:
    return all(ch.isspace() or unicodedata.category(ch) in {"Cf", "Cc", "Zs", "Zl", "Zp"} for ch in text)


def comment_text(data: Mapping[str, Any]) -> str:
    """``comment.text``, checked as Perspective checks it (limits.md): present, non-empty, at most 20 KB."""
    comment = object_at(data, "comment", "comment")
    text = string_at(comment, "text", "comment.text")
    text_type = string_at(comment, "type", "comment.type")
    if text_type not in (None, "", "PLAIN_TEXT"):
        if text_type == "HTML":
            raise PerspectiveError("Currently, only 'PLAIN_TEXT' comments are supported")
        raise PerspectiveError("Unknown text type")
    if text is None or is_blank(text):
        raise PerspectiveError("Comment must be non-empty.", error_type="COMMENT_EMPTY")
    if "\x00" in text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise invalid("comment.text", "TYPE_STRING", "(contains NUL or a lone surrogate)")
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise PerspectiveError("Comment text too long.", error_type="COMMENT_TOO_LONG")
    return text


def check_context(data: Mapping[str, Any]) -> None:
    """``context``: accepted and, as Perspective says ("our current models are not making use of it"),
    ignored."""
    context = object_at(data, "context", "context")
    if "entries" in context and "articleAndParentComment" in context:
        raise PerspectiveError(
            "Context can have either entries or article_and_parent_comment, but both fields were populated."
        )
    entries = context.get("entries", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise invalid("context.entries", "TYPE_MESSAGE", entries)


def languages_at(data: Mapping[str, Any]) -> list[str] | None:
    value = data.get("languages")
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("languages", "TYPE_STRING", value)
    return value


def primary_subtag(language: str) -> str:
    """``en-US`` / ``en_GB`` / ``EN`` → ``en``."""
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()


@dataclass(frozen=True)
class RequestedAttribute:
    name: str
    label: str
    score_type: str
    threshold: float | None


def requested_attributes(data: Mapping[str, Any]) -> list[RequestedAttribute]:
    """``requestedAttributes``: a map attribute name → ``{"scoreType", "scoreThreshold"}``, in request order.
    Raises PerspectiveError for a missing map, an attribute we do not model, or a score type or threshold out
    of range."""
    value = data.get("requestedAttributes")
    if value is None or value == {}:
        raise PerspectiveError("Missing requested_attributes", error_type="NO_REQUESTED_ATTRIBUTES")
    if not isinstance(value, dict):
        raise invalid("requestedAttributes", "TYPE_MESSAGE", value)
    attributes = []
    for name, config in value.items():
        label = ATTRIBUTE_LABELS.get(name)
        if label is None:
            raise PerspectiveError(f"Unknown requested attribute: {name}")
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise invalid(f"requestedAttributes[{name}]", "TYPE_MESSAGE", config)
        score_type = config.get("scoreType") or SCORE_TYPE
        if score_type != SCORE_TYPE:
            raise PerspectiveError(f"Requested score type {score_type} is not supported by attribute {name}")
        threshold = config.get("scoreThreshold")
        if threshold is not None:
            threshold = number_at(threshold, f"requestedAttributes[{name}].scoreThreshold")
            if not 0.0 <= threshold <= 1.0:
                raise PerspectiveError(
                    f"Invalid value at 'requestedAttributes[{name}].scoreThreshold': {threshold} "
                    "is outside [0, 1]"
                )
        attributes.append(RequestedAttribute(name, label, score_type, threshold))
    return attributes


# --- Language detection -------------------------------------------------------------------------------------
# The pipeline's own language gate (training.language: py3langid plus romanised-Urdu markers), so this
# endpoint refuses exactly what the pipeline would not judge. Too short to tell, or no language at all: taken
# as English (Perspective would say "Unable to detect language"; a short "lol ok" is more useful scored than
# refused).


def detect_language(text: str) -> str:
    """A primary language subtag for ``text``: ``en`` unless the language gate refuses it."""
    check = language_gate(text)
    return "en" if check.supported else check.code.split("-")[0]


def check_language(
    text: str, languages: list[str] | None, attributes: list[RequestedAttribute]
) -> tuple[list[str], list[str] | None]:
    """(languages for the response, detectedLanguages or None). Raises PerspectiveError
    LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE, naming the first requested attribute, as Perspective does."""
    first = attributes[0].name
    if languages is not None:
        if any(primary_subtag(lang) not in SUPPORTED_LANGUAGES for lang in languages):
            raise PerspectiveError(
                f"Attribute {first} does not support request languages: {', '.join(languages)}",
                error_type="LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
                languageNotSupportedByAttributeError={"requestedLanguages": languages, "attribute": first},
            )
        return languages, None
    detected = detect_language(text)
    if detected not in SUPPORTED_LANGUAGES:
        raise PerspectiveError(
            f"Attribute {first} does not support request languages: {detected}",
            error_type="LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
            languageNotSupportedByAttributeError={"detectedLanguages": [detected], "attribute": first},
        )
    return [detected], [detected]


# --- Suggested scores ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    attribute: str
    label: str
    score: float | None
    span_scores: list[dict[str, Any]] = field(default_factory=list)


def score_value(value: Any, path: str) -> float:
    score = object_at({"s": value}, "s", path)
    number = number_at(score.get("value", 0), f"{path}.value")  # proto3 JSON omits a 0 value
    if not 0.0 <= number <= 1.0:
        raise PerspectiveError(f"Invalid value at '{path}.value': {number} is outside [0, 1]")
    score_type = score.get("type") or SCORE_TYPE
    if score_type != SCORE_TYPE:
        raise PerspectiveError(f"Invalid value at '{path}.type': only {SCORE_TYPE} is supported")
    return number


def suggestions(data: Mapping[str, Any], text: str) -> list[Suggestion]:
    """``attributeScores`` of a SuggestCommentScore: one Suggestion per attribute, summary and/or spans."""
    scores = data.get("attributeScores")
    if not scores:
        raise PerspectiveError("Missing attribute_scores", error_type="NO_REQUESTED_ATTRIBUTES")
    if not isinstance(scores, dict):
        raise invalid("attributeScores", "TYPE_MESSAGE", scores)
    found = []
    for name, entry in scores.items():
        label = ATTRIBUTE_LABELS.get(name)
        if label is None:
            raise PerspectiveError(f"Unknown requested attribute: {name}")
        entry = object_at(scores, name, f"attributeScores[{name}]")
        summary = None
        if "summaryScore" in entry:
            summary = score_value(entry["summaryScore"], f"attributeScores[{name}].summaryScore")
        spans = entry.get("spanScores") or []
        if not isinstance(spans, list):
            raise invalid(f"attributeScores[{name}].spanScores", "TYPE_MESSAGE", spans)
        clean_spans = []
        for i, span in enumerate(spans):
            path = f"attributeScores[{name}].spanScores[{i}]"
            if not isinstance(span, dict):
                raise invalid(path, "TYPE_MESSAGE", span)
            begin, end = span.get("begin", 0), span.get("end", len(text))
            if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(text)):
                raise PerspectiveError(
                    f"Invalid value at '{path}': begin/end must satisfy 0 <= begin <= end <= {len(text)}"
                )
            clean_spans.append(
                {"begin": begin, "end": end, "score": score_value(span.get("score"), path + ".score")}
            )
        if summary is None and not clean_spans:
            raise PerspectiveError(
                f"Invalid value at 'attributeScores[{name}]': send a summaryScore or spanScores"
            )
        found.append(Suggestion(name, label, summary, clean_spans))
    return found
