"""Which comments the model can judge by language. Runtime part: the worker and the web process call it.

The shipped model is trained on English comments only. A comment in another language (Urdu, Pashto, Persian
and romanised Urdu are common under stories about Pakistan and Afghanistan) must never be approved or rejected
on the model's scores: ``check_language`` says so, and the policy sends such comments to a person.

Detection is py3langid (a maintained fork of langid.py, model shipped in the package, ~0.2 ms a comment), with
two guards from measuring it on 6,484 English-language comments from ../shared/data (Civil Comments, Fox News,
YouTube): texts under five words are too short to judge, and ``zxx`` (no language: links, emoji) is not a
language. With a 0.8 probability floor it flagged 4 of those comments (Korean song titles, a Portuguese line).
Romanised Urdu/Hindi is written in Latin letters and is mostly mislabelled by language detectors, so a small
list of its commonest function words is checked too. A text where a fifth of the words are English function
words (ones not shared with German, Dutch or the Romance languages) is English without asking the detector: on
10,577 comments from ../shared/data that shortcut never disagreed with the detector, and it makes the check
~8x cheaper.
"""

from __future__ import annotations

import re
import threading
from typing import NamedTuple

from training.normalize import normalize

SUPPORTED_LANGUAGES = frozenset({"en"})
MIN_WORDS = 5
MIN_PROBABILITY = 0.8
MIN_SCRIPT_LETTERS = 4
LATIN_END = 0x024F  # Basic Latin through Latin Extended-B
# Share of letters outside Latin, after folding look-alikes, above which a short text is judged by script.
# Folding turns about half of Russian's letters into Latin ones, so the share is a quarter; English in
# homoglyphs folds to 0 %.
FOREIGN_SCRIPT_SHARE = 0.25

# Common function words of romanised Urdu/Hindi that are not English words.
ROMAN_URDU_MARKERS = frozenset(
    "hai hain nahi nahin nahi kya kyun kyon aur bhi yeh woh wo ko ke ki ka mein mai se tha thi karna "
    "karo chahiye bhai yaar hum tum aap apna apni unka unki bohat bahut acha achha sahi galat baat kar "
    "raha rahi".split()
)
ROMAN_URDU_MIN_MARKERS = 3
ROMAN_URDU_MIN_SHARE = 0.25

# English function words that are not also common words of German, Dutch, French, Spanish, Italian or
# Portuguese (no "in", "is", "was", "will", "die", "a", "do", "so", "no", "me"). A text in Latin letters where
# they make up a fifth of the words is English: the detector is not asked (it costs about a third of scoring a
# comment).
ENGLISH_MARKERS = frozenset(
    "the and that this with you they have has not it be are were would should what which there their them "
    "she we his her my your from about just because if or all been who when how does did any than then these "
    "those our us its could only also very some being of to for".split()
)
ENGLISH_MIN_MARKERS = 3
ENGLISH_MIN_SHARE = 0.2

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


class LanguageCheck(NamedTuple):
    code: str  # ISO 639-1 code, "ur-Latn" for romanised Urdu/Hindi, "" when too short to tell
    probability: float
    supported: bool

    @property
    def reason(self) -> str:
        return f"language not supported by the model (detected {self.code}, {self.probability:.2f})"


_identifier = None
_lock = threading.Lock()


def _get_identifier():
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def preload() -> None:
    """Load the detector now (about 1 s) rather than inside the first request or task."""
    _get_identifier()


def check_language(text: str, declared: str = "") -> LanguageCheck:
    """Can the model judge ``text``? ``declared`` is the site's language tag for the comment, if it sent one
    (``"ur"``, ``"en-GB"``): a declared language other than English is taken at its word."""
    if declared:
        primary = declared.split("-")[0].split("_")[0].lower()
        if primary and primary not in SUPPORTED_LANGUAGES:
            return LanguageCheck(primary, 1.0, False)
    # Mostly letters of another script (Arabic, Devanagari, CJK, Cyrillic...): the model cannot judge it,
    # however short. Counted after normalisation, which folds look-alike letters to Latin, so English abuse
    # written with Cyrillic or Greek homoglyphs is still judged by the model rather than sent away as "another
    # language". ASCII text (most comments) has no other script to find: skip the fold.
    letters = [] if text.isascii() else [ch for ch in normalize(text) if ch.isalpha()]
    if len(letters) >= MIN_SCRIPT_LETTERS:
        foreign = sum(1 for ch in letters if ord(ch) > LATIN_END)
        if foreign / len(letters) >= FOREIGN_SCRIPT_SHARE:
            code, probability = _get_identifier().classify(text)
            # Mostly another script: no English model can judge it, whatever the detector's confidence. Partly
            # (Cyrillic and Greek fold half-way): only when the detector is sure.
            sure = foreign / len(letters) >= 0.5 or probability >= MIN_PROBABILITY
            if code not in SUPPORTED_LANGUAGES and code != "zxx" and sure:
                return LanguageCheck(code, float(probability), False)
    words = _WORD.findall(text.lower())
    if len(words) < MIN_WORDS:
        return LanguageCheck("", 0.0, True)
    markers = {w for w in words if w in ROMAN_URDU_MARKERS}
    if (
        len(markers) >= ROMAN_URDU_MIN_MARKERS
        and sum(w in markers for w in words) / len(words) >= ROMAN_URDU_MIN_SHARE
    ):
        return LanguageCheck("ur-Latn", round(sum(w in markers for w in words) / len(words), 2), False)
    english = sum(w in ENGLISH_MARKERS for w in words)
    if english >= ENGLISH_MIN_MARKERS and english / len(words) >= ENGLISH_MIN_SHARE:
        return LanguageCheck("en", round(english / len(words), 2), True)
    code, probability = _get_identifier().classify(text)
    probability = float(probability)
    supported = code in SUPPORTED_LANGUAGES or code == "zxx" or probability < MIN_PROBABILITY
    return LanguageCheck(code, probability, supported)
