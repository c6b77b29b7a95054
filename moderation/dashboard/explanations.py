"""Why a comment scored high: the words the model credits, found again in the comment's own text.

The model is loaded once per web process from ``training.runtime`` (never through the worker). If it cannot be
loaded (no artifact yet, wrong scikit-learn, ...) the dashboard shows no highlighting and says why; it retries
after ``RETRY_SECONDS`` so a model published later is picked up without a restart.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0
MIN_HIGHLIGHT_LOG_ODDS = 0.25
MIN_HIGHLIGHT_SHARE = 0.2
_lock = threading.Lock()
_state: dict = {"key": None, "model": None, "error": "", "checked": 0.0}
CACHE_SIZE = 5000
_cache: OrderedDict = OrderedDict()
_TOKEN_RE = re.compile(r"\S+")
_EDGE_PUNCT_RE = re.compile(r"^[^\w]+|[^\w]+$")


def model_path() -> Path:
    from training.runtime import default_model_path

    configured = getattr(settings, "MODERATION_MODEL_PATH", "")
    return Path(configured) if configured else default_model_path()


def get_model():
    """The loaded ``training.runtime.ModelArtifact``, or None if it cannot be loaded now (``model_error``).
    Reloaded when the file changes."""
    path = model_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (str(path), stamp)
    now = time.monotonic()
    with _lock:
        if _state["key"] == key and (_state["model"] is not None or now - _state["checked"] < RETRY_SECONDS):
            return _state["model"]
        from training.runtime import ArtifactError, load_model

        try:
            model, error = load_model(path), ""
        except ArtifactError as exc:
            model, error = None, str(exc)
            log.warning("dashboard explanations are off: %s", exc)
        _state.update(key=key, model=model, error=error, checked=now)
        return model


def model_error() -> str:
    return _state["error"]


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
    from training.normalize import normalize

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
