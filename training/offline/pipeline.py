"""Offline training: data -> features -> per-label linear heads -> thresholds -> artifact on disk.

from training.offline.pipeline import TrainingConfig, train_model, save_model
model = train_model(TrainingConfig())          # ModelArtifact, in memory
model = save_model(model, "models/default.joblib")   # writes .joblib + .json, reloads it verified
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import precision_recall_curve, roc_auc_score
from sklearn.pipeline import FeatureUnion

from training.embedding import MEAN_POOLED, NORMALISED, VECTORS
from training.features import (
    CachedCharTfidf,
    LinearHeads,
    PhoneNumberFeatures,
    TextNormalizer,
    TextShapeFeatures,
)
from training.offline import datasets
from training.offline.datasets import Corpus, concat
from training.offline.evaluate import binary_metrics
from training.offline.identity_augment import identity_sentences, identity_words
from training.runtime import (
    ARTIFACT_FORMAT,
    LABELS,
    ModelArtifact,
    file_sha256,
    load_model,
    metadata_path,
    serialize_payload,
)

DEFAULT_SOURCES = {
    "jigsaw_toxic_sample_5k": 1.0,
    "jigsaw_toxic_binary_20k": 1.0,
    "civil_comments_samples_4k": 1.5,
    "civil_comments_toxic_spans": 0.35,
    "davidson_hate_offensive": 0.0,
    "youtube_spam_collection": 5.0,
    "youtube_spam_2014_extra": 5.0,
    "sms_spam_collection": 0.7,
    "spamassassin": 0.15,
    # Spam that knows scams (investment, fund recovery, fake support) and link drops, added 2026-12-03
    # (issue 22; `training.offline.refit` refitted the shipped spam head on them): their toxicity is unknown,
    # so only spam and the vocabulary learn from them. WordPress spam is positives only; the real comments
    # above are its ham (`TrainingConfig.validate`).
    "instagram_scam_comments": 1.0,
    "wordpress_blog_spam": 1.0,
}
# Sources whose validation rows pick the thresholds: real comments at a realistic class balance. The
# positives-only, tweet, e-mail and synthetic sources would make precision look better than it is.
THRESHOLD_SOURCES = {
    "jigsaw_toxic_sample_5k",
    "jigsaw_toxic_binary_20k",
    "civil_comments_samples_4k",
    "youtube_spam_collection",
    "youtube_spam_2014_extra",
    "sms_spam_collection",
}
# Real comments labelled spam 0 by their loaders: the ham that the positives-only spam sets are paired with.
SPAM_HAM_SOURCES = {"civil_comments_samples_4k", "jigsaw_toxic_sample_5k", "jigsaw_toxic_binary_20k"}
ALWAYS_THRESHOLDED = ("toxicity", "spam")
# identity_attack keeps the identity-word features (naming a group is part of what it detects), so it must not
# drive decisions on its own: it gets no thresholds and is shown to moderators as information only.
NEVER_THRESHOLDED = ("identity_attack",)


class ConfigError(ValueError):
    """A training config has an unknown field or a bad value."""


@dataclass
class TrainingConfig:
    """Everything that decides a trained model. JSON files given to `train --config` override these fields."""

    seed: int = 20261127
    # name -> weight (0: off)
    sources: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SOURCES))
    identity_augmentation_weight: float = 2.0
    identity_sentences_per_identity: int = 24
    neutralize_identity_features: bool = (
        True  # clip identity-word coefficients to <= 0 (except identity_attack)
    )
    # identity_attack keeps its identity-word coefficients (None), or they are capped at this quantile of
    # their positive values: 0 clips them to <= 0 like the other labels' (naming a group is no evidence of
    # an attack on it), 0.5 caps them at the median, so that every group named pushes about as much and no
    # group's name alone (one the hate sets attack often) outweighs what is said about it.
    identity_attack_identity_cap_quantile: float | None = None
    moderator_exports: list[dict] = field(default_factory=list)  # [{"path": "...csv", "weight": 2.0}]
    max_rows_per_source: int | None = None  # small-sample option for smoke tests
    nb_labels: list[str] = field(default_factory=lambda: ["toxicity"])  # NB-scaled features (LinearHeads)
    word_max_features: int = 50000
    # The telephone-number feature (`training.features.PhoneNumberFeatures`), a block after the shape ones.
    # Artifacts trained before 2026-12-04 have no such block (`refit --add-phone-features` adds one).
    phone_features: bool = True
    char_max_features: int = 100000
    word_min_df: int = 2
    char_min_df: int = 3
    C: dict[str, float] = field(
        default_factory=lambda: {label: 8.0 if label == "spam" else 2.0 for label in LABELS}
    )
    reject_precision: float = 0.90
    review_recall: float = 0.90
    threshold_min_positives: int = 40
    evaluate_external: bool = True
    data_dir: str | None = None
    # Optional second stage (training.embedding): needs the `embeddings` extra to train and to use.
    second_stage: bool = False
    second_stage_alpha: float = 0.7  # weight of the stage in the blend (validation AUC by alpha: metadata)
    second_stage_band: list[float] = field(default_factory=lambda: [0.02, 0.95])  # fast scores re-scored
    second_stage_max_rows: int = 16000  # training rows for the stage (embedded, or fine-tuned on)
    second_stage_C: float = 1.0  # the frozen-embedding head's regularisation (finetune_layers 0)
    # Encoder layers fine-tuned with the head (training.offline.finetune); 0: a logistic head on frozen
    # embeddings.
    second_stage_finetune_layers: int = 3
    second_stage_finetune_lr: float = 4e-5
    second_stage_head_lr: float = 1e-3  # the fine-tuned stage's head
    # The vector the fine-tuned stage's head is trained on and reads: "mean_pooled" (the packaged model minus
    # its Normalize module) or "normalised" (its full output, L2-normalised).
    second_stage_vector: str = MEAN_POOLED
    # Seeds the stage's row sample and fine-tuning alone (None: `seed`), so a retrain with another value
    # measures the stage's run-to-run spread on the same split.
    second_stage_seed: int | None = None
    # Allows the experiment-only sources (`datasets.EXPERIMENT_ONLY`: unverified licence, machine labels).
    # A model trained with them must not ship; its metadata carries this flag.
    experiment: bool = False

    @classmethod
    def from_file(cls, path: Path | str) -> TrainingConfig:
        """Load a JSON config; unknown keys and unknown source names raise `ConfigError` naming them."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"config {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"config {path}: top level must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"config {path}: unknown field(s) {unknown}; known: {sorted(known)}")
        config = cls(**{**asdict(cls()), **raw})
        config.validate()
        return config

    def validate(self) -> None:
        bad = sorted(set(self.sources) - set(datasets.TRAINING_LOADERS))
        if bad:
            raise ConfigError(
                f"sources: unknown dataset(s) {bad}; trainable: {sorted(datasets.TRAINING_LOADERS)}"
                f" (evaluation-only sets cannot be trained on)"
            )
        unknown_nb = sorted(set(self.nb_labels) - set(LABELS))
        if unknown_nb:
            raise ConfigError(f"nb_labels: unknown label(s) {unknown_nb}; labels: {list(LABELS)}")
        for name, weight in self.sources.items():
            if weight < 0:
                raise ConfigError(f"sources.{name}: weight must be >= 0, got {weight}")
        restricted = sorted(n for n in datasets.EXPERIMENT_ONLY if self.sources.get(n, 0) > 0)
        if restricted and not self.experiment:
            raise ConfigError(
                f"sources: {restricted} are for experiments only (see the data README); set "
                f'"experiment": true to train with them, and do not ship the model'
            )
        if self.sources.get("wordpress_blog_spam", 0) > 0 and not any(
            self.sources.get(n, 0) > 0 for n in SPAM_HAM_SOURCES
        ):
            raise ConfigError(
                "sources.wordpress_blog_spam is spam only: train it with at least one of "
                f"{sorted(SPAM_HAM_SOURCES)} (real comments, the spam head's negatives)"
            )
        for i, export in enumerate(self.moderator_exports):
            if "path" not in export:
                raise ConfigError(f"moderator_exports[{i}]: needs a 'path'")
        for name in ("reject_precision", "review_recall"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        q = self.identity_attack_identity_cap_quantile
        if q is not None and not 0 <= q <= 1:
            raise ConfigError(f"identity_attack_identity_cap_quantile must be in [0, 1] or null, got {q}")
        if not 0 < self.second_stage_alpha <= 1:
            raise ConfigError(f"second_stage_alpha must be in (0, 1], got {self.second_stage_alpha}")
        band = self.second_stage_band
        if len(band) != 2 or not 0 <= band[0] <= band[1] <= 1:
            raise ConfigError(f"second_stage_band must be [low, high] with 0 <= low <= high <= 1, got {band}")
        if self.second_stage_max_rows < 100:
            raise ConfigError(f"second_stage_max_rows must be >= 100, got {self.second_stage_max_rows}")
        if not 0 <= self.second_stage_finetune_layers <= 6:
            raise ConfigError(
                f"second_stage_finetune_layers must be in 0..6 (all-MiniLM-L6-v2 has 6), "
                f"got {self.second_stage_finetune_layers}"
            )
        if self.second_stage_vector not in VECTORS:
            raise ConfigError(
                f"second_stage_vector must be {MEAN_POOLED!r} or {NORMALISED!r}, "
                f"got {self.second_stage_vector!r}"
            )
        if not 0 < self.second_stage_head_lr < 1:
            raise ConfigError(f"second_stage_head_lr must be in (0, 1), got {self.second_stage_head_lr}")
        if not 0 < self.second_stage_finetune_lr < 1:
            raise ConfigError(
                f"second_stage_finetune_lr must be in (0, 1), got {self.second_stage_finetune_lr}"
            )


def build_features(config: TrainingConfig) -> FeatureUnion:
    """Word 1-2-gram and char_wb 2-5-gram TF-IDF on normalised text (vocabulary capped for file size), and
    the few link/length features of `TextShapeFeatures`, last so the n-gram columns keep their offsets, then
    (`config.phone_features`) the telephone-number feature."""
    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, 2),
                    lowercase=False,
                    sublinear_tf=True,
                    min_df=config.word_min_df,
                    max_df=0.5,
                    max_features=config.word_max_features,
                    token_pattern=r"(?u)\b\w\w+\b",
                    dtype=np.float32,
                ),
            ),
            (
                "char",
                CachedCharTfidf(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    lowercase=False,
                    sublinear_tf=True,
                    min_df=config.char_min_df,
                    max_features=config.char_max_features,
                    dtype=np.float32,
                ),
            ),
            ("shape", TextShapeFeatures()),
            *([("phone", PhoneNumberFeatures())] if config.phone_features else []),
        ]
    )


def load_corpora(config: TrainingConfig, root: Path) -> list[Corpus]:
    """The training corpora `config` names (its moderator exports, then sources with weight > 0), read from
    the shared data under `root` and sampled to `config.max_rows_per_source` with `config.seed`. Raises
    what the dataset loaders raise for a missing or malformed file.

    The exports come first because `datasets.dedupe_and_split` keeps the first copy of a text: where a site's
    moderators and a public set label the same comment, the site's decision is the one trained on (the public
    copy is counted as a duplicate or a conflicting label of its own source)."""
    corpora = [
        datasets.load_moderator_export(export["path"], weight=float(export.get("weight", 1.0)))
        for export in config.moderator_exports
    ]
    for name, loader in datasets.TRAINING_LOADERS.items():
        weight = config.sources.get(name, 0.0)
        if weight > 0:
            corpora.append(loader(root, weight=weight))
    if config.max_rows_per_source:
        rng = np.random.default_rng(config.seed)
        sampled = []
        for c in corpora:
            if len(c) > config.max_rows_per_source:
                mask = np.zeros(len(c), dtype=bool)
                mask[rng.choice(len(c), config.max_rows_per_source, replace=False)] = True
                c = c.subset(mask)
            sampled.append(c)
        corpora = sampled
    return corpora


def training_split(config: TrainingConfig, root: Path | None = None) -> datasets.SplitCorpora:
    """`config`'s corpora (with the civil identity sentences when it uses them), every evaluation-only text
    dropped, hash-split by `config.seed`: the rows `train_model` trains on, read again by `refit` and
    `restage` from a model's own config."""
    root = root or datasets.data_dir()
    corpora = load_corpora(config, root)
    if config.identity_augmentation_weight > 0:
        corpora.append(identity_corpus(config))
    return datasets.dedupe_and_split(corpora, datasets.eval_only_keys(root), config.seed)


def identity_corpus(config: TrainingConfig) -> Corpus:
    """Civil sentences naming identity groups (`identity_augment`), labelled non-toxic and not spam, with
    `config.identity_augmentation_weight`."""
    texts = identity_sentences(config.seed, config.identity_sentences_per_identity)
    y = np.full((len(texts), len(LABELS)), np.nan)
    y[:, :] = 0.0  # civil, not spam
    return Corpus(
        "identity_augmentation", None, texts, y, np.full(len(texts), config.identity_augmentation_weight)
    )


# Words that carry no meaning of their own next to an identity word: "she is", "is black", "the muslim" say
# no more than "she", "black", "muslim".
FUNCTION_WORDS = frozenset(
    "a an the is are was were be been being am i you he she it we they this that these those of to in on at "
    "for with as and or but not no so do does did has have had will would can could should my your his her "
    "its our their me him them us who whom what which there here all some any".split()
)


def neutralize_identity_features(
    features: FeatureUnion,
    heads: LinearHeads,
    words: set[str],
    keep: tuple[str, ...] = ("identity_attack",),
    caps: dict[str, float] | None = None,
) -> int:
    """Clip to <= 0 the coefficients of features that only say "an identity group is named".

    Word features: unigrams/bigrams made only of identity words and function words (`FUNCTION_WORDS`), with at
    least one identity word ("muslim", "black women", "she is"). Char features: every n-gram of 3+ characters
    inside " <identity word> " (" gay", "usli", "slim "). Positive weights only, so a shared n-gram ("lack" in
    "black" and "slack") loses at most its push towards toxic. Applied to every label except spam and those
    in `keep`; a label in `caps` {label: q} has its identity coefficients capped at the q-quantile of their
    positive values instead (q = 0: clipped to 0). Returns the number of coefficients changed.
    """
    identity_grams = set()
    for word in words:
        padded = f" {word} "
        for n in range(3, len(padded) + 1):
            identity_grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    columns = []
    offset = 0
    for name, vectorizer in features.transformer_list:
        if not hasattr(vectorizer, "vocabulary_"):
            break  # the shape features come last and name no identity
        for term, idx in vectorizer.vocabulary_.items():
            tokens = term.split()
            if (
                name == "word"
                and any(tok in words for tok in tokens)
                and all(tok in words or tok in FUNCTION_WORDS for tok in tokens)
            ) or (name == "char" and term in identity_grams):
                columns.append(offset + idx)
        offset += len(vectorizer.vocabulary_)
    columns = np.asarray(columns, dtype=int)
    changed = 0
    for j, label in enumerate(heads.labels):
        if label == "spam" or (label in keep and label not in (caps or {})):
            continue
        block = heads.coef_[columns, j]
        cap = 0.0
        if caps and label in caps and caps[label] > 0 and (block > 0).any():
            cap = float(np.quantile(block[block > 0], caps[label]))
        changed += int((block > cap).sum())
        heads.coef_[columns, j] = np.minimum(block, cap)
    return changed


def choose_thresholds(y: np.ndarray, s: np.ndarray, reject_precision: float, review_recall: float) -> dict:
    """Reject: the lowest score from which precision stays >= `reject_precision`; review: the highest score
    that still catches `review_recall` of positives (never above reject). Includes the precision/recall
    reached."""
    precision, recall, thr = precision_recall_curve(y, s)
    precision, recall = precision[:-1], recall[:-1]
    # precision is not monotone in the threshold; require it to hold for every higher threshold too
    prec_from_here = np.minimum.accumulate(precision[::-1])[::-1]
    ok = np.flatnonzero(prec_from_here >= reject_precision)
    reject = float(thr[ok[0]]) if len(ok) else float(min(0.99, thr[-1]))
    ok = np.flatnonzero(recall >= review_recall)
    review = float(thr[ok[-1]]) if len(ok) else float(thr[0])
    review = min(review, reject)
    th = {"reject": round(reject, 4), "review": round(review, 4)}
    m = binary_metrics(y, s, th)
    return {
        **th,
        "validation": {
            k: m[k]
            for k in (
                "n",
                "positives",
                "roc_auc",
                "average_precision",
                "precision",
                "recall",
                "precision_at_reject",
                "recall_at_reject",
            )
        },
    }


def _hard(y: np.ndarray) -> np.ndarray:
    return (y >= 0.5).astype(int)


def _per_label_metrics(
    heads_proba: np.ndarray, y: np.ndarray, src: np.ndarray, corpora: list[Corpus], thresholds: dict
) -> dict:
    """Per label: pooled over threshold sources, and per source."""
    out: dict = {}
    for j, label in enumerate(LABELS):
        known = ~np.isnan(y[:, j])
        entry = {}
        pooled = known & np.isin(src, [i for i, c in enumerate(corpora) if c.name in THRESHOLD_SOURCES])
        if pooled.any() and len(np.unique(_hard(y[pooled, j]))) == 2:
            entry["pooled"] = binary_metrics(
                _hard(y[pooled, j]), heads_proba[pooled, j], thresholds.get(label)
            )
        for i, c in enumerate(corpora):
            m = known & (src == i)
            if m.any() and len(np.unique(_hard(y[m, j]))) == 2:
                entry[c.name] = binary_metrics(_hard(y[m, j]), heads_proba[m, j], thresholds.get(label))
        out[label] = entry
    return out


def require_both_classes(y: np.ndarray, labels) -> None:
    """Raise ValueError naming the first of `labels` (columns of LABELS in `y`) whose known training rows are
    all positive or all negative: no head can be fitted on them."""
    for label in labels:
        j = LABELS.index(label)
        known = ~np.isnan(y[:, j])
        positives = int((y[known, j] >= 0.5).sum())
        if not 0 < positives < int(known.sum()):
            raise ValueError(
                f"head {label}: the training rows need both classes; {positives} of {int(known.sum())} "
                "rows are positive (raise max_rows_per_source or add a source that labels it)"
            )


def training_thresholds(
    p_val: np.ndarray,
    y_val: np.ndarray,
    usable: np.ndarray,
    config: TrainingConfig,
    labels: tuple[str, ...] = tuple(LABELS),
) -> tuple[dict, dict]:
    """The thresholds training chooses (label -> {"reject", "review"}) and how, for `labels` (columns of
    LABELS in `p_val` / `y_val`), on the validation rows marked `usable` (the `THRESHOLD_SOURCES`'): reject at
    `config.reject_precision`, review at `config.review_recall`; a label with fewer than
    `config.threshold_min_positives` positives, or average precision under 0.5, gets none (except
    `ALWAYS_THRESHOLDED`), and `NEVER_THRESHOLDED` never does. `training.offline.thresholds` then fits them to
    a news desk."""
    thresholds: dict = {}
    details: dict = {}
    for label in labels:
        j = LABELS.index(label)
        m = usable & ~np.isnan(y_val[:, j])
        yy = _hard(y_val[m, j])
        if label in NEVER_THRESHOLDED:
            continue
        if yy.sum() < (1 if label in ALWAYS_THRESHOLDED else config.threshold_min_positives) or yy.all():
            continue
        chosen = choose_thresholds(yy, p_val[m, j], config.reject_precision, config.review_recall)
        ap = chosen["validation"]["average_precision"] or 0.0
        if label in ALWAYS_THRESHOLDED or ap >= 0.5:
            thresholds[label] = {"reject": chosen["reject"], "review": chosen["review"]}
            details[label] = chosen
    return thresholds, details


def train_model(
    config: TrainingConfig | None = None, progress: Callable[[str], None] = print
) -> ModelArtifact:
    """Train every label on the configured sources; return an in-memory, unsaved `ModelArtifact`.

    Steps: load + map labels, drop evaluation-set texts and duplicates, hash-split 80/10/10 by normalised
    text, fit TF-IDF and heads on train, pick thresholds on validation, measure on test (and, if
    `config.evaluate_external`, on every evaluation-only set). Raises `ConfigError` / `datasets.DataError`.
    """
    config = config or TrainingConfig()
    config.validate()
    random.seed(config.seed)
    np.random.seed(config.seed)
    started = time.perf_counter()
    root = Path(config.data_dir).resolve() if config.data_dir else datasets.data_dir()

    corpora = load_corpora(config, root)
    if config.identity_augmentation_weight > 0:
        corpora.append(identity_corpus(config))
    banned = datasets.eval_only_keys(root)
    split = datasets.dedupe_and_split(corpora, banned, config.seed)
    progress(
        f"loaded {sum(len(c) for c in corpora)} rows from {len(corpora)} sources; "
        f"train {sum(len(c) for c in split.train)}, val {sum(len(c) for c in split.val)}, "
        f"test {sum(len(c) for c in split.test)}"
    )
    for line in describe_drops(split.dropped_by_reason):
        progress(line)

    texts, y, w, _ = concat(split.train)
    normalizer = TextNormalizer()
    norm_texts = normalizer.transform(texts)
    features = build_features(config)
    x = features.fit_transform(norm_texts)
    for _, vectorizer in features.transformer_list:
        if hasattr(vectorizer, "stop_words_"):
            vectorizer.stop_words_ = None  # only needed for introspection; it would triple the file size
    progress(f"features: {x.shape[1]} columns ({time.perf_counter() - started:.0f}s)")

    heads = LinearHeads(labels=list(LABELS), C=dict(config.C), nb_labels=list(config.nb_labels)).fit(
        x, y, sample_weight=w
    )
    progress(f"heads fitted ({time.perf_counter() - started:.0f}s)")
    if config.neutralize_identity_features:
        q = config.identity_attack_identity_cap_quantile
        caps = None if q is None else {"identity_attack": q}
        changed = neutralize_identity_features(features, heads, identity_words(), caps=caps)
        progress(f"identity features neutralised: {changed} positive coefficients clipped to 0")

    def proba(parts: list[Corpus]):
        t, yy, _, src = concat(parts)
        return heads.predict_proba(features.transform(normalizer.transform(t))), yy, src

    p_val, y_val, src_val = proba(split.val)
    usable = np.isin(src_val, [i for i, c in enumerate(split.val) if c.name in THRESHOLD_SOURCES])
    thresholds, threshold_details = training_thresholds(p_val, y_val, usable, config)
    progress(f"thresholds: {thresholds}")

    p_test, y_test, src_test = proba(split.test)
    stage = None
    if config.second_stage:
        stage, stage_metrics = _train_second_stage(
            config,
            (texts, y, w),
            (split.val, p_val, y_val, usable),
            (split.test, p_test, y_test, src_test),
            normalizer,
            progress,
        )
    metrics = {
        "held_out_test": _per_label_metrics(p_test, y_test, src_test, split.test, thresholds),
        # Every row left out of training, per source and reason (datasets.DROP_REASONS and the loaders'
        # skips: a moderator export's off_topic/other and unknown labels).
        "rows_dropped": split.dropped_by_reason,
        "validation_thresholds": threshold_details,
        "threshold_policy": f"reject: precision >= {config.reject_precision} on validation; "
        f"review: recall >= {config.review_recall} on validation "
        f"(validation sources: {sorted(THRESHOLD_SOURCES)})",
    }
    payload = {
        "format": ARTIFACT_FORMAT,
        "normalizer": normalizer,
        "features": features,
        "heads": heads,
        "labels": list(LABELS),
        "thresholds": thresholds,
        "second_stage": stage,
    }
    if stage is not None:
        metrics["second_stage"] = stage_metrics
    training_data = []
    for c_train, c_val, c_test, corpus in zip(split.train, split.val, split.test, corpora, strict=True):
        entry = {
            "name": corpus.name,
            "weight": float(corpus.weight[0]) if len(corpus) else 0.0,
            "rows_train": len(c_train),
            "rows_val": len(c_val),
            "rows_test": len(c_test),
            "rows_dropped": split.dropped[corpus.name] + sum(corpus.skipped.values()),
            "rows_dropped_by_reason": split.dropped_by_reason[corpus.name],
        }
        if corpus.path is not None:
            try:
                entry["path"] = str(corpus.path.resolve().relative_to(root))
            except ValueError:
                entry["path"] = str(corpus.path)
            entry["sha256"] = corpus.file_sha256
        if corpus.name in datasets.SHARE_ALIKE:
            entry["licence"] = datasets.SHARE_ALIKE[corpus.name] + " (share-alike)"
        training_data.append(entry)
    metadata = {
        "labels": list(LABELS),
        "thresholds": thresholds,
        "seed": config.seed,
        "config": asdict(config),
        "training_data": training_data,
        "metrics": metrics,
        "training_seconds": round(time.perf_counter() - started, 1),
        "n_features": int(x.shape[1]),
        "training_rows": training_rows_record(split.train),
    }
    artifact = ModelArtifact(payload, metadata)
    if config.evaluate_external:
        from training.offline.evaluate import evaluate_external

        metrics["external"] = evaluate_external(artifact, root)
        progress(f"external evaluation done ({time.perf_counter() - started:.0f}s)")
        if stage is not None:
            with_stage = ModelArtifact(payload, metadata, second_stage=True)
            metrics["second_stage"]["external"] = evaluate_external(with_stage, root)
            progress(f"external evaluation with the second stage done ({time.perf_counter() - started:.0f}s)")
    # Reported apart: fitting (every model, the thresholds, the stage's fine-tuning, the held-out split) and
    # measuring on the evaluation-only sets, which `evaluate_external: false` skips.
    metadata["fit_seconds"] = metadata["training_seconds"]
    metadata["training_seconds"] = round(time.perf_counter() - started, 1)
    metadata["external_evaluation_seconds"] = round(metadata["training_seconds"] - metadata["fit_seconds"], 1)
    return artifact


def describe_drops(dropped_by_reason: dict[str, dict[str, int]]) -> list[str]:
    """One line per source that lost rows: ``dropped from NAME: 2 duplicate, 1 conflicting_label``."""
    return [
        f"dropped from {name}: " + ", ".join(f"{n} {reason}" for reason, n in reasons.items())
        for name, reasons in dropped_by_reason.items()
        if reasons
    ]


def training_rows_record(train: list[Corpus]) -> dict:
    """What the sidecar keeps of the rows a model trained on, so that `evaluate`/`compare` can refuse rows it
    has seen: the 64-bit hashes of the moderator exports' training rows (``datasets.text_hashes``; the
    public sets are named with their sha256 in ``training_data`` and kept apart from the evaluation sets by
    ``eval_only_keys``), about 11 characters a row."""
    texts = [t for c in train if c.name.startswith("moderator_export:") for t in c.texts]
    hashes = datasets.text_hashes(texts)
    return {"key": datasets.TRAINING_ROW_KEY, "moderator_exports": datasets.encode_hashes(hashes)}


def _encode_cached(texts: list[str], progress: Callable[[str], None], what: str, embedder=None) -> np.ndarray:
    """Embeddings of normalised `texts` by `embedder` (default: the packaged model), cached on disk under
    var/cache/embeddings by content hash and embedder identity (training embeds the same rows on every run
    with the same seed; a cold run of the default config takes minutes)."""
    from training.embedding import EMBEDDING_DIM, load_embedder

    embedder = embedder or load_embedder()
    identity = [f"{k}={v}" for k, v in sorted(embedder.identity.items())]
    key = hashlib.sha256(("\0".join([*identity, *texts])).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    cache = Path(__file__).resolve().parents[2] / "var" / "cache" / "embeddings" / f"{key}.npy"
    if cache.is_file():
        vectors = np.load(cache)
        if vectors.shape == (len(texts), EMBEDDING_DIM):
            progress(f"embeddings of {len(texts)} {what} rows read from {cache}")
            return vectors
    chunks = []
    started = time.perf_counter()
    step = 2048
    for i in range(0, len(texts), step):
        chunks.append(embedder.encode(texts[i : i + step]))
        done = min(i + step, len(texts))
        rate = done / max(time.perf_counter() - started, 1e-9)
        progress(f"embedding {what}: {done}/{len(texts)} ({rate:.0f}/s)")
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def stage_rows(config: TrainingConfig, y: np.ndarray, cap: int | None = None) -> tuple[np.ndarray, int]:
    """(row indexes, seed) of the training rows the second stage is fine-tuned on: those that know toxicity,
    a seeded sample of at most `cap` (default `config.second_stage_max_rows`) of them; the seed is
    `second_stage_seed`, else the model's. `restage` reads the same rows again."""
    j = LABELS.index("toxicity")
    known = np.flatnonzero(~np.isnan(y[:, j]))
    seed = config.seed if config.second_stage_seed is None else config.second_stage_seed
    cap = cap or config.second_stage_max_rows
    if len(known) > cap:
        known = np.sort(np.random.default_rng(seed).choice(known, cap, replace=False))
    return known, seed


def _train_second_stage(config, train, val, test, normalizer, progress):
    """Fine-tune the encoder's top layers with a head for `toxicity` (or fit a head on frozen embeddings when
    `second_stage_finetune_layers` is 0) on a sample of the training rows, choose the blended thresholds
    on validation, measure the blend on the held-out test split. Returns (SecondStage, metrics)."""
    from training.embedding import (
        SecondStage,
        embedder_identity,
        new_sentence_model,
        stage_embedder,
        state_digest,
    )

    j = LABELS.index("toxicity")
    texts, y, w = train
    known, stage_seed = stage_rows(config, y)
    train_texts = normalizer.transform([texts[i] for i in known])
    stage = SecondStage(
        label="toxicity",
        coef=np.zeros(0, dtype=np.float32),
        intercept=0.0,
        alpha=float(config.second_stage_alpha),
        band=(float(config.second_stage_band[0]), float(config.second_stage_band[1])),
        thresholds={},
        embedder=embedder_identity(),
    )
    details: dict[str, Any] = {}
    if config.second_stage_finetune_layers:
        from training.offline.finetune import finetune_encoder

        model = new_sentence_model()
        tuned = finetune_encoder(
            model,
            train_texts,
            y[known, j],
            w[known],
            layers=config.second_stage_finetune_layers,
            lr=config.second_stage_finetune_lr,
            head_lr=config.second_stage_head_lr,
            vector=config.second_stage_vector,
            seed=stage_seed,
            progress=progress,
        )
        stage.coef, stage.intercept, stage.encoder_state = tuned.coef, tuned.intercept, tuned.state
        stage.vector = config.second_stage_vector  # what finetune_encoder trained the head on
        # measured through the embedder that scoring builds (finetuned_embedder), over the trained model
        identity = {**stage.embedder, "finetuned_sha256": state_digest(tuned.state)}
        embedder = stage_embedder(model, stage, identity)
        details["finetuned"] = {
            "layers": config.second_stage_finetune_layers,
            "vector": stage.vector,
            "parameters": int(sum(a.size for a in tuned.state.values())),
            "seconds": tuned.seconds,
            "sha256": embedder.identity["finetuned_sha256"],
        }
        progress(f"fine-tuned {config.second_stage_finetune_layers} encoder layers in {tuned.seconds:.0f}s")
    else:
        embedder = None  # the packaged model, frozen
        vectors = _encode_cached(train_texts, progress, "training")
        head = LinearHeads(labels=["toxicity"], C={"toxicity": config.second_stage_C}).fit(
            vectors, y[known, j : j + 1], sample_weight=w[known]
        )
        stage.coef = np.asarray(head.coef_[:, 0], dtype=np.float32)
        stage.intercept = float(head.intercept_[0])

    def blended(parts, fast):
        t, _, _, _ = concat(parts)
        rows = np.flatnonzero(stage.in_band(fast[:, j]))
        vec = _encode_cached(normalizer.transform([t[i] for i in rows]), progress, "band", embedder)
        return stage.blend(fast[:, j], vec), len(rows), vec

    val_parts, p_val, y_val, usable = val
    s_val, in_band_val, vec_val = blended(val_parts, p_val)
    m = usable & ~np.isnan(y_val[:, j])
    # For the record (the config decides alpha): validation AUC of the blend at other weights.
    alpha_auc = {}
    for a in (0.1, 0.3, 0.5, 0.7, 1.0):
        trial = dataclasses.replace(stage, alpha=a)
        auc = roc_auc_score(_hard(y_val[m, j]), trial.blend(p_val[:, j], vec_val)[m])
        alpha_auc[str(a)] = round(float(auc), 4)
    details["validation_roc_auc_by_alpha"] = alpha_auc
    progress(f"second stage: validation ROC AUC by alpha {alpha_auc}")
    chosen = choose_thresholds(_hard(y_val[m, j]), s_val[m], config.reject_precision, config.review_recall)
    stage.thresholds = {"reject": chosen["reject"], "review": chosen["review"]}
    progress(
        f"second stage: thresholds {stage.thresholds}; {in_band_val}/{len(s_val)} validation rows in band"
    )

    test_parts, p_test, y_test, src_test = test
    s_test, in_band_test, _ = blended(test_parts, p_test)
    p_blend = np.array(p_test, copy=True)
    p_blend[:, j] = s_test
    held_out = _per_label_metrics(p_blend, y_test, src_test, test_parts, {"toxicity": stage.thresholds})
    return stage, {
        "alpha": stage.alpha,
        "band": list(stage.band),
        "training_rows": len(known),
        "embedder": stage.embedder,
        **details,
        "validation_thresholds": chosen,
        "share_in_band": {
            "validation": round(in_band_val / max(len(s_val), 1), 4),
            "test": round(in_band_test / max(len(s_test), 1), 4),
        },
        "held_out_test": {"toxicity": held_out["toxicity"]},
    }


def library_versions() -> dict[str, str]:
    import joblib
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def compact_vocabularies(payload: dict) -> None:
    """Store the vectorizers' vocabularies as str → Python int, in place. scikit-learn builds them with numpy
    integers, which pickle as one constructor call each (150,000 for the shipped model): about three quarters
    of what loading it costs, and of the opcodes `training.verify` scans before that. The indices, and so the
    scores, are the same."""
    features = payload.get("features")
    for _, vectorizer in getattr(features, "transformer_list", []):
        vocabulary = getattr(vectorizer, "vocabulary_", None)
        if vocabulary and not all(type(index) is int for index in vocabulary.values()):
            vectorizer.vocabulary_ = {term: int(index) for term, index in vocabulary.items()}


def save_model(model: ModelArtifact, path: Path | str) -> ModelArtifact:
    """Write `model` as `<path>` (gzip-compressed pickle, see `runtime.serialize_payload`) +
    `<path stem>.json` (metadata with sha256) and return it reloaded through `training.runtime.load_model`, so
    a saved model is always a verified one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compact_vocabularies(model._payload)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(serialize_payload(model._payload))
    sha = file_sha256(tmp)
    created = datetime.now(UTC)
    metadata = {
        "version": f"tox-spam-{created:%Y.%m.%d}-{sha[:8]}",
        "created_at": created.isoformat(timespec="seconds"),
        "sha256": sha,
        "size_bytes": tmp.stat().st_size,
        "artifact_format": ARTIFACT_FORMAT,
        "library_versions": library_versions(),
        **{k: v for k, v in model.metadata.items() if k not in ("version", "sha256", "size_bytes")},
    }
    meta_tmp = metadata_path(path).with_name(metadata_path(path).name + ".tmp")
    meta_tmp.write_text(
        json.dumps(metadata, indent=1, sort_keys=False, default=_json_default) + "\n", encoding="utf-8"
    )
    tmp.replace(path)
    meta_tmp.replace(metadata_path(path))
    return load_model(path)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
