"""Side-by-side quality against the peer library alt-profanity-check (a [train] extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.evaluate import binary_metrics, scorer_for


def peer_scores(texts: list[str]) -> np.ndarray:
    """alt-profanity-check's `predict_prob` (its own linear SVM + vectorizer; toxicity/profanity only)."""
    try:
        from profanity_check import predict_prob
    except ImportError as exc:  # training extra not installed
        raise RuntimeError("alt-profanity-check is not installed: pip install -e '.[train]'") from exc
    return np.asarray(predict_prob(texts), dtype=float)


def compare_scores(texts: list[str], y: list[int], model, task: str = "toxicity") -> dict:
    """ROC AUC / AP of our `task` score and of the peer on the same rows (the peer has no spam model, its
    profanity score is reported for either task)."""
    ours = scorer_for(model, task)(texts)
    peer = peer_scores(texts)
    a = binary_metrics(y, ours)
    b = binary_metrics(y, peer)
    keys = ("roc_auc", "average_precision")
    return {
        "task": task,
        "n": a["n"],
        "positives": a["positives"],
        "model_version": model.version,
        "ours": {k: a[k] for k in keys},
        "alt_profanity_check": {k: b[k] for k in keys},
    }


def compare_csv(model, path: Path, text_column: str, label_column: str, task: str = "toxicity") -> dict:
    from training.evaluate import read_labelled_csv

    texts, y = read_labelled_csv(path, text_column, label_column, task)
    return compare_scores(texts, y, model, task)
