"""The HateCheck figures of `benchmarks.workload`: what the policy's outcomes add up to, per kind of case."""

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
