"""Why a comment scored high: the words the model credits, found again in the comment's own text.

The model is the process's one handle (``moderation.scoring``), so after ``manage.py promote`` the dashboard
explains with the promoted model. If none can be served (no artifact yet, wrong scikit-learn, ...) the
dashboard shows no highlighting and says why; the handle retries the load, so a model published later is
picked up without a restart.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from moderation.scoring import ModelUnavailable, current_model, model_error
from training.normalize import normalize

__all__ = ["Explanation", "Segment", "explain", "get_model", "highlight", "labels_to_explain", "model_error"]

log = logging.getLogger(__name__)

MIN_HIGHLIGHT_LOG_ODDS = 0.25
MIN_HIGHLIGHT_SHARE = 0.2
_lock = threading.Lock()
CACHE_SIZE = 5000
_cache: OrderedDict = OrderedDict()
_TOKEN_RE = re.compile(r"\S+")
_EDGE_PUNCT_RE = re.compile(r"^[^\w]+|[^\w]+$")


def get_model():
    """The process's model (``moderation.scoring.current_model``: the registry's active version, else the
    configured file), or None if none can be served now (``model_error`` says why): explanations and
    thresholds on the dashboard come from the model that decides."""
    try:
        return current_model()
    except ModelUnavailable:
        return None


def _core(word: str) -> str:
    return _EDGE_PUNCT_RE.sub("", word)


@dataclass(frozen=True)
class Segment:
    """A run of the comment's text; ``level`` 0 is plain, 1–3 marks a word the model credits (3 strongest)."""

    text: str
    level: int = 0
    weight: float = 0.0


@dataclass(frozen=True)
class Explanation:
    label: str
    terms: list[tuple[str, float]]  # (word or n-gram in normalised spelling, contribution in log-odds)
    segments: list[Segment]
    model_version: str

    @property
    def strong_terms(self) -> list[tuple[str, float]]:
        """The terms strong enough to be highlighted."""
        if not self.terms:
            return []
        floor = max(MIN_HIGHLIGHT_LOG_ODDS, MIN_HIGHLIGHT_SHARE * self.terms[0][1])
        return [(t, v) for t, v in self.terms if v >= floor]


def highlight(text: str, terms: list[tuple[str, float]]) -> list[Segment]:
    """Split ``text`` into segments, marking each whitespace-separated word whose normalised spelling is in
    ``terms`` (words of an n-gram count separately). The segments joined give back ``text`` exactly."""
    weights: dict[str, float] = {}
    for term, value in terms:
        for word in term.split():
            core = _core(word)
            if core:
                weights[core] = max(weights.get(core, 0.0), value)
    if not weights:
        return [Segment(text)]
    top = max(weights.values())
    # Mark what matters: small contributions of common words ("you", "the") would turn every comment yellow.
    floor = max(MIN_HIGHLIGHT_LOG_ODDS, MIN_HIGHLIGHT_SHARE * top)
    weights = {word: w for word, w in weights.items() if w >= floor}
    segments: list[Segment] = []
    last = 0
    for match in _TOKEN_RE.finditer(text):
        token = match.group(0)
        norm = normalize(token)
        weight = weights.get(_core(norm), weights.get(norm, 0.0))
        if weight <= 0:
            continue
        if match.start() > last:
            segments.append(Segment(text[last : match.start()]))
        level = 3 if weight >= 0.66 * top else 2 if weight >= 0.33 * top else 1
        segments.append(Segment(token, level, weight))
        last = match.end()
    if last < len(text):
        segments.append(Segment(text[last:]))
    return segments


def explain(text: str, label: str, top_k: int = 8, cached_only: bool = False) -> Explanation | None:
    """The model's explanation of ``label`` for ``text`` with highlighted segments; None without a model, for
    a label the model does not have, or (``cached_only``) if it is not in the per-process cache yet."""
    model = get_model()
    if model is None or label not in model.labels:
        return None
    key = (id(model), text, label, top_k)
    hit = _cache.get(key)
    if hit is not None or cached_only:
        return hit
    try:
        terms = list(model.explain(text, label, top_k))
    except Exception:  # an explanation is a help, never a reason to fail the page
        log.exception("explain failed for label %s", label)
        return None
    explanation = Explanation(label, terms, highlight(text, terms), model.version)
    with _lock:
        _cache[key] = explanation
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return explanation


def labels_to_explain(scores: dict, limit: int = 3) -> list[str]:
    """The labels worth explaining for these scores: those at or above the current model's review threshold,
    highest first; else the single highest-scoring label."""
    model = get_model()
    if model is None or not scores:
        return []
    ranked = sorted(((s, label) for label, s in scores.items() if label in model.labels), reverse=True)
    flagged = [
        label for s, label in ranked if label in model.thresholds and s >= model.thresholds[label]["review"]
    ]
    return (flagged or [label for _, label in ranked[:1]])[:limit]
