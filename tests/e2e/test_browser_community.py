"""Issue 21 in a real browser (Chromium driven by Playwright, the harness of test_browser.py):

- a site reports a comment through the API → it appears in the Reported queue with its reports → the
  moderator rejects it there;
- a moderator bans a commenter from a card → that commenter's next comment is rejected with the reason.

Every page fails the test on a JS dialog, console error, page error or HTTP error (the ``page`` fixture).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.e2e import test_browser as harness
from tests.e2e.test_browser import CHROMIUM, PASSWORD, THRESHOLDS, check_clean, press, screenshot

# The harness's fixtures: one Chromium per module, a page that fails the test on any error.
browser, page = harness.browser, harness.page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: apt-get install chromium"
    ),
]

CIVIL = "The council should fix the roads before spending on the new stadium."


@pytest.fixture
def desk(transactional_db, django_user_model, settings):
    """A moderator, the default site with an API key, and one approved comment and one held comment."""
    from moderation.models import Comment, CommentStatus
    from moderation.services import (
        ModelVerdict,
        accept_comment,
        create_api_key,
        get_or_create_site,
        record_model_decisions,
    )
    from moderation.validation import validate_submission
    from tests.conftest import comment_payload

    settings.MODERATION_DASHBOARD_POLL_SECONDS = 60
    django_user_model.objects.create_user(username="mod", password=PASSWORD)
    site = get_or_create_site("default", "Default site")
    _, key = create_api_key(site)
    stored = {}
    for sid, author, scores in (
        ("liked", "reader-1", {"toxicity": 0.05}),
        ("held", "troll-9", {"toxicity": 0.5}),
    ):
        comment, _ = accept_comment(
            site, validate_submission(comment_payload(sid, text=CIVIL, author_id=author)), "api"
        )
        record_model_decisions(
            [
                ModelVerdict(
                    comment.pk, {"toxicity": 0.04, "insult": 0.03, "spam": 0.02, **scores}, "v", THRESHOLDS
                )
            ]
        )
        stored[sid] = Comment.objects.get(pk=comment.pk)
    assert stored["liked"].status == CommentStatus.APPROVED
    assert stored["held"].status == CommentStatus.NEEDS_REVIEW
    return {"site": site, "key": key, **stored}


def api(live_server, key, method, path, body):
    request = urllib.request.Request(
        live_server.url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, json.loads(response.read())


def log_in(page):
    page.goto("/login/")
    page.fill("#id_username", "mod")
    page.fill("#id_password", PASSWORD)
    press(page, "Enter")


def test_a_reported_comment_appears_in_the_reported_queue_and_is_rejected_there(page, desk, live_server):
    from moderation.models import Comment, Report

    liked = desk["liked"]
    reasons = ["abusive", "abusive", "<script>window.__pwned=7</script> spam"]
    for n, reason in enumerate(reasons):
        status, body = api(
            live_server,
            desk["key"],
            "POST",
            f"/api/v1/comments/{liked.pk}/reports",
            {"reporter_id": f"reader-{n + 10}", "reason": reason},
        )
        assert status == 201
    assert body["sent_to_review"] is True  # three readers: the default threshold

    log_in(page)
    assert page.inner_text('a[data-status="reported"] .count') == "1"
    with page.expect_navigation():
        page.click('a[data-status="reported"]')
    card = page.locator(f"#comment-{liked.pk}")
    assert "Reported by 3 readers" in card.locator(".reports").inner_text()
    assert "<script>window.__pwned=7</script> spam" in card.locator(".reports").inner_text()
    assert "reported" in card.locator(".meta").inner_text()  # the reason code badge
    check_clean(page)
    screenshot(page, "dashboard-reported.png")

    card.locator(".reject-form select[name=reason_code]").select_option("harassment")
    with page.expect_navigation():
        card.locator(".reject-form button.reject").click()
    assert Comment.objects.get(pk=liked.pk).status == "rejected"
    assert not Report.objects.filter(comment_id=liked.pk, resolved_at__isnull=True).exists()
    assert "Nothing here" in page.inner_text("#empty")
    assert page.inner_text('a[data-status="reported"] .count') == "0"
    check_clean(page)


def test_a_commenter_banned_from_a_card_has_their_next_comment_rejected_with_the_reason(
    page, desk, live_server
):
    from moderation.models import AuditEntry, Comment
    from moderation.services.ingest import decide_comments

    held = desk["held"]
    log_in(page)
    card = page.locator(f"#comment-{held.pk}")
    card.locator(".commenter-controls summary").click()
    form = card.locator("form.commenter-form")
    form.locator("select[name=state]").select_option("banned")
    form.locator("input[name=reason]").fill("threats against staff")
    with page.expect_navigation():
        form.locator("button.set-commenter").click()
    assert "Commenter troll-9 is now banned" in page.inner_text("#messages")
    assert page.locator(f"#comment-{held.pk} .badge.commenter-banned").inner_text() == "banned"
    assert AuditEntry.objects.get(action="commenter_state").after["state"] == "banned"
    check_clean(page)

    status, body = api(
        live_server,
        desk["key"],
        "POST",
        "/api/v1/comments",
        {"site_comment_id": "next", "text": CIVIL, "author_id": "troll-9", "story_id": "s-2"},
    )
    assert status == 202
    decide_comments([body["id"]])  # what the worker does with it
    comment = Comment.objects.get(pk=body["id"])
    assert comment.status == "rejected"
    assert comment.reasons[0] == "the commenter is banned: threats against staff"

    page.goto(f"/dashboard/comments/{comment.pk}/")
    assert "the commenter is banned: threats against staff" in page.inner_text("ul.reasons")
    assert page.locator(".badge.commenter-banned").count() == 1
    check_clean(page)
