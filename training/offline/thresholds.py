"""The default policy's thresholds, chosen for a news desk (issue 22), and written into a model artifact.

    python -m training thresholds --model models/default.joblib --out var/models/rethresholded.joblib

What a model's thresholds mean to ``moderation.policy``: a comment is rejected for abuse when two labels agree
at their ``reject`` thresholds (a clear abuse label and a general score, or two abuse labels); spam rejects
alone; anything at ``review`` is held. So:

- each abuse and profanity label's ``reject`` is its lowest score at which ``reject_precision`` (0.95) of the
  validation comments flagged are toxic, and its ``review`` the same at ``review_precision`` (0.95 too: these
  labels hold only where they are sure; the general score carries the review budget);
- ``toxicity``'s ``reject`` is at ``general_reject_precision`` (0.9), and its ``review`` is set from the
  **review budget**: the share of news comments flagged, held or rejected (``review_budget``, 0.15 by
  default), on Civil Comments' validation rows, the only news comments training may use, weighed back from
  the sample's enriched share of toxic comments to the published set's (``news_toxic_rate``, 8%);
- ``spam`` keeps the thresholds training chose on the spam sources, with ``reject`` raised so that it flags at
  most ``news_spam_reject_share`` (none) of those news comments, which are published (a reader dropping a
  link is held, not rejected);
- no ``review`` threshold is at or below what a comment with no words scores (``training.budget.NO_WORDS``):
  an emoji-only comment is never held for its lack of words.

Precision is measured on the validation split of the real-comment threshold sources (Jigsaw and Civil
Comments, ``pipeline.THRESHOLD_SOURCES``), with "toxic" = rated toxic: what a rejection must be right about. A
threshold that can reject must reach its precision both there and on the news comments alone (Civil Comments),
since Wikipedia talk pages are not a news desk. A label for which no threshold reaches its precision on at
least ``min_flagged`` comments (``min_flagged_news`` news comments) gets none at that level: its ``reject`` is
1.0, it never rejects. Labels in ``untrusted`` (``identity_attack`` by default: it keeps identity-word
features, see ``pipeline``) get none.

The same budget fit sets a site's own budget at run time, on its recent scores (``training.budget``, used by
``moderation.selectors.tuning.fit_budget``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from training.budget import fit_review_threshold, floors
from training.offline import datasets
from training.runtime import LABELS, ModelArtifact

ABUSE = ("severe_toxicity", "threat", "insult", "obscene", "identity_attack")
GENERAL = "toxicity"
PRECISION_SOURCES = ("jigsaw_toxic_sample_5k", "jigsaw_toxic_binary_20k", "civil_comments_samples_4k")
NEWS_SOURCE = "civil_comments_samples_4k"


@dataclass
class ThresholdRule:
    reject_precision: float = 0.95
    review_precision: float = 0.95
    # Civil Comments' rate of toxic comments (target >= 0.5) over the whole published set, about 8%: the
    # budget is fitted on its validation rows (enriched to ~20% toxic) weighed back to it.
    news_toxic_rate: float = 0.08
    # Civil Comments are published news comments: spam's reject threshold flags at most this share of them.
    news_spam_reject_share: float = 0.0
    general_reject_precision: float = 0.90
    review_budget: float = 0.15
    min_flagged: int = 20
    min_flagged_news: int = 10
    untrusted: list[str] = field(default_factory=lambda: ["identity_attack"])
    # Labels the second stage re-scores from sentence vectors (`training.offline.heads`: identity hate,
    # threats): each may hold at most this share of the validation comments rated civil. They count against
    # the review budget like every label (toxicity's review threshold rises to keep the total): severity
    # first, within the queue a desk can keep up with.
    severe_review_share: float = 0.005


def precision_threshold(
    scores: np.ndarray, toxic: np.ndarray, precision: float, min_flagged: int
) -> float | None:
    """The lowest score t such that, of the comments scoring >= t, at least ``precision`` are toxic, with at
    least ``min_flagged`` such comments; None if there is none."""
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(toxic[order])
    flagged = np.arange(1, len(scores) + 1)
    ok = np.flatnonzero((hits / flagged >= precision) & (flagged >= min_flagged))
    if not len(ok):
        return None
    # (A row tied with the last one counted, but sorted after it, is flagged too: scores are continuous, so
    # ties are rare.)
    return float(scores[order][ok.max()])


def news_and_pooled(
    scores: np.ndarray, toxic: np.ndarray, news: np.ndarray, precision: float, rule: ThresholdRule
) -> float | None:
    """A threshold that can reject: it must reach ``precision`` on the pooled validation comments and on the
    news comments among them (at least ``min_flagged_news`` flagged there); the higher of the two, or None."""
    pooled = precision_threshold(scores, toxic, precision, rule.min_flagged)
    on_news = precision_threshold(scores[news], toxic[news], precision, rule.min_flagged_news)
    if pooled is None or on_news is None:
        return None
    return max(pooled, on_news)


def validation_rows(seed: int, root: Path | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts, toxic (bool) and is-news (bool) of the validation split of ``PRECISION_SOURCES``."""
    root = root or datasets.data_dir()
    texts: list[str] = []
    toxic: list[bool] = []
    news: list[bool] = []
    seen: set[str] = set()
    j = LABELS.index(GENERAL)
    for name in PRECISION_SOURCES:
        corpus = datasets.TRAINING_LOADERS[name](root)
        for text, y in zip(corpus.texts, corpus.y[:, j], strict=True):
            key = datasets.match_key(text)
            if not key or key in seen or np.isnan(y) or datasets.split_of(key, seed) != "val":
                continue
            seen.add(key)
            texts.append(text)
            toxic.append(bool(y >= 0.5))
            news.append(name == NEWS_SOURCE)
    return texts, np.array(toxic), np.array(news)


def choose(
    model: ModelArtifact, rule: ThresholdRule, texts: list[str], toxic: np.ndarray, news: np.ndarray
) -> tuple[dict[str, dict[str, float]], dict]:
    """The thresholds (label -> {"reject", "review"}) for ``model`` (its scores as served: with its second
    stage if that is on) under ``rule``, and a report of how each was chosen."""
    floor = floors(model)
    scored = model.score(texts)
    matrix = {label: np.array([s[label] for s in scored]) for label in model.labels}
    thresholds: dict[str, dict[str, float]] = {}
    report: dict = {"rule": asdict(rule), "no_words_scores": floor, "validation_rows": len(texts)}

    def above_floor(label: str, value: float | None) -> float | None:
        return None if value is None else max(value, float(np.nextafter(floor[label], 1.0)))

    civil = ~toxic
    for label in ABUSE:
        if label in getattr(model, "stage_head_labels", ()):
            # a head on sentence vectors (it does not key on identity words): its own small review budget
            reject = above_floor(
                label, news_and_pooled(matrix[label], toxic, news, rule.reject_precision, rule)
            )
            ranked = np.sort(matrix[label][civil])[::-1]
            k = int(rule.severe_review_share * len(ranked))  # flag at most k of the civil comments
            # strictly above the (k+1)-th, rounded up to the 6 decimals thresholds are stored with
            above = math.ceil(float(np.nextafter(ranked[k], 1.0)) * 1e6) / 1e6 if len(ranked) > k else 1.0
            review = above_floor(label, min(above, 1.0))
            thresholds[label] = {
                "reject": max(reject, review) if reject is not None else 1.0,
                "review": review,
            }
            report[label] = {
                "reject_precision": rule.reject_precision
                if reject is not None
                else "not reached: never rejects",
                "severe_review_share": rule.severe_review_share,
                "civil_validation_rows": int(civil.sum()),
            }
            continue
        if label not in matrix or label in rule.untrusted:
            continue
        reject = news_and_pooled(matrix[label], toxic, news, rule.reject_precision, rule)
        review = precision_threshold(matrix[label], toxic, rule.review_precision, rule.min_flagged)
        reject, review = above_floor(label, reject), above_floor(label, review)
        if review is None:
            report[label] = "no threshold reaches the review precision: information only"
            continue
        thresholds[label] = {"reject": reject if reject is not None else 1.0, "review": review}
        report[label] = {
            "reject_precision": rule.reject_precision if reject is not None else "not reached: never rejects",
            "review_precision": rule.review_precision,
        }
    if "spam" in model.thresholds:
        spam = dict(model.thresholds["spam"])
        spam["review"] = above_floor("spam", spam["review"])
        news_spam = np.sort(matrix["spam"][news])[::-1]
        k = int(rule.news_spam_reject_share * len(news_spam))
        at_news = float(np.nextafter(news_spam[k], 1.0)) if len(news_spam) > k else 0.0
        spam["reject"] = max(spam["reject"], spam["review"], at_news)
        thresholds["spam"] = spam
        report["spam"] = (
            "as training chose it on the spam sources (review floored), reject raised to flag at most "
            f"{rule.news_spam_reject_share:.1%} of the news comments ({at_news:.4f})"
        )
    reject = news_and_pooled(matrix[GENERAL], toxic, news, rule.general_reject_precision, rule)
    thresholds[GENERAL] = {"reject": reject if reject is not None else 1.0, "review": 1.0}
    rows = [s for s, is_news in zip(scored, news, strict=True) if is_news]
    news_toxic = toxic[news]
    # The sample is enriched in toxic comments; weigh it back to news traffic's base rate.
    rate = float(news_toxic.mean()) if len(news_toxic) else 0.0
    weights = [
        (rule.news_toxic_rate / rate if is_toxic else (1 - rule.news_toxic_rate) / (1 - rate))
        if 0 < rate < 1
        else 1.0
        for is_toxic in news_toxic
    ]
    fit = fit_review_threshold(rows, thresholds, rule.review_budget, floor=floor[GENERAL], weights=weights)
    # The weighed news sample, kept in the artifact: a site without enough history of its own previews a
    # budget on it (moderation.selectors.tuning).
    report["reference"] = {
        "rows": [{label: round(float(v), 5) for label, v in row.items()} for row in rows],
        "weights": [round(w, 5) for w in weights],
    }
    thresholds[GENERAL]["review"] = fit.review
    report[GENERAL] = {
        "general_reject_precision": rule.general_reject_precision,
        "budget": asdict(fit),
        "news_sample_toxic_rate": round(rate, 4),
    }
    thresholds = {
        label: {key: round(float(value), 6) for key, value in cuts.items()}
        for label, cuts in sorted(thresholds.items())
    }
    return thresholds, report


def rethreshold(model_path: Path | None, out: Path, rule: ThresholdRule, progress=print) -> ModelArtifact:
    """Write a copy of the artifact at ``model_path`` with the thresholds ``choose`` picks (same features and
    heads, a new version) to ``out``; a second stage's blended thresholds are chosen on its own scores."""
    from training.offline.pipeline import save_model
    from training.runtime import load_model

    fast = load_model(model_path, second_stage=False)
    seed = int(fast.metadata.get("config", {}).get("seed", 0))
    texts, toxic, news = validation_rows(seed)
    progress(f"{len(texts)} validation comments ({int(news.sum())} news), {int(toxic.sum())} toxic")
    thresholds, report = choose(fast, rule, texts, toxic, news)
    progress(f"thresholds: {thresholds}")
    payload = dict(fast._payload)
    payload["thresholds"] = thresholds
    stage = payload.get("second_stage")
    if stage is not None:
        try:
            staged = load_model(model_path, second_stage=True)
        except Exception as exc:  # noqa: BLE001 - the stage's extra may be missing here
            raise SystemExit(
                f"the artifact has a second stage; choosing its thresholds needs it on: {exc}"
            ) from None
        staged_thresholds, staged_report = choose(staged, rule, texts, toxic, news)
        stage = copy_stage(stage, staged_thresholds[stage.label])
        stage.heads = [
            dataclasses.replace(head, thresholds=dict(staged_thresholds.get(head.label, {})))
            for head in stage.extra_heads
        ]
        payload["second_stage"] = stage
        report["second_stage"] = {"thresholds": staged_thresholds[stage.label], **staged_report[stage.label]}
        for head in stage.extra_heads:
            report["second_stage"].setdefault("heads", {})[head.label] = {
                "thresholds": head.thresholds,
                **staged_report.get(head.label, {}),
            }
        payload["second_stage_reference_scores"] = staged_report["reference"]
        progress(f"second stage {stage.label}: {stage.thresholds}")
    payload["reference_scores"] = report.pop("reference")
    metadata = {**fast.metadata, "thresholds": thresholds, "threshold_choice": report}
    if stage is not None:
        # What the sidecar says the stage applies (ModelArtifact.described_thresholds reads it).
        metrics = dict(metadata.get("metrics", {}))
        metrics["second_stage"] = {
            **metrics.get("second_stage", {}),
            "validation_thresholds": {**stage.thresholds, "chosen_by": "training.offline.thresholds"},
        }
        if stage.extra_heads:
            heads = dict(metrics["second_stage"].get("heads", {}))
            for head in stage.extra_heads:
                heads[head.label] = {
                    **heads.get(head.label, {}),
                    "validation_thresholds": {**head.thresholds, "chosen_by": "training.offline.thresholds"},
                }
            metrics["second_stage"]["heads"] = heads
        metadata["metrics"] = metrics
    return save_model(ModelArtifact(payload, metadata), out)


def copy_stage(stage, thresholds: dict[str, float]):
    import copy

    new = copy.copy(stage)
    new.thresholds = dict(thresholds)
    return new
