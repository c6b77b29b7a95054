from moderation.policy import APPROVED, NEEDS_REVIEW, REJECTED, apply_policy

THRESHOLDS = {"toxicity": {"reject": 0.9, "review": 0.4}, "spam": {"reject": 0.95, "review": 0.5}}


def test_low_scores_are_approved():
    result = apply_policy({"toxicity": 0.05, "spam": 0.1, "insult": 0.99}, THRESHOLDS)
    assert result.outcome == APPROVED


def test_reject_threshold_rejects_with_a_readable_reason():
    result = apply_policy({"toxicity": 0.93, "spam": 0.1}, THRESHOLDS)
    assert result.outcome == REJECTED
    assert result.reasons == ["toxicity 0.93 ≥ reject threshold 0.90"]


def test_between_thresholds_needs_review():
    result = apply_policy({"toxicity": 0.1, "spam": 0.6}, THRESHOLDS)
    assert result.outcome == NEEDS_REVIEW
    assert result.reasons == ["spam 0.60 ≥ review threshold 0.50"]


def test_reject_wins_over_review_and_keeps_both_reasons():
    result = apply_policy({"toxicity": 0.5, "spam": 0.99}, THRESHOLDS)
    assert result.outcome == REJECTED
    assert len(result.reasons) == 2


def test_threshold_is_inclusive():
    assert apply_policy({"toxicity": 0.9, "spam": 0.0}, THRESHOLDS).outcome == REJECTED


def test_a_missing_score_is_never_approved():
    result = apply_policy({"toxicity": 0.01}, THRESHOLDS)
    assert result.outcome == NEEDS_REVIEW
    assert "spam was not scored" in result.reasons


def test_no_thresholds_means_a_person_decides():
    assert apply_policy({"toxicity": 0.01}, {}).outcome == NEEDS_REVIEW
