"""The moderators' dashboard: queues, one comment with its explanation and author history, actions (approve,
reject with a reason, bulk, reject all pending by an author, undo), the audit log and the stats page.

Login required everywhere. Every state change is a POST with CSRF and goes through a function of
``services.py`` that writes the audit entry in the same transaction; views only parse, call and report.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from moderation.dashboard import explanations as explaining
from moderation.models import (
    Comment,
    CommenterState,
    CommentStatus,
    ModelVersion,
    Site,
    StoryMode,
    WordList,
)
from moderation.policy import thresholds_for
from moderation.selectors import dashboard as queries
from moderation.selectors import desk, stats, threads
from moderation.selectors.shadow import shadow_report
from moderation.services import (
    MODERATOR_ACTIONS,
    REJECT_REASON_CODES,
    ModerationResult,
    moderate_comments,
    reject_pending_by_author,
    set_commenter_state,
    undo_moderator_actions,
)
from moderation.services.desk import add_word_list_entry, remove_word_list_entry, set_story_controls
from moderation.validation import SubmissionError

PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 100
MAX_BULK = 500
# Explaining a comment costs a few ms the first time (then it is cached per process): a queue page spends at
# most this much on explanations, and the rest of the page shows them after the next load or on the item's own
# page.
EXPLAIN_BUDGET_SECONDS = 0.06
UNDO_SESSION_KEY = "moderation_undo"
UNDO_DEPTH = 20
REASON_LABELS = {
    "toxic": "Toxic",
    "spam": "Spam",
    "off_topic": "Off-topic",
    "other": "Other (note)",
    "threat": "Threat",
    "hate": "Hate",
    "harassment": "Harassment",
}
REASON_OPTIONS_HTML = format_html_join(
    "",
    '<option value="{}">{}</option>',
    ((code, REASON_LABELS.get(code, code)) for code in REJECT_REASON_CODES),
)


# --- helpers ------------------------------------------------------------------------------------------------


def _score_rows(comment: Comment, thresholds: dict) -> list[dict]:
    rows = []
    for label, score in sorted((comment.scores or {}).items(), key=lambda kv: -kv[1]):
        cut = thresholds.get(label, {})
        rows.append(
            {
                "label": label,
                "score": score,
                "pct": round(score * 100, 1),
                "review": round(cut["review"] * 100, 1) if cut else None,
                "reject": round(cut["reject"] * 100, 1) if cut else None,
                "level": "reject"
                if cut and score >= cut["reject"]
                else "review"
                if cut and score >= cut["review"]
                else "low",
                # preformatted here: template filters on every bar of every item cost more than the query
                "score_s": f"{score:.2f}",
                "pct_s": f"{score * 100:.1f}",
                "review_s": f"{cut['review'] * 100:.1f}" if cut else "",
                "reject_s": f"{cut['reject'] * 100:.1f}" if cut else "",
            }
        )
    return rows


def _explanations(comment: Comment, limit: int, cached_only: bool = False) -> list:
    out = []
    for label in explaining.labels_to_explain(comment.scores or {}, limit=limit):
        explanation = explaining.explain(comment.text, label, cached_only=cached_only)
        if explanation and explanation.terms:
            out.append(explanation)
    return out


def _push_undo(request: HttpRequest, result: ModerationResult, what: str) -> None:
    if not result.audit_ids:
        return
    stack = request.session.get(UNDO_SESSION_KEY, [])
    stack.append({"ids": result.audit_ids, "what": what})
    request.session[UNDO_SESSION_KEY] = stack[-UNDO_DEPTH:]


def _report(request: HttpRequest, result: ModerationResult, done: str) -> None:
    if result.changed:
        n = len(result.changed)
        subject = f"Comment {result.changed[0].pk}" if n == 1 else f"{n} comments"
        messages.success(request, f"{subject} {done}. Press u to undo.")
    for conflict in result.conflicts[:10]:
        messages.error(request, f"Not changed: {conflict}.")
    if len(result.conflicts) > 10:
        messages.error(request, f"… and {len(result.conflicts) - 10} more not changed.")


def _back(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = reverse("dashboard:queue")
    return redirect(next_url)


def _done_word(action: str) -> str:
    return MODERATOR_ACTIONS[action].label.lower()


def _thresholds() -> dict:
    model = explaining.get_model()
    return model.thresholds if model else {}


# --- pages --------------------------------------------------------------------------------------------------


@require_GET
@login_required
def queue(request: HttpRequest) -> HttpResponse:
    try:
        filters = queries.QueueFilters.from_query(request.GET)
    except queries.FilterError as exc:
        return HttpResponseBadRequest(str(exc))
    thresholds = _thresholds()
    page = Paginator(queries.queue_queryset(filters, thresholds, user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    items = list(page.object_list)
    history = queries.author_history(items)
    verdicts = queries.moderator_verdicts(items)
    parents = threads.parents_for(items)  # thread context (issue 21): one query for the page
    commenters = queries.commenter_states(items)
    reports = queries.open_reports(items)
    deadline = time.monotonic() + EXPLAIN_BUDGET_SECONDS
    act_base = reverse("dashboard:comment", args=[0])[: -len("0/")]
    for comment in items:
        comment.score_rows = _score_rows(comment, thresholds)
        comment.history = history.get((comment.site_id, comment.author_id), {})
        comment.moderator_verdict = verdicts.get(comment.pk)
        comment.commenter = commenters.get((comment.site_id, comment.author_id))
        comment.open_reports = reports.get(comment.pk)
        comment.why = _explanations(comment, limit=1, cached_only=time.monotonic() >= deadline)
        comment.detail_url = f"{act_base}{comment.pk}/"
        comment.act_url = f"{act_base}{comment.pk}/action"
        comment.parent = parents.get(comment.pk)
        comment.story_url = _story_url(comment.site_id, comment.story_id)
    counts = queries.queue_counts(request.user)
    return render(
        request,
        "moderation/queue.html",
        {
            "filters": filters,
            "status": filters.status,
            "queues": [(value, label, counts.get(value, 0)) for value, label in queries.QUEUES],
            "page": page,
            "items": items,
            "sorts": queries.SORTS,
            "labels": queries.LABELS,
            "decided_by_choices": queries.DECIDED_BY,
            "reason_codes": [(code, REASON_LABELS.get(code, code)) for code in REJECT_REASON_CODES],
            "reason_options": REASON_OPTIONS_HTML,
            "csrf_input": format_html(
                '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request)
            ),
            "next_input": format_html(
                '<input type="hidden" name="next" value="{}">', request.get_full_path()
            ),
            "actionable": filters.status != CommentStatus.QUEUED,
            # The story filter names one story: its controls are a click away (issue 21).
            "story_url": _story_url(items[0].site_id, filters.story)
            if filters.story and items and items[0].story_id == filters.story
            else "",
            "commenter_states": CommenterState.choices,
            "page_qs": filters.querystring(),
            # The counts poll also asks how many comments entered this queue since the page was drawn.
            "counts_qs": "?" + urlencode({**filters.params(), "since": timezone.now().isoformat()}),
            "model_error": explaining.model_error() if not thresholds else "",
            "poll_seconds": getattr(settings, "MODERATION_DASHBOARD_POLL_SECONDS", 10),
        },
    )


@require_GET
@login_required
@never_cache
def counts(request: HttpRequest) -> JsonResponse:
    """Tab counts for the page to refresh without reloading: {"counts": {status: n, "all": n}}. With
    ``since`` (the ISO time the queue page was drawn) and that page's filters, also ``new``: how many
    comments entered that queue since, for the "N new comments — show" prompt."""
    body: dict = {"counts": queries.queue_counts(request.user)}
    raw_since = request.GET.get("since", "")
    if raw_since:
        since = parse_datetime(raw_since)
        if since is None or timezone.is_naive(since):
            return JsonResponse({"error": "since must be an ISO 8601 date-time with a time zone"}, status=400)
        try:
            filters = queries.QueueFilters.from_query(request.GET)
        except queries.FilterError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        body["new"] = queries.new_since(filters, since, request.user)
    return JsonResponse(body)


@require_GET
@login_required
def comment_detail(request: HttpRequest, comment_id: int) -> HttpResponse:
    # Site scoping (issue 5): another site's comment is a 404 for a moderator limited to some sites.
    visible = queries.scope_comments(Comment.objects.select_related("site"), request.user)
    comment = get_object_or_404(visible, pk=comment_id)
    thresholds = _thresholds()
    comment.score_rows = _score_rows(comment, thresholds)
    comment.why = _explanations(comment, limit=3)
    comment.history = queries.author_history([comment]).get((comment.site_id, comment.author_id), {})
    comment.parent = threads.parents_for([comment]).get(comment.pk)
    comment.story_url = _story_url(comment.site_id, comment.story_id)
    comment.commenter = queries.commenter_states([comment]).get((comment.site_id, comment.author_id))
    comment.open_reports = queries.open_reports([comment], reasons_shown=50).get(comment.pk)
    return render(
        request,
        "moderation/comment.html",
        {
            "comment": comment,
            "recent": queries.recent_by_author(comment),
            "decisions": comment.decisions.select_related("moderator").order_by("-created_at", "-id")[:50],
            "audit": comment.audit.order_by("-created_at", "-id")[:50],
            "reason_codes": [(code, REASON_LABELS.get(code, code)) for code in REJECT_REASON_CODES],
            "model_error": explaining.model_error() if not thresholds else "",
            "explaining_model": explaining.get_model(),
            "commenter_states": CommenterState.choices,
        },
    )


@require_GET
@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    try:
        filters = queries.AuditFilters.from_query(request.GET)
    except queries.FilterError as exc:
        return HttpResponseBadRequest(str(exc))
    rows = queries.audit_queryset(filters, user=request.user)
    page = Paginator(rows, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    actors, actions = queries.audit_choices()
    return render(
        request,
        "moderation/audit.html",
        {
            "filters": filters,
            "page": page,
            "actors": actors,
            "actions": actions,
            "page_qs": filters.querystring(),
        },
    )


@require_GET
@login_required
def stats_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    # a moderator limited to some sites sees only their figures
    sites = queries.visible_site_ids(request.user)
    override_chart, override_table = stats.override_rates(now=now, site_ids=sites)
    age_chart, age = stats.queue_age(now=now, site_ids=sites)
    model = explaining.get_model()
    return render(
        request,
        "moderation/stats.html",
        {
            "charts": [
                stats.hourly_outcomes(now=now, site_ids=sites),
                stats.auto_vs_human(now=now, site_ids=sites),
                override_chart,
                age_chart,
                stats.model_versions(now=now, site_ids=sites),
            ],
            "override_table": override_table,
            "age": age,
            "model": model,
            "model_error": explaining.model_error() if model is None else "",
            "counts": queries.queue_counts(request.user),
            "shadow": _shadow_comparison()
            if sites is None
            else None,  # all-site figures: not for limited moderators
        },
    )


def _shadow_comparison() -> dict | None:
    """The shadow model's report (moderation/services/shadow.py) while one scores live traffic beside the
    active model."""
    row = ModelVersion.objects.filter(is_shadow=True).only("version").first()
    return shadow_report(row.version) if row else None


# --- actions ------------------------------------------------------------------------------------------------


def _moderate(
    request: HttpRequest, expected: dict[int, str], action: str, undo_label: str, **options
) -> HttpResponse:
    """Apply ``action`` to the comments in ``expected`` (id -> status the moderator saw) with the form's
    reason code and note, remember it for undo, tell the moderator what happened and go back."""
    try:
        result = moderate_comments(
            expected,
            request.user,
            action,
            request.POST.get("reason_code", ""),
            request.POST.get("note", ""),
            **options,
        )
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    _push_undo(request, result, undo_label)
    _report(request, result, _done_word(action))
    return _back(request)


@require_POST
@login_required
def act(request: HttpRequest, comment_id: int) -> HttpResponse:
    """Approve or reject one comment: action, expected_status (the status the moderator saw), reason_code,
    note."""
    action = request.POST.get("action", "")
    expected = request.POST.get("expected_status", "")
    if not queries.scope_comments(Comment.objects.filter(pk=comment_id), request.user).exists():
        raise Http404("no such comment")  # site scoping (issue 5)
    return _moderate(request, {comment_id: expected}, action, f"{action} {comment_id}")


@require_POST
@login_required
def bulk(request: HttpRequest) -> HttpResponse:
    """Approve or reject the selected comments. Each ``selected`` value is ``<id>:<status seen>``."""
    action = request.POST.get("action", "")
    expected: dict[int, str] = {}
    for value in request.POST.getlist("selected")[:MAX_BULK]:
        pk, _, seen = value.partition(":")
        if pk.isdigit() and seen in CommentStatus.values:
            expected[int(pk)] = seen
    # Site scoping (issue 5): comments of sites this moderator may not see are left out.
    visible = set(
        queries.scope_comments(Comment.objects.filter(pk__in=list(expected)), request.user).values_list(
            "pk", flat=True
        )
    )
    expected = {pk: seen for pk, seen in expected.items() if pk in visible}
    if not expected:
        messages.error(request, "Nothing selected: select comments with x (or the check boxes) first.")
        return _back(request)
    return _moderate(request, expected, action, f"bulk {action}", via="bulk")


def _posted_author(request: HttpRequest) -> tuple[int | None, str]:
    """(site id, author id) from a POST naming one author on one site; (None, "") if either is missing. Raises
    Http404 for a site this moderator may not see (site scoping, issue 5)."""
    site_id = request.POST.get("site_id", "")
    author_id = request.POST.get("author_id", "")
    if not site_id.isdigit() or not author_id:
        return None, ""
    site_ids = queries.visible_site_ids(request.user)
    if site_ids is not None and int(site_id) not in site_ids:
        raise Http404("no such site")
    return int(site_id), author_id


@require_POST
@login_required
def reject_author(request: HttpRequest) -> HttpResponse:
    """Reject every needs-review comment of one author (``site_id``, ``author_id``)."""
    site_id, author_id = _posted_author(request)
    if site_id is None:
        return HttpResponseBadRequest("site_id and author_id are required")
    try:
        result = reject_pending_by_author(
            site_id,
            author_id,
            request.user,
            request.POST.get("reason_code", ""),
            request.POST.get("note", ""),
        )
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    if not result.changed and not result.conflicts:
        messages.info(request, "This author has no comments waiting for review.")
    _push_undo(request, result, f"reject all by {author_id}")
    _report(request, result, "rejected")
    return _back(request)


@require_POST
@login_required
def undo(request: HttpRequest) -> HttpResponse:
    """Undo this session's last action (one comment, or every comment of a bulk action)."""
    stack = request.session.get(UNDO_SESSION_KEY, [])
    if not stack:
        messages.info(request, "Nothing to undo in this session.")
        return _back(request)
    last = stack.pop()
    request.session[UNDO_SESSION_KEY] = stack
    result = undo_moderator_actions(last["ids"], request.user)
    if result.changed:
        n = len(result.changed)
        messages.success(request, f"Undone: {last['what']} ({n} comment{'s' if n != 1 else ''} restored).")
    for conflict in result.conflicts[:10]:
        messages.error(request, f"Not undone: {conflict}.")
    return _back(request)


# --- Issue 21: word lists and story controls --------------------------------------------------------------


def _story_url(site_id: int, story_id: str) -> str:
    return reverse("dashboard:story") + "?" + urlencode({"site": site_id, "story": story_id})


def _visible_site(request: HttpRequest, raw: str) -> Site:
    """The site named by ``raw`` (an id) if this moderator may see it; 404 otherwise."""
    if not raw.isdigit():
        raise Http404("no such site")
    site = next((s for s in desk.sites_for(request.user) if s.pk == int(raw)), None)
    if site is None:
        raise Http404("no such site")
    return site


def _field_errors(request: HttpRequest, exc: ValidationError) -> None:
    for field, problems in exc.message_dict.items():
        for problem in problems:
            messages.error(request, f"Not saved: {field} {problem}" if field != "__all__" else problem)


@require_GET
@login_required
def word_lists(request: HttpRequest) -> HttpResponse:
    """A site's block list (rejected) and watch list (held), with add and remove."""
    sites = desk.sites_for(request.user)
    if not sites:
        raise Http404("no site")
    raw = request.GET.get("site", "")
    site = _visible_site(request, raw) if raw else sites[0]
    return render(
        request,
        "moderation/word_lists.html",
        {
            "site": site,
            "sites": sites,
            "lists": [
                (value, label, desk.word_list_entries(site)[value]) for value, label in WordList.choices
            ],
            "max_phrase": 100,
        },
    )


@require_POST
@login_required
def word_list_add(request: HttpRequest) -> HttpResponse:
    """Put a phrase on a site's block or watch list (``site``, ``list``, ``phrase``)."""
    site = _visible_site(request, request.POST.get("site", ""))
    try:
        entry = add_word_list_entry(
            site, request.POST.get("list", ""), request.POST.get("phrase", ""), request.user.get_username()
        )
    except ValidationError as exc:
        _field_errors(request, exc)
    else:
        messages.success(request, f"On the {entry.list} list of {site.slug}: {entry.phrase!r}.")
    return redirect(reverse("dashboard:word-lists") + f"?site={site.pk}")


@require_POST
@login_required
def word_list_remove(request: HttpRequest, entry_id: int) -> HttpResponse:
    site = _visible_site(request, request.POST.get("site", ""))
    if remove_word_list_entry(site, entry_id, request.user.get_username()):
        messages.success(request, "Removed from the list.")
    else:
        messages.error(request, "Not removed: that entry is no longer on the list.")
    return redirect(reverse("dashboard:word-lists") + f"?site={site.pk}")


@require_GET
@login_required
def story(request: HttpRequest) -> HttpResponse:
    """One story's controls: its mode (open, pre-moderated, closed) and stricter thresholds."""
    site = _visible_site(request, request.GET.get("site", ""))
    story_id = request.GET.get("story", "").strip()
    if not story_id or len(story_id) > 255:
        return HttpResponseBadRequest("story must be a story id of 1 to 255 characters")
    current = desk.story_for(site, story_id)
    overrides = current.policy_overrides if current else {}
    site_thresholds = thresholds_for(site, _thresholds())
    rows = [
        {
            "label": label,
            "site_review": cuts.get("review"),
            "site_reject": cuts.get("reject"),
            "review": overrides.get(label, {}).get("review", ""),
            "reject": overrides.get(label, {}).get("reject", ""),
        }
        for label, cuts in sorted(site_thresholds.items())
    ]
    counts = desk.story_comment_counts(site, story_id)
    return render(
        request,
        "moderation/story.html",
        {
            "site": site,
            "story_id": story_id,
            "story": current,
            "mode": current.mode if current else StoryMode.OPEN.value,
            "modes": StoryMode.choices,
            "rows": rows,
            "counts": [
                (value, label, counts.get(value, 0)) for value, label in queries.QUEUES if value != "all"
            ],
            "queue_url": reverse("dashboard:queue") + "?" + urlencode({"status": "all", "story": story_id}),
        },
    )


@require_POST
@login_required
def story_set(request: HttpRequest) -> HttpResponse:
    """Set a story's mode and thresholds (``site``, ``story``, ``mode``, ``<label>_review`` /
    ``<label>_reject``: blank for the site's)."""
    site = _visible_site(request, request.POST.get("site", ""))
    story_id = request.POST.get("story", "").strip()
    overrides: dict[str, dict[str, float]] = {}
    try:
        for key, raw in request.POST.items():
            label, _, cut = key.rpartition("_")
            if cut not in ("review", "reject") or not label or not raw.strip():
                continue
            try:
                value = float(raw)
            except ValueError:
                raise ValidationError({key: f"must be a number from 0 to 1, got {raw[:20]!r}"}) from None
            overrides.setdefault(label, {})[cut] = value
        set_story_controls(
            site,
            story_id,
            request.user.get_username(),
            mode=request.POST.get("mode", ""),
            # Without a model the page shows no threshold inputs: keep the story's thresholds as they are.
            policy_overrides=overrides if request.POST.get("thresholds") == "shown" else None,
        )
    except ValidationError as exc:
        _field_errors(request, exc)
    else:
        messages.success(request, f"Story {story_id} saved.")
    return redirect(_story_url(site.pk, story_id))


@require_POST
@login_required
def set_commenter(request: HttpRequest) -> HttpResponse:
    """Set a commenter's state on one site (issue 21): ``site_id``, ``author_id``, ``state``, ``until`` (a
    date and time, read in the dashboard's time zone, for "suspended"), ``reason``. Applies to the comments
    decided from now on; audited."""
    site_id, author_id = _posted_author(request)
    if site_id is None:
        return HttpResponseBadRequest("site_id and author_id are required")
    site = get_object_or_404(Site, pk=site_id)
    until = request.POST.get("until", "").strip()
    data = {"state": request.POST.get("state", ""), "reason": request.POST.get("reason", "")}
    if until:
        parsed = parse_datetime(until)
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        data["until"] = parsed or until
    try:
        commenter = set_commenter_state(
            site, author_id, data, actor_label=request.user.get_username(), actor=request.user
        )
    except SubmissionError as exc:
        messages.error(request, f"Commenter {author_id} not changed: {exc.field} {exc.message}.")
        return _back(request)
    until_text = f" until {commenter.until:%Y-%m-%d %H:%M}" if commenter.until else ""
    messages.success(
        request,
        f"Commenter {author_id} is now {commenter.get_state_display().lower()}{until_text}; "
        "this applies to their comments from now on.",
    )
    return _back(request)
