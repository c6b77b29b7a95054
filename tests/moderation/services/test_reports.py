"""Issue 21: readers' reports (API, Celery task, threshold back to review, rate limit, resolved by a
moderator's decision) and the commenter-state API."""

from __future__ import annotations

import json
import uuid

import pytest

from moderation.models import AuditEntry, Comment, CommentStatus, Report, WebhookDelivery, WebhookEndpoint
from moderation.services import create_api_key, get_or_create_site, moderate_comments
from moderation.webhooks import generate_secret

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_limits(settings, one_rate_window):
    # Real Redis: a prefix per test, so counters of earlier tests (same reporter ids) do not carry over.
    settings.MODERATION_REDIS_KEY_PREFIX = f"{settings.MODERATION_REDIS_KEY_PREFIX}{uuid.uuid4().hex[:8]}:"


def call(client, method, path, key, data=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    body = data if isinstance(data, str) else json.dumps(data) if data is not None else ""
    return getattr(client, method)(path, body, content_type="application/json", **headers)


@pytest.fixture
def approved(make_comment):
    comment = make_comment(text="A fine comment about the roads.")
    Comment.objects.filter(pk=comment.pk).update(status=CommentStatus.APPROVED, decided_by="model")
    comment.refresh_from_db()
    return comment


def report(client, key, comment, reporter, reason="abusive"):
    return call(
        client,
        "post",
        f"/api/v1/comments/{comment.pk}/reports",
        key,
        {"reporter_id": reporter, "reason": reason},
    )


def test_reports_from_the_threshold_of_distinct_readers_send_an_approved_comment_back_to_review(
    client, api_key, site, approved
):
    WebhookEndpoint.objects.create(site=site, url="https://hooks.example/x", secrets=generate_secret())
    first = report(client, api_key, approved, "r1")
    assert first.status_code == 201
    assert first.json() == {
        "comment_id": approved.pk,
        "reporter_id": "r1",
        "duplicate": False,
        "open_reports": 1,
        "status": "approved",
        "sent_to_review": False,
    }
    again = report(client, api_key, approved, "r1", "still abusive")
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["open_reports"] == 1
    assert report(client, api_key, approved, "r2").json()["sent_to_review"] is False
    third = report(client, api_key, approved, "r3", "spam")
    assert third.json()["sent_to_review"] is True and third.json()["status"] == "needs_review"
    approved.refresh_from_db()
    assert approved.status == CommentStatus.NEEDS_REVIEW
    assert approved.reason_codes[0] == "reported"
    assert approved.reasons[0] == "reported by 3 readers (the site's threshold is 3)"
    assert AuditEntry.objects.filter(comment=approved, action="reported_to_review").count() == 1
    (delivery,) = WebhookDelivery.objects.filter(comment=approved)
    event = json.loads(delivery.body)
    assert event["data"]["decision"] == "reported" and event["data"]["status"] == "needs_review"


def test_a_moderators_decision_resolves_the_reports_and_new_ones_count_afresh(
    client, api_key, site, approved, moderator
):
    site.report_threshold = 2
    site.save()
    for reporter in ("r1", "r2"):
        report(client, api_key, approved, reporter)
    approved.refresh_from_db()
    assert approved.status == CommentStatus.NEEDS_REVIEW
    moderate_comments({approved.pk: CommentStatus.NEEDS_REVIEW}, moderator, "approve")
    assert not Report.objects.filter(comment=approved, resolved_at__isnull=True).exists()
    assert set(Report.objects.values_list("resolved_by", flat=True)) == {"mod"}
    assert report(client, api_key, approved, "r3").json()["open_reports"] == 1
    approved.refresh_from_db()
    assert approved.status == CommentStatus.APPROVED


def test_a_rejected_comment_is_not_sent_back(client, api_key, make_comment, settings, site):
    site.report_threshold = 1
    site.save()
    comment = make_comment()
    Comment.objects.filter(pk=comment.pk).update(status=CommentStatus.REJECTED)
    assert report(client, api_key, comment, "r1").json()["status"] == "rejected"


def test_a_reader_over_the_limit_gets_a_clear_429(client, api_key, make_comment, settings):
    settings.MODERATION_REPORTS_PER_WINDOW = 2
    comments = [make_comment() for _ in range(3)]
    assert [report(client, api_key, c, "busy").status_code for c in comments[:2]] == [201, 201]
    refused = report(client, api_key, comments[2], "busy")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json()["error"]["field"] == "reporter_id"
    assert "more than 2 reports" in refused.json()["error"]["message"]
    assert report(client, api_key, comments[2], "someone-else").status_code == 201
    assert not Report.objects.filter(comment=comments[2], reporter_id="busy").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"reason": "abusive"}, "reporter_id"),
        ({"reporter_id": "r1"}, "reason"),
        ({"reporter_id": "r1", "reason": "  "}, "reason"),
        ({"reporter_id": "r1", "reason": "x" * 501}, "reason"),
        ({"reporter_id": 7, "reason": "abusive"}, "reporter_id"),
        ({"reporter_id": "r1", "reason": "abusive", "score": 1}, "score"),
        ("[]", "body"),
    ],
)
def test_bad_reports_name_the_field(client, api_key, approved, body, field):
    response = call(client, "post", f"/api/v1/comments/{approved.pk}/reports", api_key, body)
    assert response.status_code == 400 and response.json()["error"]["field"] == field


def test_another_sites_comment_cannot_be_reported(client, approved):
    _, other_key = create_api_key(get_or_create_site("other"))
    assert report(client, other_key, approved, "r1").status_code == 404
    assert call(client, "get", f"/api/v1/comments/{approved.pk}/reports", other_key).status_code == 405


def test_the_celery_task_reports_by_the_sites_comment_id_and_runs_twice_to_one_report(approved, site):
    from worker.tasks import report_comment_task

    for _ in range(2):
        result = report_comment_task(
            site="default", site_comment_id=approved.site_comment_id, reporter_id="r1", reason="spam"
        )
    assert result == {"comment_id": approved.pk, "created": False, "sent_to_review": False}
    assert Report.objects.filter(comment=approved).count() == 1
    assert report_comment_task(site_comment_id="nope", reporter_id="r1", reason="x")["error"]["field"] == (
        "site_comment_id"
    )
    assert report_comment_task(site_comment_id="nope", reason="x")["error"]["field"] == "reporter_id"


def test_report_threshold_is_validated(site):
    from django.core.exceptions import ValidationError

    site.report_threshold = 0
    with pytest.raises(ValidationError) as caught:
        site.full_clean()
    assert "report_threshold" in caught.value.message_dict


# --- Commenter states through the API ---------------------------------------------------------------------


def test_commenter_state_put_and_get(client, api_key):
    path = "/api/v1/commenters/reader-9"
    assert call(client, "get", path, api_key).json() == {
        "author_id": "reader-9",
        "state": "normal",
        "until": None,
        "reason": "",
        "updated_at": None,
        "updated_by": None,
    }
    body = {"state": "suspended", "until": "2999-01-01T00:00:00Z", "reason": "cooling off"}
    put = call(client, "put", path, api_key, body)
    assert put.status_code == 200
    got = call(client, "get", path, api_key).json()
    assert got["state"] == "suspended" and got["until"].startswith("2999-01-01T00:00:00")
    assert got["reason"] == "cooling off" and got["updated_by"] == "site:default"
    entry = AuditEntry.objects.get(action="commenter_state")
    assert entry.actor_label == "site:default" and entry.after["author_id"] == "reader-9"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"state": "exiled"}, "state"),
        ({"state": "suspended"}, "until"),
        ({"state": "suspended", "until": "soon"}, "until"),
        ({"state": "trusted", "until": "2999-01-01T00:00:00Z"}, "until"),
        ({"state": "banned", "note": "x"}, "note"),
    ],
)
def test_bad_commenter_states_name_the_field_over_http(client, api_key, body, field):
    response = call(client, "put", "/api/v1/commenters/reader-9", api_key, body)
    assert response.status_code == 400 and response.json()["error"]["field"] == field
    assert response.json()["error"]["message"]


def test_commenter_states_are_per_site(client, api_key):
    call(client, "put", "/api/v1/commenters/reader-9", api_key, {"state": "banned"})
    _, other_key = create_api_key(get_or_create_site("other"))
    assert call(client, "get", "/api/v1/commenters/reader-9", other_key).json()["state"] == "normal"


def test_answers_match_the_openapi_document(client, api_key, approved, settings):
    import jsonschema_rs

    from moderation.api.openapi import openapi_document

    def conforms(document, path, method, response):
        answer = document["paths"][path][method]["responses"][str(response.status_code)]
        schema = answer["content"]["application/json"]["schema"]
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})
        validator.validate(response.json())

    settings.MODERATION_REPORTS_PER_WINDOW = 1
    document = openapi_document()
    reports_path, commenter_path = "/api/v1/comments/{id}/reports", "/api/v1/commenters/{author_id}"
    cases = [
        (reports_path, "post", report(client, api_key, approved, "r1"), 201),
        (reports_path, "post", report(client, api_key, approved, "r1"), 429),
        (reports_path, "post", report(client, api_key, approved, ""), 400),
        (commenter_path, "get", call(client, "get", "/api/v1/commenters/a", api_key), 200),
        (
            commenter_path,
            "put",
            call(client, "put", "/api/v1/commenters/a", api_key, {"state": "banned"}),
            200,
        ),
        (commenter_path, "put", call(client, "put", "/api/v1/commenters/a", api_key, {"state": "x"}), 400),
    ]
    for path, method, response, status in cases:
        assert response.status_code == status, (path, response.content[:200])
        conforms(document, path, method, response)


def test_erasing_an_author_removes_reports_of_their_comments_their_own_reports_and_fingerprints(
    site, approved, make_comment
):
    from moderation.services import erase_author, report_comment

    other = make_comment(author_id="someone-else")
    report_comment(approved, "r1", "quotes the comment")
    report_comment(other, approved.author_id, "reported by the author being erased")
    assert Comment.objects.get(pk=approved.pk).text_fingerprint
    erase_author(site, approved.author_id)
    assert not Report.objects.exists()
    assert not AuditEntry.objects.filter(after__reporter_id=approved.author_id).exists()
    assert Comment.objects.get(pk=approved.pk).text_fingerprint == ""


def test_an_erased_comment_cannot_be_reported(client, api_key, site, approved):
    from moderation.services import erase_author

    erase_author(site, approved.author_id)
    assert report(client, api_key, approved, "r1").status_code == 404
