"""`python -m training refit` (training.offline.refit): one fast-stage head fitted again on the real sources,
over the shipped model's own features (a few dozen rows a source, so it takes seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.labels import LABELS
from training.offline.cli import main
from training.offline.refit import RefitConfig, refit_heads
from training.runtime import load_model

pytestmark = pytest.mark.trains

TEXTS = [
    "Thanks, this was a useful article about the border talks.",
    "I made $40,000 in two weeks with an investment manager. Message her on WhatsApp +1 555 0101.",
    "You are an idiot and everyone here knows it.",
    "Great post! I wrote about the same topic at www.example-deals.xyz, check it out.",
]


def test_refit_changes_only_the_spam_head_and_records_what_it_learned(tmp_path):
    shipped = load_model(second_stage=False)
    model = refit_heads(
        None, tmp_path / "refit.joblib", RefitConfig(labels=("spam",), max_rows_per_source=60), lambda _: None
    )
    refit = load_model(model.path, second_stage=False)
    assert refit.version != shipped.version
    before, after = shipped.score(TEXTS), refit.score(TEXTS)
    for b, a in zip(before, after, strict=True):
        assert {k: v for k, v in a.items() if k != "spam"} == {k: v for k, v in b.items() if k != "spam"}
    assert [a["spam"] for a in after] != [b["spam"] for b in before]
    j = LABELS.index("spam")
    old, new = shipped._payload["heads"], refit._payload["heads"]
    others = [i for i in range(len(LABELS)) if i != j]
    assert np.array_equal(old.coef_[:, others], new.coef_[:, others])
    assert refit._payload["features"] is not None and "spam" in refit.thresholds
    sidecar = json.loads(model.path.with_suffix(".json").read_text())
    assert sidecar["refit"]["from_model"] == shipped.version
    names = {d["name"] for d in sidecar["refit"]["training_data"]}
    assert {"instagram_scam_comments", "wordpress_blog_spam", "youtube_spam_collection"} <= names
    validation = sidecar["refit"]["report"]["spam"]["validation"]
    assert "roc_auc_before" in next(iter(validation.values()))
    # the other labels' thresholds are the shipped ones
    assert {k: v for k, v in refit.thresholds.items() if k != "spam"} == {
        k: v for k, v in shipped.thresholds.items() if k != "spam"
    }


def test_refit_refuses_an_unknown_label_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["refit", "--labels", "scams", "--out", str(tmp_path / "x.joblib")])
    assert exc.value.code == 2
    assert "scams" in capsys.readouterr().err
    with pytest.raises(ValueError, match="labels: \\['scams'\\]"):
        refit_heads(None, tmp_path / "x.joblib", RefitConfig(labels=("scams",)), lambda _: None)


def _without_phone_block(features, heads):
    """The shipped model's features and heads as they were before it had a phone-number block."""
    import copy

    names = [name for name, _ in features.transformer_list]
    if "phone" not in names:
        return features, heads
    assert names[-1] == "phone"
    features, heads = copy.copy(features), copy.copy(heads)
    features.transformer_list = features.transformer_list[:-1]
    heads.coef_ = heads.coef_[:-1]
    return features, heads


def test_adding_the_phone_block_changes_no_score_until_a_head_is_fitted_on_it():
    from training.offline.refit import with_phone_features

    shipped = load_model(second_stage=False)
    features, heads = _without_phone_block(shipped._payload["features"], shipped._payload["heads"])
    normalised = shipped._normalizer.transform(TEXTS)
    before = heads.predict_proba(features.transform(normalised))
    features2, heads2, added = with_phone_features(features, heads)
    assert added and [name for name, _ in features2.transformer_list][-1] == "phone"
    assert "phone" not in [name for name, _ in features.transformer_list]  # the input is left as it was
    x = features2.transform(normalised)
    assert x.shape[1] == heads2.coef_.shape[0] == heads.coef_.shape[0] + 1
    assert x[1, -1] > 0 and x[0, -1] == 0  # the WhatsApp number, and the civil comment
    assert np.array_equal(heads2.predict_proba(x), before)
    assert with_phone_features(features2, heads2) == (features2, heads2, False)


def test_refit_with_the_phone_block_fits_spam_on_it_and_keeps_every_other_score(tmp_path):
    shipped = load_model(second_stage=False)
    model = refit_heads(
        None,
        tmp_path / "refit.joblib",
        RefitConfig(labels=("spam",), max_rows_per_source=60, add_phone_features=True),
        lambda _: None,
    )
    refit = load_model(model.path, second_stage=False)
    assert [name for name, _ in refit._payload["features"].transformer_list][-1] == "phone"
    assert refit.n_features == refit.feature_matrix(TEXTS).shape[1]
    for b, a in zip(shipped.score(TEXTS), refit.score(TEXTS), strict=True):
        assert {k: v for k, v in a.items() if k != "spam"} == {k: v for k, v in b.items() if k != "spam"}
    sidecar = json.loads(model.path.with_suffix(".json").read_text())
    assert sidecar["config"]["phone_features"] is True
    assert sidecar["n_features"] == refit.n_features
    # a phone number is never shown to a moderator as a word that raised the score
    assert all(word != "phone_number" for word, _ in refit.explain(TEXTS[1], "spam"))
