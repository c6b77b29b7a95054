"""One test per obfuscation that `training.normalize.normalize` undoes, plus what it must leave alone."""

import pytest

from training.normalize import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＦＵＣＫ you", "fuck you"),  # fullwidth
        ("𝐟𝐮𝐜𝐤 𝓸𝓯𝓯", "fuck off"),  # mathematical alphanumerics (NFKC)
        ("ﬁne", "fine"),  # ligature (NFKC)
    ],
)
def test_nfkc_compatibility_forms(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw", ["fu\u200bck", "f\u200cu\u200dck", "\ufefffuck", "fu\u00adck", "fu\u2060ck"])
def test_strips_zero_width_and_format_characters(raw):
    assert normalize(raw) == "fuck"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("іdіоt", "idiot"),  # Cyrillic і and о
        ("ΙDΙΟΤ", "idiot"),  # Greek capitals
        ("ѕtupіd", "stupid"),  # Cyrillic ѕ, і
        ("Рig", "pig"),  # Cyrillic capital Er
    ],
)
def test_folds_homoglyphs(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [("stüpíd", "stupid"), ("s̷t̷u̷p̷i̷d̷", "stupid"), ("ìdìòt", "idiot")]
)
def test_strips_combining_marks(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1d10t", "idiot"),
        ("$hit", "shit"),
        ("f@ck", "fack"),
        ("sh1t!", "shit!"),
        ("b1tch", "bitch"),
        ("l0ser", "loser"),
    ],
)
def test_leetspeak_inside_mixed_words(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw", ["covid19", "mp3", "win10", "i paid $100 for 3 apples", "@john thanks", "c++ rocks"]
)
def test_leetspeak_leaves_numbers_versions_and_mentions(raw):
    assert normalize(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("f u c k you", "fuck you"),
        ("s.t.u.p.i.d", "stupid"),
        ("f-u-c-k off", "fuck off"),
        ("i d i o t", "idiot"),
        ("f_u_c_k", "fuck"),
        ("f * u * c * k", "fuck"),
    ],
)
def test_rejoins_spaced_out_letters(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw", ["e.g. a cat", "plan a or b", "i am a fan"])
def test_does_not_join_ordinary_short_words(raw):
    assert normalize(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"), [("stuuuuupid", "stuupid"), ("nooooo!!!!!", "noo!!"), ("good", "good")]
)
def test_squashes_long_runs(raw, expected):
    assert normalize(raw) == expected


def test_lowercases_and_collapses_whitespace():
    assert normalize("  You   ARE\n\tWrong  ") == "you are wrong"


def test_unescapes_html_entities():
    assert normalize("you&#39;re an idiot &amp; a liar") == "you're an idiot & a liar"


def test_idempotent_on_normalised_text():
    text = "Thіs  is ＳＴＵＰＩＤ, 1d10t! f u c k"
    once = normalize(text)
    assert normalize(once) == once


def test_rejects_non_string():
    with pytest.raises(TypeError):
        normalize(None)  # type: ignore[arg-type]
