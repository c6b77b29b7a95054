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


def small_config(**overrides):
    """A training config that trains in seconds: a few hundred rows per source, small vocabularies, no
    external evaluation. Override any field."""
    from training.offline.pipeline import TrainingConfig

    values = dict(
        max_rows_per_source=120,
        evaluate_external=False,
        word_max_features=3000,
        char_max_features=5000,
        identity_sentences_per_identity=2,
    )
    return TrainingConfig(**{**values, **overrides})
