"""The model registry: which verified model artifacts exist and which one the workers serve.

``register_model(path)`` verifies an artifact and records it as a ``ModelVersion``; ``promote(version)`` and
``rollback()`` switch the active version, each with an audit entry. Workers (``moderation.engine``) notice the
switch within ``MODERATION_MODEL_CHECK_SECONDS`` and load the new file through ``load_verified`` before swapping;
a file that fails is never served and the current model keeps serving.

Verification, in order, all before anything is unpickled:

1. the bytes' sha256 equals the registered one (when known) and the sidecar's, the size matches, the sidecar has
   the metadata fields a model needs, and every library version it was built with equals the installed one
   (scikit-learn, numpy, scipy, joblib);
2. the pickle is the gzip format and its opcodes are scanned without executing them: every class or function the
   pickle would import must be a class from scikit-learn, numpy, scipy or ``training``, or one of numpy's few
   array-rebuilding functions; anything else (``os.system``, ``builtins.exec``, ...) is refused, because a sidecar
   can be forged as easily as the file and a sha256 only proves that the file is the one described;
3. ``training.runtime.load_model`` (pinned to the sha256 of the scanned bytes), then a smoke score: a few texts
   must score in [0, 1] on every label and the thresholds must name known labels.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import json
import math
import pickletools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from training.runtime import ArtifactError, ModelArtifact, load_model, metadata_path

from .models import AuditEntry, ModelVersion

SMOKE_TEXTS = [
    "Thanks, this was a useful article about the border talks.",
    "You are a pathetic idiot, shut up.",
    "WIN a free iPhone now, click here http://free.example.com",
]
REQUIRED_METADATA = ("version", "sha256", "library_versions", "labels", "thresholds")
CHECKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib")
SAFE_PACKAGES = ("sklearn", "numpy", "scipy", "training")
SAFE_FUNCTIONS = {
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("copyreg", "_reconstructor"),
}
SAFE_BUILTINS = {
    "set",
    "frozenset",
    "slice",
    "range",
    "complex",
    "bytearray",
    "object",
    "dict",
    "list",
    "tuple",
}
UNSAFE_CLASSES = {("numpy", "memmap")}  # creates files
_STRING_OPS = {
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "UNICODE",
    "SHORT_BINSTRING",
    "BINSTRING",
    "STRING",
}


class VerificationError(Exception):
    """The artifact failed verification; the message says which check and why."""


@dataclass(frozen=True)
class Verified:
    model: ModelArtifact
    sha256: str
    smoke_scores: dict[str, dict[str, float]]


def pickle_globals(data: bytes) -> set[tuple[str, str]]:
    """The (module, name) pairs a pickle would import, read from its opcodes without executing any. Raises
    VerificationError for a pickle whose imports cannot be read statically (strings built at load time,
    extension codes)."""
    memo: dict[int, Any] = {}
    pushed: list[Any] = []  # values of the ops so far: a str for string pushes, None for anything else
    found: set[tuple[str, str]] = set()
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            name = op.name
            if name == "FRAME":
                continue
            if name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = pushed[-1] if pushed else None
            elif name in _STRING_OPS:
                pushed.append(arg if isinstance(arg, str) else None)
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                pushed.append(memo.get(int(arg)))
            elif name in ("GLOBAL", "INST"):
                module, _, qualname = str(arg).partition(" ")
                found.add((module, qualname))
                pushed.append(None)
            elif name == "STACK_GLOBAL":
                module, qualname = (pushed[-2], pushed[-1]) if len(pushed) >= 2 else (None, None)
                if not isinstance(module, str) or not isinstance(qualname, str):
                    raise VerificationError("pickle imports a name built at load time; refusing it")
                found.add((module, qualname))
                pushed.append(None)
            elif name in ("EXT1", "EXT2", "EXT4"):
                raise VerificationError("pickle uses the copyreg extension registry; refusing it")
            else:
                pushed.append(None)
    except VerificationError:
        raise
    except Exception as exc:  # a malformed or truncated pickle
        raise VerificationError(f"pickle is malformed: {exc}") from None
    return found


def _allowed(module: str, qualname: str) -> bool:
    if (module, qualname) in SAFE_FUNCTIONS:
        return True
    if module == "builtins":
        return qualname in SAFE_BUILTINS
    if (module, qualname) in UNSAFE_CLASSES or module.split(".")[0] not in SAFE_PACKAGES:
        return False
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:
        return False
    # A class (constructing estimators and arrays), defined inside the allowed packages themselves (not a class
    # re-exported from elsewhere, like a module's `subprocess.Popen`).
    return isinstance(obj, type) and str(getattr(obj, "__module__", "")).split(".")[0] in SAFE_PACKAGES


def check_pickle(data: bytes) -> None:
    """Refuse (VerificationError) a gzip pickle that would import anything outside the allowed set."""
    if data[:2] != b"\x1f\x8b":
        raise VerificationError("not a gzip-pickle artifact (the only format the registry accepts)")
    try:
        raw = gzip.decompress(data)
    except Exception as exc:
        raise VerificationError(f"artifact does not decompress: {exc}") from None
    refused = sorted(f"{m}.{n}" for m, n in pickle_globals(raw) if not _allowed(m, n))
    if refused:
        raise VerificationError(f"pickle would import {', '.join(refused)}: not a model; refusing to load it")


def _installed_versions() -> dict[str, str]:
    import joblib
    import numpy
    import scipy
    import sklearn

    return {
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def _check_metadata(path: Path, data: bytes, expected_sha256: str | None) -> dict[str, Any]:
    try:
        metadata = json.loads(metadata_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationError(f"metadata {metadata_path(path)} unreadable: {exc}") from None
    if not isinstance(metadata, dict):
        raise VerificationError(f"metadata {metadata_path(path)} is not a JSON object")
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise VerificationError(f"metadata {metadata_path(path)} lacks {missing}")
    if metadata.get("size_bytes") is not None and int(metadata["size_bytes"]) != len(data):
        raise VerificationError(
            f"{path} is {len(data)} bytes, metadata says {metadata['size_bytes']}: truncated or replaced"
        )
    sha = hashlib.sha256(data).hexdigest()
    if sha != metadata["sha256"]:
        raise VerificationError(f"{path} has sha256 {sha}, its metadata says {metadata['sha256']}")
    if expected_sha256 and sha != expected_sha256:
        raise VerificationError(f"{path} has sha256 {sha}, the registry recorded {expected_sha256}")
    installed = _installed_versions()
    for library in CHECKED_LIBRARIES:
        built = metadata["library_versions"].get(library)
        if built is not None and built != installed.get(library):
            raise VerificationError(
                f"{path} was built with {library} {built}, {installed.get(library)} is installed"
            )
    return metadata


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
    if model.metadata.get("thresholds") != model.thresholds:
        # Reports and the dashboard read thresholds from the metadata: it must describe what the model applies.
        raise VerificationError("metadata thresholds differ from the thresholds inside the model")
    return {
        text: {k: round(v, 6) for k, v in row.items()} for text, row in zip(SMOKE_TEXTS, scores, strict=True)
    }


def load_verified(path: Path | str, expected_sha256: str | None = None) -> Verified:
    """Run every check above on the artifact at ``path`` and return the loaded model with its smoke scores.
    Raises VerificationError (nothing is unpickled unless the hash, metadata and pickle scan pass)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VerificationError(f"model file {path} unreadable: {exc}") from None
    metadata = _check_metadata(path, data, expected_sha256)
    check_pickle(data)
    try:
        model = load_model(path, expected_sha256=metadata["sha256"])
    except ArtifactError as exc:
        raise VerificationError(str(exc)) from None
    return Verified(model, metadata["sha256"], _smoke(model))


# --- State changes (one function each, with its audit entry) -----------------------------------------------------


def register_model(path: Path | str, actor_label: str = "system") -> ModelVersion:
    """Verify the artifact at ``path`` and record it (not active). Registering the same file again returns the
    existing row; another file with an already registered version raises VerificationError."""
    path = Path(path).resolve()
    verified = load_verified(path)
    version = verified.model.version
    existing = ModelVersion.objects.filter(version=version).first()
    if existing:
        if existing.sha256 != verified.sha256:
            raise VerificationError(
                f"version {version} is already registered with another file ({existing.path})"
            )
        return existing
    with transaction.atomic():
        row = ModelVersion.objects.create(
            version=version,
            path=str(path),
            sha256=verified.sha256,
            metadata=verified.model.metadata,
            smoke_scores=verified.smoke_scores,
            registered_by=actor_label,
        )
        AuditEntry.objects.create(
            actor_label=actor_label,
            action="model_registered",
            after={"version": version, "path": str(path), "sha256": verified.sha256},
        )
    return row


def _activate(target: ModelVersion, actor_label: str, action: str) -> ModelVersion:
    # Verify the file again: it may have changed on disk since it was registered.
    load_verified(target.path, target.sha256)
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        if current and current.pk == target.pk:
            return current
        if current:
            current.is_active = False
            current.save(update_fields=["is_active"])
        target.is_active, target.activated_at = True, timezone.now()
        target.save(update_fields=["is_active", "activated_at"])
        AuditEntry.objects.create(
            actor_label=actor_label,
            action=action,
            before={"active": current.version if current else None},
            after={"active": target.version, "sha256": target.sha256},
        )
    return target


def promote(version: str, actor_label: str = "system") -> ModelVersion:
    """Make ``version`` the active model (re-verified first). Raises ModelVersion.DoesNotExist or
    VerificationError; on error the active version is unchanged."""
    return _activate(ModelVersion.objects.get(version=version), actor_label, "model_promoted")


def rollback(actor_label: str = "system") -> ModelVersion:
    """Make the version that was active before the current one active again. Raises ModelVersion.DoesNotExist
    if there is none, VerificationError if its file no longer verifies."""
    current = ModelVersion.objects.filter(is_active=True).first()
    previous = (
        ModelVersion.objects.filter(activated_at__isnull=False)
        .exclude(pk=current.pk if current else None)
        .order_by("-activated_at")
        .first()
    )
    if previous is None:
        raise ModelVersion.DoesNotExist("no earlier active model version to roll back to")
    return _activate(previous, actor_label, "model_rolled_back")


def active_version() -> tuple[str, str, str] | None:
    """(version, path, sha256) of the active model, or None when none is registered active."""
    return ModelVersion.objects.filter(is_active=True).values_list("version", "path", "sha256").first()
