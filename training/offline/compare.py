"""Side-by-side quality against the peer library alt-profanity-check (a [train] extra)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from training.offline.evaluate import (
    auc_difference,
    binary_metrics,
    read_labelled,
    refuse_training_rows,
    scorer_for,
)


def peer_scores(texts: list[str]) -> np.ndarray:
    """alt-profanity-check's `predict_prob` (its own linear SVM + vectorizer; toxicity/profanity only)."""
    try:
        from profanity_check import predict_prob
    except ImportError as exc:  # training extra not installed
        raise RuntimeError("alt-profanity-check is not installed: pip install -e '.[train]'") from exc
    return np.asarray(predict_prob(texts), dtype=float)


def _ranking(y, scores) -> dict:
    m = binary_metrics(y, scores)
    return {k: m[k] for k in ("roc_auc", "roc_auc_ci95", "average_precision")}


def write_scores(path: Path, y: list[int], scores: dict[str, np.ndarray]) -> None:
    """One CSV row per evaluation row: its 0/1 label and each scorer's score (for ROC plots elsewhere)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", *scores])
        for i, label in enumerate(y):
            writer.writerow([label, *(f"{s[i]:.6f}" for s in scores.values())])


def compare_scores(
    texts: list[str],
    y: list[int],
    model,
    task: str = "toxicity",
    baseline=None,
    scores_out: Path | None = None,
) -> dict:
    """ROC AUC (with its 95% interval) and AP of our `task` score, of the peer and, if given, of a `baseline`
    artifact, all on the same rows; then ours minus each of them with DeLong's paired 95% interval and
    p-value (`training.offline.evaluate.auc_difference`). The peer has no spam model: its profanity score is
    reported for either task. `scores_out`: also write every row's label and scores there (`write_scores`)."""
    ours = scorer_for(model, task)(texts)
    others = {"alt_profanity_check": peer_scores(texts)}
    if baseline is not None:
        others["baseline"] = scorer_for(baseline, task)(texts)
    if scores_out is not None:
        write_scores(Path(scores_out), y, {"ours": ours, **others})
    out = {
        "task": task,
        "n": len(y),
        "positives": int(np.sum(y)),
        "model_version": model.version,
        "ours": _ranking(y, ours),
    }
    for name, scores in others.items():
        out[name] = _ranking(y, scores)
    if baseline is not None:
        out["baseline"]["model_version"] = baseline.version
    if out["ours"]["roc_auc"] is not None:
        out["differences"] = {name: auc_difference(y, ours, scores) for name, scores in others.items()}
    return out


def compare_csv(
    model,
    path: Path,
    text_column: str,
    label_column: str,
    task: str = "toxicity",
    baseline=None,
    scores_out: Path | None = None,
) -> dict:
    """`compare_scores` on a labelled CSV (`evaluate.read_labelled`: 0/1 labels or an `export_labels` file as
    it is), with ``skipped_rows`` (rows whose label says nothing about `task`). Raises
    `evaluate.TrainingOverlapError` if either model trained on any of its rows."""
    rows = read_labelled(path, text_column, label_column, task)
    refuse_training_rows(model, rows.texts)
    if baseline is not None:
        refuse_training_rows(baseline, rows.texts, "the baseline")
    result = compare_scores(rows.texts, rows.y, model, task, baseline, scores_out)
    return {**result, "skipped_rows": rows.skipped}
