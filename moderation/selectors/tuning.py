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
from training.budget import GENERAL, fit_review_threshold, floors

# A site's own budget is fitted on its own recent scores once it has this many; before, on the model's
# weighed news sample (the one its default thresholds were fitted on).
MIN_SITE_SAMPLE = 200

OUTCOMES = (CommentStatus.APPROVED, CommentStatus.NEEDS_REVIEW, CommentStatus.REJECTED)


def standing_moderator_decisions(comment_ids: list[int]) -> dict[int, dict[str, Any]]:
    """comment id -> moderators' last decision on it ({"outcome", "reason_code", "note", "by"}), for those
    with one; an undone decision does not count."""
    standing: dict[int, dict[str, Any]] = {}
    for pk, outcome, reason_code, note, by in (
        Decision.objects.filter(kind=DecisionKind.MODERATOR, comment_id__in=comment_ids)
        .order_by("id")
        .values_list("comment_id", "outcome", "reason_code", "note", "moderator__username")
    ):
        if reason_code == "undo":
            standing.pop(pk, None)
        else:
            standing[pk] = {"outcome": outcome, "reason_code": reason_code, "note": note, "by": by or ""}
    return standing


def moderator_labels(comment_ids: list[int]) -> dict[int, bool]:
    """comment id -> True if moderators' last word was reject, False if approve (undone actions do not
    count)."""
    return {
        pk: decision["outcome"] == CommentStatus.REJECTED
        for pk, decision in standing_moderator_decisions(comment_ids).items()
        if decision["outcome"] in (CommentStatus.APPROVED, CommentStatus.REJECTED)
    }


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


def recent_scores(site: Site, days: int) -> list[dict]:
    since = timezone.now() - timedelta(days=days)
    return list(
        Decision.objects.filter(kind=DecisionKind.AUTOMATIC, comment__site=site, created_at__gte=since)
        .exclude(scores={})
        .values_list("scores", flat=True)
    )


def recent_texts(site: Site, days: int, limit: int = 2000) -> list[str]:
    """The texts of ``site``'s latest ``limit`` automatically decided comments of the last ``days`` days: the
    traffic a candidate model's flagged share is measured on (``manage.py retrain``)."""
    since = timezone.now() - timedelta(days=days)
    return list(
        Decision.objects.filter(kind=DecisionKind.AUTOMATIC, comment__site=site, created_at__gte=since)
        .order_by("-created_at", "-id")
        .values_list("comment__text", flat=True)[:limit]
    )


def fit_budget(site: Site, budget: float, model, days: int = 30) -> dict[str, Any]:
    """The general score's review threshold that flags (holds or rejects) ``budget`` of ``site``'s comments:
    fitted on the site's automatic decisions of the last ``days`` days when there are at least
    ``MIN_SITE_SAMPLE``, else on ``model``'s weighed news sample, at the site's other thresholds, never at or
    below what a comment with no words scores. Raises ValueError for a budget outside (0, 1) or a model
    without a sample to fit on. Returns {"overrides", "budget", "fitted_on", "sample", "flagged_share",
    "flagged_by_others", "note"}."""
    thresholds = thresholds_for(site, model.thresholds)
    floor = floors(model)[GENERAL]
    rows = recent_scores(site, days)
    weights = None
    own = len(rows)
    fitted_on = f"the site's {own} automatic decisions of the last {days} days"
    if own < MIN_SITE_SAMPLE:
        reference = model.reference_scores
        if not reference:
            raise ValueError(
                f"site {site.slug} has {own} recent decisions (a budget needs {MIN_SITE_SAMPLE}) and "
                f"model {model.version} carries no news sample to fit on; set thresholds with --set instead"
            )
        rows, weights = reference["rows"], reference["weights"]
        fitted_on = (
            f"model {model.version}'s news sample ({len(rows)} comments; the site has only {own} recent "
            f"decisions, {MIN_SITE_SAMPLE} are needed)"
        )
    fit = fit_review_threshold(rows, thresholds, budget, floor=floor, weights=weights)
    review = fit.review
    reject = thresholds.get(GENERAL, {}).get("reject", 1.0)
    return {
        "overrides": {GENERAL: {"review": review, "reject": max(reject, review)}},
        "budget": budget,
        "fitted_on": fitted_on,
        "sample": fit.sample,
        "flagged_share": round(fit.flagged_share, 4),
        "flagged_by_others": round(fit.flagged_by_others, 4),
        "note": fit.note,
    }


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
    rejected_by_moderators = [pk for pk, rejected in labels.items() if rejected]

    def side(outcomes: dict[int, str]) -> dict[str, Any]:
        volumes = {o: sum(1 for v in outcomes.values() if v == o) for o in OUTCOMES}
        caught = sum(1 for pk in rejected_by_moderators if outcomes.get(pk) != CommentStatus.APPROVED)
        return {
            "volumes": volumes,
            "precision": _precision(outcomes, labels),
            # of the comments moderators rejected, how many the policy flags (holds or rejects)
            "moderator_rejections_flagged": {"flagged": caught, "of": len(rejected_by_moderators)},
        }

    return {
        "comments": len(rows),
        "labelled": len(labels),
        "thresholds": thresholds,
        "current": side(current),
        "proposed": side(would),
    }
