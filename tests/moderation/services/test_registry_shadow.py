"""Shadow mode: a registered candidate scores decided comments beside the active model without changing any
decision; the report compares both with moderators' decisions and counts the decisions it would have
changed."""

from __future__ import annotations

import copy

import pytest
from django.core.management import CommandError, call_command

from moderation.models import AuditEntry, Comment, Decision, ShadowScore
from moderation.policy import apply_policy
from moderation.selectors.shadow import shadow_report
from moderation.services import ModelVerdict, moderate_comments, record_model_decisions
from moderation.services.registry import promote, register_model
from moderation.services.shadow import score_pending, start_shadow, stop_shadow
from training.runtime import default_model_path, load_model

pytestmark = pytest.mark.django_db

TEXTS = [
    "Pakistan is right to wait; recognising the Taliban now would reward them for nothing.",
    "You are a pathetic idiot and a moron, shut your stupid mouth.",
    "What a stupid take, honestly.",
    "CHECK OUT my channel!!! subscribe http://free-money.example.com win an iPhone now",
    "I disagree with the minister, but the article is fair.",
    "Shut up, nobody cares about your dumb opinion.",
]


@pytest.fixture(scope="module")
def strict_model(tmp_path_factory):
    """The shipped model with much lower review thresholds: it holds far more for review."""
    from training.offline.pipeline import save_model
    from training.runtime import ModelArtifact

    shipped = load_model()
    payload = copy.copy(shipped._payload)
    payload["thresholds"] = {
        label: {"reject": t["reject"], "review": round(t["review"] * 0.2, 4)}
        for label, t in shipped.thresholds.items()
    }
    return save_model(
        ModelArtifact(payload, {**shipped.metadata, "thresholds": payload["thresholds"]}, None),
        tmp_path_factory.mktemp("strict") / "strict.joblib",
    )


def test_shadow_scores_without_deciding_and_reports_against_moderators(make_comment, moderator, strict_model):
    active = load_model()
    promote(register_model(default_model_path()).version)
    candidate = register_model(strict_model.path)
    with pytest.raises(CommandError, match="active model"):
        call_command("shadow", active.version)
    call_command("shadow", candidate.version, "--by", "ds")
    assert AuditEntry.objects.filter(action="model_shadow_started", actor_label="ds").exists()

    comments = [make_comment(text=text) for text in TEXTS]
    record_model_decisions(
        ModelVerdict(c.pk, s, active.version, active.thresholds)
        for c, s in zip(comments, active.score(TEXTS), strict=True)
    )
    for comment in Comment.objects.filter(pk__in=[c.pk for c in comments[:4]]):
        moderate_comments(
            {comment.pk: comment.status},
            moderator,
            "reject" if comment.pk != comments[0].pk else "approve",
            "toxic",
        )
    before = list(
        Comment.objects.order_by("pk").values_list("status", "scores", "model_version", "decided_by")
    )
    decisions_before = Decision.objects.count()

    assert score_pending() == len(TEXTS)
    assert score_pending() == 0  # each comment once per shadow version
    assert (
        list(Comment.objects.order_by("pk").values_list("status", "scores", "model_version", "decided_by"))
        == before
    )  # nothing about a decision changed
    assert Decision.objects.count() == decisions_before

    expected_changes = 0
    for comment, scores in zip(comments, strict_model.score(TEXTS), strict=True):
        shadow = ShadowScore.objects.get(comment=comment, model_version=candidate.version)
        assert shadow.outcome == apply_policy(scores, strict_model.thresholds).outcome
        auto = comment.decisions.get(kind="auto").outcome
        expected_changes += shadow.outcome != auto
    assert expected_changes > 0  # the stricter thresholds hold comments the active model approved

    report = shadow_report(candidate.version)
    assert report["scored"] == len(TEXTS) and report["changed"] == expected_changes
    assert all(k.startswith("approved→") or k.startswith("needs_review→") for k in report["changes"])
    tox = report["labels"]["toxicity"]
    assert tox["moderated"] == 4 and 0 <= tox["active_agreement"] <= 1 and 0 <= tox["shadow_agreement"] <= 1
    assert sum(s["would_change"] for s in report["labels"].values()) >= expected_changes > 0

    stop_shadow("ds")
    make_comment(text="Decided after the shadow stopped.")
    assert score_pending() == 0


def test_a_shadow_that_fails_verification_scores_nothing(make_comment, strict_model, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr("moderation.scoring._shadow", None)  # a fresh process: nothing verified in memory yet

    path = tmp_path / "s.joblib"
    shutil.copyfile(strict_model.path, path)
    shutil.copyfile(strict_model.path.with_suffix(".json"), path.with_suffix(".json"))
    candidate = register_model(path)
    start_shadow(candidate.version)
    path.write_bytes(path.read_bytes()[:-5])  # broken on disk after it was shadowed
    comment = make_comment()
    record_model_decisions([ModelVerdict(comment.pk, {"toxicity": 0.1}, "x", {})])
    assert score_pending() == 0 and not ShadowScore.objects.exists()


def test_admin_shows_the_shadow_comparison(make_comment, strict_model, admin_client):
    candidate = register_model(strict_model.path)
    admin_client.post(
        "/admin/moderation/modelversion/", {"action": "shadow_selected", "_selected_action": [candidate.pk]}
    )
    comment = make_comment()
    record_model_decisions([ModelVerdict(comment.pk, {"toxicity": 0.1}, "x", {})])
    score_pending()
    page = admin_client.get(f"/admin/moderation/modelversion/{candidate.pk}/change/").content.decode()
    assert "1 comments scored" in page and "this model agrees" in page


def test_stats_page_shows_the_shadow_comparison(make_comment, strict_model, admin_client):
    active = load_model()
    promote(register_model(default_model_path()).version)
    candidate = register_model(strict_model.path)
    start_shadow(candidate.version)
    comment = make_comment(text=TEXTS[2])
    record_model_decisions(
        [ModelVerdict(comment.pk, active.score([TEXTS[2]])[0], active.version, active.thresholds)]
    )
    score_pending()
    page = admin_client.get("/dashboard/stats/").content.decode()
    assert f"Shadow model {candidate.version}" in page
    assert "Scored 1 decided comments beside the active model" in page
    assert "decisions it would change" in page


def test_stats_page_without_a_shadow_says_nothing_about_one(admin_client, db):
    assert "Shadow model" not in admin_client.get("/dashboard/stats/").content.decode()
