"""Verification of a model artifact before anything in it is unpickled: the one check every loader passes.

    from training.verify import verify_artifact
    payload, metadata = verify_artifact(path, expected_sha256=None)

`training.runtime.load_model` calls it; the registry (`load_verified`) reaches it through `load_model`. In
order, before a single object is built from the pickle:

1. the sidecar (`<stem>.json`) exists, parses as a JSON object and has the fields a model needs;
2. the file's size and sha256 equal the sidecar's (and the pinned sha256, when given);
3. every library version the model was built with equals the installed one (scikit-learn always; numpy, scipy
   and joblib when the sidecar records them);
4. the artifact is the gzip-pickle format and every global its pickle references (read from the opcodes,
   without executing any) is on the allow-list: a class defined in scikit-learn, numpy, scipy or `training`,
   one of numpy's few array-rebuilding functions, or a harmless builtin type. A sidecar can be forged as
   easily as the file, so a matching sha256 only proves the file is the one described, not that it is safe.

Only then are the scanned bytes unpickled, by an unpickler that enforces the same allow-list. Every failure is
an `ArtifactError` whose message names the file and the check.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib
import io
import json
import pickle
import pickletools
from pathlib import Path
from typing import Any

import joblib
import numpy
import scipy

__all__ = [
    "ArtifactError",
    "GZIP_MAGIC",
    "REQUIRED_METADATA",
    "allowed_global",
    "check_pickle",
    "metadata_path",
    "pickle_globals",
    "read_metadata",
    "verify_artifact",
]

GZIP_MAGIC = b"\x1f\x8b"
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


class ArtifactError(Exception):
    """A model artifact is missing, corrupt, tampered with, unsafe, or built for other library versions."""


def metadata_path(model_path: Path | str) -> Path:
    """Sidecar metadata path for an artifact: same directory and stem, `.json` suffix."""
    return Path(model_path).with_suffix(".json")


def read_metadata(model_path: Path | str) -> dict[str, Any]:
    """The sidecar of `model_path` as a dict. Raises `ArtifactError` if it is missing, unreadable, not a JSON
    object, or lacks one of `REQUIRED_METADATA`."""
    meta_path = metadata_path(model_path)
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(
            f"model metadata {meta_path} is missing; every .joblib needs its .json sidecar"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"model metadata {meta_path} is unreadable: {exc}") from None
    if not isinstance(metadata, dict):
        raise ArtifactError(f"model metadata {meta_path} must hold a JSON object")
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ArtifactError(f"model metadata {meta_path} lacks {missing}")
    if not isinstance(metadata["library_versions"], dict):
        raise ArtifactError(f"model metadata {meta_path}: library_versions must be an object")
    return metadata


def _installed_versions() -> dict[str, str]:
    # Imported when a model is verified, not when `training.runtime` is (the web process reads LABELS from
    # it): scikit-learn takes about half a second to import.
    import sklearn

    return {
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def _check_bytes(path: Path, data: bytes, metadata: dict[str, Any], expected_sha256: str | None) -> str:
    expected_size = metadata.get("size_bytes")
    if expected_size is not None and int(expected_size) != len(data):
        raise ArtifactError(
            f"model file {path} is {len(data)} bytes but its metadata says {expected_size}: "
            "truncated or replaced; re-fetch or retrain it"
        )
    sha = hashlib.sha256(data).hexdigest()
    if sha != metadata["sha256"]:
        raise ArtifactError(
            f"model file {path} has sha256 {sha}, metadata expects {metadata['sha256']}: "
            "refusing to unpickle a file that does not match its metadata"
        )
    if expected_sha256 is not None and sha != expected_sha256.lower():
        raise ArtifactError(f"model file {path} has sha256 {sha}, pinned {expected_sha256}")
    return sha


def _check_versions(path: Path, metadata: dict[str, Any]) -> None:
    built_with = metadata["library_versions"]
    installed = _installed_versions()
    sklearn_built, sklearn_installed = built_with.get("scikit-learn"), installed["scikit-learn"]
    if sklearn_built != sklearn_installed:  # required: an estimator pickled by another version may misbehave
        raise ArtifactError(
            f"model {path} was built with scikit-learn {sklearn_built} but scikit-learn {sklearn_installed} "
            f"is installed; install scikit-learn=={sklearn_built} or retrain with `python -m training train`"
        )
    for library in CHECKED_LIBRARIES:
        built = built_with.get(library)
        if built is not None and built != installed[library]:
            raise ArtifactError(
                f"model {path} was built with {library} {built}, {installed[library]} is installed; install "
                f"{library}=={built} or retrain with `python -m training train`"
            )


def pickle_globals(data: bytes) -> set[tuple[str, str]]:
    """The (module, name) pairs the pickle `data` would import, read from its opcodes without executing any.
    Raises `ArtifactError` for a pickle whose imports cannot be read statically (names built at load time,
    the copyreg extension registry) or that is malformed."""
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
                    raise ArtifactError("the pickle imports a name built at load time; refusing it")
                found.add((module, qualname))
                pushed.append(None)
            elif name in ("EXT1", "EXT2", "EXT4"):
                raise ArtifactError("the pickle uses the copyreg extension registry; refusing it")
            else:
                pushed.append(None)
    except ArtifactError:
        raise
    except Exception as exc:  # a malformed or truncated pickle
        raise ArtifactError(f"the pickle is malformed: {exc}") from None
    return found


@functools.lru_cache(maxsize=1024)
def allowed_global(module: str, qualname: str) -> bool:
    """Whether a model pickle may import `module.qualname` (see the module docstring for the allow-list).
    Importing `module` to look the name up runs only modules inside the allowed packages."""
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
    # A class (constructing estimators and arrays), defined inside the allowed packages themselves (not a
    # class re-exported from elsewhere, like a module's `subprocess.Popen`).
    return isinstance(obj, type) and str(getattr(obj, "__module__", "")).split(".")[0] in SAFE_PACKAGES


def _refusal(refused: list[str]) -> str:
    names = ", ".join(refused)
    which = "which is" if len(refused) == 1 else "which are"
    return f"the pickle references {names}, {which} not on the allow-list"


def check_pickle(raw: bytes) -> None:
    """Refuse (`ArtifactError`) the uncompressed pickle `raw` if it references any global outside the
    allow-list; the message names every offending global."""
    refused = sorted(f"{m}.{n}" for m, n in pickle_globals(raw) if not allowed_global(m, n))
    if refused:
        raise ArtifactError(_refusal(refused))


class _AllowListUnpickler(pickle.Unpickler):
    """Builds only what `check_pickle` has already let through (a second guard, not the first)."""

    def find_class(self, module: str, name: str) -> Any:
        if not allowed_global(module, name):
            raise ArtifactError(_refusal([f"{module}.{name}"]))
        return super().find_class(module, name)


# sha256s of pickles whose opcode scan passed in this process. The scan reads every opcode of a file of tens
# of MB (seconds); bytes with the same sha256 import the same globals, so a reload of the same file (a
# worker's hot-reload check, a rollback to a model it served before) needs only the sha256 check above, and
# the allow-list unpickler still refuses any global the scan would have. Bounded: one entry per distinct file.
_SCANNED: set[str] = set()


def verify_artifact(path: Path | str, expected_sha256: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Verify the artifact at `path` (all checks of the module docstring, in that order) and only then
    unpickle it. Returns (the unpickled payload, the sidecar dict). `expected_sha256`: an optional pin the
    file must match as well as its sidecar. Raises `ArtifactError` naming the file and the failed check."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file {path} not found")
    metadata = read_metadata(path)
    try:
        # Read once: the bytes checked are the bytes unpickled, so the file cannot change in between.
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"model file {path} is unreadable: {exc}") from None
    sha = _check_bytes(path, data, metadata, expected_sha256)
    _check_versions(path, metadata)
    if data[:2] != GZIP_MAGIC:
        raise ArtifactError(
            f"model file {path} is not a gzip-pickle artifact, the only format that can be checked before "
            "loading; re-save it with `training.offline.pipeline.save_model`"
        )
    try:
        raw = gzip.decompress(data)
    except Exception as exc:  # noqa: BLE001  bad gzip data: EOFError, OSError, zlib.error
        raise ArtifactError(f"model file {path} does not decompress: {exc}") from None
    if sha not in _SCANNED:
        try:
            check_pickle(raw)
        except ArtifactError as exc:
            raise ArtifactError(f"model file {path} refused: {exc}") from None
        _SCANNED.add(sha)
    try:
        payload = _AllowListUnpickler(io.BytesIO(raw)).load()
    except ArtifactError as exc:
        raise ArtifactError(f"model file {path} refused: {exc}") from None
    except Exception as exc:  # a corrupt pickle can raise almost anything
        raise ArtifactError(f"model file {path} could not be unpickled: {exc}") from exc
    return payload, metadata
