"""The process's handle on the scoring engine (training.runtime): one verified model per process, loaded on first
use. Shared by the worker (batch decisions) and the web process (synchronous check, explanations)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from django.conf import settings

from training.runtime import ArtifactError, ModelArtifact, default_model_path, load_model

log = logging.getLogger(__name__)

RETRY_LOAD_AFTER_SECONDS = 30


class ModelUnavailable(Exception):
    """The model could not be loaded or verified; the message says why."""


_lock = threading.Lock()
_model: ModelArtifact | None = None
_failure: tuple[float, str] | None = None
# Model registry (moderation/registry.py): the active version as last read from the database, when it was read,
# and the sha256 of a registered file that failed verification here (with when), so it is not retried each call.
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
        from moderation.registry import active_version

        try:
            _active = active_version()
        except Exception as exc:  # noqa: BLE001  database down, migrations not applied, no DB access here:
            # keep serving what this process has (or the configured file, as before the registry)
            log.warning("could not read the active model version: %s", exc)
        _active_read_at = now
    return _active


def _switch_to(version: str, path: str, sha256: str) -> None:
    """Load and verify the registered file, then swap it in. On failure the current model (if any) stays."""
    global _model, _switch_failure, _failure
    if _switch_failure and _switch_failure[0] == sha256:
        if time.monotonic() - _switch_failure[1] < RETRY_LOAD_AFTER_SECONDS:
            return
    from moderation.registry import VerificationError, load_verified

    try:
        verified = load_verified(path, sha256)
    except VerificationError as exc:
        message = f"model {version} ({path}) failed verification, not served: {exc}"
        _switch_failure = (sha256, time.monotonic(), message)
        log.error("%s; still serving %s", message, _model.version if _model else "no model")
        return
    previous = _model.version if _model else None
    _model, _switch_failure, _failure = verified.model, None, None
    log.info("switched model %s -> %s (%s)", previous, _model.version, path)


def current_model() -> ModelArtifact:
    """The verified model of this process. Raises ModelUnavailable (retrying the load at most every 30 s).

    When the registry has an active version (``manage.py promote``), that version is served: a process notices a
    promotion or rollback within MODERATION_MODEL_CHECK_SECONDS and loads and verifies the new file before
    swapping (in-flight batches finish with the model they started with). A file that fails verification is never
    served; the current model keeps serving. Without an active registered version, MODERATION_MODEL_PATH (or the
    shipped model) is served as before."""
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
        log.info("loaded model %s from %s", _model.version, path)
        return _model


def reset_for_tests() -> None:
    """Forget the loaded model and the cached registry read (tests switch versions within one process)."""
    global _model, _failure, _active, _active_read_at, _switch_failure
    with _lock:
        _model = _failure = _active = _active_read_at = _switch_failure = None
