"""A site's adapter: a small, verified artifact that re-scores one label of a shared model for one site,
fitted on that site's moderator labels (``python -m training adapt``; chosen by measurement, see
docs/adaptation.md).

    from training.adapter import load_adapter
    adapter = load_adapter("var/adapters/site-a.joblib", model)   # model: a training.runtime.ModelArtifact
    adapter.score(model, ["some comment", ...])   # -> the model's score dicts, `adapter.label` re-scored
    adapter.thresholds                            # -> the site's thresholds for the adapted score

The adapted score of a comment is a logistic stack of
- the shared model's label scores (their log-odds, one weight each: a calibration layer), and
- a site head: a strongly regularised linear model on the shared model's fast-stage features (its TF-IDF word
  and character n-grams), trained on the site's labels.
Both are plain numpy arrays, so the artifact is a few hundred kilobytes and holds no estimator object.

An adapter reads the feature columns of one model: it records that model's version and sha256, and
`load_adapter` refuses it on top of any other. The file is saved like a model (gzip pickle + JSON sidecar with
its sha256 and library versions) and loaded only through ``training.verify.verify_artifact``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from training.runtime import ModelArtifact, file_sha256, serialize_payload
from training.verify import ArtifactError, metadata_path, verify_artifact

__all__ = ["ADAPTER_FORMAT", "SiteAdapter", "load_adapter", "save_adapter"]

ADAPTER_FORMAT = 1
_EPS = 1e-6


def log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class SiteAdapter:
    """What an adapter holds. `label`: the label it re-scores; `base_labels`: the shared model's labels, in
    the order `stack_coef[:-1]` weighs their log-odds; `head_coef` (n_features,) and `head_intercept`: the
    site head on the fast-stage features; `stack_coef` (len(base_labels) + 1,) and `stack_intercept`: the
    stack,
    whose last weight is the head's; `thresholds`: {label: {"reject", "review"}} for the adapted score (the
    other labels keep the model's); `base_model`: {"version", "sha256"} of the model it was fitted on;
    `fit`: what it was fitted on (rows, positives, regularisation, out-of-fold AUCs)."""

    label: str
    base_labels: list[str]
    head_coef: np.ndarray
    head_intercept: float
    stack_coef: np.ndarray
    stack_intercept: float
    thresholds: dict[str, dict[str, float]]
    base_model: dict[str, str]
    fit: dict[str, Any] = field(default_factory=dict)
    version: str = "unsaved"

    def head_decision(self, features) -> np.ndarray:
        """The site head's log-odds for a (n_rows, n_features) sparse feature matrix."""
        return np.asarray(features @ self.head_coef).ravel() + self.head_intercept

    def adapted(self, base_scores: np.ndarray, features) -> np.ndarray:
        """Adapted probabilities of `label`: `base_scores` (n_rows, len(base_labels)) are the shared model's
        scores as served, `features` its fast-stage feature matrix for the same rows."""
        inputs = np.column_stack([log_odds(base_scores), self.head_decision(features)])
        z = np.clip(inputs @ self.stack_coef + self.stack_intercept, -35.0, 35.0)
        return 1.0 / (1.0 + np.exp(-z))

    def score(self, model: ModelArtifact, texts: list[str]) -> list[dict[str, float]]:
        """`model.score(texts)` with `label` replaced by the adapted score. Raises `ArtifactError` if `model`
        is not the one the adapter was fitted on."""
        self.check_model(model)
        scores, features = model.score_with_features(texts)
        return self.rescore(scores, features)

    def rescore(self, scores: list[dict[str, float]], features) -> list[dict[str, float]]:
        """Replace `label` in each of the model's score dicts `scores` (in place; returned) by the adapted
        score, `features` being the model's fast-stage feature matrix for the same rows
        (`ModelArtifact.score_with_features`). The caller has checked the model (`check_model`)."""
        if not scores:
            return scores
        base = np.array([[s[name] for name in self.base_labels] for s in scores])
        adapted = self.adapted(base, features)
        for row, value in zip(scores, adapted.tolist(), strict=True):
            row[self.label] = value
        return scores

    def check_model(self, model: ModelArtifact) -> None:
        """Refuse (`ArtifactError`) a model other than the adapter's: its head reads that model's columns."""
        sha = model.metadata.get("sha256")
        if sha != self.base_model.get("sha256") or list(model.labels) != list(self.base_labels):
            raise ArtifactError(
                f"adapter {self.version} was fitted on model {self.base_model.get('version')} "
                f"(sha256 {str(self.base_model.get('sha256'))[:12]}), not on {model.version} "
                f"(sha256 {str(sha)[:12]}); refit it with `python -m training adapt --model ...`"
            )

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": ADAPTER_FORMAT,
            "kind": "site_adapter",
            "label": self.label,
            "base_labels": list(self.base_labels),
            "head_coef": np.asarray(self.head_coef, dtype=np.float32),
            "head_intercept": float(self.head_intercept),
            "stack_coef": np.asarray(self.stack_coef, dtype=np.float64),
            "stack_intercept": float(self.stack_intercept),
            "thresholds": self.thresholds,
            "base_model": dict(self.base_model),
        }


def _library_versions() -> dict[str, str]:
    import joblib
    import scipy
    import sklearn

    return {
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def save_adapter(adapter: SiteAdapter, path: Path | str, model: ModelArtifact, site: str = "") -> SiteAdapter:
    """Write `adapter` as `<path>` (gzip pickle of plain arrays) + `<path stem>.json` (sha256, size, library
    versions, base model, fit summary) the way `training.offline.pipeline.save_model` writes a model, and
    return it reloaded through `load_adapter`, so a saved adapter is always a verified one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(serialize_payload(adapter.to_payload()))
    sha = file_sha256(tmp)
    created = datetime.now(UTC)
    metadata = {
        "version": f"adapter-{site or 'site'}-{created:%Y.%m.%d}-{sha[:8]}",
        "kind": "site_adapter",
        "site": site,
        "created_at": created.isoformat(timespec="seconds"),
        "sha256": sha,
        "size_bytes": tmp.stat().st_size,
        "adapter_format": ADAPTER_FORMAT,
        "library_versions": _library_versions(),
        "labels": [adapter.label],
        "thresholds": adapter.thresholds,
        "base_model": dict(adapter.base_model),
        "fit": adapter.fit,
    }
    meta = metadata_path(path)
    meta_tmp = meta.with_name(meta.name + ".tmp")
    meta_tmp.write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    meta_tmp.replace(meta)
    return load_adapter(path, model)


def load_adapter(
    path: Path | str, model: ModelArtifact | None = None, expected_sha256: str | None = None
) -> SiteAdapter:
    """Verify (``training.verify.verify_artifact``: sidecar, size, sha256, pinned to `expected_sha256` when
    given, library versions, the pickle's allow-list) and load an adapter; with `model`, also refuse it
    unless it was fitted on that model. Raises `ArtifactError` naming the file and the failed check."""
    path = Path(path)
    payload, metadata = verify_artifact(path, expected_sha256=expected_sha256)
    if not isinstance(payload, dict) or payload.get("kind") != "site_adapter":
        raise ArtifactError(
            f"{path} is not a site adapter (a model? adapters come from `python -m training adapt`)"
        )
    if payload.get("format") != ADAPTER_FORMAT:
        raise ArtifactError(
            f"adapter {path} has format {payload.get('format')}, this code reads {ADAPTER_FORMAT}"
        )
    adapter = SiteAdapter(
        label=str(payload["label"]),
        base_labels=list(payload["base_labels"]),
        head_coef=np.asarray(payload["head_coef"], dtype=np.float32),
        head_intercept=float(payload["head_intercept"]),
        stack_coef=np.asarray(payload["stack_coef"], dtype=np.float64),
        stack_intercept=float(payload["stack_intercept"]),
        thresholds={
            k: {"reject": float(v["reject"]), "review": float(v["review"])}
            for k, v in payload["thresholds"].items()
        },
        base_model=dict(payload["base_model"]),
        fit=dict(metadata.get("fit", {})),
        version=str(metadata["version"]),
    )
    if len(adapter.stack_coef) != len(adapter.base_labels) + 1:
        raise ArtifactError(
            f"adapter {path}: {len(adapter.stack_coef)} stack weights for {len(adapter.base_labels)} labels"
        )
    if model is not None:
        adapter.check_model(model)
        if adapter.head_coef.shape[0] != model.n_features:
            raise ArtifactError(
                f"adapter {path}: its head reads {adapter.head_coef.shape[0]} features, "
                f"the model has {model.n_features}"
            )
    return adapter
