"""The site's community through the v1 API (issue 21), authenticated and answered like the rest of v1:

- ``GET /api/v1/commenters/<author_id>`` — the commenter's state on the key's site (``normal`` when never
  set).
- ``PUT /api/v1/commenters/<author_id>`` — ``{"state", "until", "reason"}``: set it (``until`` only, and
  always, for ``suspended``). 200 with the new state; 400 naming the bad field.
- ``POST /api/v1/comments/<id>/reports`` — ``{"reporter_id", "reason"}``: a reader reports a comment. 201
  for a new report, 200 for the reader's earlier one; 429 with ``Retry-After`` when the reader is over the
  report limit; 404 for another site's comment.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from moderation.api.json_io import error, read_json_body
from moderation.api.v1 import authenticate
from moderation.models import Comment, Commenter
from moderation.services import ReportRateLimited, set_commenter_state
from moderation.services.community import commenter_snapshot, report_site_comment
from moderation.validation import SubmissionError, validate_author_id, validate_report


def _commenter_state(author_id: str, commenter: Commenter | None) -> dict[str, Any]:
    return {
        "author_id": author_id,
        **commenter_snapshot(commenter),
        "updated_at": commenter.updated_at.isoformat() if commenter else None,
        "updated_by": commenter.updated_by if commenter else None,
    }


@csrf_exempt
def commenter(request: HttpRequest, author_id: str) -> JsonResponse:
    if request.method not in ("GET", "PUT"):
        return error(405, "method", "use GET to read a commenter's state, PUT to set it", Allow="GET, PUT")
    site = authenticate(request)
    if isinstance(site, JsonResponse):
        return site
    try:
        validate_author_id(author_id)
    except SubmissionError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    if request.method == "GET":
        return JsonResponse(
            _commenter_state(author_id, Commenter.objects.filter(site=site, author_id=author_id).first())
        )
    try:
        changed = set_commenter_state(
            site, author_id, read_json_body(request), actor_label="site:" + site.slug
        )
    except SubmissionError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    return JsonResponse(_commenter_state(author_id, changed))


@csrf_exempt
def reports(request: HttpRequest, comment_id: int) -> JsonResponse:
    if request.method != "POST":
        return error(405, "method", "use POST to report a comment", Allow="POST")
    site = authenticate(request)
    if isinstance(site, JsonResponse):
        return site
    try:
        clean = validate_report(read_json_body(request))
    except SubmissionError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    try:
        result = report_site_comment(site, clean["reporter_id"], clean["reason"], comment_id=comment_id)
    except Comment.DoesNotExist:
        return error(404, "id", f"no comment {comment_id} for this site")
    except ReportRateLimited as exc:
        return error(429, "reporter_id", str(exc), Retry_After=str(exc.retry_after))
    status = Comment.objects.filter(pk=comment_id).values_list("status", flat=True).get()
    return JsonResponse(
        {
            "comment_id": comment_id,
            "reporter_id": result.report.reporter_id,
            "duplicate": not result.created,
            "open_reports": result.open_reports,
            "status": status,
            "sent_to_review": result.sent_to_review,
        },
        status=201 if result.created else 200,
    )
