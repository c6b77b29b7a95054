"""Serving a site's adapter (issue 20 item 5): registering it (verified on the active model, refused for
another model, another site or a damaged file), activating it so it re-scores toxicity for its site only,
dropping it when the active model changes, decisions carrying its version, and shadowing it first.

A real adapter: fitted with training.offline.adapt on the shipped model (fast stage) for a made-up site whose
moderators reject fruit adverts, which the shared model finds harmless (as tests/training/test_adapter.py)."""

from __future__ import annotations

import copy
import json
import logging
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from moderation import scoring as engine
from moderation.models import AuditEntry, Comment, Decision, ModelVersion, ShadowScore, SiteAdapterVersion
from moderation.ops.metrics import ModerationCollector
from moderation.selectors.labels import label_rows
from moderation.selectors.shadow import shadow_report
from moderation.services import accept_comment, decide_comments, get_or_create_site, submit_and_decide
from moderation.services.adapters import (
    activate_adapter,
    register_adapter,
    remove_adapter,
)
from moderation.services.comments import set_policy_overrides
from moderation.services.registry import ACTIVATED, VerificationError, register_model, rollback
from moderation.services.shadow import score_pending
from moderation.validation import validate_submission
from tests.conftest import comment_payload
from tests.training.test_adapter import _site as _labels
from training.adapter import save_adapter
from training.offline.adapt import fit_adapter
from training.runtime import default_model_path, file_sha256, load_model

pytestmark = pytest.mark.django_db

ADVERTS = [
    "buy fresh mango today, best guava deals in town",
    "buy fresh durian today, best lychee deals in town",
]
CIVIL = ["I think the new bridge is a reasonable idea, thanks for reporting 7"]


@pytest.fixture(scope="module")
def shipped():
    return load_model(default_model_path(), second_stage=False)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, shipped):
    """{"fruit": the fruit site's adapter on the shipped model, "other_model": the same weights fitted on
    another model file (the shipped one with another toxicity review threshold), "second_model": that
    model's path}."""
    from training.offline.pipeline import save_model
    from training.runtime import ModelArtifact

    directory = tmp_path_factory.mktemp("adapters")
    texts, y = _labels(90, seed=1)
    fitted = fit_adapter(shipped, texts, y, review_budget=0.4)
    fruit = directory / "fruit.joblib"
    save_adapter(fitted, fruit, shipped, site="fruit")

    payload = copy.copy(shipped._payload)
    payload["thresholds"] = copy.deepcopy(payload["thresholds"])
    payload["thresholds"]["toxicity"]["review"] = round(payload["thresholds"]["toxicity"]["review"] * 0.9, 4)
    second = save_model(
        ModelArtifact(payload, {**shipped.metadata, "thresholds": payload["thresholds"]}, None),
        directory / "second.joblib",
    )
    other = copy.copy(fitted)
    other.base_model = {"version": second.version, "sha256": second.metadata["sha256"]}
    other_path = directory / "other_model.joblib"
    save_adapter(other, other_path, second, site="fruit")
    return {"fruit": fruit, "other_model": other_path, "second_model": second.path}


@pytest.fixture
def fresh_engine(settings):
    """The engine reading the registry on every call, with no adapter loaded; the shipped model stays loaded
    from one test to the next (loading it takes seconds), any other model is forgotten."""
    settings.MODERATION_MODEL_CHECK_SECONDS = 0
    engine.reset_for_tests(keep_model=True)
    yield engine
    shipped_sha = file_sha256(default_model_path())
    engine.reset_for_tests(keep_model=engine._sha(engine._model) == shipped_sha)


def _shipped_active() -> ModelVersion:
    """The shipped model registered and active, as ``manage.py bootstrap`` leaves a fresh install (its row
    and audit entry written here: registering verifies and loads the 30 MB file twice, which
    tests/moderation/services/test_registry*.py cover)."""
    path = default_model_path().resolve()
    metadata = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    row = ModelVersion.objects.create(
        version=metadata["version"],
        path=str(path),
        sha256=file_sha256(path),
        metadata=metadata,
        registered_by="bootstrap",
        is_active=True,
        activated_at=timezone.now(),
    )
    AuditEntry.objects.create(
        actor_label="bootstrap", action=ACTIVATED, after={"active": row.version, "sha256": row.sha256}
    )
    return row


@pytest.fixture
def sites(db):
    return get_or_create_site("fruit", "Fruit Gazette"), get_or_create_site("plain", "Plain News")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    shutil.copyfile(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def _store(site, texts: list[str], prefix: str) -> list[Comment]:
    return [
        accept_comment(site, validate_submission(comment_payload(f"{prefix}-{i}", text=text)), "api")[0]
        for i, text in enumerate(texts)
    ]


def _serve_fruit_adapter(site, path: Path) -> SiteAdapterVersion:
    _shipped_active()
    row = register_adapter(site, path, actor_label="ds")
    return activate_adapter(site, row.version, actor_label="ds")


def test_registering_refuses_another_models_adapter_a_damaged_file_and_another_sites(
    fresh_engine, sites, artifacts, tmp_path
):
    fruit, plain = sites
    _shipped_active()

    with pytest.raises(VerificationError, match="was fitted on model .* not on"):
        register_adapter(fruit, artifacts["other_model"])
    with pytest.raises(CommandError, match="refused: .*refit it"):
        call_command("register_adapter", str(artifacts["other_model"]), "--site", "fruit")

    damaged = _copy(artifacts["fruit"], tmp_path / "damaged.joblib")
    data = bytearray(damaged.read_bytes())
    data[-20] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="sha256"):
        register_adapter(fruit, damaged)

    with pytest.raises(VerificationError, match="fitted for site 'fruit', not 'plain'"):
        register_adapter(plain, artifacts["fruit"])
    with pytest.raises(CommandError, match="--site: no site 'nowhere'"):
        call_command("register_adapter", str(artifacts["fruit"]), "--site", "nowhere")
    assert not SiteAdapterVersion.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="adapter_").exists()

    call_command("register_adapter", str(artifacts["fruit"]), "--site", "fruit", "--by", "ds")
    row = SiteAdapterVersion.objects.get()
    assert (row.site, row.label, row.is_active, row.is_shadow) == (fruit, "toxicity", False, False)
    assert row.base_model_sha256 == load_model().metadata["sha256"]
    entry = AuditEntry.objects.get(action="adapter_registered")
    assert entry.actor_label == "ds" and entry.after["adapter"] == row.version
    assert register_adapter(fruit, artifacts["fruit"]) == row  # the same file again: the same row


def test_an_active_adapter_changes_its_sites_toxicity_and_verdict_only(fresh_engine, sites, artifacts):
    fruit, plain = sites
    row = _serve_fruit_adapter(fruit, artifacts["fruit"])
    assert AuditEntry.objects.filter(action="adapter_activated", after__adapter=row.version).exists()
    assert _adapter_series() == {("fruit", row.version, "true"): 1}
    model = engine.current_model()
    texts = ADVERTS + CIVIL
    shared = model.score(texts)

    # One batch with both sites' comments, as a worker decides stored comments.
    ours, theirs = _store(fruit, texts, "f"), _store(plain, texts, "p")
    assert decide_comments([c.pk for c in ours + theirs]) == []
    for comment, scores in zip(theirs, shared, strict=True):
        comment.refresh_from_db()
        # the shared model's (to float noise: the encoder pads a batch to its longest text)
        assert comment.scores == pytest.approx(scores, abs=1e-9)
        assert (comment.status, comment.adapter_version) == ("approved", "")
    review = row.thresholds["toxicity"]["review"]
    for comment, scores in zip(ours, shared, strict=True):
        comment.refresh_from_db()
        assert comment.adapter_version == row.version
        assert {k: v for k, v in comment.scores.items() if k != "toxicity"} == pytest.approx(
            {k: v for k, v in scores.items() if k != "toxicity"}, abs=1e-9
        )
        assert comment.scores["toxicity"] != scores["toxicity"]
        decision = Decision.objects.get(comment=comment, kind="auto")
        assert (decision.adapter_version, decision.model_version) == (row.version, model.version)
    adverts, civil = ours[: len(ADVERTS)], ours[len(ADVERTS) :]
    assert all(c.status == "needs_review" and c.scores["toxicity"] >= review for c in adverts)
    assert all(c.status == "approved" for c in civil)
    assert all(c.label_bands.get("toxicity") == "review" for c in adverts)
    # Previewing the site's thresholds replays its stored (adapted) scores at the adapter's thresholds.
    preview = json.loads(_call("preview_thresholds", "--site", "fruit", "--json"))
    assert preview["thresholds"]["toxicity"] == row.thresholds["toxicity"]
    assert preview["proposed"]["volumes"] == preview["current"]["volumes"]
    assert preview["current"]["volumes"]["needs_review"] == len(ADVERTS)

    # The Celery path (score before storing) and the synchronous check give the same.
    submit_and_decide(fruit, [validate_submission(comment_payload("celery-1", text=ADVERTS[0]))])
    celery = Comment.objects.get(site=fruit, site_comment_id="c-celery-1")
    assert (celery.status, celery.adapter_version) == ("needs_review", row.version)
    assert celery.scores == pytest.approx(adverts[0].scores, abs=1e-9)
    (checked,) = engine.verdicts(fruit, [ADVERTS[0]])
    (shared_check,) = engine.verdicts(plain, [ADVERTS[0]])
    assert (checked.outcome, checked.adapter_version) == ("needs_review", row.version)
    assert (shared_check.outcome, shared_check.adapter_version) == ("approved", "")
    assert shared_check.scores == pytest.approx(shared[0], abs=1e-9)

    # The site's own override is merged over the adapter's threshold: it stays the site's last word.
    set_policy_overrides(fruit, {"toxicity": {"review": 0.999, "reject": 1.0}}, actor_label="ed")
    fruit.refresh_from_db()
    (relaxed,) = engine.verdicts(fruit, [ADVERTS[0]])
    assert (relaxed.outcome, relaxed.adapter_version) == ("approved", row.version)

    # Removing it gives the site the shared scores again.
    remove_adapter(fruit, actor_label="ds")
    (back,) = engine.verdicts(plain, [ADVERTS[0]])
    (fruit_back,) = engine.verdicts(fruit, [ADVERTS[0]])
    assert fruit_back.scores == back.scores == pytest.approx(shared[0], abs=1e-9)
    assert fruit_back.adapter_version == ""
    assert AuditEntry.objects.filter(action="adapter_removed", before__adapter=row.version).exists()


def test_promoting_another_model_drops_the_adapter_with_a_warning(fresh_engine, sites, artifacts, caplog):
    fruit, _ = sites
    row = _serve_fruit_adapter(fruit, artifacts["fruit"])
    second = register_model(artifacts["second_model"])
    # The second model's adapter is refused while the shipped model serves.
    with pytest.raises(CommandError, match="was fitted on model"):
        call_command("register_adapter", str(artifacts["other_model"]), "--site", "fruit")

    from io import StringIO

    err = StringIO()
    call_command("promote", second.version, stderr=err)
    assert f"site fruit's adapter {row.version} was fitted on model" in err.getvalue()

    caplog.set_level(logging.WARNING, logger="moderation.scoring")
    (comment,) = _store(fruit, [ADVERTS[0]], "after-promote")
    assert decide_comments([comment.pk]) == []
    comment.refresh_from_db()
    model = engine.current_model()
    assert model.version == second.version
    assert comment.adapter_version == "" and comment.model_version == second.version
    assert comment.scores == model.score([ADVERTS[0]])[0]  # the shared scores of the model now active
    series = {
        tuple(sample.labels.values()): sample.value for sample in ModerationCollector().adapters().samples
    }
    assert series == {("fruit", row.version, "false"): 1}  # what an alert reads
    warnings = [r for r in caplog.records if "fitted on another model" in r.getMessage()]
    assert len(warnings) == 1 and row.version in warnings[0].getMessage()
    engine.verdicts(fruit, [ADVERTS[1]])
    assert len([r for r in caplog.records if "fitted on another model" in r.getMessage()]) == 1  # once

    # The new model's own adapter for the site registers now; a rollback serves the first one again.
    register_adapter(fruit, artifacts["other_model"])
    rollback()
    (again,) = engine.verdicts(fruit, [ADVERTS[0]])
    assert again.adapter_version == row.version and again.outcome == "needs_review"


def test_a_broken_adapter_file_never_fails_a_decision(fresh_engine, sites, artifacts, tmp_path, caplog):
    fruit, _ = sites
    path = _copy(artifacts["fruit"], tmp_path / "fruit.joblib")
    _serve_fruit_adapter(fruit, path)
    path.write_bytes(path.read_bytes()[:-10])  # damaged on disk after it was activated
    caplog.set_level(logging.ERROR, logger="moderation.scoring")
    (comment,) = _store(fruit, [ADVERTS[0]], "broken")
    assert decide_comments([comment.pk]) == []
    comment.refresh_from_db()
    assert comment.status == "approved" and comment.adapter_version == ""
    assert comment.scores == engine.current_model().score([ADVERTS[0]])[0]
    assert any("failed verification, not served" in r.getMessage() for r in caplog.records)


def test_a_shadow_adapter_records_its_would_be_outcome_without_deciding(
    fresh_engine, sites, artifacts, admin_client
):
    fruit, plain = sites
    _shipped_active()
    row = register_adapter(fruit, artifacts["fruit"])
    call_command("adapter", "--site", "fruit", "--shadow", "--by", "ds")
    row.refresh_from_db()
    assert row.is_shadow and not row.is_active
    assert AuditEntry.objects.filter(action="adapter_shadow_started", actor_label="ds").exists()

    ours, theirs = _store(fruit, ADVERTS + CIVIL, "s"), _store(plain, ADVERTS, "t")
    decide_comments([c.pk for c in ours + theirs])
    before = list(Comment.objects.order_by("pk").values_list("status", "scores", "adapter_version"))
    assert all(status == "approved" and version == "" for status, _, version in before)

    assert score_pending() == len(ours)  # only the site's comments
    assert score_pending() == 0
    assert list(Comment.objects.order_by("pk").values_list("status", "scores", "adapter_version")) == before
    shadowed = {s.comment_id: s for s in ShadowScore.objects.filter(model_version=row.version)}
    assert set(shadowed) == {c.pk for c in ours}
    assert [shadowed[c.pk].outcome for c in ours] == ["needs_review", "needs_review", "approved"]
    report = shadow_report(row.version)
    assert report["scored"] == 3 and report["changes"] == {"approved→needs_review": 2}
    assert report["labels"]["toxicity"]["would_change"] == 2 and report["unregistered"] == {}
    page = admin_client.get(f"/admin/moderation/siteadapterversion/{row.pk}/change/").content.decode()
    assert "3 comments scored; 2 outcomes would change" in page

    call_command("adapter", "--site", "fruit", "--activate", row.version)
    row.refresh_from_db()
    assert row.is_active and not row.is_shadow
    listed = json.loads(_call("adapter", "--site", "fruit"))
    assert [(r["version"], r["state"], r["serves"]) for r in listed] == [(row.version, "active", True)]
    page = admin_client.get("/admin/moderation/siteadapterversion/")
    assert page.status_code == 200 and row.version in page.content.decode()


def test_decisions_the_api_and_the_label_export_carry_the_adapter_version(
    fresh_engine, sites, artifacts, moderator, client, admin_client
):
    from moderation.services import create_api_key, moderate_comments

    fruit, plain = sites
    row = _serve_fruit_adapter(fruit, artifacts["fruit"])
    (comment,) = _store(fruit, [ADVERTS[0]], "export")
    decide_comments([comment.pk])
    comment.refresh_from_db()
    moderate_comments({comment.pk: comment.status}, moderator, "reject", "toxic")
    page = admin_client.get(f"/dashboard/comments/{comment.pk}/").content.decode()
    assert f"site adapter {row.version}" in page and "this site's adapter" in page
    moderated = Decision.objects.get(comment=comment, kind="moderator")
    assert moderated.adapter_version == row.version
    (exported,) = [r for r in label_rows(timezone.now() - timedelta(days=1)) if r["comment_id"] == comment.pk]
    assert exported["adapter_version"] == row.version and exported["label"] == "toxic"

    _, key = create_api_key(fruit)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    state = client.get(f"/api/v1/comments/{comment.pk}", **headers).json()
    assert (state["adapter_version"], state["status"]) == (row.version, "rejected")
    check = client.post(
        "/api/v1/check", {"text": ADVERTS[1]}, content_type="application/json", **headers
    ).json()
    assert (check["adapter_version"], check["outcome"]) == (row.version, "needs_review")

    # The Perspective-compatible endpoint answers the site's TOXICITY as its comments are scored.
    body = {"comment": {"text": ADVERTS[1]}, "requestedAttributes": {"TOXICITY": {}}}
    _, other_key = create_api_key(plain)
    analyze = "/v1alpha1/comments:analyze?key="
    answers = {
        slug: client.post(analyze + k, body, content_type="application/json").json()
        for slug, k in (("fruit", key), ("plain", other_key))
    }
    toxicity = {s: a["attributeScores"]["TOXICITY"]["summaryScore"]["value"] for s, a in answers.items()}
    assert toxicity["fruit"] == pytest.approx(check["scores"]["toxicity"])
    assert toxicity["plain"] == pytest.approx(engine.current_model().score([ADVERTS[1]])[0]["toxicity"])
    assert toxicity["fruit"] > toxicity["plain"]


def _call(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _adapter_series() -> dict[tuple, float]:
    """/metrics' moderation_site_adapter_info series: (site, version, serves) -> value."""
    return {
        (sample.labels["site"], sample.labels["version"], sample.labels["serves"]): sample.value
        for sample in ModerationCollector().adapters().samples
    }
