"""A drop-in for Google's Perspective API (``commentanalyzer.googleapis.com/v1alpha1``), scored by our model.

- ``POST /v1alpha1/comments:analyze?key=KEY`` — AnalyzeComment: ``{"comment": {"text"}, "requestedAttributes":
  {"TOXICITY": {}}, ...}`` → ``{"attributeScores": {"TOXICITY": {"summaryScore": {"value", "type":
  "PROBABILITY"}}}, "languages": ["en"], ...}``. Scored synchronously in this process
  (``moderation.scoring.current_model()``); nothing is stored, whatever ``doNotStore`` says.
- ``POST /v1alpha1/comments:suggestscore?key=KEY`` — SuggestCommentScore: the scores a site believes a comment
  should have. Stored as labels for retraining (``SuggestedScore``) only when
  ``MODERATION_STORE_SUGGESTED_SCORES`` is on and the request does not say ``doNotStore``; answered the same
  way either way.

Field names, types, error messages and error types follow Perspective's public documentation
(github.com/conversationai/perspectiveapi, ``2-api/methods.md``, ``2-api/models.md``, ``2-api/limits.md``);
errors use Google's JSON shape ``{"error": {"code", "message", "status", "details": [{"@type",
"errorType"}]}}``. The key is our site API key, sent as the ``key`` query parameter (or the ``X-Goog-Api-Key``
header). docs/perspective.md is the migration guide.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from moderation.api.auth import INVALID, MISSING, OVER_LIMIT, check_key
from moderation.api.perspective.answers import analyze_comment, sentence_spans, suggest_comment_score
from moderation.api.perspective.requests import (
    ATTRIBUTE_LABELS,
    PerspectiveError,
    detect_language,
    read_request,
)
from moderation.models import Site

__all__ = ["ATTRIBUTE_LABELS", "analyze", "detect_language", "sentence_spans", "suggest_score"]

# --- Views --------------------------------------------------------------------------------------------------


def authenticate(request: HttpRequest) -> Site:
    """The site whose API key is the ``key`` query parameter (or ``X-Goog-Api-Key`` header), checked by
    ``api.auth.check_key``. Raises PerspectiveError PERMISSION_DENIED for a missing or unknown key,
    RESOURCE_EXHAUSTED (429 with ``Retry-After``) when the key is over its per-minute quota."""
    checked = check_key(request.GET.get("key") or request.headers.get("X-Goog-Api-Key"))
    if checked.refusal == MISSING:
        raise PerspectiveError(
            "The request is missing a valid API key.", status="PERMISSION_DENIED", error_type=None
        )
    if checked.refusal == INVALID:
        raise PerspectiveError(
            "API key not valid. Please pass a valid API key.", status="PERMISSION_DENIED", error_type=None
        )
    if checked.refusal == OVER_LIMIT:
        # Google's quota answer: 429 RESOURCE_EXHAUSTED; the message names the metric and the limit.
        exc = PerspectiveError(
            f"Quota exceeded for quota metric 'Analysis requests' and limit 'Analysis requests per minute' "
            f"({checked.limit}) of service 'commentanalyzer.googleapis.com'. "
            f"Retry in {checked.retry_after} s.",
            status="RESOURCE_EXHAUSTED",
            error_type=None,
        )
        exc.headers["Retry-After"] = str(checked.retry_after)
        raise exc
    return checked.site


def _method_not_allowed() -> JsonResponse:
    response = JsonResponse(
        {"error": {"code": 405, "message": "Use POST for this method.", "status": "INVALID_ARGUMENT"}},
        status=405,
    )
    response["Allow"] = "POST"
    return response


@csrf_exempt
def analyze(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _method_not_allowed()
    try:
        site = authenticate(request)
        return JsonResponse(analyze_comment(read_request(request), site))
    except PerspectiveError as exc:
        return exc.response()


@csrf_exempt
def suggest_score(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _method_not_allowed()
    try:
        site = authenticate(request)
        return JsonResponse(suggest_comment_score(site, read_request(request)))
    except PerspectiveError as exc:
        return exc.response()
