"""The OpenAPI document at /api/v1/openapi.json matches the live API, and the API survives fuzzing from it
(schemathesis, bounded budget: no 5xx, every answer's status, content type and body as documented)."""

import json

import jsonschema_rs
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from moderation.api.openapi import openapi_document
from moderation.validation import ALLOWED_FIELDS, REQUIRED_FIELDS, STRING_LIMITS
from tests.conftest import comment_payload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch, settings):
    monkeypatch.setattr("moderation.api.v1.enqueue_decide", lambda ids: True)
    monkeypatch.setattr("moderation.api.v1.dispatch", lambda ids: True)
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 0  # fuzzing sends hundreds of requests with one key


def resolve(document, schema):
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def response_schema(document, path, method, status):
    response = document["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    # Validate with every component reachable, as a client would.
    return (
        {**schema, "components": document["components"]}
        if "$ref" not in schema
        else {"$ref": schema["$ref"], "components": document["components"]}
    )


def conforms(document, path, method, response):
    schema = response_schema(document, path, method, response.status_code)
    jsonschema_rs.Draft202012Validator(schema).validate(response.json())


def test_served_document_is_the_module_one_and_needs_no_key(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == json.loads(json.dumps(openapi_document()))
    assert response.json()["openapi"].startswith("3.")


def test_document_limits_are_the_enforced_ones(settings):
    settings.MODERATION_MAX_TEXT_CHARS = 1234
    settings.MODERATION_MAX_BATCH = 77
    document = openapi_document()
    submission = document["components"]["schemas"]["Submission"]
    assert set(submission["properties"]) == ALLOWED_FIELDS
    assert submission["required"] == list(REQUIRED_FIELDS) and submission["additionalProperties"] is False
    assert submission["properties"]["text"]["maxLength"] == 1234
    for field, limit in STRING_LIMITS.items():
        prop = submission["properties"][field]
        strings = [s for s in prop.get("anyOf", [prop]) if s.get("type") == "string"]
        assert strings[0]["maxLength"] == limit, field
    assert document["components"]["schemas"]["Batch"]["properties"]["comments"]["maxItems"] == 77


def test_documented_answers_match_live_ones(client, api_key, make_comment, settings):
    """One real request per documented status that can be produced here; each body validates against the
    document's schema for that status."""
    document = openapi_document()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}

    def post(path, body, **extra):
        return client.post(path, json.dumps(body), content_type="application/json", **{**auth, **extra})

    cases = [
        ("/api/v1/comments", "post", post("/api/v1/comments", comment_payload(1)), 202),
        ("/api/v1/comments", "post", post("/api/v1/comments", comment_payload(1)), 200),
        ("/api/v1/comments", "post", post("/api/v1/comments", comment_payload(2, text="")), 400),
        (
            "/api/v1/comments",
            "post",
            post("/api/v1/comments", comment_payload(3), HTTP_AUTHORIZATION="x"),
            401,
        ),
        ("/api/v1/comments", "post", post("/api/v1/comments", comment_payload(4, text="x" * 10_001)), 413),
        (
            "/api/v1/comments:batch",
            "post",
            post("/api/v1/comments:batch", {"comments": [comment_payload(5)]}),
            202,
        ),
        (
            "/api/v1/comments:batch",
            "post",
            post("/api/v1/comments:batch", {"comments": [comment_payload(6), comment_payload(7, ip="x")]}),
            400,
        ),
        ("/api/v1/check", "post", post("/api/v1/check", {"text": "What a thoughtful article."}), 200),
        ("/api/v1/check", "post", post("/api/v1/check", {"text": 5}), 400),
    ]
    comment = make_comment()
    cases.append(("/api/v1/comments/{id}", "get", client.get(f"/api/v1/comments/{comment.pk}", **auth), 200))
    cases.append(("/api/v1/comments/{id}", "get", client.get("/api/v1/comments/999999", **auth), 404))
    for path, method, response, status in cases:
        assert response.status_code == status, (path, response.content[:200])
        assert str(status) in document["paths"][path][method]["responses"], (path, status)
        conforms(document, path, method, response)


def test_every_status_the_api_answers_is_documented():
    document = openapi_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert {"401", "405", "429"} <= set(operation["responses"]), (path, method)


# --- Fuzzing (schemathesis) ---------------------------------------------------------------------------------

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def keep_test_connection():
    """Requests through the WSGI app close the database connection when they finish, which would close the
    test's transaction; Django's own test client disconnects that signal the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same cases every run, so CI is reproducible; change the budget to explore more
    suppress_health_check=list(HealthCheck),
)
def test_fuzz_api_from_its_openapi_document(case, api_key, keep_test_connection):
    response = case.call(headers={"Authorization": f"Bearer {api_key}"})
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
