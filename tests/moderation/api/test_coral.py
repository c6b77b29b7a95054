"""The Coral Talk external moderation phase adapter (moderation/api/coral.py) through Django's test client.

Requests are built as Coral builds them (coralproject/talk, services/comments/pipeline/phases/external.ts and
services/fetch/fetch.ts): the body is ``JSON.stringify(request, null, 2)`` and ``X-Coral-Signature`` is
``sha256=<hex HMAC-SHA256 of the body>`` per active secret, joined by commas."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.moderation.api.perspective_test_urls")]

URL = "/coral/v1/moderation"
SECRET = "ems_5d0c4a4ad3e0b6e1c8f7a2b9d4e6f8a0c2b4d6e8f0a2c4e6"

POLITE = "Thanks for the thoughtful article, I learned a lot about the city budget."
ABUSIVE = "You are a pathetic idiot and a worthless piece of garbage, shut up."
SPAM = "FREE gift cards!!! Click here http://cheap-pills.example.com to WIN money now, buy cheap viagra"


@pytest.fixture(autouse=True)
def coral_secret(settings):
    settings.MODERATION_CORAL_SIGNING_SECRET = SECRET


def coral_request(text: str, action: str = "NEW") -> dict:
    """ExternalModerationRequest, fields and order as external.ts's processPhase builds it."""
    return {
        "action": action,
        "comment": {"body": text, "parentID": None},
        "author": {"id": "f2a6f6b4-1b1e-4b8e-9f3c-2d7c1d0b9a11", "role": "COMMENTER"},
        "story": {
            "id": "3c0b8a52-7b7e-4d0b-a1f2-6b9f0e2c4d10",
            "url": "https://news.example.com/2026/budget",
        },
        "site": {"id": "9e7d2f1a-5c3b-4a8e-b6d4-0f1e2a3b4c5d"},
        "tenantID": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
        "tenantDomain": "comments.news.example.com",
    }


def js_stringify(data: dict) -> bytes:
    """JSON.stringify(data, null, 2): two-space indent, ": " after keys, "," line ends, UTF-8 unescaped."""
    return json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")


def coral_signature(body: bytes, *secrets: str) -> str:
    return ",".join(
        "sha256=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in (secrets or (SECRET,))
    )


def send(client, key, body: bytes, signature: str | None):
    headers = {"HTTP_USER_AGENT": "Coral Moderation/9.0.0"}
    if signature is not None:
        headers["HTTP_X_CORAL_SIGNATURE"] = signature
    return client.post(f"{URL}?key={key}", body, content_type="application/json", **headers)


def moderate(client, key, text):
    body = js_stringify(coral_request(text))
    return send(client, key, body, coral_signature(body))


def test_polite_comment_is_approved(client, api_key):
    response = moderate(client, api_key, POLITE)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "APPROVED"}


@pytest.fixture
def rejecting_site(site):
    """A site that lets insult and spam reject (the shipped thresholds reject nothing for abuse: no abuse
    label reaches their precision on news comments, models/README.md)."""
    site.policy_overrides = {"insult": {"review": 0.3, "reject": 0.3}, "spam": {"reject": 0.5}}
    site.save()
    return site


def test_abusive_comment_is_held_and_flagged_under_the_default_policy(client, api_key):
    response = moderate(client, api_key, ABUSIVE)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "PREMOD",
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
    }


def test_abusive_comment_is_rejected_as_toxic(client, api_key, rejecting_site):
    response = moderate(client, api_key, ABUSIVE)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "REJECTED",
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
    }


def test_spam_comment_is_rejected_as_spam(client, api_key, rejecting_site):
    response = moderate(client, api_key, SPAM)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "REJECTED",
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"}],
    }


def test_needs_review_goes_to_premod_with_the_site_thresholds(client, api_key, site):
    # A site whose review threshold for toxicity is 0: every comment reaches review, none is rejected.
    site.policy_overrides = {"toxicity": {"review": 0.0}}
    site.save()
    response = moderate(client, api_key, POLITE)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "PREMOD"


def test_a_telephone_number_goes_to_premod_flagged_as_spam(client, api_key):
    response = moderate(client, api_key, "Router down? Dial tech support +1 555 0112 for a remote fix.")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "PREMOD",
        "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"}],
    }


def test_language_the_model_cannot_judge_goes_to_premod_without_a_flag(client, api_key):
    response = moderate(client, api_key, "Это очень интересная статья о городском бюджете, спасибо автору.")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "PREMOD"}


def test_example_request_replayed_exactly_as_coral_builds_it(client, api_key, rejecting_site):
    """The bytes Coral sends: JSON.stringify(request, null, 2) of processPhase's object, signed with two
    active secrets (rotation), the second one ours."""
    body = (
        b'{\n  "action": "NEW",\n  "comment": {\n    "body": "You are a pathetic idiot and a worthless '
        b'piece of garbage, shut up.",\n    "parentID": null\n  },\n  "author": {\n    "id": "user-1",'
        b'\n    "role": "COMMENTER"\n  },\n  "story": {\n    "id": "story-1",\n    "url": '
        b'"https://news.example.com/a"\n  },\n  "site": {\n    "id": "site-1"\n  },\n  "tenantID": '
        b'"tenant-1",\n  "tenantDomain": "news.example.com"\n}'
    )
    signature = coral_signature(body, "ems_oldsecretnotours0000000000000000", SECRET)
    response = send(client, api_key, body, signature)
    assert response.status_code == 200, response.content
    answer = response.json()
    # Coral's Joi schema: status one of GQLCOMMENT_STATUS, actions [{actionType: FLAG, reason: TOXIC|SPAM}].
    assert set(answer) <= {"status", "actions", "tags"}
    assert answer["status"] == "REJECTED"
    assert answer["actions"] == [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}]


def test_edit_action_is_moderated_too(client, api_key, rejecting_site):
    body = js_stringify(coral_request(ABUSIVE, action="EDIT"))
    assert send(client, api_key, body, coral_signature(body)).json()["status"] == "REJECTED"


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=" + "0" * 64, "sha1=abc", "sha256=not-hex"],
)
def test_missing_or_wrong_signature_is_401(client, api_key, signature):
    body = js_stringify(coral_request(POLITE))
    response = send(client, api_key, body, signature)
    assert response.status_code == 401
    assert "X-Coral-Signature" in response.json()["error"]["message"]


def test_signature_with_another_secret_is_401(client, api_key):
    body = js_stringify(coral_request(POLITE))
    assert send(client, api_key, body, coral_signature(body, "ems_someoneelse")).status_code == 401


def test_tampered_body_is_refused(client, api_key):
    body = js_stringify(coral_request(ABUSIVE))
    signature = coral_signature(body)
    tampered = body.replace(b"pathetic idiot", b"lovely person.")
    assert tampered != body
    response = send(client, api_key, tampered, signature)
    assert response.status_code == 401
    # Re-serialising the same object differently also breaks the signature: the raw bytes are what is signed.
    compact = json.dumps(coral_request(ABUSIVE)).encode()
    assert send(client, api_key, compact, signature).status_code == 401


def test_bad_key_is_403(client):
    body = js_stringify(coral_request(POLITE))
    assert send(client, "not-a-key", body, coral_signature(body)).status_code == 403


def test_unconfigured_secret_is_503_naming_the_setting(client, api_key, settings):
    settings.MODERATION_CORAL_SIGNING_SECRET = ""
    body = js_stringify(coral_request(POLITE))
    response = send(client, api_key, body, coral_signature(body))
    assert response.status_code == 503
    assert "MODERATION_CORAL_SIGNING_SECRET" in response.json()["error"]["message"]


def test_signed_body_that_is_not_coral_request_is_400(client, api_key):
    body = b'{"comment": {"text": "wrong field"}}'
    response = send(client, api_key, body, coral_signature(body))
    assert response.status_code == 400
    assert "comment.body" in response.json()["error"]["message"]


def test_get_is_405(client, api_key):
    assert client.get(f"{URL}?key={api_key}").status_code == 405
