"""News-comment sets as the workload benchmark and the threshold chooser read them.

- ``civil_comments(split)``: Civil Comments (``civil_comments_samples_4k``), the rows of one train/val/test
  split exactly as training splits them (``datasets.split_of`` on the match key, so a text is in the same
  split wherever it appears), without the rows training drops as overlaps. ``val`` picks thresholds; ``test``
  is held out from everything.
- ``civil_comments_toxic(split)``: the toxic-spans posts of the same pool (positives only).
- ``globe_and_mail(min_level)`` and ``fox_news()``: other sites' comments, evaluation only.

Each returns a ``NewsSet``: texts, ``toxic`` (0/1) and ``clearly_civil`` (the rows a civil-rejection target is
measured on: Civil Comments rows rated toxicity < 0.1 where raters' fractions are known, else not toxic;
Globe and Mail level 1, "not toxic"; Fox News not hateful).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.offline import datasets


@dataclass
class NewsSet:
    name: str
    texts: list[str]
    toxic: list[int]
    clearly_civil: list[bool]
    note: str = ""


def _root(root: Path | None) -> Path:
    return root or datasets.data_dir()


def civil_comments(split: str, seed: int, root: Path | None = None) -> NewsSet:
    rows = datasets.read_rows(
        _root(root) / "civil_comments_samples_4k" / "data.csv",
        ["text", "toxic", "toxicity", "in_civil_comments_toxic_spans", "in_civil_comments_toxic_sample"],
    )
    texts, toxic, clear = [], [], []
    for r in rows:
        if r["in_civil_comments_toxic_spans"] == "1" or r["in_civil_comments_toxic_sample"] == "1":
            continue
        key = datasets.match_key(r["text"])
        if not key or datasets.split_of(key, seed) != split:
            continue
        texts.append(r["text"])
        toxic.append(int(r["toxic"]))
        clear.append(float(r["toxicity"]) < 0.1 if r["toxicity"] != "" else r["toxic"] == "0")
    return NewsSet(
        f"civil_comments_{split}",
        texts,
        toxic,
        clear,
        f"civil_comments_samples_4k, the {split} split of training (seed {seed}); toxic = rated toxic",
    )


def civil_comments_toxic(split: str, seed: int, root: Path | None = None) -> NewsSet:
    rows = datasets.read_rows(
        _root(root) / "civil_comments_toxic_spans" / "data.csv",
        ["text", "n_raters_with_spans", "in_civil_comments_toxic_sample"],
    )
    texts = [
        r["text"]
        for r in rows
        if r["in_civil_comments_toxic_sample"] != "1"
        and int(r["n_raters_with_spans"] or 0) > 0
        and (key := datasets.match_key(r["text"]))
        and datasets.split_of(key, seed) == split
    ]
    return NewsSet(
        f"civil_comments_toxic_spans_{split}",
        texts,
        [1] * len(texts),
        [False] * len(texts),
        f"civil_comments_toxic_spans, the {split} split (positives only: every post rated toxic)",
    )


def globe_and_mail(min_level: int, root: Path | None = None) -> NewsSet:
    rows = datasets.read_rows(
        _root(root) / "globe_and_mail_constructiveness_toxicity" / "data.csv", ["text", "toxicity_level"]
    )
    return NewsSet(
        f"globe_and_mail_level{min_level}plus",
        [r["text"] for r in rows],
        [int(int(r["toxicity_level"]) >= min_level) for r in rows],
        [r["toxicity_level"] == "1" for r in rows],
        f"Globe and Mail comments (evaluation only); toxic = level >= {min_level} of 4; civil = below",
    )


def fox_news(root: Path | None = None) -> NewsSet:
    rows = datasets.read_rows(_root(root) / "fox_news_comments_hate" / "data.csv", ["text", "hateful"])
    return NewsSet(
        "fox_news_hateful",
        [r["text"] for r in rows],
        [int(r["hateful"]) for r in rows],
        [r["hateful"] == "0" for r in rows],
        "Fox News comments (evaluation only); toxic = hateful (identity-based hate only)",
    )
