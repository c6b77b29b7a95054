"""The worker's scoring path in process, with the shipped model (a fault is injected only where named)."""

import pytest

from moderation.models import Comment, CommentStatus, Decision

pytestmark = pytest.mark.django_db


def test_decide_scores_and_records_with_the_shipped_model(make_comment, fresh_model_state):
    from moderation.services.ingest import decide_comments

    comments = [make_comment(text=t) for t in ("Thoughtful piece, thank you.", "You absolute idiot, go die.")]
    assert decide_comments([c.pk for c in comments]) == []
    polite, abusive = (Comment.objects.get(pk=c.pk) for c in comments)
    assert polite.status == CommentStatus.APPROVED
    assert abusive.status in {CommentStatus.REJECTED, CommentStatus.NEEDS_REVIEW}
    assert abusive.scores["toxicity"] > polite.scores["toxicity"]
    assert polite.model_version == fresh_model_state.current_model().version


def test_running_the_task_twice_gives_one_outcome(make_comment, fresh_model_state):
    from worker.tasks import decide_comments

    comment = make_comment()
    decide_comments(comment_ids=[comment.pk])
    first = Comment.objects.get(pk=comment.pk)
    decide_comments(comment_ids=[comment.pk])
    second = Comment.objects.get(pk=comment.pk)
    assert (first.status, first.decided_at, first.scores) == (second.status, second.decided_at, second.scores)
    assert Decision.objects.filter(comment=comment).count() == 1


def test_submit_task_twice_is_one_comment_one_decision(db, fresh_model_state):
    from tests.conftest import comment_payload
    from worker.tasks import submit_comment

    submit_comment(**comment_payload("twice"))
    submit_comment(**comment_payload("twice"))
    assert Comment.objects.filter(site_comment_id="c-twice").count() == 1
    assert Decision.objects.filter(comment__site_comment_id="c-twice").count() == 1


def test_invalid_celery_submission_is_dropped_with_the_field_named(db):
    from tests.conftest import comment_payload
    from worker.tasks import submit_comment

    result = submit_comment(**comment_payload(text=""))
    assert result["error"]["field"] == "text"
    assert Comment.objects.count() == 0


def test_a_model_that_cannot_load_sends_comments_to_review(
    make_comment, fresh_model_state, settings, tmp_path
):
    from moderation.services.ingest import decide_comments

    settings.MODERATION_MODEL_PATH = str(tmp_path / "missing.joblib")
    comment = make_comment()
    decide_comments([comment.pk])
    comment.refresh_from_db()
    assert comment.status == CommentStatus.NEEDS_REVIEW
    assert comment.reasons[0].startswith("model could not score: model ")
    assert comment.model_version == ""


def test_a_poison_comment_fails_after_max_attempts_and_the_rest_are_decided(
    make_comment, fresh_model_state, settings, monkeypatch
):
    from moderation.services.ingest import decide_comments

    settings.MODERATION_MAX_ATTEMPTS = 2
    model = fresh_model_state.current_model()
    real_score = type(model).score

    def score(self, texts):  # fault injection: this one text cannot be scored
        if any("POISON" in t for t in texts):
            raise ValueError("cannot score this")
        return real_score(self, texts)

    monkeypatch.setattr(type(model), "score", score)
    good, poison = make_comment(text="A fine comment."), make_comment(text="POISON pill")
    assert decide_comments([good.pk, poison.pk]) == [poison.pk]
    good.refresh_from_db()
    assert good.status != CommentStatus.QUEUED and good.decisions.count() == 1
    assert decide_comments([poison.pk]) == []
    poison.refresh_from_db()
    assert poison.status == CommentStatus.FAILED and poison.attempts == 2
    assert "ValueError: cannot score this" in poison.last_error


def test_submit_and_decide_writes_each_new_comment_with_its_decision(db, site, fresh_model_state):
    from moderation.models import AuditEntry
    from moderation.services.ingest import submit_and_decide
    from moderation.validation import validate_submission
    from tests.conftest import comment_payload

    cleans = [validate_submission(comment_payload(n)) for n in (1, 2, 2, 3)]  # a repeat inside the batch
    assert submit_and_decide(site, cleans) == []
    assert Comment.objects.count() == 3
    for comment in Comment.objects.all():
        assert comment.status != CommentStatus.QUEUED and comment.decided_by == "model"
        assert comment.decisions.filter(kind="auto").count() == 1
        assert set(AuditEntry.objects.filter(comment=comment).values_list("action", flat=True)) == {
            "submitted",
            f"auto_{comment.status}",
        }
    assert submit_and_decide(site, cleans) == []  # the same batch again changes nothing
    assert Decision.objects.count() == 3


def test_submit_and_decide_isolates_a_poison_comment(db, site, fresh_model_state, monkeypatch, settings):
    from moderation.services.ingest import submit_and_decide
    from moderation.validation import validate_submission
    from tests.conftest import comment_payload

    model = fresh_model_state.current_model()
    real_score = type(model).score
    monkeypatch.setattr(
        type(model),
        "score",
        lambda self, texts: (
            (_ for _ in ()).throw(ValueError("bad"))
            if any("POISON" in t for t in texts)
            else real_score(self, texts)
        ),
    )
    cleans = [validate_submission(comment_payload(1)), validate_submission(comment_payload(2, text="POISON"))]
    retry = submit_and_decide(site, cleans)
    poison = Comment.objects.get(site_comment_id="c-2")
    assert retry == [poison.pk] and poison.status == CommentStatus.QUEUED and poison.attempts == 1
    assert Comment.objects.get(site_comment_id="c-1").status != CommentStatus.QUEUED


@pytest.mark.parametrize(
    "text,language",
    [
        ("پاکستان کو طالبان حکومت تسلیم نہیں کرنی چاہیے، یہ بہت خطرناک ہوگا", ""),
        ("Pakistan ko Taliban hukumat ko tasleem nahi karna chahiye yaar", ""),
        ("ok", "ps"),
    ],
)
def test_comments_in_unsupported_languages_go_to_review_whatever_the_scores(
    make_comment, fresh_model_state, text, language
):
    from moderation.services.ingest import decide_comments

    comment = make_comment(text=text, language=language)
    decide_comments([comment.pk])
    comment.refresh_from_db()
    assert comment.status == CommentStatus.NEEDS_REVIEW
    assert comment.reasons[0].startswith("language not supported by the model")
    assert comment.scores  # still scored, for the moderator's information


def test_context_signals_reach_both_decide_paths(db, site, make_comment, fresh_model_state, monkeypatch):
    """A collector's signal (selectors.context) decides on the Celery path, which scores before it writes, and
    on the path that decides stored comments; the collector sees who wrote what, where."""
    from moderation.policy import Signal
    from moderation.selectors import context
    from moderation.services.ingest import decide_comments, submit_and_decide
    from moderation.validation import validate_submission
    from tests.conftest import comment_payload

    seen = []

    def banned_author(items):
        seen.extend((item.author_id, item.story_id, item.comment_id is not None) for item in items)
        return [(Signal("reject", "banned", "the commenter is banned"),) for _ in items]

    monkeypatch.setattr(context, "COLLECTORS", [banned_author])
    payload = comment_payload("ctx", text="Thoughtful piece, thank you.")
    submit_and_decide(site, [validate_submission(payload)])
    fresh = Comment.objects.get(site_comment_id="c-ctx")
    assert fresh.status == CommentStatus.REJECTED
    assert fresh.reasons[0] == "the commenter is banned" and fresh.reason_codes[0] == "banned"
    stored = make_comment(text="Thoughtful piece, thank you.")
    decide_comments([stored.pk])
    stored.refresh_from_db()
    assert stored.status == CommentStatus.REJECTED
    assert stored.decisions.get().reasons[0] == "the commenter is banned"
    assert seen == [
        (payload["author_id"], payload["story_id"], False),
        (stored.author_id, stored.story_id, True),
    ]
