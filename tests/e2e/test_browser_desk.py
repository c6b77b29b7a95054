"""Issue 21 in a real browser (Chromium via Playwright): a moderator adds a word to the watch list and an
obfuscated variant of it is held; a moderator pre-moderates a story from a card and a civil comment on it is
held. Comments arrive through the HTTP API and are decided by the worker's service with the shipped model."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.conftest import comment_payload
from tests.e2e import test_browser as shared
from tests.e2e.test_browser import PASSWORD, THRESHOLDS, check_clean, screenshot

# The browser and page fixtures of the dashboard's browser tests (one Chromium per module).
browser = shared.browser
page = shared.page

pytestmark = [*shared.pytestmark, pytest.mark.usefixtures("fresh_model_state")]


@pytest.fixture
def desk(transactional_db, django_user_model):
    from moderation.services import create_api_key, get_or_create_site

    django_user_model.objects.create_user(username="mod", password=PASSWORD)
    site = get_or_create_site("default", "Default site")
    return site, create_api_key(site)[1]


def log_in(page) -> None:
    page.goto("/dashboard/")
    page.fill("#id_username", "mod")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.press("#id_password", "Enter")


def submit_and_decide_by_api(live_server, key: str, payload: dict) -> int:
    """POST the comment to the API as a site does, then run the worker's decision on it."""
    from moderation.services.ingest import decide_comments

    request = urllib.request.Request(
        live_server.url + "/api/v1/comments",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 202
        comment_id = json.load(response)["id"]
    assert decide_comments([comment_id]) == []
    return comment_id


def test_a_watched_word_holds_its_obfuscated_variant(page, live_server, desk):
    from moderation.models import Comment

    site, key = desk
    log_in(page)
    with page.expect_navigation():
        page.click("nav.mainnav >> text=Word lists")
    page.fill('#list-watch input[name="phrase"]', "banana republic")
    with page.expect_navigation():
        page.click("#list-watch >> text=Add to watch list")
    assert "On the watch list of default: 'banana republic'" in page.inner_text("#messages")
    assert page.inner_text("#list-watch td.phrase") == "banana republic"
    screenshot(page, "dashboard-word-lists.png")

    obfuscated = "What a b 4 n 4 n 4   rеpublic this council has become."  # spaced, leet, Cyrillic е
    comment_id = submit_and_decide_by_api(live_server, key, comment_payload("w1", text=obfuscated))
    assert Comment.objects.get(pk=comment_id).status == "needs_review"

    page.goto("/dashboard/?status=needs_review")
    card = page.locator(f"#comment-{comment_id}")
    assert "on the site's watch list: 'banana republic'" in card.locator(".reasons").inner_text()
    assert card.locator(".badge.code-watch_list").count() == 1
    check_clean(page)


def test_a_premoderated_story_holds_a_civil_comment(page, live_server, desk):
    from moderation.models import Comment, Story
    from moderation.services import ModelVerdict, accept_comment, record_model_decisions
    from moderation.validation import validate_submission

    site, key = desk
    first, _ = accept_comment(
        site, validate_submission(comment_payload("s0", story_id="tragedy-1", text="Heated words")), "api"
    )
    record_model_decisions([ModelVerdict(first.pk, {"toxicity": 0.6}, "m", THRESHOLDS)])
    log_in(page)
    with page.expect_navigation():
        page.click(f"#comment-{first.pk} .story-controls-link")
    assert "tragedy-1" in page.inner_text("h1")
    page.check('input[name="mode"][value="premoderated"]')
    with page.expect_navigation():
        page.click("text=Save story controls")
    assert "Story tragedy-1 saved." in page.inner_text("#messages")
    assert Story.objects.get(story_id="tragedy-1").mode == "premoderated"
    screenshot(page, "dashboard-story.png")

    civil = "Thank you for covering this with such care; my thoughts are with the families."
    reply = comment_payload("s1", story_id="tragedy-1", text=civil, parent_id="c-s0")
    comment_id = submit_and_decide_by_api(live_server, key, reply)
    elsewhere = submit_and_decide_by_api(
        live_server, key, comment_payload("s2", story_id="sport", text=civil)
    )
    assert Comment.objects.get(pk=elsewhere).status == "approved"

    page.goto("/dashboard/?status=needs_review")
    card = page.locator(f"#comment-{comment_id}")
    assert "the story is pre-moderated" in card.locator(".reasons").inner_text()
    # Thread context: the reply shows the comment it answers.
    assert "Heated words" in card.locator(".parent").inner_text()
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(shared.ARTIFACTS / "dashboard-thread.png"))
    check_clean(page)
