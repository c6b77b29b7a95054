import re

import pytest
from django.test import Client

from moderation.models import AuditEntry, CommentStatus
from moderation.services import ModelVerdict, record_model_decisions

pytestmark = pytest.mark.django_db

THRESHOLDS = {"toxicity": {"reject": 0.9, "review": 0.4}}


@pytest.fixture
def held(make_comment):
    """A comment the model sent to review."""

    def make(**overrides):
        comment = make_comment(**overrides)
        record_model_decisions([ModelVerdict(comment.pk, {"toxicity": 0.6}, "test-v1", THRESHOLDS)])
        comment.refresh_from_db()
        return comment

    return make


@pytest.fixture
def logged_in(moderator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    return client


def csrf_token(client) -> str:
    page = client.get("/dashboard/").content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_anonymous_users_are_sent_to_login(client, held):
    held()
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_login_page_logs_in(client, moderator):
    response = client.post("/login/", {"username": "mod", "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_queue_shows_held_comment_with_scores_reasons_and_story(logged_in, held):
    comment = held(text="You are all wrong about this.", story_title="Pakistan and the Taliban")
    page = logged_in.get("/dashboard/").content.decode()
    assert "You are all wrong about this." in re.sub(r"</?mark[^>]*>", "", page)  # words may be highlighted
    assert "Pakistan and the Taliban" in page
    assert "toxicity 0.60 ≥ review threshold 0.40" in page
    assert f'data-comment-id="{comment.pk}"' in page


def test_comment_html_is_escaped(logged_in, held):
    held(text='<script>alert(1)</script><img src=x onerror="alert(2)">\nline two')
    page = logged_in.get("/dashboard/").content.decode()
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<br>line two" in page


def test_approve_moves_the_item_out_of_the_queue_and_audits(logged_in, held, moderator):
    comment = held()
    response = logged_in.post(
        f"/dashboard/comments/{comment.pk}/action",
        {
            "action": "approve",
            "expected_status": "needs_review",
            "csrfmiddlewaretoken": csrf_token(logged_in),
        },
    )
    assert response.status_code == 302
    comment.refresh_from_db()
    assert comment.status == CommentStatus.APPROVED and comment.decided_by == "mod"
    assert AuditEntry.objects.filter(comment=comment, action="approve", actor=moderator).exists()
    assert f'data-comment-id="{comment.pk}"' not in logged_in.get("/dashboard/").content.decode()


def test_reject_with_reason_code(logged_in, held):
    comment = held()
    logged_in.post(
        f"/dashboard/comments/{comment.pk}/action",
        {
            "action": "reject",
            "reason_code": "spam",
            "expected_status": "needs_review",
            "csrfmiddlewaretoken": csrf_token(logged_in),
        },
    )
    comment.refresh_from_db()
    assert comment.status == CommentStatus.REJECTED
    assert comment.decisions.get(kind="moderator").reason_code == "spam"


def test_post_without_csrf_token_is_refused(logged_in, held):
    comment = held()
    response = logged_in.post(
        f"/dashboard/comments/{comment.pk}/action", {"action": "approve", "expected_status": "needs_review"}
    )
    assert response.status_code == 403
    comment.refresh_from_db()
    assert comment.status == CommentStatus.NEEDS_REVIEW


def test_get_cannot_change_state(logged_in, held):
    comment = held()
    response = logged_in.get(
        f"/dashboard/comments/{comment.pk}/action?action=approve&expected_status=needs_review"
    )
    assert response.status_code == 405
    comment.refresh_from_db()
    assert comment.status == CommentStatus.NEEDS_REVIEW


def test_conflicting_action_shows_a_message(logged_in, held):
    comment = held()
    token = csrf_token(logged_in)
    data = {"action": "approve", "expected_status": "needs_review", "csrfmiddlewaretoken": token}
    logged_in.post(f"/dashboard/comments/{comment.pk}/action", data)
    response = logged_in.post(f"/dashboard/comments/{comment.pk}/action", data, follow=True)
    assert (
        "Not changed: comment" in response.content.decode()
        and "already approved by mod" in response.content.decode()
    )


def test_open_redirect_after_action_is_refused(logged_in, held):
    comment = held()
    response = logged_in.post(
        f"/dashboard/comments/{comment.pk}/action",
        {
            "action": "approve",
            "expected_status": "needs_review",
            "next": "https://evil.example/",
            "csrfmiddlewaretoken": csrf_token(logged_in),
        },
    )
    assert response["Location"] == "/dashboard/"


def test_frames_are_denied(logged_in):
    assert logged_in.get("/dashboard/")["X-Frame-Options"] == "DENY"
