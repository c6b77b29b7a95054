"""The site's policy: turn a model's scores into approved / rejected / needs_review, with readable reasons.

Thresholds come from the model artifact (chosen on validation data, per label: ``reject`` from a target
precision, ``review`` from a target recall). A label without thresholds does not drive decisions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from moderation.validation import validate_policy_overrides

log = logging.getLogger(__name__)

APPROVED = "approved"
REJECTED = "rejected"
NEEDS_REVIEW = "needs_review"

# Perspective API attribute names and the labels that answer them (the drop-in API and perspective_compare).
ATTRIBUTE_LABELS: dict[str, str] = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": "severe_toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "obscene",
    "THREAT": "threat",
    "SPAM": "spam",
}


@dataclass(frozen=True)
class PolicyResult:
    outcome: str
    reasons: list[str] = field(default_factory=list)
    # The labels that reached a threshold, and which: label -> "reject" | "review" (for callers that need to
    # know what drove the outcome without reading the reasons, e.g. Coral's FLAG reason).
    bands: dict[str, str] = field(default_factory=dict)


def band(score: float | None, limits: Mapping[str, float] | None) -> str:
    """Where one label's score falls at one model's thresholds for it: "reject" at or above ``reject``, else
    "review" at or above ``review``, else "none" (also for a missing score or a label without thresholds)."""
    if score is None or not limits:
        return "none"
    if limits.get("reject") is not None and score >= limits["reject"]:
        return "reject"
    if limits.get("review") is not None and score >= limits["review"]:
        return "review"
    return "none"


def apply_policy(scores: Mapping[str, float], thresholds: Mapping[str, Mapping[str, float]]) -> PolicyResult:
    """Decide on one comment.

    In: ``scores`` label -> probability; ``thresholds`` label -> {"reject": float, "review": float}. Out:
    rejected if any label reaches its reject threshold; else needs_review if any label reaches its review
    threshold; else approved. Reasons name the label, the score and the threshold, e.g. ``toxicity 0.93 ≥
    reject threshold 0.90``. A label with thresholds but no score sends the comment to review: a comment is
    never approved on a score that is missing.
    """
    rejected: list[str] = []
    review: list[str] = []
    bands: dict[str, str] = {}
    for label in sorted(thresholds):
        limits = thresholds[label]
        score = scores.get(label)
        if score is None:
            review.append(f"{label} was not scored")
            continue
        where = band(score, limits)
        if where == "reject":
            rejected.append(f"{label} {score:.2f} ≥ reject threshold {limits['reject']:.2f}")
        elif where == "review":
            review.append(f"{label} {score:.2f} ≥ review threshold {limits['review']:.2f}")
        if where != "none":
            bands[label] = where
    if rejected:
        return PolicyResult(REJECTED, rejected + review, bands)
    if review:
        return PolicyResult(NEEDS_REVIEW, review, bands)
    if not thresholds:
        return PolicyResult(NEEDS_REVIEW, ["the model has no thresholds; a person must decide"])
    return PolicyResult(APPROVED, ["all scores below review thresholds"])


def thresholds_for(
    site: Any, model_thresholds: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """The thresholds to decide ``site``'s comments with: the model's, with the site's ``policy_overrides``
    merged over them per label and key. Only labels the model has thresholds for can be overridden (a label
    without thresholds does not drive decisions). An invalid override (it should have been refused by
    ``validate_policy_overrides``) is logged and ignored: the model's thresholds apply."""
    merged = {label: dict(cuts) for label, cuts in model_thresholds.items()}
    overrides = getattr(site, "policy_overrides", None) or {}
    if not overrides:
        return merged
    try:
        validate_policy_overrides(overrides)
    except ValidationError as exc:
        log.error("site %s: policy_overrides ignored: %s", getattr(site, "slug", site), exc.messages[0])
        return merged
    for label, cuts in overrides.items():
        if label in merged:
            merged[label].update({key: float(value) for key, value in cuts.items()})
    return merged
