"""Refit some of the fast stage's label heads on another mix of sources, over the artifact's own features.

    python -m training refit --model models/default.joblib --labels spam --out var/models/refit.joblib
    python -m training thresholds --model var/models/refit.joblib --out var/models/refit-t.joblib

A full retrain (`make model`) fits the vocabulary, every head, the encoder and its heads again: up to an hour
on two cores. When one label needs new rows (issue 22: spam that knows scams and link drops, from the
Instagram scam comments and the WordPress spam queue), refitting only that label's logistic head on the
features the artifact already has takes two minutes and leaves every other score as it was, to the bit. The
new rows are read through the artifact's own normaliser and vocabulary, so words its vocabulary never saw add
nothing; a full retrain with the same sources (`pipeline.DEFAULT_SOURCES`) is what learns them.

The rows are the training split of the model's own hash split (its seed, every evaluation-only text banned),
so nothing validated or tested before is trained on now. The heads use the model's regularisation and NB
scaling per label, and the thresholds training chooses (`pipeline.training_thresholds` on the
`THRESHOLD_SOURCES`' validation rows); `python -m training thresholds` then fits them to a news desk, as after
`train`. The sidecar records the refit (`refit`: labels, sources, rows, validation and test AUC per source,
before and after).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from training.features import LinearHeads
from training.labels import LABELS
from training.offline import datasets
from training.runtime import ModelArtifact


def _default_sources() -> dict[str, float]:
    from training.offline.pipeline import DEFAULT_SOURCES

    return dict(DEFAULT_SOURCES)


@dataclass
class RefitConfig:
    labels: tuple[str, ...] = ("spam",)
    sources: dict[str, float] = field(default_factory=_default_sources)
    max_rows_per_source: int | None = None  # quick runs and tests
    # Append the telephone-number feature block (`training.features.PhoneNumberFeatures`) when the artifact
    # has none; every head gets a zero coefficient for it, so only the refitted labels' scores change.
    add_phone_features: bool = False


def has_phone_block(features) -> bool:
    """Whether a fitted FeatureUnion has the telephone-number block."""
    return any(name == "phone" for name, _ in features.transformer_list)


def with_phone_features(features, heads):
    """(features, heads, added): `features` (a fitted FeatureUnion) with the phone-number block appended and
    `heads` with a zero coefficient row for it, so every score is unchanged until a head is fitted on it; the
    inputs themselves as they were when the block is there already."""
    from training.features import PhoneNumberFeatures

    if has_phone_block(features):
        return features, heads, False
    features = copy.copy(features)
    features.transformer_list = [*features.transformer_list, ("phone", PhoneNumberFeatures())]
    heads = copy.copy(heads)
    heads.coef_ = np.vstack([heads.coef_, np.zeros((1, heads.coef_.shape[1]), dtype=heads.coef_.dtype)])
    heads.n_features_in_ = heads.coef_.shape[0]
    return features, heads, True


def _auc_by_source(y: np.ndarray, before: np.ndarray, after: np.ndarray, names: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    out = {}
    for name in sorted(set(names)):
        m = names == name
        hard = y[m] >= 0.5
        if 0 < hard.sum() < m.sum():
            out[str(name)] = {
                "rows": int(m.sum()),
                "positives": int(hard.sum()),
                "roc_auc_before": round(float(roc_auc_score(hard, before[m])), 4),
                "roc_auc_after": round(float(roc_auc_score(hard, after[m])), 4),
            }
    return out


def refit_heads(
    model_path: Path | str | None,
    out: Path | str,
    config: RefitConfig | None = None,
    progress: Callable[[str], None] = print,
) -> ModelArtifact:
    """Write a copy of the artifact at `model_path` whose fast-stage heads for `config.labels` are fitted
    again on `config.sources` (a new version; features, other heads and the second stage unchanged)."""
    from training.offline.identity_augment import identity_words
    from training.offline.pipeline import (
        THRESHOLD_SOURCES,
        TrainingConfig,
        neutralize_identity_features,
        require_both_classes,
        save_model,
        training_split,
        training_thresholds,
    )
    from training.runtime import load_model

    config = config or RefitConfig()
    unknown = sorted(set(config.labels) - set(LABELS))
    if unknown or not config.labels:
        raise ValueError(f"labels: {unknown or 'none'} given; choose from {LABELS}")
    started = time.perf_counter()
    model = load_model(model_path, second_stage=False)
    # The model's own training config (seed, C, NB labels, identity handling, thresholds), new sources.
    training = dataclasses.replace(
        TrainingConfig(**model.metadata.get("config", {})),
        sources=dict(config.sources),
        max_rows_per_source=config.max_rows_per_source,
    )
    training.validate()
    split = training_split(training)
    cols = [LABELS.index(label) for label in config.labels]
    normalizer, features, heads = (model._payload[k] for k in ("normalizer", "features", "heads"))
    added = False
    if config.add_phone_features:
        features, heads, added = with_phone_features(features, heads)
        progress("phone-number feature block added" if added else "the artifact has a phone-number block")

    def rows(parts):
        texts, y, w, src = datasets.concat(parts)
        known = np.flatnonzero((~np.isnan(y[:, cols])).any(axis=1))
        names = np.array([parts[i].name for i in src], dtype=object)[known]
        return [texts[i] for i in known], y[known], w[known], names, src[known]

    texts, y, w, names, _ = rows(split.train)
    progress(f"refit {list(config.labels)}: {len(texts)} training rows from {len(set(names))} sources")
    require_both_classes(y, config.labels)
    x = features.transform(normalizer.transform(texts))
    progress(f"features: {x.shape} ({time.perf_counter() - started:.0f}s)")
    fitted = LinearHeads(
        labels=list(config.labels),
        C={label: float(training.C[label]) for label in config.labels},
        nb_labels=[label for label in training.nb_labels if label in config.labels],
    ).fit(x, y[:, cols], sample_weight=w)
    if training.neutralize_identity_features:
        q = training.identity_attack_identity_cap_quantile
        neutralize_identity_features(
            features, fitted, identity_words(), caps=None if q is None else {"identity_attack": q}
        )
    new_heads = copy.copy(heads)
    new_heads.coef_ = heads.coef_.copy()
    new_heads.intercept_ = heads.intercept_.copy()
    new_heads.coef_[:, cols] = fitted.coef_
    new_heads.intercept_[cols] = fitted.intercept_
    progress(f"heads fitted ({time.perf_counter() - started:.0f}s)")

    report: dict = {}
    p_val = None
    for part, parts in (("validation", split.val), ("test", split.test)):
        t, yy, _, nn, src = rows(parts)
        xx = features.transform(normalizer.transform(t))
        before, after = heads.predict_proba(xx), new_heads.predict_proba(xx)
        for label, j in zip(config.labels, cols, strict=True):
            k = ~np.isnan(yy[:, j])
            report.setdefault(label, {})[part] = _auc_by_source(yy[k, j], before[k, j], after[k, j], nn[k])
        if part == "validation":
            usable = np.isin(src, [i for i, c in enumerate(parts) if c.name in THRESHOLD_SOURCES])
            p_val, y_val = after, yy
    chosen, details = training_thresholds(p_val, y_val, usable, training, labels=tuple(config.labels))
    thresholds = {k: v for k, v in model.thresholds.items() if k not in config.labels} | chosen
    progress(f"thresholds (training's; fit them to a news desk with `thresholds`): {chosen}")
    for label in config.labels:
        progress(f"head {label}: {report[label]}")

    payload = dict(model._payload, features=features, heads=new_heads, thresholds=thresholds)
    metadata = dict(model.metadata, thresholds=thresholds)
    metadata["config"] = {**metadata.get("config", {}), "phone_features": has_phone_block(features)}
    metadata["n_features"] = int(new_heads.coef_.shape[0])
    metrics = dict(metadata.get("metrics", {}))
    metrics["validation_thresholds"] = {**metrics.get("validation_thresholds", {}), **details}
    metadata["metrics"] = metrics
    metadata["refit"] = {
        "config": asdict(config),
        "from_model": model.version,
        "phone_features_added": added,
        "seconds": round(time.perf_counter() - started, 1),
        "report": report,
        "training_data": [
            {
                "name": c.name,
                "weight": float(c.weight[0]) if len(c) else 0.0,
                "rows_train": len(c),
                **({"sha256": c.file_sha256} if c.file_sha256 else {}),
            }
            for c in split.train
        ],
    }
    return save_model(ModelArtifact(payload, metadata), out)
