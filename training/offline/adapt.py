"""Fitting a site adapter (``training.adapter``) from a site's moderator labels: ``python -m training adapt``.

    adapter = fit_adapter(model, texts, y)             # y: 0/1 for the adapter's label
    texts, y, skipped = read_export("labels.csv")      # a `manage.py export_labels` file
    save_adapter(adapter, "var/adapters/site.joblib", model, site="site")

The choice of a stacked site head over a calibration layer alone or a reweighted retrain was measured by
``python -m benchmarks adaptation`` (docs/adaptation.md).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from training.adapter import SiteAdapter, log_odds
from training.budget import GENERAL, NO_WORDS, fit_review_threshold
from training.offline import datasets
from training.runtime import ModelArtifact

# The site head's inverse regularisation (L2, on the model's TF-IDF columns), chosen among 0.05, 0.3 and 1 on
# the adaptation benchmark's Fox News hold-out (docs/adaptation.md: so its figure there is slightly
# optimistic; 0.3 gains +0.077 against 1's +0.097); smaller values move less and gain less.
HEAD_C = 1.0
STACK_C = 1.0
MIN_PER_CLASS = 10
MIN_REJECTED = 10


def read_export(path: Path | str, label: str = GENERAL) -> tuple[list[str], list[int], Counter]:
    """The rows of a moderator export (`manage.py export_labels`: `text`, `label`, ...) that say something
    about `label`, as (texts, 0/1 targets, skipped counts by reason). The moderator vocabulary maps to labels
    exactly as the trainer maps it (``datasets.MODERATOR_LABELS``); rows the trainer skips (off_topic, other)
    and rows that say nothing about `label` (spam, for toxicity) are counted in `skipped`. Raises
    `datasets.DataError` for a missing column or an unknown label value, naming the row."""
    path = Path(path)
    rows = datasets.read_rows(path, ["text", "label"])
    texts: list[str] = []
    y: list[int] = []
    skipped: Counter = Counter()
    for line, r in enumerate(rows, start=2):
        value = r["label"].strip().lower()
        if value in datasets.MODERATOR_SKIPPED_LABELS:
            skipped[f"label {value!r} (not trained on)"] += 1
            continue
        if value not in datasets.MODERATOR_LABELS:
            raise datasets.DataError(
                f"{path}:{line}: label {r['label']!r} not one of {sorted(datasets.MODERATOR_LABELS)}"
            )
        target = datasets.MODERATOR_LABELS[value].get(label)
        if target is None:
            skipped[f"label {value!r} (says nothing about {label})"] += 1
            continue
        texts.append(r["text"])
        y.append(int(target >= 0.5))
    return texts, y, skipped


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, s)), 4) if 0 < y.sum() < len(y) else None


def site_reject(scores: np.ndarray, y: np.ndarray, precision: float, fallback: float) -> float:
    """The lowest threshold whose rejections (score >= it) are at least `precision` right on the site's
    labels, with at least `MIN_REJECTED` rejections; `fallback` when no threshold qualifies."""
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(y[order])
    best = None
    for k in range(MIN_REJECTED, len(order) + 1):
        if hits[k - 1] / k >= precision:
            best = float(scores[order[k - 1]])
    return fallback if best is None else best


def fit_adapter(
    model: ModelArtifact,
    texts: list[str],
    y: list[int],
    *,
    label: str = GENERAL,
    head_c: float | None = HEAD_C,
    review_budget: float = 0.15,
    reject_precision: float = 0.95,
    seed: int = 0,
) -> SiteAdapter:
    """Fit a site adapter for `label` on a site's labelled comments (`texts`, 0/1 `y`) over `model` as served.

    The head is a class-balanced L2 logistic regression (C = `head_c`) on the model's fast-stage features
    (`head_c` None: no head, the stack alone is a calibration layer on the model's scores, the option it was
    compared with); the stack is a logistic regression on the model's label log-odds and the head's
    out-of-fold log-odds (5-fold, so the stack learns how far to trust the head from rows it did not fit).
    Site thresholds for the adapted score, from its out-of-fold values on the labels: review flags at most
    `review_budget` of them (with the other labels at the model's review thresholds,
    ``training.budget.fit_review_threshold``; never at or below what a comment with no words scores), reject
    is the lowest score whose rejections are `reject_precision` right, never below review (else 1.0).

    Raises `ValueError` if `label` is not the model's, or there are fewer than `MIN_PER_CLASS` labels of
    either class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if label not in model.labels:
        raise ValueError(f"label {label!r} is not one of the model's {model.labels}")
    target = np.asarray(y, dtype=int)
    if len(target) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(target)} labels")
    positives = int(target.sum())
    if min(positives, len(target) - positives) < MIN_PER_CLASS:
        raise ValueError(
            f"an adapter needs at least {MIN_PER_CLASS} labelled comments of each class; got {positives} "
            f"{label} and {len(target) - positives} not"
        )
    scored = model.score(texts)
    base = np.array([[s[name] for name in model.labels] for s in scored])
    features = model.feature_matrix(texts)
    head_coef, head_intercept = np.zeros(features.shape[1], dtype=np.float32), 0.0
    out_of_fold = np.zeros(len(target))
    if head_c is not None:
        head = LogisticRegression(C=head_c, class_weight="balanced", max_iter=2000)
        folds = StratifiedKFold(
            n_splits=min(5, positives, len(target) - positives), shuffle=True, random_state=seed
        )
        out_of_fold = cross_val_predict(head, features, target, cv=folds, method="decision_function")
        head.fit(features, target)
        head_coef, head_intercept = head.coef_[0].astype(np.float32), float(head.intercept_[0])
    stack_inputs = np.column_stack([log_odds(base), out_of_fold])
    stack = LogisticRegression(C=STACK_C, max_iter=1000).fit(stack_inputs, target)
    adapter = SiteAdapter(
        label=label,
        base_labels=list(model.labels),
        head_coef=head_coef,
        head_intercept=head_intercept,
        stack_coef=stack.coef_[0].astype(np.float64),
        stack_intercept=float(stack.intercept_[0]),
        thresholds={},
        base_model={"version": model.version, "sha256": str(model.metadata.get("sha256", ""))},
    )
    # out-of-fold adapted scores: the stack's 8 weights barely fit, the head's column is out of fold
    adapted = stack.predict_proba(stack_inputs)[:, 1]
    adapter.thresholds = {
        label: site_thresholds(model, adapter, scored, adapted, target, review_budget, reject_precision)
    }
    j = model.labels.index(label)
    adapter.fit = {
        "rows": len(target),
        "positives": positives,
        "label": label,
        "head_C": head_c,
        "review_budget": review_budget,
        "reject_precision": reject_precision,
        "out_of_fold_auc": {"shared_model": _auc(target, base[:, j]), "adapted": _auc(target, adapted)},
    }
    return adapter


def site_thresholds(
    model: ModelArtifact,
    adapter: SiteAdapter,
    scored: list[dict[str, float]],
    adapted: np.ndarray,
    y: np.ndarray,
    review_budget: float,
    reject_precision: float,
) -> dict[str, float]:
    """{"reject", "review"} for the adapted score on the site's labelled rows (see `fit_adapter`). The review
    threshold honours the budget first; reject is never below it (toxicity never rejects alone: the policy
    needs a clear abuse label to agree, ``moderation.policy``)."""
    label = adapter.label
    rows = [{**s, label: float(a)} for s, a in zip(scored, adapted, strict=True)]
    floor = max(s[label] for s in adapter.score(model, list(NO_WORDS)))
    thresholds = {**model.thresholds, label: {"reject": 1.0, "review": 1.0}}
    review = fit_review_threshold(rows, thresholds, review_budget, label=label, floor=floor).review
    reject = max(site_reject(adapted, y, reject_precision, 1.0), review)
    return {"reject": round(reject, 6), "review": review}
