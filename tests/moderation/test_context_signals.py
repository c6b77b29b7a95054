"""The site's context (issue 21) reaches the one verdict: policy.apply_signals and selectors.context."""

from __future__ import annotations

import pytest

from moderation.policy import APPROVED, NEEDS_REVIEW, REJECTED, Signal, apply_signals
from moderation.scoring import judge
from moderation.selectors import context

BAN = Signal("reject", "banned", "the commenter is banned: spam")
HOLD = Signal("review", "premoderated", "the story is pre-moderated")
TRUST = Signal("trust", "trusted", "trusted commenter")


def test_no_signals_change_nothing():
    assert apply_signals(NEEDS_REVIEW, ["toxicity 0.5"], ["toxic"], ()) == (
        NEEDS_REVIEW,
        ["toxicity 0.5"],
        ["toxic"],
    )


@pytest.mark.parametrize(
    "outcome, signals, expected",
    [
        (APPROVED, [BAN], REJECTED),
        (NEEDS_REVIEW, [BAN, TRUST], REJECTED),
        (APPROVED, [HOLD], NEEDS_REVIEW),
        (REJECTED, [HOLD], REJECTED),
        (NEEDS_REVIEW, [TRUST], APPROVED),
        (REJECTED, [TRUST], REJECTED),  # trust never overrides a reject-level verdict
        (APPROVED, [TRUST, HOLD], NEEDS_REVIEW),  # a story's pre-moderation holds a trusted commenter too
    ],
)
def test_outcome(outcome, signals, expected):
    assert apply_signals(outcome, ["model reason"], [], signals)[0] == expected


def test_deciding_signal_reasons_and_codes_come_first():
    outcome, reasons, codes = apply_signals(APPROVED, ["all scores below review thresholds"], [], [BAN])
    assert reasons == ["the commenter is banned: spam", "all scores below review thresholds"]
    assert codes == ["banned"]


def test_signal_action_is_checked():
    with pytest.raises(ValueError, match="action"):
        Signal("delete", "x", "y")


def test_judge_applies_signals_after_the_model_even_without_scores():
    thresholds = {"toxicity": {"review": 0.5, "reject": 0.9}}
    held = judge({"toxicity": 0.1}, thresholds, "v1", text="fine words", signals=[HOLD])
    assert held.outcome == NEEDS_REVIEW
    unscored = judge(None, thresholds, "v1", error="model down", signals=[BAN])
    assert unscored.outcome == REJECTED and unscored.reasons[0] == BAN.reason
    assert judge({"toxicity": 0.9}, thresholds, "v1", text="🙂", signals=[BAN]).outcome == REJECTED


def test_signals_for_concatenates_collectors(monkeypatch):
    items = [context.ContextItem(1, "a", "s", "one"), context.ContextItem(1, "b", "s", "two")]
    monkeypatch.setattr(
        context,
        "COLLECTORS",
        [lambda batch: [(BAN,), ()], lambda batch: [(HOLD,), (TRUST,)]],
    )
    assert context.signals_for(items) == [(BAN, HOLD), (TRUST,)]
    assert context.signals_for([]) == []
