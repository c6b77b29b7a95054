"""Model registry: register (verification before anything is unpickled), promote / rollback with audit
entries, and the engine switching versions in a running process while never serving a file that failed
verification."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from moderation import scoring as engine
from moderation.models import AuditEntry, ModelVersion
from moderation.services.registry import VerificationError, load_verified, promote, register_model, rollback
from training.runtime import default_model_path, load_model

pytestmark = pytest.mark.django_db


def copy_artifact(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    shutil.copyfile(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


@pytest.fixture(scope="module")
def second_model(tmp_path_factory) -> Path:
    """The shipped model with another toxicity review threshold: another file, another version."""
    from training.offline.pipeline import save_model
    from training.runtime import ModelArtifact

    shipped = load_model()
    payload = copy.copy(shipped._payload)
    payload["thresholds"] = copy.deepcopy(payload["thresholds"])
    payload["thresholds"]["toxicity"]["review"] = round(payload["thresholds"]["toxicity"]["review"] * 0.9, 4)
    path = tmp_path_factory.mktemp("second") / "second.joblib"
    return save_model(
        ModelArtifact(payload, {**shipped.metadata, "thresholds": payload["thresholds"]}, None), path
    ).path


@pytest.fixture
def fresh_engine(settings):
    settings.MODERATION_MODEL_CHECK_SECONDS = 0  # read the active version on every call
    engine.reset_for_tests()
    yield engine
    engine.reset_for_tests()


def evil_artifact(directory: Path, sentinel: Path) -> Path:
    """An artifact whose unpickling would run a shell command (creating ``sentinel``), with a sidecar that
    matches it in every respect: sha256, size, library versions."""

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    data = gzip.compress(pickle.dumps({"format": 1, "normalizer": Evil()}, protocol=5))
    path = directory / "evil.joblib"
    path.write_bytes(data)
    meta = json.loads(default_model_path().with_suffix(".json").read_text())
    meta.update(version="evil-1", sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def test_register_verifies_and_records_with_an_audit_entry(capsys):
    call_command("register_model", str(default_model_path()), "--by", "ds")
    row = ModelVersion.objects.get()
    shipped = load_model()
    assert row.version == shipped.version and row.sha256 == shipped.metadata["sha256"]
    assert row.path == str(default_model_path().resolve()) and not row.is_active
    assert len(row.smoke_scores) == 3 and all(
        set(s) == set(shipped.labels) for s in row.smoke_scores.values()
    )
    assert AuditEntry.objects.get(action="model_registered").actor_label == "ds"
    assert "registered " + shipped.version in capsys.readouterr().out
    assert register_model(default_model_path()) == row  # the same file again: nothing new
    assert ModelVersion.objects.count() == 1


def test_promote_and_rollback_switch_the_active_version_with_audit(second_model, capsys):
    a = register_model(default_model_path())
    b = register_model(second_model)
    assert a.version != b.version
    call_command("promote", a.version, "--by", "ana")
    call_command("promote", b.version, "--by", "ana")
    assert ModelVersion.objects.get(is_active=True) == b
    call_command("rollback", "--by", "ana")
    assert ModelVersion.objects.get(is_active=True) == a
    assert "active model: " + a.version in capsys.readouterr().out
    audit = list(
        AuditEntry.objects.filter(action__startswith="model_")
        .order_by("id")
        .values_list("action", "before", "after")
    )
    assert [
        (x, before["active"], after["active"]) for x, before, after in audit if x != "model_registered"
    ] == [
        ("model_promoted", None, a.version),
        ("model_promoted", a.version, b.version),
        ("model_rolled_back", b.version, a.version),
    ]
    with pytest.raises(CommandError, match="no registered version"):
        call_command("promote", "nope")


def test_a_pickle_that_would_run_code_is_refused_before_loading(tmp_path, fresh_engine):
    sentinel = tmp_path / "pwned"
    evil = evil_artifact(tmp_path, sentinel)
    with pytest.raises(VerificationError, match="posix.system"):
        register_model(evil)
    with pytest.raises(CommandError, match="refused"):
        call_command("register_model", str(evil))
    assert not ModelVersion.objects.filter(version="evil-1").exists()
    assert not sentinel.exists()

    # Even if a row for it got into the registry (by hand) and were made active, no process loads it, and the
    # model already serving keeps serving.
    good = promote(register_model(default_model_path()).version)
    assert engine.current_model().version == good.version
    ModelVersion.objects.update(is_active=False)
    ModelVersion.objects.create(
        version="evil-1", path=str(evil), sha256=hashlib.sha256(evil.read_bytes()).hexdigest(), is_active=True
    )
    assert engine.current_model().version == good.version
    assert not sentinel.exists()


def test_a_truncated_file_is_refused_and_the_active_model_keeps_serving(tmp_path, second_model, fresh_engine):
    truncated = copy_artifact(default_model_path(), tmp_path / "truncated.joblib")
    truncated.write_bytes(truncated.read_bytes()[:100_000])
    with pytest.raises(VerificationError, match="truncated"):
        register_model(truncated)

    a = promote(register_model(default_model_path()).version)
    assert engine.current_model().version == a.version
    # Registered while whole, truncated on disk afterwards: promote re-verifies and refuses ...
    copy_b = copy_artifact(second_model, tmp_path / "b.joblib")
    b = register_model(copy_b)
    copy_b.write_bytes(copy_b.read_bytes()[:-10])
    with pytest.raises(VerificationError):
        promote(b.version)
    assert ModelVersion.objects.get(is_active=True) == a
    # ... and a worker told to switch to it (the file broke after promotion) keeps the model it has.
    ModelVersion.objects.update(is_active=False)
    ModelVersion.objects.filter(pk=b.pk).update(is_active=True)
    assert engine.current_model().version == a.version
    assert engine.current_model().score(["fine"])  # still serving


def test_the_engine_switches_to_the_promoted_version_without_a_restart(second_model, fresh_engine):
    a = register_model(default_model_path())
    b = register_model(second_model)
    assert engine.current_model().version == a.version  # nothing active: the configured file, as before
    promote(b.version)
    assert engine.current_model().version == b.version
    promote(a.version)
    assert engine.current_model().version == a.version
    rollback()
    assert engine.current_model().version == b.version


def test_a_loaded_model_is_kept_out_of_the_collectors_way_and_a_replaced_one_is_freed(
    second_model, fresh_engine
):
    """A full collection walked the model's vocabularies (53 ms on two cores); after a load they sit in the
    permanent generation. A replaced model does not stay there: the switch unfreezes and collects first."""
    import gc
    import weakref

    a = register_model(default_model_path())
    b = register_model(second_model)
    promote(a.version)
    first = engine.current_model()
    vocabulary = first._payload["features"]
    assert gc.get_freeze_count() > 0
    assert not any(obj is vocabulary for obj in gc.get_objects())  # tracked, but not by any generation
    gone = weakref.ref(first)
    promote(b.version)
    assert engine.current_model().version == b.version
    del first, vocabulary
    gc.collect()
    assert gone() is None


def test_the_engine_reads_the_active_version_at_most_every_few_seconds(
    second_model, settings, django_assert_num_queries
):
    settings.MODERATION_MODEL_CHECK_SECONDS = 3600
    engine.reset_for_tests()
    try:
        promote(register_model(default_model_path()).version)
        engine.current_model()
        with django_assert_num_queries(0):
            for _ in range(5):
                engine.current_model()
    finally:
        engine.reset_for_tests()


def test_other_library_versions_and_bad_pickles_are_refused(tmp_path):
    other = copy_artifact(default_model_path(), tmp_path / "other.joblib")
    meta = json.loads(other.with_suffix(".json").read_text())
    meta["library_versions"]["numpy"] = "0.0.1"
    other.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(VerificationError, match="numpy 0.0.1"):
        load_verified(other)

    # A protocol-0 pickle calling builtins.exec: refused by the opcode scan (the sidecar matches it).
    path = tmp_path / "exec.joblib"
    data = gzip.compress(b"cbuiltins\nexec\n(S'1'\ntR.")
    path.write_bytes(data)
    m = json.loads(default_model_path().with_suffix(".json").read_text())
    m.update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    path.with_suffix(".json").write_text(json.dumps(m))
    with pytest.raises(VerificationError, match="builtins.exec"):
        load_verified(path)


def test_admin_lists_versions_and_promotes(second_model, admin_client):
    a = register_model(default_model_path())
    b = register_model(second_model)
    assert admin_client.get("/admin/moderation/modelversion/").status_code == 200
    admin_client.post(
        "/admin/moderation/modelversion/", {"action": "promote_selected", "_selected_action": [b.pk]}
    )
    assert ModelVersion.objects.get(is_active=True) == b
    assert AuditEntry.objects.filter(action="model_promoted", actor_label="admin").exists()
    admin_client.post(
        "/admin/moderation/modelversion/", {"action": "promote_selected", "_selected_action": [a.pk]}
    )
    admin_client.post(
        "/admin/moderation/modelversion/", {"action": "rollback_active", "_selected_action": [a.pk]}
    )
    assert ModelVersion.objects.get(is_active=True) == b


def test_admin_rollback_racing_another_switch_says_so(second_model, admin_client, monkeypatch):
    from moderation.services import registry

    register_model(default_model_path())
    promote(register_model(second_model).version)

    def raced(**kwargs):
        raise registry.ActiveVersionChanged("the active version changed to x meanwhile; nothing done")

    monkeypatch.setattr(registry, "rollback", raced)
    response = admin_client.post(
        "/admin/moderation/modelversion/",
        {"action": "rollback_active", "_selected_action": [ModelVersion.objects.first().pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Not rolled back: the active version changed to x meanwhile" in response.content.decode()


def test_after_promote_the_dashboard_explains_with_the_promoted_model(
    second_model, fresh_engine, admin_client, make_comment
):
    """Issue 19: one model handle per process. The dashboard used to load the model file for its explanations
    and thresholds while the workers decided with the registry's active version."""
    from moderation.services import ModelVerdict, record_model_decisions

    a = promote(register_model(default_model_path()).version)
    b = register_model(second_model)
    comment = make_comment(text="You are a stupid idiot")
    verdict = ModelVerdict(comment.pk, {"toxicity": 0.6}, a.version, {"toxicity": {"review": 0.5}})
    record_model_decisions([verdict])
    page = admin_client.get(f"/dashboard/comments/{comment.pk}/").content.decode()
    assert "Explained by the model in use now" not in page  # scored and explained by the active model
    promote(b.version)
    page = admin_client.get(f"/dashboard/comments/{comment.pk}/").content.decode()
    assert f"Explained by the model in use now ({b.version})" in page
    assert "<mark" in page  # and it does explain, with the promoted model
    assert engine.current_model().thresholds == load_model(second_model).thresholds
