"""A review budget: the share of comments the policy may flag (hold for review or reject), turned into the
general score's review threshold on a sample of scored comments.

Shared by the offline threshold chooser (``training.offline.thresholds``: the default budget on news comments)
and the site's own budget at run time (``moderation.policy.budget_thresholds``: the site's recent scores).
Pure Python over score dicts: no numpy, no model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

GENERAL = "toxicity"
# Comments with no words: review thresholds stay above what each of these scores. (Punctuation alone, "!!!",
# scores high on the shape features; the verdict approves any comment without a letter or digit before
# scores are read, see ``moderation.scoring.judge``.)
NO_WORDS = ("", "👍", "😂😂😂", "🙏", "❤️🇵🇰", "🇦🇫🇵🇰")


def floors(model) -> dict[str, float]:
    """Per label, the highest score ``model`` (a ``training.runtime.ModelArtifact``, as served) gives a
    comment with no words (``NO_WORDS``)."""
    scored = model.score(list(NO_WORDS))
    return {label: max(float(s[label]) for s in scored) for label in scored[0]}


@dataclass(frozen=True)
class BudgetFit:
    review: float  # the general label's review threshold
    flagged_share: float  # share of the sample flagged at it (held or rejected)
    flagged_by_others: float  # share flagged by the other labels alone, whatever the general threshold
    sample: int
    note: str = ""


def flagged_by_others(
    scores: Mapping[str, float], thresholds: Mapping[str, Mapping[str, float]], label: str = GENERAL
) -> bool:
    return any(
        other != label and scores.get(other) is not None and scores[other] >= limits.get("review", math.inf)
        for other, limits in thresholds.items()
    )


def fit_review_threshold(
    rows: Sequence[Mapping[str, float]],
    thresholds: Mapping[str, Mapping[str, float]],
    budget: float,
    *,
    label: str = GENERAL,
    floor: float = 0.0,
    weights: Sequence[float] | None = None,
) -> BudgetFit:
    """The lowest review threshold for ``label`` at which at most ``budget`` of ``rows`` (score dicts, each
    counted with its weight, 1 by default) are flagged by some label at its review threshold (``thresholds``;
    ``label``'s own review is what is fitted), never at or below ``floor`` (what a comment with no words
    scores) and never above ``label``'s reject threshold (when the other labels alone use up the budget,
    ``label`` reviews only what it would reject)."""
    if not 0 < budget < 1:
        raise ValueError(f"review budget must be between 0 and 1 (a share of comments), got {budget}")
    weights = list(weights) if weights is not None else [1.0] * len(rows)
    scored = [(r, w) for r, w in zip(rows, weights, strict=True) if r.get(label) is not None]
    if not scored:
        raise ValueError("no scored comments to fit a review budget on")
    total = sum(w for _, w in scored)
    ceiling = float(thresholds.get(label, {}).get("reject", 1.0))
    others = [flagged_by_others(r, thresholds, label) for r, _ in scored]
    base = sum(w for (_, w), o in zip(scored, others, strict=True) if o)
    allowed = budget * total - base
    candidates = sorted(
        ((float(r[label]), w) for (r, w), o in zip(scored, others, strict=True) if not o), reverse=True
    )
    note = ""
    if allowed <= 0 or not candidates:
        review = ceiling
        note = f"the other labels alone flag {base / total:.1%} of these comments, over the budget"
    else:
        used = 0.0
        for score, w in candidates:
            if used + w > allowed + 1e-9:
                # Flag what fits: the threshold sits just above the first score left out.
                review = math.nextafter(score, math.inf)
                break
            used += w
        else:
            review = candidates[-1][0]  # the whole sample fits in the budget
    review = max(review, math.nextafter(floor, math.inf))
    if review > ceiling:
        review = ceiling
        note = note or "the general score's reject threshold already flags more than the budget"
    review = min(math.ceil(review * 1e6) / 1e6, ceiling)  # six decimals, never below the fitted value
    flagged = sum(w for (r, w), o in zip(scored, others, strict=True) if o or float(r[label]) >= review)
    return BudgetFit(review, flagged / total, base / total, len(scored), note)
