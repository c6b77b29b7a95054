"""Issue 21 in the dashboard: word lists and story controls (POST + CSRF, audited, site-scoped) and thread
context on cards and the detail page (escaped, one query a page)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from moderation.models import AuditEntry, ModeratorSiteAccess, Site, Story, WordListEntry
from moderation.services import ModelVerdict, record_model_decisions
from tests.moderation.dashboard.test_dashboard_views import RAW_MARKERS, THRESHOLDS, XSS, post, token

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(moderator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    return client


def held(make_comment, **overrides):
    comment = make_comment(**overrides)
    record_model_decisions([ModelVerdict(comment.pk, {"toxicity": 0.6}, "test-v1", THRESHOLDS)])
    comment.refresh_from_db()
    return comment


def test_word_lists_are_edited_with_csrf_and_audited(logged_in, site):
    page = logged_in.get("/dashboard/word-lists/")
    assert page.status_code == 200 and b"Block list" in page.content
    assert Client(enforce_csrf_checks=True).post("/dashboard/word-lists/add").status_code in (302, 403)
    no_token = logged_in.post("/dashboard/word-lists/add", {"site": site.pk, "list": "watch", "phrase": "x"})
    assert no_token.status_code == 403
    url = "/dashboard/word-lists/"
    response = post(
        logged_in, "/dashboard/word-lists/add", {"site": site.pk, "list": "watch", "phrase": "Sh!t"}
    )
    assert response.status_code == 302
    entry = WordListEntry.objects.get()
    assert (entry.list, entry.normalized, entry.added_by) == ("watch", "shit", "mod")
    assert AuditEntry.objects.get(action="word_list_added").actor_label == "mod"
    listed = logged_in.get(url).content.decode()
    assert "Sh!t" in listed
    bad = post(
        logged_in, "/dashboard/word-lists/add", {"site": site.pk, "list": "watch", "phrase": "x" * 101}
    )
    assert "the limit is 100" in logged_in.get(bad["Location"]).content.decode()
    post(logged_in, f"/dashboard/word-lists/{entry.pk}/remove", {"site": site.pk})
    assert not WordListEntry.objects.exists()
    assert AuditEntry.objects.filter(action="word_list_removed").count() == 1


def test_a_moderator_limited_to_one_site_cannot_edit_anothers_lists(logged_in, moderator, site):
    other = Site.objects.create(slug="other", name="Other")
    ModeratorSiteAccess.objects.create(user=moderator, site=site)
    response = post(
        logged_in, "/dashboard/word-lists/add", {"site": other.pk, "list": "block", "phrase": "x"}
    )
    assert response.status_code == 404 and not WordListEntry.objects.exists()
    assert logged_in.get(f"/dashboard/word-lists/?site={other.pk}").status_code == 404
    assert logged_in.get(f"/dashboard/story/?site={other.pk}&story=s").status_code == 404


def test_story_page_is_reached_from_the_card_and_sets_controls(logged_in, site, make_comment, monkeypatch):
    from moderation.dashboard import views

    monkeypatch.setattr(views, "_thresholds", lambda: THRESHOLDS)
    held(make_comment, story_id="story-7")
    queue = logged_in.get("/dashboard/").content.decode()
    url = f"/dashboard/story/?site={site.pk}&amp;story=story-7"
    assert url in queue
    filtered = logged_in.get("/dashboard/?story=story-7").content.decode()
    assert 'id="story-controls"' in filtered
    page = logged_in.get(url.replace("&amp;", "&")).content.decode()
    assert "Needs review 1" in page and 'name="toxicity_review"' in page
    data = {"site": site.pk, "story": "story-7", "mode": "premoderated", "toxicity_review": "0.2"}
    data["thresholds"] = "shown"
    data |= {
        "toxicity_reject": "",
        "spam_review": "",
        "spam_reject": "",
        "insult_review": "",
        "insult_reject": "",
    }
    response = post(logged_in, "/dashboard/story/set", data)
    assert response.status_code == 302
    story = Story.objects.get()
    assert story.mode == "premoderated" and story.policy_overrides == {"toxicity": {"review": 0.2}}
    assert AuditEntry.objects.get(action="story_controls_changed").actor_label == "mod"
    bad = post(logged_in, "/dashboard/story/set", {**data, "toxicity_review": "high"})
    assert "toxicity_review must be a number" in logged_in.get(bad["Location"]).content.decode()
    bad = post(logged_in, "/dashboard/story/set", {**data, "toxicity_review": "1.5"})
    assert (
        "policy_overrides.toxicity.review must be a number from 0 to 1"
        in logged_in.get(bad["Location"]).content.decode()
    )
    assert Story.objects.get().policy_overrides == {"toxicity": {"review": 0.2}}
    # Without a model the page has no threshold inputs: saving the mode keeps the story's thresholds.
    post(logged_in, "/dashboard/story/set", {"site": site.pk, "story": "story-7", "mode": "closed"})
    story = Story.objects.get()
    assert story.mode == "closed" and story.policy_overrides == {"toxicity": {"review": 0.2}}


def test_a_reply_shows_its_parent_escaped_or_says_it_never_came(logged_in, site, make_comment):
    parent = held(make_comment, text=XSS, author_id="first-author", author_name="First Author")
    reply = held(make_comment, text="I disagree with you", parent_id=parent.site_comment_id)
    orphan = held(make_comment, text="Replying to nothing", parent_id="c-404")
    queue = logged_in.get("/dashboard/").content.decode()
    for marker in RAW_MARKERS:
        assert marker not in queue
    assert "In reply to <a" in queue and "First Author" in queue
    assert "In reply to c-404, which was never received." in queue
    detail = logged_in.get(f"/dashboard/comments/{reply.pk}/").content.decode()
    assert f'href="/dashboard/comments/{parent.pk}/"' in detail and "&lt;script&gt;" in detail
    assert "never received" in logged_in.get(f"/dashboard/comments/{orphan.pk}/").content.decode()


def test_parents_cost_one_query_a_page(logged_in, site, make_comment):
    parents = [held(make_comment, text=f"parent {i}") for i in range(3)]
    for i in range(12):
        held(make_comment, text=f"reply {i}", parent_id=parents[i % 3].site_comment_id)
    token(logged_in)  # session and CSRF set up
    with CaptureQueriesContext(connection) as few:
        logged_in.get("/dashboard/?sort=newest")
    for i in range(12, 30):
        held(make_comment, text=f"reply {i}", parent_id=parents[i % 3].site_comment_id)
    with CaptureQueriesContext(connection) as many:
        logged_in.get("/dashboard/?sort=newest")
    # Comment queries only: the model registry is re-read on a timer (moderation.scoring), whichever page.
    on_comments = [
        [q for q in run.captured_queries if "moderation_comment" in q["sql"]] for run in (few, many)
    ]
    assert len(on_comments[0]) == len(on_comments[1])
    assert sum("site_comment_id" in q["sql"] and " IN " in q["sql"] for q in many.captured_queries) == 1


def test_the_audit_log_reads_desk_changes(logged_in, site, make_comment):
    from moderation.services import revise_comments
    from moderation.services.desk import add_word_list_entry, remove_word_list_entry, set_story_controls
    from moderation.validation import validate_submission
    from tests.conftest import comment_payload

    entry = add_word_list_entry(site, "block", "kill the bill", "mod")
    remove_word_list_entry(site, entry.pk, "mod")
    set_story_controls(site, "s-1", "mod", mode="closed")
    comment = make_comment(text="<b>first</b> words")
    revise_comments(site, [validate_submission(comment_payload(comment.site_comment_id[2:], text="second"))])
    page = logged_in.get("/dashboard/audit/").content.decode()
    assert "block list of default: + “kill the bill”" in page
    assert "block list of default: − “kill the bill”" in page
    assert "story s-1: open → closed" in page
    assert "revision 0 → 1, earlier text “&lt;b&gt;first&lt;/b&gt; words”" in page
