"""`python -m training restage` (training.offline.restage): the second stage's encoder layers fine-tuned
again on toxicity and the hate sets together, over the shipped fast stage (a few dozen rows, seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training import embedding
from training.offline.cli import main
from training.offline.restage import RestageConfig, restage
from training.runtime import load_model

pytestmark = [
    pytest.mark.skipif(
        not embedding.available(), reason=f"needs the embeddings extra ({embedding.INSTALL_HINT})"
    ),
    pytest.mark.trains,
]

TEXTS = ["Thanks, this was a useful article.", "Those people are vermin and should be wiped out."]


def test_restage_trains_the_layers_with_a_head_per_label_and_keeps_the_fast_stage(tmp_path):
    config = RestageConfig(hate_rows=40, max_rows_per_source=20, toxicity_rows=40)
    model = restage(None, tmp_path / "restaged.joblib", config, lambda _: None)
    shipped = load_model(second_stage=False)
    fast = load_model(model.path, second_stage=False)
    assert fast.score(TEXTS) == shipped.score(TEXTS)  # the fast stage is the artifact's
    stage = fast._payload["second_stage"]
    old = shipped._payload["second_stage"]
    assert stage.onnx is None and stage.vector == embedding.MEAN_POOLED
    assert set(stage.encoder_state) == set(old.encoder_state)
    assert any(not np.array_equal(stage.encoder_state[k], old.encoder_state[k]) for k in stage.encoder_state)
    assert stage.embedder["finetuned_sha256"] == embedding.state_digest(stage.encoder_state)
    assert [head.label for head in stage.heads] == ["identity_attack", "threat"]
    assert all(head.coef.shape == (embedding.EMBEDDING_DIM,) for head in stage.heads)
    sidecar = json.loads(model.path.with_suffix(".json").read_text())
    assert sidecar["restage"]["from_model"] == shipped.version
    assert sidecar["restage"]["hate_rows"] == 40 and sidecar["restage"]["toxicity_rows"] == 40
    # the torch path scores it (export-onnx would give the served graph)
    staged = load_model(model.path, second_stage=True)
    assert staged.stage_head_labels == ["identity_attack", "threat"]
    assert all(0.0 <= s["identity_attack"] <= 1.0 for s in staged.score(TEXTS))


def test_restage_adds_group_swapped_copies_of_the_hate_rows(tmp_path):
    config = RestageConfig(hate_rows=120, max_rows_per_source=60, toxicity_rows=20, identity_swaps=1)
    lines: list[str] = []
    model = restage(None, tmp_path / "swapped.joblib", config, lines.append)
    counts = json.loads(model.path.with_suffix(".json").read_text())["restage"]["identity_swaps"]
    # positives and negatives of identity_attack that name a group are both copied
    assert counts["identity_swap_rows_naming_a_group"] > 0
    assert counts["identity_swap_negative_rows_naming_a_group"] > 0
    copies = counts["identity_swap_rows"] + counts["identity_swap_negative_rows"]
    assert copies > 0
    assert f"+ {copies} group-swapped copies" in lines[0]


def test_restage_refuses_a_negative_row_count(tmp_path, capsys):
    for flag in ("--hate-rows", "--identity-swaps"):
        assert main(["restage", "--out", str(tmp_path / "x.joblib"), flag, "-1"]) == 2
        assert f"{flag} must be >= 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="hate_rows"):
        restage(None, tmp_path / "x.joblib", RestageConfig(hate_rows=-1), lambda _: None)
    with pytest.raises(ValueError, match="identity_swaps"):
        restage(None, tmp_path / "x.joblib", RestageConfig(identity_swaps=-1), lambda _: None)
    # swaps copy hate rows: asking for them without any is refused, not silently ignored
    out = tmp_path / "x.joblib"
    assert main(["restage", "--out", str(out), "--hate-rows", "0", "--identity-swaps", "1"]) == 2
    assert "--identity-swaps copies hate rows" in capsys.readouterr().err
    with pytest.raises(ValueError, match="needs hate_rows"):
        restage(None, out, RestageConfig(hate_rows=0, identity_swaps=1), lambda _: None)
    assert not out.exists()


def test_restage_adds_the_threat_sentences_and_their_civil_twins(tmp_path, capsys):
    config = RestageConfig(hate_rows=0, max_rows_per_source=20, toxicity_rows=20, threat_sentences=15)
    lines: list[str] = []
    model = restage(None, tmp_path / "threats.joblib", config, lines.append)
    counts = json.loads(model.path.with_suffix(".json").read_text())["restage"]["threat_sentences"]
    assert counts == {"threat_sentences": 15, "threat_civil_sentences": 15, "threat_sentences_dropped": 0}
    assert "+ 30 threat sentences and twins" in lines[0]
    assert [head.label for head in load_model(model.path)._payload["second_stage"].heads] == [
        "identity_attack",
        "threat",
    ]
    assert main(["restage", "--out", str(tmp_path / "x.joblib"), "--threat-sentences", "-1"]) == 2
    assert "--threat-sentences must be >= 0" in capsys.readouterr().err
