"""The second stage through its ONNX encoder: on by default, no torch on the serving path, the same vectors as
torch, verified like every other byte of the artifact, and safe across a fork.

The shipped model carries an int8 ONNX encoder (`python -m training export-onnx`); the tests marked
`needs_embeddings` compare it with the torch path and run the real exporter, and are skipped where the
`embeddings` extra (or onnx) is not installed."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.training.test_verified_loading import _RunsCode, forge_sidecar
from training import embedding
from training.onnx_encoder import INT8, OnnxEncoder, onnx_available
from training.runtime import ArtifactError, ModelArtifact, default_model_path, load_model
from training.verify import allowed_global, check_pickle, pickle_globals

REPO = Path(__file__).resolve().parents[2]
needs_onnxruntime = pytest.mark.skipif(not onnx_available(), reason="onnxruntime / tokenizers not installed")
needs_embeddings = pytest.mark.skipif(
    not (embedding.available() and importlib.util.find_spec("onnx")),
    reason=f"the embeddings extra is not installed ({embedding.INSTALL_HINT})",
)
TEXTS = [
    "Thanks for the thoughtful article, I learned something.",
    "you are a stupid idiot and everyone knows it",
    "The council approved the budget on Tuesday.",
    "Muslims are filthy animals",
    "",
    "word " * 400,  # longer than 128 word pieces: cut, as sentence-transformers cuts it
]


@pytest.fixture(scope="module")
def shipped():
    return load_model(default_model_path(), second_stage=None)


def _stage(model: ModelArtifact):
    return model._payload["second_stage"]


@needs_onnxruntime
def test_the_shipped_stage_is_on_by_default_through_onnx(shipped, monkeypatch):
    monkeypatch.delenv("MODERATION_SECOND_STAGE", raising=False)
    model = load_model(default_model_path())
    assert model.has_onnx_encoder and model.stages == "fast+embedding"
    encoder = _stage(model).onnx_encoder
    assert encoder.precision == INT8 and encoder.vector == _stage(model).vector
    assert model.thresholds["toxicity"] == _stage(model).thresholds
    monkeypatch.setenv("MODERATION_SECOND_STAGE", "off")
    assert load_model(default_model_path()).stages == "fast"
    monkeypatch.setenv("MODERATION_SECOND_STAGE", "auto")
    assert load_model(default_model_path()).stages == "fast+embedding"


def test_a_stage_without_onnx_stays_off_by_default(monkeypatch, tmp_path, shipped):
    """Old artifacts (a stage pickled before `onnx` existed) load, and their stage stays off unless asked."""
    from training.offline.pipeline import save_model

    stage = dataclasses.replace(_stage(shipped), onnx=None)
    del stage.__dict__["onnx"]  # as unpickled from a file written before the field
    assert stage.onnx_encoder is None
    payload = dict(shipped._payload, second_stage=stage)
    saved = save_model(ModelArtifact(payload, dict(shipped.metadata)), tmp_path / "old.joblib")
    monkeypatch.delenv("MODERATION_SECOND_STAGE", raising=False)
    model = load_model(saved.path)
    assert model.has_second_stage and not model.has_onnx_encoder and model.stages == "fast"


@needs_onnxruntime
def test_missing_onnxruntime_leaves_the_default_off_and_on_names_it(monkeypatch, shipped):
    import training.onnx_encoder as onnx_encoder

    monkeypatch.delenv("MODERATION_SECOND_STAGE", raising=False)
    monkeypatch.setattr(onnx_encoder, "onnx_available", lambda: False)
    assert load_model(default_model_path()).stages == "fast"
    monkeypatch.setattr(onnx_encoder, "_embedders", {})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ArtifactError, match="ONNX encoder needs onnxruntime and tokenizers"):
        load_model(default_model_path(), second_stage=True)


def test_bad_settings_are_named(monkeypatch):
    monkeypatch.setenv("MODERATION_SECOND_STAGE", "maybe")
    with pytest.raises(ArtifactError, match="must be 'on', 'off' or 'auto', got 'maybe'"):
        load_model(default_model_path())
    monkeypatch.setenv("MODERATION_SECOND_STAGE", "on")
    monkeypatch.setenv("MODERATION_ONNX_THREADS", "many")
    import training.onnx_encoder as onnx_encoder

    monkeypatch.setattr(onnx_encoder, "_embedders", {})
    with pytest.raises(
        ArtifactError, match="MODERATION_ONNX_THREADS must be a whole number >= 1, got 'many'"
    ):
        load_model(default_model_path())


def test_serving_never_imports_torch():
    """load_model + score with the stage on, in a fresh process: torch, sentence-transformers and the offline
    package are never imported."""
    code = textwrap.dedent(
        """
        import sys
        from training.runtime import load_model
        model = load_model()
        assert model.stages == "fast+embedding", model.stages
        model.score(["you are a stupid idiot", "The council approved the budget."])
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "sentence_transformers",
                     "transformers") or m.startswith("training.offline"))
        print("IMPORTED", bad)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "MODERATION_SECOND_STAGE"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "IMPORTED []" in result.stdout, result.stdout


@needs_onnxruntime
def test_a_comments_score_does_not_depend_on_the_batch(shipped):
    """int8 graphs quantise activations per run, so the encoder runs one comment at a time: a comment scores
    the same alone and among others (torch's dynamic int8 did not: up to 0.26 apart)."""
    alone = [shipped.score([text])[0]["toxicity"] for text in TEXTS]
    together = [s["toxicity"] for s in shipped.score(TEXTS)]
    assert together == pytest.approx(alone, abs=1e-12)  # the head's matrix product: last-bit rounding only


def _score_in_child(model, queue):
    queue.put(([s["toxicity"] for s in model.score(TEXTS)], os.getpid(), list(model._embedder._sessions)))


@needs_onnxruntime
def test_a_forked_child_scores_with_its_own_session(shipped):
    """The prefork pool: the parent loads the model (and its session), the child scores."""
    parent = [s["toxicity"] for s in shipped.score(TEXTS)]
    embedder = shipped._embedder
    assert os.getpid() in embedder._sessions
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_score_in_child, args=(shipped, queue))  # forked: the model is inherited
    child.start()
    scores, pid, sessions = queue.get(timeout=60)
    child.join(timeout=30)
    assert child.exitcode == 0 and pid != os.getpid()
    assert scores == parent
    assert sessions == [os.getpid(), pid]  # the child made its own and left the inherited one alone


@needs_embeddings
def test_the_shipped_int8_encoder_stays_close_to_torch(shipped):
    """The shipped ONNX encoder against the torch path it was exported from, on the stage's own scores."""
    from training.offline.export_onnx import stage_model

    stage = _stage(shipped)
    normalised = shipped._normalizer.transform(TEXTS)
    torch_vectors = embedding.stage_embedder(stage_model(stage), stage, {}).encode(normalised)
    onnx_vectors = shipped._embedder.encode(normalised)
    assert onnx_vectors.shape == torch_vectors.shape == (len(TEXTS), embedding.EMBEDDING_DIM)
    head_gap = np.abs(stage.head_proba(onnx_vectors) - stage.head_proba(torch_vectors))
    assert head_gap.max() < 0.05, head_gap


@needs_embeddings
def test_the_exporter_on_the_shipped_stage_matches_torch_in_fp32(shipped, tmp_path, monkeypatch):
    """The real exporter, fp32 (no quantisation): the graph computes torch's vectors (pooling and the
    normalisation the stage reads included), with the word pieces of the stored tokenizer.json."""
    from training.offline import export_onnx
    from training.offline.export_onnx import export_encoder, export_model, stage_model
    from training.onnx_encoder import OnnxEmbedder

    stage = dataclasses.replace(_stage(shipped), onnx=None)
    model = stage_model(stage)
    encoder = export_encoder(stage, "fp32", model)
    normalised = shipped._normalizer.transform(TEXTS)
    torch_vectors = embedding.stage_embedder(model, stage, {}).encode(normalised)
    embedder = OnnxEmbedder(encoder, {})
    onnx_vectors = embedder.encode(normalised)
    assert np.abs(onnx_vectors - torch_vectors).max() < 1e-4
    if stage.vector == embedding.NORMALISED:
        assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    theirs = model.tokenize(normalised)["input_ids"].tolist()  # sentence-transformers' own word pieces
    ours = [embedder._tokenizer.encode(text).ids for text in normalised]
    assert ours == [[i for i in row if i] for row in theirs] and max(map(len, ours)) == 128
    # export_model: the same fast stage and head, the encoder added, saved and verified by save_model (the
    # graph just exported stands in for a second export)
    monkeypatch.setattr(export_onnx, "export_encoder", lambda *args: encoder)
    artifact = ModelArtifact(dict(shipped._payload, second_stage=stage), dict(shipped.metadata))
    saved = export_model(artifact, tmp_path / "x.joblib", "fp32", check=False, progress=lambda _: None)
    assert saved.has_onnx_encoder and saved.version != shipped.version and saved.stages == "fast+embedding"
    assert saved.metadata["metrics"]["second_stage"]["onnx"]["precision"] == "fp32"
    assert saved._payload["second_stage"].coef.tolist() == stage.coef.tolist()
    assert saved.score(TEXTS[:3]) == saved.score(TEXTS[:3]) and saved.thresholds == shipped.thresholds


@needs_embeddings
def test_the_exporter_quantises_int8_with_a_scale_per_output_column(shipped):
    """int8 weights get a scale per output column (per-channel), which keeps the blend closer to torch than
    one scale per matrix; the encoder records how it was quantised, and its vectors stay near torch's."""
    import onnx
    from onnx import numpy_helper

    from training.offline.export_onnx import QUANTIZATION, export_encoder, stage_model
    from training.onnx_encoder import OnnxEmbedder

    stage = dataclasses.replace(_stage(shipped), onnx=None)
    model = stage_model(stage)
    encoder = export_encoder(stage, INT8, model)
    assert encoder.precision == INT8 and encoder.source["quantization"] == QUANTIZATION
    graph = onnx.load_from_string(encoder.model).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    quantised = [name for name, w in weights.items() if w.dtype == np.int8 and w.ndim == 2]
    assert quantised
    # onnxruntime names a weight's scale after the weight: "<weight>_quantized" and "<weight>_scale"
    scales = [weights.get(name.removesuffix("_quantized") + "_scale") for name in quantised]
    assert all(scale is not None for scale in scales), quantised
    for name, scale in zip(quantised, scales, strict=True):
        assert scale.size == weights[name].shape[1] > 1, name  # one per output column, not one per matrix
    normalised = shipped._normalizer.transform(TEXTS)
    torch_vectors = embedding.stage_embedder(model, stage, {}).encode(normalised)
    onnx_vectors = OnnxEmbedder(encoder, {}).encode(normalised)
    head_gap = np.abs(stage.head_proba(onnx_vectors) - stage.head_proba(torch_vectors))
    assert head_gap.max() < 0.05, head_gap


def test_the_allow_list_accepts_the_onnx_artifact_and_its_bytes_are_covered_by_its_sha256(artifact_copy):
    raw = gzip.decompress(default_model_path().read_bytes())
    found = pickle_globals(raw)
    assert ("training.onnx_encoder", "OnnxEncoder") in found
    assert all(allowed_global(m, n) for m, n in found)
    check_pickle(raw)
    # one flipped byte inside the ONNX graph: refused before unpickling, by the sidecar's sha256
    data = bytearray(artifact_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact_copy.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        load_model(artifact_copy)


def test_a_code_running_pickle_next_to_an_onnx_encoder_is_still_refused(tmp_path):
    marker = tmp_path / "pwned"
    encoder = OnnxEncoder(model=b"\x08\x07", tokenizer="{}", vector="normalised", precision="int8")
    payload = {"format": 1, "encoder": encoder, "normalizer": _RunsCode(marker)}
    data = gzip.compress(pickle.dumps(payload, protocol=5))
    path = tmp_path / "evil.joblib"
    path.write_bytes(data)
    forge_sidecar(path, data)
    with pytest.raises(ArtifactError, match="posix.system"):
        load_model(path)
    assert not marker.exists()
