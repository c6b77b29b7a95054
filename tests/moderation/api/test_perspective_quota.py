"""Quota of the Perspective-compatible API (moderation/api/perspective.py): the per-key limit of
moderation/ratelimit.py, against the real Redis (this run's key prefix), answered in Google's error shape."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.moderation.api.perspective_test_urls")]

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"


@pytest.fixture(autouse=True)
def clean_counters(real_redis, settings, one_rate_window):
    pattern = f"{settings.MODERATION_REDIS_KEY_PREFIX}ratelimit:*"
    assert settings.MODERATION_REDIS_KEY_PREFIX, "tests must run with a Redis key prefix of their own"
    for key in real_redis.scan_iter(match=pattern):
        real_redis.delete(key)
    yield real_redis
    for key in real_redis.scan_iter(match=pattern):
        real_redis.delete(key)


def analyze(client, key):
    body = {"comment": {"text": "What kind of idiot name is foo?"}, "requestedAttributes": {"TOXICITY": {}}}
    return client.post(f"{ANALYZE}?key={key}", json.dumps(body), content_type="application/json")


def suggest(client, key):
    body = {"comment": {"text": "nice"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.1}}}}
    return client.post(f"{SUGGEST}?key={key}", json.dumps(body), content_type="application/json")


def test_over_quota_is_429_resource_exhausted_with_retry_after(client, api_key, settings):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        assert analyze(client, api_key).status_code == 200
    response = analyze(client, api_key)
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    assert "Quota exceeded" in error["message"]
    assert 1 <= int(response["Retry-After"]) <= 60


def test_both_endpoints_and_the_ingestion_api_share_one_counter(client, api_key, settings):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 2
    assert analyze(client, api_key).status_code == 200
    assert suggest(client, api_key).status_code == 200
    assert suggest(client, api_key).status_code == 429
    assert analyze(client, api_key).status_code == 429
    # The ingestion API counts against the same key's minute.
    response = client.get("/api/v1/comments/1", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 429


def test_keys_have_their_own_quota(client, site, settings):
    from moderation.services import create_api_key

    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 1
    _, first = create_api_key(site)
    _, second = create_api_key(site)
    assert analyze(client, first).status_code == 200
    assert analyze(client, first).status_code == 429
    assert analyze(client, second).status_code == 200


def test_bad_key_is_refused_before_counting(client, api_key, settings, real_redis):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 1
    assert analyze(client, "not-a-key").status_code == 403
    assert analyze(client, api_key).status_code == 200


def test_coral_adapter_counts_against_the_same_quota(client, api_key, settings):
    import hashlib
    import hmac

    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 1
    settings.MODERATION_CORAL_SIGNING_SECRET = "ems_test"
    body = json.dumps(
        {"action": "NEW", "comment": {"body": "nice article", "parentID": None}}, indent=2
    ).encode()
    signature = "sha256=" + hmac.new(b"ems_test", body, hashlib.sha256).hexdigest()
    assert analyze(client, api_key).status_code == 200
    response = client.post(
        f"/coral/v1/moderation?key={api_key}",
        body,
        content_type="application/json",
        HTTP_X_CORAL_SIGNATURE=signature,
    )
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
