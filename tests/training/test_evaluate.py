"""The bias audits of `training.evaluate` on small hand-made inputs."""

from __future__ import annotations

import csv

import numpy as np

from training.evaluate import NEWS_IDENTITY_TERMS, _bias_audit, news_identity_madlibs


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
