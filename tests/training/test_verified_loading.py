"""One verified loader: every way of loading a model file refuses a pickle that would run code, before any of
its code runs, even when its sidecar is forged to match it (right sha256 and size, the rest copied from the
shipped model's).

The artifact below would create a marker file when unpickled; each test asserts the refusal names the
offending global and that the marker was never created."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import pytest

from training.runtime import ArtifactError, default_model_path, load_model
from training.verify import allowed_global, check_pickle, pickle_globals

REPO = Path(__file__).resolve().parents[2]


class _RunsCode:
    """Unpickling this runs `touch <marker>` through os.system: what a malicious artifact would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def forge_sidecar(path: Path, data: bytes) -> None:
    """A sidecar describing `data` exactly (sha256, size), the rest copied from the shipped model's."""
    meta = json.loads(default_model_path().with_suffix(".json").read_text())
    meta.update(version="evil-1", sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    path.with_suffix(".json").write_text(json.dumps(meta))


def evil_artifact(directory: Path, marker: Path) -> Path:
    """A gzip-pickle artifact in the shipped format whose unpickling would create `marker`."""
    data = gzip.compress(pickle.dumps({"format": 1, "normalizer": _RunsCode(marker)}, protocol=5))
    path = directory / "evil.joblib"
    path.write_bytes(data)
    forge_sidecar(path, data)
    return path


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def evil(tmp_path, marker) -> Path:
    return evil_artifact(tmp_path, marker)


def test_the_payload_really_would_run_code(tmp_path):
    proof = tmp_path / "proof"
    proof.mkdir()
    pickle.loads(gzip.decompress(evil_artifact(proof, proof / "ran").read_bytes()))
    assert (proof / "ran").exists()


def test_load_model_refuses_it_naming_the_global(evil, marker):
    with pytest.raises(ArtifactError) as info:
        load_model(evil)
    assert "posix.system" in str(info.value) and "not on the allow-list" in str(info.value)
    assert str(evil) in str(info.value)
    # A pin to the file's own hash changes nothing: the scan is not skipped for a "trusted" file.
    with pytest.raises(ArtifactError, match="posix.system"):
        load_model(evil, expected_sha256=hashlib.sha256(evil.read_bytes()).hexdigest())
    assert not marker.exists()


def test_every_offending_global_is_named(tmp_path):
    data = gzip.compress(b"cbuiltins\nexec\n(S'1'\ntRcsubprocess\ncall\n(S'true'\ntR.")
    path = tmp_path / "two.joblib"
    path.write_bytes(data)
    forge_sidecar(path, data)
    names = r"builtins\.exec, subprocess\.call, which are not on the allow-list"
    with pytest.raises(ArtifactError, match=names):
        load_model(path)


def test_formats_that_cannot_be_scanned_are_refused(tmp_path, marker):
    # The old joblib format stores arrays between pickle opcodes, so it cannot be audited before loading.
    legacy = tmp_path / "legacy.joblib"
    joblib.dump({"format": 1, "normalizer": _RunsCode(marker)}, legacy)
    forge_sidecar(legacy, legacy.read_bytes())
    with pytest.raises(ArtifactError, match="not a gzip-pickle artifact"):
        load_model(legacy)
    plain = tmp_path / "plain.joblib"
    plain.write_bytes(pickle.dumps(_RunsCode(marker)))
    forge_sidecar(plain, plain.read_bytes())
    with pytest.raises(ArtifactError, match="not a gzip-pickle artifact"):
        load_model(plain)
    assert not marker.exists()


def test_names_built_at_load_time_are_refused():
    # STACK_GLOBAL whose module name is not a literal but the result of a call (str("os"))
    raw = b"\x80\x04cbuiltins\nstr\n(S'os'\ntRX\x06\x00\x00\x00system\x93."
    with pytest.raises(ArtifactError, match="built at load time"):
        pickle_globals(raw)
    with pytest.raises(ArtifactError, match="malformed"):
        check_pickle(b"\x80\x05not a pickle")


@pytest.mark.parametrize(
    "module,name,allowed",
    [
        ("training.features", "TextNormalizer", True),
        ("sklearn.pipeline", "FeatureUnion", True),
        ("numpy._core.multiarray", "_reconstruct", True),
        ("builtins", "set", True),
        ("posix", "system", False),
        ("builtins", "eval", False),
        ("numpy", "memmap", False),
        ("numpy", "load", False),  # a function, not a class
        ("training.offline.report", "write_report", False),
        ("subprocess", "Popen", False),
    ],
)
def test_the_allow_list(module, name, allowed):
    assert allowed_global(module, name) is allowed


def test_the_shipped_model_references_only_serving_classes():
    """Every `training` name the shipped pickle references resolves and lives in the serving face (moving
    it would break every shipped artifact)."""
    raw = gzip.decompress(default_model_path().read_bytes())
    ours = {(m, n) for m, n in pickle_globals(raw) if m.split(".")[0] == "training"}
    assert ours and all(not m.startswith("training.offline") for m, _ in ours)
    assert all(allowed_global(m, n) for m, n in pickle_globals(raw))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def labelled_csv(tmp_path) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text("text,label\nyou idiot,1\nnice article,0\n")
    return path


@pytest.mark.parametrize(
    "command,option",
    [("evaluate", "--model"), ("predict", "--model"), ("compare", "--baseline")],
)
def test_the_cli_refuses_it(evil, marker, labelled_csv, tmp_path, command, option):
    args = [command, option, str(evil), "--data", str(labelled_csv)]
    args += ["--out", str(tmp_path / "out.csv")] if command == "predict" else ["--label-column", "label"]
    result = _cli(*args)
    assert result.returncode == 3, result.stderr
    assert f"error: {option}:" in result.stderr and "posix.system" in result.stderr
    assert "not on the allow-list" in result.stderr
    assert not marker.exists() and not (tmp_path / "out.csv").exists()


def test_a_worker_started_with_it_refuses_it(evil, marker):
    """What the worker runs at start (worker_init: `load_model_before_consuming`, then the first batch's
    `current_model()`), with MODERATION_MODEL_PATH pointing at the artifact."""
    script = textwrap.dedent(
        """
        import django
        django.setup()
        from moderation.scoring import ModelUnavailable, current_model
        from worker.startup import load_model_before_consuming

        load_model_before_consuming()
        try:
            current_model()
        except ModelUnavailable as exc:
            print(exc)
            raise SystemExit(3)
        raise SystemExit(0)
        """
    )
    env = {**os.environ, "MODERATION_MODEL_PATH": str(evil), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "posix.system" in result.stdout and "not on the allow-list" in result.stdout
    assert not marker.exists()


def test_a_reload_of_the_same_bytes_skips_only_the_opcode_scan(tmp_path, marker, monkeypatch):
    """The scan of a file already scanned in this process is remembered by its sha256; a file with other
    bytes (the evil one, under the name of one that passed) is scanned again and refused."""
    import training.verify as verify

    scans = []
    real = verify.check_pickle
    monkeypatch.setattr(verify, "check_pickle", lambda raw: (scans.append(1), real(raw))[1])
    monkeypatch.setattr(verify, "_SCANNED", set())
    good = tmp_path / "good.joblib"
    good.write_bytes(default_model_path().read_bytes())
    good.with_suffix(".json").write_bytes(default_model_path().with_suffix(".json").read_bytes())
    load_model(good, second_stage=False)
    load_model(good, second_stage=False)
    assert len(scans) == 1
    (tmp_path / "x").mkdir()
    evil = evil_artifact(tmp_path / "x", marker)
    good.write_bytes(evil.read_bytes())
    good.with_suffix(".json").write_bytes(evil.with_suffix(".json").read_bytes())
    with pytest.raises(ArtifactError, match="posix.system"):
        load_model(good, second_stage=False)
    assert len(scans) == 2 and not marker.exists()
