"""Loaders of the hate and scam sets added on 2026-12-02, on small real slices of their files.

Each test copies a few rows of the shared file (the header and rows picked by their labels) into a temporary
data folder, so it checks the mapping onto our labels on real rows, not on rows written to fit the code.
"""

import csv
import math

import pytest

from training.offline import datasets
from training.offline.pipeline import DEFAULT_SOURCES, ConfigError, TrainingConfig
from training.runtime import LABELS


def _slice(tmp_path, folder: str, pick, n: int = 4, name: str = "data.csv") -> list[dict]:
    """Copy the header and the first `n` rows satisfying each predicate of `pick` to tmp_path/folder."""
    with open(datasets.data_dir() / folder / name, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    chosen = []
    for predicate in pick:
        chosen += [r for r in rows if predicate(r)][:n]
    (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    with open(tmp_path / folder / name, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(chosen)
    return chosen


def _labels(corpus, i: int) -> dict[str, float]:
    return {label: corpus.y[i, j] for j, label in enumerate(LABELS) if not math.isnan(corpus.y[i, j])}


def test_hatexplain_hate_is_identity_attack_offensive_unknown_toxicity_unknown(tmp_path):
    rows = _slice(
        tmp_path,
        "hatexplain",
        [
            lambda r: r["label3"] == "hatespeech",
            lambda r: r["label3"] == "offensive",
            lambda r: "<user>" in r["text"],
        ],
    )
    corpus = datasets.load_hatexplain(tmp_path, weight=0.4)
    assert len(corpus) == len(rows)
    for i, r in enumerate(rows):
        expected = {} if r["label3"] == "offensive" else {"identity_attack": float(r["hate"])}
        assert _labels(corpus, i) == expected  # offensive but not hate: unknown, not a negative
        assert "<user>" not in corpus.texts[i] and "<number>" not in corpus.texts[i]
    assert set(corpus.weight) == {0.4}


def test_latent_hatred_and_stormfront_map_hate_only(tmp_path):
    rows = _slice(
        tmp_path,
        "latent_hatred_implicit_hate",
        [lambda r: r["label_raw"] == "implicit_hate", lambda r: r["label_raw"] == "not_hate"],
    )
    corpus = datasets.load_latent_hatred(tmp_path)
    assert [_labels(corpus, i) for i in range(len(rows))] == [
        {"identity_attack": float(r["hate"])} for r in rows
    ]
    assert corpus.extra["implicit"] == [r["implicit"] == "1" for r in rows]

    rows = _slice(tmp_path, "stormfront_hate", [lambda r: r["hate"] == "1", lambda r: r["hate"] == "0"])
    corpus = datasets.load_stormfront(tmp_path)
    assert [_labels(corpus, i)["identity_attack"] for i in range(len(rows))] == [1.0] * 4 + [0.0] * 4
    assert "stormfront_hate" in datasets.SHARE_ALIKE


def test_toxigen_neutral_statements_are_civil_identity_mentions(tmp_path):
    rows = _slice(
        tmp_path, "toxigen_seed_statements", [lambda r: r["hate"] == "1", lambda r: r["hate"] == "0"]
    )
    corpus = datasets.load_toxigen_seeds(tmp_path)
    assert [_labels(corpus, i) for i in range(len(rows))] == [{"identity_attack": 1.0}] * 4 + [
        {"identity_attack": 0.0, "toxicity": 0.0}
    ] * 4


def test_convabuse_maps_abuse_and_identity_types(tmp_path):
    rows = _slice(
        tmp_path,
        "convabuse",
        [
            lambda r: r["hate"] == "1",
            lambda r: r["toxic"] == "1" and r["hate"] == "0",
            lambda r: r["toxic"] == "0",
        ],
    )
    corpus = datasets.load_convabuse(tmp_path)
    for i, r in enumerate(rows):
        labels = _labels(corpus, i)
        assert labels["toxicity"] == float(r["toxic"]) and labels["identity_attack"] == float(r["hate"])
        if r["toxic"] == "0":  # a civil message is a negative for every subtype
            assert labels == {label: 0.0 for label in LABELS}
        else:  # abusive: the other subtypes are not marked, so unknown
            assert "threat" not in labels and "insult" not in labels


def test_scam_sets_map_onto_spam_only(tmp_path):
    rows = _slice(
        tmp_path, "instagram_scam_comments", [lambda r: r["spam"] == "1", lambda r: r["spam"] == "0"]
    )
    corpus = datasets.load_instagram_scams(tmp_path)
    assert [_labels(corpus, i) for i in range(len(rows))] == [{"spam": float(r["spam"])} for r in rows]

    rows = _slice(tmp_path, "wordpress_blog_spam", [lambda r: True])
    corpus = datasets.load_wordpress_spam(tmp_path)
    assert [_labels(corpus, i) for i in range(len(rows))] == [{"spam": 1.0}] * len(rows)

    rows = _slice(
        tmp_path,
        "x_scam_spam",
        [
            lambda r: r["fraud"] == "1",
            lambda r: r["spam"] == "0",
            lambda r: r["promo"] == "1" and r["fraud"] == "0",
        ],
    )
    corpus = datasets.load_x_scam_spam(tmp_path)
    spam = corpus.y[:, LABELS.index("spam")]
    assert list(spam[:8]) == [1.0] * 4 + [0.0] * 4
    assert all(math.isnan(v) for v in spam[8:])  # promotion without fraud: not said either way


def test_gab_call_for_violence_is_threat(tmp_path):
    rows = _slice(
        tmp_path, "gab_hate_corpus", [lambda r: r["cv"] == "1", lambda r: r["hd"] == "1" and r["cv"] == "0"]
    )
    corpus = datasets.load_gab_hate_corpus(tmp_path)
    assert [_labels(corpus, i) for i in range(len(rows))] == [
        {"identity_attack": 1.0, "threat": float(r["cv"])} for r in rows
    ]


def test_experiment_only_sets_stay_out_of_the_shipped_recipe(tmp_path):
    assert not any(DEFAULT_SOURCES.get(name, 0) > 0 for name in datasets.EXPERIMENT_ONLY)
    with pytest.raises(ConfigError, match="gab_hate_corpus"):
        TrainingConfig(sources={**DEFAULT_SOURCES, "gab_hate_corpus": 0.5}).validate()
    TrainingConfig(sources={**DEFAULT_SOURCES, "gab_hate_corpus": 0.5}, experiment=True).validate()


def test_positives_only_spam_needs_real_comment_ham():
    with pytest.raises(ConfigError, match="wordpress_blog_spam"):
        TrainingConfig(sources={"wordpress_blog_spam": 1.0, "youtube_spam_collection": 1.0}).validate()
    TrainingConfig(sources={"wordpress_blog_spam": 1.0, "civil_comments_samples_4k": 1.0}).validate()
