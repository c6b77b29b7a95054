"""Text normalisation shared by training and scoring.

`normalize` undoes the common ways people dodge a word filter (homoglyphs, zero-width characters, accents,
leetspeak, spaced-out letters, stretched letters) so that the features see one spelling per word.

The function is referenced by every pickled model (through `training.features.TextNormalizer`): it is part of
the artifact contract. Changing what it returns changes what shipped models see, so retrain after a change.
"""

from __future__ import annotations

import html
import re
import sys
import unicodedata

__all__ = ["normalize"]


def _build_strip_table() -> dict[int, None]:
    """str.translate table deleting combining marks (Mn, Me) and format characters (Cf).

    Scanning the first two planes plus the tag block at import costs ~20 ms once and covers every mark seen
    in real text ("Zalgo" stacking, zero-width joiners, BOMs, bidi controls, tag characters).
    """
    code_points = list(range(0x20000)) + list(range(0xE0000, 0xE0080))
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
    word = match.group(0)
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
    return _SEPARATORS_RE.sub("", match.group(0))


def normalize(text: str) -> str:
    """Return a canonical lower-case spelling of `text` for feature extraction.

    Steps: HTML entities unescaped, NFKC (fullwidth, mathematical alphanumerics, ligatures), homoglyph
    folding, removal of format characters (zero-width, bidi, BOM) and combining marks (accents, "Zalgo"),
    lower-casing, re-joining of spaced-out letters, leetspeak inside mixed words, squashing of runs of 3+
    identical characters to 2,
    whitespace collapsing. Never raises for a `str`; `None` or non-str input raises `TypeError`.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize() expects str, got {type(text).__name__}")
    if "&" in text:  # "&#39;", "&amp;" from sites that store escaped HTML
        text = html.unescape(text)
    if not text.isascii():
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
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover - manual check: python -m training.normalize "t3xt"
    print(normalize(" ".join(sys.argv[1:])))
