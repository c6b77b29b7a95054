"""The registry on a fresh install (issue 19): bootstrap registers the served model and makes it active,
rollback walks back through the activation history (never toggles), and the shadow report compares each
decision with the thresholds of the version that made it."""

from __future__ import annotations

import copy

import pytest
from django.core.management import CommandError, call_command

from moderation.models import AuditEntry, Decision, DecisionKind, ModelVersion, ShadowScore
from moderation.selectors.shadow import shadow_report
from moderation.services import ModelVerdict, record_model_decisions
from moderation.services.registry import activation_history, promote, register_model, rollback
from moderation.services.shadow import score_pending, start_shadow
from training.offline.pipeline import save_model
from training.runtime import ModelArtifact, default_model_path, load_model

pytestmark = pytest.mark.django_db

TEXTS = [
    "Pakistan is right to wait; recognising the Taliban now would reward them for nothing.",
    "You are a pathetic idiot and a moron, shut your stupid mouth.",
    "What a stupid take, honestly.",
    "CHECK OUT my channel!!! subscribe http://free-money.example.com win an iPhone now",
    "I disagree with the minister, but the article is fair.",
    "Shut up, nobody cares about your dumb opinion.",
    "Nobody asked for your opinion, clown.",
    "The council meeting moved to Thursday; the agenda is online.",
]


@pytest.fixture(scope="module")
def candidates(tmp_path_factory) -> list[ModelArtifact]:
    """Three candidates A, B, C: the shipped model with its review thresholds scaled by 0.9, 0.8 and 0.2
    (another file each, so another version each; C holds far more for review)."""
    shipped = load_model()
    made = []
    for name, factor in (("a", 0.9), ("b", 0.8), ("c", 0.2)):
        payload = copy.copy(shipped._payload)
        payload["thresholds"] = {
            label: {**limits, "review": round(limits["review"] * factor, 4)}
            for label, limits in shipped.thresholds.items()
        }
        made.append(
            save_model(
                ModelArtifact(payload, {**shipped.metadata, "thresholds": payload["thresholds"]}, None),
                tmp_path_factory.mktemp(name) / f"{name}.joblib",
            )
        )
    assert len({m.version for m in made} | {shipped.version}) == 4
    return made


@pytest.fixture
def shipped_served(settings, monkeypatch) -> ModelArtifact:
    """A fresh install that serves the shipped model (no MODERATION_MODEL_PATH)."""
    settings.MODERATION_MODEL_PATH = ""
    monkeypatch.delenv("MODERATION_MODEL_PATH", raising=False)
    return load_model(default_model_path())


def active() -> str:
    return ModelVersion.objects.get(is_active=True).version


def registry_state() -> tuple[list, list]:
    return (
        list(ModelVersion.objects.order_by("id").values_list("version", "is_active", "activated_at")),
        list(AuditEntry.objects.order_by("id").values_list("action", "before", "after")),
    )


def test_bootstrap_registers_the_shipped_model_and_the_first_promotion_rolls_back_to_it(
    shipped_served, candidates, capsys
):
    call_command("bootstrap")
    out = capsys.readouterr().out
    assert f"Model {shipped_served.version} registered" in out and "is the active model" in out
    row = ModelVersion.objects.get()
    assert row.is_active and row.sha256 == shipped_served.metadata["sha256"]
    assert row.metadata["thresholds"] == shipped_served.thresholds
    audit = AuditEntry.objects.filter(action__startswith="model_").order_by("id")
    assert [(e.action, e.actor_label, e.after.get("active")) for e in audit] == [
        ("model_registered", "bootstrap", None),
        ("model_activated", "bootstrap", shipped_served.version),
    ]

    a = register_model(candidates[0].path)
    call_command("promote", a.version)
    call_command("rollback", "--by", "ana")
    assert active() == shipped_served.version
    assert f"active model: {shipped_served.version} (rolled back from {a.version})" in capsys.readouterr().out
    with pytest.raises(CommandError, match="nothing to roll back to: no earlier active model version"):
        call_command("rollback")
    assert active() == shipped_served.version  # a failed rollback changes nothing


def test_rollback_walks_back_through_the_activation_history(candidates):
    a, b, c = (register_model(m.path).version for m in candidates)
    for version in (a, b, c):
        promote(version)
    assert rollback().version == b
    assert rollback().version == a  # not back to C: a rollback is not a promotion to return to
    with pytest.raises(ModelVersion.DoesNotExist, match="no earlier active model version"):
        rollback()
    assert active() == a
    rolled = AuditEntry.objects.filter(action="model_rolled_back").order_by("id")
    assert [(e.before["active"], e.after["active"]) for e in rolled] == [(c, b), (b, a)]

    # Promoting after a rollback starts a new branch: C, rolled back, is no longer in the history.
    promote(c)
    promote(b)
    assert activation_history() == [a, c, b]
    assert rollback().version == c
    assert rollback().version == a


def test_rollback_continues_to_the_shipped_model_after_bootstrap(shipped_served, candidates):
    call_command("bootstrap")
    versions = [register_model(m.path).version for m in candidates]
    for version in versions:
        promote(version)
    assert [rollback().version for _ in range(3)] == [versions[1], versions[0], shipped_served.version]
    with pytest.raises(ModelVersion.DoesNotExist):
        rollback()


def test_bootstrap_twice_changes_nothing_and_never_undoes_a_promotion(shipped_served, candidates, capsys):
    call_command("bootstrap")
    state = registry_state()
    capsys.readouterr()
    call_command("bootstrap")
    assert registry_state() == state
    assert "Model " not in capsys.readouterr().out

    a = register_model(candidates[0].path)
    promote(a.version, actor_label="ana")
    state = registry_state()
    call_command("bootstrap")
    assert registry_state() == state and active() == a.version


def test_bootstrap_on_an_install_with_a_promoted_version_registers_the_shipped_model_without_activating_it(
    shipped_served, candidates
):
    a = promote(register_model(candidates[0].path).version)  # promoted before bootstrap knew about models
    call_command("bootstrap")
    assert active() == a.version
    shipped = ModelVersion.objects.get(version=shipped_served.version)
    assert not shipped.is_active and shipped.activated_at is None
    assert not AuditEntry.objects.filter(action="model_activated").exists()


def test_bootstrap_registers_the_file_model_path_points_to(settings, candidates, capsys):
    settings.MODERATION_MODEL_PATH = str(candidates[1].path)
    call_command("bootstrap")
    assert active() == candidates[1].version
    assert ModelVersion.objects.count() == 1


def test_bootstrap_with_a_missing_model_file_still_creates_the_site_and_says_why(settings, tmp_path, capsys):
    settings.MODERATION_MODEL_PATH = str(tmp_path / "missing.joblib")
    call_command("bootstrap")
    captured = capsys.readouterr()
    assert "Model not registered" in captured.err and "missing.joblib" in captured.err
    assert "Site API key created" in captured.out and not ModelVersion.objects.exists()


def test_history_replays_rollbacks_recorded_when_rollback_was_a_toggle():
    # Before the history, rollback toggled: promote A, promote B, rollback (to A), rollback (to B again).
    for action, before, after in (
        ("model_promoted", None, "A"),
        ("model_promoted", "A", "B"),
        ("model_rolled_back", "B", "A"),
        ("model_rolled_back", "A", "B"),
    ):
        AuditEntry.objects.create(
            actor_label="old", action=action, before={"active": before}, after={"active": after}
        )
    assert activation_history() == ["B"]
    AuditEntry.objects.create(actor_label="x", action="model_promoted", after={"active": "C"})
    assert activation_history() == ["B", "C"]


def _band(score: float | None, limits: dict | None) -> str:
    if not limits or score is None:
        return "none"
    if score >= limits["reject"]:
        return "reject"
    return "review" if score >= limits["review"] else "none"


def test_shadow_report_on_a_fresh_install_matches_a_recomputation(shipped_served, candidates, make_comment):
    call_command("bootstrap")
    shadow = register_model(candidates[2].path)  # C: far lower review thresholds
    start_shadow(shadow.version)
    comments = [make_comment(text=text) for text in TEXTS]
    # Decided by the shipped model, as the workers of a fresh install do.
    record_model_decisions(
        ModelVerdict(c.pk, s, shipped_served.version, shipped_served.thresholds)
        for c, s in zip(comments, shipped_served.score(TEXTS), strict=True)
    )
    assert score_pending() == len(TEXTS)

    thresholds = {shipped_served.version: shipped_served.thresholds, shadow.version: candidates[2].thresholds}
    decided = {
        d.comment_id: d for d in Decision.objects.filter(kind=DecisionKind.AUTOMATIC, comment__in=comments)
    }
    expected_changes: dict[str, int] = {}
    expected_bands: dict[str, int] = {}
    for row in ShadowScore.objects.filter(model_version=shadow.version):
        decision = decided[row.comment_id]
        if decision.outcome != row.outcome:
            key = f"{decision.outcome}→{row.outcome}"
            expected_changes[key] = expected_changes.get(key, 0) + 1
        for label in set(thresholds[decision.model_version]) | set(thresholds[shadow.version]):
            before = _band(decision.scores.get(label), thresholds[decision.model_version].get(label))
            after = _band(row.scores.get(label), thresholds[shadow.version].get(label))
            expected_bands[label] = expected_bands.get(label, 0) + (before != after)

    report = shadow_report(shadow.version)
    assert report["scored"] == len(TEXTS) and report["unregistered"] == {}
    assert report["changes"] == expected_changes
    assert {label: s["would_change"] for label, s in report["labels"].items()} == expected_bands
    # Not every band moves: against empty thresholds (the bug) every flagged shadow band would count.
    flagged_by_shadow = sum(
        _band(row.scores.get(label), limits) != "none"
        for row in ShadowScore.objects.filter(model_version=shadow.version)
        for label, limits in thresholds[shadow.version].items()
    )
    assert sum(expected_bands.values()) < flagged_by_shadow


def test_shadow_report_sets_apart_decisions_of_an_unregistered_version(candidates, make_comment, capsys):
    shadow = register_model(candidates[2].path)
    start_shadow(shadow.version)
    comments = [make_comment(text=text) for text in TEXTS[:3]]
    record_model_decisions(
        ModelVerdict(
            c.pk, {"toxicity": 0.99}, "never-registered", {"toxicity": {"reject": 0.5, "review": 0.1}}
        )
        for c in comments
    )
    assert score_pending() == 3
    report = shadow_report(shadow.version)
    assert report["unregistered"] == {"never-registered": 3}
    assert report["labels"] == {}  # no band compared against missing thresholds
    assert report["scored"] == 3 and report["changed"] == sum(report["changes"].values())
    call_command("shadow", shadow.version, "--report")
    err = capsys.readouterr().err
    assert "3 comment(s) were decided by never-registered, which has no registry row" in err
