"""Offline evaluation: ranking metrics, metrics at the artifact's thresholds, identity-bias AUCs, HateCheck.

All functions take already-computed scores or a `ModelArtifact`; nothing here is used at scoring time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from training.offline.datasets import (
    MODERATOR_VOCABULARY,
    data_dir,
    decode_hashes,
    hatecheck_cases,
    moderator_label,
    read_rows,
    text_hashes,
)

# Identity terms for bias audits (the usual identity-term list of the bias literature). Longest first so
# "african american" wins over "african", "middle eastern" over nothing.
IDENTITY_TERMS = sorted(
    [
        "african",
        "african american",
        "american",
        "asian",
        "bisexual",
        "black",
        "blind",
        "buddhist",
        "canadian",
        "catholic",
        "chinese",
        "christian",
        "deaf",
        "elderly",
        "european",
        "female",
        "gay",
        "heterosexual",
        "hispanic",
        "homosexual",
        "indian",
        "japanese",
        "jewish",
        "latina",
        "latino",
        "latinx",
        "lesbian",
        "lgbt",
        "lgbtq",
        "male",
        "mexican",
        "middle aged",
        "middle eastern",
        "millenial",
        "muslim",
        "nonbinary",
        "old",
        "older",
        "paralyzed",
        "protestant",
        "queer",
        "sikh",
        "straight",
        "taoist",
        "teenage",
        "trans",
        "transgender",
        "white",
        "young",
        "younger",
    ],
    key=len,
    reverse=True,
)
_IDENTITY_RE = re.compile(r"\b(" + "|".join(re.escape(t) for t in IDENTITY_TERMS) + r")\b", re.IGNORECASE)


def identities_in(text: str) -> set[str]:
    """Identity terms mentioned in `text` (lower-case, longest match)."""
    return {m.lower() for m in _IDENTITY_RE.findall(text)}


def _safe_auc(y: np.ndarray, s: np.ndarray) -> float | None:
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else None


Z95 = 1.959963984540054  # two-sided 95% quantile of the standard normal


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of `x`, ties sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # first and one-past-last index of each run of equal values
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(xs)]
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def delong(y: Sequence[int], *scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUCs of one or more scorers on the same rows and DeLong's covariance matrix of those AUCs
    (DeLong, DeLong & Clarke-Pearson 1988; the O(n log n) midrank form of Sun & Xu 2014). The covariance
    is what lets two scorers be compared on the same rows: their AUCs are correlated. It measures the
    sampling error of the evaluation rows only, not training randomness (a reseeded model moves too).
    Raises ValueError for one-class labels."""
    y = np.asarray(y, dtype=int)
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    if m == 0 or n == 0 or m + n != len(y):
        raise ValueError("DeLong needs 0/1 labels with both classes present")
    aucs, v10, v01 = [], [], []
    for s in scores:
        s = np.asarray(s, dtype=float)
        r_all, r_pos, r_neg = _midranks(s), _midranks(s[pos]), _midranks(s[neg])
        v10.append((r_all[pos] - r_pos) / n)  # per positive: share of negatives it outranks
        v01.append(1.0 - (r_all[neg] - r_neg) / m)  # per negative: share of positives that outrank it
        aucs.append(float(v10[-1].mean()))
    s10 = np.atleast_2d(np.cov(np.vstack(v10))) if m > 1 else np.zeros((len(scores), len(scores)))
    s01 = np.atleast_2d(np.cov(np.vstack(v01))) if n > 1 else np.zeros((len(scores), len(scores)))
    return np.array(aucs), s10 / m + s01 / n


def auc_ci95(y: Sequence[int], scores: Sequence[float]) -> list[float] | None:
    """95% confidence interval of the ROC AUC (DeLong's variance, normal approximation, clipped to [0, 1]);
    None for one-class labels."""
    if len(np.unique(np.asarray(y))) != 2:
        return None
    (auc,), cov = delong(y, scores)
    half = Z95 * float(np.sqrt(max(cov[0, 0], 0.0)))
    return [max(0.0, float(auc) - half), min(1.0, float(auc) + half)]


def auc_difference(y: Sequence[int], a: Sequence[float], b: Sequence[float]) -> dict:
    """ROC AUC of `a` minus that of `b` on the same rows, with its 95% interval and the two-sided p-value of
    DeLong's test (is the difference zero?)."""
    from math import erfc, sqrt

    (auc_a, auc_b), cov = delong(y, a, b)
    diff = float(auc_a - auc_b)
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    sd = sqrt(max(var, 0.0))
    if sd > 0:
        p = erfc(abs(diff) / sd / sqrt(2))
    else:  # no variance left: the difference is certain, zero or not
        p = 1.0 if diff == 0 else 0.0
    return {"difference": diff, "ci95": [diff - Z95 * sd, diff + Z95 * sd], "p_value": p}


def binary_metrics(
    y: Sequence[int], scores: Sequence[float], threshold: dict[str, float] | None = None
) -> dict:
    """ROC AUC (with its 95% interval, `auc_ci95`), average precision, counts, and precision/recall at
    `threshold` {"reject": r, "review": v}.

    `precision`/`recall` are at the review threshold (score >= review: the comment leaves the auto-approve
    path); `precision_at_reject`/`recall_at_reject` at the reject threshold.
    AUC/AP are None for one-class data.
    """
    y = np.asarray(y, dtype=int)
    s = np.asarray(scores, dtype=float)
    out: dict = {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "roc_auc": _safe_auc(y, s),
        "roc_auc_ci95": auc_ci95(y, s),
        "average_precision": float(average_precision_score(y, s)) if y.sum() > 0 else None,
    }
    if threshold:
        for name, suffix in (("review", ""), ("reject", "_at_reject")):
            flagged = s >= threshold[name]
            tp = int((flagged & (y == 1)).sum())
            out["precision" + suffix] = tp / int(flagged.sum()) if flagged.any() else None
            out["recall" + suffix] = tp / int(y.sum()) if y.sum() else None
        out["threshold"] = {
            "review": threshold["review"],
            "reject": threshold["reject"],
            "note": "precision/recall: score >= review; *_at_reject: score >= reject",
        }
    return out


def bias_aucs(y: np.ndarray, s: np.ndarray, groups: list[set[str]], min_count: int = 10) -> dict[str, dict]:
    """Per identity: subgroup AUC, BPSN AUC (subgroup negatives vs background positives) and BNSP AUC
    (subgroup positives vs background negatives), as in Borkan et al. 2019."""
    y = np.asarray(y, dtype=int)
    s = np.asarray(s, dtype=float)
    terms = sorted({t for g in groups for t in g})
    out = {}
    for term in terms:
        in_group = np.array([term in g for g in groups])
        if in_group.sum() < min_count:
            continue
        sub_pos, sub_neg = in_group & (y == 1), in_group & (y == 0)
        bg_pos, bg_neg = ~in_group & (y == 1), ~in_group & (y == 0)
        out[term] = {
            "n": int(in_group.sum()),
            "subgroup_auc": _safe_auc(y[in_group], s[in_group]),
            "bpsn_auc": _safe_auc(y[sub_neg | bg_pos], s[sub_neg | bg_pos]),
            "bnsp_auc": _safe_auc(y[sub_pos | bg_neg], s[sub_pos | bg_neg]),
        }
    return out


def _worst(per_identity: dict[str, dict], key: str) -> dict:
    vals = [(v[key], k) for k, v in per_identity.items() if v[key] is not None]
    if not vals:
        return {"value": None, "identity": None}
    value, term = min(vals)
    return {"value": value, "identity": term}


Scorer = Callable[[list[str]], np.ndarray]


def scorer_for(model, label: str, batch_size: int = 4096) -> Scorer:
    """Function texts -> np.ndarray of `label` scores from a ModelArtifact, in batches."""

    def score(texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            out.extend(r[label] for r in model.score(texts[i : i + batch_size]))
        return np.asarray(out)

    return score


# ------------------------------------------------------------------------------------------ external sets


def evaluate_external(model, root: Path | None = None, include_bias: bool = True) -> dict:
    """Every evaluation-only set scored by `model` (a ModelArtifact). Returns a JSON-able dict."""
    root = root or data_dir()
    tox = scorer_for(model, "toxicity")
    th = model.thresholds.get("toxicity")
    res: dict = {}

    rows = read_rows(root / "fox_news_comments_hate" / "data.csv", ["text", "hateful"])
    texts = [r["text"] for r in rows]
    y = [int(r["hateful"]) for r in rows]
    res["fox_news_hateful"] = {
        "toxicity": binary_metrics(y, tox(texts), th),
        "identity_attack": binary_metrics(y, scorer_for(model, "identity_attack")(texts)),
    }

    rows = read_rows(
        root / "globe_and_mail_constructiveness_toxicity" / "data.csv", ["text", "toxic", "toxic_incl_mild"]
    )
    texts = [r["text"] for r in rows]
    s = tox(texts)
    res["globe_and_mail_toxic_level3"] = binary_metrics([int(r["toxic"]) for r in rows], s, th)
    res["globe_and_mail_toxic_incl_mild"] = binary_metrics([int(r["toxic_incl_mild"]) for r in rows], s, th)

    rows = read_rows(root / "jigsaw_toxic_test_examples_ibm" / "data.csv", ["text", "toxic"])
    res["jigsaw_ibm_examples"] = binary_metrics(
        [int(r["toxic"]) for r in rows], tox([r["text"] for r in rows]), th
    )

    res["hatecheck"] = hatecheck_report(model, root)

    for name in ("nonfuzzed", "fuzzed"):
        rows = [
            r
            for r in read_rows(
                root / "wiki_toxicity_identity_testset" / f"{name}.csv",
                ["text", "toxic", "text_in_shared_jigsaw"],
            )
            if r["text_in_shared_jigsaw"] != "1"
        ]
        texts = [r["text"] for r in rows]
        res[f"wiki_identity_{name}"] = {
            **_bias_audit([int(r["toxic"]) for r in rows], tox(texts), [identities_in(t) for t in texts], th),
            "note": "rows also in our Jigsaw folders excluded",
        }

    if include_bias:
        for name in ("bias_madlibs_77k", "intersectional_madlibs"):
            rows = read_rows(root / "bias_madlibs" / f"{name}.csv", ["text", "toxic"])
            texts = [r["text"] for r in rows]
            res[name] = _bias_audit(
                [int(r["toxic"]) for r in rows], tox(texts), [identities_in(t) for t in texts], th
            )
        texts, y, groups = news_identity_madlibs(root)
        if texts:
            res["bias_madlibs_news_identities"] = {
                **_bias_audit(y, tox(texts), groups, th),
                "note": f"bias_madlibs_77k templates of '{NEWS_TEMPLATE_IDENTITY}', one in "
                f"{NEWS_TEMPLATE_STEP}, with each of {len(NEWS_IDENTITY_TERMS)} identities that political "
                "news comments name put in its place",
            }
    return res


# Groups that comments on South Asian and Middle Eastern politics name and the madlibs list does not: the
# madlibs sentences of one nationality adjective are rewritten with each of them (Borkan et al. templates,
# our substitution). Lower case, as the templates are.
NEWS_IDENTITY_TERMS = [
    "afghan", "pakistani", "pashtun", "baloch", "punjabi", "kashmiri", "hazara", "tajik", "bangladeshi",
    "kurdish", "turkish", "ukrainian", "uyghur", "rohingya", "shia", "sunni", "ahmadi", "iranian", "arab",
    "palestinian", "israeli", "russian", "syrian", "somali",
]  # fmt: skip
NEWS_TEMPLATE_IDENTITY = "mexican"
NEWS_TEMPLATE_STEP = 3  # every third template: ~500 per identity, 12k rows in all


def news_identity_madlibs(root: Path) -> tuple[list[str], list[int], list[set[str]]]:
    """(texts, toxic labels, identity of each text) for the news-identity bias audit; empty lists when the
    madlibs file has no template of `NEWS_TEMPLATE_IDENTITY` (a small test data folder)."""
    pattern = re.compile(rf"\b{NEWS_TEMPLATE_IDENTITY}\b")
    rows = [
        r
        for r in read_rows(root / "bias_madlibs" / "bias_madlibs_77k.csv", ["text", "toxic"])
        if pattern.search(r["text"])
    ][::NEWS_TEMPLATE_STEP]
    texts, y, groups = [], [], []
    for term in NEWS_IDENTITY_TERMS:
        for r in rows:
            texts.append(pattern.sub(term, r["text"]))
            y.append(int(r["toxic"]))
            groups.append({term})
    return texts, y, groups


def _bias_audit(y, s, groups: list[set[str]], threshold) -> dict:
    """Overall metrics, the worst identity by each bias AUC, the identities with BPSN below 0.90, and the
    per-identity table."""
    y = np.asarray(y, dtype=int)
    per_id = bias_aucs(y, s, groups)
    return {
        **binary_metrics(y, s, threshold),
        "worst_bpsn": _worst(per_id, "bpsn_auc"),
        "worst_bnsp": _worst(per_id, "bnsp_auc"),
        "worst_subgroup": _worst(per_id, "subgroup_auc"),
        "identities_bpsn_below_0.90": sorted(
            k for k, v in per_id.items() if v["bpsn_auc"] is not None and v["bpsn_auc"] < 0.90
        ),
        "per_identity": per_id,
    }


# HateCheck functionalities whose cases are abusive but not hateful by HateCheck's definition (hate is abuse
# aimed at a protected group): profanity, abuse of objects, of individuals and of non-protected groups, and
# slurs used as reclaimed words or homonyms. A toxicity score is meant to score most of them high, so on
# them the two labels disagree by definition. Counter-speech and negation stay in: a better model does
# better there.
ABUSIVE_NOT_HATEFUL = (
    "profanity_nh",
    "target_obj_nh",
    "target_indiv_nh",
    "target_group_nh",
    "slur_reclaimed_nh",
    "slur_homonym_nh",
)


def hatecheck_report(model, root: Path | None = None) -> dict:
    """HateCheck: overall AUC, and per functionality the accuracy of "toxicity >= review threshold" as the
    hateful prediction (non-hateful profanity counts as an error: HateCheck's labels are about hate)."""
    rows = hatecheck_cases(root)
    texts = [r["text"] for r in rows]
    y = np.array([int(r["hateful"]) for r in rows])
    s = scorer_for(model, "toxicity")(texts)
    review = model.thresholds["toxicity"]["review"]
    pred = s >= review
    per_func = {}
    for func in sorted({r["functionality"] for r in rows}):
        m = np.array([r["functionality"] == func for r in rows])
        per_func[func] = {
            "n": int(m.sum()),
            "accuracy": float((pred[m] == (y[m] == 1)).mean()),
            "mean_score": float(s[m].mean()),
        }
    agree = np.array([r["functionality"] not in ABUSIVE_NOT_HATEFUL for r in rows])
    return {
        **binary_metrics(y, s),
        # HateCheck labels identity hate, which is what identity_attack (not thresholded) is trained for
        "identity_attack_roc_auc": binary_metrics(y, scorer_for(model, "identity_attack")(texts))["roc_auc"],
        # toxicity ranked where "toxic" and "hateful" mean the same (ABUSIVE_NOT_HATEFUL left out)
        "roc_auc_where_labels_agree": _safe_auc(y[agree], s[agree]),
        "n_where_labels_agree": int(agree.sum()),
        "accuracy_at_review": float((pred == (y == 1)).mean()),
        "per_functionality": per_func,
    }


class TrainingOverlapError(ValueError):
    """An evaluation file holds rows the model was trained on."""


@dataclass
class LabelledRows:
    """Texts and 0/1 labels read from a CSV for one task. ``skipped``: rows whose label says nothing about the
    task (a moderator export's ``spam`` for toxicity, ``off_topic``, ``other``); ``vocabulary``: ``"0/1"`` or
    ``"moderator"`` (the label column held `export_labels`' words, mapped as the trainer maps them)."""

    texts: list[str]
    y: list[int]
    skipped: int = 0
    vocabulary: str = "0/1"


def _binary(raw: str, task: str) -> int | None:
    if raw in ("1", "true", "yes", task, "toxic", "spam"):
        return 1
    if raw in ("0", "false", "no", "ok", "ham", "not toxic"):
        return 0
    try:
        return int(float(raw) >= 0.5)
    except ValueError:
        return None


def read_labelled(path: Path, text_column: str, label_column: str, task: str) -> LabelledRows:
    """Texts and 0/1 `task` labels from a CSV. A label column whose values are all moderator-export words
    (`manage.py export_labels`: ok, toxic, spam, hate, off_topic, ...) is mapped per task by
    `datasets.moderator_label`, the trainer's own mapping, and rows it says nothing about are skipped; other
    columns may hold 0/1, true/false, fractions (>= 0.5 is positive) or toxic/spam/ok/ham. Raises `ValueError`
    naming the line and column of a value it cannot read."""
    rows = read_rows(Path(path), [text_column, label_column])
    values = {r[label_column].strip().lower() for r in rows}
    if values and values <= MODERATOR_VOCABULARY:
        out = LabelledRows([], [], vocabulary="moderator")
        for r in rows:
            value = moderator_label(r[label_column], task)
            if value is None:
                out.skipped += 1
                continue
            out.texts.append(r[text_column])
            out.y.append(int(value >= 0.5))
        return out
    out = LabelledRows([], [])
    for line, r in enumerate(rows, start=2):
        value = _binary(r[label_column].strip().lower(), task)
        if value is None:
            raise ValueError(
                f"{path}:{line}: column {label_column!r} value {r[label_column]!r} is not a 0/1 label "
                f"nor a moderator label ({', '.join(sorted(MODERATOR_VOCABULARY))})"
            )
        out.texts.append(r[text_column])
        out.y.append(value)
    return out


def read_labelled_csv(
    path: Path, text_column: str, label_column: str, task: str
) -> tuple[list[str], list[int]]:
    """(texts, 0/1 labels) of `read_labelled`."""
    rows = read_labelled(path, text_column, label_column, task)
    return rows.texts, rows.y


def training_overlap(model, texts: list[str]) -> int:
    """How many of `texts` are among the moderator-export rows `model` trained on (by the 64-bit hashes of
    their match keys its sidecar records, `pipeline.training_rows_record`); 0 if it records none."""
    record = (model.metadata.get("training_rows") or {}).get("moderator_exports")
    if not record:
        return 0
    trained = decode_hashes(record)
    keys = [text_hashes([t]) for t in texts]
    return sum(1 for k in keys if len(k) and np.isin(k, trained).all())


def refuse_training_rows(model, texts: list[str], what: str = "the model") -> None:
    """Raise `TrainingOverlapError` if any of `texts` is a row `model` trained on: a score on its own training
    rows flatters it."""
    n = training_overlap(model, texts)
    if n:
        raise TrainingOverlapError(
            f"{n} of {len(texts)} evaluation rows are rows {what} ({model.version}) was trained on; measure "
            f"it on rows it has not seen, such as the hold-out file of `manage.py export_labels "
            f"--holdout-share 0.2`"
        )


def evaluate_csv(model, path: Path, text_column: str, label_column: str, task: str) -> dict:
    """Metrics of `model` on any CSV (`read_labelled`); `task` is "toxicity" or "spam" (the label scored).
    Precision/recall are at the artifact's thresholds for that label (see `binary_metrics`). Raises
    `TrainingOverlapError` if the file holds rows the model trained on."""
    rows = read_labelled(path, text_column, label_column, task)
    refuse_training_rows(model, rows.texts)
    scores = scorer_for(model, task)(rows.texts)
    return {
        "task": task,
        "model_version": model.version,
        "skipped_rows": rows.skipped,
        **binary_metrics(rows.y, scores, model.thresholds.get(task)),
    }
