"""`python -m training heads` (training.offline.heads): identity hate and threat heads on the second stage's
sentence vectors, fitted on the real hate sets through the shipped model's ONNX encoder (a few dozen rows a
source, so it takes seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.offline.heads import HeadsConfig, fit_heads
from training.onnx_encoder import onnx_available
from training.runtime import load_model

pytestmark = [
    pytest.mark.skipif(not onnx_available(), reason="needs onnxruntime and tokenizers"),
    pytest.mark.trains,
]

TEXTS = [
    "Thanks, this was a useful article about the border talks.",
    "Those people are vermin and should be wiped out of this country.",
    "The minister's statement on the refugees was careful and measured.",
]


def test_heads_rescore_identity_attack_from_the_stage_and_record_what_they_learned(tmp_path):
    config = HeadsConfig(labels=("identity_attack",), max_rows_per_source=15)
    model = fit_heads(None, tmp_path / "heads.joblib", config, progress=lambda _: None)
    staged = load_model(model.path, second_stage=True)
    assert staged.stage_head_labels == ["identity_attack"]
    head = staged._payload["second_stage"].heads[0]
    assert head.coef.shape == (384,) and np.isfinite(head.coef).all() and head.thresholds == {}
    # only identity_attack moves, and only for rows in the stage's band
    fast = load_model(model.path, second_stage=False).score(TEXTS)
    scored = staged.score(TEXTS)
    low, high = staged._payload["second_stage"].band
    for f, s in zip(fast, scored, strict=True):
        assert s["threat"] == f["threat"] and s["spam"] == f["spam"]
        if low <= f["toxicity"] <= high:
            assert s["identity_attack"] != f["identity_attack"]
    sidecar = json.loads(model.path.with_suffix(".json").read_text())
    entry = sidecar["metrics"]["second_stage"]["heads"]["identity_attack"]
    assert entry["training_rows"] > 50 and entry["training_positives"] > 5
    names = {d["name"]: d for d in sidecar["stage_heads"]["training_data"]}
    assert {"hatexplain", "stormfront_hate", "toxigen_seed_statements"} <= set(names)
    assert "share-alike" in names["stormfront_hate"]["licence"]
    assert sidecar["stage_heads"]["from_model"] == load_model().version


def test_a_label_nobody_labels_in_the_sample_is_refused_by_name(tmp_path):
    config = HeadsConfig(labels=("threat",), max_rows_per_source=3)
    with pytest.raises(ValueError, match="head threat: the training rows need both classes"):
        fit_heads(None, tmp_path / "heads.joblib", config, progress=lambda _: None)


def test_the_identity_counterweight_weighs_as_much_as_the_positives(tmp_path, monkeypatch):
    from training.offline import identity_augment

    civil = identity_augment.every_identity_sentence()
    assert len(civil) == len(identity_augment.TEMPLATES) * len(identity_augment.IDENTITIES)
    monkeypatch.setattr(identity_augment, "every_identity_sentence", lambda: civil[:40])
    config = HeadsConfig(labels=("identity_attack",), max_rows_per_source=15, identity_counterweight=True)
    model = fit_heads(None, tmp_path / "heads.joblib", config, progress=lambda _: None)
    entry = json.loads(model.path.with_suffix(".json").read_text())["metrics"]["second_stage"]["heads"][
        "identity_attack"
    ]
    assert entry["identity_counterweight_rows"] == 40
    assert entry["identity_counterweight_each"] > 0


def test_the_threat_sentences_join_the_threat_heads_rows_and_are_counted(tmp_path):
    # (with soft targets too: the share of threat raters, not target >= 0.5)
    config = HeadsConfig(
        labels=("threat",), max_rows_per_source=40, threat_sentences=20, soft_labels=("threat",)
    )
    model = fit_heads(None, tmp_path / "heads.joblib", config, progress=lambda _: None)
    sidecar = json.loads(model.path.with_suffix(".json").read_text())
    entry = sidecar["metrics"]["second_stage"]["heads"]["threat"]
    assert entry["threat_sentences"] == 20 and entry["threat_civil_sentences"] == 20
    assert entry["threat_sentences_dropped"] == 0
    assert entry["training_rows"] > 40  # the real rows, counted apart from the sentences
    assert entry["soft_positive_weight"] > 0
    staged = load_model(model.path, second_stage=True)
    assert staged.stage_head_labels == ["threat"]


def test_the_name_sentences_join_identity_attacks_negatives_weighing_a_share_of_its_positives(
    tmp_path, monkeypatch
):
    from training.offline import name_augment

    made = name_augment.training_sentences()
    monkeypatch.setattr(name_augment, "training_sentences", lambda: made[:30])
    config = HeadsConfig(labels=("identity_attack",), max_rows_per_source=15, name_sentences_weight=0.5)
    model = fit_heads(None, tmp_path / "heads.joblib", config, progress=lambda _: None)
    sidecar = json.loads(model.path.with_suffix(".json").read_text())
    entry = sidecar["metrics"]["second_stage"]["heads"]["identity_attack"]
    assert entry["name_sentences"] == 30 and entry["name_sentences_dropped"] == 0
    assert entry["name_sentences_weight"] == 0.5
    assert sidecar["stage_heads"]["config"]["name_sentences_weight"] == 0.5
