"""The second stage's encoder as an ONNX graph, run by onnxruntime: the stage without torch at run time.

`training.offline.export_onnx` exports a stage's encoder (the packaged all-MiniLM-L6-v2 with the stage's
fine-tuned layers loaded over it, then mean pooling, then the L2 normalisation when the stage reads
NORMALISED vectors) to ONNX, optionally quantised to int8, and stores the graph and the base model's
tokenizer.json in the stage (`SecondStage.onnx`: an `OnnxEncoder`, plain bytes and strings). They are inside
the artifact's payload, so its sha256, checked before unpickling, covers them, and nothing is read from
elsewhere at run time. Scoring needs only `onnxruntime` and `tokenizers` (default dependencies); this module
imports neither torch nor sentence-transformers.

Threads and forks: each process runs its own onnxruntime session with `MODERATION_ONNX_THREADS` intra-op
threads (default 1: the workers run one process per core) and one inter-op thread. A session is never used
in a process other than the one that created it: the loading process creates one at load (so a graph that
does not load fails `load_model`, not the first comment), and a process forked after that (the prefork
Celery pool, gunicorn --preload) creates its own on its first comment (about 0.1 s), leaving the inherited
one untouched. onnxruntime itself is not fork-safe: a child forked after its parent created a session hangs in
onnxruntime's C++ exit handlers (pthread_cond_destroy on a condition variable the parent's threads held;
microsoft/onnxruntime#31961). Celery's prefork children end with os._exit and are not affected; gunicorn's
workers end with sys.exit, so under --preload each one stops only at gunicorn's graceful timeout (30 s,
measured). Run gunicorn without --preload, as `make up`, docker-compose and the Dockerfile do: each worker
loads the model itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ONNX_THREADS_ENV",
    "OnnxEmbedder",
    "OnnxEncoder",
    "onnx_available",
    "onnx_embedder",
]

ONNX_THREADS_ENV = "MODERATION_ONNX_THREADS"
INT8 = "int8"
FP32 = "fp32"
PRECISIONS = (INT8, FP32)
RUNTIME_HINT = "onnxruntime and tokenizers (default dependencies: pip install -e .)"


def onnx_available() -> bool:
    """onnxruntime and tokenizers are installed (checked without importing them)."""
    return all(importlib.util.find_spec(m) for m in ("onnxruntime", "tokenizers"))


@dataclass
class OnnxEncoder:
    """What a stage stores to run its encoder without torch: plain bytes, strings and numbers.

    VERSIONED CONTRACT like `training.embedding.SecondStage`: artifacts pickle this class by its import path;
    add fields with defaults only.
    """

    model: bytes  # the ONNX graph: input_ids, attention_mask (int64, batch x tokens) -> sentence_embedding
    tokenizer: str  # the base model's tokenizer.json
    vector: str  # what the graph outputs: training.embedding.NORMALISED or MEAN_POOLED (the stage's vector)
    precision: str  # INT8 (dynamically quantised) or FP32
    max_length: int = 128  # word pieces; longer comments are cut (training.embedding.MAX_SEQ_LENGTH)
    # Comments per run. int8 graphs quantise activations with one scale per run, so several comments in one
    # run would change each other's scores: they run one at a time (no padding either).
    batch_size: int = 1
    # sha256 of the base weights and of the fine-tuned layers it was exported from; the exporting versions
    source: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.model).hexdigest()


def _threads() -> int:
    raw = os.environ.get(ONNX_THREADS_ENV, "1").strip() or "1"
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{ONNX_THREADS_ENV} must be a whole number >= 1, got {raw!r}")
    return threads


class OnnxEmbedder:
    """Sentence vectors from an `OnnxEncoder`, with the same word pieces as the sentence-transformers model
    (the base model's own tokenizer.json: BERT normalisation with lower-casing, truncation at `max_length`).
    `encode(texts)` -> float32 array (len(texts), dim). Build it with `onnx_embedder(stage)`."""

    def __init__(self, encoder: OnnxEncoder, identity: dict[str, str]):
        from tokenizers import Tokenizer

        self._encoder = encoder
        self.identity = identity
        self._tokenizer = Tokenizer.from_str(encoder.tokenizer)
        self._tokenizer.enable_truncation(max_length=int(encoder.max_length))
        self._tokenizer.no_padding()
        self._threads = _threads()
        self._sessions: dict[int, object] = {}  # pid -> session: a session never crosses a fork
        self._lock = threading.Lock()

    def session(self):
        """This process's onnxruntime session, created on first use in each process."""
        pid = os.getpid()
        session = self._sessions.get(pid)
        if session is None:
            with self._lock:
                session = self._sessions.get(pid)
                if session is None:
                    session = self._new_session()
                    self._sessions[pid] = session
        return session

    def _new_session(self):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: the fused graph's warnings say nothing to operators
        return onnxruntime.InferenceSession(
            self._encoder.model,
            options,
            providers=["CPUExecutionProvider"],
            # Its SkipLayerNormalization kernel is slower than the Add + LayerNormalization it replaces
            # (measured: 26% of the int8 encoder's time saved without it; see training.offline.export_onnx)
            disabled_optimizers=["SkipLayerNormFusion"],
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        session = self.session()
        pieces = [self._tokenizer.encode(text).ids for text in texts]  # one at a time: no thread pool
        batch = max(1, int(self._encoder.batch_size))
        order = sorted(range(len(texts)), key=lambda i: len(pieces[i]))  # similar lengths pad least
        out: np.ndarray | None = None
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            width = max(len(pieces[i]) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : len(pieces[i])] = pieces[i]
                mask[r, : len(pieces[i])] = 1
            vectors = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out


_embedders: dict[str, OnnxEmbedder] = {}
_embedders_lock = threading.Lock()


def _fresh_locks_in_child() -> None:
    # A lock held by another thread at fork time stays held forever in the child: start with free ones.
    global _embedders_lock
    _embedders_lock = threading.Lock()
    for embedder in _embedders.values():
        embedder._lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_locks_in_child)


def onnx_embedder(encoder: OnnxEncoder, identity: dict[str, str]) -> OnnxEmbedder:
    """The process-wide embedder of `encoder` (one per graph: a new model version replaces the old one), with
    its session created in this process. Raises ImportError if onnxruntime or tokenizers is missing, and
    onnxruntime's own error for a graph it cannot load."""
    key = encoder.sha256
    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = OnnxEmbedder(encoder, identity)
            _embedders.clear()
            _embedders[key] = embedder
    embedder.session()
    return embedder
