"""Registering a model goes through training's one verified loader: a pickle that would run code, with a
sidecar forged to match it, is refused naming the offending global before any of its code runs."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from moderation.models import ModelVersion
from moderation.services.registry import VerificationError, load_verified, register_model
from tests.training.test_verified_loading import evil_artifact
from training.runtime import ArtifactError

pytestmark = pytest.mark.django_db


def test_register_model_refuses_a_code_running_pickle(tmp_path):
    marker = tmp_path / "pwned"
    evil = evil_artifact(tmp_path, marker)
    with pytest.raises(VerificationError, match=r"posix\.system, which is not on the allow-list"):
        register_model(evil)
    with pytest.raises(CommandError, match=r"refused: .*posix\.system"):
        call_command("register_model", str(evil), "--promote")
    with pytest.raises(VerificationError, match="posix.system"):
        load_verified(evil)
    assert not ModelVersion.objects.exists()
    assert not marker.exists()


def test_verification_error_is_trainings_artifact_error():
    assert issubclass(VerificationError, ArtifactError)
