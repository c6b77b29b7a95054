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
    # toxicity is the only label here, and a general score alone never rejects: at its reject threshold the
    # comment is held
    assert cur["volumes"] == {"approved": 3, "needs_review": 4, "rejected": 0}
    assert new["volumes"] == {"approved": 2, "needs_review": 5, "rejected": 0}
    # current: approved 0.2 (ok), 0.3 (moderator rejected) -> 1/2; held 0.5 (ok), 0.6, 0.7, 0.95 -> 3/4
    assert cur["precision"]["approved"] == {"labelled": 2, "precision": 0.5}
    assert cur["precision"]["needs_review"] == {"labelled": 4, "precision": 0.75}
    assert cur["precision"]["rejected"] == {"labelled": 0, "precision": None}
    # proposed: approved 0.2 -> 1/1; held 0.3, 0.5, 0.6, 0.7, 0.95 -> 4/5 rejected by moderators
    assert new["precision"]["approved"] == {"labelled": 1, "precision": 1.0}
    assert new["precision"]["needs_review"] == {"labelled": 5, "precision": 0.8}
    # of the 4 comments moderators rejected, the current thresholds flag 3 (0.3 was approved), the proposed 4
    assert cur["moderator_rejections_flagged"] == {"flagged": 3, "of": 4}
    assert new["moderator_rejections_flagged"] == {"flagged": 4, "of": 4}
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


def test_a_review_budget_is_fitted_on_the_sites_own_scores_and_saved_with_an_audit_entry(
    site, make_comment, capsys, monkeypatch
):
    """A site with enough history: the budget sets toxicity.review so that the share of its recent comments
    flagged is the budget; the preview shows the effect, and --save stores the budget and the threshold."""
    from moderation.models import AuditEntry
    from moderation.selectors import tuning

    monkeypatch.setattr(tuning, "MIN_SITE_SAMPLE", 20)
    model_thresholds = {"toxicity": {"review": 0.5, "reject": 0.9}}
    for i in range(40):  # toxicity 0.00, 0.025, ..., 0.975
        c = make_comment()
        record_model_decisions([ModelVerdict(c.pk, {"toxicity": i / 40}, "v1", model_thresholds)])

    class Model:
        version = "v1"
        thresholds = model_thresholds
        reference_scores = None

        def score(self, texts):
            return [{"toxicity": 0.08} for _ in texts]  # what a comment with no words scores

    report = tuning.fit_budget(site, 0.1, Model())
    assert 0.875 < report["overrides"]["toxicity"]["review"] <= 0.9  # flags the top 4 of 40
    assert report["flagged_share"] == 0.1 and "the site's 40 automatic decisions" in report["fitted_on"]
    report = tuning.fit_budget(site, 0.5, Model())
    assert 0.475 < report["overrides"]["toxicity"]["review"] <= 0.5 and report["flagged_share"] == 0.5

    monkeypatch.setattr("moderation.management.commands.preview_thresholds.current_model", Model)
    call_command("preview_thresholds", "--budget", "0.25")
    out = capsys.readouterr().out
    assert "review budget 25.0%: toxicity.review 0.7250, flagging 25.0%" in out  # the top 10 of 40
    assert "40 decisions in 30 days" in out
    site.refresh_from_db()
    assert site.review_budget is None and not site.policy_overrides  # a preview saves nothing
    call_command("preview_thresholds", "--budget", "0.25", "--save", "--by", "editor")
    site.refresh_from_db()
    assert site.review_budget == 0.25 and 0.725 < site.policy_overrides["toxicity"]["review"] <= 0.75
    entry = AuditEntry.objects.filter(action="thresholds_changed").latest("id")
    assert entry.actor_label == "editor" and entry.after["review_budget"] == 0.25
    with pytest.raises(CommandError, match="--budget"):
        call_command("preview_thresholds", "--budget", "1.5")


def test_a_new_site_previews_its_budget_on_the_models_news_sample(site):
    """Too little history of its own: the budget is fitted on the shipped model's weighed news sample, never
    below what a comment with no words scores."""
    from moderation.selectors import tuning
    from training.runtime import load_model

    model = load_model(None)
    low, high = tuning.fit_budget(site, 0.05, model), tuning.fit_budget(site, 0.3, model)
    assert "news sample" in low["fitted_on"]
    assert low["overrides"]["toxicity"]["review"] > high["overrides"]["toxicity"]["review"]
    assert high["flagged_share"] <= 0.3 + 1e-9
    empty = model.score([""])[0]["toxicity"]
    assert high["overrides"]["toxicity"]["review"] > empty
