"""The news desk's default thresholds (training.offline.thresholds): precision on news comments for anything
that can reject, a review budget for the general score, nothing held that a comment with no words scores."""

from __future__ import annotations

import numpy as np

from training.offline.thresholds import ThresholdRule, choose, precision_threshold

LABELS = ["toxicity", "insult", "spam"]


class FakeModel:
    """Scores are written into the texts: "tox insult spam|words"; a text without "|" has no words."""

    labels = LABELS
    thresholds = {"spam": {"reject": 0.6, "review": 0.3}}

    def score(self, texts):
        out = []
        for text in texts:
            if "|" not in text:
                out.append({"toxicity": 0.08, "insult": 0.01, "spam": 0.0})
                continue
            tox, insult, spam = (float(x) for x in text.split("|")[0].split())
            out.append({"toxicity": tox, "insult": insult, "spam": spam})
        return out


def test_precision_threshold_is_the_lowest_score_that_keeps_the_precision():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    toxic = np.array([True, True, True, False, True])
    assert precision_threshold(scores, toxic, 1.0, 1) == 0.7
    assert precision_threshold(scores, toxic, 0.8, 1) == 0.5
    assert precision_threshold(scores, toxic, 1.0, 4) is None  # too few flagged at that precision


def sample(n_news_toxic_high=30):
    rng = np.random.default_rng(0)
    texts, toxic, news = [], [], []
    for i in range(400):  # news comments: toxic ones score high on toxicity, insult fires on some civil ones
        is_toxic = i < 80
        tox = rng.uniform(0.6, 1.0) if is_toxic else rng.uniform(0.0, 0.7)
        insult = (
            rng.uniform(0.5, 1.0)
            if is_toxic
            else rng.uniform(0.5, 0.8)
            if i % 10 == 0
            else rng.uniform(0, 0.3)
        )
        spam = 0.5 if i == 100 else rng.uniform(0.0, 0.2)  # one published comment with a link
        texts.append(f"{tox} {insult} {spam}|text {i}")
        toxic.append(is_toxic)
        news.append(True)
    for i in range(400):  # pooled (non-news) comments: insult is precise there
        is_toxic = i < 100
        insult = rng.uniform(0.5, 1.0) if is_toxic else rng.uniform(0.0, 0.4)
        texts.append(f"{rng.uniform(0.5, 1.0) if is_toxic else 0.1} {insult} 0.0|wiki {i}")
        toxic.append(is_toxic)
        news.append(False)
    return texts, np.array(toxic), np.array(news)


def test_choose_requires_precision_on_news_and_fits_the_budget():
    texts, toxic, news = sample()
    thresholds, report = choose(FakeModel(), ThresholdRule(min_flagged_news=10), texts, toxic, news)
    # insult is precise on the pooled rows from 0.5, but on news comments it fires on civil ones up to 0.8:
    # its reject threshold keeps the precision on news comments too
    insult = np.array([float(t.split()[1]) for t in texts])
    pooled_only = precision_threshold(insult[~news], toxic[~news], 0.95, 20)
    assert pooled_only < 0.5 < 0.75 < thresholds["insult"]["reject"] < 1.0
    flagged = insult[news] >= thresholds["insult"]["reject"]
    assert flagged.sum() >= 10 and toxic[news][flagged].mean() >= 0.95
    # spam's reject is above every published news comment's spam score
    assert thresholds["spam"]["reject"] > 0.5 and thresholds["spam"]["review"] == 0.3
    # the budget: at most 15% of the news comments, weighed to an 8% toxic rate, are flagged
    fit = report["toxicity"]["budget"]
    assert fit["flagged_share"] <= 0.15 + 1e-9 and fit["review"] > 0.08
    assert thresholds["toxicity"]["review"] <= thresholds["toxicity"]["reject"]


def test_no_review_threshold_at_or_below_what_no_words_score():
    texts, toxic, news = sample()
    thresholds, report = choose(FakeModel(), ThresholdRule(review_budget=0.9), texts, toxic, news)
    assert report["no_words_scores"]["toxicity"] == 0.08
    assert thresholds["toxicity"]["review"] > 0.08


def test_a_label_rescored_by_a_stage_head_gets_a_small_review_budget_of_its_own():
    """identity hate and threats from sentence vectors (training.offline.heads): held at most
    `severe_review_share` of the civil validation comments, never rejected alone unless precise."""

    class HeadModel(FakeModel):
        stage_head_labels = ["insult"]

    texts, toxic, news = sample()
    rule = ThresholdRule(min_flagged_news=10, severe_review_share=0.02)
    thresholds, report = choose(HeadModel(), rule, texts, toxic, news)
    insult = np.array([float(t.split()[1]) for t in texts])
    civil_flagged = (insult[~toxic] >= thresholds["insult"]["review"]).mean()
    assert 0.0 < civil_flagged <= 0.02 + 1e-9
    assert report["insult"]["severe_review_share"] == 0.02
    assert thresholds["insult"]["review"] <= thresholds["insult"]["reject"]
    # without the head the same label keeps the precision rule (a higher review threshold)
    plain, _ = choose(FakeModel(), rule, texts, toxic, news)
    assert plain["insult"]["review"] > thresholds["insult"]["review"]
