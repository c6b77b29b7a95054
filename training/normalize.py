"""Text normalisation shared by training and scoring.

`normalize` undoes the common ways people dodge a word filter (homoglyphs, zero-width characters, accents,
leetspeak, spaced-out letters, stretched letters) so that the features see one spelling per word.

The function is referenced by every pickled model (through `training.features.TextNormalizer`): it is part of
the artifact contract. Changing what it returns changes what shipped models see, so retrain after a change.
"""

from __future__ import annotations

import contextlib
import functools
import html
import logging
import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LEXICON_PATH", "match_key", "normalize", "without_known_words"]


def _build_strip_table() -> dict[int, None]:
    """str.translate table deleting combining marks (Mn, Me) and format characters (Cf).

    Scanning the first two planes plus the tag block at import costs ~20 ms once and covers every mark seen
    in real text ("Zalgo" stacking, zero-width joiners, BOMs, bidi controls, tag characters).
    """
    # Plane 14 whole: tag characters and the variation selectors supplement (VS17-256, U+E0100-E01EF), which
    # render as nothing and were found by the fuzz test in tests/moderation/test_hostile_validation.py.
    code_points = list(range(0x20000)) + list(range(0xE0000, 0xE1000))
    return {cp: None for cp in code_points if unicodedata.category(chr(cp)) in ("Mn", "Me", "Cf")}


_STRIP_TABLE = _build_strip_table()

# Lookalike letters from Cyrillic and Greek (and a few IPA/Latin extensions) that render like Latin letters.
# NFKC already folds fullwidth forms and mathematical alphanumerics; these survive it.
_CONFUSABLES = {
    # Cyrillic capitals
    "А": "A",
    "В": "B",
    "Е": "E",
    "Ё": "E",
    "К": "K",
    "М": "M",
    "Н": "H",
    "О": "O",
    "Р": "P",
    "С": "C",
    "Т": "T",
    "Х": "X",
    "У": "Y",
    "Ѕ": "S",
    "І": "I",
    "Ї": "I",
    "Ј": "J",
    "Ԛ": "Q",
    "Ԝ": "W",
    "Ү": "Y",
    # Cyrillic small
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "һ": "h",
    "ӏ": "l",
    "ү": "y",
    "ь": "b",
    "ɡ": "g",
    "є": "e",
    "Є": "E",
    "ѵ": "v",
    # Armenian lowercase letters that render like Latin ones
    "ո": "n",
    "օ": "o",
    "Օ": "O",
    "ս": "u",
    "Ս": "U",
    "ց": "g",
    "զ": "q",
    "հ": "h",
    # Greek capitals
    "Α": "A",
    "Β": "B",
    "Ε": "E",
    "Ζ": "Z",
    "Η": "H",
    "Ι": "I",
    "Κ": "K",
    "Μ": "M",
    "Ν": "N",
    "Ο": "O",
    "Ρ": "P",
    "Τ": "T",
    "Υ": "Y",
    "Χ": "X",
    # Greek small
    "α": "a",
    "β": "b",
    "γ": "y",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "μ": "u",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
    "ς": "s",
    "ϲ": "c",
    "Ϲ": "C",
    "ϳ": "j",
    # Latin extensions and IPA
    "ı": "i",
    "ȷ": "j",
    "ɑ": "a",
    "ɩ": "i",
    "ʀ": "r",
    "ʏ": "y",
    "ᴀ": "a",
    "ʙ": "b",
    "ᴄ": "c",
    "ᴅ": "d",
    "ᴇ": "e",
    "ɢ": "g",
    "ʜ": "h",
    "ɪ": "i",
    "ᴊ": "j",
    "ᴋ": "k",
    "ʟ": "l",
    "ᴍ": "m",
    "ɴ": "n",
    "ᴏ": "o",
    "ᴘ": "p",
    "ꜱ": "s",
    "ᴛ": "t",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ᴢ": "z",
    "ß": "ss",
    "ø": "o",
    "Ø": "O",
    "đ": "d",
    "Đ": "D",
    "ł": "l",
    "Ł": "L",
    "ħ": "h",
    # punctuation lookalikes that matter for the leet / spacing rules below
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "․": ".",
    "∗": "*",
    "⁎": "*",
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
}
_CONFUSABLES_TABLE = str.maketrans(_CONFUSABLES)

# Leetspeak substitutions, applied only inside a word that mixes letters with these characters.
_LEET_TABLE = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "i",
        "€": "e",
    }
)
_LEET_WORD_RE = re.compile(r"[a-z0-9@$!|€]+")
_HAS_LETTER_RE = re.compile(r"[a-z]")
_HAS_LEET_RE = re.compile(r"[0-9@$!|€]")
# "covid19", "mp3", "win10": letters followed only by digits are names/versions, not leetspeak.
_LETTERS_THEN_DIGITS_RE = re.compile(r"[a-z]+[0-9]+")
# Cheap pre-check: a letter next to a leet character somewhere in the text.
_LEET_CANDIDATE_RE = re.compile(r"[a-z][0-9@$!|€]|[0-9@$!|€][a-z]")

# Three or more single letters split by one repeated separator: "f u c k", "s.t.u.p.i.d", "f-u-c-k".
_SPACED_RE = re.compile(r"(?<![a-z0-9])[a-z]([ .\-_*]{1,3})[a-z](?:\1[a-z])+(?![a-z0-9])")
_SEPARATORS_RE = re.compile(r"[ .\-_*]")
_RUN_RE = re.compile(r"(.)\1{2,}")
_RUN_CANDIDATE_RE = re.compile(r"(.)\1\1")


def _deleet_word(match: re.Match[str]) -> str:
    return _deleet(match.group(0))


# The word-level rewrites are pure functions of the word (and the fixed known-word list); comments repeat
# words, so caching them keeps normalisation near its old cost (they took ~60 % of it uncached).
@functools.lru_cache(maxsize=1 << 16)
def _deleet(word: str) -> str:
    if not _HAS_LEET_RE.search(word) or not _HAS_LETTER_RE.search(word):
        return word
    core = word.rstrip("!")  # a trailing "!" is punctuation, not an "i"
    tail = word[len(core) :]
    if core.startswith("@") and core[1:].isalpha():  # @mention
        return word
    if _LETTERS_THEN_DIGITS_RE.fullmatch(core):
        return word
    if not _HAS_LEET_RE.search(core):
        return word
    return core.translate(_LEET_TABLE) + tail


def _join_spaced(match: re.Match[str]) -> str:
    joined = _SEPARATORS_RE.sub("", match.group(0))
    # "c h e c k m y" (two spaced-out words in a row) joins to "checkmy": split it back into known words, also
    # where the run is a rarer word ("checkout") than the split is common ("check out").
    if _LEXICON and len(joined) >= 4:
        split = _segment(joined)
        if split and split[0] > 4 * _known(joined):
            return split[1]
    return joined


# --- Known words --------------------------------------------------------------------------------------------
# The last rewrites need to know which spellings are words: "st.upid" and "idiiot" are obfuscations,
# "well-known", "youtube.com" and "good" are not. The lexicon is every word (normalised, 2+ letters) found in
# at least three texts of the training corpora's train split, with its document count; it ships beside this
# module and, like this module, is part of every model's inference path. Without the file these rewrites are
# skipped.
LEXICON_PATH = Path(__file__).with_name("lexicon.txt")


def _load_lexicon() -> dict[str, int]:
    try:
        lines = LEXICON_PATH.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        # Loud, because a model then sees other spellings than it was evaluated with (package data missing?).
        logging.getLogger(__name__).warning(
            "known-word list %s unreadable (%s): normalize() skips its known-word rewrites",
            LEXICON_PATH,
            exc,
        )
        return {}
    words: dict[str, int] = {}
    for line in lines:
        if line and not line.startswith("#"):
            word, _, count = line.partition(" ")
            words[word] = int(count or 1)
    return words


_LEXICON = _load_lexicon()
_CONTRACTION_ENDS = frozenset({"s", "t", "d", "ll", "re", "ve", "m"})
# Two-letter words that spam spells with a dot ("m.y channel", "sub m.e") and that are no common abbreviation
# ("us" is: u.s).
_DOTTED_SHORT_WORDS = frozenset(
    {
        "my",
        "me",
        "be",
        "he",
        "we",
        "so",
        "no",
        "go",
        "do",
        "to",
        "up",
        "it",
        "is",
        "in",
        "on",
        "of",
        "or",
        "an",
    }
)
# Letters split by single punctuation marks inside one word: "st.upid", "id*iot", "stu-pid", "idi'ot".
_INNER_PUNCT_RE = re.compile(
    r"(?<![a-z0-9.\-_*,'/@])[a-z]+(?:[.*_,'\-]{1,3}[a-z]+)+(?![a-z0-9/@]|[.\-_*,'][a-z0-9])"
)
_INNER_SEP_RE = re.compile(r"[.*_,'\-]{1,3}")
# A word holding a doubled letter ("idiiot", "stuupid"; runs of 3+ are already squashed to 2).
_DOUBLE_WORD_RE = re.compile(r"[a-z]*([a-z])\1[a-z]*")
_DOUBLE_RE = re.compile(r"([a-z])\1")


_ONE_LETTER_WORDS = {"a": 10**6, "i": 10**6}


def _known(word: str) -> int:
    return _LEXICON.get(word, 0)


def _known_piece(word: str) -> int:
    return _LEXICON.get(word, 0) or _ONE_LETTER_WORDS.get(word, 0)


def _segment(letters: str) -> tuple[int, str] | None:
    """``letters`` as two or three known words ("checkmy" -> "check my"): (score, split) of the split whose
    rarest piece is most common (three pieces count a quarter), or None."""
    best: tuple[int, str] | None = None
    n = len(letters)
    for i in range(1, n):
        a, rest = letters[:i], letters[i:]
        if not _known_piece(a):
            continue
        if _known_piece(rest):
            score = min(_known_piece(a), _known_piece(rest))
            if best is None or score > best[0]:
                best = (score, f"{a} {rest}")
        for j in range(1, len(rest)):
            b, c = rest[:j], rest[j:]
            if _known_piece(b) and _known_piece(c):
                score = min(_known_piece(a), _known_piece(b), _known_piece(c)) // 4  # prefer fewer pieces
                if best is None or score > best[0]:
                    best = (score, f"{a} {b} {c}")
    return best


def _join_inner_punct(match: re.Match[str]) -> str:
    return _join_inner_punct_word(match.group(0))


@functools.lru_cache(maxsize=1 << 16)
def _join_inner_punct_word(word: str) -> str:
    parts = _INNER_SEP_RE.split(word)
    seps = _INNER_SEP_RE.findall(word)
    if "'" in seps and parts[-1] in _CONTRACTION_ENDS:
        return word  # don't, it's, we'll
    if all(len(p) == 1 for p in parts) and all(sep == "." for sep in seps):
        joined = "".join(parts)
        # abbreviations (u.s, a.m, e.g) stay; a dotted common short word ("m.y channel") does not
        return joined if joined in _DOTTED_SHORT_WORDS else word
    joined = "".join(parts)
    count = _known(joined)
    # Join only if the joined spelling is a word more common than the pieces: "st.upid" -> "stupid",
    # "m*y" -> "my", but not "end.then" or "well-known". Single letters count as unknown pieces.
    if count and count > min(_known(p) if len(p) > 1 else 0 for p in parts):
        return joined
    return word


def _undouble(match: re.Match[str]) -> str:
    return _undouble_word(match.group(0))


@functools.lru_cache(maxsize=1 << 16)
def _undouble_word(word: str) -> str:
    if _known(word):
        return word
    runs = [m.start() for m in _DOUBLE_RE.finditer(word)][:4]
    best, best_count = word, 0
    for mask in range(1, 1 << len(runs)):  # collapse each subset of the doubled letters
        chars = list(word)
        for k, pos in enumerate(runs):
            if mask >> k & 1:
                chars[pos] = ""
        candidate = "".join(chars)
        if _known(candidate) > best_count:
            best, best_count = candidate, _known(candidate)
    return best


# Web addresses written to dodge a link filter: "site[dot]com", "site (dot) com", "site dot com",
# "w w w . site . com", "hxxp://site[.]com". Rewritten to "site.com" so the spam features see a link.
_TLDS = r"(?:com|net|org|info|biz|co|ly|tv|me|us|uk|de|ru|io|gl|xyz|online|site|club|gg)"
_BRACKET_DOT = r"\s*[\[\(\{<]\s*(?:dot|\.)\s*[\]\)\}>]\s*"
_BRACKET_DOT_RE = re.compile(
    r"(?<=[a-z0-9])" + _BRACKET_DOT + r"(?=" + _TLDS + r"\b|[a-z0-9-]+" + _BRACKET_DOT + r")"
)
_WORD_DOT_RE = re.compile(r"(?<=[a-z0-9])\s+dot\s+(?=" + _TLDS + r"\b|www\b)")
_SPACED_DOT_RE = re.compile(r"(?<=[a-z0-9])\s+\.\s+(?=" + _TLDS + r"\b|[a-z0-9-]+\s+\.\s+" + _TLDS + r"\b)")
_WWW_DOT_RE = re.compile(r"\b(ww+)\s*\.\s*(?=[a-z0-9])")
_HXXP_RE = re.compile(r"\bhxxp(s?)(?=:|\b)")


_BARE_HOST_RE = re.compile(r"(?<![a-z0-9/.:@-])((?:[a-z0-9-]+\.)+" + _TLDS + r")\b")


def _deobfuscate_links(text: str) -> str:
    before = text
    text = _BRACKET_DOT_RE.sub(".", text)
    text = _WORD_DOT_RE.sub(".", text)
    text = _SPACED_DOT_RE.sub(".", text)
    text = _WWW_DOT_RE.sub(r"\1.", text)
    text = _HXXP_RE.sub(r"http\1", text)
    if text != before:
        # A disguised link drops its scheme too ("site dot com"); give it back so it reads as the link it is.
        text = _BARE_HOST_RE.sub(r"http://\1", text)
    return text


def normalize(text: str) -> str:
    """Return a canonical lower-case spelling of `text` for feature extraction.

    Steps: HTML entities unescaped, NFKC (fullwidth, mathematical alphanumerics, ligatures), homoglyph
    folding, removal of format characters (zero-width, bidi, BOM) and combining marks (accents, "Zalgo"),
    lower-casing, re-joining of spaced-out letters (split back into known words when two ran together),
    leetspeak inside mixed words, squashing of runs of 3+ identical characters to 2, and, using the known-word
    list (``lexicon.txt``), joining words split by one punctuation mark ("st.upid") and undoubling stretched
    letters ("idiiot") when that gives a known word, whitespace collapsing. Never raises for a `str`; `None`
    or non-str input raises `TypeError`.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize() expects str, got {type(text).__name__}")
    if len(text) <= _RECENT_MAX_CHARS:
        return _normalize_recent(text)
    return _normalize(text)


# One comment is normalised three or four times on its way to a decision (context signals, word lists, the
# model's features, the stored fingerprint), each ~50-150 µs: the last few thousand short texts are kept. At
# most 2,048 x 2 x 2,000 characters, a few MB for real comments.
_RECENT_TEXTS = 2048
_RECENT_MAX_CHARS = 2000


def _normalize(text: str) -> str:
    if "&" in text:  # "&#39;", "&amp;" from sites that store escaped HTML
        text = html.unescape(text)
    if not text.isascii():
        # Fold lookalikes before NFKC too: NFKC turns some (Greek lunate sigma "ϲ") into other-looking
        # letters.
        text = text.translate(_CONFUSABLES_TABLE)
        text = unicodedata.normalize("NFKC", text)
        text = text.translate(_CONFUSABLES_TABLE)
        if not text.isascii():
            # NFD splits accented letters so the marks can be removed with the other invisible characters.
            text = unicodedata.normalize("NFD", text).translate(_STRIP_TABLE)
            text = unicodedata.normalize("NFC", text)
    text = text.lower()
    # Each rewrite is guarded by a search: most comments need none of them, and search is cheaper than sub.
    if _SPACED_RE.search(text):
        text = _SPACED_RE.sub(_join_spaced, text)
    if _LEET_CANDIDATE_RE.search(text):
        text = _LEET_WORD_RE.sub(_deleet_word, text)
    if _RUN_CANDIDATE_RE.search(text):
        text = _RUN_RE.sub(r"\1\1", text)
    if "dot" in text or "xxp" in text or " ." in text or "[" in text or "(" in text:
        text = _deobfuscate_links(text)
    if _LEXICON:
        text = _INNER_PUNCT_RE.sub(_join_inner_punct, text)
        text = _DOUBLE_WORD_RE.sub(_undouble, text)
    return " ".join(text.split())


_normalize_recent = functools.lru_cache(maxsize=_RECENT_TEXTS)(_normalize)


def match_key(text: str) -> str:
    """Loose identity of a text for de-duplication and overlap checks: normalised, alphanumerics only.
    Training drops repeats by it; the label export keeps hold-out texts out of its training file by it."""
    return "".join(ch for ch in normalize(text) if ch.isalnum())


def _clear_word_caches() -> None:
    for cached in (_deleet, _join_inner_punct_word, _undouble_word, _normalize_recent):
        cached.cache_clear()


@contextlib.contextmanager
def without_known_words() -> Iterator[None]:
    """Within the block, `normalize` skips its known-word rewrites, as it did before ``lexicon.txt`` existed.

    For the offline side: the lexicon is built from text normalised without it
    (``training.offline.lexicon``), and the spam split of the shipped model was keyed that way. Not
    thread-safe: it swaps this module's word list for the whole process until the block ends.
    """
    global _LEXICON
    saved, _LEXICON = _LEXICON, {}
    _clear_word_caches()
    try:
        yield
    finally:
        _LEXICON = saved
        _clear_word_caches()


if __name__ == "__main__":  # pragma: no cover - manual check: python -m training.normalize "t3xt"
    print(normalize(" ".join(sys.argv[1:])))
