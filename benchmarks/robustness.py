"""Robustness of the shipped model to obfuscated abuse and spam.

    python -m benchmarks robustness [--json] [--limit N] [--seed S] [--model PATH]

Takes labelled comments from evaluation data the model never trained on, applies each obfuscation an abuser or
spammer uses to dodge a filter, scores the clean and the obfuscated version with the shipped model and
reports, per task (toxic, spam) and per transform:

- ``mean_score_drop``: mean of clean score - obfuscated score over the positives the transform changed;
- ``within_0_15``: share of those positives whose obfuscated score is within 0.15 of the clean one (target
  >= 0.90);
- ``fell_below_reject``: of the positives rejected when clean, the share the obfuscated version gets past the
  reject threshold; ``rejected_clean`` / ``rejected_obfuscated``: share of positives at or above it;
- ``roc_auc_clean`` / ``roc_auc_obfuscated``: positives against the negatives of the same sets, obfuscated the
  same way (target: within 0.03).

Which words are obfuscated: the ones that give a comment away. For each text the model's ``explain()`` names
the words it credits most for the task's label (up to three); those words are disguised, the way an abuser
disguises the insult and leaves the rest of the sentence alone. The negatives get the same treatment on their
own top words. Every random choice is seeded from ``--seed``, the transform and the row, so a run is
reproducible.

Data (``../shared/data``, ``MODERATION_SHARED_DATA``):
- toxic: ``jigsaw_toxic_test_examples_ibm`` (any_toxic), ``civil_comments_toxic_sample`` (all toxic; rows that
  are also in the training folders dropped), ``fox_news_comments_hate`` (hateful),
  ``globe_and_mail_constructiveness_toxicity`` (toxic = level >= 3); the non-toxic rows of the same sets are
  the negatives. All are evaluation-only sets, never trained on.
- spam: the held-out test split (``training.offline.datasets.split_of`` with the model's seed) of
  ``youtube_spam_collection`` and ``youtube_spam_2014_extra``: comment spam, same bucket the model's
  held-out metrics use (a row must be in it under the match key without the known-word rewrites
  and under the current one), so no row of it was trained on. Ham of the same split is the negatives.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGET_WITHIN = 0.90
TARGET_AUC_DROP = 0.03
WITHIN = 0.15
TOP_WORDS = 3

# ------------------------------------------------------------------------------------------------ transforms

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z']*[A-Za-z]|[A-Za-z]")

_LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7", "g": "9", "b": "8"}
# Lookalikes from other scripts (Cyrillic, Greek, Armenian, Latin IPA), as in Unicode's confusables list.
_HOMOGLYPHS = {
    "a": "аɑα",
    "c": "сϲ",
    "d": "ԁ",
    "e": "еє",
    "g": "ɡ",
    "h": "һ",
    "i": "іɩι",
    "j": "ј",
    "k": "κ",
    "l": "ӏ",
    "n": "ո",
    "o": "оοօ",
    "p": "рρ",
    "q": "ԛ",
    "s": "ѕ",
    "u": "սυ",
    "v": "ν",
    "w": "ԝω",
    "x": "хχ",
    "y": "уү",
    "A": "АΑ",
    "B": "ВΒ",
    "C": "С",
    "E": "ЕΕ",
    "H": "НΗ",
    "I": "ІΙ",
    "K": "КΚ",
    "M": "МΜ",
    "N": "Ν",
    "O": "ОΟ",
    "P": "РΡ",
    "S": "Ѕ",
    "T": "ТΤ",
    "X": "ХΧ",
    "Y": "ҮΥ",
}
_ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
_INSIDE_PUNCT = ".*-_',"
_STYLES = [
    "FULLWIDTH LATIN {case} LETTER {L}",
    "MATHEMATICAL BOLD {case} {L}",
    "MATHEMATICAL ITALIC {case} {L}",
    "MATHEMATICAL SCRIPT {case} {L}",
    "MATHEMATICAL BOLD SCRIPT {case} {L}",
    "MATHEMATICAL FRAKTUR {case} {L}",
    "MATHEMATICAL DOUBLE-STRUCK {case} {L}",
    "MATHEMATICAL SANS-SERIF BOLD {case} {L}",
    "MATHEMATICAL MONOSPACE {case} {L}",
    "CIRCLED LATIN {case} LETTER {L}",
]


def _styled(ch: str, style: str) -> str:
    if not ("a" <= ch.lower() <= "z"):
        return ch
    name = style.format(case="CAPITAL" if ch.isupper() else "SMALL", L=ch.upper())
    try:
        return unicodedata.lookup(name)
    except KeyError:  # holes in the math alphabets (italic h, script e...) live in Letterlike Symbols
        return ch


def spacing(word: str, rng: random.Random) -> str:
    """``idiot`` -> ``i d i o t``"""
    return " ".join(word)


def punctuation(word: str, rng: random.Random) -> str:
    """``stupid`` -> ``st.upid`` (one mark inside the word, two in long words)."""
    if len(word) < 2:
        return word
    chars = list(word)
    for _ in range(1 if len(word) < 7 else 2):
        pos = rng.randrange(1, len(chars))
        chars.insert(pos, rng.choice(_INSIDE_PUNCT))
    return "".join(chars)


def leetspeak(word: str, rng: random.Random) -> str:
    """``idiot`` -> ``1d10t``: every letter that has a leet form gets one."""
    return "".join(rng.choice(_LEET[ch.lower()]) if ch.lower() in _LEET else ch for ch in word)


def repeated_letters(word: str, rng: random.Random) -> str:
    """``idiot`` -> ``idiiot`` / ``idiooooot``: one letter doubled to repeated five times."""
    positions = [i for i, ch in enumerate(word) if ch.isalpha()]
    if not positions:
        return word
    vowels = [i for i in positions if word[i].lower() in "aeiou"]
    pos = rng.choice(vowels or positions)
    return word[:pos] + word[pos] * rng.randint(2, 5) + word[pos + 1 :]


def zero_width(word: str, rng: random.Random) -> str:
    """An invisible character (zero-width space/joiners, word joiner, BOM, soft hyphen) between letters."""
    return "".join(ch + (rng.choice(_ZERO_WIDTH) if i < len(word) - 1 else "") for i, ch in enumerate(word))


def homoglyphs(word: str, rng: random.Random) -> str:
    """Letters swapped for lookalikes from Cyrillic, Greek, Armenian (each that has one, with p = 0.7)."""
    return "".join(
        rng.choice(_HOMOGLYPHS[ch]) if ch in _HOMOGLYPHS and rng.random() < 0.7 else ch for ch in word
    )


def fullwidth_math(word: str, rng: random.Random) -> str:
    """The word in fullwidth, mathematical (bold, script, fraktur, double-struck...) or circled letters."""
    style = rng.choice(_STYLES)
    return "".join(_styled(ch, style) for ch in word)


def combining_marks(word: str, rng: random.Random) -> str:
    """One or two combining marks (accents, strokes, "Zalgo") on every letter."""
    return "".join(
        ch + "".join(chr(rng.randrange(0x300, 0x370)) for _ in range(rng.randint(1, 2))) for ch in word
    )


def mixed_case(word: str, rng: random.Random) -> str:
    """``idiot`` -> ``iDIoT``"""
    return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in word)


WORD_TRANSFORMS: dict[str, Callable[[str, random.Random], str]] = {
    "spacing": spacing,
    "punctuation": punctuation,
    "leetspeak": leetspeak,
    "repeated_letters": repeated_letters,
    "zero_width": zero_width,
    "homoglyphs": homoglyphs,
    "fullwidth_math": fullwidth_math,
    "combining_marks": combining_marks,
    "mixed_case": mixed_case,
}

_URL_RE = re.compile(
    r"(?:https?://)?(?:www\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|net|org|info|biz|ly|co|tv|me|us|uk|de|ru|gl)"
    r"\b(?:/[^\s\"'<>]*)?",
    re.IGNORECASE,
)


def _obfuscate_url(url: str, rng: random.Random) -> str:
    style = rng.randrange(5)
    bare = re.sub(r"^https?://", "", url, flags=re.IGNORECASE)
    host, slash, path = bare.partition("/")
    labels = host.split(".")
    if style == 0:  # w w w . site . com
        return " . ".join(" ".join(lab) if lab.lower() == "www" else lab for lab in labels) + slash + path
    if style == 1:  # site[dot]com
        return "[dot]".join(labels) + slash + path
    if style == 2:  # site (dot) com
        return " (dot) ".join(labels) + slash + path
    if style == 3:  # site dot com
        return " dot ".join(labels) + slash + path
    return "hxxp://" + "[.]".join(labels) + slash + path  # hxxp://site[.]com


def url_obfuscation(text: str, rng: random.Random) -> str:
    """Every web address in ``text`` written so a link filter misses it: ``w w w . site . com``,
    ``site[dot]com``, ``site (dot) com``, ``site dot com``, ``hxxp://site[.]com``."""
    return _URL_RE.sub(lambda m: _obfuscate_url(m.group(0), rng), text)


TEXT_TRANSFORMS: dict[str, Callable[[str, random.Random], str]] = {"url_obfuscation": url_obfuscation}


def obfuscate_words(
    text: str, targets: set[str], transform: Callable[[str, random.Random], str], rng: random.Random
) -> str:
    """``text`` with every word whose lower-case form is in ``targets`` passed through ``transform``. Web
    addresses are left alone: a disguised link must still lead somewhere, which is what ``url_obfuscation``
    measures."""
    pieces, last = [], 0
    for url in _URL_RE.finditer(text):
        pieces.append(
            _WORD_RE.sub(
                lambda m: transform(m.group(0), rng) if m.group(0).lower() in targets else m.group(0),
                text[last : url.start()],
            )
        )
        pieces.append(url.group(0))
        last = url.end()
    pieces.append(
        _WORD_RE.sub(
            lambda m: transform(m.group(0), rng) if m.group(0).lower() in targets else m.group(0), text[last:]
        )
    )
    return "".join(pieces)


# ------------------------------------------------------------------------------------------------ data


@dataclass
class Task:
    name: str
    label: str  # the model label whose score is measured
    texts: list[str] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    sets: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, source: str, rows: list[tuple[str, int]]) -> None:
        rows = [(t, y) for t, y in rows if t.strip()]
        self.texts += [t for t, _ in rows]
        self.y += [y for _, y in rows]
        self.sets[source] = {"positives": sum(y for _, y in rows), "negatives": sum(1 - y for _, y in rows)}


def toxic_task(root: Path) -> Task:
    from training.offline.datasets import match_key, read_rows

    task = Task("toxic", "toxicity")
    rows = read_rows(root / "jigsaw_toxic_test_examples_ibm" / "data.csv", ["text", "any_toxic"])
    task.add("jigsaw_toxic_test_examples_ibm", [(r["text"], int(r["any_toxic"] == "1")) for r in rows])

    # 25 ids / 2 texts of this sample are also in the Civil Comments folders the model trained on: drop them.
    spans = read_rows(root / "civil_comments_toxic_spans" / "data.csv", ["comment_id", "text"])
    four_k = read_rows(root / "civil_comments_samples_4k" / "data.csv", ["text"])
    trained_ids = {r["comment_id"] for r in spans if r.get("in_civil_comments_toxic_sample") == "1"}
    trained_keys = {
        match_key(r["text"]) for r in spans + four_k if r.get("in_civil_comments_toxic_sample") == "1"
    }
    rows = read_rows(root / "civil_comments_toxic_sample" / "data.csv", ["id", "text"])
    task.add(
        "civil_comments_toxic_sample",
        [
            (r["text"], 1)
            for r in rows
            if r["id"] not in trained_ids and match_key(r["text"]) not in trained_keys
        ],
    )

    rows = read_rows(root / "fox_news_comments_hate" / "data.csv", ["text", "hateful"])
    task.add(
        "fox_news_comments_hate",
        [(r["text"], int(r["hateful"] == "1")) for r in rows if r["dup_text"] != "1"],
    )
    rows = read_rows(root / "globe_and_mail_constructiveness_toxicity" / "data.csv", ["text", "toxic"])
    task.add(
        "globe_and_mail_constructiveness_toxicity",
        [(r["text"], int(r["toxic"] == "1")) for r in rows if r["dup_text"] != "1"],
    )
    return task


def spam_task(root: Path, seed: int) -> Task:
    from training.normalize import without_known_words
    from training.offline.datasets import clean_markup, match_key, read_rows, split_of

    task = Task("spam", "spam")
    # The split is taken from the match key the model was trained with: the normaliser without its known-word
    # rewrites (added after the shipped model was built), so no row this suite calls held out was trained on.
    keys = {}
    with without_known_words():
        for folder in ("youtube_spam_collection", "youtube_spam_2014_extra"):
            for r in read_rows(root / folder / "data.csv", ["text", "spam"]):
                text = clean_markup(r["text"])
                keys[text] = match_key(text)
    for folder in ("youtube_spam_collection", "youtube_spam_2014_extra"):
        rows = read_rows(root / folder / "data.csv", ["text", "spam"])
        held_out = []
        for r in rows:
            text = clean_markup(r["text"])
            key = keys[text]
            if key and split_of(key, seed) == "test" and split_of(match_key(text), seed) == "test":
                held_out.append((text, int(r["spam"] == "1")))
        task.add(f"{folder} (held-out test split)", held_out)
    return task


def _subsample(task: Task, limit: int | None, seed: int) -> Task:
    """At most ``limit`` rows, keeping the positive share (for the quick test run)."""
    if not limit or len(task.texts) <= limit:
        return task
    rng = random.Random(f"{seed}:subsample:{task.name}")
    pos = [i for i, y in enumerate(task.y) if y]
    neg = [i for i, y in enumerate(task.y) if not y]
    n_pos = max(2, round(limit * len(pos) / len(task.texts)))
    keep = sorted(rng.sample(pos, min(n_pos, len(pos))) + rng.sample(neg, min(limit - n_pos, len(neg))))
    out = Task(task.name, task.label, [task.texts[i] for i in keep], [task.y[i] for i in keep], task.sets)
    return out


# ------------------------------------------------------------------------------------------------ measuring


def _auc(y: list[int], scores: list[float]) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(set(y)) < 2:
        return None
    return float(roc_auc_score(y, scores))


def target_words(model: Any, text: str, label: str) -> set[str]:
    """Lower-case words of ``text`` the model credits most for ``label`` (up to TOP_WORDS), else its
    longest."""
    from training.normalize import normalize

    credited: list[str] = []
    for name, _ in model.explain(text, label, top_k=TOP_WORDS * 2):
        for part in name.split():
            if part not in credited:
                credited.append(part)
    words = {w.lower() for w in _WORD_RE.findall(text)}
    chosen = {w for w in words if normalize(w) in credited[:TOP_WORDS]}
    if not chosen and words:
        chosen = {max(words, key=len)}
    return chosen


def measure_task(model: Any, task: Task, seed: int) -> dict[str, Any]:
    label = task.label
    reject = model.thresholds.get(label, {}).get("reject")
    if reject is None:  # a label without thresholds of its own: the toxicity ones
        reject = model.thresholds["toxicity"]["reject"]
    clean = [s[label] for s in model.score(task.texts)]
    targets = [target_words(model, text, label) for text in task.texts]
    auc_clean = _auc(task.y, clean)
    n_pos = sum(task.y)
    result: dict[str, Any] = {
        "label": label,
        "sets": task.sets,
        "positives": n_pos,
        "negatives": len(task.y) - n_pos,
        "reject_threshold": reject,
        "clean": {
            "roc_auc": _round(auc_clean),
            "rejected": _round(
                sum(1 for s, y in zip(clean, task.y, strict=True) if y and s >= reject) / max(n_pos, 1)
            ),
            "mean_positive_score": _round(
                sum(s for s, y in zip(clean, task.y, strict=True) if y) / max(n_pos, 1)
            ),
        },
        "transforms": {},
    }
    names = list(WORD_TRANSFORMS) + (list(TEXT_TRANSFORMS) if task.name == "spam" else [])
    for name in names:
        obfuscated = []
        for i, text in enumerate(task.texts):
            rng = random.Random(f"{seed}:{name}:{i}")
            if name in WORD_TRANSFORMS:
                obfuscated.append(obfuscate_words(text, targets[i], WORD_TRANSFORMS[name], rng))
            else:
                obfuscated.append(TEXT_TRANSFORMS[name](text, rng))
        scores = [s[label] for s in model.score(obfuscated)]
        changed = [i for i, y in enumerate(task.y) if y and obfuscated[i] != task.texts[i]]
        drops = [clean[i] - scores[i] for i in changed]
        rejected_clean = [i for i in changed if clean[i] >= reject]
        auc_obf = _auc(task.y, scores)
        within = sum(1 for d in drops if abs(d) <= WITHIN) / len(drops) if drops else None
        auc_drop = (auc_clean - auc_obf) if auc_clean is not None and auc_obf is not None else None
        result["transforms"][name] = {
            "positives_changed": len(changed),
            "mean_score_drop": _round(sum(drops) / len(drops)) if drops else None,
            "within_0_15": _round(within),
            "rejected_clean": _round(len(rejected_clean) / len(changed)) if changed else None,
            "rejected_obfuscated": _round(sum(1 for i in changed if scores[i] >= reject) / len(changed))
            if changed
            else None,
            "fell_below_reject": _round(
                sum(1 for i in rejected_clean if scores[i] < reject) / len(rejected_clean)
            )
            if rejected_clean
            else None,
            "roc_auc_clean": _round(auc_clean),
            "roc_auc_obfuscated": _round(auc_obf),
            "auc_drop": _round(auc_drop),
            "meets_target": bool(
                (within is None or within >= TARGET_WITHIN)
                and (auc_drop is None or auc_drop <= TARGET_AUC_DROP)
            ),
            "example": _example(task, obfuscated, changed),
        }
    return result


def _example(task: Task, obfuscated: list[str], changed: list[int]) -> str | None:
    """A short obfuscated positive, to show what the transform looks like (ASCII-escaped in JSON)."""
    short = sorted(changed, key=lambda i: len(task.texts[i]))
    return obfuscated[short[0]][:120] if short else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def run(
    limit: int | None = None, seed: int = 0, model_path: Path | None = None, data_root: Path | None = None
) -> dict[str, Any]:
    """Measure every transform on both tasks; return the report as a dict (what ``--json`` prints)."""
    from training.offline.datasets import data_dir
    from training.runtime import load_model

    started = time.perf_counter()
    model = load_model(model_path)
    root = data_root or data_dir()
    model_seed = int(model.metadata.get("seed", 0))
    tasks = [_subsample(toxic_task(root), limit, seed), _subsample(spam_task(root, model_seed), limit, seed)]
    report: dict[str, Any] = {
        "model_version": model.version,
        "seed": seed,
        "targets": {"within_0_15": TARGET_WITHIN, "auc_drop_max": TARGET_AUC_DROP},
        "words_obfuscated": f"up to {TOP_WORDS} words per text that the model credits most (explain())",
        "tasks": {task.name: measure_task(model, task, seed) for task in tasks},
    }
    report["all_targets_met"] = all(
        t["meets_target"] for task in report["tasks"].values() for t in task["transforms"].values()
    )
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _print_table(report: dict[str, Any]) -> None:
    print(f"model {report['model_version']}  seed {report['seed']}  ({report['words_obfuscated']})")
    for name, task in report["tasks"].items():
        sets = ", ".join(f"{k} ({v['positives']}+/{v['negatives']}-)" for k, v in task["sets"].items())
        print(f"\n{name}: score '{task['label']}', reject >= {task['reject_threshold']}; sets: {sets}")
        print(f"clean: ROC AUC {task['clean']['roc_auc']}, rejected {task['clean']['rejected']}")
        print(
            f"{'transform':18} {'n':>5} {'drop':>7} {'within':>7} {'fell<rej':>8} {'AUC':>7} {'dAUC':>7}  ok"
        )
        for tname, t in task["transforms"].items():
            print(
                f"{tname:18} {t['positives_changed']:>5} {_fmt(t['mean_score_drop']):>7} "
                f"{_fmt(t['within_0_15']):>7} {_fmt(t['fell_below_reject']):>8} "
                f"{_fmt(t['roc_auc_obfuscated']):>7} {_fmt(t['auc_drop']):>7}  "
                f"{'yes' if t['meets_target'] else 'NO'}"
            )
    print(f"\nall targets met: {report['all_targets_met']}  ({report['seconds']} s)")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks robustness", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--limit", type=int, default=None, help="at most N rows per task (quick check)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=None, help="model artifact (default: the shipped one)")
    args = parser.parse_args(argv)
    report = run(limit=args.limit, seed=args.seed, model_path=args.model)
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
