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
    # Runs of 3+ squash to 2; a doubled letter then undoubles when that gives a known word ("stuupid").
    ("raw", "expected"),
    [("stuuuuupid", "stupid"), ("nooooo!!!!!", "noo!!"), ("good", "good")],
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


# --- Obfuscations measured by benchmarks/robustness.py (one test each) --------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("st.upid", "stupid"),  # the published Perspective attack
        ("id*iot", "idiot"),
        ("stu-pid", "stupid"),
        ("idi'ot", "idiot"),
        ("stu,pid", "stupid"),
        ("m*y cha,_nnel", "my channel"),  # two marks in a row
        ("look at m.y channel", "look at my channel"),  # a dotted short word is not an abbreviation
        ("sub m.e", "sub me"),
    ],
)
def test_joins_words_split_by_punctuation(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw", ["don't", "it's", "we'll", "well-known", "end.then", "u.s. policy", "a.m.", "youtube.com/watch"]
)
def test_keeps_contractions_compounds_abbreviations_and_domains(raw):
    assert normalize(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("you idiiot", "you idiot"),
        ("stuupid", "stupid"),
        ("idiooooot", "idiot"),
        ("looooser", "looser"),
        ("good food", "good food"),
        ("hawaii", "hawaii"),
        ("all will see", "all will see"),
    ],
)
def test_undoubles_stretched_letters_only_into_known_words(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("c h e c k m y channel", "check my channel"),  # two spaced words run together
        ("c h e c k o u t", "check out"),
        ("f u c k y o u", "fuck you"),
        ("s o m e t h i n g", "something"),
    ],
)
def test_splits_run_together_spaced_words_into_known_words(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [("5u85cr183", "subscribe"), ("ch4nn3l", "channel"), ("gr8", "gr8")]
)
def test_leetspeak_b_and_digits_after_letters(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ϲheϲk", "check"),  # Greek lunate sigma (NFKC would make it a final sigma)
        ("ѕtսpіd", "stupid"),  # Armenian u
        ("օո", "on"),  # Armenian o, n
        ("іdіоt", "idiot"),
        ("ѕtєрһ", "steph"),  # Ukrainian ie, Cyrillic shha
    ],
)
def test_folds_homoglyphs_from_other_scripts(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ｉｄｉｏｔ", "idiot"), ("𝖎𝖉𝖎𝖔𝖙", "idiot"), ("𝕚𝕕𝕚𝕠𝕥", "idiot"), ("𝚒𝚍𝚒𝚘𝚝", "idiot"), ("ⓘⓓⓘⓞⓣ", "idiot")],
)
def test_folds_fullwidth_math_and_circled_letters(raw, expected):
    assert normalize(raw) == expected


def test_strips_stacked_combining_marks():
    assert normalize("i\u0301\u0334d\u0308i\u0337o\u0300t\u0323") == "idiot"


def test_strips_zero_width_between_every_letter():
    assert normalize("i\u200bd\u200ci\u200do\u2060t\ufeff \u00adyou") == "idiot you"


def test_mixed_case():
    assert normalize("iDIoT YoU") == "idiot you"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("w w w . site . com", "http://ww.site.com"),
        ("visit site[dot]com now", "visit http://site.com now"),
        ("site (dot) com", "http://site.com"),
        ("go to site dot com", "go to http://site.com"),
        ("hxxp://site[.]com/x", "http://site.com/x"),
        ("i went (dot) there", "i went (dot) there"),
        ("connect the dots com", "connect the dots com"),
    ],
)
def test_deobfuscates_links(raw, expected):
    assert normalize(raw) == expected


def test_strips_variation_selectors_supplement():
    # U+E0100..E01EF render as nothing; found by the hypothesis fuzz test of normalize().
    assert normalize("id\U000e0100io\U000e01eft") == "idiot"


def test_recent_texts_are_remembered_and_forgotten_with_the_word_list():
    """normalize keeps recent short texts (a comment is normalised three or four times on its way to a
    decision); swapping the known-word list clears them, so a cached answer never outlives its word list."""
    from training.normalize import _RECENT_MAX_CHARS, _normalize_recent, without_known_words

    text = "what an idiiot"
    assert normalize(text) == "what an idiot"
    hits = _normalize_recent.cache_info().hits
    assert normalize(text) == "what an idiot"
    assert _normalize_recent.cache_info().hits == hits + 1
    with without_known_words():
        assert normalize(text) == "what an idiiot"
    assert normalize(text) == "what an idiot"
    long_text = "idiiot " * (_RECENT_MAX_CHARS // 7 + 1)
    size = _normalize_recent.cache_info().currsize
    assert normalize(long_text).startswith("idiot idiot")
    assert _normalize_recent.cache_info().currsize == size  # long texts are not kept
