"""The fine-tuned second stage: training the top encoder layers, shipping them inside the artifact, and
loading them over the packaged base model. Tests that need torch and the real all-MiniLM-L6-v2 are skipped
where the `embeddings` extra is not installed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.training.conftest import small_config
from training import embedding
from training.offline.finetune import _length_grouped_batches, top_layers
from training.offline.pipeline import ConfigError, TrainingConfig, save_model, train_model
from training.runtime import ArtifactError, ModelArtifact, load_model

needs_embeddings = pytest.mark.skipif(
    not embedding.available(), reason=f"the embeddings extra is not installed ({embedding.INSTALL_HINT})"
)

TEXTS = [
    "Thanks for the thoughtful article.",
    "The council approved the budget on Tuesday.",
    "Pakistan is cautious about recognising the Taliban government.",
    "you are a stupid worthless idiot",
    "shut up you moron",
    "what a pathetic loser you are",
] * 6


def test_length_grouped_batches_cover_every_row_once():
    lengths = np.random.default_rng(1).integers(1, 500, size=1003)
    batches = _length_grouped_batches(lengths, 32, np.random.default_rng(2))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1003))
    assert max(len(b) for b in batches) == 32
    # rows of a batch have similar lengths: far less spread than random batches of the same size
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) == 32])
    assert spread < 100


def test_top_layers_are_the_last_indexes():
    assert top_layers(6, 3) == [3, 4, 5]
    with pytest.raises(ValueError, match="1..6"):
        top_layers(6, 7)


def test_config_validates_the_fine_tuning_fields():
    with pytest.raises(ConfigError, match="second_stage_finetune_layers must be in 0..6"):
        TrainingConfig(second_stage_finetune_layers=7).validate()
    with pytest.raises(ConfigError, match="second_stage_finetune_lr"):
        TrainingConfig(second_stage_finetune_lr=0).validate()
    with pytest.raises(ConfigError, match="second_stage_head_lr"):
        TrainingConfig(second_stage_head_lr=1).validate()
    with pytest.raises(ConfigError, match="second_stage_vector must be 'mean_pooled' or 'normalised', got"):
        TrainingConfig(second_stage_vector="cls").validate()


def test_state_digest_changes_with_any_weight():
    state = {"encoder.layer.5.output.dense.bias": np.zeros(384, dtype=np.float16)}
    changed = {"encoder.layer.5.output.dense.bias": np.zeros(384, dtype=np.float16)}
    changed["encoder.layer.5.output.dense.bias"][7] = 1
    assert embedding.state_digest(state) == embedding.state_digest(dict(state))
    assert embedding.state_digest(state) != embedding.state_digest(changed)


@needs_embeddings
def test_finetuning_trains_only_the_top_layers_and_rounds_them_to_float16():
    from training.offline.finetune import finetune_encoder

    base = embedding.new_sentence_model()
    model = embedding.new_sentence_model()
    y = np.array([0, 0, 0, 1, 1, 1] * 6, dtype=np.float32)
    tuned = finetune_encoder(model, TEXTS, y, np.ones(len(TEXTS)), layers=1, lr=1e-3, batch_size=8, seed=3)
    assert tuned.state and all(name.startswith("encoder.layer.5.") for name in tuned.state)
    assert all(a.dtype == np.float16 for a in tuned.state.values())
    assert tuned.coef.shape == (embedding.EMBEDDING_DIM,) and tuned.rows == len(TEXTS)
    own, before = model[0].auto_model.state_dict(), base[0].auto_model.state_dict()
    for name, tensor in own.items():
        if name in tuned.state:
            assert np.array_equal(tensor.numpy(), tuned.state[name].astype(np.float32))  # what ships
        else:
            assert np.array_equal(tensor.numpy(), before[name].numpy()), name  # frozen
    assert any(not np.array_equal(own[n].numpy(), before[n].numpy()) for n in tuned.state)


@needs_embeddings
def test_the_head_starts_at_the_weighted_base_rate():
    """A head started at 0.5 stays near it after one short epoch and lifts every blended score."""
    from training.offline.finetune import finetune_encoder

    y = np.array([1, 0, 0, 0, 0, 0] * 6, dtype=np.float32)
    w = np.array([2, 1, 1, 1, 1, 1] * 6, dtype=np.float32)  # weighted base rate 2/7
    tuned = finetune_encoder(
        embedding.new_sentence_model(), TEXTS, y, w, layers=1, lr=1e-12, head_lr=1e-12, batch_size=12
    )
    assert tuned.intercept == pytest.approx(np.log((2 / 7) / (5 / 7)), abs=1e-4)


@needs_embeddings
def test_a_target_matrix_trains_one_head_per_column_and_skips_unknown_cells():
    from training.offline.finetune import finetune_encoder

    y = np.array([[1, np.nan], [0, np.nan], [0, 1], [0, 0], [np.nan, 0], [np.nan, 0]] * 6, dtype=np.float64)
    w = np.ones(len(TEXTS))
    tuned = finetune_encoder(
        embedding.new_sentence_model(), TEXTS, y, w, layers=1, lr=1e-12, head_lr=1e-12, batch_size=12
    )
    assert tuned.coef.shape == (embedding.EMBEDDING_DIM,)
    assert tuned.extra_coef.shape == (1, embedding.EMBEDDING_DIM) and tuned.extra_intercepts.shape == (1,)
    # each head starts at the base rate of the rows that know its column: 1/4 and 1/4
    assert tuned.intercept == pytest.approx(np.log(1 / 3), abs=1e-4)
    assert tuned.extra_intercepts[0] == pytest.approx(np.log(1 / 3), abs=1e-4)
    single = finetune_encoder(
        embedding.new_sentence_model(), TEXTS, y[:, 0], w, layers=1, lr=1e-12, head_lr=1e-12, batch_size=12
    )
    assert single.extra_coef is None and single.extra_intercepts is None
    with pytest.raises(ValueError, match="at least one known row"):
        finetune_encoder(embedding.new_sentence_model(), TEXTS, np.full((len(TEXTS), 2), np.nan), w)


@needs_embeddings
def test_the_head_reads_at_scoring_time_the_vector_it_was_trained_on():
    """78cef803's head was trained on mean-pooled vectors and read L2-normalised ones when scoring."""
    import dataclasses

    import torch

    from training.offline.finetune import finetune_encoder

    y = np.array([0, 0, 0, 1, 1, 1] * 6, dtype=np.float32)
    model = embedding.new_sentence_model()
    tuned = finetune_encoder(model, TEXTS, y, np.ones(len(TEXTS)), layers=1, lr=1e-3, batch_size=8, seed=3)
    # built as an artifact pickled before the `vector` field reads: the class default
    old = embedding.SecondStage(
        label="toxicity",
        coef=tuned.coef,
        intercept=tuned.intercept,
        alpha=1.0,
        band=(0.0, 1.0),
        thresholds={},
        embedder=embedding.embedder_identity(),
        encoder_state=tuned.state,
    )
    stage = dataclasses.replace(old, vector=embedding.MEAN_POOLED)
    texts = TEXTS[:6]
    trained_on = embedding.without_normalize(model)  # what finetune_encoder feeds the head
    trained_on.eval()
    with torch.no_grad():
        training_vectors = embedding.sentence_vectors(trained_on, texts).numpy()
    scoring_vectors = embedding.finetuned_embedder(stage).encode(texts)
    np.testing.assert_allclose(scoring_vectors, training_vectors, atol=1e-5)
    assert np.all(np.linalg.norm(scoring_vectors, axis=1) > 1.5)  # mean-pooled, not L2-normalised
    # an older stage (no `vector`: the class default) still reads the packaged model's normalised output
    np.testing.assert_allclose(
        np.linalg.norm(embedding.finetuned_embedder(old).encode(texts), axis=1), 1.0, atol=1e-5
    )
    unknown = dataclasses.replace(old, vector="cls")
    with pytest.raises(embedding.EmbeddingUnavailable, match="reads 'cls' vectors"):
        embedding.finetuned_embedder(unknown)


@needs_embeddings
def test_load_layers_refuses_a_name_or_shape_the_encoder_lacks():
    model = embedding.new_sentence_model()
    with pytest.raises(embedding.EmbeddingUnavailable, match="do not exist"):
        embedding.load_layers(model, {"encoder.layer.9.output.dense.bias": np.zeros(384, dtype=np.float16)})
    with pytest.raises(embedding.EmbeddingUnavailable, match=r"has shape \(10,\)"):
        embedding.load_layers(model, {"encoder.layer.5.output.dense.bias": np.zeros(10, dtype=np.float16)})


@pytest.fixture(scope="module")
def finetuned_model(tmp_path_factory):
    if not embedding.available():
        pytest.skip(f"the embeddings extra is not installed ({embedding.INSTALL_HINT})")
    config = small_config(second_stage=True, second_stage_max_rows=300, second_stage_finetune_layers=1)
    return save_model(
        train_model(config, progress=lambda _: None), tmp_path_factory.mktemp("ft") / "ft.joblib"
    )


@needs_embeddings
def test_a_finetuned_stage_ships_in_the_artifact_and_scores_what_training_measured(finetuned_model):
    stage = finetuned_model._payload["second_stage"]
    assert stage.finetuned and all(n.startswith("encoder.layer.5.") for n in stage.encoder_state)
    assert stage.vector == embedding.MEAN_POOLED
    meta = finetuned_model.metadata["metrics"]["second_stage"]
    assert meta["finetuned"]["vector"] == embedding.MEAN_POOLED
    assert meta["finetuned"]["layers"] == 1 and meta["finetuned"]["sha256"] == embedding.state_digest(
        stage.encoder_state
    )
    assert set(meta["validation_roc_auc_by_alpha"]) == {"0.1", "0.3", "0.5", "0.7", "1.0"}
    on = load_model(finetuned_model.path, second_stage=True)
    assert on.stages == "fast+embedding"
    texts = ["Thanks for the thoughtful article.", "shut up you stupid moron"]
    fast = [s["toxicity"] for s in finetuned_model.score(texts)]
    staged = [s["toxicity"] for s in on.score(texts)]
    # by hand: mean-pooled vectors of the base model with the stage's layers (no Normalize) and the head
    model = embedding.new_sentence_model()
    embedding.load_layers(model, stage.encoder_state)
    vectors = model[1](model[0](model.preprocess(on._normalizer.transform(texts))))["sentence_embedding"]
    head = stage.head_proba(vectors.detach().numpy())
    for i in range(2):
        if stage.in_band(np.array([fast[i]]))[0]:
            assert staged[i] == pytest.approx(stage.alpha * head[i] + (1 - stage.alpha) * fast[i], abs=1e-5)
        else:
            assert staged[i] == fast[i]


@needs_embeddings
def test_a_finetuned_stage_with_a_bad_layer_is_refused_but_the_fast_stage_loads(finetuned_model, tmp_path):
    import dataclasses

    stage = finetuned_model._payload["second_stage"]
    name = sorted(stage.encoder_state)[0]
    broken = dataclasses.replace(
        stage, encoder_state={**stage.encoder_state, name: np.zeros(3, dtype=np.float16)}
    )
    payload = dict(finetuned_model._payload, second_stage=broken)
    path = save_model(ModelArtifact(payload, dict(finetuned_model.metadata)), tmp_path / "bad.joblib").path
    with pytest.raises(ArtifactError, match=rf"MODERATION_SECOND_STAGE=on: .*{name} has shape \(3,\)"):
        load_model(path, second_stage=True)
    assert load_model(path, second_stage=False).stages == "fast"


@needs_embeddings
def test_a_finetuned_stage_on_another_base_model_is_refused(finetuned_model, tmp_path):
    import dataclasses

    stage = finetuned_model._payload["second_stage"]
    other = dataclasses.replace(stage, embedder={**stage.embedder, "weights_sha256": "cd" * 32})
    payload = dict(finetuned_model._payload, second_stage=other)
    path = save_model(ModelArtifact(payload, dict(finetuned_model.metadata)), tmp_path / "other.joblib").path
    with pytest.raises(ArtifactError, match="install the same version or retrain"):
        load_model(path, second_stage=True)


@needs_embeddings
def test_second_stage_seed_reseeds_the_stage_alone(finetuned_model):
    """Another `second_stage_seed`: the same split and fast stage, another sample and fine-tuning run."""
    config = small_config(
        second_stage=True, second_stage_max_rows=300, second_stage_finetune_layers=1, second_stage_seed=7
    )
    other = train_model(config, progress=lambda _: None)
    texts = ["Thanks for the thoughtful article.", "shut up you stupid moron"]
    assert other.score(texts) == finetuned_model.score(texts)  # the fast stage
    assert other.metadata["training_data"] == finetuned_model.metadata["training_data"]
    ours, theirs = (m._payload["second_stage"] for m in (finetuned_model, other))
    assert embedding.state_digest(ours.encoder_state) != embedding.state_digest(theirs.encoder_state)


@needs_embeddings
def test_a_forked_child_scores_with_the_finetuned_stage(finetuned_model):
    """A prefork worker loads the model in its parent and scores in forked children: the fine-tuned layers'
    load uses torch's thread pool, which hung every child before the fork guard."""
    import os
    import signal
    import time

    on = load_model(finetuned_model.path, second_stage=True)
    text = ["shut up you stupid moron, the council was right"]
    expected = on.score(text)[0]["toxicity"]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its score
        os.write(write, repr(on.score(text)[0]["toxicity"]).encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    if done[0] == 0:  # hung in torch's thread pool, where no Python signal handler runs
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not finish scoring in 60 s")
    status = done[1]
    got = os.read(read, 100).decode()
    os.close(read)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child ended with status {status}"
    assert float(got) == pytest.approx(expected, abs=1e-5)
