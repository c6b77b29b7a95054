"""The HTTP ingestion and status API through Django's test client (enqueueing is checked in e2e tests)."""

import json

import pytest

from moderation.models import Comment, CommentStatus
from tests.conftest import comment_payload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Unit tests: record what would be enqueued instead of talking to Redis."""
    sent = []
    monkeypatch.setattr("moderation.api.v1.enqueue_decide", lambda ids: sent.append(list(ids)) or True)
    return sent


def post(client, data, key, **extra):
    body = data if isinstance(data, (bytes, str)) else json.dumps(data)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.post("/api/v1/comments", body, content_type="application/json", **headers, **extra)


def test_submit_returns_202_stores_queued_and_enqueues_after_commit(client, api_key, no_broker):
    response = post(client, comment_payload(), api_key)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    comment = Comment.objects.get(pk=body["id"])
    assert comment.status == CommentStatus.QUEUED and comment.source == "api"
    assert comment.audit.filter(action="submitted").count() == 1


def test_enqueue_happens_on_commit(client, api_key, no_broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = post(client, comment_payload(), api_key).json()
    assert no_broker == [[body["id"]]]


def test_same_site_comment_id_twice_is_one_comment(
    client, api_key, django_capture_on_commit_callbacks, no_broker
):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, comment_payload(7), api_key)
        second = post(client, comment_payload(7), api_key)
    assert first.status_code == 202 and second.status_code == 200
    assert second.json()["duplicate"] is True and second.json()["id"] == first.json()["id"]
    assert Comment.objects.count() == 1
    assert Comment.objects.get().text.startswith("Pakistan")
    assert len(no_broker) == 1


def test_a_new_text_under_the_same_id_is_an_edit_moderated_again(
    client, api_key, django_capture_on_commit_callbacks, no_broker
):
    """Issue 21: an edit is not a duplicate (services/test_desk_controls.py covers the history)."""
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, comment_payload(7), api_key)
        second = post(client, comment_payload(7, text="edited text"), api_key)
    assert second.status_code == 202
    assert second.json() == {"id": first.json()["id"], "status": "queued", "edited": True, "revision": 1}
    assert Comment.objects.get().text == "edited text"
    assert no_broker == [[first.json()["id"]], [first.json()["id"]]]


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_missing_or_wrong_key_is_401(client, site, key):
    response = post(client, comment_payload(), key)
    assert response.status_code == 401
    assert response.json()["error"]["field"] == "Authorization"
    assert Comment.objects.count() == 0


def test_revoked_key_is_401(client, site, api_key):
    from django.utils import timezone

    site.api_keys.update(revoked_at=timezone.now())
    assert post(client, comment_payload(), api_key).status_code == 401


def test_bad_field_is_400_naming_it_and_nothing_is_stored(client, api_key, no_broker):
    response = post(client, comment_payload(text=""), api_key)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "text"
    assert Comment.objects.count() == 0 and no_broker == []


def test_text_over_limit_is_413(client, api_key, settings):
    settings.MODERATION_MAX_TEXT_CHARS = 50
    response = post(client, comment_payload(text="y" * 51), api_key)
    assert response.status_code == 413
    assert "limit is 50" in response.json()["error"]["message"]
    assert Comment.objects.count() == 0


def test_body_over_limit_is_413_before_parsing(client, api_key, settings):
    settings.MODERATION_MAX_BODY_BYTES = 1000
    response = post(client, json.dumps(comment_payload(text="z" * 2000)), api_key)
    assert response.status_code == 413 and response.json()["error"]["field"] == "body"


@pytest.mark.parametrize(
    "body,needle",
    [
        (b"{not json", "not valid JSON"),
        (b'{"text": "\xff\xfe"}', "UTF-8"),
        (b"[" * 50 + b"]" * 50, "nested deeper"),
        (b'"just a string"', "JSON object"),
    ],
)
def test_malformed_bodies_are_400(client, api_key, body, needle):
    response = post(client, body, api_key)
    assert response.status_code == 400
    assert needle in response.json()["error"]["message"]


def test_wrong_content_type_is_400(client, api_key):
    response = client.post(
        "/api/v1/comments",
        "text=hi",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == "Content-Type"


def test_other_methods_on_collection_are_405(client, api_key):
    response = client.put("/api/v1/comments", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 405 and response["Allow"] == "GET, POST"


def test_a_comment_is_looked_up_by_the_sites_own_id(client, api_key, make_comment, site):
    """What a site that submitted over Celery knows: its own comment id (moderation.client.decision)."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    missing = client.get("/api/v1/comments", **headers)
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "site_comment_id"
    too_long = client.get("/api/v1/comments", {"site_comment_id": "x" * 300}, **headers)
    assert too_long.status_code == 400 and "limit is 255" in too_long.json()["error"]["message"]
    assert client.get("/api/v1/comments", {"site_comment_id": "c-nope"}, **headers).status_code == 404
    comment = make_comment()
    found = client.get("/api/v1/comments", {"site_comment_id": comment.site_comment_id}, **headers)
    assert found.status_code == 200
    assert found.json()["id"] == comment.pk and found.json()["status"] == "queued"
    assert client.get("/api/v1/comments", {"site_comment_id": comment.site_comment_id}).status_code == 401


def test_status_api_shows_decision_and_404s_unknown_ids(client, api_key, make_comment):
    comment = make_comment()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    body = client.get(f"/api/v1/comments/{comment.pk}", **headers).json()
    assert body["status"] == "queued" and body["site_comment_id"] == comment.site_comment_id
    assert set(body) >= {
        "id",
        "site_comment_id",
        "status",
        "scores",
        "reasons",
        "model_version",
        "decided_at",
    }
    assert client.get("/api/v1/comments/999999", **headers).status_code == 404


def test_status_api_needs_a_key(client, make_comment):
    assert client.get(f"/api/v1/comments/{make_comment().pk}").status_code == 401


def test_another_sites_comment_is_404(client, make_comment):
    from moderation.services import create_api_key, get_or_create_site

    comment = make_comment()
    _, other_key = create_api_key(get_or_create_site("other-site"))
    response = client.get(f"/api/v1/comments/{comment.pk}", HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert response.status_code == 404


def post_batch(client, items, key):
    return client.post(
        "/api/v1/comments:batch",
        json.dumps({"comments": items}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def test_batch_stores_all_and_dispatches_in_packed_messages(
    client, api_key, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MODERATION_DISPATCH_BATCH = 4
    sent = []
    monkeypatch.setattr("moderation.queue.enqueue_decide", lambda ids: sent.append(list(ids)) or True)
    items = [comment_payload(n) for n in range(10)] + [comment_payload(3)]  # one repeat inside the batch
    with django_capture_on_commit_callbacks(execute=True):
        response = post_batch(client, items, api_key)
    assert response.status_code == 202
    body = response.json()["comments"]
    assert len(body) == 11 and body[3]["id"] == body[10]["id"] and body[10]["duplicate"] is True
    assert Comment.objects.count() == 10
    assert [len(chunk) for chunk in sent] == [4, 4, 2]
    assert sorted(pk for chunk in sent for pk in chunk) == sorted(
        Comment.objects.values_list("pk", flat=True)
    )


def test_batch_with_a_bad_item_stores_nothing_and_names_each_item(client, api_key):
    items = [comment_payload(1), comment_payload(2, text=""), comment_payload(3, author_id=None)]
    response = post_batch(client, items, api_key)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "comments[1].text"
    assert [e["field"] for e in error["items"]] == ["comments[1].text", "comments[2].author_id"]
    assert Comment.objects.count() == 0


def test_batch_over_the_limit_is_413(client, api_key, settings):
    settings.MODERATION_MAX_BATCH = 3
    response = post_batch(client, [comment_payload(n) for n in range(4)], api_key)
    assert response.status_code == 413 and "limit is 3" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body", [{"comments": []}, {"comments": "x"}, {"comment": []}, {"comments": [], "x": 1}]
)
def test_batch_shape_errors(client, api_key, body):
    response = client.post(
        "/api/v1/comments:batch",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == "comments"


def test_database_failure_is_503_with_retry_after(client, api_key, monkeypatch):
    from django.db import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("moderation.api.v1.accept_comment", broken)
    response = post(client, comment_payload(), api_key)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"]["field"] == "database"


def test_check_scores_without_storing(client, api_key):
    response = client.post(
        "/api/v1/check",
        json.dumps({"text": "You are a pathetic idiot"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] in {"rejected", "needs_review"} and body["scores"]["toxicity"] > 0.5
    assert body["model_version"] and body["reasons"]
    assert Comment.objects.count() == 0


def test_check_sends_an_unsupported_language_to_review(client, api_key):
    response = client.post(
        "/api/v1/check",
        json.dumps({"text": "پاکستان کو طالبان حکومت تسلیم نہیں کرنی چاہیے"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    body = response.json()
    assert body["outcome"] == "needs_review" and body["language"] == "ur"


def test_check_warns_of_the_sites_link_settings(client, api_key, site):
    from moderation.services import set_link_domains

    def check(text):
        return client.post(
            "/api/v1/check",
            json.dumps({"text": text}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_key}",
        ).json()

    civil = "The council published the full roads budget, worth reading: http://council.example.org/roads"
    assert check(civil)["outcome"] == "approved"  # no link setting: left to the model
    set_link_domains(site, allowed=["gov.uk"], denied=["example.org"], actor_label="ed")
    denied = check(civil)
    assert denied["outcome"] == "rejected" and denied["reason_codes"][0] == "denied_link"
    assert denied["reasons"][0] == "a link to council.example.org: example.org is on the site's deny list"
    set_link_domains(site, allowed=["gov.uk"], denied=[], actor_label="ed", hold_links=True)
    held = check(civil)
    assert held["outcome"] == "needs_review" and held["reason_codes"][0] == "held_link"
    assert check("The figures are on www.ons.gov.uk for anyone who asks.")["outcome"] == "approved"
    assert Comment.objects.count() == 0


@pytest.mark.parametrize(
    "body,field", [({"text": ""}, "text"), ({"text": "hi", "extra": 1}, "body"), ({}, "text")]
)
def test_check_validates(client, api_key, body, field):
    response = client.post(
        "/api/v1/check",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == field
