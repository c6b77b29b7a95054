"""The site-facing HTTP API (JSON, API-key authenticated, no cookies so no CSRF).

- ``POST /api/v1/comments`` — submit one comment → 202 ``{"id", "status": "queued"}`` (200 with the stored
  state when the same ``site_comment_id`` was submitted before with the same text; 202 with ``"edited": true``
  when the text is new: an edit, moderated again). 409 when the story is closed to new comments.
- ``POST /api/v1/comments:batch`` — ``{"comments": [...]}`` up to MODERATION_MAX_BATCH → 202 with one ``{"id",
  "status", "duplicate", "edited"}`` per item, in order; if any item is invalid, 400 listing every bad item
  and nothing stored (409 the same way for new comments on a closed story).
- ``GET /api/v1/comments/<id>`` — the comment's state and decision.
- ``POST /api/v1/check`` — ``{"text"}`` → scores and the outcome the policy would give, without storing
  anything.
- ``GET`` / ``PUT /api/v1/stories/<story_id>`` — a story's controls (issue 21): ``mode`` (open, premoderated,
  closed), ``policy_overrides`` (thresholds over the site's), ``title``.

Errors are JSON ``{"error": {"field", "message"}}`` with 400 (bad field), 401 (missing/wrong key), 404, 405,
409 (the story is closed), 413 (body or text over the limit), 503 with ``Retry-After`` when the database
cannot store the comment.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from moderation.api.auth import INVALID, MISSING, OVER_LIMIT, check_key
from moderation.api.json_io import error, read_json_body
from moderation.models import Comment, Site
from moderation.queue import dispatch, enqueue_decide
from moderation.scoring import ModelUnavailable, verdicts
from moderation.selectors.commenters import link_signals
from moderation.selectors.context import ContextItem
from moderation.selectors.desk import closed_story_ids, story_for, word_list_signals
from moderation.services import accept_comment, accept_comments
from moderation.services.desk import set_story_controls
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
        # The site adapter that re-scored its toxicity (issue 20), null for the shared model's scores.
        "adapter_version": comment.adapter_version or None,
        "decided_by": comment.decided_by or None,
        "submitted_at": comment.submitted_at.isoformat() if comment.submitted_at else None,
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
        "revision": comment.revision,
        "edited_at": comment.edited_at.isoformat() if comment.edited_at else None,
    }


def _closed_to_new(site: Site, cleans: list[dict]) -> list[int]:
    """The indexes of ``cleans`` that would be new comments on a story closed to comments (issue 21). Ids
    already stored are not new: a repeat or an edit of a comment posted before the story closed."""
    closed = closed_story_ids(site, {clean["story_id"] for clean in cleans})
    if not closed:
        return []
    on_closed = [i for i, clean in enumerate(cleans) if clean["story_id"] in closed]
    stored = set(
        Comment.objects.filter(
            site=site, site_comment_id__in=[cleans[i]["site_comment_id"] for i in on_closed]
        ).values_list("site_comment_id", flat=True)
    )
    return [i for i in on_closed if cleans[i]["site_comment_id"] not in stored]


def story_closed(story_id: str, field: str = "story_id") -> JsonResponse:
    return error(409, field, f"story {story_id!r} is closed to new comments")


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
        if _closed_to_new(site, [clean]):
            return story_closed(clean["story_id"])
        comment, created = accept_comment(site, clean, source="api")
    except DatabaseError:
        return database_unavailable()
    edited = getattr(comment, "revised", False)
    if created or edited:
        # After commit, so a worker never looks for a comment that is not there yet.
        transaction.on_commit(lambda: enqueue_decide([comment.pk]))
        body = {"id": comment.pk, "status": comment.status}
        if edited:
            body.update(edited=True, revision=comment.revision)
        return JsonResponse(body, status=202)
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
        closed = _closed_to_new(site, cleans)
        if closed:
            items = [
                {
                    "index": i,
                    "field": f"comments[{i}].story_id",
                    "message": f"story {cleans[i]['story_id']!r} is closed to new comments",
                }
                for i in closed
            ]
            return JsonResponse(
                {"error": {"field": items[0]["field"], "message": items[0]["message"], "items": items}},
                status=409,
            )
        stored = accept_comments(site, cleans, source="api")
    except DatabaseError:
        return database_unavailable()
    # New comments and edits (a new text under a stored id) are decided.
    new_ids = [comment.pk for comment, created in stored if created or getattr(comment, "revised", False)]
    if new_ids:
        transaction.on_commit(lambda: dispatch(new_ids))
    return JsonResponse(
        {
            "comments": [
                {
                    "id": c.pk,
                    "site_comment_id": c.site_comment_id,
                    "status": c.status,
                    "duplicate": not created and not getattr(c, "revised", False),
                    "edited": getattr(c, "revised", False),
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
        # The site's policy (issue 5), the language gate, its word lists and its link settings (issue 21): a
        # writer can be warned of a blocked word or a denied link before posting. (Story controls and
        # commenter states need the comment.)
        words = word_list_signals([ContextItem(site.pk, "", "", text)])
        (verdict,) = verdicts(site, [text], signals=[words[0] + link_signals(site, text)])
    except ModelUnavailable as exc:
        return error(503, "model", str(exc), Retry_After="30")
    return JsonResponse(
        {
            "scores": verdict.scores,
            "outcome": verdict.outcome,
            "reasons": verdict.reasons,
            "reason_codes": verdict.codes,
            "model_version": verdict.model_version,
            "adapter_version": verdict.adapter_version or None,
            "language": verdict.language,
        }
    )


# --- Issue 21: story controls -----------------------------------------------------------------------------

STORY_FIELDS = ("mode", "policy_overrides", "title")


def story_state(story_id: str, story) -> dict[str, Any]:
    if story is None:
        return {"story_id": story_id, "mode": "open", "policy_overrides": {}, "title": "", "closed_at": None}
    return {
        "story_id": story.story_id,
        "mode": story.mode,
        "policy_overrides": story.policy_overrides,
        "title": story.title,
        "closed_at": story.closed_at.isoformat() if story.closed_at else None,
        "updated_at": story.updated_at.isoformat() if story.updated_at else None,
    }


@csrf_exempt
def story(request: HttpRequest, story_id: str) -> JsonResponse:
    """GET: a story's controls (a story never set is open, with the site's thresholds). PUT ``{"mode",
    "policy_overrides", "title"}`` (any of them): set them; ``policy_overrides`` replaces the story's."""
    if request.method not in ("GET", "PUT"):
        return error(405, "method", "use GET to read a story's controls, PUT to set them", Allow="GET, PUT")
    site = authenticate(request)
    if isinstance(site, JsonResponse):
        return site
    if len(story_id) > STRING_LIMITS["story_id"]:
        return error(
            400, "story_id", f"is {len(story_id)} characters; the limit is {STRING_LIMITS['story_id']}"
        )
    if request.method == "GET":
        return JsonResponse(story_state(story_id, story_for(site, story_id)))
    try:
        data = read_json_body(request)
    except SubmissionError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    if not isinstance(data, dict) or not data:
        return error(400, "body", f"send a JSON object with any of {', '.join(STORY_FIELDS)}")
    unknown = sorted(set(data) - set(STORY_FIELDS))
    if unknown:
        return error(400, unknown[0], f"is not a known field (allowed: {', '.join(STORY_FIELDS)})")
    for field in ("mode", "title"):
        if field in data and not isinstance(data[field], str):
            return error(400, field, "must be a string")
    try:
        saved = set_story_controls(
            site,
            story_id,
            actor_label="site:" + site.slug,
            mode=data.get("mode"),
            policy_overrides=data.get("policy_overrides"),
            title=data.get("title"),
        )
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        return error(400, field, messages[0])
    except DatabaseError:
        return error(503, "database", "the story could not be saved; send it again", Retry_After="5")
    return JsonResponse(story_state(story_id, saved))
