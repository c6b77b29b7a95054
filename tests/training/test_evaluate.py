"""The bias audits of `training.offline.evaluate` on small hand-made inputs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training.offline.evaluate import (
    NEWS_IDENTITY_TERMS,
    _bias_audit,
    auc_ci95,
    auc_difference,
    binary_metrics,
    delong,
    news_identity_madlibs,
)


def _madlibs(root, rows):
    folder = root / "bias_madlibs"
    folder.mkdir(parents=True)
    with open(folder / "bias_madlibs_77k.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "toxic"])
        writer.writerows(rows)


def test_news_identities_take_the_place_of_the_template_identity_only(tmp_path):
    _madlibs(
        tmp_path,
        [
            ("kill mexican", 1),
            ("hug gay", 0),
            ("mexican people are lovely", 0),
            ("respect mexican", 0),
            ("Jamie is mexican, not a mexicanist", 0),
            ("hate mexican", 1),
            ("you are a mexican idiot", 1),
        ],
    )
    texts, y, groups = news_identity_madlibs(tmp_path)
    # every third "mexican" template (the 1st and 4th of six), each with every news identity
    per_identity = ["kill {}", "Jamie is {}, not a mexicanist"]
    assert len(texts) == len(NEWS_IDENTITY_TERMS) * 2
    assert texts[:2] == [t.format(NEWS_IDENTITY_TERMS[0]) for t in per_identity]
    assert texts[-2:] == [t.format(NEWS_IDENTITY_TERMS[-1]) for t in per_identity]
    assert y == [1, 0] * len(NEWS_IDENTITY_TERMS)
    assert groups[:3] == [{NEWS_IDENTITY_TERMS[0]}] * 2 + [{NEWS_IDENTITY_TERMS[1]}]


def test_the_news_identity_audit_is_empty_without_templates_to_rewrite(tmp_path):
    _madlibs(tmp_path, [("hug gay", 0), ("kill gay", 1)])
    assert news_identity_madlibs(tmp_path) == ([], [], [])


def test_bias_audit_names_the_identity_whose_civil_mentions_outscore_attacks_elsewhere():
    y = np.array([1, 0] * 20 + [1, 0] * 20)
    groups = [{"shia"}] * 40 + [{"sunni"}] * 40
    # civil "shia" sentences score 0.8, above "sunni" attacks at 0.7: BPSN for shia is 0
    s = np.array([0.9, 0.8] * 20 + [0.7, 0.1] * 20)
    audit = _bias_audit(y, s, groups, None)
    assert audit["worst_bpsn"] == {"value": 0.0, "identity": "shia"}
    assert audit["identities_bpsn_below_0.90"] == ["shia"]
    assert audit["per_identity"]["sunni"]["bpsn_auc"] == 1.0


def _pairwise_delong(y, scores):
    """DeLong's covariance straight from its definition: psi = 1 if a positive outranks a negative, 1/2 on a
    tie; O(positives x negatives), for checking the midrank form."""
    y = np.asarray(y)
    v10, v01 = [], []
    for s in scores:
        s = np.asarray(s, dtype=float)
        diff = s[y == 1][:, None] - s[y == 0][None, :]
        psi = (diff > 0) + 0.5 * (diff == 0)
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    return (
        np.array([v.mean() for v in v10]),
        np.cov(np.vstack(v10)) / (y == 1).sum() + np.cov(np.vstack(v01)) / (y == 0).sum(),
    )


def test_delong_matches_its_pairwise_definition_with_ties():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    a = np.round(y + rng.normal(0, 1.0, 300), 1)  # rounded: many ties, within and across classes
    b = np.round(0.5 * y + rng.normal(0, 1.0, 300), 1)
    aucs, cov = delong(y, a, b)
    want_aucs, want_cov = _pairwise_delong(y, [a, b])
    np.testing.assert_allclose(aucs, want_aucs, rtol=1e-12)
    np.testing.assert_allclose(aucs, [roc_auc_score(y, a), roc_auc_score(y, b)], rtol=1e-12)
    np.testing.assert_allclose(cov, want_cov, rtol=1e-9)


def test_the_auc_interval_is_as_wide_as_a_bootstrap_says():
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.1).astype(int)  # 10% positives, like a held-out toxicity split
    s = y * 1.2 + rng.normal(0, 1.0, 2000)
    lo, hi = auc_ci95(y, s)
    auc = roc_auc_score(y, s)
    assert lo < auc < hi
    boot = []
    for _ in range(600):
        i = rng.integers(0, len(y), len(y))
        boot.append(roc_auc_score(y[i], s[i]))
    assert (hi - lo) / 2 == pytest.approx(1.96 * np.std(boot), rel=0.15)
    assert auc_ci95([1, 1, 1], [0.1, 0.2, 0.3]) is None
    assert binary_metrics([0, 0], [0.1, 0.2])["roc_auc_ci95"] is None


def test_a_paired_difference_needs_more_than_overlapping_intervals():
    """Two scorers that share most of their signal: their intervals overlap, but on the same rows the paired
    test sees that one is better; a scorer against itself differs by exactly zero."""
    rng = np.random.default_rng(11)
    y = (rng.random(3000) < 0.1).astype(int)
    shared = y * 1.0 + rng.normal(0, 1.0, 3000)
    better = shared + y * 0.25
    lo_b, hi_b = auc_ci95(y, better)
    lo_s, hi_s = auc_ci95(y, shared)
    assert lo_b < hi_s  # the intervals overlap
    d = auc_difference(y, better, shared)
    assert d["difference"] > 0 and d["ci95"][0] > 0 and d["p_value"] < 0.001
    same = auc_difference(y, shared, shared)
    assert same["difference"] == 0 and same["p_value"] == 1.0
    with pytest.raises(ValueError, match="both classes"):
        delong([1, 1], [0.2, 0.4])


def test_hatecheck_ranks_toxicity_apart_where_abuse_is_not_hate(shipped_model):
    """HateCheck's abusive-but-not-hateful functionalities are left out of the second AUC, nothing else."""
    from training.offline.evaluate import ABUSIVE_NOT_HATEFUL, hatecheck_report

    out = hatecheck_report(shipped_model)
    per = out["per_functionality"]
    assert set(ABUSIVE_NOT_HATEFUL) <= set(per)
    assert out["n_where_labels_agree"] == out["n"] - sum(per[f]["n"] for f in ABUSIVE_NOT_HATEFUL)
    assert out["roc_auc_where_labels_agree"] > out["roc_auc"]  # measured: 0.599 against 0.526
