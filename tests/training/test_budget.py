"""The review budget: the general score's review threshold that flags a given share of a sample."""

from __future__ import annotations

import pytest

from training.budget import fit_review_threshold

THRESHOLDS = {"toxicity": {"reject": 0.9, "review": 0.5}, "insult": {"reject": 0.8, "review": 0.8}}


def rows(toxicity, insult=None):
    insult = insult or [0.0] * len(toxicity)
    return [{"toxicity": t, "insult": i} for t, i in zip(toxicity, insult, strict=True)]


def test_flags_at_most_the_budget():
    sample = rows([i / 100 for i in range(100)])
    fit = fit_review_threshold(sample, THRESHOLDS, 0.1)
    flagged = sum(r["toxicity"] >= fit.review for r in sample)
    assert flagged == 10 and fit.flagged_share == 0.1 and 0.89 < fit.review <= 0.9


def test_other_labels_use_up_part_of_the_budget():
    sample = rows([i / 100 for i in range(100)], insult=[0.85] * 5 + [0.0] * 95)  # 5 flagged by insult
    fit = fit_review_threshold(sample, THRESHOLDS, 0.2)
    assert fit.flagged_by_others == 0.05 and fit.flagged_share == pytest.approx(0.2)
    assert 0.84 < fit.review <= 0.85  # 15 by toxicity: 0.85 to 0.99


def test_the_review_threshold_never_goes_above_the_reject_threshold():
    """At its reject threshold the general score holds a comment anyway (it never rejects alone)."""
    sample = rows([i / 100 for i in range(100)])
    fit = fit_review_threshold(sample, THRESHOLDS, 0.05)
    assert fit.review == 0.9 and fit.flagged_share == 0.1 and "reject threshold" in fit.note


def test_over_budget_others_leave_the_general_score_reviewing_only_what_it_would_reject():
    sample = rows([0.1] * 10, insult=[0.9] * 5 + [0.0] * 5)
    fit = fit_review_threshold(sample, THRESHOLDS, 0.2)
    assert fit.review == 0.9 and "over the budget" in fit.note


def test_never_at_or_below_what_no_words_score():
    sample = rows([0.08] * 50 + [0.01] * 50)
    fit = fit_review_threshold(sample, THRESHOLDS, 0.9, floor=0.08)
    assert fit.review > 0.08


def test_weights_stand_for_a_sample_enriched_in_toxic_comments():
    sample = rows([0.9] * 50 + [0.1] * 50)
    # weighed: the 0.9s are 10% of traffic, so a 10% budget flags them all and nothing else
    fit = fit_review_threshold(sample, THRESHOLDS, 0.1, weights=[0.2] * 50 + [1.8] * 50)
    assert 0.1 < fit.review <= 0.9 and fit.flagged_share == pytest.approx(0.1)


def test_bad_budgets_are_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        fit_review_threshold(rows([0.1]), THRESHOLDS, 1.5)
    with pytest.raises(ValueError, match="no scored comments"):
        fit_review_threshold([], THRESHOLDS, 0.1)
