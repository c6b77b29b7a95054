"""`manage.py retrain --site S`, the README's retraining loop in one command, end to end on a fresh database:
moderators decide comments → export with a hold-out → train a (small) candidate → compare on the hold-out →
register → shadow → report; then a person promotes it and rolls it back. Trains for real (a small config, in
a subprocess as the command does), so it is an integration test."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from moderation.models import AuditEntry, Decision, DecisionKind, ModelVersion
from moderation.services import ModelVerdict, moderate_comments, record_model_decisions

THRESHOLDS = {"toxicity": {"reject": 0.9, "review": 0.4}}
DAY0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
CIVIL = [
    "The council should publish the budget before the vote on {n}.",
    "Thanks for covering the school closures, very useful piece {n}.",
    "I disagree with the mayor but the article is fair to both sides {n}.",
]
TOXIC = [
    "You are a pathetic idiot and everyone hates you {n}.",
    "Shut up, moron, nobody wants your stupid opinion {n}.",
    "What a worthless piece of garbage this clown is {n}.",
]


def _decided(make_comment, moderator, when, text, score, action, reason=""):
    comment = make_comment(text=text)
    record_model_decisions([ModelVerdict(comment.pk, {"toxicity": score, "spam": 0.01}, "m", THRESHOLDS)])
    comment.refresh_from_db()
    moderate_comments({comment.pk: comment.status}, moderator, action, reason)
    Decision.objects.filter(comment=comment, kind=DecisionKind.MODERATOR).update(created_at=when)


@pytest.fixture
def site_with_labels(make_comment, moderator):
    """Thirty days of moderator decisions: civil comments approved, abusive ones rejected as toxic."""
    for day in range(30):
        when = DAY0 + timedelta(days=day)
        for i, template in enumerate(CIVIL):
            _decided(
                make_comment, moderator, when + timedelta(minutes=i), template.format(n=day), 0.45, "approve"
            )
        for i, template in enumerate(TOXIC):
            text = template.format(n=day)
            _decided(make_comment, moderator, when + timedelta(minutes=10 + i), text, 0.6, "reject", "toxic")


@pytest.fixture
def small_config(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(
        json.dumps(
            {
                "max_rows_per_source": 150,
                "evaluate_external": False,
                "word_max_features": 3000,
                "char_max_features": 6000,
                "identity_sentences_per_identity": 2,
            }
        )
    )
    return path


@pytest.mark.integration
@pytest.mark.trains
@pytest.mark.django_db
def test_retrain_runs_the_loop_end_to_end(site_with_labels, small_config, tmp_path, capsys):
    call_command("bootstrap")  # a fresh install: the shipped model registered and active
    out = tmp_path / "run"
    call_command(
        "retrain",
        "--site",
        "default",
        "--holdout-share",
        "0.2",
        "--out-dir",
        str(out),
        "--config",
        str(small_config),
    )
    printed = capsys.readouterr().out
    summary = json.loads((out / "report.json").read_text())
    # 1. export: the latest fifth held out, both kinds of label on both sides
    assert summary["files"][0][1] == 144 and summary["files"][1][1] == 36
    # 2-3. trained on the earlier rows, compared on the later ones against the active model
    toxicity = summary["comparisons"]["toxicity"]
    assert toxicity["n"] == 36 and toxicity["positives"] == 18
    assert set(toxicity["differences"]) == {"alt_profanity_check", "baseline"}
    assert len(toxicity["differences"]["baseline"]["ci95"]) == 2
    assert "toxicity: candidate" in printed
    # 4. registered and shadowed
    candidate = ModelVersion.objects.get(version=summary["candidate"])
    assert candidate.is_shadow and not candidate.is_active
    # 5. the report: a decision, its reasons, a plot
    html = (out / "report.html").read_text()
    assert ("Promote the candidate" in html) or ("Keep the active model" in html)
    assert "data:image/png;base64," in html
    assert "ROC AUC gain on the hold-out" in html and summary["reasons"]
    assert summary["shares"]["candidate"] is not None and summary["shares"]["active"] is not None
    # the README's loop goes on: a person promotes, then rolls back
    call_command("promote", candidate.version)
    assert ModelVersion.objects.get(is_active=True).version == candidate.version
    call_command("rollback")
    assert ModelVersion.objects.get(is_active=True).version != candidate.version
    assert AuditEntry.objects.filter(action="model_registered", actor_label="retrain").exists()


@pytest.mark.integration
@pytest.mark.trains
@pytest.mark.django_db
def test_the_readme_steps_one_at_a_time(site_with_labels, small_config, tmp_path, monkeypatch, capsys):
    """export_labels --holdout-share → train --labels (default path) → compare on the hold-out, and refused on
    the training file → register_model → shadow → promote → rollback."""
    from training.offline.cli import main

    call_command("bootstrap")
    labels = tmp_path / "labels.csv"
    call_command("export_labels", "--since", "2026-09-01", "--out", str(labels), "--holdout-share", "0.2")
    holdout = tmp_path / "labels.holdout.csv"
    monkeypatch.setenv("MODERATION_VAR_DIR", str(tmp_path / "var"))
    assert main(["train", "--config", str(small_config), "--labels", f"{labels}:3"]) == 0
    (candidate,) = (tmp_path / "var" / "models").glob("*.joblib")
    capsys.readouterr()
    compare = ["compare", "--model", str(candidate), "--label-column", "label", "--json"]
    assert main([*compare, "--data", str(holdout)]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 36
    with pytest.raises(SystemExit) as refused:
        main([*compare, "--data", str(labels)])
    assert refused.value.code == 2 and "evaluation rows are rows the model" in capsys.readouterr().err
    call_command("register_model", str(candidate))
    version = candidate.stem
    call_command("shadow", version)
    assert ModelVersion.objects.get(version=version).is_shadow
    call_command("promote", version)
    assert ModelVersion.objects.get(is_active=True).version == version
    call_command("rollback")
    assert ModelVersion.objects.get(is_active=True).version != version


@pytest.mark.django_db
def test_retrain_without_labels_to_hold_out_says_so(site, tmp_path):
    with pytest.raises(CommandError, match="none left for a hold-out"):
        call_command("retrain", "--site", "default", "--out-dir", str(tmp_path / "run"))


@pytest.mark.django_db
def test_retrain_of_an_unknown_site_names_the_option(site, tmp_path):
    with pytest.raises(CommandError, match="--site: no site 'nowhere'"):
        call_command("retrain", "--site", "nowhere", "--out-dir", str(tmp_path / "run"))


def _comparison(lo, hi, n=200, positives=40):
    return {
        "n": n,
        "positives": positives,
        "differences": {"baseline": {"difference": (lo + hi) / 2, "ci95": [lo, hi], "p_value": 0.01}},
    }


@pytest.mark.parametrize(
    ("comparison", "candidate", "active", "promote"),
    [
        (_comparison(0.01, 0.05), 0.12, 0.14, True),  # a clear gain, within the budget
        (_comparison(-0.01, 0.05), 0.12, 0.14, False),  # the interval reaches 0: not clearly better
        (_comparison(0.01, 0.05), 0.20, 0.14, False),  # better, but flags more than the 15% budget
        (_comparison(0.01, 0.05), 0.18, 0.19, True),  # over budget, but less than the active model already is
        (None, 0.12, 0.14, False),  # could not be compared
        ({"n": 30, "positives": 0, "differences": {}}, 0.12, 0.14, False),  # one class in the hold-out
    ],
)
def test_promotion_rule(comparison, candidate, active, promote):
    from moderation.management.retrain_report import recommend

    shares = {"n": 500, "on": "recent comments", "budget": 0.15, "candidate": candidate, "active": active}
    decided, reasons = recommend(comparison, shares)
    assert decided is promote
    assert len(reasons) == 2
