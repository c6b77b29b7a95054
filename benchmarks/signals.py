"""Are identity_attack, threat and spam real signals? The figures of issue 22 part 3 for one model.

    python -m benchmarks signals [--model PATH] [--json]
    python -m benchmarks.signals --train NAME [--set FIELD=JSON ...] [--source NAME=WEIGHT ...]

The first form measures a saved model (default: the shipped one). The second trains the fast stage with
`TrainingConfig()` changed as given (no evaluation-set pass during training), saves it as
`var/models/<NAME>.joblib` (never over `models/`) and measures it; the figures are also written to
`var/models/<NAME>.signals.json`.

Figures (evaluation-only sets unless said otherwise; AUC = ROC AUC):
- `hatecheck_ia`, `hatecheck_tox`: all 3,728 HateCheck cases, `hateful`, scored by identity_attack / toxicity;
- `fox_ia`, `fox_tox`: Fox News comments, `hateful` (identity-based hate);
- `gm3_tox`, `gm2_tox`: Globe and Mail toxicity level >= 3 / >= 2;
- `civil_tox`, `civil_ia`, `civil_threat`: the model's own held-out Civil Comments test split (metadata);
- `madlibs_ia_bpsn` / `madlibs_tox_bpsn`: worst per-identity BPSN AUC on bias_madlibs_77k (Borkan et al.,
  `training.offline.evaluate.bias_aucs`), and `news_madlibs_ia_bpsn` on the news-identity rewrite;
- `threat_share`, `threat_or_ia_share`: of HateCheck's threat cases (functionality with "threat"), the share
  whose threat score (or the higher of threat and identity_attack) is >= 0.5; `hatecheck_threat_auc`: those
  cases against the other HateCheck cases, by threat;
- `neutral_ia_max`, `neutral_ia_over_0.5`: identity_attack on the neutral story sentences;
- `gab_ia`, `gab_cv_threat`: the Gab Hate Corpus (experiments/evaluation only): hate by identity_attack, call
  for violence by threat (meaningless if the model trained on it: `gab_trained`);
- `x_fraud_spam`: the X scam set's strict `fraud` label against its clean posts, by spam (noisy labels);
- `wordpress_vs_news`: WordPress bot spam (its held-out split when trained on) against the Fox News and
  Globe and Mail comments as ham, by spam; `news_spam_at_review`: share of those news comments at or above
  the spam review threshold;
- `heldout_spam`: held-out spam AUC per spam source (metadata).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "var" / "models"


def _auc(y, s):
    from training.offline.evaluate import _safe_auc

    value = _safe_auc(y, s)
    return None if value is None else round(value, 4)


def measure(model) -> dict:
    """The figures listed in the module docstring for `model` (a ModelArtifact)."""
    import numpy as np

    from training.offline import datasets
    from training.offline.evaluate import (
        _worst,
        bias_aucs,
        identities_in,
        news_identity_madlibs,
        scorer_for,
    )
    from training.offline.pipeline import TrainingConfig, identity_corpus, load_corpora

    from .model import neutral_texts

    root = datasets.data_dir()
    tox, ia, thr, spam = (
        scorer_for(model, label) for label in ("toxicity", "identity_attack", "threat", "spam")
    )
    out: dict = {}

    rows = datasets.hatecheck_cases(root)
    texts = [r["text"] for r in rows]
    y = np.array([int(r["hateful"]) for r in rows])
    s_ia, s_thr = ia(texts), thr(texts)
    out["hatecheck_ia"] = _auc(y, s_ia)
    out["hatecheck_tox"] = _auc(y, tox(texts))
    threats = np.array([datasets.is_hatecheck_threat(r) for r in rows])
    out["threat_share"] = round(float((s_thr[threats] >= 0.5).mean()), 3)
    out["threat_or_ia_share"] = round(float((np.maximum(s_thr, s_ia)[threats] >= 0.5).mean()), 3)
    out["hatecheck_threat_median"] = round(float(np.median(s_thr[threats])), 3)
    # ranking, whatever the scale: HateCheck's threats against its other cases, by the threat score
    out["hatecheck_threat_auc"] = _auc(threats.astype(int), s_thr)

    rows = datasets.read_rows(root / "fox_news_comments_hate" / "data.csv", ["text", "hateful"])
    fox = [r["text"] for r in rows]
    y = [int(r["hateful"]) for r in rows]
    out["fox_ia"], out["fox_tox"] = _auc(y, ia(fox)), _auc(y, tox(fox))

    rows = datasets.read_rows(
        root / "globe_and_mail_constructiveness_toxicity" / "data.csv", ["text", "toxic", "toxic_incl_mild"]
    )
    gm = [r["text"] for r in rows]
    s = tox(gm)
    out["gm3_tox"] = _auc([int(r["toxic"]) for r in rows], s)
    out["gm2_tox"] = _auc([int(r["toxic_incl_mild"]) for r in rows], s)

    held = model.metadata.get("metrics", {}).get("held_out_test", {})
    for label, key in (
        ("toxicity", "civil_tox"),
        ("identity_attack", "civil_ia"),
        ("threat", "civil_threat"),
    ):
        entry = held.get(label, {}).get("civil_comments_samples_4k")
        out[key] = round(entry["roc_auc"], 4) if entry else None

    rows = datasets.read_rows(root / "bias_madlibs" / "bias_madlibs_77k.csv", ["text", "toxic"])
    texts = [r["text"] for r in rows]
    y = np.array([int(r["toxic"]) for r in rows])
    groups = [identities_in(t) for t in texts]
    for key, scorer in (("madlibs_ia_bpsn", ia), ("madlibs_tox_bpsn", tox)):
        worst = _worst(bias_aucs(y, scorer(texts), groups), "bpsn_auc")
        out[key] = round(worst["value"], 4)
        out[key + "_identity"] = worst["identity"]
    texts, y, groups = news_identity_madlibs(root)
    worst = _worst(bias_aucs(np.asarray(y), ia(texts), groups), "bpsn_auc")
    out["news_madlibs_ia_bpsn"], out["news_madlibs_ia_bpsn_identity"] = (
        round(worst["value"], 4),
        worst["identity"],
    )

    neutral = neutral_texts()
    s = ia(neutral)
    out["neutral_ia_max"] = round(float(s.max()), 3)
    out["neutral_ia_over_0.5"] = int((s >= 0.5).sum())
    review = model.thresholds.get("identity_attack", {}).get("review")
    if review is not None:
        out["neutral_ia_at_review"] = int((s >= review).sum())

    trained = {entry["name"] for entry in model.metadata.get("training_data", [])}
    rows = datasets.read_rows(root / "gab_hate_corpus" / "data.csv", ["text", "hate", "cv"])
    texts = [r["text"] for r in rows]
    out["gab_trained"] = "gab_hate_corpus" in trained
    out["gab_ia"] = _auc([int(r["hate"]) for r in rows], ia(texts))
    out["gab_cv_threat"] = _auc([int(r["cv"]) for r in rows], thr(texts))

    rows = [
        r
        for r in datasets.read_rows(root / "x_scam_spam" / "data.csv", ["text", "spam", "fraud"])
        if r["fraud"] == "1" or r["spam"] == "0"
    ]
    out["x_trained"] = "x_scam_spam" in trained
    out["x_fraud_spam"] = _auc([int(r["fraud"]) for r in rows], spam([r["text"] for r in rows]))

    wordpress = datasets.load_wordpress_spam(root)
    if "wordpress_blog_spam" in trained:
        config = TrainingConfig(**model.metadata["config"])
        corpora = load_corpora(config, root)
        if config.identity_augmentation_weight > 0:
            corpora.append(identity_corpus(config))
        split = datasets.dedupe_and_split(corpora, datasets.eval_only_keys(root), config.seed)
        wordpress = next(c for c in split.test if c.name == "wordpress_blog_spam")
    ham = fox + gm
    s_ham = spam(ham)
    s_wp = spam(wordpress.texts)
    out["wordpress_vs_news"] = _auc([1] * len(s_wp) + [0] * len(s_ham), np.concatenate([s_wp, s_ham]))
    spam_th = model.thresholds.get("spam")
    if spam_th:
        out["news_spam_at_review"] = round(float((s_ham >= spam_th["review"]).mean()), 4)
        out["wordpress_at_review"] = round(float((s_wp >= spam_th["review"]).mean()), 4)
    out["heldout_spam"] = {
        name: round(entry["roc_auc"], 4)
        for name, entry in held.get("spam", {}).items()
        if name != "pooled" and entry.get("roc_auc") is not None
    }
    out["thresholds"] = model.thresholds
    return out


def threshold_candidates(model, labels=("identity_attack", "threat")) -> dict:
    """What the existing chooser (`pipeline.choose_thresholds`, same sources and rules as `train_model`)
    picks for `labels` on `model`'s validation split, and whether `train_model` would keep it: it needs
    `threshold_min_positives` positives and average precision >= 0.5, and a label in NEVER_THRESHOLDED
    gets none at all."""
    import numpy as np

    from training.offline import datasets
    from training.offline.pipeline import (
        NEVER_THRESHOLDED,
        THRESHOLD_SOURCES,
        TrainingConfig,
        choose_thresholds,
        identity_corpus,
        load_corpora,
    )
    from training.runtime import LABELS

    root = datasets.data_dir()
    config = TrainingConfig(**model.metadata["config"])
    corpora = load_corpora(config, root)
    if config.identity_augmentation_weight > 0:
        corpora.append(identity_corpus(config))
    split = datasets.dedupe_and_split(corpora, datasets.eval_only_keys(root), config.seed)
    texts, y, _, src = datasets.concat(split.val)
    usable = np.isin(src, [i for i, c in enumerate(split.val) if c.name in THRESHOLD_SOURCES])
    out = {}
    for label in labels:
        j = LABELS.index(label)
        m = usable & ~np.isnan(y[:, j])
        yy = (y[m, j] >= 0.5).astype(int)
        scores = np.array([r[label] for r in model.score([texts[i] for i in np.flatnonzero(m)])])
        entry = {"validation_rows": int(m.sum()), "positives": int(yy.sum())}
        if 0 < yy.sum() < len(yy):
            chosen = choose_thresholds(yy, scores, config.reject_precision, config.review_recall)
            ap = chosen["validation"]["average_precision"] or 0.0
            entry.update(
                review=chosen["review"],
                reject=chosen["reject"],
                average_precision=round(ap, 3),
                precision_at_reject=chosen["validation"]["precision_at_reject"],
                recall_at_reject=chosen["validation"]["recall_at_reject"],
                kept_by_train_model=bool(
                    label not in NEVER_THRESHOLDED
                    and yy.sum() >= config.threshold_min_positives
                    and ap >= 0.5
                ),
            )
        out[label] = entry
    return out


def _parse_value(raw: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def train_and_measure(name: str, fields: dict, sources: dict) -> dict:
    """Train `TrainingConfig()` with `fields` and `sources` changed, save under var/models, measure."""
    from training.offline.pipeline import TrainingConfig, save_model, train_model

    config = TrainingConfig(evaluate_external=False)
    for key, value in fields.items():
        setattr(config, key, value)
    config.sources = {**config.sources, **sources}
    model = save_model(train_model(config), OUT_DIR / f"{name}.joblib")
    result = {"name": name, "changes": {**fields, "sources": sources}, **measure(model)}
    result["training_seconds"] = model.metadata.get("training_seconds")
    (OUT_DIR / f"{name}.signals.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument(
        "--train", metavar="NAME", help="train a variant and save it as var/models/NAME.joblib"
    )
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=JSON", help="config field")
    parser.add_argument("--source", action="append", default=[], metavar="NAME=WEIGHT", help="source weight")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.train:
        fields = {k: _parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}
        sources = {k: float(v) for k, v in (item.split("=", 1) for item in args.source)}
        result = train_and_measure(args.train, fields, sources)
    else:
        from training.runtime import load_model

        result = measure(load_model(args.model))
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for key, value in result.items():
        print(f"{key:28s} {value}")


if __name__ == "__main__":
    main()
