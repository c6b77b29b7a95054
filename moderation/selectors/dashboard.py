"""Read-side queries of the dashboard: queue filtering and sorting, tab counts, author history, audit log.

Every queue query is one indexed lookup on ``status`` (plus filters) ordered by ``(submitted_at, id)`` or by
an expression over the stored scores; pages are 50 rows, so a queue of any length renders in constant work.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Count, F, FloatField, Q, QuerySet, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Abs, Cast, Coalesce, Greatest, Least
from django.utils import timezone

from moderation.models import (
    AuditEntry,
    Comment,
    Commenter,
    CommenterState,
    CommentStatus,
    ModeratorSiteAccess,
    Report,
)
from moderation.selectors.tuning import standing_moderator_decisions
from training.runtime import LABELS

ALL = "all"
# Issue 21: comments with reports no moderator has answered yet, whatever their status.
REPORTED = "reported"
QUEUES = [
    (CommentStatus.NEEDS_REVIEW.value, "Needs review"),
    (REPORTED, "Reported"),
    (CommentStatus.REJECTED.value, "Rejected"),
    (CommentStatus.APPROVED.value, "Approved"),
    (CommentStatus.FAILED.value, "Failed"),
    (CommentStatus.QUEUED.value, "Queued"),
    (ALL, "All"),
]
SORTS = [
    ("severity", "Most severe first"),
    ("newest", "Newest"),
    ("oldest", "Oldest"),
    ("score", "Highest score"),
    ("uncertain", "Most uncertain"),
]
DECIDED_BY = [("", "Anyone"), ("model", "Model"), ("moderator", "A moderator")]
MAX_QUERY_CHARS = 200


class FilterError(ValueError):
    """A query-string parameter is invalid; the message names it."""


@dataclass(frozen=True)
class QueueFilters:
    status: str = CommentStatus.NEEDS_REVIEW.value
    # Threats, then identity hate, then harassment (policy.SEVERITY), newest first within each.
    sort: str = "severity"
    q: str = ""
    label: str = ""
    story: str = ""
    author: str = ""
    model_version: str = ""
    decided_by: str = ""
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_query(cls, data) -> QueueFilters:
        """Parse a request's GET parameters. Raises FilterError naming the bad parameter."""
        values = {}
        for f in fields(cls):
            raw = (data.get(f.name) or "").strip()
            if len(raw) > MAX_QUERY_CHARS:
                raise FilterError(f"{f.name} is longer than {MAX_QUERY_CHARS} characters")
            if f.name in ("date_from", "date_to"):
                try:
                    values[f.name] = date.fromisoformat(raw) if raw else None
                except ValueError:
                    raise FilterError(f"{f.name} must be a date like 2026-11-27") from None
            elif raw:
                values[f.name] = raw
        filters = cls(**values)
        if filters.status not in dict(QUEUES):
            raise FilterError("status must be one of " + ", ".join(dict(QUEUES)))
        if filters.sort not in dict(SORTS):
            raise FilterError("sort must be one of " + ", ".join(dict(SORTS)))
        if filters.label and filters.label not in LABELS:
            raise FilterError("label must be one of " + ", ".join(LABELS))
        return filters

    def params(self, **overrides) -> dict[str, str]:
        current = replace(self, **overrides) if overrides else self
        default = QueueFilters()
        out = {}
        for f in fields(current):
            value = getattr(current, f.name)
            if value and value != getattr(default, f.name):
                out[f.name] = value.isoformat() if isinstance(value, date) else value
        if current.status != default.status:
            out["status"] = current.status
        return out

    def querystring(self, **overrides) -> str:
        """``?key=value&...`` for these filters with ``overrides`` (defaults omitted), ready for an href."""
        return "?" + urlencode(self.params(**overrides))

    @property
    def narrowed(self) -> bool:
        """True if anything beyond status and sort filters the queue."""
        return any(self.params(status=QueueFilters.status, sort=QueueFilters.sort).values())


def _score(label: str):
    return Coalesce(Cast(KT(f"scores__{label}"), FloatField()), Value(0.0))


def max_score_expression():
    return Greatest(*[_score(label) for label in LABELS])


def uncertainty_expression(thresholds: dict[str, dict[str, float]] | None):
    """Distance of the nearest score to its nearest threshold (smaller = less certain). Without thresholds
    (no model loaded) the distance of the highest score from 0.5."""
    if not thresholds:
        return Abs(max_score_expression() - Value(0.5))
    parts = [
        Abs(_score(label) - Value(float(cut)))
        for label, cuts in thresholds.items()
        if label in LABELS
        for cut in (cuts["review"], cuts["reject"])
    ]
    return Least(*parts) if len(parts) > 1 else parts[0]


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# --- Site scoping (issue 5): a moderator limited to some sites sees and acts on their comments only ---------


def visible_site_ids(user) -> list[int] | None:
    """The ids of the sites ``user`` may see, or None for every site (superusers, and moderators with no
    ModeratorSiteAccess row)."""
    if user is None or user.is_superuser:
        return None
    ids = list(ModeratorSiteAccess.objects.filter(user=user).values_list("site_id", flat=True))
    return ids or None


def scope_comments(rows: QuerySet[Comment], user) -> QuerySet[Comment]:
    """``rows`` limited to the sites ``user`` may see."""
    ids = visible_site_ids(user)
    return rows if ids is None else rows.filter(site_id__in=ids)


def queue_queryset(filters: QueueFilters, thresholds: dict | None = None, user=None) -> QuerySet[Comment]:
    """Comments matching ``filters`` (of the sites ``user`` may see, if given), in the requested order, with
    only the columns a queue page shows."""
    rows = scope_comments(Comment.objects.all(), user)
    if filters.status == REPORTED:
        rows = rows.filter(pk__in=Report.objects.filter(resolved_at__isnull=True).values("comment_id"))
    elif filters.status != ALL:
        rows = rows.filter(status=filters.status)
    if filters.q:
        rows = rows.filter(text__icontains=filters.q)
    if filters.story:
        rows = rows.filter(Q(story_id=filters.story) | Q(story_title__icontains=filters.story))
    if filters.author:
        rows = rows.filter(Q(author_id=filters.author) | Q(author_name__iexact=filters.author))
    if filters.model_version:
        rows = rows.filter(model_version=filters.model_version)
    if filters.decided_by == "model":
        rows = rows.filter(decided_by="model")
    elif filters.decided_by == "moderator":
        # "reports": readers' reports sent it back to review (services.community), not a person
        rows = rows.exclude(decided_by__in=["model", "", "reports"])
    elif filters.decided_by:
        rows = rows.filter(decided_by=filters.decided_by)
    if filters.date_from:
        rows = rows.filter(submitted_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        rows = rows.filter(submitted_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.label:
        # "Flagged by this label": it reached one of its thresholds in the automatic decision.
        rows = rows.filter(label_bands__has_key=filters.label)
    if filters.sort == "oldest":
        rows = rows.order_by("submitted_at", "id")
    elif filters.sort == "score":
        rows = rows.annotate(max_score=max_score_expression()).order_by(F("max_score").desc(), "-id")
    elif filters.sort == "uncertain":
        rows = rows.annotate(uncertainty=uncertainty_expression(thresholds)).order_by("uncertainty", "-id")
    elif filters.sort == "newest":
        rows = rows.order_by("-submitted_at", "-id")
    else:
        rows = rows.order_by("-severity", "-submitted_at", "-id")
    return rows.select_related("site").only(
        "id",
        "text",
        "author_id",
        "author_name",
        "story_id",
        "story_title",
        "parent_id",
        "status",
        "scores",
        "reasons",
        "reason_codes",
        "severity",
        "model_version",
        "adapter_version",
        "submitted_at",
        "decided_at",
        "decided_by",
        "last_error",
        "site__slug",
        "site_id",
    )


def new_since(filters: QueueFilters, since: datetime, user=None) -> int:
    """How many comments of the queue ``filters`` show entered it after ``since`` (when the moderator's page
    was drawn): decided into it (by the model, an undo, readers' reports) or submitted since; for the
    Reported queue, comments reported since. What the "N new comments — show" prompt counts."""
    rows = queue_queryset(filters, user=user).order_by()
    if filters.status == REPORTED:
        reported = Report.objects.filter(resolved_at__isnull=True, created_at__gt=since)
        return rows.filter(pk__in=reported.values("comment_id")).count()
    return rows.filter(Q(decided_at__gt=since) | Q(submitted_at__gt=since)).count()


def queue_counts(user=None) -> dict[str, int]:
    """Comments per status (of the sites ``user`` may see, if given), and ``all``."""
    rows = scope_comments(Comment.objects.all(), user)
    counts = dict(rows.values_list("status").annotate(n=Count("id")).order_by())
    out = {value: counts.get(value, 0) for value, _ in QUEUES if value not in (ALL, REPORTED)}
    out[ALL] = sum(out.values())
    reports = Report.objects.filter(resolved_at__isnull=True)
    site_ids = visible_site_ids(user)
    if site_ids is not None:
        reports = reports.filter(comment__site_id__in=site_ids)
    out[REPORTED] = reports.values("comment_id").distinct().count()
    return out


# --- Issue 21: commenter states and readers' reports on the cards -------------------------------------------


def commenter_states(comments) -> dict[tuple[int, str], Commenter]:
    """{(site_id, author_id): Commenter} for the authors of ``comments`` whose state is not normal."""
    keys = {(c.site_id, c.author_id) for c in comments}
    if not keys:
        return {}
    rows = Commenter.objects.filter(
        site_id__in={s for s, _ in keys}, author_id__in={a for _, a in keys}
    ).exclude(state=CommenterState.NORMAL)
    return {(row.site_id, row.author_id): row for row in rows if (row.site_id, row.author_id) in keys}


def open_reports(comments, reasons_shown: int = 5) -> dict[int, dict]:
    """{comment id: {"count": open reports, "reasons": [(reason, readers), ...] most common first}} for the
    comments of ``comments`` that readers reported and no moderator has answered since."""
    ids = [c.pk for c in comments]
    if not ids:
        return {}
    rows = (
        Report.objects.filter(comment_id__in=ids, resolved_at__isnull=True)
        .values_list("comment_id", "reason")
        .annotate(n=Count("id"))
        .order_by("comment_id", "-n", "reason")
    )
    out: dict[int, dict] = {}
    for comment_id, reason, n in rows:
        entry = out.setdefault(comment_id, {"count": 0, "reasons": []})
        entry["count"] += n
        if len(entry["reasons"]) < reasons_shown:
            entry["reasons"].append((reason, n))
    return out


def moderator_verdicts(comments) -> dict[int, dict[str, str]]:
    """comment id -> the last moderator decision on it that still stands ({"outcome", "reason_code", "note",
    "by"}), for the comments of one queue page that a moderator decided; an undone decision is not shown."""
    ids = [c.pk for c in comments if c.decided_by not in ("", "model")]
    return standing_moderator_decisions(ids) if ids else {}


def author_history(comments) -> dict[tuple[int, str], dict[str, int]]:
    """{(site_id, author_id): {status: count}} for the authors of ``comments``, in one query."""
    keys = {(c.site_id, c.author_id) for c in comments}
    history: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    if not keys:
        return history
    rows = (
        Comment.objects.filter(site_id__in={s for s, _ in keys}, author_id__in={a for _, a in keys})
        .values_list("site_id", "author_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for site_id, author_id, status, n in rows:
        if (site_id, author_id) in keys:
            history[(site_id, author_id)][status] = n
    return history


def recent_by_author(comment: Comment, limit: int = 10) -> list[Comment]:
    return list(
        Comment.objects.filter(site_id=comment.site_id, author_id=comment.author_id)
        .exclude(pk=comment.pk)
        .order_by("-submitted_at", "-id")
        .only("id", "text", "status", "submitted_at", "decided_by", "story_title", "story_id")[:limit]
    )


@dataclass(frozen=True)
class AuditFilters:
    moderator: str = ""
    action: str = ""
    comment: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_query(cls, data) -> AuditFilters:
        values: dict = {}
        for name in ("moderator", "action"):
            raw = (data.get(name) or "").strip()
            if len(raw) > MAX_QUERY_CHARS:
                raise FilterError(f"{name} is longer than {MAX_QUERY_CHARS} characters")
            values[name] = raw
        raw = (data.get("comment") or "").strip()
        if raw:
            if not raw.isdigit():
                raise FilterError("comment must be a comment id (a number)")
            values["comment"] = int(raw)
        for name in ("date_from", "date_to"):
            raw = (data.get(name) or "").strip()
            try:
                values[name] = date.fromisoformat(raw) if raw else None
            except ValueError:
                raise FilterError(f"{name} must be a date like 2026-11-27") from None
        return cls(**values)

    def querystring(self, **overrides) -> str:
        current = replace(self, **overrides) if overrides else self
        params = {
            f.name: (v.isoformat() if isinstance(v, date) else v)
            for f in fields(current)
            if (v := getattr(current, f.name)) not in (None, "")
        }
        return "?" + urlencode(params)


def audit_queryset(filters: AuditFilters, user=None) -> QuerySet[AuditEntry]:
    rows = AuditEntry.objects.select_related("comment").order_by("-created_at", "-id")
    site_ids = visible_site_ids(user)
    if site_ids is not None:  # a moderator limited to some sites: entries about those sites' comments only
        rows = rows.filter(comment__site_id__in=site_ids)
    if filters.moderator:
        rows = rows.filter(actor_label=filters.moderator)
    if filters.action:
        rows = rows.filter(action=filters.action)
    if filters.comment:
        rows = rows.filter(comment_id=filters.comment)
    if filters.date_from:
        rows = rows.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        rows = rows.filter(created_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    return rows


def audit_choices() -> tuple[list[str], list[str]]:
    """(actor labels, actions) present in the audit trail, for the filter menus."""
    actors = list(AuditEntry.objects.order_by().values_list("actor_label", flat=True).distinct()[:500])
    actions = list(AuditEntry.objects.order_by().values_list("action", flat=True).distinct()[:100])
    return sorted(actors), sorted(actions)
