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
