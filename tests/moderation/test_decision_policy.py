from moderation.policy import APPROVED, NEEDS_REVIEW, REJECTED, apply_policy, review_priority

THRESHOLDS = {
    "toxicity": {"reject": 0.9, "review": 0.4},
    "insult": {"reject": 0.8, "review": 0.8},
    "spam": {"reject": 0.95, "review": 0.5},
}


def test_low_scores_are_approved():
    result = apply_policy({"toxicity": 0.05, "spam": 0.1, "insult": 0.3, "threat": 0.99}, THRESHOLDS)
    assert result.outcome == APPROVED  # threat has no thresholds here: it does not drive decisions


def test_two_labels_agreeing_reject_with_readable_reasons():
    result = apply_policy({"toxicity": 0.93, "insult": 0.85, "spam": 0.1}, THRESHOLDS)
    assert result.outcome == REJECTED
    assert result.reasons == ["insult 0.85 ≥ reject threshold 0.80", "toxicity 0.93 ≥ reject threshold 0.90"]
    assert result.codes == ["harassment", "toxic"] and result.severity == 2


def test_the_general_score_alone_never_rejects():
    """A civil but heated comment ("hypocrisy", "damn right") can score high on toxicity: a person decides."""
    result = apply_policy({"toxicity": 0.99, "insult": 0.1, "spam": 0.1}, THRESHOLDS)
    assert result.outcome == NEEDS_REVIEW
    assert result.reasons == [
        "toxicity 0.99 ≥ reject threshold 0.90; no second label agrees, so a person decides"
    ]
    assert result.bands == {"toxicity": "review"}


def test_one_abuse_label_alone_holds_for_review():
    result = apply_policy({"toxicity": 0.2, "insult": 0.95, "spam": 0.1}, THRESHOLDS)
    assert result.outcome == NEEDS_REVIEW
    assert result.reasons[0].endswith("no second label agrees, so a person decides")


def test_two_abuse_labels_agreeing_reject_without_the_general_score():
    thresholds = {**THRESHOLDS, "threat": {"reject": 0.5, "review": 0.3}}
    result = apply_policy({"toxicity": 0.1, "insult": 0.9, "threat": 0.6, "spam": 0.0}, thresholds)
    assert result.outcome == REJECTED
    assert result.codes == ["threat", "harassment"] and result.severity == 4


def test_profanity_and_the_general_score_do_not_reject_together():
    """Swearing for emphasis scores on toxicity and obscene; neither is abuse of a person."""
    thresholds = {**THRESHOLDS, "obscene": {"reject": 0.5, "review": 0.5}}
    result = apply_policy({"toxicity": 0.95, "obscene": 0.9, "insult": 0.1, "spam": 0.0}, thresholds)
    assert result.outcome == NEEDS_REVIEW


def test_spam_rejects_alone():
    result = apply_policy({"toxicity": 0.0, "insult": 0.0, "spam": 0.97}, THRESHOLDS)
    assert result.outcome == REJECTED and result.codes == ["spam"]


def test_review_priority_is_the_general_score():
    assert review_priority({"toxicity": 0.7, "insult": 0.9}) == 0.7
    assert review_priority(None) == 0.0


def test_between_thresholds_needs_review():
    result = apply_policy({"toxicity": 0.1, "insult": 0.1, "spam": 0.6}, THRESHOLDS)
    assert result.outcome == NEEDS_REVIEW
    assert result.reasons == ["spam 0.60 ≥ review threshold 0.50"]


def test_reject_wins_over_review_and_keeps_both_reasons():
    result = apply_policy({"toxicity": 0.5, "insult": 0.0, "spam": 0.99}, THRESHOLDS)
    assert result.outcome == REJECTED
    assert len(result.reasons) == 2


def test_threshold_is_inclusive():
    assert apply_policy({"toxicity": 0.9, "insult": 0.8, "spam": 0.0}, THRESHOLDS).outcome == REJECTED


def test_a_missing_score_is_never_approved():
    result = apply_policy({"toxicity": 0.01, "insult": 0.0}, THRESHOLDS)
    assert result.outcome == NEEDS_REVIEW
    assert "spam was not scored" in result.reasons


def test_no_thresholds_means_a_person_decides():
    assert apply_policy({"toxicity": 0.01}, {}).outcome == NEEDS_REVIEW
