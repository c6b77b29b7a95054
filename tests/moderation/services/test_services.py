import pytest

from moderation.models import AuditEntry, Comment, CommentStatus, Decision
from moderation.services import (
    ActionConflict,
    ModelVerdict,
    apply_moderator_action,
    record_model_decisions,
    record_scoring_failure,
)

pytestmark = pytest.mark.django_db

# Two labels, so that a score at both reject thresholds is a rejection (one label alone never rejects).
THRESHOLDS = {"toxicity": {"reject": 0.9, "review": 0.4}, "insult": {"reject": 0.9, "review": 0.9}}


def verdict(comment, score):
    return ModelVerdict(comment.pk, {"toxicity": score, "insult": score}, "test-v1", THRESHOLDS)


def test_model_decision_is_recorded_once_even_when_delivered_twice(make_comment):
    comment = make_comment()
    first = record_model_decisions([verdict(comment, 0.95)])
    second = record_model_decisions([verdict(comment, 0.01)])  # a redelivered task with other scores
    assert [c.pk for c in first] == [comment.pk] and second == []
    comment.refresh_from_db()
    assert comment.status == CommentStatus.REJECTED
    assert comment.reasons == ["insult 0.95 ≥ reject threshold 0.90", "toxicity 0.95 ≥ reject threshold 0.90"]
    assert comment.reason_codes == ["harassment", "toxic"] and comment.severity == 2
    assert comment.model_version == "test-v1" and comment.decided_by == "model" and comment.decided_at
    assert Decision.objects.filter(comment=comment).count() == 1
    assert AuditEntry.objects.filter(comment=comment, action="auto_rejected").count() == 1


def test_database_refuses_a_second_automatic_decision(make_comment):
    from django.db import IntegrityError, transaction

    comment = make_comment()
    record_model_decisions([verdict(comment, 0.5)])
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(comment=comment, kind="auto", outcome="approved")


def test_model_error_goes_to_review_never_approved(make_comment):
    comment = make_comment()
    record_model_decisions([ModelVerdict(comment.pk, None, "", {}, error="model file missing")])
    comment.refresh_from_db()
    assert comment.status == CommentStatus.NEEDS_REVIEW
    assert comment.reasons == ["model could not score: model file missing"]


def test_scoring_failures_end_in_failed_after_max_attempts(make_comment):
    comment = make_comment()
    for _attempt in range(1, 3):
        assert record_scoring_failure(comment.pk, "boom", max_attempts=3).status == CommentStatus.QUEUED
    failed = record_scoring_failure(comment.pk, "boom", max_attempts=3)
    assert failed.status == CommentStatus.FAILED and failed.attempts == 3 and failed.last_error == "boom"
    assert AuditEntry.objects.filter(comment=comment, action="failed").exists()


def test_moderator_action_records_who_when_and_scores(make_comment, moderator):
    comment = make_comment()
    record_model_decisions([verdict(comment, 0.5)])
    done = apply_moderator_action(
        comment.pk, moderator, "reject", "needs_review", reason_code="toxic", note="slur"
    )
    assert done.status == CommentStatus.REJECTED and done.decided_by == "mod"
    decision = Decision.objects.get(comment=comment, kind="moderator")
    assert decision.moderator == moderator and decision.scores == {"toxicity": 0.5, "insult": 0.5}
    assert decision.reason_code == "toxic"
    audit = AuditEntry.objects.get(comment=comment, action="reject")
    assert audit.actor == moderator
    assert audit.before["status"] == "needs_review" and audit.after["status"] == "rejected"
    assert audit.after["scores"] == {"toxicity": 0.5, "insult": 0.5}


def test_second_moderator_gets_a_conflict_not_an_overwrite(make_comment, moderator, django_user_model):
    other = django_user_model.objects.create_user(username="other", password="x" * 12)
    comment = make_comment()
    record_model_decisions([verdict(comment, 0.5)])
    apply_moderator_action(comment.pk, moderator, "approve", "needs_review")
    with pytest.raises(ActionConflict, match="already approved by mod"):
        apply_moderator_action(comment.pk, other, "reject", "needs_review")
    assert Comment.objects.get(pk=comment.pk).status == CommentStatus.APPROVED
    assert Decision.objects.filter(comment=comment, kind="moderator").count() == 1


def test_unknown_action_and_reason_code_are_refused(make_comment, moderator):
    comment = make_comment()
    with pytest.raises(ValueError, match="action"):
        apply_moderator_action(comment.pk, moderator, "delete", "queued")
    with pytest.raises(ValueError, match="reason_code"):
        apply_moderator_action(comment.pk, moderator, "reject", "queued", reason_code="boring")
