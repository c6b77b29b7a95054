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


def model_path() -> Path:
    return Path(settings.MODERATION_MODEL_PATH) if settings.MODERATION_MODEL_PATH else default_model_path()


def current_model() -> ModelArtifact:
    """The verified model of this process. Raises ModelUnavailable (retrying the load at most every 30 s)."""
    global _model, _failure
    with _lock:
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
