"""The site's policy: turn a model's scores into approved / rejected / needs_review, with readable reasons.

Thresholds come from the model artifact (chosen offline on news comments, see
``training.offline.thresholds``: ``reject`` for precision, ``review`` from a review budget and never at or
below what a comment with no words scores), with the site's overrides merged over them. A label without
thresholds does not drive decisions.

What a news desk can trust (issue 22):

- **No single score rejects for abuse.** ``toxicity`` is a general "rude or disrespectful" score: civil but
  heated comments ("hypocrisy", "damn right", "kill the bill") reach its reject threshold, profanity
  (``obscene``) fires on swearing for emphasis, and the abuse labels on words like "ridiculous". A comment is
  rejected for abuse only when two labels agree, each at its reject threshold (chosen for precision): a clear
  abuse label (``ABUSE_LABELS``) and a general score (``GENERAL_LABELS``: toxicity, obscene), or two abuse
  labels. One alone holds the comment for a person, with the reason saying so.
- **Spam rejects alone** at its reject threshold.
- **Severity first.** Every label that fires gives a reason code (``LABEL_CODES``: threat, hate,
  harassment, toxic, spam) and the verdict a ``severity`` (``SEVERITY``), so the review queue can show
  threats and identity hate first, and moderators reject with the same codes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
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


# General scores: they never reject without a clear abuse label agreeing. Profanity (obscene) is one: news
# readers swear for emphasis ("damn right", "bloody shambles") without abusing anyone.
GENERAL_LABELS = ("toxicity", "obscene")
# Clear abuse labels. A comment is rejected for abuse when two labels agree at their reject thresholds (chosen
# for precision): an abuse label and a general score, or two abuse labels. Spam rejects alone.
ABUSE_LABELS = ("severe_toxicity", "threat", "identity_attack", "insult")
SCORED_FOR_ABUSE = GENERAL_LABELS + ABUSE_LABELS

# The reason code each label gives when it fires: what a moderator rejects with and training reads as a label.
LABEL_CODES: dict[str, str] = {
    "threat": "threat",
    "identity_attack": "hate",
    "insult": "harassment",
    "severe_toxicity": "harassment",
    "obscene": "toxic",
    "toxicity": "toxic",
    "spam": "spam",
}
# Review order: higher first. A comment's severity is its highest code's.
SEVERITY: dict[str, int] = {"threat": 4, "hate": 3, "harassment": 2, "toxic": 1, "spam": 1}
REASON_CODES = ("threat", "hate", "harassment", "toxic", "spam")  # in severity order
# The site's context (issue 21) orders the review queue too: a comment readers reported back to review comes
# with harassment; a link in a new commenter's first comments (or in anyone's, on a site that holds them all)
# and a burst with spam. (Commenter states need
# no rank: banned and suspended reject, pre-moderated holds what would pass.)
SEVERITY |= {"reported": 2, "new_commenter_link": 1, "held_link": 1, "burst": 1}


@dataclass(frozen=True)
class PolicyResult:
    outcome: str
    reasons: list[str] = field(default_factory=list)
    # The labels that reached a threshold, and which: label -> "reject" | "review" (for callers that need to
    # know what drove the outcome without reading the reasons, e.g. Coral's FLAG reason). A general label at
    # its reject threshold without an abuse label's agreement is in the "review" band: that is what it did.
    bands: dict[str, str] = field(default_factory=dict)
    # The reason codes of the labels that fired (LABEL_CODES), most severe first.
    codes: list[str] = field(default_factory=list)

    @property
    def severity(self) -> int:
        return severity_of(self.codes)


def codes_for(bands: Mapping[str, str]) -> list[str]:
    """The reason codes of the labels in ``bands``, without repeats, most severe first."""
    codes = {LABEL_CODES[label] for label in bands if label in LABEL_CODES}
    return sorted(codes, key=lambda code: (-SEVERITY.get(code, 0), code))


def severity_of(codes: list[str]) -> int:
    return max((SEVERITY.get(code, 0) for code in codes), default=0)


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
    rejected if spam reaches its reject threshold, or two labels of ``SCORED_FOR_ABUSE``, one of them a clear
    abuse label, reach theirs; else needs_review if any label reaches its review threshold (a label at its
    reject threshold with no second one agreeing is held, and its reason says so); else approved. Reasons
    name the label, the score and the threshold, e.g. ``toxicity 0.93 ≥ reject threshold 0.90``. A label with
    thresholds but no score sends the comment to review: a comment is never approved on a score that is
    missing.
    """
    rejected: dict[str, str] = {}  # label -> its reason
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
            rejected[label] = f"{label} {score:.2f} ≥ reject threshold {limits['reject']:.2f}"
        elif where == "review":
            review.append(f"{label} {score:.2f} ≥ review threshold {limits['review']:.2f}")
        if where != "none":
            bands[label] = where
    # Two labels must agree to reject a comment for abuse: a clear abuse label and the general score, or two
    # abuse labels, each at its reject threshold. One alone holds the comment for a person.
    at_reject = [label for label, where in bands.items() if where == "reject" and label in SCORED_FOR_ABUSE]
    if at_reject and not (len(at_reject) >= 2 and any(label in ABUSE_LABELS for label in at_reject)):
        for label in at_reject:
            bands[label] = "review"
            review.insert(0, f"{rejected.pop(label)}; no second label agrees, so a person decides")
    codes = codes_for(bands)
    if rejected:
        return PolicyResult(REJECTED, [*rejected.values(), *review], bands, codes)
    if review:
        return PolicyResult(NEEDS_REVIEW, review, bands, codes)
    if not thresholds:
        return PolicyResult(NEEDS_REVIEW, ["the model has no thresholds; a person must decide"])
    return PolicyResult(APPROVED, ["all scores below review thresholds"])


# --- What the site's context adds (issue 21) ---------------------------------------------------------------

SIGNAL_ACTIONS = ("reject", "review", "trust")


@dataclass(frozen=True)
class Signal:
    """What the site knows about a comment beyond its text: its commenter's state, its story's controls, a
    word list entry, a context signal (a link in a new commenter's first comment, a copy of the same text...).
    Collected by ``moderation.selectors.context.signals_for`` and applied by ``apply_signals``.

    ``action``: "reject" (the comment is rejected whatever the scores), "review" (held at least), "trust"
    (approved unless the model's own outcome is a rejection). ``code``: a short reason code shown as a badge
    and stored with the comment's codes; ``reason``: the sentence a moderator and the site read."""

    action: str
    code: str
    reason: str

    def __post_init__(self):
        if self.action not in SIGNAL_ACTIONS:
            raise ValueError(f"Signal.action must be one of {SIGNAL_ACTIONS}, not {self.action!r}")


def apply_signals(
    outcome: str, reasons: list[str], codes: list[str], signals: Sequence[Signal]
) -> tuple[str, list[str], list[str]]:
    """The outcome, reasons and codes once the site's context is applied to the model's verdict. A reject
    signal rejects; a review signal holds a comment the model would approve, and also one a trusted commenter
    posts; trust approves what the model would only hold (never what it rejects). The signals' reasons come
    first, so the card says what decided."""
    if not signals:
        return outcome, reasons, codes
    by_action: dict[str, list[Signal]] = {action: [] for action in SIGNAL_ACTIONS}
    for signal in signals:
        by_action[signal.action].append(signal)
    if by_action["reject"]:
        fired = by_action["reject"]
        outcome = REJECTED
    elif by_action["review"]:
        fired = by_action["review"]
        outcome = REJECTED if outcome == REJECTED else NEEDS_REVIEW
    elif outcome == NEEDS_REVIEW:
        fired = by_action["trust"]
        outcome = APPROVED
    else:
        return outcome, reasons, codes
    codes = list(dict.fromkeys([*(s.code for s in fired), *codes]))
    return outcome, [*(s.reason for s in fired), *reasons], codes


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


# The labels whose scores rank the review queue and the workload benchmark's "caught at N% held": the general
# score. (The abuse labels order the queue through severity first; their raw scores are not on toxicity's
# scale.)
PRIORITY_LABELS = ("toxicity",)


def review_priority(scores: Mapping[str, float] | None) -> float:
    """One number to rank comments for review by: the highest score of ``PRIORITY_LABELS`` (0 if unscored)."""
    if not scores:
        return 0.0
    return max((float(scores[label]) for label in PRIORITY_LABELS if label in scores), default=0.0)
