"""The building blocks of `python -m benchmarks adaptation`: which labels each simulated site feeds in and
which it holds out. The figures themselves are the benchmark's job."""

import pytest

from benchmarks import adaptation as bench
from training.offline import datasets


def test_label_steps_end_with_the_whole_pool():
    assert bench.label_steps(1143) == [0, 250, 1000, 1143]
    assert bench.label_steps(600) == [0, 250, 600]
    assert bench.label_steps(1000) == [0, 250, 1000]


def test_fox_news_is_split_by_article():
    site = bench.fox_news_site()
    rows = datasets.read_rows(
        datasets.data_dir() / "fox_news_comments_hate" / "data.csv", ["text", "article_title"]
    )
    article = {}
    for r in rows:
        article.setdefault(r["text"], set()).add(r["article_title"])
    pool_articles = set().union(*(article[t] for t in site.pool_texts))
    held_articles = set().union(*(article[t] for t in site.holdout.texts))
    assert len(held_articles) == 3 and len(pool_articles) == 7 and not pool_articles & held_articles
    assert len(site.pool_texts) + len(site.holdout.texts) == len(rows)
    assert len(site.pool_toxic) == len(site.pool_texts)


def test_the_civil_comments_site_holds_out_the_test_split_and_never_a_training_row():
    seed = 20261127
    site = bench.civil_comments_site(seed)
    for text in site.pool_texts[:300]:
        assert datasets.split_of(datasets.match_key(text), seed) == "val"
    for text in site.holdout.texts[:300]:
        assert datasets.split_of(datasets.match_key(text), seed) == "test"
    assert not set(site.pool_texts) & set(site.holdout.texts)
    assert 0 < sum(site.holdout.toxic) < len(site.holdout.toxic)


def test_the_review_budget_is_the_share_the_shared_model_flags():
    from training.runtime import default_model_path, load_model

    model = load_model(default_model_path(), second_stage=False)
    scored = model.score(["you are a worthless idiot", "thanks for the report", "see you at the meeting"])
    assert bench.flagged_share(model, scored, 0) == 0.0
    assert bench.flagged_share(model, scored, 3) == pytest.approx(1 / 3)
    assert bench.flagged_share(model, scored[1:], 2) == 0.01  # never a zero budget
