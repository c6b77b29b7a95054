"""Malformed and hostile requests to every endpoint get a clear 4xx, never a 500, and never store a comment
(issue 6, part 2). The JSON endpoints answer ``{"error": {"field", "message"}}``."""

import json

import pytest

from moderation.models import Comment
from tests.conftest import comment_payload

pytestmark = pytest.mark.django_db

BIG_ID = "9" * 30  # past every integer column


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr("moderation.api.v1.enqueue_decide", lambda ids: sent.append(list(ids)) or True)
    monkeypatch.setattr("moderation.api.v1.dispatch", lambda ids: sent.append(list(ids)) or True)
    return sent


def send(client, path, body, key, content_type="application/json"):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return client.generic("POST", path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")


def as_item(path, payload):
    """The same payload shaped for each endpoint: a submission, a one-item batch, or a check's ``text``."""
    if path.endswith(":batch"):
        return {"comments": [payload]}
    if path.endswith("/check"):
        return {"text": payload["text"]} if isinstance(payload, dict) and "text" in payload else payload
    return payload


ENDPOINTS = ["/api/v1/comments", "/api/v1/comments:batch", "/api/v1/check"]


def assert_refused(response, status=400, field=None):
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["message"]
    if field is not None:
        assert error["field"].endswith(field), error
    assert Comment.objects.count() == 0


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\n\t \r\n",
        "\u200b",
        "\u200b\u200c\u200d\ufeff",
        " \u2060\u00ad ",
        "\u202e\u202d",
        "\u3000\u00a0",
    ],
    ids=[
        "empty",
        "spaces",
        "whitespace",
        "zwsp",
        "zero-widths",
        "word-joiner-soft-hyphen",
        "bidi",
        "wide-spaces",
    ],
)
def test_empty_or_invisible_text_is_400(client, api_key, path, text):
    assert_refused(send(client, path, as_item(path, comment_payload(text=text)), api_key), 400, "text")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_text_over_the_limit_is_413_and_nothing_stored(client, api_key, path, settings, no_broker):
    settings.MODERATION_MAX_TEXT_CHARS = 100
    response = send(client, path, as_item(path, comment_payload(text="é" * 101)), api_key)
    assert_refused(response, 413, "text")
    assert "limit is 100" in response.json()["error"]["message"] and no_broker == []


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [b'{"text": "\xff\xfe"}', b"\xc3\x28", b'{"text": "caf\xe9"}', b"\xed\xa0\x80", b"\xef\xbb\xbf{}"],
    ids=["ff-fe", "bad-continuation", "latin-1", "utf8-encoded-surrogate", "bom"],
)
def test_invalid_utf8_is_400(client, api_key, path, body):
    assert_refused(send(client, path, body, api_key), 400, "body")


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\udbff", "\\udc00\\ud800"])
def test_lone_surrogate_escapes_are_400(client, api_key, path, escape):
    body = json.dumps(as_item(path, comment_payload(text="PLACEHOLDER"))).replace("PLACEHOLDER", escape)
    assert_refused(send(client, path, body, api_key), 400, "text")


@pytest.mark.parametrize("field", ["author_id", "story_title", "site_comment_id"])
def test_lone_surrogate_in_other_fields_and_keys_is_400(client, api_key, field):
    body = json.dumps(comment_payload(**{field: "PLACEHOLDER"})).replace("PLACEHOLDER", "a\\ud800")
    assert_refused(send(client, "/api/v1/comments", body, api_key), 400, field)
    body = json.dumps(comment_payload(PLACEHOLDER=1)).replace("PLACEHOLDER", "\\ud800")
    response = send(client, "/api/v1/comments", body, api_key)
    assert_refused(response, 400)
    json.loads(response.content.decode("utf-8"))  # the answer itself is valid UTF-8 JSON


def test_a_valid_surrogate_pair_is_an_ordinary_character(client, api_key):
    body = json.dumps(comment_payload(text="PLACEHOLDER")).replace("PLACEHOLDER", "nice one \\ud83d\\ude00")
    response = send(client, "/api/v1/comments", body, api_key)
    assert response.status_code == 202
    assert Comment.objects.get().text == "nice one \U0001f600"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_nul_in_text_is_400(client, api_key, path):
    assert_refused(
        send(client, path, as_item(path, comment_payload(text="you \x00 there")), api_key), 400, "text"
    )


@pytest.mark.parametrize("field", ["author_id", "story_id", "author_name", "user_agent", "created_at", "ip"])
def test_nul_in_any_field_is_400(client, api_key, field):
    assert_refused(
        send(client, "/api/v1/comments", comment_payload(**{field: "a\x00b"}), api_key), 400, field
    )


def test_nul_in_a_field_name_is_400(client, api_key):
    assert_refused(send(client, "/api/v1/comments", {**comment_payload(), "te\x00xt": "x"}, api_key), 400)


@pytest.mark.parametrize("path", ["/api/v1/comments", "/api/v1/comments:batch"])
@pytest.mark.parametrize(
    "field,value",
    [
        ("text", 123),
        ("text", ["a"]),
        ("text", {"a": 1}),
        ("text", True),
        ("text", None),
        ("text", 1.5),
        ("author_id", True),
        ("author_id", 1.5),
        ("author_id", []),
        ("site_comment_id", {"x": 1}),
        ("story_id", None),
        ("created_at", 1700000000),
        ("created_at", "yesterday"),
        ("created_at", "2026-11-27"),
        ("ip", 127),
        ("ip", "999.1.1.1"),
        ("language", ["en"]),
        ("story_title", 5),
    ],
)
def test_wrong_types_are_400_naming_the_field(client, api_key, path, field, value):
    assert_refused(send(client, path, as_item(path, comment_payload(**{field: value})), api_key), 400, field)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_unknown_fields_are_400(client, api_key, path):
    payload = {**comment_payload(), "is_admin": True}
    response = send(
        client,
        path,
        as_item(path, payload) if not path.endswith("check") else {"text": "hello there", "is_admin": True},
        api_key,
    )
    assert_refused(response, 400)
    assert (
        "is_admin" in response.json()["error"]["field"]
        or "no other field" in response.json()["error"]["message"]
    )


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    ["[]", '"text"', "1", "null", "true", "", "{", '{"text": "a",}', "{'text': 'a'}", "NaN"],
)
def test_bodies_that_are_not_an_object_are_400(client, api_key, path, body):
    assert_refused(send(client, path, body, api_key), 400)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_nan_and_huge_numbers_are_400(client, api_key, path):
    body = json.dumps(as_item(path, comment_payload(text="PLACEHOLDER"))).replace('"PLACEHOLDER"', "NaN")
    assert_refused(send(client, path, body, api_key), 400)
    body = json.dumps(as_item(path, comment_payload(text="PLACEHOLDER"))).replace('"PLACEHOLDER"', "1" * 5000)
    assert_refused(send(client, path, body, api_key), 400)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_huge_json_is_413_before_parsing(client, api_key, path, settings):
    settings.MODERATION_MAX_BODY_BYTES = 2048
    settings.MODERATION_MAX_BATCH_BODY_BYTES = 4096
    body = json.dumps(as_item(path, comment_payload(text="x" * 9_000)))
    assert_refused(send(client, path, body, api_key), 413, "body")


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("depth", [9, 50, 100_000])
def test_deep_nesting_is_400(client, api_key, path, depth):
    body = '{"text": ' + "[" * depth + "]" * depth + "}"
    response = send(client, path, body, api_key)
    assert response.status_code in (400, 413)
    assert Comment.objects.count() == 0


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_wrong_content_type_is_400(client, api_key, path, content_type):
    response = send(
        client, path, json.dumps(as_item(path, comment_payload())), api_key, content_type=content_type
    )
    assert_refused(response, 400, "Content-Type")


def test_json_with_a_charset_parameter_is_accepted(client, api_key):
    response = send(
        client, "/api/v1/comments", comment_payload(), api_key, content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 202


@pytest.mark.parametrize("path", ENDPOINTS + ["/api/v1/comments/1"])
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_methods_are_405(client, api_key, path, method):
    response = client.generic(
        method, path, "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key}"
    )
    assert response.status_code == 405 and response.json()["error"]["field"] == "method"


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer    ", "Basic abc", "Bearer é\u00ff", "Bearer " + "k" * 10_000, "bearer"]
)
def test_odd_authorization_headers_are_401(client, site, header):
    response = client.post(
        "/api/v1/comments",
        json.dumps(comment_payload()),
        content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )
    assert_refused(response, 401, "Authorization")


@pytest.mark.parametrize("comment_id", [BIG_ID, str(2**63), str(2**63 - 1), "0"])
def test_status_api_ids_past_any_integer_are_404(client, api_key, comment_id):
    response = client.get(f"/api/v1/comments/{comment_id}", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 404 and response.json()["error"]["field"] == "id"


def test_batch_with_one_bad_item_among_many_stores_nothing(client, api_key, no_broker):
    items = [comment_payload(i) for i in range(20)] + [comment_payload(99, text="a\x00")]
    response = send(client, "/api/v1/comments:batch", {"comments": items}, api_key)
    assert_refused(response, 400, "text")
    assert response.json()["error"]["items"][0]["index"] == 20 and no_broker == []


@pytest.mark.parametrize(
    "items",
    [[None], ["text"], [[]], [1], [{"comments": []}]],
    ids=["null", "string", "list", "number", "nested"],
)
def test_batch_items_that_are_not_objects_are_400(client, api_key, items):
    response = send(client, "/api/v1/comments:batch", {"comments": items}, api_key)
    assert_refused(response, 400)
    assert response.json()["error"]["field"].startswith("comments[0].")


# --- Dashboard and login ------------------------------------------------------------------------------------


@pytest.fixture
def logged_in(client, moderator):
    client.force_login(moderator)
    return client


@pytest.mark.parametrize(
    "query",
    [
        "?page=abc",
        "?page=-1",
        f"?page={BIG_ID}",
        "?sort=nope",
        "?status=nope",
        "?label=%00",
        "?q=%00",
        "?q=a%00b",
        "?story=%00",
        "?author=%ff%fe",
        "?date_from=yesterday",
        "?date_to=2026-13-45",
        f"?date_from={BIG_ID}",
        "?decided_by=%00",
        "?model_version=" + "x" * 5000,
        "?q=%ED%A0%80",
    ],
)
def test_queue_filters_with_garbage_are_never_500(logged_in, make_comment, query):
    make_comment()
    response = logged_in.get("/dashboard/" + query)
    assert response.status_code in (200, 400), response.status_code


@pytest.mark.parametrize(
    "query", ["?comment=abc", f"?comment={BIG_ID}", "?actor=%00", "?action=%00", "?date_from=x", "?page=zz"]
)
def test_audit_filters_with_garbage_are_never_500(logged_in, make_comment, query):
    make_comment()
    response = logged_in.get("/dashboard/audit/" + query)
    assert response.status_code in (200, 400), response.status_code


@pytest.mark.parametrize("comment_id", [BIG_ID, str(2**63)])
def test_dashboard_ids_past_any_integer_are_404(logged_in, comment_id):
    assert logged_in.get(f"/dashboard/comments/{comment_id}/").status_code == 404
    assert (
        logged_in.post(f"/dashboard/comments/{comment_id}/action", {"action": "approve"}).status_code == 404
    )


@pytest.mark.parametrize(
    "data",
    [
        {"action": "nope", "expected_status": "needs_review"},
        {"action": "reject", "expected_status": "needs_review", "reason_code": "nope"},
        {"action": "reject", "expected_status": "needs_review", "reason_code": "other", "note": "a\x00b"},
        {
            "action": "reject",
            "expected_status": "needs_review",
            "reason_code": "other",
            "note": "n" * 100_000,
        },
        {"action": "approve", "expected_status": "\x00"},
        {},
    ],
    ids=["bad-action", "bad-reason", "nul-note", "huge-note", "nul-status", "empty"],
)
def test_action_forms_with_garbage_are_4xx_or_refused_cleanly(logged_in, make_comment, data):
    comment = make_comment()
    response = logged_in.post(f"/dashboard/comments/{comment.pk}/action", data)
    assert response.status_code in (302, 400), response.status_code
    if response.status_code == 400:
        comment.refresh_from_db()
        assert comment.decisions.count() == 0


@pytest.mark.parametrize(
    "selected",
    [[f"{BIG_ID}:needs_review"], ["abc:needs_review"], ["1:\x00"], ["\x00"], [":"], ["1:" + "x" * 5000]],
)
def test_bulk_with_garbage_selection_is_never_500(logged_in, make_comment, selected):
    make_comment()
    response = logged_in.post("/dashboard/bulk", {"action": "approve", "selected": selected})
    assert response.status_code in (302, 400), response.status_code


@pytest.mark.parametrize(
    "data",
    [
        {"site_id": BIG_ID, "author_id": "x"},
        {"site_id": "1", "author_id": "a\x00"},
        {"site_id": "x"},
        {"site_id": "1", "author_id": "x" * 5000, "reason_code": "other"},
    ],
)
def test_reject_author_with_garbage_is_never_500(logged_in, make_comment, data):
    make_comment()
    response = logged_in.post("/dashboard/authors/reject", data)
    assert response.status_code in (302, 400, 404), response.status_code


@pytest.mark.parametrize(
    "data",
    [
        {"username": "mod\x00", "password": "x"},
        {"username": "mod", "password": "a\x00b"},
        {"username": "m" * 100_000, "password": "x"},
        {"username": "", "password": ""},
        {"username": ["a", "b"], "password": "x"},
        {},
    ],
    ids=["nul-user", "nul-password", "huge-user", "empty", "list", "nothing"],
)
def test_login_with_garbage_is_a_form_error_not_a_500(client, moderator, data):
    response = client.post("/login/", data)
    assert response.status_code in (200, 400, 429), response.status_code
    assert "_auth_user_id" not in client.session


def test_login_with_invalid_utf8_in_the_body_is_never_500(client, moderator):
    response = client.generic(
        "POST",
        "/login/",
        b"username=%ff%fe&password=%ed%a0%80",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code in (200, 400, 403)
