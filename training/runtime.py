"""The scoring engine shared by the worker and the web endpoints.

    from training.runtime import load_model, ModelArtifact, ArtifactError, default_model_path

    model = load_model()                   # models/default.joblib, or $MODERATION_MODEL_PATH
    model.score(["some comment", ...])     # -> [{"toxicity": 0.03, ..., "spam": 0.01}, ...]
    model.explain("some comment", "toxicity")  # -> [("word", contribution), ...]
    model.thresholds                       # -> {"toxicity": {"reject": 0.8, "review": 0.3}, ...}

An artifact is a gzip-compressed pickle (`.joblib` by name) plus a JSON sidecar with the same stem
(`default.joblib` + `default.json`). `load_model` is the only way in: it verifies the file with
`training.verify` (sidecar, size, sha256, library versions, and an allow-list scan of every global the pickle
references) before anything is unpickled, because unpickling runs code.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from training.labels import LABELS
from training.verify import ArtifactError, metadata_path, verify_artifact

# scikit-learn checks every call's parameters and that its input holds no NaN or infinity: a quarter of the
# fast stage's time for one comment (1.65 -> 1.35 ms measured). The feature transform (the only scikit-learn
# code scoring runs: the heads are a dot product) works on text it normalised itself, so the checks find
# nothing; the scores are the same to the bit (a test compares).
_SERVING = {"assume_finite": True, "skip_parameter_validation": True}

__all__ = [
    "ARTIFACT_FORMAT",
    "LABELS",
    "ArtifactError",
    "ModelArtifact",
    "default_model_path",
    "load_model",
    "metadata_path",
]

ARTIFACT_FORMAT = 1
_REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_PATH_ENV = "MODERATION_MODEL_PATH"
# "auto" (default: on when the artifact's second stage has an ONNX encoder and onnxruntime is installed), "on"
# or "off": see training.embedding and training.onnx_encoder
SECOND_STAGE_ENV = "MODERATION_SECOND_STAGE"


def default_model_path() -> Path:
    """`$MODERATION_MODEL_PATH` if set, else `<repo>/models/default.joblib`."""
    override = os.environ.get(MODEL_PATH_ENV)
    return Path(override).expanduser() if override else _REPO_ROOT / "models" / "default.joblib"


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def serialize_payload(payload: dict[str, Any]) -> bytes:
    """The artifact's bytes: a gzip-compressed pickle (protocol 5). Plain pickle loads the vocabularies about
    8x faster than joblib's pure-Python unpickler (0.25 s against 2 s for the shipped model)."""
    return gzip.compress(pickle.dumps(payload, protocol=5), compresslevel=6, mtime=0)


# Words an explanation never names: they carry no meaning of their own ("you" stays: "you idiot").
FUNCTION_WORDS = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been being it its this that "
    "these those there their then than so if do does did have has had will would can could should".split()
)
_PUNCTUATION = "\"'.,;:!?()[]{}<>«»“”‘’…-–—*_/\\"


class ModelArtifact:
    """A verified, loaded model. Build it with `load_model`, not directly.

    Attributes: `version` (str), `labels` (list[str]), `thresholds`
    ({label: {"reject": float, "review": float}}),
    `metadata` (the sidecar dict), `path` (Path of the joblib file), `stages` ("fast" or "fast+embedding":
    whether the optional second stage re-scores the uncertain band; see `training.embedding`).
    """

    def __init__(
        self,
        payload: dict[str, Any],
        metadata: dict[str, Any],
        path: Path | None = None,
        *,
        second_stage: bool = False,
    ):
        self._payload = payload
        self._normalizer = payload["normalizer"]
        self._features = payload["features"]
        self._heads = payload["heads"]
        self.labels: list[str] = list(payload["labels"])
        self.thresholds: dict[str, dict[str, float]] = {
            label: {"reject": float(t["reject"]), "review": float(t["review"])}
            for label, t in payload["thresholds"].items()
        }
        self.metadata = metadata
        self.version: str = str(metadata.get("version", "unversioned"))
        self.path = path
        self._feature_names: np.ndarray | None = None
        self._stage = None
        self._embedder = None
        if second_stage:
            self.enable_second_stage()

    def __repr__(self) -> str:
        return f"ModelArtifact(version={self.version!r}, labels={self.labels!r}, stages={self.stages!r})"

    @property
    def stages(self) -> str:
        return "fast+embedding" if self._stage is not None else "fast"

    @property
    def reference_scores(self) -> dict | None:
        """{"rows": [score dicts], "weights": [...]}: news comments scored by this model as served (with its
        second stage when on), weighed to news traffic, that its default review threshold was fitted on
        (``training.offline.thresholds``); None for an artifact chosen otherwise."""
        key = "second_stage_reference_scores" if self._stage is not None else "reference_scores"
        return self._payload.get(key)

    @property
    def stage_head_labels(self) -> list[str]:
        """Labels the running second stage re-scores with further heads (`training.embedding.StageHead`);
        none with the stage off."""
        return [] if self._stage is None else [head.label for head in self._stage.extra_heads]

    @property
    def has_second_stage(self) -> bool:
        """The artifact carries a trained second stage (whether or not it is switched on)."""
        return self._payload.get("second_stage") is not None

    @property
    def has_onnx_encoder(self) -> bool:
        """The artifact's second stage can run without torch (its encoder is stored as an ONNX graph)."""
        return _has_onnx_encoder(self._payload)

    def described_thresholds(self) -> dict[str, dict[str, float]] | None:
        """The thresholds the sidecar says this model applies as it is loaded: its `thresholds`, with the
        second stage's label replaced by the stage's blended-score thresholds
        (`metrics.second_stage.validation_thresholds`, and `metrics.second_stage.heads.<label>` for its
        further heads) when the stage is on. None if the sidecar lacks them."""
        described = self.metadata.get("thresholds")
        if described is None or self._stage is None:
            return described
        chosen = self.metadata.get("metrics", {}).get("second_stage", {}).get("validation_thresholds")
        if not chosen:
            return None
        label = {"reject": chosen.get("reject"), "review": chosen.get("review")}
        described = {**described, self._stage.label: label}
        # the stage's further heads (StageHead) apply their own thresholds on their blended scores
        heads = self.metadata.get("metrics", {}).get("second_stage", {}).get("heads", {})
        for head in self._stage.extra_heads:
            if head.thresholds:
                chosen = heads.get(head.label, {}).get("validation_thresholds")
                if not chosen:
                    return None
                described[head.label] = {"reject": chosen.get("reject"), "review": chosen.get("review")}
        return described

    def enable_second_stage(self) -> None:
        """Switch the second stage on: load its encoder (the stored ONNX graph through onnxruntime, or, for a
        stage without one, torch and the packaged model; raises `ArtifactError` with what to install if it is
        missing or is not the one the stage was trained on) and use the stage's blended-score thresholds."""
        from training.embedding import EmbeddingUnavailable, finetuned_embedder, load_embedder

        stage = self._payload.get("second_stage")
        if stage is None:
            raise ArtifactError(
                f"model {self.version} has no second stage; train one with `python -m training train "
                "--second-stage`"
            )
        if stage.onnx_encoder is not None:
            embedder = self._onnx_embedder(stage)
        else:
            try:
                if stage.finetuned:
                    embedder = finetuned_embedder(stage)
                else:
                    embedder = load_embedder()
                    stage.check_embedder(embedder)
            except EmbeddingUnavailable as exc:
                raise ArtifactError(f"{SECOND_STAGE_ENV}=on: {exc}") from None
        self._stage, self._embedder = stage, embedder
        self.thresholds = {**self.thresholds, stage.label: dict(stage.thresholds)}
        for head in stage.extra_heads:
            if head.thresholds:
                self.thresholds[head.label] = dict(head.thresholds)

    def _onnx_embedder(self, stage):
        from training.onnx_encoder import RUNTIME_HINT, onnx_embedder

        encoder = stage.onnx_encoder
        identity = {**stage.embedder, **encoder.source, "onnx_sha256": encoder.sha256}
        try:
            return onnx_embedder(encoder, identity)
        except ImportError as exc:
            raise ArtifactError(f"the second stage's ONNX encoder needs {RUNTIME_HINT} ({exc})") from None
        except ValueError as exc:  # a bad MODERATION_ONNX_THREADS
            raise ArtifactError(str(exc)) from None
        except Exception as exc:  # onnxruntime's own errors for a graph it cannot load
            raise ArtifactError(
                f"model {self.version}: the second stage's ONNX encoder does not load: {exc}"
            ) from None

    def feature_matrix(self, texts: list[str]):
        """The fast stage's sparse feature matrix (n_texts, `n_features`) of `texts`: what its heads read, and
        what a site adapter's head (`training.adapter`) reads."""
        return self._matrix(list(texts)).tocsr()

    @property
    def n_features(self) -> int:
        return int(self._heads.coef_.shape[0])

    def _matrix(self, texts: list[str]):
        return self._matrix_of_normalised(self._normalizer.transform(texts))

    def _matrix_of_normalised(self, normalised: list[str]):
        from sklearn import config_context  # imported with the artifact already; not at this module's import

        parts = getattr(self._features, "transformer_list", None)
        with config_context(**_SERVING):
            if parts is None or getattr(self._features, "transformer_weights", None):
                return self._features.transform(normalised)
            # FeatureUnion.transform goes through joblib's Parallel machinery even with n_jobs=None, about 0.7
            # ms a call: half the cost of scoring one comment. Same matrix, built directly (a test checks it).
            return sparse.hstack([part.transform(normalised) for _, part in parts], format="csr")

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        """Score a batch: one {label: probability in [0, 1]} dict per input text, in input order.

        The whole batch goes through one feature transform, so pass many texts at once. Raises `TypeError`
        if `texts` is a bare string or holds a non-string.
        """
        return self.score_with_features(texts)[0]

    def score_with_features(self, texts: list[str]):
        """(`score(texts)`, `feature_matrix(texts)`) from one normalisation and one feature transform: what a
        site adapter (`training.adapter`) re-scores from. The matrix is None for no texts. Raises as `score`.
        """
        if isinstance(texts, str):
            raise TypeError("score() takes a list of texts, not a single str; wrap it: score([text])")
        texts = list(texts)
        if not texts:
            return [], None
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be str, got {type(text).__name__}")
        normalised = self._normalizer.transform(texts)
        matrix = self._matrix_of_normalised(normalised)
        proba = self._heads.predict_proba(matrix)
        if self._stage is not None:
            proba = self._second_stage(normalised, proba)
        labels = self.labels
        return [dict(zip(labels, row, strict=True)) for row in proba.tolist()], matrix.tocsr()

    def _second_stage(self, normalised: list[str], proba: np.ndarray) -> np.ndarray:
        """Re-score the stage's label, and its further heads' labels, for the rows in its band (chosen on the
        stage label's fast score); the embedder gets the normalised text."""
        j = self.labels.index(self._stage.label)
        band = np.flatnonzero(self._stage.in_band(proba[:, j]))
        if len(band):
            fast = proba
            proba = np.array(proba, copy=True)
            vectors = self._embedder.encode([normalised[i] for i in band])
            proba[:, j] = self._stage.blend(fast[:, j], vectors)
            for head in self._stage.extra_heads:
                k = self.labels.index(head.label)
                proba[band, k] = head.blend(fast[band, k], vectors)
        return proba

    def _names(self) -> np.ndarray:
        if self._feature_names is None:
            self._feature_names = self._features.get_feature_names_out()
        return self._feature_names

    def explain(self, text: str, label: str, top_k: int = 8) -> list[tuple[str, float]]:
        """Words/word n-grams of `text` that raised `label`'s score, largest contribution first.

        A contribution is coefficient x feature value in the label's linear model (log-odds units). Character
        n-gram contributions are credited to the normalised words they occur in, so the result names words a
        dashboard can highlight (in their normalised spelling); the telephone-number feature's to the number
        the text gives (one term, its words as normalised). Only positive contributions are returned.
        Raises `KeyError` for an unknown label.
        """
        if label not in self.labels:
            raise KeyError(f"unknown label {label!r}; expected one of {self.labels}")
        j = self.labels.index(label)
        normalized = self._normalizer.transform([text])[0]
        row = self._features.transform([normalized]).tocsr()
        contributions = row.data * self._heads.coef_[row.indices, j]
        names = self._names()[row.indices]
        # Credited to words without the punctuation around them ("fooled." is "fooled"), and never to a
        # function word: neither names what a moderator should look at.
        words = [w for w in (w.strip(_PUNCTUATION) for w in normalized.split()) if w]
        totals: dict[str, float] = {}
        for name, value in zip(names, contributions, strict=True):
            kind, _, feature = str(name).partition("__")
            if kind == "shape":
                continue  # link/length features (training.features.TextShapeFeatures) name no word to show
            if kind == "phone":
                from training.features import phone_number  # loaded with the model already

                number = phone_number(normalized)
                if number:
                    totals[number] = totals.get(number, 0.0) + float(value)
                continue
            if kind == "char":
                gram = feature.strip().strip(_PUNCTUATION)
                # a fragment of punctuation or of no word ("iar.") names nothing: it is not credited
                owners = [w for w in words if gram and gram in w]
                for owner in owners:
                    totals[owner] = totals.get(owner, 0.0) + float(value) / len(owners)
            else:
                totals[feature] = totals.get(feature, 0.0) + float(value)
        # (Word features are \w\w+ tokens and character n-grams are credited to punctuation-stripped words,
        # so no name here is punctuation.)
        ranked = sorted(
            ((k, v) for k, v in totals.items() if v > 0 and k not in FUNCTION_WORDS),
            key=lambda kv: kv[1],
            reverse=True,
        )
        return ranked[:top_k]


def _has_onnx_encoder(payload: dict[str, Any]) -> bool:
    stage = payload.get("second_stage")
    return stage is not None and stage.onnx_encoder is not None


def second_stage_setting() -> bool | None:
    """`$MODERATION_SECOND_STAGE`: "on" (True), "off" (False), or unset / "auto" (None: on when the artifact
    carries an ONNX encoder and onnxruntime is installed). Anything else is refused by name."""
    value = os.environ.get(SECOND_STAGE_ENV, "auto").strip().lower()
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    if value in ("auto", ""):
        return None
    raise ArtifactError(f"{SECOND_STAGE_ENV} must be 'on', 'off' or 'auto', got {value!r}")


def load_model(
    path: Path | str | None = None, *, expected_sha256: str | None = None, second_stage: bool | None = None
) -> ModelArtifact:
    """Verify and load a model artifact.

    `path`: the .joblib file (default `default_model_path()`). `expected_sha256`: optional pin; the file must
    have this hash as well as the one in its sidecar. `second_stage`: switch the optional embedding stage on
    or off (default: `$MODERATION_SECOND_STAGE`, and when that is unset or "auto", on exactly when the
    artifact's stage carries an ONNX encoder and onnxruntime is installed); on, an artifact without a stage,
    or a stage whose encoder cannot run here (no onnxruntime for an ONNX encoder; no `embeddings` extra for
    one without), fails to load with `ArtifactError`, so a worker never silently serves other scores.
    Before anything is unpickled the file goes through `training.verify.verify_artifact`: sidecar present and
    complete, size and sha256 equal to the sidecar's (and to `expected_sha256`), library versions equal to the
    installed ones, and every global the pickle references on the allow-list. There is no unverified path.
    Raises `ArtifactError` naming the file and the failed check.
    """
    model_path = Path(path) if path is not None else default_model_path()
    if not model_path.is_file():
        raise ArtifactError(f"model file {model_path} not found (set {MODEL_PATH_ENV} to use another file)")
    payload, metadata = verify_artifact(model_path, expected_sha256)
    if not isinstance(payload, dict) or payload.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"model file {model_path} is not a format-{ARTIFACT_FORMAT} moderation artifact")
    missing = [k for k in ("normalizer", "features", "heads", "labels", "thresholds") if k not in payload]
    if missing:
        raise ArtifactError(f"model file {model_path} lacks {missing}")
    if second_stage is None:
        second_stage = second_stage_setting()
    if second_stage is None:  # auto: the stage runs where it needs no torch
        from training.onnx_encoder import onnx_available

        second_stage = _has_onnx_encoder(payload) and onnx_available()
    return ModelArtifact(payload, metadata, model_path, second_stage=second_stage)
