"""Counterfactual group swaps for the identity hate head (`identity_augment.swap_groups`,
`heads.identity_swap_rows`): fast, no training, no embedding."""

from __future__ import annotations

import numpy as np

from training.labels import LABELS
from training.offline.heads import HeadsConfig, identity_swap_rows
from training.offline.identity_augment import IDENTITIES, named_groups, swap_group, swap_groups


def index(adjective: str) -> int:
    return next(i for i, (a, _) in enumerate(IDENTITIES) if a == adjective)


def test_a_group_is_swapped_form_for_form_and_in_the_texts_case():
    muslim, gay, asian = index("Muslim"), index("gay"), index("Asian")
    assert swap_group("Muslims are vermin.", muslim, gay) == "Gay people are vermin."
    assert swap_group("deport the muslims, every muslim family", muslim, gay) == (
        "deport the gay people, every gay family"
    )
    assert swap_group("I would never hire a Muslim.", muslim, asian) == "I would never hire an Asian."
    assert swap_group("An Asian did it", asian, muslim) == "A Muslim did it"
    assert swap_group("MUSLIMS OUT", muslim, gay) == "GAY PEOPLE OUT"


def test_the_longest_mention_wins_and_words_inside_other_words_are_not_groups():
    assert named_groups("African Americans and Asian Americans") == [
        index("African American"),
        index("Asian American"),
    ]
    assert named_groups("the transport of gaydar Arabic manuscripts") == []
    # ambiguous adjectives are not read as a group; their plural group nouns are
    assert named_groups("an old excuse, a straight answer, blind faith, young at heart") == []
    assert named_groups("older people ruin everything") == [index("old")]


def test_copies_are_seeded_distinct_and_never_name_a_group_the_text_already_names():
    text = "Jews and Muslims should be thrown out of this country"
    copies = swap_groups(text, 3, seed=7)
    assert copies == swap_groups(text, 3, seed=7)
    assert copies != swap_groups(text, 3, seed=8)
    assert len(copies) == len(set(copies)) == 3
    for copy in copies:
        assert copy != text and copy.endswith("should be thrown out of this country")
        groups = named_groups(copy)
        assert len(groups) == 2 and len(set(groups) & {index("Jewish"), index("Muslim")}) == 1
    assert swap_groups("you are an idiot and should leave", 3) == []
    assert swap_groups(text, 0) == []


def test_only_identity_attack_positives_that_name_a_group_are_copied_and_banned_texts_dropped():
    j = LABELS.index("identity_attack")
    texts = ["muslims are vermin", "muslims live here", "you are vermin", "gay people are vermin", "x"]
    y = np.full((len(texts), len(LABELS)), np.nan)
    y[:, j] = [1.0, 0.0, 1.0, 0.8, np.nan]
    w = np.array([0.5, 1.0, 1.0, 2.0, 1.0])
    config = HeadsConfig(identity_swaps=2, identity_swap_weight=0.3)
    copies, weights, labels, counts = identity_swap_rows(texts, y, w, config, banned=set())
    assert counts["identity_swap_positives"] == 3 and counts["identity_swap_rows_naming_a_group"] == 2
    assert len(copies) == 4 and all(c.endswith(" are vermin") for c in copies)
    assert "muslims are vermin" not in copies and "gay people are vermin" not in copies
    assert np.allclose(sorted(weights), [0.15, 0.15, 0.6, 0.6]) and (labels == 1).all()
    from training.normalize import match_key

    banned = {match_key(copies[0])}
    fewer, _, _, counts = identity_swap_rows(texts, y, w, config, banned=banned)
    assert copies[0] not in fewer and len(fewer) == 3 and counts["identity_swap_dropped"] == 1


def test_with_negatives_the_civil_rows_naming_a_group_are_copied_as_negatives():
    j = LABELS.index("identity_attack")
    texts = ["muslims are vermin", "muslims live here", "you are vermin"]
    y = np.full((len(texts), len(LABELS)), np.nan)
    y[:, j] = [1.0, 0.0, 0.0]
    config = HeadsConfig(identity_swaps=2, identity_swap_negatives=True)
    copies, weights, labels, counts = identity_swap_rows(texts, y, np.ones(3), config, banned=set())
    assert len(copies) == 4 and sorted(labels) == [0, 0, 1, 1]
    assert all(c.endswith(" live here") for c, lab in zip(copies, labels, strict=True) if lab == 0)
    assert counts["identity_swap_negative_rows"] == 2 and counts["identity_swap_rows"] == 2


def test_swaps_are_off_by_default():
    assert HeadsConfig().identity_swaps == 0 and not HeadsConfig().identity_swap_negatives
