"""Attacks on the dashboard (issue 6, part 4): clickjacking headers on every page, no open redirect after
login or after an action, and no insecure direct object references across sites."""

import json
from urllib.parse import urlsplit

import pytest

from moderation.models import Comment, CommentStatus, ModeratorSiteAccess
from moderation.services import create_api_key, get_or_create_site
from tests.conftest import comment_payload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_counters(real_redis, settings):
    yield
    for key in real_redis.scan_iter(match=f"{settings.MODERATION_REDIS_KEY_PREFIX}ratelimit:*"):
        real_redis.delete(key)


@pytest.fixture
def logged_in(client, moderator):
    client.force_login(moderator)
    return client


def assert_not_frameable(response):
    assert response["X-Frame-Options"] == "DENY", response.request["PATH_INFO"]
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp, response.request["PATH_INFO"]


def test_every_dashboard_page_refuses_framing(logged_in, make_comment):
    comment = make_comment()
    for path in [
        "/dashboard/",
        "/dashboard/?status=all",
        "/dashboard/counts",
        f"/dashboard/comments/{comment.pk}/",
        "/dashboard/audit/",
        "/dashboard/stats/",
        "/dashboard/comments/999999/",
        "/dashboard/?page=x",
    ]:
        assert_not_frameable(logged_in.get(path))
    assert_not_frameable(logged_in.post(f"/dashboard/comments/{comment.pk}/action", {"action": "nope"}))
    assert_not_frameable(logged_in.post("/dashboard/undo"))


def test_login_admin_api_and_error_pages_refuse_framing(client, api_key):
    for path in ["/login/", "/admin/login/", "/", "/dashboard/", "/no-such-page", "/api/v1/openapi.json"]:
        assert_not_frameable(client.get(path))
    assert_not_frameable(client.post("/login/", {"username": "x", "password": "y"}))
    assert_not_frameable(
        client.post(
            "/api/v1/comments",
            json.dumps(comment_payload()),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_key}",
        )
    )


OFF_SITE = [
    "https://evil.example",
    "https://evil.example/dashboard/",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "http://testserver@evil.example/",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    " https://evil.example",
    "https://evil.example%2F@testserver/",
    "/%09/evil.example",
    "/\t/evil.example",
    "https://evil.example\n/dashboard/",
]


def assert_on_site(location):
    """A browser following ``location`` stays on this host (it strips tabs and newlines,
    and reads \\ as /)."""
    seen = location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/").strip()
    parts = urlsplit(seen)
    assert not parts.scheme and not parts.netloc and seen.startswith("/") and not seen.startswith("//"), (
        location
    )


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_never_redirects_off_site(client, moderator, target):
    response = client.post(
        f"/login/?next={target}", {"username": "mod", "password": "correct horse battery", "next": target}
    )
    assert response.status_code == 302
    assert_on_site(response["Location"])


@pytest.mark.parametrize("target", OFF_SITE)
def test_already_logged_in_visit_with_next_stays_on_site(logged_in, target):
    response = logged_in.get("/login/", {"next": target})
    assert response.status_code == 302
    assert_on_site(response["Location"])


def test_login_keeps_an_on_site_next(client, moderator):
    response = client.post(
        "/login/", {"username": "mod", "password": "correct horse battery", "next": "/dashboard/audit/"}
    )
    assert response["Location"] == "/dashboard/audit/"


@pytest.mark.parametrize("target", OFF_SITE)
def test_actions_never_redirect_off_site(logged_in, make_comment, target):
    comment = make_comment()
    response = logged_in.post(
        f"/dashboard/comments/{comment.pk}/action",
        {"action": "approve", "expected_status": comment.status, "next": target},
    )
    assert response.status_code == 302
    assert_on_site(response["Location"])
    response = logged_in.post("/dashboard/undo", {"next": target})
    assert response.status_code == 302
    assert_on_site(response["Location"])


# --- IDOR: a moderator limited to one site ------------------------------------------------------------------


@pytest.fixture
def two_sites(db, moderator, make_comment):
    """The moderator may see site "default" only; site "other" holds a comment held for review."""
    from moderation.services import accept_comment
    from moderation.validation import validate_submission

    mine = make_comment()
    other = get_or_create_site("other", "Other site")
    theirs, _ = accept_comment(
        other, validate_submission(comment_payload("theirs", author_id="their-author")), "api"
    )
    Comment.objects.filter(pk__in=[mine.pk, theirs.pk]).update(status=CommentStatus.NEEDS_REVIEW)
    ModeratorSiteAccess.objects.create(user=moderator, site=mine.site)
    return mine, theirs


def test_limited_moderator_cannot_open_another_sites_comment(logged_in, two_sites):
    mine, theirs = two_sites
    assert logged_in.get(f"/dashboard/comments/{mine.pk}/").status_code == 200
    response = logged_in.get(f"/dashboard/comments/{theirs.pk}/")
    assert response.status_code == 404
    assert theirs.text not in response.content.decode()


def test_limited_moderator_cannot_act_on_another_sites_comment(logged_in, two_sites):
    _, theirs = two_sites
    response = logged_in.post(
        f"/dashboard/comments/{theirs.pk}/action", {"action": "approve", "expected_status": "needs_review"}
    )
    assert response.status_code == 404
    logged_in.post("/dashboard/bulk", {"action": "approve", "selected": [f"{theirs.pk}:needs_review"]})
    logged_in.post(
        "/dashboard/authors/reject",
        {"site_id": str(theirs.site_id), "author_id": "their-author", "reason_code": "spam"},
    )
    theirs.refresh_from_db()
    assert theirs.status == CommentStatus.NEEDS_REVIEW and theirs.decisions.count() == 0


def test_limited_moderator_does_not_see_another_site_in_lists(logged_in, two_sites):
    mine, theirs = two_sites
    queue = logged_in.get("/dashboard/?status=all").content.decode()
    assert f"/dashboard/comments/{mine.pk}/" in queue and f"/dashboard/comments/{theirs.pk}/" not in queue
    audit = logged_in.get(f"/dashboard/audit/?comment={theirs.pk}").content.decode()
    assert f"/dashboard/comments/{theirs.pk}/" not in audit


def test_a_sites_api_key_cannot_read_another_sites_comment(client, two_sites):
    mine, theirs = two_sites
    _, key = create_api_key(mine.site)
    response = client.get(f"/api/v1/comments/{theirs.pk}", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 404
