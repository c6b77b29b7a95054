"""Moderator decisions as training rows for ``python -m training train --labels FILE[:WEIGHT]``.

One row per comment: the comment's latest moderator decision since a date, as the label the moderator gave it.
Labels use the vocabulary of ``training.offline.datasets.load_moderator_export``: ``ok`` (approved),
``toxic``, ``spam``, ``off_topic``, ``other`` (rejected with that reason code; the last two say nothing about
toxicity or spam and are skipped by the trainer). ``label_source`` says how the label came about:

- ``moderator_review``: a moderator decided a comment the model held for review;
- ``moderator_override``: a moderator reversed the model (approved what it rejected, or rejected what it
  approved);
- ``audit_sample``: a random sample of comments the model approved and a moderator confirmed, so that the
  labels are not only from flagged comments (the model's approvals are most of the traffic).

A comment whose latest moderator decision is an undo has no moderator label and is left out.

With a hold-out (``split_by_time``) the rows are split by when they were decided, so that a candidate trained
on the earlier rows is measured on later comments it has never seen.

- ``suggestscore``: a score a site sent to the Perspective-compatible ``comments:suggestscore`` (a
  SuggestedScore row; rows exist only where ``MODERATION_STORE_SUGGESTED_SCORES`` was on and the request did
  not say ``doNotStore``). One row per stored attribute. The score is the summary score, or the highest span
  score when only spans were sent. Rule: ``SPAM`` → ``spam`` if the score is ≥ 0.5, else ``ok``; every other
  attribute (TOXICITY, SEVERE_TOXICITY, IDENTITY_ATTACK, INSULT, PROFANITY, THREAT) → ``toxic`` if ≥ 0.5, else
  ``ok``. ``reason_code`` holds the Perspective attribute, ``score_<label>`` and ``scores`` the suggested
  score under our label, ``comment_id`` is empty (the text did not come through ingestion).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from moderation.models import CommentStatus, Decision, DecisionKind, SuggestedScore
from training.normalize import match_key
from training.runtime import LABELS

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
    "adapter_version",  # the site adapter that re-scored score_toxicity, "" for the shared model's
    "decided_at",
    "decided_by",
]
REJECT_LABELS = {
    "toxic": "toxic",
    "spam": "spam",
    "off_topic": "off_topic",
    "other": "other",
    "": "other",
    # training reads each as a label (training.offline.datasets.MODERATOR_LABELS)
    "threat": "threat",
    "hate": "hate",
    "harassment": "harassment",
}
SOURCES = ("moderator_review", "moderator_override", "audit_sample", "suggestscore")
SUGGESTED_POSITIVE_AT = 0.5


def suggested_label(attribute: str, score: float) -> str:
    """The training label of a suggested Perspective score: ``spam`` / ``toxic`` at or above 0.5, else
    ``ok``."""
    if score < SUGGESTED_POSITIVE_AT:
        return "ok"
    return "spam" if attribute == "SPAM" else "toxic"


def _suggested_rows(since: datetime, until: datetime | None, site: str | None = None) -> list[dict]:
    rows = SuggestedScore.objects.filter(created_at__gte=since).select_related("site").order_by("id")
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    if site is not None:
        rows = rows.filter(site__slug=site)
    out = []
    for row in rows.iterator():
        score = row.score
        if score is None:
            spans = [s.get("score") for s in row.span_scores or [] if isinstance(s.get("score"), int | float)]
            if not spans:
                continue
            score = max(spans)
        scores = {row.label: float(score)}
        out.append(
            {
                "comment_id": "",
                "site": row.site.slug,
                "text": row.text,
                "label": suggested_label(row.attribute, score),
                "label_source": "suggestscore",
                "reason_code": row.attribute,
                **{f"score_{name}": f"{scores[name]:.6f}" if name in scores else "" for name in LABELS},
                "scores": json.dumps(scores, sort_keys=True),
                "model_version": "",
                "adapter_version": "",
                "decided_at": row.created_at.isoformat(),
                "decided_by": "",
            }
        )
    return out


def _label(decision: Decision) -> str | None:
    if decision.reason_code == "undo":
        return None
    if decision.outcome == CommentStatus.APPROVED:
        return "ok"
    if decision.outcome == CommentStatus.REJECTED:
        return REJECT_LABELS.get(decision.reason_code, "other")
    return None


def label_rows(
    since: datetime,
    until: datetime | None = None,
    audit_sample: int = 500,
    seed: int = 0,
    site: str | None = None,
) -> list[dict]:
    """The label rows (columns ``COLUMNS``) decided in [since, until), oldest first: each comment's latest
    moderator decision, at most ``audit_sample`` confirmed automatic approvals chosen at random (``seed``)
    from the whole range, and the suggested scores stored in it. ``site`` (a slug) keeps one site's rows."""
    decisions = Decision.objects.filter(kind=DecisionKind.MODERATOR, created_at__gte=since)
    if until is not None:
        decisions = decisions.filter(created_at__lt=until)
    if site is not None:
        decisions = decisions.filter(comment__site__slug=site)
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
                "adapter_version": decision.adapter_version,
                "decided_at": decision.created_at.isoformat(),
                "decided_by": decision.moderator.get_username() if decision.moderator else "",
            }
        )
    confirmed = rows["audit_sample"]
    if len(confirmed) > audit_sample:
        rows["audit_sample"] = random.Random(seed).sample(confirmed, audit_sample)
    rows["suggestscore"] = _suggested_rows(since, until, site)
    return sorted(
        (r for group in rows.values() for r in group), key=lambda r: (r["decided_at"], str(r["comment_id"]))
    )


def count_by_source(rows: list[dict]) -> dict[str, int]:
    """Rows per ``label_source``, every source named (0 when it has none)."""
    counts = dict.fromkeys(SOURCES, 0)
    for row in rows:
        counts[row["label_source"]] += 1
    return counts


def write_label_rows(out: Path | str, rows: list[dict]) -> Path:
    """Write ``rows`` to the CSV ``out`` (columns ``COLUMNS``), creating its directory."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return out


@dataclass
class HoldoutSplit:
    """Label rows split by time: ``train`` decided before ``cutoff``, ``holdout`` at or after it, minus
    ``repeats``: hold-out rows whose text (``training.normalize.match_key``) is also in ``train``, left out
    so that no hold-out row was seen in training."""

    train: list[dict]
    holdout: list[dict]
    cutoff: str
    repeats: int


def split_by_time(
    rows: list[dict], after: datetime | None = None, share: float | None = None
) -> HoldoutSplit:
    """Split ``rows`` (oldest first, as ``label_rows`` returns them) into training and hold-out rows by when
    they were decided: at or after ``after``, or the latest ``share`` (0 < share < 1) of them. Rows decided at
    the same instant as the first hold-out row go to the hold-out too, so the rule is a point in time. Every
    label source (the audit sample included) is split by the same rule. Give exactly one of the two; raises
    ``ValueError`` otherwise."""
    if (after is None) == (share is None):
        raise ValueError("give exactly one of after (a date) and share")
    if share is not None:
        if not 0 < share < 1:
            raise ValueError(f"share must be between 0 and 1, got {share}")
        n_holdout = round(len(rows) * share)
        if n_holdout == 0:
            return HoldoutSplit(list(rows), [], "", 0)
        after = datetime.fromisoformat(rows[len(rows) - n_holdout]["decided_at"])
    at_or_after = [datetime.fromisoformat(r["decided_at"]) >= after for r in rows]
    train = [r for r, late in zip(rows, at_or_after, strict=True) if not late]
    seen = {match_key(r["text"]) for r in train}
    holdout = [r for r, late in zip(rows, at_or_after, strict=True) if late]
    kept = [r for r in holdout if match_key(r["text"]) not in seen]
    return HoldoutSplit(train, kept, after.isoformat(), len(holdout) - len(kept))


def holdout_path(out: Path | str) -> Path:
    """Where the hold-out goes beside the training file ``out``: ``<stem>.holdout.csv``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.holdout.csv")


def export_labels(
    out: Path | str,
    since: datetime,
    until: datetime | None = None,
    audit_sample: int = 500,
    seed: int = 0,
    site: str | None = None,
) -> dict[str, int]:
    """Write the label rows of ``label_rows(since, until, audit_sample, seed, site)`` to the CSV ``out``.
    Returns the row count per label_source."""
    rows = label_rows(since, until, audit_sample, seed, site)
    write_label_rows(out, rows)
    return count_by_source(rows)
