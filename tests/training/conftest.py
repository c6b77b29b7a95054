import shutil
from pathlib import Path

import pytest

from training.runtime import default_model_path, load_model


@pytest.fixture(scope="session")
def shipped_model():
    """The committed default model, verified and loaded once per test session."""
    return load_model(default_model_path())


@pytest.fixture
def artifact_copy(tmp_path) -> Path:
    """A copy of the shipped .joblib + .json in tmp_path, free to corrupt."""
    src = default_model_path()
    dst = tmp_path / "model.joblib"
    shutil.copyfile(src, dst)
    shutil.copyfile(src.with_suffix(".json"), tmp_path / "model.json")
    return dst
