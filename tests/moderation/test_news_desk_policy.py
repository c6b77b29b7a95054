"""The news desk's verdict (issue 22): no words, nothing to judge; reason codes and severity stored with the
decision; the review queue shows threats and hate first; moderators reject with the same codes, and the
trainer reads them as labels."""

from __future__ import annotations

import csv

import pytest

from moderation.models import Comment, CommentStatus
from moderation.policy import Signal
from moderation.scoring import contact_number, has_words, judge
from moderation.selectors.dashboard import QueueFilters, queue_queryset
from moderation.services import ModelVerdict, moderate_comments, record_model_decisions

THRESHOLDS = {
    "toxicity": {"reject": 0.9, "review": 0.4},
    "threat": {"reject": 0.5, "review": 0.3},
    "identity_attack": {"reject": 0.5, "review": 0.3},
    "insult": {"reject": 0.8, "review": 0.6},
    "spam": {"reject": 0.95, "review": 0.5},
}
CALM = {"toxicity": 0.01, "threat": 0.0, "identity_attack": 0.0, "insult": 0.0, "spam": 0.0}


@pytest.mark.parametrize("text", ["", "👍", "😂😂😂", "!!!", "...", "🙏🇵🇰"])
def test_a_comment_with_no_words_is_approved_whatever_it_scores(text):
    verdict = judge({**CALM, "toxicity": 0.6}, THRESHOLDS, "v1", text=text)
    assert verdict.outcome == CommentStatus.APPROVED and verdict.reasons == ["no words to judge"]


@pytest.mark.parametrize("text", ["f u c k", "ѕсum", "اچھا", "1d10t", "ok\u200b"])
def test_obfuscated_or_non_latin_text_has_words(text):
    assert has_words(text)


@pytest.mark.parametrize(
    "text, number",
    [
        ("Printer offline? Call the Support Helpline toll free +1 555 0121, 24/7 help.", "+1 555 0121"),
        ("INSTANT LOANS, no credit check. WhatsApp +44 7700 900234", "+44 7700 900234"),
        ("Dial 1-800-242-0363 for a remote fix", "1-800-242-0363"),
        ("Call (555) 123-4567 now", "(555) 123-4567"),
        ("Call +1 5\u200b55 0190 now", "+1 55 0190"),  # hidden characters: named as normalised
    ],
)
def test_a_comment_that_gives_a_telephone_number_is_held_whatever_it_scores(text, number):
    assert contact_number(text) == number
    verdict = judge(CALM, THRESHOLDS, "v1", text=text)
    assert verdict.outcome == CommentStatus.NEEDS_REVIEW and verdict.codes == ["spam"]
    assert verdict.reasons[0].startswith("gives a telephone number")
    assert (f"({number})" in verdict.reasons[0]) == (number in text)
    # never a rejection on its own, and a trusted commenter's comment is still approved
    trusted = judge(CALM, THRESHOLDS, "v1", text=text, signals=[Signal("trust", "trusted", "trusted")])
    assert trusted.outcome == CommentStatus.APPROVED


@pytest.mark.parametrize(
    "text",
    [
        "The vote was 1,234,567 to 2,345,678 in the end.",
        "Figures for 1993 1994 1995 and 1996 are in table 4.",
        "The IP 192.168.100.200 was logged at 12:45:10.",
        "It cost $12,500,000 and took 18 months.",
        "See page 12 of the report.",
    ],
)
def test_numbers_that_are_not_telephone_numbers_hold_nothing(text):
    assert contact_number(text) is None
    assert judge(CALM, THRESHOLDS, "v1", text=text).outcome == CommentStatus.APPROVED


def test_a_telephone_number_adds_its_reason_to_a_held_comment_and_never_softens_a_rejection():
    text = "You idiot, call me on +1 555 0190 and say that"
    held = judge({**CALM, "toxicity": 0.5}, THRESHOLDS, "v1", text=text)
    assert held.outcome == CommentStatus.NEEDS_REVIEW and held.codes == ["toxic", "spam"]
    rejected = judge({**CALM, "spam": 0.99}, THRESHOLDS, "v1", text=text)
    assert rejected.outcome == CommentStatus.REJECTED
    assert not any(r.startswith("gives a telephone number") for r in rejected.reasons)


def test_the_verdict_carries_reason_codes_most_severe_first():
    verdict = judge({**CALM, "toxicity": 0.5, "threat": 0.35, "insult": 0.7}, THRESHOLDS, "v1", text="words")
    assert verdict.outcome == CommentStatus.NEEDS_REVIEW
    assert verdict.codes == ["threat", "harassment", "toxic"] and verdict.severity == 4


@pytest.mark.django_db
def test_the_review_queue_shows_threats_and_hate_first(make_comment):
    made = {}
    for name, scores in [
        ("rude", {**CALM, "toxicity": 0.5}),
        ("threat", {**CALM, "toxicity": 0.5, "threat": 0.35}),
        ("hate", {**CALM, "toxicity": 0.5, "identity_attack": 0.35}),
        ("newest rude", {**CALM, "toxicity": 0.6}),
    ]:
        c = make_comment(text=f"a {name} comment")
        record_model_decisions([ModelVerdict(c.pk, scores, "v1", THRESHOLDS, text=c.text)])
        made[name] = c.pk
    stored = Comment.objects.get(pk=made["threat"])
    assert stored.reason_codes == ["threat", "toxic"] and stored.severity == 4
    order = [c.pk for c in queue_queryset(QueueFilters(), {})]
    assert order == [made["threat"], made["hate"], made["newest rude"], made["rude"]]
    newest = [c.pk for c in queue_queryset(QueueFilters(sort="newest"), {})]
    assert newest == [made["newest rude"], made["hate"], made["threat"], made["rude"]]


@pytest.mark.django_db
def test_moderators_reject_with_hate_threat_and_harassment_and_the_trainer_reads_them(
    make_comment, moderator, tmp_path
):
    from django.core.management import call_command

    from training.offline.datasets import LABELS, load_moderator_export

    codes = ["hate", "threat", "harassment"]
    for code in codes:
        c = make_comment(text=f"a comment rejected for {code}")
        record_model_decisions([ModelVerdict(c.pk, {**CALM, "toxicity": 0.5}, "v1", THRESHOLDS, text=c.text)])
        moderate_comments({c.pk: CommentStatus.NEEDS_REVIEW}, moderator, "reject", code)
    out = tmp_path / "labels.csv"
    call_command("export_labels", "--since", "2000-01-01", "--out", str(out), "--audit-sample", "0")
    with open(out, newline="", encoding="utf-8") as fh:
        assert sorted(r["label"] for r in csv.DictReader(fh)) == sorted(codes)
    corpus = load_moderator_export(out)
    assert len(corpus) == 3
    by_text = dict(zip(corpus.texts, corpus.y, strict=True))
    hate = by_text["a comment rejected for hate"]
    assert hate[LABELS.index("identity_attack")] == 1.0 and hate[LABELS.index("toxicity")] == 1.0
    assert by_text["a comment rejected for threat"][LABELS.index("threat")] == 1.0
    assert by_text["a comment rejected for harassment"][LABELS.index("insult")] == 1.0


@pytest.mark.django_db
def test_sites_learn_the_reason_codes_from_the_status_api_and_webhooks(make_comment):
    from moderation.api.v1 import comment_state
    from moderation.webhooks.delivery import event_data

    c = make_comment(text="a threatening comment")
    scores = {**CALM, "toxicity": 0.5, "threat": 0.35}
    record_model_decisions([ModelVerdict(c.pk, scores, "v1", THRESHOLDS, text=c.text)])
    c.refresh_from_db()
    assert comment_state(c)["reason_codes"] == ["threat", "toxic"]
    assert event_data(c, "automatic")["reason_codes"] == ["threat", "toxic"]


@pytest.mark.django_db
def test_the_admin_cannot_forge_audit_entries_decisions_or_comment_states(admin_client, make_comment):
    """Issue 21: staff could add an approval under another moderator's name in the Django admin."""
    from moderation.models import AuditEntry, Decision

    c = make_comment()
    record_model_decisions([ModelVerdict(c.pk, {**CALM, "toxicity": 0.5}, "v1", THRESHOLDS, text=c.text)])
    decision, entry = Decision.objects.get(comment=c), AuditEntry.objects.filter(comment=c).first()
    for model, obj in (("auditentry", entry), ("decision", decision), ("comment", c)):
        assert admin_client.get(f"/admin/moderation/{model}/").status_code == 200  # still viewable
        assert admin_client.get(f"/admin/moderation/{model}/add/").status_code == 403
        admin_client.post(f"/admin/moderation/{model}/{obj.pk}/change/", {"status": "approved"})
        assert (
            admin_client.post(f"/admin/moderation/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )
    c.refresh_from_db()
    assert c.status == CommentStatus.NEEDS_REVIEW
    assert Decision.objects.filter(comment=c).count() == 1 and AuditEntry.objects.filter(comment=c).exists()


@pytest.mark.django_db
def test_the_celery_path_never_stores_a_decision_before_its_submission(site):
    """Issue 21: comments from the Celery path were stored with decided_at a few ms before submitted_at."""
    from moderation.models import AuditEntry, Decision
    from moderation.services.ingest import submit_and_decide
    from moderation.validation import validate_submission
    from tests.conftest import comment_payload

    submit_and_decide(site, [validate_submission(comment_payload(n)) for n in range(5)])
    for c in Comment.objects.filter(site=site):
        assert c.decided_at >= c.submitted_at, (c.submitted_at, c.decided_at)
        assert Decision.objects.get(comment=c).created_at >= c.submitted_at
        entries = list(AuditEntry.objects.filter(comment=c).order_by("created_at", "id"))
        assert [e.action for e in entries][0] == "submitted"


@pytest.mark.django_db
def test_the_audit_log_reads_model_and_threshold_changes(admin_client, site):
    """Issue 21: promote and rollback showed as "— → —" although the versions are stored."""
    from moderation.models import AuditEntry
    from moderation.services import set_policy_overrides

    AuditEntry.objects.create(
        actor_label="ana", action="model_promoted", before={"active": "v-old"}, after={"active": "v-new"}
    )
    set_policy_overrides(site, {"toxicity": {"review": 0.3}}, actor_label="ana", review_budget=0.1)
    page = admin_client.get("/dashboard/audit/").content.decode()
    assert "model v-old → v-new" in page
    assert "review budget default → 0.1" in page


@pytest.mark.django_db
def test_comment_text_takes_its_own_direction(admin_client, make_comment):
    """Issue 21: Urdu and Pashto were shown left to right."""
    c = make_comment(text="یہ ایک اچھا مضمون ہے")
    record_model_decisions([ModelVerdict(c.pk, {**CALM, "toxicity": 0.5}, "v1", THRESHOLDS, text=c.text)])
    assert 'class="text" dir="auto"' in admin_client.get("/dashboard/").content.decode()
    assert 'class="text" dir="auto"' in admin_client.get(f"/dashboard/comments/{c.pk}/").content.decode()


@pytest.mark.django_db
def test_queue_cards_show_the_moderators_reject_reason_and_note(admin_client, make_comment, moderator):
    """Issue 21: reasons and notes appeared on the detail page, not on the queue cards."""
    c = make_comment(text="a comment a moderator rejected")
    record_model_decisions([ModelVerdict(c.pk, {**CALM, "toxicity": 0.5}, "v1", THRESHOLDS, text=c.text)])
    moderate_comments({c.pk: CommentStatus.NEEDS_REVIEW}, moderator, "reject", "other", "<b>doxxing</b>")
    page = admin_client.get("/dashboard/?status=rejected").content.decode()
    assert "rejected by mod · reason <strong>other</strong> · note “&lt;b&gt;doxxing&lt;/b&gt;”" in page


@pytest.mark.parametrize("budget", [0, 1, 1.5, -0.1, True, "0.1"])
def test_a_review_budget_outside_0_to_1_is_refused_naming_it(budget):
    from django.core.exceptions import ValidationError

    from moderation.models import Site
    from moderation.validation import validate_review_budget

    with pytest.raises(ValidationError, match="review_budget must be between 0 and 1"):
        validate_review_budget(budget)
    with pytest.raises(ValidationError) as caught:
        Site(slug="s", name="S", review_budget=budget).clean()
    assert "review_budget" in caught.value.message_dict
