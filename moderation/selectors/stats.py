"""Numbers for the stats page and the geometry of its charts (rendered as server-side SVG, no script).

comments per hour by outcome · automatic vs moderator decisions · how often moderators overturn the model, per
label · how long comments have waited for review · which model versions decided the recent comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Min, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from moderation.models import Comment, CommentStatus, Decision, DecisionKind
from training.runtime import LABELS

OUTCOMES = [
    (CommentStatus.APPROVED.value, "approved"),
    (CommentStatus.REJECTED.value, "rejected"),
    (CommentStatus.NEEDS_REVIEW.value, "needs review"),
    (CommentStatus.FAILED.value, "failed"),
]
AGE_BUCKETS = [
    ("< 1 h", timedelta(hours=1)),
    ("1–6 h", timedelta(hours=6)),
    ("6–24 h", timedelta(hours=24)),
    ("1–3 d", timedelta(days=3)),
    ("> 3 d", None),
]


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Chart:
    """An SVG chart: bars plus axis labels, in a ``width`` x ``height`` viewBox."""

    title: str
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    labels: list[tuple[float, float, str, str]] = field(default_factory=list)  # x, y, anchor, text
    legend: list[tuple[str, str]] = field(default_factory=list)  # css class, text
    empty: bool = False


def _scoped(rows, site_ids: list[int] | None, field: str = "site_id"):
    """Only the sites a moderator may see (``queries.visible_site_ids``; None means every site)."""
    return rows if site_ids is None else rows.filter(**{f"{field}__in": site_ids})


def hourly_outcomes(hours: int = 24, now=None, site_ids: list[int] | None = None) -> Chart:
    """Stacked bars: comments decided per hour over the last ``hours`` hours, by their current status."""
    now = now or timezone.now()
    start = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    rows = (
        _scoped(Comment.objects.filter(decided_at__gte=start), site_ids)
        .annotate(hour=TruncHour("decided_at"))
        .values_list("hour", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    per_hour: dict = {}
    for hour, status, n in rows:
        per_hour.setdefault(hour, {})[status] = n
    slots = [start + timedelta(hours=i) for i in range(hours)]
    peak = max([sum(v.values()) for v in per_hour.values()] or [0])
    chart = Chart("Comments per hour by outcome (last 24 h, UTC)", 720, 220, empty=peak == 0)
    chart.legend = [(f"o-{s}", label) for s, label in OUTCOMES]
    left, top, plot_h, slot_w = 40, 10, 170, (720 - 50) / hours
    chart.labels.append((left - 6, top + 8, "end", str(peak)))
    chart.labels.append((left - 6, top + plot_h, "end", "0"))
    for i, slot in enumerate(slots):
        counts = per_hour.get(slot, {})
        y = top + plot_h
        for status, label in OUTCOMES:
            n = counts.get(status, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            chart.bars.append(
                Bar(left + i * slot_w + 1, y, slot_w - 2, h, f"o-{status}", f"{slot:%H}:00 · {n} {label}")
            )
        if i % 3 == 0:
            chart.labels.append((left + i * slot_w + slot_w / 2, top + plot_h + 16, "middle", f"{slot:%H}h"))
    return chart


def _hbar_chart(title: str, rows: list[tuple[str, float, str, str]], unit: str = "", maximum=None) -> Chart:
    """Horizontal bars: rows of (label, value, css class, value text)."""
    peak = maximum if maximum is not None else max([v for _, v, _, _ in rows] or [0])
    chart = Chart(title, 720, 24 + 26 * max(len(rows), 1), empty=not rows or peak == 0)
    left, plot_w = 170, 440
    for i, (label, value, css, text) in enumerate(rows):
        y = 10 + i * 26
        w = plot_w * value / peak if peak else 0
        chart.bars.append(Bar(left, y, max(w, 1 if value else 0), 18, css, f"{label}: {text}"))
        chart.labels.append((left - 8, y + 14, "end", label))
        chart.labels.append((left + w + 6, y + 14, "start", text + unit))
    return chart


def auto_vs_human(days: int = 7, now=None, site_ids: list[int] | None = None) -> Chart:
    now = now or timezone.now()
    since = now - timedelta(days=days)
    counts = dict(
        _scoped(Decision.objects.filter(created_at__gte=since), site_ids, "comment__site_id")
        .exclude(reason_code="undo")
        .values_list("kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    auto, human = counts.get(DecisionKind.AUTOMATIC, 0), counts.get(DecisionKind.MODERATOR, 0)
    return _hbar_chart(
        f"Automatic vs moderator decisions (last {days} days)",
        [("automatic (model)", auto, "k-auto", str(auto)), ("moderator", human, "k-human", str(human))],
    )


def override_rates(days: int = 30, now=None, site_ids: list[int] | None = None) -> tuple[Chart, list[dict]]:
    """Per label: of the comments the label flagged (it reached a threshold, ``label_bands``) that a moderator
    then decided, the share the moderator approved, i.e. overturned the model."""
    now = now or timezone.now()
    rows = (
        _scoped(Comment.objects.filter(decided_at__gte=now - timedelta(days=days)), site_ids)
        .filter(status__in=[CommentStatus.APPROVED, CommentStatus.REJECTED])
        .exclude(decided_by__in=["model", ""])
        .values_list("status", "label_bands")
    )
    flagged = dict.fromkeys(LABELS, 0)
    overturned = dict.fromkeys(LABELS, 0)
    for status, bands in rows.iterator():
        for label in bands or {}:
            if label not in flagged:
                continue
            flagged[label] += 1
            overturned[label] += status == CommentStatus.APPROVED
    table = [
        {
            "label": label,
            "decided": flagged[label],
            "approved": overturned[label],
            "rate": overturned[label] / flagged[label],
        }
        for label in LABELS
        if flagged[label]
    ]
    chart = _hbar_chart(
        f"Moderator override rate per label (last {days} days)",
        [
            (r["label"], r["rate"] * 100, "k-override", f"{r['rate'] * 100:.0f}% of {r['decided']}")
            for r in table
        ],
        maximum=100,
    )
    return chart, table


def queue_age(now=None, site_ids: list[int] | None = None) -> tuple[Chart, dict]:
    now = now or timezone.now()
    pending = _scoped(Comment.objects.filter(status=CommentStatus.NEEDS_REVIEW), site_ids)
    aggregates = {}
    lower = timedelta(0)
    for i, (_, upper) in enumerate(AGE_BUCKETS):
        cond = Q(submitted_at__lte=now - lower)
        if upper is not None:
            cond &= Q(submitted_at__gt=now - upper)
        aggregates[f"bucket{i}"] = Count("id", filter=cond)
        lower = upper or lower
    result = pending.aggregate(**aggregates, oldest=Min("submitted_at"))
    oldest = result.pop("oldest")
    counts = {name: result[f"bucket{i}"] for i, (name, _) in enumerate(AGE_BUCKETS)}
    chart = _hbar_chart(
        "Needs-review queue by age",
        [(name, counts[name], "k-age", str(counts[name])) for name, _ in AGE_BUCKETS],
    )
    return chart, {"oldest": oldest, "pending": sum(counts.values())}


def model_versions(days: int = 7, now=None, site_ids: list[int] | None = None) -> Chart:
    now = now or timezone.now()
    rows = (
        _scoped(Comment.objects.filter(decided_at__gte=now - timedelta(days=days)), site_ids)
        .exclude(model_version="")
        .values_list("model_version")
        .annotate(n=Count("id"))
        .order_by("-n")[:8]
    )
    return _hbar_chart(
        f"Model versions that scored the comments decided in the last {days} days",
        [(version[:28], n, "k-model", str(n)) for version, n in rows],
    )
