"""Moderator decisions as training rows for ``python -m training train --labels FILE[:WEIGHT]``.

One row per comment: the comment's latest moderator decision since a date, as the label the moderator gave it.
Labels use the vocabulary of ``training.datasets.load_moderator_export``: ``ok`` (approved), ``toxic``, ``spam``,
``off_topic``, ``other`` (rejected with that reason code; the last two say nothing about toxicity or spam and are
skipped by the trainer). ``label_source`` says how the label came about:

- ``moderator_review``: a moderator decided a comment the model held for review;
- ``moderator_override``: a moderator reversed the model (approved what it rejected, or rejected what it
  approved);
- ``audit_sample``: a random sample of comments the model approved and a moderator confirmed, so that the
  labels are not only from flagged comments (the model's approvals are most of the traffic).

A comment whose latest moderator decision is an undo has no moderator label and is left out.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime
from pathlib import Path

from training.runtime import LABELS

from .models import CommentStatus, Decision, DecisionKind

COLUMNS = [
    "comment_id",
    "site",
    "text",
    "label",
    "label_source",
    "reason_code",
    *[f"score_{label}" for label in LABELS],
    "scores",
    "model_version",
    "decided_at",
    "decided_by",
]
REJECT_LABELS = {"toxic": "toxic", "spam": "spam", "off_topic": "off_topic", "other": "other", "": "other"}


def _label(decision: Decision) -> str | None:
    if decision.reason_code == "undo":
        return None
    if decision.outcome == CommentStatus.APPROVED:
        return "ok"
    if decision.outcome == CommentStatus.REJECTED:
        return REJECT_LABELS.get(decision.reason_code, "other")
    return None


def export_labels(
    out: Path | str, since: datetime, until: datetime | None = None, audit_sample: int = 500, seed: int = 0
) -> dict[str, int]:
    """Write the moderator labels decided in [since, until) to the CSV ``out`` (columns ``COLUMNS``), with at
    most ``audit_sample`` confirmed automatic approvals chosen at random (``seed``). Returns the row count per
    label_source."""
    decisions = Decision.objects.filter(kind=DecisionKind.MODERATOR, created_at__gte=since)
    if until is not None:
        decisions = decisions.filter(created_at__lt=until)
    latest: dict[int, Decision] = {}
    for decision in (
        decisions.select_related("comment", "comment__site", "moderator").order_by("id").iterator()
    ):
        latest[decision.comment_id] = decision
    automatic = dict(
        Decision.objects.filter(kind=DecisionKind.AUTOMATIC, comment_id__in=list(latest)).values_list(
            "comment_id", "outcome"
        )
    )
    rows: dict[str, list[dict]] = {"moderator_review": [], "moderator_override": [], "audit_sample": []}
    for comment_id, decision in latest.items():
        label = _label(decision)
        if label is None:
            continue
        auto = automatic.get(comment_id, "")
        if auto == CommentStatus.APPROVED and decision.outcome == CommentStatus.APPROVED:
            source = "audit_sample"
        elif auto in (CommentStatus.APPROVED, CommentStatus.REJECTED) and auto != decision.outcome:
            source = "moderator_override"
        else:
            source = "moderator_review"
        comment = decision.comment
        scores = dict(decision.scores or {})
        rows[source].append(
            {
                "comment_id": comment.pk,
                "site": comment.site.slug,
                "text": comment.text,
                "label": label,
                "label_source": source,
                "reason_code": decision.reason_code,
                **{f"score_{name}": f"{scores[name]:.6f}" if name in scores else "" for name in LABELS},
                "scores": json.dumps(scores, sort_keys=True),
                "model_version": decision.model_version,
                "decided_at": decision.created_at.isoformat(),
                "decided_by": decision.moderator.get_username() if decision.moderator else "",
            }
        )
    confirmed = rows["audit_sample"]
    if len(confirmed) > audit_sample:
        rows["audit_sample"] = random.Random(seed).sample(confirmed, audit_sample)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = sorted(
        (r for group in rows.values() for r in group), key=lambda r: (r["decided_at"], r["comment_id"])
    )
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(written)
    return {source: len(group) for source, group in rows.items()}
