"""Our own threat sentences and civil sentences in their vocabulary for the threat head
(`training.offline.threat_augment`, `heads.threat_augmentation_rows`): fast, no training, no embedding."""

from __future__ import annotations

import re

import numpy as np
import pytest

from training.normalize import match_key
from training.offline.heads import each_side_weighs, threat_augmentation_rows
from training.offline.identity_augment import named_groups
from training.offline.threat_augment import (
    ACTS,
    TARGETS,
    threat_sentences,
    violent_civil_sentences,
)


def test_the_sentences_are_deterministic_distinct_and_filled_in():
    threats, civil = threat_sentences(n=400), violent_civil_sentences(n=400)
    assert threats == threat_sentences(n=400) and civil == violent_civil_sentences(n=400)
    assert threat_sentences(seed=1, n=400) != threats
    assert len(threats) == 400 and len(set(threats)) == 400
    assert 300 <= len(civil) <= 400 and len(set(civil)) == len(civil)
    for text in threats + civil:
        assert not re.search(r"[{}]", text), text  # every slot filled
        assert text[0].isupper() or text[0].isdigit(), text
    # no frame puts the act's object twice or none at all
    assert all(act.count("{x}") == 1 for act, _ in ACTS)


def test_every_kind_of_threat_is_made_and_none_is_aimed_at_a_group():
    threats = threat_sentences(n=1200)
    assert any("I know where" in t for t in threats)  # intimidation without a verb of violence
    assert any(t.startswith(("Someone", "Somebody")) for t in threats)  # incitement
    assert any(" will be " in t or " should be " in t for t in threats)  # passive
    assert any("you" in t.lower().split() for t in threats)  # to the reader
    # naming a group must not become a threat cue: targets are people and roles, never identity groups
    assert all(not named_groups(target) for target in TARGETS)


def test_the_civil_side_uses_the_same_violent_words():
    civil = " ".join(violent_civil_sentences(n=1200)).lower()
    for word in ("kill", "shot", "bullet", "threat", "stabbed", "hang", "burn"):
        assert word in civil, word


def test_the_rows_drop_banned_texts_and_count_both_sides():
    texts, y, counts = threat_augmentation_rows(50, banned=set())
    assert counts == {"threat_sentences": 50, "threat_civil_sentences": 50, "threat_sentences_dropped": 0}
    assert list(y) == [1] * 50 + [0] * 50
    banned = {match_key(texts[0]), match_key(texts[-1])}
    texts2, y2, counts2 = threat_augmentation_rows(50, banned)
    assert counts2["threat_sentences_dropped"] == 2 and len(texts2) == 98
    assert texts[0] not in texts2 and texts[-1] not in texts2


def test_the_civil_twins_take_the_threat_frames_with_everyday_acts_and_never_a_menacing_one():
    from training.offline.threat_augment import BENIGN_ACTS, MENACING

    civil = violent_civil_sentences(n=1200)
    everyday = [act.split(" {x}")[0] for act, _ in BENIGN_ACTS]
    assert sum(any(f" {verb} " in f" {text} " for verb in everyday) for text in civil) > 200
    assert not [text for text in civil if any(m.replace("{target}", "") in text for m in MENACING)]
    assert any(t.startswith("Someone should") for t in civil)  # an incitement frame, with an everyday act


def test_each_side_weighs_the_real_positives_together_and_never_nothing():
    labels = np.array([1, 1, 1, 1, 0, 0])
    w = each_side_weighs(labels, 8.0)
    assert w[labels == 1].sum() == pytest.approx(8.0) and w[labels == 0].sum() == pytest.approx(8.0)
    assert each_side_weighs(labels, 0.0)[labels == 1].sum() == pytest.approx(1.0)


def test_soft_rows_count_each_row_as_a_weighted_positive_and_negative():
    from training.offline.heads import soft_rows

    x = np.arange(6, dtype=float).reshape(3, 2)
    xs, ys, ws = soft_rows(x, np.array([0.0, 0.25, 1.0]), np.array([1.0, 2.0, 1.0]))
    # the first row is only a negative, the last only a positive, the middle both
    assert ys.tolist() == [1, 1, 0, 0] and ws.tolist() == [0.5, 1.0, 1.0, 1.5]
    assert xs.tolist() == [[2.0, 3.0], [4.0, 5.0], [0.0, 1.0], [2.0, 3.0]]
