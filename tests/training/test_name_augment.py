"""Our own civil sentences naming people from many places (`training.offline.name_augment`), the identity
hate head's negatives against name bias: fast, no training, no embedding."""

from __future__ import annotations

import csv
import re

from training.normalize import match_key
from training.offline import datasets, name_augment
from training.offline.heads import name_sentence_rows
from training.offline.identity_augment import named_groups


def test_training_and_measured_names_and_templates_never_meet():
    trained, measured = name_augment.split_names()
    assert set(trained) | set(measured) == set(name_augment.NAMES)
    assert not set(trained) & set(measured)
    assert 0.1 < len(measured) / len(name_augment.NAMES) < 0.35
    assert not set(name_augment.TEMPLATES) & set(name_augment.MEASURED_TEMPLATES)
    assert len(set(name_augment.NAMES)) == len(name_augment.NAMES)
    sentences = name_augment.training_sentences()
    assert sentences == name_augment.training_sentences()  # deterministic
    assert not any(name in s.split() for s in sentences for name in measured)


def test_no_name_is_one_the_bias_madlibs_evaluation_set_uses():
    path = datasets.data_dir() / "bias_madlibs" / "bias_madlibs_77k.csv"
    if not path.is_file():  # a data folder without bias madlibs
        return
    with open(path, newline="", encoding="utf-8") as fh:
        theirs = {row["text"].split()[0] for row in csv.DictReader(fh) if row["template"] == "name_adj"}
    assert len(theirs) >= 40
    assert not theirs & set(name_augment.NAMES)


def test_sentences_are_filled_in_and_measured_ones_compare_names_on_the_same_sentences():
    for text in name_augment.training_sentences():
        assert not re.search(r"[{}]", text) and text[0].isupper(), text
        assert not re.search(r"\ba (?!Eu)[AEIOaeio]", text), text  # "an Afghan", "a European"
    texts, who = name_augment.measured_sentences()
    _, measured = name_augment.split_names()
    assert set(who) == set(measured)
    per_name = len(texts) // len(measured)
    first, second = texts[:per_name], texts[per_name : 2 * per_name]
    assert [t.replace(who[0], "_") for t in first] == [t.replace(who[per_name], "_") for t in second]
    # the sentences that name a group name each measured group
    assert any(named_groups(t) for t in first) and any("Muslim" in t for t in first)


def test_name_sentence_rows_drop_banned_texts():
    texts, dropped = name_sentence_rows(set())
    assert dropped == 0 and texts == name_augment.training_sentences()
    texts2, dropped2 = name_sentence_rows({match_key(texts[0]), match_key(texts[5])})
    assert dropped2 == 2 and len(texts2) == len(texts) - 2
