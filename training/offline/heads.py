"""Identity hate and threats as signals of their own (issue 22, part 3): heads on the second stage's sentence
vectors.

    python -m training heads --model var/models/onnx.joblib --out var/models/heads.joblib

The fast stage's `identity_attack` and `threat` heads read words: they rank HateCheck's hateful cases at 0.625
(identity_attack) and never put an explicit threat above 0.16. The fine-tuned encoder the second stage runs
anyway knows what a sentence says about whom; a logistic head per label on its vectors, trained on the
hate sets of 2026-12-02 (`datasets`: HateXplain, Latent Hatred, Stormfront, ToxiGen seeds, ConvAbuse, mapped
onto `identity_attack` only) with the threat and identity labels of Jigsaw and Civil Comments and the civil
identity sentences, re-scores those labels for the rows the stage embeds (its band), blended with the fast
score like the stage's own label (`training.embedding.StageHead`). The encoder is not retrained: the heads
cost a dot product a comment.

Choices are fixed before measuring, not tuned on an evaluation set: C 1.0 (scikit-learn's default), no class
weighting (the scores stay calibrated enough for thresholds), the stage's blend weight (0.7). The rows are the
training split of the same hash split as the model (`datasets.dedupe_and_split`, the model's seed, every
evaluation-only text banned), the largest sources capped (`HeadsConfig.caps`) to keep the embedding under ten
minutes on two cores. Thresholds for the new heads are chosen afterwards by `training.offline.thresholds`
(`python -m training thresholds`), on validation rows.

`HeadsConfig.identity_counterweight` (off by default) adds every civil identity template sentence as a
negative, weighing as much as the positives: tried on 2026-12-03 against the civil madlibs sentences held for
identity_attack, with the two other remedies tried; none shipped (model card, "Identity hate and threats").

`HeadsConfig.identity_swaps` (off by default; `--identity-swaps N`) adds counterfactual copies of the
training split's identity_attack-positive rows that name a group of `identity_augment.IDENTITIES`, the group
swapped for others (`identity_augment.swap_groups`), and with `identity_swap_negatives` of its negatives too.
Tried on 2026-12-03 (model card, "Identity hate and threats"): positives only, it raised every group's score
(HateCheck IA 0.727 -> 0.717 at weight 1.0, mean BPSN on the madlibs lower); with the negatives, the worst
BPSN rose (0.37 -> 0.46) and fewer civil madlibs were held, but HateCheck and Fox News IA fell. None shipped.

`HeadsConfig.name_sentences_weight` (0.3 by default since edca662d; `--name-sentences W`, 0 turns it off) adds
our own civil sentences naming people from many places (`name_augment`) as identity_attack negatives: the head
held short civil sentences about people with rare names far more often than about "Chris" (model card,
"Names").

`HeadsConfig.threat_sentences` (off by default; `--threat-sentences N`) adds our own threat sentences and
civil sentences in their vocabulary and frames (`threat_augment`) to the threat head's rows. Tried on
2026-12-05 (model card, "Identity hate and threats"): more HateCheck threats and our own held (90.5% -> 94.5%,
6 -> 10 of 16), but more civil idioms held too and the Gab Hate Corpus calls for violence ranked worse
(0.868 -> 0.831): the probe learns the templates' surface. Not shipped. `HeadsConfig.soft_labels`
(`--soft-labels threat`) learns from the share of raters instead: HateCheck threats held fell to 87.9%; not
shipped either.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from training.labels import LABELS
from training.offline import datasets
from training.runtime import ArtifactError, ModelArtifact

# The measured signals recipe's sources (docs/signals-experiments.md): its de-duplication order and weights.
# Its spam sets know neither label and give no rows; they are read so that duplicates resolve as in training.
SIGNALS_CONFIG = Path(__file__).resolve().parent / "configs" / "signals.json"


def signals_sources() -> dict[str, float]:
    return dict(json.loads(SIGNALS_CONFIG.read_text(encoding="utf-8"))["sources"])


@dataclass
class HeadsConfig:
    labels: tuple[str, ...] = ("identity_attack", "threat")
    sources: dict[str, float] = field(default_factory=signals_sources)
    # Rows (with a known label) kept per source, at most: the embedding is the cost (about 40-200 rows/s).
    caps: dict[str, int] = field(
        default_factory=lambda: {
            "latent_hatred_implicit_hate": 8000,
            "stormfront_hate": 5000,
            "civil_comments_toxic_spans": 8000,
            "jigsaw_toxic_binary_20k": 3000,
        }
    )
    identity_augmentation: bool = True  # the civil identity sentences training uses, as negatives
    # identity_attack also learns from every civil identity template sentence (`identity_augment.
    # every_identity_sentence`, 3,124) as a negative, weighted so that together they weigh as much as its
    # positives. Off: measured on 2026-12-03 (model card, "Identity hate and threats"), it held fewer civil
    # madlibs sentences (5.0% -> 3.7%) but fewer HateCheck hateful cases too (68.3% -> 65.5%), and not fewer
    # civil news comments.
    identity_counterweight: bool = False
    # Counterfactual group swaps: every identity_attack-positive training row that names a group of
    # `identity_augment.IDENTITIES` is copied this many times with the group replaced by another
    # (`identity_augment.swap_groups`, seeded by `identity_swap_seed` and the text), as positives of
    # identity_attack only, each copy weighing `identity_swap_weight` times its row. Copies that match an
    # evaluation text or any row of any split are dropped. 0: off.
    identity_swaps: int = 0
    identity_swap_weight: float = 1.0
    identity_swap_seed: int = 0
    # The negatives of identity_attack that name a group are copied the same way, as negatives: each group
    # then sees the training set's mix of hateful and civil sentences, not only its hateful ones.
    identity_swap_negatives: bool = False
    # Our own threat sentences (`threat_augment.threat_sentences`, this many) as positives of threat, and as
    # many civil sentences in their vocabulary and frames (`threat_augment.violent_civil_sentences`) as
    # negatives; each side weighs as much as threat's real training positives together. Sentences that match
    # an evaluation text or any row of any split are dropped. 0: off.
    threat_sentences: int = 0
    # Our own civil sentences naming people from many places (`name_augment.training_sentences`) as negatives
    # of identity_attack, together weighing this share of its positives. 0: off. 0.3 since edca662d
    # (2026-12-05, model card "Names"): chosen on the names and sentences training never sees (0.1, 0.3, 1.0
    # tried; 1.0 held two fewer HateCheck threats).
    name_sentences_weight: float = 0.3
    # Labels learned from their soft targets (the share of raters, e.g. Civil Comments' threat span raters)
    # instead of the target >= 0.5: each row counts as a positive weighing its share and a negative weighing
    # the rest. () : every label hard.
    soft_labels: tuple[str, ...] = ()
    C: float = 1.0
    alpha: float | None = None  # None: the stage's own blend weight
    seed: int | None = None  # None: the model's seed (the same hash split)
    cap_seed: int = 0  # which rows a capped source keeps
    # Every source, in every split, cut to this many rows (None: only `caps`, on the training split): quick
    # runs and tests.
    max_rows_per_source: int | None = None
    max_iter: int = 3000


def _rows(corpora, config: HeadsConfig):
    """(texts, Y, weights, source names) of the rows that know at least one of the heads' labels."""
    rng = np.random.default_rng(config.cap_seed)
    cols = [LABELS.index(label) for label in config.labels]
    texts, ys, ws, names = [], [], [], []
    for corpus in corpora:
        known = np.flatnonzero((~np.isnan(corpus.y[:, cols])).any(axis=1))
        cap = min((c for c in (config.caps.get(corpus.name), config.max_rows_per_source) if c), default=None)
        if cap and len(known) > cap:
            known = np.sort(rng.choice(known, cap, replace=False))
        texts += [corpus.texts[i] for i in known]
        ys.append(corpus.y[known])
        ws.append(corpus.weight[known])
        names += [corpus.name] * len(known)
    return texts, np.vstack(ys), np.concatenate(ws), np.array(names)


def swap_banned_keys(split, root: Path) -> set[str]:
    """Match keys a counterfactual copy must not have: every evaluation-only text (`datasets.eval_only_keys`),
    the bias templates and their news rewrite, the Gab Hate Corpus (evaluation only), and every row of every
    split (a copy equal to a validation or test row would leak it; one equal to a training row adds
    nothing)."""
    from training.normalize import match_key
    from training.offline.evaluate import news_identity_madlibs

    keys = set(datasets.eval_only_keys(root))
    for folder, name in (
        ("bias_madlibs", "bias_madlibs_77k.csv"),
        ("bias_madlibs", "intersectional_madlibs.csv"),
        ("gab_hate_corpus", "data.csv"),
    ):
        path = root / folder / name
        if path.is_file():
            keys.update(match_key(r["text"]) for r in datasets.read_rows(path, ["text"]))
    keys.update(match_key(t) for t in news_identity_madlibs(root)[0])
    for part in (split.train, split.val, split.test):
        for corpus in part:
            keys.update(match_key(t) for t in corpus.texts)
    return keys


def identity_swap_rows(
    texts: list[str], y: np.ndarray, w: np.ndarray, config: HeadsConfig, banned: set[str]
) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
    """The counterfactual copies (`HeadsConfig.identity_swaps`) of the identity_attack-positive rows among
    `texts` (the training split only: callers pass nothing else), and of its negatives too with
    `identity_swap_negatives`: their texts, weights, 0/1 labels and counts."""
    from training.normalize import match_key
    from training.offline.identity_augment import swap_groups

    j = LABELS.index("identity_attack")
    known = ~np.isnan(y[:, j])
    label = np.zeros(len(texts), dtype=int)
    label[known] = (y[known, j] >= 0.5).astype(int)
    chosen = known & ((label == 1) | config.identity_swap_negatives)
    copies, weights, labels, seen = [], [], [], set()
    named = {0: 0, 1: 0}
    dropped = 0
    for i in np.flatnonzero(chosen):
        swapped = swap_groups(texts[i], config.identity_swaps, config.identity_swap_seed)
        named[int(label[i])] += bool(swapped)
        for text in swapped:
            key = match_key(text)
            if not key or key in banned or key in seen:
                dropped += 1
                continue
            seen.add(key)
            copies.append(text)
            weights.append(config.identity_swap_weight * float(w[i]))
            labels.append(int(label[i]))
    labels_arr = np.asarray(labels, dtype=int)
    counts = {
        "identity_swap_positives": int((known & (label == 1)).sum()),
        "identity_swap_rows_naming_a_group": named[1],
        "identity_swap_rows": int((labels_arr == 1).sum()),
        "identity_swap_dropped": int(dropped),
    }
    if config.identity_swap_negatives:
        counts.update(
            identity_swap_negative_rows_naming_a_group=named[0],
            identity_swap_negative_rows=int((labels_arr == 0).sum()),
        )
    return copies, np.asarray(weights, dtype=float), labels_arr, counts


def threat_augmentation_rows(n: int, banned: set[str]) -> tuple[list[str], np.ndarray, dict]:
    """`n` threat sentences (label 1) and at most `n` civil sentences in their vocabulary (label 0)
    (`HeadsConfig.threat_sentences`), without any whose match key is in `banned`: their texts, labels and
    counts."""
    from training.normalize import match_key
    from training.offline.threat_augment import threat_sentences, violent_civil_sentences

    texts, labels, dropped = [], [], 0
    for label, made in ((1, threat_sentences(n=n)), (0, violent_civil_sentences(n=n))):
        for text in made:
            if match_key(text) in banned:
                dropped += 1
                continue
            texts.append(text)
            labels.append(label)
    y = np.asarray(labels, dtype=int)
    counts = {
        "threat_sentences": int((y == 1).sum()),
        "threat_civil_sentences": int((y == 0).sum()),
        "threat_sentences_dropped": dropped,
    }
    return texts, y, counts


def name_sentence_rows(banned: set[str]) -> tuple[list[str], int]:
    """The civil name sentences (`HeadsConfig.name_sentences_weight`) without any whose match key is in
    `banned`, and how many were dropped."""
    from training.normalize import match_key
    from training.offline.name_augment import training_sentences

    made = training_sentences()
    kept = [text for text in made if match_key(text) not in banned]
    return kept, len(made) - len(kept)


def _appended(x: np.ndarray, y: np.ndarray, w: np.ndarray, more_x, more_y, more_w):
    """The training rows (vectors, labels, weights) with more rows after them."""
    return np.vstack([x, more_x]), np.concatenate([y, more_y]), np.concatenate([w, more_w])


def each_side_weighs(labels: np.ndarray, total: float) -> np.ndarray:
    """Weights for augmentation rows labelled 0/1 such that each side together weighs ``total`` (at least
    1.0: a sample with no real positives still learns from them)."""
    total = max(total, 1.0)
    ones = max(int(labels.sum()), 1)
    zeros = max(int((labels == 0).sum()), 1)
    return np.where(labels == 1, total / ones, total / zeros)


def soft_rows(x: np.ndarray, target: np.ndarray, w: np.ndarray):
    """Each row twice: a positive weighing ``w * target`` and a negative weighing ``w * (1 - target)`` (rows
    of zero weight left out), so a logistic head learns the soft target rather than ``target >= 0.5``."""
    p = np.clip(target, 0.0, 1.0)
    y = np.concatenate([np.ones(len(p), dtype=int), np.zeros(len(p), dtype=int)])
    weights = np.concatenate([w * p, w * (1 - p)])
    keep = weights > 0
    return np.vstack([x, x])[keep], y[keep], weights[keep]


def split_rows(config: HeadsConfig, seed: int, root: Path | None = None):
    """The train / val / test rows for the heads (see `_rows`), from the model's hash split."""
    from training.offline.pipeline import TrainingConfig, training_split

    training = TrainingConfig(sources=dict(config.sources), seed=seed)
    if not config.identity_augmentation:
        training.identity_augmentation_weight = 0.0  # training_split leaves the identity sentences out
    split = training_split(training, root)
    return (
        _rows(split.train, config),
        _rows(split.val, dataclasses.replace(config, caps={})),
        _rows(split.test, dataclasses.replace(config, caps={})),
        split,
    )


def fit_heads(
    model_path: Path | str | None,
    out: Path | str,
    config: HeadsConfig | None = None,
    progress: Callable[[str], None] = print,
) -> ModelArtifact:
    """Write a copy of the artifact at `model_path` whose second stage also re-scores `config.labels` from its
    sentence vectors (a new version; the fast stage, the encoder and every other number unchanged). The new
    heads have no thresholds until `training.offline.thresholds` chooses them."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from training.embedding import StageHead
    from training.offline.pipeline import _encode_cached, require_both_classes, save_model
    from training.runtime import load_model

    config = config or HeadsConfig()
    started = time.perf_counter()
    try:
        staged = load_model(model_path, second_stage=True)
    except ArtifactError as exc:
        raise SystemExit(f"the heads read the second stage's vectors; it must run here: {exc}") from None
    stage = staged._payload["second_stage"]
    alpha = float(stage.alpha if config.alpha is None else config.alpha)
    seed = int(staged.metadata.get("config", {}).get("seed", 0) if config.seed is None else config.seed)
    (t_tr, y_tr, w_tr, _), (t_va, y_va, _, _), (t_te, y_te, _, _), split = split_rows(config, seed)
    progress(f"heads: {len(t_tr)} training, {len(t_va)} validation, {len(t_te)} test rows")
    require_both_classes(y_tr, config.labels)  # before the embedding, which is the cost

    def vectors(texts: list[str], what: str) -> np.ndarray:
        return _encode_cached(staged._normalizer.transform(texts), progress, what, staged._embedder)

    v_tr, v_va, v_te = (
        vectors(t_tr, "heads training"),
        vectors(t_va, "heads validation"),
        vectors(t_te, "heads test"),
    )
    fast = load_model(model_path, second_stage=False)
    p_va, p_te = (np.array([[s[lab] for lab in LABELS] for s in fast.score(t)]) for t in (t_va, t_te))
    band_va, band_te = (
        stage.in_band(p_va[:, LABELS.index(stage.label)]),
        stage.in_band(p_te[:, LABELS.index(stage.label)]),
    )

    # What no added row may be (every evaluation text, every split row), read once for both kinds of rows.
    banned = functools.cache(lambda: swap_banned_keys(split, datasets.data_dir()))
    swaps = None
    if config.identity_swaps > 0 and "identity_attack" in config.labels:
        s_texts, s_w, s_y, s_counts = identity_swap_rows(t_tr, y_tr, w_tr, config, banned())
        progress(f"heads: {s_counts}")
        swaps = (vectors(s_texts, "identity swaps"), s_w, s_y, s_counts)

    threat_rows = None
    if config.threat_sentences > 0 and "threat" in config.labels:
        t_texts, t_y, t_counts = threat_augmentation_rows(config.threat_sentences, banned())
        progress(f"heads: {t_counts}")
        threat_rows = (vectors(t_texts, "threat sentences"), t_y, t_counts)

    names = None
    if config.name_sentences_weight > 0 and "identity_attack" in config.labels:
        n_texts, n_dropped = name_sentence_rows(banned())
        progress(f"heads: {len(n_texts)} name sentences ({n_dropped} dropped)")
        names = (vectors(n_texts, "name sentences"), n_dropped)

    counterweight = None
    if config.identity_counterweight and "identity_attack" in config.labels:
        from training.offline.identity_augment import every_identity_sentence

        counterweight = vectors(every_identity_sentence(), "identity templates")

    heads, report = [], {}
    for label in config.labels:
        j = LABELS.index(label)
        known = ~np.isnan(y_tr[:, j])
        x, y, w = v_tr[known], (y_tr[known, j] >= 0.5).astype(int), w_tr[known]
        extra: dict = {}
        if label in config.soft_labels:
            x, y, w = soft_rows(x, y_tr[known, j], w)
            extra["soft_positive_weight"] = round(float(w[y == 1].sum()), 2)
        if label == "identity_attack" and counterweight is not None:
            each = float(w[y == 1].sum()) / len(counterweight)
            zeros = np.zeros(len(counterweight), dtype=int)
            x, y, w = _appended(x, y, w, counterweight, zeros, np.full(len(counterweight), each))
            extra = {
                **extra,
                "identity_counterweight_rows": len(counterweight),
                "identity_counterweight_each": round(each, 4),
            }
        if label == "identity_attack" and names is not None:
            n_vec, n_dropped = names
            each = config.name_sentences_weight * float(w[y == 1].sum()) / max(len(n_vec), 1)
            x, y, w = _appended(x, y, w, n_vec, np.zeros(len(n_vec), dtype=int), np.full(len(n_vec), each))
            extra = {
                **extra,
                "name_sentences": len(n_vec),
                "name_sentences_dropped": n_dropped,
                "name_sentences_weight": config.name_sentences_weight,
            }
        if label == "identity_attack" and swaps is not None:
            s_vec, s_w, s_y, s_counts = swaps
            x, y, w = _appended(x, y, w, s_vec, s_y, s_w)
            extra = {**extra, **s_counts, "identity_swap_weight": config.identity_swap_weight}
        if label == "threat" and threat_rows is not None:
            t_vec, t_y, t_counts = threat_rows
            side = each_side_weighs(t_y, float(w[y == 1].sum()))  # as much as the real positives
            x, y, w = _appended(x, y, w, t_vec, t_y, side)
            extra = {**extra, **t_counts}
        fit = LogisticRegression(C=config.C, max_iter=config.max_iter).fit(x, y, sample_weight=w)
        head = StageHead(
            label=label,
            coef=np.asarray(fit.coef_[0], dtype=np.float32),
            intercept=float(fit.intercept_[0]),
            alpha=alpha,
        )
        heads.append(head)
        entry: dict = {
            "C": config.C,
            "alpha": alpha,
            "training_rows": int(known.sum()),
            "training_positives": int((y_tr[known, j] >= 0.5).sum()),
            **extra,
        }
        for part, vec, yy, pp, band in (
            ("validation", v_va, y_va, p_va, band_va),
            ("test", v_te, y_te, p_te, band_te),
        ):
            k = ~np.isnan(yy[:, j])
            hard = (yy[k, j] >= 0.5).astype(int)
            if 0 < hard.sum() < len(hard):
                served = pp[:, j].copy()
                served[band] = head.blend(pp[band, j], vec[band])
                entry[part] = {
                    "rows": int(k.sum()),
                    "positives": int(hard.sum()),
                    "fast_roc_auc": round(float(roc_auc_score(hard, pp[k, j])), 4),
                    "served_roc_auc": round(float(roc_auc_score(hard, served[k])), 4),
                }
        report[label] = entry
        progress(f"head {label}: {entry}")

    new_stage = copy.copy(stage)
    new_stage.heads = heads
    payload = dict(staged._payload, second_stage=new_stage)
    metadata = dict(staged.metadata)
    metrics = dict(metadata.get("metrics", {}))
    metrics["second_stage"] = {**metrics.get("second_stage", {}), "heads": report}
    metadata["metrics"] = metrics
    metadata["stage_heads"] = {
        "config": asdict(config),
        "from_model": staged.version,
        "seconds": round(time.perf_counter() - started, 1),
        "training_data": [
            {
                "name": c.name,
                "rows_train": len(c),
                **(
                    {"licence": datasets.SHARE_ALIKE[c.name] + " (share-alike)"}
                    if c.name in datasets.SHARE_ALIKE
                    else {}
                ),
                **({"sha256": c.file_sha256} if c.file_sha256 else {}),
            }
            for c in split.train
        ],
    }
    return save_model(ModelArtifact(payload, metadata), out)
