"""THE model handle of this process and THE verdict.

One verified model per process, loaded on first use and following the registry (``manage.py promote`` /
``rollback``): the worker's decisions, the synchronous check, Coral, the dashboard's explanations and
thresholds all read ``current_model()``; the shadow candidate is ``shadow_model()``. A site's active adapter
(issue 20) is loaded beside it (``site_adapters``) and re-scores that site's toxicity in the same model call
(``score_for_sites``). Every path that turns scores into a decision calls ``judge`` (or ``verdicts``, which
scores and judges a site's texts): score, language gate, the site's thresholds, outcome and reasons are put
together here and nowhere else.

A file is verified before it is loaded: ``training.runtime.load_model`` checks it before anything is
unpickled, and ``load_verified`` adds a smoke score. A file that fails is never served; the current model
keeps serving.
"""

from __future__ import annotations

import gc
import logging
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.conf import settings

from moderation.models import ModelVersion, SiteAdapterVersion
from moderation.policy import (
    APPROVED,
    NEEDS_REVIEW,
    REJECTED,
    Signal,
    apply_policy,
    apply_signals,
    severity_of,
    thresholds_for,
)
from training.adapter import SiteAdapter, load_adapter
from training.features import phone_number
from training.language import check_language
from training.normalize import normalize
from training.runtime import ArtifactError, ModelArtifact, default_model_path, load_model

log = logging.getLogger(__name__)

RETRY_LOAD_AFTER_SECONDS = 30


class ModelUnavailable(Exception):
    """The model could not be loaded or verified; the message says why."""


SMOKE_TEXTS = [
    "Thanks, this was a useful article about the border talks.",
    "You are a pathetic idiot, shut up.",
    "WIN a free iPhone now, click here http://free.example.com",
]


class VerificationError(ArtifactError):
    """The artifact failed verification (``training.verify``'s checks or the smoke score); the message says
    which check and why."""


@dataclass(frozen=True)
class Verified:
    model: ModelArtifact
    sha256: str
    smoke_scores: dict[str, dict[str, float]]


def _smoke(model: ModelArtifact) -> dict[str, dict[str, float]]:
    try:
        scores = model.score(SMOKE_TEXTS)
    except Exception as exc:
        raise VerificationError(f"smoke score failed: {type(exc).__name__}: {exc}") from None
    for text, row in zip(SMOKE_TEXTS, scores, strict=True):
        if set(row) != set(model.labels) or not all(math.isfinite(v) and 0 <= v <= 1 for v in row.values()):
            raise VerificationError(f"smoke score of {text!r} is not a probability per label: {row}")
    unknown = set(model.thresholds) - set(model.labels)
    if unknown:
        raise VerificationError(f"thresholds name unknown labels {sorted(unknown)}")
    if model.described_thresholds() != model.thresholds:
        # Reports and the dashboard read thresholds from the metadata: it must describe what the model
        # applies (with the second stage on, its toxicity thresholds are the stage's).
        raise VerificationError("metadata thresholds differ from the thresholds inside the model")
    return {
        text: {k: round(v, 6) for k, v in row.items()} for text, row in zip(SMOKE_TEXTS, scores, strict=True)
    }


def load_verified(path: Path | str, expected_sha256: str | None = None) -> Verified:
    """Load the artifact at ``path`` through ``training.runtime.load_model`` (every check of
    ``training.verify``, pinned to ``expected_sha256`` when given), then smoke-score it. Returns the model
    with its sha256 and smoke scores. Raises VerificationError; nothing is unpickled unless the checks
    pass."""
    try:
        model = load_model(path, expected_sha256=expected_sha256)
    except ArtifactError as exc:
        raise VerificationError(str(exc)) from None
    return Verified(model, str(model.metadata["sha256"]), _smoke(model))


_lock = threading.Lock()
_model: ModelArtifact | None = None
_failure: tuple[float, str] | None = None
# Model registry (moderation/services/registry.py): the active version as last read from the database, when it
# was read, and the sha256 of a registered file that failed verification here (with when), so it is not
# retried each call.
_active: tuple[str, str, str] | None = None
_active_read_at: float | None = None
_switch_failure: tuple[str, float, str] | None = None


def model_path() -> Path:
    return Path(settings.MODERATION_MODEL_PATH) if settings.MODERATION_MODEL_PATH else default_model_path()


def _sha(model: ModelArtifact | None) -> str:
    return str(model.metadata.get("sha256", "")) if model is not None else ""


def _registered_active() -> tuple[str, str, str] | None:
    """(version, path, sha256) of the registry's active model, read from the database at most every
    MODERATION_MODEL_CHECK_SECONDS (a one-row indexed read); the last known value if the read fails."""
    global _active, _active_read_at
    now = time.monotonic()
    if _active_read_at is None or now - _active_read_at >= settings.MODERATION_MODEL_CHECK_SECONDS:
        try:
            _active = (
                ModelVersion.objects.filter(is_active=True).values_list("version", "path", "sha256").first()
            )
        except Exception as exc:  # noqa: BLE001  database down, migrations not applied, no DB access here:
            # keep serving what this process has (or the configured file, as before the registry)
            log.warning("could not read the active model version: %s", exc)
        _active_read_at = now
    return _active


def keep_out_of_collector() -> None:
    """Move every object alive now to the collector's permanent generation (``gc.freeze``); called after a
    model loads. A loaded model and Django are long-lived objects (a worker's oldest generation holds ~170k),
    and every full collection walked them all: 53 ms on two cores for the model alone. Full collections are
    rare in a worker (none in a 10 s run at 200 comments/s), but each was a pause in whichever decision set it
    off. Unfrozen and collected first, so a replaced model's cycles are freed."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _switch_to(version: str, path: str, sha256: str) -> None:
    """Load and verify the registered file, then swap it in. On failure the current model (if any) stays."""
    global _model, _switch_failure, _failure
    if _switch_failure and _switch_failure[0] == sha256:
        if time.monotonic() - _switch_failure[1] < RETRY_LOAD_AFTER_SECONDS:
            return
    try:
        verified = load_verified(path, sha256)
    except VerificationError as exc:
        message = f"model {version} ({path}) failed verification, not served: {exc}"
        _switch_failure = (sha256, time.monotonic(), message)
        log.error("%s; still serving %s", message, _model.version if _model else "no model")
        return
    previous = _model.version if _model else None
    _model, _switch_failure, _failure = verified.model, None, None
    keep_out_of_collector()
    log.info("switched model %s -> %s (%s)", previous, _model.version, path)


def current_model() -> ModelArtifact:
    """The verified model of this process. Raises ModelUnavailable (retrying the load at most every 30 s).

    When the registry has an active version (``manage.py promote``), that version is served: a process notices
    a promotion or rollback within MODERATION_MODEL_CHECK_SECONDS and loads and verifies the new file before
    swapping (in-flight batches finish with the model they started with). A file that fails verification is
    never served; the current model keeps serving. Without an active registered version, MODERATION_MODEL_PATH
    (or the shipped model) is served as before."""
    global _model, _failure
    with _lock:
        active = _registered_active()
        if active is not None:
            version, path, sha256 = active
            if _sha(_model) != sha256:
                _switch_to(version, path, sha256)
            if _model is not None:
                return _model
            raise ModelUnavailable(_switch_failure[2] if _switch_failure else f"model {version} not loaded")
        if _model is not None:
            return _model
        if _failure and time.monotonic() - _failure[0] < RETRY_LOAD_AFTER_SECONDS:
            raise ModelUnavailable(_failure[1])
        path = model_path()
        try:
            _model = load_model(path)
        except (ArtifactError, OSError) as exc:
            _failure = (time.monotonic(), f"model {path} not loaded: {exc}")
            log.error("%s", _failure[1])
            raise ModelUnavailable(_failure[1]) from exc
        _failure = None
        keep_out_of_collector()
        log.info("loaded model %s from %s", _model.version, path)
        return _model


def model_error() -> str:
    """Why no model is served now ("" when one is, or none was asked for yet): for pages that show it."""
    if _switch_failure:
        return _switch_failure[2]
    return _failure[1] if _failure else ""


_shadow: tuple[str, ModelArtifact] | None = None  # (sha256, model) of the shadow candidate loaded here
# Its own lock: loading a candidate takes seconds, and decisions must not wait for it.
_shadow_lock = threading.Lock()


def shadow_model(row: ModelVersion) -> ModelArtifact | None:
    """The registered shadow candidate ``row``, verified and loaded once per process (again when its file
    changes); None (logged) if it fails verification: the shadow never decides, so it is simply not scored."""
    global _shadow
    with _shadow_lock:
        if _shadow is None or _shadow[0] != row.sha256:
            try:
                _shadow = (row.sha256, load_verified(row.path, row.sha256).model)
            except VerificationError as exc:
                log.error("shadow model %s failed verification, not scoring with it: %s", row.version, exc)
                return None
            keep_out_of_collector()
        return _shadow[1]


# --- Site adapters (issue 20: moderation/services/adapters.py registers them) -------------------------------
#
# A site's active adapter re-scores one label (toxicity) of the one model for that site's comments. It is
# loaded beside the model, once per process per (adapter file, model file), verified by
# training.adapter.load_adapter against the model serving now: an adapter reads one model's feature columns,
# so when promote / rollback changes the model it stops serving (a warning, once) and the site gets the
# shared scores. Nothing about an adapter can fail a decision: any error falls back to the shared scores.

_adapter_lock = threading.Lock()
# site id -> (version, path, sha256, base model sha256) of the registry's active adapters, as last read.
_adapter_rows: dict[int, tuple[str, str, str, str]] = {}
_adapter_rows_read_at: float | None = None
# (adapter sha256, model sha256) -> the adapter loaded and verified on that model, or when it failed to.
_adapters: dict[tuple[str, str], SiteAdapter] = {}
_adapter_failures: dict[tuple[str, str], float] = {}
_adapter_warned: set[tuple[str, str]] = set()


def _active_adapter_rows() -> dict[int, tuple[str, str, str, str]]:
    """The registry's active site adapters, read at most every MODERATION_MODEL_CHECK_SECONDS (the last known
    value if the read fails)."""
    global _adapter_rows, _adapter_rows_read_at
    now = time.monotonic()
    every = settings.MODERATION_MODEL_CHECK_SECONDS
    if _adapter_rows_read_at is None or now - _adapter_rows_read_at >= every:
        try:
            _adapter_rows = {
                site_id: (version, path, sha256, base)
                for site_id, version, path, sha256, base in SiteAdapterVersion.objects.filter(
                    is_active=True
                ).values_list("site_id", "version", "path", "sha256", "base_model_sha256")
            }
        except Exception as exc:  # noqa: BLE001  as _registered_active: keep what this process knows
            log.warning("could not read the active site adapters: %s", exc)
        _adapter_rows_read_at = now
    return _adapter_rows


def load_site_adapter(
    model: ModelArtifact, version: str, path: str, sha256: str, base_sha256: str
) -> SiteAdapter | None:
    """The registered adapter ``version`` (file ``path``, pinned to ``sha256``) loaded on ``model``, cached
    per process; None (logged once) if it was fitted on another model, or (logged, retried after 30 s) if it
    fails verification."""
    model_sha = _sha(model)
    key = (sha256, model_sha)
    with _adapter_lock:
        if base_sha256 != model_sha:
            if key not in _adapter_warned:
                _adapter_warned.add(key)
                log.warning(
                    "site adapter %s was fitted on another model (sha256 %s), not on the active %s (sha256 "
                    "%s): not served, its site gets the shared scores; refit it with `python -m training "
                    "adapt` and register it with `manage.py register_adapter`",
                    version,
                    base_sha256[:12],
                    model.version,
                    model_sha[:12],
                )
            return None
        adapter = _adapters.get(key)
        if adapter is not None:
            return adapter
        failed_at = _adapter_failures.get(key)
        if failed_at is not None and time.monotonic() - failed_at < RETRY_LOAD_AFTER_SECONDS:
            return None
        try:
            adapter = load_adapter(path, model, expected_sha256=sha256)
        except (ArtifactError, OSError) as exc:
            _adapter_failures[key] = time.monotonic()
            log.error("site adapter %s (%s) failed verification, not served: %s", version, path, exc)
            return None
        # Adapters of a model no longer served are not needed again (a rollback loads them anew).
        for stale in [k for k in _adapters if k[1] != model_sha]:
            del _adapters[stale]
        _adapters[key] = adapter
        _adapter_failures.pop(key, None)
        log.info("loaded site adapter %s from %s on model %s", version, path, model.version)
        return adapter


def site_adapters(model: ModelArtifact, site_ids: set[int]) -> dict[int, SiteAdapter]:
    """{site id: its active adapter, loaded on ``model``} for those of ``site_ids`` that have one that serves
    under ``model``."""
    rows = _active_adapter_rows()
    found = {}
    for site_id in site_ids:
        if site_id in rows:
            adapter = load_site_adapter(model, *rows[site_id])
            if adapter is not None:
                found[site_id] = adapter
    return found


def adapted_thresholds(
    model_thresholds: Mapping[str, Mapping[str, float]], adapter: SiteAdapter | None
) -> dict[str, dict[str, float]]:
    """The model's thresholds with ``adapter``'s (for the label it re-scores) over them: what the site's own
    overrides (``policy.thresholds_for``) are then merged over."""
    merged = {label: dict(cuts) for label, cuts in model_thresholds.items()}
    if adapter is not None:
        merged.update({label: dict(cuts) for label, cuts in adapter.thresholds.items() if label in merged})
    return merged


@dataclass(frozen=True)
class SiteScores:
    """Scores of a batch of comments from several sites: ``scores[i]`` for text i, with the label of each
    site's adapter re-scored; ``adapters``: site id -> the adapter that re-scored that site's rows."""

    scores: list[dict[str, float]]
    adapters: dict[int, SiteAdapter] = field(default_factory=dict)

    def adapter_version(self, site_id: int | None) -> str:
        adapter = self.adapters.get(site_id) if site_id is not None else None
        return adapter.version if adapter is not None else ""

    def thresholds(
        self, model_thresholds: Mapping[str, Mapping[str, float]], site_id: int | None
    ) -> dict[str, dict[str, float]]:
        """The base thresholds for ``site_id``'s comments: ``adapted_thresholds`` of its adapter if one
        scored them, the model's otherwise."""
        adapter = self.adapters.get(site_id) if site_id is not None else None
        return adapted_thresholds(model_thresholds, adapter)


def score_for_sites(model: ModelArtifact, texts: Sequence[str], site_ids: Sequence[int | None]) -> SiteScores:
    """Score ``texts`` (``site_ids[i]``: the site of text i) in one model call; the rows of a site with an
    active adapter are re-scored by it from the same call's feature matrix (one normalisation, one feature
    transform). Raises what ``model.score`` raises; an adapter that fails leaves its site the shared scores
    (logged), it never fails the batch."""
    texts = list(texts)
    adapters = site_adapters(model, {site_id for site_id in site_ids if site_id is not None}) if texts else {}
    if not adapters:
        return SiteScores(model.score(texts))
    scores, features = model.score_with_features(texts)
    applied: dict[int, SiteAdapter] = {}
    for site_id, adapter in adapters.items():
        rows = [i for i, found in enumerate(site_ids) if found == site_id]
        try:
            adapted = adapter.rescore([dict(scores[i]) for i in rows], features[rows])
        except Exception:  # noqa: BLE001  a broken adapter costs its site the adaptation, not the decision
            log.exception("site adapter %s failed to score; its site gets the shared scores", adapter.version)
            continue
        for i, row in zip(rows, adapted, strict=True):
            scores[i] = row
        applied[site_id] = adapter
    return SiteScores(scores, applied)


def reset_for_tests(keep_model: bool = False) -> None:
    """Forget the loaded models and adapters and the cached registry reads (tests switch versions within one
    process). ``keep_model``: keep the model loaded (a test whose registry row names the same file does not
    load it again)."""
    global _model, _failure, _active, _active_read_at, _switch_failure, _shadow
    global _adapter_rows, _adapter_rows_read_at
    with _lock:
        kept = _model if keep_model else None
        _model = _failure = _active = _active_read_at = _switch_failure = _shadow = None
        _model = kept
    with _adapter_lock:
        _adapter_rows, _adapter_rows_read_at = {}, None
        _adapters.clear()
        _adapter_failures.clear()
        _adapter_warned.clear()


# --- The verdict --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the pipeline decides about one comment: the outcome, the reasons (for people), the scores, the
    model version, and which labels drove the outcome (``bands``: label -> "reject" or "review")."""

    outcome: str
    reasons: list[str]
    scores: dict[str, float]
    model_version: str
    bands: dict[str, str] = field(default_factory=dict)
    language: str | None = None  # the detected language, when it was checked
    language_supported: bool = True
    # The reason codes of the labels that fired, most severe first (policy.LABEL_CODES).
    codes: list[str] = field(default_factory=list)
    # The site adapter that re-scored a label of ``scores`` ("" for the shared scores; score_for_sites).
    adapter_version: str = ""

    @property
    def severity(self) -> int:
        """What the review queue sorts by (policy.SEVERITY): the highest of the codes'."""
        return severity_of(self.codes)


def judge(
    scores: Mapping[str, float] | None,
    thresholds: Mapping[str, Mapping[str, float]],
    model_version: str,
    *,
    text: str | None = None,
    declared_language: str = "",
    error: str = "",
    signals: Sequence[Signal] = (),
    adapter_version: str = "",
) -> Verdict:
    """THE verdict for one comment: the policy's outcome at ``thresholds`` (the site's, see
    ``policy.thresholds_for``), with the text's own gates when ``text`` is given (a comment in a language the
    model was not trained on goes to a person whatever its scores, and so does one that gives a telephone
    number: ``contact_number``), then the site's context ``signals``
    (``policy.apply_signals``: commenter state, story controls, word lists). ``scores`` None: the model could
    not score it (``error`` says why), and a person decides unless a signal rejects it. ``adapter_version``:
    the site adapter that re-scored ``scores`` (``score_for_sites``), whose thresholds ``thresholds`` holds;
    it is recorded beside the model version."""
    verdict = _judge_text(scores, thresholds, model_version, text, declared_language, error)
    if adapter_version and scores is not None:
        verdict = replace(verdict, adapter_version=adapter_version)
    if not signals:
        return verdict
    outcome, reasons, codes = apply_signals(verdict.outcome, verdict.reasons, verdict.codes, signals)
    return replace(verdict, outcome=outcome, reasons=reasons, codes=codes)


def _judge_text(
    scores: Mapping[str, float] | None,
    thresholds: Mapping[str, Mapping[str, float]],
    model_version: str,
    text: str | None,
    declared_language: str,
    error: str,
) -> Verdict:
    if scores is None:
        return Verdict(NEEDS_REVIEW, [f"model could not score: {error}"], {}, model_version)
    if text is not None and not has_words(text):
        # Emoji or punctuation alone: the model's scores for it mean nothing ("!!!" scores high on shape).
        return Verdict(APPROVED, ["no words to judge"], dict(scores), model_version)
    result = apply_policy(scores, thresholds)
    outcome, reasons = result.outcome, list(result.reasons)
    language, supported = None, True
    if text is not None:
        check = check_language(text, declared_language)
        language, supported = check.code or None, check.supported
        if not supported:
            outcome, reasons = NEEDS_REVIEW, [check.reason, *reasons]
    codes = list(result.codes)
    number = contact_number(text) if text is not None and outcome != REJECTED else None
    if number:
        outcome = NEEDS_REVIEW
        shown = f" ({number})" if number in text else ""  # an obfuscated number is not shown normalised
        reasons = [f"gives a telephone number{shown}; scams and fake helplines ask readers to call", *reasons]
        codes = [*codes, "spam"] if "spam" not in codes else codes
    return Verdict(outcome, reasons, dict(scores), model_version, result.bands, language, supported, codes)


# At least this many digits before a text is searched for a telephone number (the search normalises it).
_MIN_PHONE_DIGITS = 7


def contact_number(text: str) -> str | None:
    """The telephone number ``text`` gives, if any (``training.features.phone_number``, on the text as written
    or else normalised, so that a number spelled with look-alike or hidden characters is found too).

    A comment that gives one is held for a person with the reason code "spam", whatever its scores (never
    rejected for it): scam, loan and fake-support comments ask readers to call or message a number the spam
    model has never seen ("WhatsApp +1 555 0133", "call the refund helpline"), and civil news comments almost
    never give one (1 of the 6,849 civil comments of the Globe and Mail, Fox News and Civil Comments sets in
    ``../shared/data``). A trusted commenter's comment is still approved (``policy.apply_signals``)."""
    if sum(ch.isdigit() for ch in text) < _MIN_PHONE_DIGITS:
        return None
    # As written when it can be found so (normalising shortens "555" to "55"), else as normalised.
    return phone_number(text) or phone_number(normalize(text))


_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")


def has_words(text: str) -> bool:
    """A letter or digit in any script, after normalisation (zero-width and homoglyph tricks still count).
    Outside HTML entities ("&amp;" becomes "&"), normalisation never drops an ASCII letter or digit (it maps
    leetspeak, joins spaced letters and shortens runs), so a text with one and no "&" has words without
    normalising it a second time: the model has just done it, and it costs ~50 µs a comment on the worker's
    path."""
    if "&" not in text and _ASCII_ALNUM.search(text):
        return True
    return any(ch.isalnum() for ch in normalize(text))


def verdicts(
    site: Any, texts: Sequence[str], signals: Sequence[Sequence[Signal]] | None = None
) -> list[Verdict]:
    """Score ``texts`` (one model call, with ``site``'s adapter if it has an active one) and judge each at
    ``site``'s thresholds, with each text's context ``signals`` if given (``signals[i]`` for ``texts[i]``).
    Raises ModelUnavailable when no model can be served, and whatever the model raises when scoring fails."""
    model = current_model()
    site_id = getattr(site, "pk", None)
    scored = score_for_sites(model, list(texts), [site_id] * len(texts))
    thresholds = thresholds_for(site, scored.thresholds(model.thresholds, site_id))
    adapter_version = scored.adapter_version(site_id)
    found = signals if signals is not None else [() for _ in texts]
    return [
        judge(scores, thresholds, model.version, text=text, signals=context, adapter_version=adapter_version)
        for text, scores, context in zip(texts, scored.scores, found, strict=True)
    ]
