"""Benchmark the shipped scoring engine: load time, throughput, latency, and quality vs alt-profanity-check.

    python -m benchmarks.model [--model PATH] [--quality] [--second-stage] [--json]

The speed section measures the model as `load_model` serves it by default (with an artifact whose
second stage has an ONNX encoder: the stage on, through onnxruntime; `speed_fast_stage` is then the fast
stage alone), beside alt-profanity-check's `predict_prob` on the same texts, the same way. `--second-stage`
also measures the quality with the stage on (and its speed, when the default serves the fast stage alone):
the share of comments it re-scores, and its AUC beside the fast stage's.

`batch_comments_per_second_two_processes` is what the machine decides with both cores busy: two processes
(the worker's default `--concurrency 2`), each with its own model, score the same batches at once; the rate
is all their comments over the time from the first start to the last finish. The other speed figures are
one process on one core.

Speed figures depend on the machine; run it on a quiet one and quote the figures with the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def _civil_texts() -> list[str]:
    from training.offline.datasets import data_dir, read_rows

    return [r["text"] for r in read_rows(data_dir() / "civil_comments_samples_4k" / "data.csv", ["text"])]


def _score_in_batches(score, texts: list[str]) -> None:
    for i in range(0, len(texts), 1000):
        score(texts[i : i + 1000])


def _rates(score, texts: list[str]) -> dict:
    """Batch rate (batches of 1,000) and single-text latency of `score(list_of_texts)` on `texts`."""
    score(texts[:200])  # warm caches, as a running worker would be
    t0 = time.perf_counter()
    _score_in_batches(score, texts)
    batch_rate = len(texts) / (time.perf_counter() - t0)
    latencies = []
    for text in texts[-500:]:
        t = time.perf_counter()
        score([text])
        latencies.append(time.perf_counter() - t)
    latencies.sort()
    return {
        "batch_comments_per_second": round(batch_rate),
        "single_p50_ms": round(statistics.median(latencies) * 1e3, 3),
        "single_p95_ms": round(latencies[int(0.95 * len(latencies))] * 1e3, 3),
    }


def _score_batches_when_both_ready(model_path, second_stage, ready, out) -> None:
    """One of `two_process_rate`'s processes: load and warm up, wait for the other, score the batches."""
    from training.runtime import load_model

    model = load_model(model_path, second_stage=second_stage)
    texts = _civil_texts()
    model.score(texts[:200])
    ready.wait()
    started = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
    _score_in_batches(model.score, texts)
    out.put((started, time.perf_counter(), len(texts)))


def two_process_rate(model_path: Path | None, second_stage: bool | None, processes: int = 2) -> int:
    """Comments a second decided by `processes` processes scoring batches of 1,000 at the same time."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ready, out = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=_score_batches_when_both_ready, args=(model_path, second_stage, ready, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    runs = [out.get(timeout=1800) for _ in workers]
    for worker in workers:
        worker.join()
    return round(sum(n for _, _, n in runs) / (max(end for _, end, _ in runs) - min(s for s, _, _ in runs)))


def peer_speed() -> dict:
    """alt-profanity-check's `predict_prob` on the same texts, measured the same way. Run after our model in
    the same process, so its load time excludes importing scikit-learn."""
    started = time.perf_counter()
    from training.offline.compare import peer_scores

    peer_scores(["warm up"])  # imports the package and unpickles its model
    loaded = time.perf_counter()
    return {
        "library": "alt-profanity-check " + _version("alt-profanity-check"),
        "import_and_load_seconds": round(loaded - started, 3),
        **_rates(peer_scores, _civil_texts()),
    }


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def speed(model_path: Path | None, second_stage: bool | None = None) -> dict:
    """Load time, batch rate and single-comment latency of the model as `load_model` serves it
    (`second_stage`: None follows $MODERATION_SECOND_STAGE and the artifact, as the workers do)."""
    import sys

    started = time.perf_counter()
    from training.runtime import load_model  # import cost (scikit-learn) is part of a cold start

    imported = time.perf_counter()
    model = load_model(model_path, second_stage=second_stage)
    loaded = time.perf_counter()
    texts = _civil_texts()
    rates = _rates(model.score, texts)
    rates["batch_comments_per_second_two_processes"] = two_process_rate(model_path, second_stage)
    result = {
        "model_version": model.version,
        "stages": model.stages,
        "artifact_bytes": model.path.stat().st_size,
        "import_seconds": round(imported - started, 3),
        "load_model_seconds": round(loaded - imported, 3),
        **rates,
        "batch_note": "batches of 1000 civil-comments texts (mean ~270 chars), one process, one core",
    }
    if model.stages != "fast":
        import numpy as np

        stage = model._payload["second_stage"]
        fast = load_model(model_path, second_stage=False)
        tox = np.array([s["toxicity"] for s in fast.score(texts)])
        result["share_rescored"] = round(float(stage.in_band(tox).mean()), 3)
        result["band"] = list(stage.band)
        encoder = stage.onnx_encoder
        result["encoder"] = f"onnx {encoder.precision}" if encoder is not None else "torch"
        result["torch_imported"] = "torch" in sys.modules
        result["batch_note"] += (
            "; load time includes the ONNX encoder's session; one onnxruntime thread"
            if encoder is not None
            else "; load time includes the embedding model; torch uses both cores"
        )
    return result


def quality(model_path: Path | None, second_stage: bool = False) -> dict:
    """Our scores vs alt-profanity-check's `predict_prob` on evaluation sets + held-out split."""
    import numpy as np

    from training.offline import datasets
    from training.offline.compare import peer_scores
    from training.offline.evaluate import auc_difference, binary_metrics, scorer_for
    from training.offline.pipeline import TrainingConfig, identity_corpus, load_corpora
    from training.runtime import LABELS, load_model

    model = load_model(model_path, second_stage=False)
    staged = load_model(model_path, second_stage=True) if second_stage else None
    root = datasets.data_dir()
    sets: dict[str, tuple[list[str], list[int], str]] = {}

    def add(name, folder, file, label, task="toxicity", keep=lambda r: True):
        rows = [r for r in datasets.read_rows(root / folder / file, ["text", label]) if keep(r)]
        sets[name] = ([r["text"] for r in rows], [int(r[label]) for r in rows], task)

    add("fox_news_hateful", "fox_news_comments_hate", "data.csv", "hateful")
    add("globe_and_mail_level3", "globe_and_mail_constructiveness_toxicity", "data.csv", "toxic")
    add(
        "globe_and_mail_level2plus", "globe_and_mail_constructiveness_toxicity", "data.csv", "toxic_incl_mild"
    )
    add("hatecheck", "hatecheck", "test_suite_cases.csv", "hateful")
    add(
        "wiki_identity_nonfuzzed",
        "wiki_toxicity_identity_testset",
        "nonfuzzed.csv",
        "toxic",
        keep=lambda r: r["text_in_shared_jigsaw"] != "1",
    )
    add("bias_madlibs_77k", "bias_madlibs", "bias_madlibs_77k.csv", "toxic")

    # held-out test split, rebuilt exactly as training built it
    config = TrainingConfig(**model.metadata["config"])
    if not config.sources.get("davidson_hate_offensive"):
        # Tweets: another site's offensive language that this model never saw (the peer trained on it)
        add("davidson_tweets_offensive_or_hate", "davidson_hate_offensive", "data.csv", "offensive_or_hate")
    corpora = load_corpora(config, root)
    if config.identity_augmentation_weight > 0:
        corpora.append(identity_corpus(config))
    split = datasets.dedupe_and_split(corpora, datasets.eval_only_keys(root), config.seed)
    for corpus in split.test:
        for task in ("toxicity", "spam"):
            j = LABELS.index(task)
            known = ~np.isnan(corpus.y[:, j])
            y = (corpus.y[known, j] >= 0.5).astype(int)
            if known.any() and 0 < y.sum() < len(y) and corpus.name != "identity_augmentation":
                sets[f"heldout_{corpus.name}_{task}"] = (
                    [t for t, k in zip(corpus.texts, known, strict=True) if k],
                    y.tolist(),
                    task,
                )
    out = {}
    for name, (texts, y, task) in sets.items():
        scores = scorer_for(model, task)(texts)
        theirs = peer_scores(texts)
        ours = binary_metrics(y, scores)
        peer = binary_metrics(y, theirs)
        out[name] = {
            "task": task,
            "n": ours["n"],
            "positives": ours["positives"],
            "ours_auc": ours["roc_auc"],
            "ours_auc_ci95": ours["roc_auc_ci95"],
            "ours_ap": ours["average_precision"],
            "peer_auc": peer["roc_auc"],
            "peer_auc_ci95": peer["roc_auc_ci95"],
            "peer_ap": peer["average_precision"],
            # paired on the same rows (DeLong): is the gap to the peer more than these rows' sampling error?
            "ours_minus_peer": auc_difference(y, scores, theirs),
            **_negatives_flagged("ours", y, scores, model.thresholds.get(task)),
        }
        if staged is not None:
            staged_scores = scorer_for(staged, task)(texts)
            both = binary_metrics(y, staged_scores)
            out[name].update(
                staged_auc=both["roc_auc"],
                staged_auc_ci95=both["roc_auc_ci95"],
                staged_ap=both["average_precision"],
                staged_minus_peer=auc_difference(y, staged_scores, theirs),
                staged_minus_ours=auc_difference(y, staged_scores, scores),
            )
            out[name].update(_negatives_flagged("staged", y, staged_scores, staged.thresholds.get(task)))
    out["neutral_story_sentences"] = neutral_sentences(model, staged)
    return out


def _gap(label: str, d: dict) -> str:
    """One paired AUC difference: its value, 95% interval and p-value
    (`training.offline.evaluate.auc_difference`)."""
    lo, hi = d["ci95"]
    return f"{label} {d['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}] p={d['p_value']:.2g}"


def _negatives_flagged(prefix: str, y, scores, threshold: dict | None) -> dict:
    """The review load a model puts on clean comments: the share of negatives at or above the review and the
    reject thresholds."""
    import numpy as np

    if not threshold:
        return {}
    negatives = np.asarray(scores)[np.asarray(y) == 0]
    if not len(negatives):
        return {}
    return {
        f"{prefix}_negatives_at_review": round(float((negatives >= threshold["review"]).mean()), 4),
        f"{prefix}_negatives_at_reject": round(float((negatives >= threshold["reject"]).mean()), 4),
    }


NEUTRAL_SENTENCES = Path(__file__).parent / "data" / "neutral_story_sentences.txt"


def neutral_texts() -> list[str]:
    """The sentences of `NEUTRAL_SENTENCES`: one a line, blank lines and `#` comments skipped."""
    lines = NEUTRAL_SENTENCES.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def neutral_sentences(model, staged=None) -> dict:
    """Toxicity of neutral comments on a political story that name nations, peoples and religions
    (`benchmarks/data/neutral_story_sentences.txt`): how many each model would send to review."""
    texts = neutral_texts()
    out: dict = {"n": len(texts)}
    for prefix, m in (("ours", model), ("staged", staged)):
        if m is None:
            continue
        review = m.thresholds["toxicity"]["review"]
        scores = [s["toxicity"] for s in m.score(texts)]
        pairs = zip(scores, texts, strict=True)
        flagged = sorted(((round(s, 4), t) for s, t in pairs if s >= review), reverse=True)
        out[prefix] = {
            "review_threshold": review,
            "at_review": len(flagged),
            "flagged": flagged,
            "median": round(float(statistics.median(scores)), 4),
            "max": round(max(scores), 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument(
        "--quality", action="store_true", help="also compare quality with alt-profanity-check"
    )
    parser.add_argument(
        "--second-stage", action="store_true", help="also measure with the optional embedding stage on"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {"speed": speed(args.model)}  # as the workers serve it (the ONNX second stage is on by default)
    if result["speed"]["stages"] != "fast":
        result["speed_fast_stage"] = speed(args.model, second_stage=False)
    try:
        result["speed_alt_profanity_check"] = peer_speed()
    except RuntimeError as exc:  # the train extra is not installed
        result["speed_alt_profanity_check"] = {"error": str(exc)}
    if args.second_stage and result["speed"]["stages"] == "fast":
        result["speed_second_stage"] = speed(args.model, second_stage=True)
    if args.quality:
        result["quality"] = quality(args.model, args.second_stage)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for section in ("speed", "speed_fast_stage", "speed_second_stage", "speed_alt_profanity_check"):
        for key, value in result.get(section, {}).items():
            print(f"{key:28s} {value}")
    for name, r in result.get("quality", {}).items():
        if name == "neutral_story_sentences":
            for prefix in ("ours", "staged"):
                if prefix in r:
                    n = r[prefix]
                    print(
                        f"neutral story sentences ({prefix}): {n['at_review']}/{r['n']} at review "
                        f"({n['review_threshold']}), median {n['median']}, max {n['max']}"
                    )
            continue
        staged = f" | with second stage AUC {r['staged_auc']:.3f}" if "staged_auc" in r else ""
        load = "".join(
            f" | {prefix} clean at review {r[f'{prefix}_negatives_at_review']:.1%}"
            for prefix in ("ours", "staged")
            if f"{prefix}_negatives_at_review" in r
        )
        print(
            f"{name:48s} n={r['n']:6d} pos={r['positives']:6d}  ours AUC {r['ours_auc']:.3f} AP "
            f"{r['ours_ap']:.3f} | alt-profanity-check AUC {r['peer_auc']:.3f} AP {r['peer_ap']:.3f}"
            f"{staged}{load}"
        )
        gaps = [
            ("ours - peer", "ours_minus_peer"),
            ("stage - peer", "staged_minus_peer"),
            ("stage - ours", "staged_minus_ours"),
        ]
        print(f"{'':48s} " + "; ".join(_gap(label, r[key]) for label, key in gaps if key in r))


if __name__ == "__main__":
    main()
