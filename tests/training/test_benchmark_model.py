"""The review-load figures of `benchmarks.model --quality`: clean comments at or above a model's thresholds,
and the neutral story sentences. Real shipped model; the figures themselves are the benchmark's job."""

import numpy as np

from benchmarks import model as bench


def test_negatives_flagged_counts_only_clean_comments_at_each_threshold():
    y = [0, 0, 0, 0, 1, 1]
    scores = [0.05, 0.2, 0.5, 0.9, 0.95, 0.01]
    out = bench._negatives_flagged("ours", y, scores, {"review": 0.2, "reject": 0.8})
    assert out == {"ours_negatives_at_review": 0.75, "ours_negatives_at_reject": 0.25}
    assert bench._negatives_flagged("ours", y, scores, None) == {}
    assert bench._negatives_flagged("ours", [1, 1], [0.1, 0.2], {"review": 0.1, "reject": 0.5}) == {}


def test_neutral_story_sentences_are_scored_against_the_review_threshold(shipped_model):
    out = bench.neutral_sentences(shipped_model)
    assert out["n"] >= 20 and "staged" not in out
    ours = out["ours"]
    texts = bench.neutral_texts()
    assert not any(t.startswith("#") or not t for t in texts)
    scores = np.array([s["toxicity"] for s in shipped_model.score(texts)])
    assert ours["at_review"] == int((scores >= ours["review_threshold"]).sum()) == len(ours["flagged"])
    assert ours["max"] == round(float(scores.max()), 4)
    assert ours["median"] == round(float(np.median(scores)), 4)
    assert all(text in texts for _, text in ours["flagged"])


def test_a_paired_gap_prints_its_interval_and_p_value():
    # the Fox News figures of the shipped model with its second stage against the peer
    d = {"difference": 0.0461, "ci95": [0.0154, 0.0768], "p_value": 0.00321}
    assert bench._gap("stage - peer", d) == "stage - peer +0.046 [+0.015, +0.077] p=0.0032"


def test_two_processes_each_score_every_batch_and_the_rate_counts_both():
    # the fast stage, so it takes seconds; the figure itself is the benchmark's job
    rate = bench.two_process_rate(None, second_stage=False)
    assert isinstance(rate, int) and rate > 0
