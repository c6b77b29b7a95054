"""The site-facing HTTP API (JSON, API-key authenticated, no cookies so no CSRF).

- ``POST /api/v1/comments`` — submit one comment → 202 ``{"id", "status": "queued"}`` (200 with the stored
  state when the same ``site_comment_id`` was submitted before).
- ``POST /api/v1/comments:batch`` — ``{"comments": [...]}`` up to MODERATION_MAX_BATCH → 202 with one ``{"id",
  "status"}`` per item, in order; if any item is invalid, 400 listing every bad item and nothing stored.
- ``GET /api/v1/comments/<id>`` — the comment's state and decision.
- ``POST /api/v1/check`` — ``{"text"}`` → scores and the outcome the policy would give, without storing
  anything.

Errors are JSON ``{"error": {"field", "message"}}`` with 400 (bad field), 401 (missing/wrong key), 404, 405,
413 (body or text over the limit), 503 with ``Retry-After`` when the database cannot store the comment.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from moderation.api.auth import INVALID, MISSING, OVER_LIMIT, check_key
from moderation.api.json_io import error, read_json_body
from moderation.models import Comment, Site
from moderation.queue import dispatch, enqueue_decide
from moderation.scoring import ModelUnavailable, verdicts
from moderation.services import accept_comment, accept_comments
from moderation.validation import STRING_LIMITS, SubmissionError, validate_submission


def authenticate(request: HttpRequest) -> Site | JsonResponse:
    """The site whose API key is in ``Authorization: Bearer <key>``, or a 401 / 429 response."""
    scheme, _, raw_key = request.headers.get("Authorization", "").partition(" ")
    checked = check_key(raw_key if scheme.lower() == "bearer" else "")
    if checked.refusal == MISSING:
        return error(
            401,
            "Authorization",
            "send the site's API key as 'Authorization: Bearer <key>'",
            WWW_Authenticate="Bearer",
        )
    if checked.refusal == INVALID:
        return error(401, "Authorization", "the API key is not valid", WWW_Authenticate="Bearer")
    if checked.refusal == OVER_LIMIT:
        return error(
            429,
            "Authorization",
            f"this API key sent more than {checked.limit} requests this minute; "
            f"send again in {checked.retry_after} s",
            Retry_After=str(checked.retry_after),
        )
    return checked.site


def comment_state(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.pk,
        "site_comment_id": comment.site_comment_id,
        "status": comment.status,
        "scores": comment.scores,
        "reasons": comment.reasons,
        "reason_codes": comment.reason_codes,
        "model_version": comment.model_version,
        "decided_by": comment.decided_by or None,
        "submitted_at": comment.submitted_at.isoformat() if comment.submitted_at else None,
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
    }


@csrf_exempt
def comments(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return comment_by_site_id(request)
    if request.method != "POST":
        return error(
            405,
            "method",
            "use POST to submit a comment, GET ?site_comment_id= to look one up",
            Allow="GET, POST",
        )
    site = authenticate(request)
    if isinstance(site, JsonResponse):
        return site
    try:
        clean = validate_submission(read_json_body(request))
    except SubmissionError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    try:
        comment, created = accept_comment(site, clean, source="api")
    except DatabaseError:
        return database_unavailable()
    if created:
        # After commit, so a worker never looks for a comment that is not there yet.
        transaction.on_commit(lambda: enqueue_decide([comment.pk]))
        return JsonResponse({"id": comment.pk, "status": comment.status}, status=202)
    return JsonResponse({**comment_state(comment), "duplicate": True}, status=200)


@csrf_exempt
def comment_detail(request: HttpRequest, comment_id: int) -> JsonResponse:
    if request.method != "GET":
        return error(405, "method", "use GET to read a comment's state", Allow="GET")
    site = authenticate(request)
    if isinstance(site, JsonResponse):
        return site
    comment = Comment.objects.filter(pk=comment_id, site=site).first()
    if comment is None:
        return error(404, "id", f"no comment {comment_id} for this site")
    return JsonResponse(comment_state(comment))


def comment_by_site_id(request: HttpRequest) -> JsonResponse:
    """``GET /api/v1/comments?site_comment_id=X``: the state of the site's comment by its own id (what a
    site that submitted through Celery knows it by), 404 until the worker has stored it."""
    site = authenticate(request)
    if isinstance(site, JsonResponse):
        return site
    site_comment_id = request.GET.get("site_comment_id", "")
    limit = STRING_LIMITS["site_comment_id"]
    if not site_comment_id.strip():
        return error(400, "site_comment_id", "send the site's comment id as ?site_comment_id=")
    if len(site_comment_id) > limit:
        return error(400, "site_comment_id", f"is {len(site_comment_id)} characters; the limit is {limit}")
    comment = Comment.objects.filter(site=site, site_comment_id=site_comment_id).first()
    if comment is None:
        return error(404, "site_comment_id", f"no comment {site_comment_id!r} for this site (yet)")
    return JsonResponse(comment_state(comment))


@csrf_exempt
def not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """Any other path under /api/: a JSON 404 like every other API answer, not Django's HTML page (issue
    6)."""
    return error(404, "path", f"no endpoint {request.path}; the API is described at /api/v1/openapi.json")


def database_unavailable() -> JsonResponse:
    return error(
        503,
        "database",
        "the comment could not be stored; nothing was accepted, send it again",
        Retry_After="5",
    )


@csrf_exempt
def comments_batch(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return error(405, "method", "use POST to submit comments", Allow="POST")
    site = authenticate(request)
    if isinstance(site, JsonResponse):
        return site
    try:
        data = read_json_body(request, limit=settings.MODERATION_MAX_BATCH_BODY_BYTES)
    except SubmissionError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    items = data.get("comments") if isinstance(data, dict) else None
    if not isinstance(items, list) or set(data) != {"comments"}:
        return error(400, "comments", 'send {"comments": [...]} and no other field')
    if not items:
        return error(400, "comments", "must hold at least one comment")
    if len(items) > settings.MODERATION_MAX_BATCH:
        return error(
            413, "comments", f"holds {len(items)} comments; the limit is {settings.MODERATION_MAX_BATCH}"
        )
    cleans, errors = [], []
    for index, item in enumerate(items):
        try:
            cleans.append(validate_submission(item))
        except SubmissionError as exc:
            errors.append(
                {
                    "index": index,
                    "field": f"comments[{index}].{exc.field}",
                    "message": exc.message,
                    "status": exc.status,
                }
            )
    if errors:
        # Issue 6: an item whose text is over the limit makes the batch a 413, as it is for one comment.
        status = 413 if 413 in [e.pop("status") for e in errors] else 400
        return JsonResponse(
            {"error": {"field": errors[0]["field"], "message": errors[0]["message"], "items": errors}},
            status=status,
        )
    try:
        stored = accept_comments(site, cleans, source="api")
    except DatabaseError:
        return database_unavailable()
    new_ids = [comment.pk for comment, created in stored if created]
    if new_ids:
        transaction.on_commit(lambda: dispatch(new_ids))
    return JsonResponse(
        {
            "comments": [
                {
                    "id": c.pk,
                    "site_comment_id": c.site_comment_id,
                    "status": c.status,
                    "duplicate": not created,
                }
                for c, created in stored
            ]
        },
        status=202,
    )


@csrf_exempt
def check(request: HttpRequest) -> JsonResponse:
    """Score one text for the site's comment form (to warn the writer before posting); nothing is stored."""
    if request.method != "POST":
        return error(405, "method", "use POST to check a text", Allow="POST")
    site = authenticate(request)
    if isinstance(site, JsonResponse):
        return site
    try:
        data = read_json_body(request)
        if not isinstance(data, dict) or set(data) - {"text"}:
            raise SubmissionError("body", 'send {"text": "..."} and no other field')
        text = validate_submission(
            {"text": data.get("text"), "site_comment_id": "check", "author_id": "check", "story_id": "check"}
        )["text"]
    except SubmissionError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    try:
        (verdict,) = verdicts(site, [text])  # the site's policy (issue 5), the language gate
    except ModelUnavailable as exc:
        return error(503, "model", str(exc), Retry_After="30")
    return JsonResponse(
        {
            "scores": verdict.scores,
            "outcome": verdict.outcome,
            "reasons": verdict.reasons,
            "reason_codes": verdict.codes,
            "model_version": verdict.model_version,
            "language": verdict.language,
        }
    )
