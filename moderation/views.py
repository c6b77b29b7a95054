"""The moderators' dashboard: queues of comments and the approve/reject actions. Login required everywhere;
every state change is a POST with CSRF and goes through ``services.apply_moderator_action``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from .models import Comment, CommentStatus
from .services import REJECT_REASON_CODES, ActionConflict, apply_moderator_action

QUEUES = [
    (CommentStatus.NEEDS_REVIEW, "Needs review"),
    (CommentStatus.REJECTED, "Rejected"),
    (CommentStatus.APPROVED, "Approved"),
    (CommentStatus.FAILED, "Failed"),
    (CommentStatus.QUEUED, "Queued"),
]
PAGE_SIZE = 50


@require_GET
@login_required
def queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", CommentStatus.NEEDS_REVIEW)
    if status not in CommentStatus.values:
        return HttpResponseBadRequest("status must be one of " + ", ".join(CommentStatus.values))
    counts = dict(Comment.objects.values_list("status").annotate(n=Count("id")).order_by())
    rows = (
        Comment.objects.filter(status=status)
        .select_related("site")
        .order_by("-submitted_at", "-id")
        .only(
            "id", "text", "author_id", "author_name", "story_id", "story_title", "status", "scores", "reasons",
            "model_version", "submitted_at", "decided_at", "decided_by", "last_error", "site__slug",
        )
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for comment in page:
        comment.score_rows = sorted(
            ((label, score, round(score * 100)) for label, score in (comment.scores or {}).items()),
            key=lambda row: -row[1],
        )
    return render(
        request,
        "moderation/queue.html",
        {
            "status": status,
            "queues": [(value, label, counts.get(value, 0)) for value, label in QUEUES],
            "page": page,
            "reason_codes": REJECT_REASON_CODES,
        },
    )


@require_POST
@login_required
def act(request: HttpRequest, comment_id: int) -> HttpResponse:
    action = request.POST.get("action", "")
    expected = request.POST.get("expected_status", "")
    reason_code = request.POST.get("reason_code", "") if action == "reject" else ""
    note = request.POST.get("note", "")[:2000]
    try:
        comment = apply_moderator_action(comment_id, request.user, action, expected, reason_code, note)
    except ActionConflict as exc:
        messages.error(request, f"Not changed: {exc}.")
    except Comment.DoesNotExist:
        messages.error(request, f"Comment {comment_id} does not exist.")
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    else:
        messages.success(request, f"Comment {comment.pk} {comment.get_status_display().lower()}.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = reverse("dashboard:queue")
    return redirect(next_url)
