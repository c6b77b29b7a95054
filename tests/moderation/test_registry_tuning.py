"""Threshold tuning from labels: proposed per-site thresholds replayed over recent automatic decisions, with
volumes and precision on moderator-labelled comments, before anything is saved."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from moderation.selectors.tuning import preview_thresholds
from moderation.services import ModelVerdict, moderate_comments, record_model_decisions

pytestmark = pytest.mark.django_db

MODEL = {"toxicity": {"review": 0.4, "reject": 0.9}}


@pytest.fixture
def history(make_comment, moderator):
    # toxicity scores and what moderators later said (None: nobody looked)
    cases = [(0.05, None), (0.2, False), (0.3, True), (0.5, False), (0.6, True), (0.7, True), (0.95, True)]
    comments = []
    for score, rejected in cases:
        c = make_comment()
        record_model_decisions([ModelVerdict(c.pk, {"toxicity": score}, "v1", MODEL)])
        c.refresh_from_db()
        if rejected is not None:
            moderate_comments(
                {c.pk: c.status}, moderator, "reject" if rejected else "approve", "toxic" if rejected else ""
            )
        comments.append(c)
    return comments


def test_preview_compares_current_and_proposed_volumes_and_precision(site, history):
    report = preview_thresholds(site, {"toxicity": {"review": 0.25, "reject": 0.55}}, MODEL)
    assert report["comments"] == 7 and report["labelled"] == 6
    assert report["thresholds"] == {"toxicity": {"review": 0.25, "reject": 0.55}}
    cur, new = report["current"], report["proposed"]
    assert cur["volumes"] == {"approved": 3, "needs_review": 3, "rejected": 1}
    assert new["volumes"] == {"approved": 2, "needs_review": 2, "rejected": 3}
    # current: approved 0.2 (ok), 0.3 (moderator rejected) -> 1/2; rejected 0.95 -> 1/1
    assert cur["precision"]["approved"] == {"labelled": 2, "precision": 0.5}
    assert cur["precision"]["rejected"] == {"labelled": 1, "precision": 1.0}
    # proposed: approved 0.2 -> 1/1; review 0.3, 0.5 -> 1/2 rejected; rejected 0.6, 0.7, 0.95 -> 3/3
    assert new["precision"]["approved"] == {"labelled": 1, "precision": 1.0}
    assert new["precision"]["needs_review"] == {"labelled": 2, "precision": 0.5}
    assert new["precision"]["rejected"] == {"labelled": 3, "precision": 1.0}
    site.refresh_from_db()
    assert not site.policy_overrides  # nothing saved


def test_bad_proposals_are_refused(site, history):
    with pytest.raises(ValidationError):
        preview_thresholds(site, {"toxicity": {"review": 0.9, "reject": 0.5}}, MODEL)
    with pytest.raises(CommandError, match="LABEL.review"):
        call_command("preview_thresholds", "--set", "toxicity=0.3")


def test_command_prints_the_comparison(site, history, capsys):
    call_command("preview_thresholds", "--set", "toxicity.review=0.25", "--days", "7")
    out = capsys.readouterr().out
    assert "7 decisions in 7 days, 6 labelled" in out and "needs_review" in out and "precision" in out
    site.refresh_from_db()
    assert not site.policy_overrides  # a preview saves nothing


def test_save_after_preview_writes_the_site_thresholds_with_an_audit_entry(site, history, capsys):
    from moderation.models import AuditEntry
    from moderation.services import thresholds_for

    call_command("preview_thresholds", "--set", "toxicity.review=0.25", "--save", "--by", "editor")
    site.refresh_from_db()
    assert site.policy_overrides == {"toxicity": {"review": 0.25}}
    assert thresholds_for(site, MODEL)["toxicity"]["review"] == 0.25
    entry = AuditEntry.objects.get(action="thresholds_changed")
    assert entry.actor_label == "editor" and entry.after["policy_overrides"] == {"toxicity": {"review": 0.25}}
    with pytest.raises(CommandError):
        call_command("preview_thresholds", "--set", "toxicity.review=1.5", "--save")
    site.refresh_from_db()
    assert site.policy_overrides == {"toxicity": {"review": 0.25}}
