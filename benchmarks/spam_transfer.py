"""Spam on comments from a place the model never saw: train without one spam source, score that source.

    python -m benchmarks.spam_transfer [--hold-out NAME ...] [--config FILE] [--json]

There is no comment-spam set from a news site in ../shared/data, so this is the nearest honest measure of
"comment spam from other sites": the shipped recipe (`TrainingConfig()`, fast stage, same seed) is trained
again with the held-out source's weight set to 0, and that source's whole file is scored. Defaults:

- `youtube_spam_2014_extra`: YouTube comments from other channels and months than the training collection;
- `youtube_spam_collection`: the other way round;
- `no_comment_spam`: both YouTube sets out, so the model has only SMS and e-mail spam; scored on the YouTube
  collection (a platform of a kind the model has never seen);
- `wordpress_blog_spam`: bot comments from a blog's moderation queue (positives only), scored against the Fox
  News and Globe and Mail comments (evaluation-only news comments, never trained on) as ham;
- `instagram_scam_comments`: scam comments under finance posts against the real comments under the same posts;
- `x_scam_spam`: X/Twitter scams (the strict `fraud` label) against its clean posts; experiments only, so no
  recipe trains on it and nothing is left out (noisy, mostly machine-assigned labels).

Each held-out source costs one training run without evaluation sets (about 1.5 minutes on 2 cores). The
TF-IDF vocabulary is fitted on the remaining sources only, so nothing of the held-out file is seen.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

YOUTUBE = ("youtube_spam_collection", "youtube_spam_2014_extra")
HOLD_OUTS = {
    # name -> (sources switched off, folder scored)
    "youtube_spam_2014_extra": (("youtube_spam_2014_extra",), "youtube_spam_2014_extra"),
    "youtube_spam_collection": (("youtube_spam_collection",), "youtube_spam_collection"),
    "no_comment_spam": (YOUTUBE, "youtube_spam_collection"),
    "sms_spam_collection": (("sms_spam_collection",), "sms_spam_collection"),
    "spamassassin": (("spamassassin",), "spamassassin"),
}
DEFAULT_HOLD_OUTS = [
    "youtube_spam_2014_extra",
    "youtube_spam_collection",
    "no_comment_spam",
    "wordpress_blog_spam",
    "instagram_scam_comments",
    "x_scam_spam",
]
HOLD_OUTS.update(
    {
        "wordpress_blog_spam": (("wordpress_blog_spam",), "wordpress_blog_spam"),
        "instagram_scam_comments": (("instagram_scam_comments",), "instagram_scam_comments"),
        "x_scam_spam": ((), "x_scam_spam"),
    }
)
# Real news comments from sites never trained on: the ham for a positives-only spam set.
NEWS_HAM = (
    ("fox_news_comments_hate", "data.csv"),
    ("globe_and_mail_constructiveness_toxicity", "data.csv"),
)


def scored_rows(folder: str, root) -> tuple[list[str], list[int]]:
    """(texts, spam labels) a hold-out is scored on: the folder's file, plus news-comment ham when the folder
    has spam only; for the X set, fraud against clean posts (promotion without fraud left out)."""
    from training.offline import datasets
    from training.offline.evaluate import read_labelled_csv

    if folder == "x_scam_spam":
        rows = datasets.read_rows(root / folder / "data.csv", ["text", "spam", "fraud"])
        rows = [r for r in rows if r["fraud"] == "1" or r["spam"] == "0"]
        return [r["text"] for r in rows], [int(r["fraud"]) for r in rows]
    texts, y = read_labelled_csv(root / folder / "data.csv", "text", "spam", "spam")
    if 0 not in y:
        for ham_folder, name in NEWS_HAM:
            ham = [r["text"] for r in datasets.read_rows(root / ham_folder / name, ["text"])]
            texts, y = texts + ham, y + [0] * len(ham)
    return texts, y


def transfer(hold_out: str, config=None) -> dict:
    """Train `config` (default: the shipped recipe) without `hold_out`'s sources; metrics on the rows of
    `scored_rows` (AUC, AP, precision/recall at the retrained model's own spam thresholds). Rows whose text
    is also in a source used for training (the two YouTube files share 44) are left out and counted."""
    import numpy as np

    from training.offline import datasets
    from training.offline.evaluate import binary_metrics, scorer_for
    from training.offline.pipeline import TrainingConfig, train_model

    off, folder = HOLD_OUTS[hold_out]
    config = config or TrainingConfig()
    config = TrainingConfig(**{**dataclasses.asdict(config), "evaluate_external": False})
    config.sources = {**config.sources, **{name: 0.0 for name in off}}
    started = time.perf_counter()
    model = train_model(config, progress=lambda _: None)
    seconds = time.perf_counter() - started
    root = datasets.data_dir()
    seen = {
        datasets.match_key(text)
        for name, loader in datasets.TRAINING_LOADERS.items()
        if config.sources.get(name, 0.0) > 0
        for text in loader(root).texts
    }
    texts, y = scored_rows(folder, root)
    keep = [i for i, text in enumerate(texts) if datasets.match_key(text) not in seen]
    scores = scorer_for(model, "spam")([texts[i] for i in keep])
    metrics = binary_metrics(np.asarray(y)[keep], scores, model.thresholds.get("spam"))
    return {
        "sources_left_out": list(off),
        "scored": f"{folder}/data.csv",
        "rows_skipped_seen_in_training": len(texts) - len(keep),
        "training_seconds": round(seconds, 1),
        **{k: metrics[k] for k in ("n", "positives", "roc_auc", "average_precision", "precision", "recall")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hold-out",
        action="append",
        choices=sorted(HOLD_OUTS),
        help=f"source to leave out (repeatable; default: {', '.join(DEFAULT_HOLD_OUTS)})",
    )
    parser.add_argument(
        "--config",
        default=None,
        help="a training config JSON (as `python -m training train --config`) to measure instead of the "
        'shipped recipe, e.g. {"phone_features": false}',
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    config = None
    if args.config is not None:
        from training.offline.pipeline import ConfigError, TrainingConfig

        try:
            config = TrainingConfig.from_file(args.config)
        except ConfigError as exc:
            parser.error(f"--config: {exc}")
    result = {name: transfer(name, config) for name in args.hold_out or DEFAULT_HOLD_OUTS}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for name, r in result.items():
        print(
            f"{name:26s} n={r['n']:5d} pos={r['positives']:5d}  AUC {r['roc_auc']:.3f}  AP "
            f"{r['average_precision']:.3f}  at review: precision {r['precision'] or 0:.3f} recall "
            f"{r['recall'] or 0:.3f}  ({r['training_seconds']:.0f}s)"
        )


if __name__ == "__main__":
    main()
