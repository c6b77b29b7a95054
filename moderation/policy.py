"""The site's policy: turn a model's scores into approved / rejected / needs_review, with reasons people can read.

Thresholds come from the model artifact (chosen on validation data, per label: ``reject`` from a target precision,
``review`` from a target recall). A label without thresholds does not drive decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

APPROVED = "approved"
REJECTED = "rejected"
NEEDS_REVIEW = "needs_review"


@dataclass(frozen=True)
class PolicyResult:
    outcome: str
    reasons: list[str] = field(default_factory=list)


def apply_policy(scores: Mapping[str, float], thresholds: Mapping[str, Mapping[str, float]]) -> PolicyResult:
    """Decide on one comment.

    In: ``scores`` label -> probability; ``thresholds`` label -> {"reject": float, "review": float}.
    Out: rejected if any label reaches its reject threshold; else needs_review if any label reaches its review
    threshold; else approved. Reasons name the label, the score and the threshold, e.g.
    ``toxicity 0.93 ≥ reject threshold 0.90``. A label with thresholds but no score sends the comment to review:
    a comment is never approved on a score that is missing.
    """
    rejected: list[str] = []
    review: list[str] = []
    for label in sorted(thresholds):
        limits = thresholds[label]
        score = scores.get(label)
        if score is None:
            review.append(f"{label} was not scored")
            continue
        reject_at = limits.get("reject")
        review_at = limits.get("review")
        if reject_at is not None and score >= reject_at:
            rejected.append(f"{label} {score:.2f} ≥ reject threshold {reject_at:.2f}")
        elif review_at is not None and score >= review_at:
            review.append(f"{label} {score:.2f} ≥ review threshold {review_at:.2f}")
    if rejected:
        return PolicyResult(REJECTED, rejected + review)
    if review:
        return PolicyResult(NEEDS_REVIEW, review)
    if not thresholds:
        return PolicyResult(NEEDS_REVIEW, ["the model has no thresholds; a person must decide"])
    return PolicyResult(APPROVED, ["all scores below review thresholds"])
