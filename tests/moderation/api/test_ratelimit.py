"""Abuse limits (issue 6, part 3): per-key API rate limit and dashboard login throttling, against the real
Redis (this run's key prefix), plus fail-open when Redis is unreachable."""

import json
import logging

import pytest

from moderation import ratelimit
from moderation.models import ApiKey, Comment
from tests.conftest import comment_payload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_counters(real_redis, settings, monkeypatch, one_rate_window):
    """Counters of this run only; deleted before and after each test so tests do not lock each other out."""
    monkeypatch.setattr("moderation.api.v1.enqueue_decide", lambda ids: True)
    monkeypatch.setattr("moderation.api.v1.dispatch", lambda ids: True)
    pattern = f"{settings.MODERATION_REDIS_KEY_PREFIX}ratelimit:*"
    assert settings.MODERATION_REDIS_KEY_PREFIX, "tests must run with a Redis key prefix of their own"
    for key in real_redis.scan_iter(match=pattern):
        real_redis.delete(key)
    yield real_redis
    for key in real_redis.scan_iter(match=pattern):
        real_redis.delete(key)


def submit(client, key, n, **headers):
    return client.post(
        "/api/v1/comments",
        json.dumps(comment_payload(n)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **headers,
    )


def test_over_the_limit_is_429_with_retry_after_and_nothing_stored(client, api_key, settings):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 3
    assert [submit(client, api_key, n).status_code for n in range(3)] == [202, 202, 202]
    response = submit(client, api_key, 99)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "more than 3 requests this minute" in response.json()["error"]["message"]
    assert not Comment.objects.filter(site_comment_id="c-99").exists()


def test_every_endpoint_counts_against_the_same_key(client, api_key, settings, make_comment):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 2
    comment = make_comment()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    assert client.get(f"/api/v1/comments/{comment.pk}", **auth).status_code == 200
    assert (
        client.post(
            "/api/v1/comments:batch",
            json.dumps({"comments": [comment_payload(5)]}),
            content_type="application/json",
            **auth,
        ).status_code
        == 202
    )
    assert (
        client.post(
            "/api/v1/check", json.dumps({"text": "hello there"}), content_type="application/json", **auth
        ).status_code
        == 429
    )
    assert client.get(f"/api/v1/comments/{comment.pk}", **auth).status_code == 429


def test_spoofed_forwarded_headers_do_not_reset_the_count(client, api_key, settings):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 2
    submit(client, api_key, 1)
    submit(client, api_key, 2)
    for n, address in enumerate(["203.0.113.7", "198.51.100.1, 10.0.0.1", "::1"], start=3):
        response = submit(
            client,
            api_key,
            n,
            HTTP_X_FORWARDED_FOR=address,
            HTTP_X_REAL_IP=address,
            HTTP_FORWARDED=f"for={address}",
            REMOTE_ADDR="192.0.2.50",
        )
        assert response.status_code == 429


def test_keys_are_limited_independently(client, site, settings):
    from moderation.services import create_api_key

    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 1
    _, first = create_api_key(site, name="one")
    _, second = create_api_key(site, name="two")
    assert submit(client, first, 1).status_code == 202
    assert submit(client, first, 2).status_code == 429
    assert submit(client, second, 3).status_code == 202


def test_counters_live_under_the_prefix_and_expire(client, api_key, settings, clean_counters):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 10
    submit(client, api_key, 1)
    keys = list(clean_counters.scan_iter(match=f"{settings.MODERATION_REDIS_KEY_PREFIX}ratelimit:api:*"))
    assert len(keys) == 1
    assert api_key.encode() not in keys[0]  # the raw key is never written to Redis
    assert 0 < clean_counters.ttl(keys[0]) <= 120


def test_the_window_resets_after_the_minute(api_key, settings):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 1
    key_hash = ApiKey.hash_key(api_key)
    assert ratelimit.check_api_rate(key_hash, now=6000.0).allowed
    denied = ratelimit.check_api_rate(key_hash, now=6030.5)
    assert not denied.allowed and denied.retry_after == 30
    assert ratelimit.check_api_rate(key_hash, now=6060.0).allowed


def test_zero_turns_the_limit_off(client, api_key, settings):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 0
    assert all(submit(client, api_key, n).status_code == 202 for n in range(5))


def test_unreachable_redis_fails_open_with_a_warning(client, api_key, settings, caplog, monkeypatch):
    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 1
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    monkeypatch.setattr(ratelimit, "_last_warning", 0.0)
    with caplog.at_level(logging.WARNING, logger="moderation.ratelimit"):
        assert [submit(client, api_key, n).status_code for n in range(3)] == [202, 202, 202]
    assert any("fail open" in record.getMessage() for record in caplog.records)


def test_api_keys_are_stored_only_as_a_hash(site):
    from moderation.services import create_api_key

    key, raw = create_api_key(site)
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.key_hash == ApiKey.hash_key(raw) and len(stored.key_hash) == 64
    assert raw not in {str(v) for v in ApiKey.objects.filter(pk=key.pk).values().get().values()}


# --- Login throttling ---------------------------------------------------------------------------------------


def login(client, password, username="mod", address="127.0.0.1", **headers):
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )


def test_lockout_after_repeated_failures_even_with_the_right_password(client, moderator, settings):
    settings.MODERATION_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert login(client, "wrong").status_code == 200
    response = login(client, "correct horse battery")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_and_address_not_forwarded_headers(
    client, moderator, settings, django_user_model
):
    settings.MODERATION_LOGIN_MAX_FAILURES = 2
    django_user_model.objects.create_user(username="other", password="another good password")
    login(client, "wrong")
    login(client, "wrong")
    # spoofing changes nothing
    assert login(client, "x", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    assert login(client, "x", username="MOD ").status_code == 429  # nor does case or padding
    assert login(client, "another good password", username="other").status_code == 302
    client.logout()
    assert login(client, "correct horse battery", address="192.0.2.10").status_code == 302


def test_a_successful_login_clears_the_failures(client, moderator, settings):
    settings.MODERATION_LOGIN_MAX_FAILURES = 3
    login(client, "wrong")
    login(client, "wrong")
    assert login(client, "correct horse battery").status_code == 302
    client.logout()
    login(client, "wrong")
    login(client, "wrong")
    assert login(client, "correct horse battery").status_code == 302


def test_login_throttling_fails_open_without_redis(client, moderator, settings):
    settings.MODERATION_LOGIN_MAX_FAILURES = 1
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    login(client, "wrong")
    login(client, "wrong")
    assert login(client, "correct horse battery").status_code == 302


def test_one_key_check_for_every_protocol(api_key, site, settings):
    """api.auth.check_key is what v1, Perspective and Coral ask: missing, unknown, over the limit, or the
    key's site (the same counter whichever protocol spends it)."""
    from moderation.api.auth import INVALID, MISSING, OVER_LIMIT, check_key

    settings.MODERATION_RATE_LIMIT_PER_MINUTE = 2
    assert check_key(None).refusal == MISSING and check_key("  ").refusal == MISSING
    assert check_key("mod_not-a-key").refusal == INVALID
    assert check_key(api_key).site == site and check_key(f" {api_key} ").site == site
    over = check_key(api_key)
    assert over.refusal == OVER_LIMIT and over.site is None
    assert over.limit == 2 and 1 <= over.retry_after <= 60
