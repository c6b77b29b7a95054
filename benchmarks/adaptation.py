"""A site's own labels, fed in as its moderators would give them: what a site adapter (``training.adapter``,
fitted by ``python -m training adapt``) does to the site's hold-out and to its moderators' workload.

    python -m benchmarks adaptation [--model PATH] [--fast-stage | --second-stage] [--compare] [--json]

Two labelled news sets stand in for one site's traffic each:

- ``fox_news``: Fox News comments (``fox_news_comments_hate``, label ``hateful``: identity-based hate), split
  by article: the articles at positions 2, 5 and 8 of the file (3 of 10 threads, 385 comments) are the
  hold-out, the other 7 the labels pool, fed in file (thread) order. This benchmark is the one place it is
  trained on, because here it stands in for a site's own labels: never ship a model or adapter fitted on it.
- ``civil_comments``: Civil Comments rows no shipped model trained on (``training.offline.news``, split as
  training splits them with the model's seed): the labels pool is the validation split
  (``civil_comments_samples_4k`` and the toxic-spans posts; the trainer chose thresholds on it but never
  fitted on it), shuffled with the seed; the hold-out is the test split, held out from everything.

After 0, 250, 1,000 and all of the pool's labels (0: the shared model alone), per site:

- ``holdout``: ROC AUC of the adapted toxicity score on the site's hold-out with its 95% interval, and the
  paired DeLong difference against the shared model (``training.offline.evaluate``);
- ``workload``: the workload benchmark's figures (``benchmarks.workload.measure``: civil held / rejected,
  toxic held or rejected, caught at 10/15/20% held) on the hold-out, every comment through the one verdict
  (``moderation.scoring.judge``) at the site's thresholds: the model's, with the adapter's for toxicity
  (review: a review budget on the labels seen, set to the share of them the shared model flags, so the
  adapter is measured at the site's workload; reject: 95% precision on them, or none);
- ``other_sets``: ROC AUC of the same adapted score on the other news sets (Globe and Mail level >= 2 and
  >= 3, the other site's hold-out) against the shared model's. An adapter serves only its own site, so the
  other sites keep the shared model's scores exactly; these figures say how far the adapter's score has
  moved from a general one (a site whose label means something narrower, like Fox News's identity hate,
  moves far).

``--compare`` also measures the options the adapter was chosen among (docs/adaptation.md), as ``options``
per step: ``calibration`` (the stack on the model's label scores alone, no site head) and the site head at
other regularisations (C 0.05 and 0.3; the adapter's is ``training.offline.adapt.HEAD_C``).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.workload import _django, measure

STEPS = (0, 250, 1000)
OPTIONS = {"calibration": None, "head_C0.05": 0.05, "head_C0.3": 0.3}
FOX_HOLDOUT_EVERY = 3  # the articles at positions 2, 5, 8 (file order) are the hold-out


@dataclass
class Site:
    name: str
    pool_texts: list[str]
    pool_toxic: list[int]
    holdout: object  # a training.offline.news.NewsSet
    note: str


def label_steps(pool_size: int, steps: tuple[int, ...] = STEPS) -> list[int]:
    """The numbers of labels measured: `steps` below the pool's size, then the whole pool."""
    return [n for n in steps if n < pool_size] + [pool_size]


def fox_news_site(root: Path | None = None) -> Site:
    """Fox News split by article (``article_title``): every third article in file order is held out."""
    from training.offline import datasets
    from training.offline.news import NewsSet

    path = (root or datasets.data_dir()) / "fox_news_comments_hate" / "data.csv"
    rows = datasets.read_rows(path, ["text", "hateful", "article_title"])
    articles: list[str] = []
    for r in rows:
        if r["article_title"] not in articles:
            articles.append(r["article_title"])
    held = {a for i, a in enumerate(articles) if i % FOX_HOLDOUT_EVERY == FOX_HOLDOUT_EVERY - 1}
    pool = [r for r in rows if r["article_title"] not in held]
    hold = [r for r in rows if r["article_title"] in held]
    holdout = NewsSet(
        "fox_news_holdout",
        [r["text"] for r in hold],
        [int(r["hateful"]) for r in hold],
        [r["hateful"] == "0" for r in hold],
        f"Fox News, {len(held)} of {len(articles)} articles held out; toxic = hateful (identity hate only)",
    )
    return Site(
        "fox_news",
        [r["text"] for r in pool],
        [int(r["hateful"]) for r in pool],
        holdout,
        f"labels pool: the other {len(articles) - len(held)} articles, in file (thread) order",
    )


def civil_comments_site(seed: int, root: Path | None = None) -> Site:
    """Civil Comments rows of the model's validation split (labels pool, shuffled with `seed`) and test split
    (hold-out): the 4k sample and the toxic-spans posts."""
    from training.offline import news

    def rows(split: str) -> list[tuple[str, int, bool]]:
        sample, spans = news.civil_comments(split, seed, root), news.civil_comments_toxic(split, seed, root)
        out = [
            (t, y, c)
            for s in (sample, spans)
            for t, y, c in zip(s.texts, s.toxic, s.clearly_civil, strict=True)
        ]
        random.Random(f"{seed}:{split}").shuffle(out)
        return out

    pool, hold = rows("val"), rows("test")
    holdout = news.NewsSet(
        "civil_comments_holdout",
        [t for t, _, _ in hold],
        [y for _, y, _ in hold],
        [c for _, _, c in hold],
        "Civil Comments, the model's test split (4k sample + toxic-spans posts); never trained on",
    )
    return Site(
        "civil_comments",
        [t for t, _, _ in pool],
        [y for _, y, _ in pool],
        holdout,
        "labels pool: the model's validation split (never fitted on), shuffled",
    )


class Scored:
    """One set scored once by the shared model: its score dicts, their array and its feature matrix."""

    def __init__(self, model, texts: list[str]):
        self.texts = texts
        self.scores = model.score(texts)
        self.base = np.array([[s[label] for label in model.labels] for s in self.scores])
        self.features = model.feature_matrix(texts)
        self.general = self.base[:, model.labels.index("toxicity")]

    def adapted(self, adapter) -> tuple[np.ndarray, list[dict[str, float]]]:
        if adapter is None:
            return self.general, self.scores
        values = adapter.adapted(self.base, self.features)
        return values, [{**s, adapter.label: v} for s, v in zip(self.scores, values.tolist(), strict=True)]


def auc_against(y, adapted: np.ndarray, shared: np.ndarray) -> dict:
    from training.offline.evaluate import _safe_auc, auc_ci95, auc_difference

    out = {"roc_auc": _safe_auc(np.asarray(y), adapted), "roc_auc_ci95": auc_ci95(y, adapted)}
    out["shared_model"] = _safe_auc(np.asarray(y), shared)
    if not np.array_equal(adapted, shared):
        out["difference"] = auc_difference(y, adapted, shared)
    return out


def flagged_share(model, scored: list[dict[str, float]], n: int) -> float:
    """The share of the first `n` labelled comments the shared model flags (holds or rejects) at its own
    thresholds: the site's review budget for its adapter, so that the adapter is measured at the workload
    the site had (a labels pool is not the site's traffic mix: a fixed 15% of it means another workload)."""
    from moderation.scoring import judge

    if not n:
        return 0.0
    flagged = sum(judge(s, model.thresholds, model.version).outcome != "approved" for s in scored[:n])
    return min(max(flagged / n, 0.01), 0.99)


def measure_site(model, site: Site, others: dict, progress=print, compare: bool = False) -> list[dict]:
    from moderation.scoring import judge
    from training.offline.adapt import fit_adapter

    hold = Scored(model, site.holdout.texts)
    pool_scored = model.score(site.pool_texts)
    results = []
    for n in label_steps(len(site.pool_texts)):
        started = time.perf_counter()
        budget = flagged_share(model, pool_scored, n)
        adapter = (
            fit_adapter(model, site.pool_texts[:n], site.pool_toxic[:n], review_budget=budget) if n else None
        )
        fit_seconds = round(time.perf_counter() - started, 1)
        thresholds = {**model.thresholds, **(adapter.thresholds if adapter else {})}
        values, scores = hold.adapted(adapter)
        verdicts = [
            judge(s, thresholds, model.version, text=t) for s, t in zip(scores, hold.texts, strict=True)
        ]
        entry = {
            "labels": n,
            "positives": int(sum(site.pool_toxic[:n])),
            "fit_seconds": fit_seconds,
            "review_budget": round(budget, 4),
            "thresholds": thresholds["toxicity"],
            "holdout": auc_against(site.holdout.toxic, values, hold.general),
            "workload": measure(site.holdout, verdicts, None),
            "other_sets": {},
        }
        for name, (scored, y) in others.items():
            other_values, _ = scored.adapted(adapter)
            entry["other_sets"][name] = auc_against(y, other_values, scored.general)
        if compare and n:
            entry["options"] = {}
            for option, head_c in OPTIONS.items():
                fitted = fit_adapter(
                    model, site.pool_texts[:n], site.pool_toxic[:n], head_c=head_c, review_budget=budget
                )
                entry["options"][option] = {
                    "holdout": auc_against(site.holdout.toxic, hold.adapted(fitted)[0], hold.general),
                    "other_sets": {
                        name: auc_against(y, scored.adapted(fitted)[0], scored.general)
                        for name, (scored, y) in others.items()
                    },
                }
        progress(f"{site.name}: {n} labels: hold-out AUC {entry['holdout']['roc_auc']}")
        results.append(entry)
    return results


def run(model_path: Path | None, second_stage: bool | None, progress=print, compare: bool = False) -> dict:
    _django()
    from training.offline import news
    from training.runtime import load_model

    model = load_model(model_path, second_stage=second_stage)
    seed = int(model.metadata.get("config", {}).get("seed", 0))
    sites = [fox_news_site(), civil_comments_site(seed)]
    general = {s.name: s for s in (news.globe_and_mail(2), news.globe_and_mail(3))}
    scored_general = {name: (Scored(model, s.texts), s.toxic) for name, s in general.items()}
    scored_holdouts = {
        site.holdout.name: (Scored(model, site.holdout.texts), site.holdout.toxic) for site in sites
    }
    result: dict = {"model_version": model.version, "stages": model.stages, "seed": seed, "sites": {}}
    for site in sites:
        others = {**scored_general, **{k: v for k, v in scored_holdouts.items() if k != site.holdout.name}}
        result["sites"][site.name] = {
            "pool": len(site.pool_texts),
            "pool_positives": int(sum(site.pool_toxic)),
            "holdout": len(site.holdout.texts),
            "holdout_positives": int(sum(site.holdout.toxic)),
            "note": f"{site.holdout.note}; {site.note}",
            "steps": measure_site(model, site, others, progress, compare),
        }
    return result


def _print(result: dict) -> None:
    print(f"model {result['model_version']} ({result['stages']})")
    for name, site in result["sites"].items():
        print(f"== {name}: pool {site['pool']}, hold-out {site['holdout']} ({site['note']})")
        for step in site["steps"]:
            h, w = step["holdout"], step["workload"]
            lo, hi = h["roc_auc_ci95"] or (float("nan"), float("nan"))
            diff = h.get("difference", {}).get("difference", 0.0)
            caught = w.get("caught_at_held", {}).get("15%")
            others = ", ".join(
                f"{k} {v['roc_auc'] - v['shared_model']:+.3f}" for k, v in step["other_sets"].items()
            )
            print(
                f"{step['labels']:5d} labels: AUC {h['roc_auc']:.3f} [{lo:.3f}, {hi:.3f}] ({diff:+.3f}) | "
                f"civil held {w['civil_held']['share']:.1%} rej {w['civil_rejected']['share']:.1%} | toxic "
                f"held/rej {w['toxic_held_or_rejected']['share']:.1%} | caught at 15% {caught} | "
                f"other sets, if it were applied there: {others}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    stage = parser.add_mutually_exclusive_group()
    stage.add_argument("--second-stage", action="store_true", help="with the second stage on")
    stage.add_argument("--fast-stage", action="store_true", help="with the second stage off")
    parser.add_argument(
        "--compare", action="store_true", help="also the options the adapter was chosen among"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    second_stage = True if args.second_stage else False if args.fast_stage else None
    quiet = lambda message: None  # noqa: E731
    result = run(args.model, second_stage, progress=quiet if args.json else print, compare=args.compare)
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        _print(result)


if __name__ == "__main__":
    main()
