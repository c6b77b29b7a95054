"""Loaders for the shared labelled datasets and moderator-decision exports (offline training only).

Every loader maps its source's labels onto our label set explicitly (see `LABELS`); a source that says nothing
about a label leaves it NaN, and `training.features.LinearHeads` then leaves those rows out of that label's
model. Label values in (0, 1) are soft targets (fraction of raters).

Data lives in `<repo>/../shared/data`, or in `$MODERATION_SHARED_DATA`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.normalize import match_key
from training.runtime import LABELS

DATA_ENV = "MODERATION_SHARED_DATA"
_REPO_ROOT = Path(__file__).resolve().parents[2]
NAN = float("nan")
TOXICITY_SUBTYPES = ["severe_toxicity", "obscene", "threat", "insult", "identity_attack"]

# Never trained on: the data README's evaluation-only sets (bias/functional test suites, the Jigsaw test
# examples, and two other sites' news comments, one of them non-commercial).
EVAL_ONLY = {
    "fox_news_comments_hate",
    "globe_and_mail_constructiveness_toxicity",
    "hatecheck",
    "bias_madlibs",
    "wiki_toxicity_identity_testset",
    "jigsaw_toxic_test_examples_ibm",
}

csv.field_size_limit(1 << 24)


class DataError(Exception):
    """A dataset file is missing or does not have the expected columns."""


def data_dir() -> Path:
    """`$MODERATION_SHARED_DATA`, else `<repo root>/../shared/data` (independent of the working directory)."""
    override = os.environ.get(DATA_ENV)
    return (
        Path(override).expanduser().resolve()
        if override
        else (_REPO_ROOT.parent / "shared" / "data").resolve()
    )


_TAG_RE = re.compile(r"<[^>]{0,200}>")
_MENTION_RE = re.compile(r"(?:^|\s)(?:rt\s+)?@\w+:?", re.IGNORECASE)


def clean_markup(text: str) -> str:
    """Undo HTML escaping and drop tags (YouTube `<br />`, `&#39;`, Davidson `&amp;`)."""
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return text


@dataclass
class Corpus:
    """Rows from one file: texts, a (n, len(LABELS)) label matrix (NaN = unknown), per-row weights."""

    name: str
    path: Path | None
    texts: list[str]
    y: np.ndarray
    weight: np.ndarray
    file_sha256: str = ""
    extra: dict[str, list] = field(default_factory=dict)
    # Rows of the file left out while reading it, by reason (a moderator export's unusable labels).
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, mask: np.ndarray) -> Corpus:
        idx = np.flatnonzero(mask)
        return Corpus(
            self.name,
            self.path,
            [self.texts[i] for i in idx],
            self.y[idx],
            self.weight[idx],
            self.file_sha256,
            {k: [v[i] for i in idx] for k, v in self.extra.items()},
            dict(self.skipped),
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(path: Path, required: Iterable[str]) -> list[dict[str, str]]:
    """Read a UTF-8 CSV into dicts; raise `DataError` naming the file and any missing column."""
    if not path.is_file():
        raise DataError(f"dataset file {path} not found (set {DATA_ENV} to the shared data directory)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; found {reader.fieldnames}")
        return list(reader)


def _f(value: str) -> float:
    return float(value) if value not in ("", None) else NAN


def _make(
    name: str,
    path: Path,
    texts: list[str],
    rows_labels: list[dict[str, float]],
    weight: float,
    extra: dict[str, list] | None = None,
) -> Corpus:
    y = np.full((len(texts), len(LABELS)), NAN)
    for i, labels in enumerate(rows_labels):
        for label, value in labels.items():
            y[i, LABELS.index(label)] = value
    return Corpus(name, path, texts, y, np.full(len(texts), float(weight)), _sha256(path), extra or {})


def _clean_toxicity_labels(toxic: float, subtypes: dict[str, float] | None = None) -> dict[str, float]:
    """Toxicity plus subtypes; a non-toxic row is a negative for every subtype, a toxic one only if given."""
    labels = {"toxicity": toxic, "spam": 0.0}
    for sub in TOXICITY_SUBTYPES:
        if subtypes is not None and sub in subtypes:
            labels[sub] = subtypes[sub]
        elif toxic == 0:
            labels[sub] = 0.0
    return labels


# ---------------------------------------------------------------------------------------------- toxicity


def load_jigsaw_binary(root: Path, weight: float = 1.0) -> Corpus:
    """Jigsaw 20k, `toxic` only; drops the 620 texts also in the 5k sample (kept there, six labels)."""
    path = root / "jigsaw_toxic_binary_20k" / "data.csv"
    rows = [
        r for r in read_rows(path, ["text", "toxic", "also_in_sample_5k"]) if r["also_in_sample_5k"] != "1"
    ]
    return _make(
        "jigsaw_toxic_binary_20k",
        path,
        [r["text"] for r in rows],
        [_clean_toxicity_labels(float(r["toxic"])) for r in rows],
        weight,
    )


def load_jigsaw_sample(root: Path, weight: float = 1.0) -> Corpus:
    """Jigsaw 5k with six labels: toxic->toxicity, severe_toxic->severe_toxicity,
    identity_hate->identity_attack."""
    path = root / "jigsaw_toxic_sample_5k" / "data.csv"
    cols = ["text", "toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    rows = read_rows(path, cols)
    labels = [
        {
            "toxicity": float(r["toxic"]),
            "severe_toxicity": float(r["severe_toxic"]),
            "obscene": float(r["obscene"]),
            "threat": float(r["threat"]),
            "insult": float(r["insult"]),
            "identity_attack": float(r["identity_hate"]),
            "spam": 0.0,
        }
        for r in rows
    ]
    return _make("jigsaw_toxic_sample_5k", path, [r["text"] for r in rows], labels, weight)


def load_civil_comments_4k(root: Path, weight: float = 1.0) -> Corpus:
    """Civil Comments 4k (news comments, the in-domain negatives).

    The 1,000-row scored file contributes soft targets for every label (fraction of raters); the binary files
    contribute `toxic`. Rows also in the toxic-spans or toxic-sample folders are dropped here (kept there).
    """
    path = root / "civil_comments_samples_4k" / "data.csv"
    rows = read_rows(
        path,
        [
            "text",
            "toxic",
            "toxicity",
            "source_file",
            "in_civil_comments_toxic_spans",
            "in_civil_comments_toxic_sample",
        ],
    )
    texts, labels = [], []
    for r in rows:
        if r["in_civil_comments_toxic_spans"] == "1" or r["in_civil_comments_toxic_sample"] == "1":
            continue
        texts.append(r["text"])
        if r["toxicity"] != "":
            subtypes = {sub: _f(r[sub]) for sub in TOXICITY_SUBTYPES}
            labels.append(_clean_toxicity_labels(_f(r["toxicity"]), subtypes))
        else:
            labels.append(_clean_toxicity_labels(float(r["toxic"])))
    return _make("civil_comments_samples_4k", path, texts, labels, weight)


def load_civil_comments_spans(root: Path, weight: float = 0.35) -> Corpus:
    """Civil Comments toxic spans: positives only (every post had `target` >= 0.5).

    Subtype soft targets = share of span raters who marked a span of that type. Posts where no rater
    highlighted anything are dropped (label noise: several read as civil). Down-weighted by default because
    its positives outnumber the in-domain negatives ~5:1 and would teach "news topic = toxic".
    """
    path = root / "civil_comments_toxic_spans" / "data.csv"
    cols = [
        "text",
        "n_raters",
        "n_raters_with_spans",
        "insult_raters",
        "threat_raters",
        "identity_attack_raters",
        "obscene_raters",
        "in_civil_comments_toxic_sample",
    ]
    rows = [
        r
        for r in read_rows(path, cols)
        if r["in_civil_comments_toxic_sample"] != "1" and int(r["n_raters_with_spans"] or 0) > 0
    ]
    labels = []
    for r in rows:
        n = max(int(r["n_raters"]), 1)
        labels.append(
            {
                "toxicity": 1.0,
                "spam": 0.0,
                "insult": int(r["insult_raters"]) / n,
                "threat": int(r["threat_raters"]) / n,
                "identity_attack": int(r["identity_attack_raters"]) / n,
                "obscene": int(r["obscene_raters"]) / n,
            }
        )
    return _make("civil_comments_toxic_spans", path, [r["text"] for r in rows], labels, weight)


def load_davidson(root: Path, weight: float = 0.3) -> Corpus:
    """Davidson tweets. Mapping: hate (0) -> toxicity 1 + identity_attack 1; offensive (1) -> toxicity 1,
    identity_attack 0; neither (2) -> all toxicity labels 0. Spam unknown. @mentions/RT markers removed so
    they do not become toxicity cues. Low default weight: keyword-sampled, and known dialect bias.
    """
    path = root / "davidson_hate_offensive" / "data.csv"
    rows = read_rows(path, ["text", "class"])
    texts, labels = [], []
    for r in rows:
        text = _MENTION_RE.sub(" ", clean_markup(r["text"])).strip()
        if not text:
            continue
        cls = int(r["class"])
        texts.append(text)
        if cls == 2:
            labels.append({"toxicity": 0.0, **{sub: 0.0 for sub in TOXICITY_SUBTYPES}})
        else:
            labels.append({"toxicity": 1.0, "identity_attack": 1.0 if cls == 0 else 0.0})
    return _make("davidson_hate_offensive", path, texts, labels, weight)


# --------------------------------------------------------------------------------------------- identity hate
#
# The hate sets (added 2026-12-02) label identity-based hate, which is our `identity_attack`, not Jigsaw's
# rude-or-disrespectful `toxicity`: an earlier trial that put them on toxicity lost Globe and Mail level >= 3
# AUC. So they say nothing about toxicity (NaN), nor about the other subtypes or spam, unless a set marks it.


def _hate_labels(hate: float) -> dict[str, float]:
    return {"identity_attack": hate}


def load_hatexplain(root: Path, weight: float = 0.5) -> Corpus:
    """HateXplain (Twitter + Gab, majority of 3): hatespeech -> identity_attack 1, normal -> 0, offensive ->
    unknown: its offensive posts are full of slurs and group insults that the majority did not call hate, and
    as negatives they cost identity_attack 0.016 AUC on Fox News (docs/signals-experiments.md, e7). Toxicity
    unknown. The `<user>` / `<number>` placeholders are dropped so they do not become cues of the set."""
    path = root / "hatexplain" / "data.csv"
    rows = read_rows(path, ["text", "hate", "offensive"])
    texts, labels = [], []
    for r in rows:
        text = " ".join(clean_markup(r["text"]).split())
        if text:
            texts.append(text)
            labels.append(_hate_labels(NAN if r["offensive"] == "1" else float(r["hate"])))
    return _make("hatexplain", path, texts, labels, weight)


def load_latent_hatred(root: Path, weight: float = 0.5) -> Corpus:
    """Latent Hatred / Implicit Hate Corpus stage 1 (tweets): explicit or implicit hate -> identity_attack 1,
    not_hate -> 0 (many negatives come from the same communities: hard negatives). Toxicity unknown."""
    path = root / "latent_hatred_implicit_hate" / "data.csv"
    rows = read_rows(path, ["text", "hate", "implicit"])
    texts = [" ".join(r["text"].replace('""', '"').split()) for r in rows]
    return _make(
        "latent_hatred_implicit_hate",
        path,
        texts,
        [_hate_labels(float(r["hate"])) for r in rows],
        weight,
        {"implicit": [r["implicit"] == "1" for r in rows]},
    )


def load_stormfront(root: Path, weight: float = 0.5) -> Corpus:
    """Stormfront sentences (de Gibert et al. 2018): hate -> identity_attack 1, noHate -> 0; the `relation`
    and `idk/skip` sentences are already left out of the file. Sentence level, not the post file: a post is
    labelled hate for one sentence in twenty. Licence CC BY-SA 3.0 ES (share-alike, attribution): a model
    trained on it is recorded as such in its training_data metadata."""
    path = root / "stormfront_hate" / "data.csv"
    rows = read_rows(path, ["text", "hate"])
    return _make(
        "stormfront_hate",
        path,
        [r["text"] for r in rows],
        [_hate_labels(float(r["hate"])) for r in rows],
        weight,
    )


def load_toxigen_seeds(root: Path, weight: float = 1.0) -> Corpus:
    """ToxiGen seed statements: hate -> identity_attack 1; neutral statements about the same 16 groups ->
    identity_attack 0 and toxicity 0 (written as civil mentions of a group, the negatives a bag-of-words
    identity_attack head needs most). Toxicity of the hate statements is unknown (implicit, slur-free)."""
    path = root / "toxigen_seed_statements" / "data.csv"
    rows = read_rows(path, ["text", "hate", "target_group"])
    labels = [
        {"identity_attack": 1.0} if r["hate"] == "1" else {"identity_attack": 0.0, "toxicity": 0.0}
        for r in rows
    ]
    return _make(
        "toxigen_seed_statements",
        path,
        [r["text"] for r in rows],
        labels,
        weight,
        {"group": [r["target_group"] for r in rows]},
    )


def load_convabuse(root: Path, weight: float = 0.3) -> Corpus:
    """ConvAbuse (abuse typed at chatbots): majority abusive -> toxicity 1, else 0; identity-based types
    (racist, sexist, homophobic, transphobic, ableist) by majority -> identity_attack 1, else 0; sexual
    harassment -> obscene unknown (not the same thing). Non-abusive rows are negatives for every subtype.
    Ties (half the raters) count as not abusive, as the file does. Low default weight: very short chat
    messages, much of it aimed at the bot."""
    path = root / "convabuse" / "data.csv"
    rows = read_rows(path, ["text", "toxic", "hate"])
    labels = [_clean_toxicity_labels(float(r["toxic"]), {"identity_attack": float(r["hate"])}) for r in rows]
    return _make("convabuse", path, [r["text"] for r in rows], labels, weight)


def load_gab_hate_corpus(root: Path, weight: float = 0.5) -> Corpus:
    """Gab Hate Corpus (EXPERIMENTS ONLY: licence unverified, see `EXPERIMENT_ONLY`): assault on human
    dignity or call for violence -> identity_attack 1, else 0; call for violence -> threat 1, else 0."""
    path = root / "gab_hate_corpus" / "data.csv"
    rows = read_rows(path, ["text", "hate", "cv"])
    labels = [{"identity_attack": float(r["hate"]), "threat": float(r["cv"])} for r in rows]
    return _make("gab_hate_corpus", path, [r["text"] for r in rows], labels, weight)


# -------------------------------------------------------------------------------------------------- spam


def load_youtube_spam(root: Path, weight: float = 1.0) -> Corpus:
    """YouTube Spam Collection (5 videos). Spam only: a YouTube 'ham' comment may still be rude."""
    path = root / "youtube_spam_collection" / "data.csv"
    rows = read_rows(path, ["text", "spam", "video"])
    return _make(
        "youtube_spam_collection",
        path,
        [clean_markup(r["text"]) for r in rows],
        [{"spam": float(r["spam"])} for r in rows],
        weight,
        {"group": [r["video"] for r in rows]},
    )


def load_youtube_spam_extra(root: Path, weight: float = 1.0) -> Corpus:
    """YouTube 2014 extra; drops rows already in the main collection and the repeated PewDiePie ids."""
    path = root / "youtube_spam_2014_extra" / "data.csv"
    rows = [
        r
        for r in read_rows(path, ["text", "spam", "video", "in_youtube_spam_collection", "dup_comment_id"])
        if r["in_youtube_spam_collection"] != "1" and r["dup_comment_id"] != "1"
    ]
    return _make(
        "youtube_spam_2014_extra",
        path,
        [clean_markup(r["text"]) for r in rows],
        [{"spam": float(r["spam"])} for r in rows],
        weight,
        {"group": [r["video"] for r in rows]},
    )


def load_sms_spam(root: Path, weight: float = 0.7) -> Corpus:
    """SMS Spam Collection: spam/ham. Ham SMS are not toxicity-labelled, so toxicity stays unknown."""
    path = root / "sms_spam_collection" / "data.csv"
    rows = read_rows(path, ["text", "spam"])
    return _make(
        "sms_spam_collection",
        path,
        [clean_markup(r["text"]) for r in rows],
        [{"spam": float(r["spam"])} for r in rows],
        weight,
    )


def load_spamassassin(root: Path, weight: float = 0.15, max_chars: int = 1500) -> Corpus:
    """SpamAssassin e-mail (subject + body), cut to `max_chars`, weighted low: e-mail, not comments."""
    path = root / "spamassassin" / "data.csv"
    rows = read_rows(path, ["text", "spam"])
    return _make(
        "spamassassin",
        path,
        [clean_markup(r["text"][:max_chars]) for r in rows],
        [{"spam": float(r["spam"])} for r in rows],
        weight,
    )


def load_instagram_scams(root: Path, weight: float = 1.0) -> Corpus:
    """ScamSpot Instagram comments under finance/crypto posts: scam -> spam 1, real -> spam 0 (its own ham:
    real comments under the same posts). Toxicity unknown. Lower-cased upstream."""
    path = root / "instagram_scam_comments" / "data.csv"
    rows = read_rows(path, ["text", "spam", "ig_account"])
    return _make(
        "instagram_scam_comments",
        path,
        [r["text"] for r in rows],
        [{"spam": float(r["spam"])} for r in rows],
        weight,
        {"group": [r["ig_account"] for r in rows]},
    )


def load_wordpress_spam(root: Path, weight: float = 1.0) -> Corpus:
    """Spam-bot comments from a WordPress moderation queue: spam 1, positives only. Their ham counterparts
    are the real news comments every toxicity source already labels spam 0 (civil comments, Jigsaw), so
    this set must not be trained without them: `pipeline.TrainingConfig.validate` checks it. Toxicity
    unknown. The author and website fields are not used: a comment form gives us the text only."""
    path = root / "wordpress_blog_spam" / "data.csv"
    rows = read_rows(path, ["text", "spam"])
    return _make(
        "wordpress_blog_spam", path, [r["text"] for r in rows], [{"spam": 1.0} for _ in rows], weight
    )


def load_x_scam_spam(root: Path, weight: float = 0.5) -> Corpus:
    """Janitr X/Twitter posts (EXPERIMENTS ONLY: labels mostly machine-assigned, see `EXPERIMENT_ONLY`):
    the strict `fraud` bucket (scam, phishing, fake support, recovery and job scams...) -> spam 1, clean
    posts -> spam 0, promotion without fraud -> unknown (a news site may allow a book plug)."""
    path = root / "x_scam_spam" / "data.csv"
    rows = read_rows(path, ["text", "spam", "fraud"])
    labels = [
        {"spam": 1.0} if r["fraud"] == "1" else ({"spam": 0.0} if r["spam"] == "0" else {"spam": NAN})
        for r in rows
    ]
    return _make("x_scam_spam", path, [r["text"] for r in rows], labels, weight)


# ------------------------------------------------------------------------------------ moderator decisions

MODERATOR_LABELS = {
    "ok": {"toxicity": 0.0, "spam": 0.0, **{sub: 0.0 for sub in TOXICITY_SUBTYPES}},
    "approve": {"toxicity": 0.0, "spam": 0.0, **{sub: 0.0 for sub in TOXICITY_SUBTYPES}},
    "toxic": {"toxicity": 1.0, "spam": 0.0},
    "spam": {"spam": 1.0},
    **{sub: {"toxicity": 1.0, sub: 1.0, "spam": 0.0} for sub in TOXICITY_SUBTYPES},
    # The dashboard's reject reasons that name a kind of abuse (moderation.policy.LABEL_CODES); "threat" is
    # also a subtype above, with the same meaning.
    "hate": {"toxicity": 1.0, "identity_attack": 1.0, "spam": 0.0},
    "harassment": {"toxicity": 1.0, "insult": 1.0, "spam": 0.0},
}


# Rejections for reasons that say nothing about our labels (`manage.py export_labels` writes them; not
# trained on).
MODERATOR_SKIPPED_LABELS = {"off_topic", "other"}


def moderator_label(value: str, label: str) -> float | None:
    """What a moderator-export label value (``ok``, ``toxic``, ``spam``, ``hate``, ...) says about one of our
    labels: 1.0, 0.0, or None when it says nothing about it (``spam`` about toxicity, ``off_topic`` about
    anything). Raises `KeyError` for a value outside the vocabulary. The trainer and the evaluators read
    exports through this one mapping."""
    value = value.strip().lower()
    if value in MODERATOR_SKIPPED_LABELS:
        return None
    return MODERATOR_LABELS[value].get(label)


MODERATOR_VOCABULARY = set(MODERATOR_LABELS) | MODERATOR_SKIPPED_LABELS


def load_moderator_export(path: Path | str, weight: float = 1.0) -> Corpus:
    """A moderator-decision export: CSV with `text`, `label` (ok/toxic/spam or a toxicity subtype),
    `label_source`, `decided_at`, ... Rows labelled off_topic/other are left out (counted in `skipped` as
    ``no_training_label``), and so are rows with a label value outside the vocabulary (``unknown_label``);
    `DataError` if no row has a known label (the wrong file or column)."""
    path = Path(path)
    rows = read_rows(path, ["text", "label"])
    texts, labels = [], []
    skipped = {"no_training_label": 0, "unknown_label": 0}
    unknown: dict[str, int] = {}
    for line, r in enumerate(rows, start=2):
        value = r["label"].strip().lower()
        if value in MODERATOR_SKIPPED_LABELS:
            skipped["no_training_label"] += 1
            continue
        if value not in MODERATOR_LABELS:
            skipped["unknown_label"] += 1
            unknown.setdefault(r["label"], line)
            continue
        texts.append(r["text"])
        labels.append(MODERATOR_LABELS[value])
    if rows and not texts and unknown:
        value, line = next(iter(unknown.items()))
        raise DataError(f"{path}:{line}: label {value!r} not one of {sorted(MODERATOR_VOCABULARY)}")
    corpus = _make(f"moderator_export:{path.name}", path, texts, labels, weight)
    corpus.skipped = {reason: n for reason, n in skipped.items() if n}
    return corpus


TRAINING_LOADERS = {
    "jigsaw_toxic_sample_5k": load_jigsaw_sample,
    "jigsaw_toxic_binary_20k": load_jigsaw_binary,
    "civil_comments_samples_4k": load_civil_comments_4k,
    "civil_comments_toxic_spans": load_civil_comments_spans,
    "davidson_hate_offensive": load_davidson,
    "youtube_spam_collection": load_youtube_spam,
    "youtube_spam_2014_extra": load_youtube_spam_extra,
    "sms_spam_collection": load_sms_spam,
    "spamassassin": load_spamassassin,
    "toxigen_seed_statements": load_toxigen_seeds,
    "hatexplain": load_hatexplain,
    "latent_hatred_implicit_hate": load_latent_hatred,
    "stormfront_hate": load_stormfront,
    "convabuse": load_convabuse,
    "instagram_scam_comments": load_instagram_scams,
    "wordpress_blog_spam": load_wordpress_spam,
    "gab_hate_corpus": load_gab_hate_corpus,
    "x_scam_spam": load_x_scam_spam,
}
# Loadable for experiments, never in a shipped recipe (data README): the Gab Hate Corpus until its licence
# is verified, the X scam set because its labels are mostly machine-assigned. `pipeline.TrainingConfig`
# refuses them unless `experiment` is set, and a model trained with them says so in its metadata.
EXPERIMENT_ONLY = {"gab_hate_corpus", "x_scam_spam"}
# Share-alike licences: a model trained on them may be a derivative work under the same licence.
SHARE_ALIKE = {"stormfront_hate": "CC BY-SA 3.0 ES"}


# ---------------------------------------------------------------------------------- evaluation-only sets


def hatecheck_cases(root: Path | None = None) -> list[dict[str, str]]:
    """HateCheck's 3,728 functional test cases (evaluation only): ``text``, ``hateful`` ("1"/"0") and
    ``functionality``."""
    return read_rows(
        (root or data_dir()) / "hatecheck" / "test_suite_cases.csv", ["text", "hateful", "functionality"]
    )


def is_hatecheck_threat(case: dict[str, str]) -> bool:
    """A HateCheck threat case (functionalities ``threat_dir_h`` and ``threat_norm_h``: 273 cases)."""
    return case["functionality"].startswith("threat_")


def eval_only_keys(root: Path) -> set[str]:
    """Match keys of every evaluation-only text, to keep them out of training (wiki set ⊂ Jigsaw)."""
    files = [
        ("fox_news_comments_hate", "data.csv"),
        ("globe_and_mail_constructiveness_toxicity", "data.csv"),
        ("hatecheck", "test_suite_cases.csv"),
        ("wiki_toxicity_identity_testset", "nonfuzzed.csv"),
        ("wiki_toxicity_identity_testset", "fuzzed.csv"),
        ("jigsaw_toxic_test_examples_ibm", "data.csv"),
    ]
    keys: set[str] = set()
    for folder, name in files:
        for r in read_rows(root / folder / name, ["text"]):
            key = match_key(r["text"])
            if len(key) >= 12:  # "Pathetic." style one-word overlaps are too generic to ban
                keys.add(key)
    return keys


def split_of(key: str, seed: int = 0) -> str:
    """Deterministic 80/10/10 train/val/test bucket from the match key: identical texts share a split."""
    bucket = int(hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else ("val" if bucket < 90 else "test")


DROP_REASONS = ("empty_text", "evaluation_set_overlap", "duplicate", "conflicting_label")


@dataclass
class SplitCorpora:
    """Per-source corpora after de-duplication, overlap removal and the train/val/test split. `dropped`: rows
    of each source left out here; `dropped_by_reason`: those by reason (``DROP_REASONS``), plus the rows its
    loader left out (`Corpus.skipped`), zero counts omitted."""

    train: list[Corpus]
    val: list[Corpus]
    test: list[Corpus]
    dropped: dict[str, int]
    dropped_by_reason: dict[str, dict[str, int]] = field(default_factory=dict)


def _disagree(a: np.ndarray, b: np.ndarray) -> bool:
    """Two label rows that both state a label and put it on different sides of 0.5."""
    both = ~np.isnan(a) & ~np.isnan(b)
    return bool(np.any((a[both] >= 0.5) != (b[both] >= 0.5)))


def dedupe_and_split(corpora: list[Corpus], banned: set[str], seed: int = 0) -> SplitCorpora:
    """Drop empty texts, texts in `banned` (evaluation sets) and repeats of an earlier text (across all
    corpora, first occurrence wins, so order sources by trust; a repeat whose labels disagree with the kept
    row's is counted as ``conflicting_label``, else as ``duplicate``), then split each corpus by match key."""
    first: dict[str, np.ndarray] = {}
    out = SplitCorpora([], [], [], {})
    for corpus in corpora:
        splits = []
        keep = np.zeros(len(corpus), dtype=bool)
        reasons = dict.fromkeys(DROP_REASONS, 0)
        for i, text in enumerate(corpus.texts):
            key = match_key(text)
            reason = None
            if not key:
                reason = "empty_text"
            elif key in banned:
                reason = "evaluation_set_overlap"
            elif key in first:
                reason = "conflicting_label" if _disagree(first[key], corpus.y[i]) else "duplicate"
            if reason:
                reasons[reason] += 1
                splits.append("")
                continue
            first[key] = corpus.y[i]
            keep[i] = True
            splits.append(split_of(key, seed))
        out.dropped[corpus.name] = sum(reasons.values())
        out.dropped_by_reason[corpus.name] = {
            reason: n for reason, n in {**corpus.skipped, **reasons}.items() if n
        }
        splits_arr = np.array(splits)
        out.train.append(corpus.subset(keep & (splits_arr == "train")))
        out.val.append(corpus.subset(keep & (splits_arr == "val")))
        out.test.append(corpus.subset(keep & (splits_arr == "test")))
    return out


TRAINING_ROW_KEY = "blake2b-64 of training.normalize.match_key, sorted, little-endian uint64, base64"


def text_hashes(texts: Iterable[str]) -> np.ndarray:
    """Sorted unique 64-bit hashes of the texts' match keys (empty keys left out): a compact record of which
    rows a model trained on, for refusing to evaluate it on them (`encode_hashes` stores them)."""
    values = {
        int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")
        for key in map(match_key, texts)
        if key
    }
    return np.array(sorted(values), dtype=np.uint64)


def encode_hashes(hashes: np.ndarray) -> str:
    """`text_hashes` as ASCII text for a JSON sidecar (about 11 characters a row)."""
    return base64.b64encode(np.asarray(hashes, dtype="<u8").tobytes()).decode("ascii")


def decode_hashes(text: str) -> np.ndarray:
    """The inverse of `encode_hashes`."""
    return np.frombuffer(base64.b64decode(text), dtype="<u8").astype(np.uint64)


def concat(corpora: list[Corpus]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(texts, Y, weights, source index per row) of several corpora."""
    texts = [t for c in corpora for t in c.texts]
    y = np.vstack([c.y for c in corpora]) if corpora else np.zeros((0, len(LABELS)))
    w = np.concatenate([c.weight for c in corpora]) if corpora else np.zeros(0)
    src = np.concatenate([np.full(len(c), i) for i, c in enumerate(corpora)]) if corpora else np.zeros(0, int)
    return texts, y, w, src
