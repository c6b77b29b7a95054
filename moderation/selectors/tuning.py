"""Threshold tuning from moderator labels: before a site's ``policy_overrides`` are saved, what would they do?

``preview_thresholds(site, proposed)`` replays the stored scores of the site's recent automatic decisions
through the policy with the proposed thresholds (the model's, with ``proposed`` merged over them, as
``services.thresholds_for`` does when deciding) and returns, next to what actually happened, the expected
auto-approve / review / auto-reject volumes and, on the comments moderators labelled, the precision of each
bucket: the share of would-be rejections a moderator rejected, of would-be reviews a moderator rejected, and
of would-be approvals a moderator approved.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from moderation.models import CommentStatus, Decision, DecisionKind, Site
from moderation.policy import apply_policy, thresholds_for
from moderation.validation import validate_policy_overrides

OUTCOMES = (CommentStatus.APPROVED, CommentStatus.NEEDS_REVIEW, CommentStatus.REJECTED)


def moderator_labels(comment_ids: list[int]) -> dict[int, bool]:
    """comment id -> True if moderators' last word was reject, False if approve (undone actions do not
    count)."""
    labels: dict[int, bool] = {}
    for pk, outcome, reason_code in (
        Decision.objects.filter(kind=DecisionKind.MODERATOR, comment_id__in=comment_ids)
        .order_by("id")
        .values_list("comment_id", "outcome", "reason_code")
    ):
        if reason_code == "undo" or outcome not in (CommentStatus.APPROVED, CommentStatus.REJECTED):
            labels.pop(pk, None)
        else:
            labels[pk] = outcome == CommentStatus.REJECTED
    return labels


def _precision(outcomes: dict[int, str], labels: dict[int, bool]) -> dict[str, Any]:
    result = {}
    for outcome in OUTCOMES:
        labelled = [labels[pk] for pk, o in outcomes.items() if o == outcome and pk in labels]
        right = (
            sum(not rejected for rejected in labelled) if outcome == CommentStatus.APPROVED else sum(labelled)
        )
        result[outcome] = {
            "labelled": len(labelled),
            "precision": round(right / len(labelled), 4) if labelled else None,
        }
    return result


def preview_thresholds(site: Site, proposed: dict, model_thresholds: dict, days: int = 30) -> dict[str, Any]:
    """What ``proposed`` (a ``policy_overrides`` value; raises django ValidationError if invalid) would have
    done to ``site``'s automatic decisions of the last ``days`` days, compared with what was decided. Returns
    {"comments", "labelled", "thresholds", "current": {...}, "proposed": {...}} where each side has "volumes"
    {outcome: n} and "precision" {outcome: {"labelled", "precision"}}."""
    validate_policy_overrides(proposed)
    thresholds = thresholds_for(Site(slug=site.slug, policy_overrides=proposed), model_thresholds)
    since = timezone.now() - timedelta(days=days)
    rows = list(
        Decision.objects.filter(kind=DecisionKind.AUTOMATIC, comment__site=site, created_at__gte=since)
        .exclude(scores={})
        .values_list("comment_id", "outcome", "scores")
    )
    current = {pk: outcome for pk, outcome, _ in rows}
    would = {pk: apply_policy(scores, thresholds).outcome for pk, _, scores in rows}
    labels = moderator_labels(list(current))

    def side(outcomes: dict[int, str]) -> dict[str, Any]:
        volumes = {o: sum(1 for v in outcomes.values() if v == o) for o in OUTCOMES}
        return {"volumes": volumes, "precision": _precision(outcomes, labels)}

    return {
        "comments": len(rows),
        "labelled": len(labels),
        "thresholds": thresholds,
        "current": side(current),
        "proposed": side(would),
    }
