"""The HateCheck figures of `benchmarks.workload`: what the policy's outcomes add up to, per kind of case."""

from collections import Counter
from types import SimpleNamespace

from benchmarks import workload as bench


def test_hatecheck_counts_threats_hateful_and_not_hateful_cases_apart():
    rows = [
        {"hateful": "1", "functionality": "threat_dir_h"},
        {"hateful": "1", "functionality": "threat_norm_h"},
        {"hateful": "1", "functionality": "derog_neg_emote_h"},
        {"hateful": "0", "functionality": "counter_quote_nh"},
        {"hateful": "0", "functionality": "ident_neutral_nh"},
    ]
    outcomes = ["needs_review", "approved", "rejected", "needs_review", "approved"]
    out = bench.hatecheck([SimpleNamespace(outcome=o) for o in outcomes], rows)
    assert out["n"] == 5
    assert out["threat_held_or_rejected"]["share"] == 0.5 and out["threat_held_or_rejected"]["n"] == 2
    assert out["hateful_held_or_rejected"]["share"] == round(2 / 3, 4)
    assert out["not_hateful_held_or_rejected"]["share"] == 0.5
    assert out["by_functionality"]["threat_norm_h"] == {"approved": 1}


def test_identity_holds_gives_the_share_held_per_identity_and_the_worst_per_set():
    rows = [
        ("madlibs", "muslim", "Zoe is a kind muslim"),
        ("madlibs", "muslim", "Sam is a fun muslim"),
        ("madlibs", "white", "Zoe is a kind white"),
        ("news_madlibs", "Hazara", "Zoe is a kind Hazara"),
    ]
    outcomes = ["needs_review", "approved", "approved", "rejected"]
    out = bench.identity_holds([SimpleNamespace(outcome=o) for o in outcomes], rows)
    assert out["madlibs"]["civil_held_or_rejected"]["share"] == round(1 / 3, 4)
    assert out["madlibs"]["worst_identity"] == "muslim" and out["madlibs"]["worst"]["share"] == 0.5
    assert out["madlibs"]["by_identity"]["white"]["share"] == 0.0
    assert out["news_madlibs"]["worst"] == {
        "share": 1.0,
        "n": 1,
        "ci95": out["news_madlibs"]["worst"]["ci95"],
    }


def test_identity_rows_are_civil_one_group_each_and_the_same_every_run():
    rows = bench.identity_rows(per_identity=3)
    if not rows:  # a data folder without bias madlibs
        return
    assert rows == bench.identity_rows(per_identity=3)
    assert {r[0] for r in rows} == {"madlibs", "news_madlibs"}
    per = Counter((r[0], r[1]) for r in rows)
    assert max(per.values()) == 3
    assert any(identity == "hazara" for _, identity in per)


def test_name_rows_are_civil_sentences_about_one_person_each_from_madlibs_and_our_measured_names():
    from training.offline.name_augment import split_names

    rows = bench.name_rows(per_name=2)
    assert rows == bench.name_rows(per_name=2)
    ours = {r[1] for r in rows if r[0] == "our_measured_names"}
    assert ours == set(split_names()[1])
    theirs = [r for r in rows if r[0] == "madlibs"]
    if theirs:  # a data folder with bias madlibs
        assert max(Counter(r[1] for r in theirs).values()) == 2
        assert all(text.startswith(name + " is a") for _, name, text in theirs)
    out = bench.identity_holds([SimpleNamespace(outcome="approved") for _ in rows], rows, of="name")
    assert out["our_measured_names"]["civil_held_or_rejected"]["share"] == 0.0
    assert set(out["our_measured_names"]["by_name"]) == ours and "worst_name" in out["our_measured_names"]


def test_caught_at_held_cannot_exceed_the_share_of_toxic_comments_that_fit_in_the_held_share():
    import numpy as np

    toxic = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    perfect = np.arange(10, 0, -1, dtype=float)  # every toxic row first
    assert bench.caught_at(perfect, toxic, 0.2) == 0.4
    assert bench.ceiling_at(toxic, 0.2) == 0.4
    assert bench.ceiling_at(toxic, 0.6) == 1.0


def test_at_the_natural_rate_each_civil_row_stands_for_more_comments_and_fewer_rows_are_held():
    import numpy as np

    toxic = np.array([1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)  # 25% toxic
    w = bench.natural_rate(toxic, 0.1)
    assert abs(2 / (2 + w * 6) - 0.1) < 1e-9  # weighted, 10% toxic: w = 3
    # 20 comments of stream weight: 15% is 3; a toxic row first (1), a civil row (3) would pass 3
    priority = np.array([9, 1, 8, 7, 6, 5, 4, 3], dtype=float)
    assert bench.caught_at(priority, toxic, 0.15, w) == 0.5
    # a stream of 20 with 2 toxic: 15% held (3 comments) could hold both
    assert bench.ceiling_at(toxic, 0.15, w) == 1.0
    assert bench.caught_at(priority, toxic, 0.15) == 0.5  # unweighted: round(1.2) = 1 row


def test_civil_held_to_catch_is_the_civil_share_above_the_threshold_that_holds_that_share_of_toxic():
    import numpy as np

    toxic = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    priority = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.95, 0.65, 0.5, 0.2, 0.05])
    # 80% of toxic = 4 rows: threshold 0.6; civil at or above it: 0.95 and 0.65
    assert bench.civil_held_to_catch(priority, toxic, 0.8) == 0.4
    assert bench.civil_held_to_catch(priority, toxic, 1.0) == 0.8
    assert bench.civil_held_to_catch(priority, np.zeros(10, dtype=bool), 0.8) is None


def test_sweep_moves_only_the_toxicity_review_threshold_and_includes_the_models_own():
    from training.offline.news import NewsSet

    thresholds = {"toxicity": {"review": 0.5, "reject": 1.0}}
    model = SimpleNamespace(thresholds=thresholds, version="v1")
    news_set = NewsSet(
        "s", ["a civil remark", "another remark", "a rude one"], [0, 0, 1], [True, True, False], ""
    )
    scores = [{"toxicity": 0.1}, {"toxicity": 0.3}, {"toxicity": 0.4}]
    out = bench.sweep(model, [(news_set, scores)], thresholds=(0.2, 0.35))
    assert list(out) == ["0.2000", "0.3500", "0.5000"]
    assert out["0.2000"]["s"] == {"civil_held_or_rejected": 0.5, "toxic_held_or_rejected": 1.0}
    assert out["0.3500"]["s"] == {"civil_held_or_rejected": 0.0, "toxic_held_or_rejected": 1.0}
    assert out["0.5000"]["s"] == {"civil_held_or_rejected": 0.0, "toxic_held_or_rejected": 0.0}
    assert thresholds["toxicity"]["review"] == 0.5  # the model's own are left as they were


def test_spam_from_a_new_commenter_gets_the_context_hold_only_when_it_takes_readers_elsewhere():
    thresholds = {"toxicity": {"review": 0.5, "reject": 1.0}, "spam": {"review": 0.5, "reject": 0.99}}
    model = SimpleNamespace(thresholds=thresholds, version="v1")
    rows = [
        {"kind": "promo", "text": "Lose 10kg in 2 weeks with this one weird tea http://slimtea.example.org"},
        {"kind": "promo", "text": "Lose 10kg in 2 weeks with this one weird tea, ask at the pharmacy"},
        {"kind": "scam_loan", "text": "Instant loans, message me on telegram"},
    ]
    scores = [{"toxicity": 0.01, "spam": 0.05}] * 3
    out = bench.from_new_commenter(model, rows, scores)
    assert out == {"promo": {"needs_review": 1, "approved": 1}, "scam_loan": {"needs_review": 1}}


def test_budget_sweep_fits_toxicitys_review_threshold_on_the_models_news_sample_for_each_budget():
    from training.offline.news import NewsSet

    rows = [{"toxicity": v / 10 + 0.05} for v in range(10)]  # 0.05 ... 0.95
    model = SimpleNamespace(
        thresholds={"toxicity": {"review": 0.5, "reject": 1.0}},
        version="v1",
        reference_scores={"rows": rows, "weights": [1.0] * 10},
        score=lambda texts: [{"toxicity": 0.01} for _ in texts],  # what a comment with no words scores
    )
    news_set = NewsSet("s", ["civil", "civil too", "rude"], [0, 0, 1], [True, True, False], "")
    scores = [{"toxicity": 0.3}, {"toxicity": 0.9}, {"toxicity": 0.9}]
    out = bench.budget_sweep(model, [(news_set, scores)], budgets=(0.2, 0.5))
    assert list(out) == ["20%", "50%"]
    fitted = [out[b]["toxicity_review"] for b in out]
    # just above the first score left out: two, then five, of the ten flagged
    assert 0.75 <= fitted[0] < 0.85 and 0.45 <= fitted[1] < 0.55
    assert out["20%"]["sets"]["s"] == {"civil_held_or_rejected": 0.5, "toxic_held_or_rejected": 1.0}
    assert bench.budget_sweep(SimpleNamespace(reference_scores=None), []) == {}
