"""Issue 21, what a Coral desk expects: site word lists, story controls and re-moderated edits, on both decide
paths (the HTTP path stores then decides; the Celery path decides then stores) with the shipped model."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from moderation.models import AuditEntry, Comment, CommentStatus, Decision, Site, Story, WebhookDelivery
from moderation.selectors import desk
from moderation.services import create_webhook_endpoint, revise_comments
from moderation.services.desk import add_word_list_entry, remove_word_list_entry, set_story_controls
from moderation.services.ingest import decide_comments, submit_and_decide
from moderation.validation import validate_submission
from tests.conftest import comment_payload

CIVIL = "Thoughtful piece on the council budget, thank you for the reporting."


def clean(n, **overrides):
    return validate_submission(comment_payload(n, **overrides))


def api_post(client, key, data, path="/api/v1/comments", method="post"):
    return getattr(client, method)(
        path, json.dumps(data), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


@pytest.fixture
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr("moderation.api.v1.enqueue_decide", lambda ids: sent.append(list(ids)) or True)
    monkeypatch.setattr("moderation.api.v1.dispatch", lambda ids: sent.append(list(ids)) or True)
    return sent


# --- Word lists -----------------------------------------------------------------------------------------


def test_word_list_entries_are_normalised_unique_and_audited(site):
    entry = add_word_list_entry(site, "watch", "  Sh!t   show ", "mod")
    assert (entry.phrase, entry.normalized) == ("Sh!t show", "shit show")
    assert add_word_list_entry(site, "watch", "shit show", "mod2").pk == entry.pk  # same once normalised
    assert add_word_list_entry(site, "block", "shit show", "mod").pk != entry.pk  # the other list
    added = AuditEntry.objects.filter(action="word_list_added").order_by("id")
    assert [a.after["list"] for a in added] == ["watch", "block"]
    assert remove_word_list_entry(site, entry.pk, "mod") is True
    assert remove_word_list_entry(site, entry.pk, "mod") is False
    assert AuditEntry.objects.get(action="word_list_removed").before["phrase"] == "Sh!t show"
    site.refresh_from_db()
    assert site.word_lists_version == 3


@pytest.mark.parametrize(
    "word_list, phrase, field",
    [
        ("grey", "x", "list"),
        ("watch", "   ", "phrase"),
        ("watch", "x" * 101, "phrase"),
        ("watch", "!!", "phrase"),
    ],
)
def test_bad_word_list_entries_name_the_field(site, word_list, phrase, field):
    with pytest.raises(ValidationError) as caught:
        add_word_list_entry(site, word_list, phrase, "mod")
    assert field in caught.value.message_dict


@pytest.mark.parametrize(
    "text, held",
    [
        ("what a b a n a n a republic", True),  # spaced out
        ("what a b4n4n4 republic", True),  # leet
        ("what a b 4 n 4 n 4 republic", True),  # spaced and leet at once
        ("what a bаnаnа republic", True),  # Cyrillic а
        ("what a ba\u200bnana republic", True),  # zero-width space
        ("what a banaaaaana republic", True),  # stretched
        ("BANANA!", True),
        ("bananas are yellow", False),  # a whole word, not a substring of another
        ("abanana", False),
        ("nothing to see", False),
    ],
)
def test_watch_list_holds_obfuscated_variants_not_other_words(site, text, held):
    add_word_list_entry(site, "watch", "banana", "mod")
    (signals,) = desk.word_list_signals([desk_item(site, text)])
    if held:
        assert signals[0].action == "review" and signals[0].reason == "on the site's watch list: 'banana'"
    else:
        assert signals == ()


def desk_item(site, text, story="story-1", comment_id=None):
    from moderation.selectors.context import ContextItem

    return ContextItem(site.pk, "reader-1", story, text, comment_id=comment_id)


def test_block_list_rejects_on_both_paths_and_names_the_entry(site, make_comment, fresh_model_state):
    add_word_list_entry(site, "block", "kill the bill", "mod")
    submit_and_decide(site, [clean("celery", text="We should K I L L the   b1ll today.")])
    fresh = Comment.objects.get(site_comment_id="c-celery")
    assert fresh.status == CommentStatus.REJECTED
    assert fresh.reasons[0] == "on the site's block list: 'kill the bill'"
    assert fresh.reason_codes[0] == "block_list"
    stored = make_comment(text="kill the bill")
    decide_comments([stored.pk])
    stored.refresh_from_db()
    assert stored.status == CommentStatus.REJECTED


def test_a_changed_list_is_seen_by_the_cached_pattern(site):
    item = desk_item(site, "a banana and an apple")
    assert desk.word_list_signals([item]) == [()]
    entry = add_word_list_entry(site, "watch", "apple", "mod")
    assert "apple" in desk.word_list_signals([item])[0][0].reason
    remove_word_list_entry(site, entry.pk, "mod")
    assert desk.word_list_signals([item]) == [()]
    other = Site.objects.create(slug="other", name="Other")
    assert desk.word_list_signals([desk_item(other, "apple")]) == [()]  # lists are per site


def test_a_batch_costs_one_query_for_a_site_without_story_controls(site, django_assert_num_queries):
    items = [desk_item(site, f"apple number {i}") for i in range(50)]
    with django_assert_num_queries(1):
        assert desk.desk_signals(items) == [()] * 50
    add_word_list_entry(site, "watch", "apple", "mod")
    desk.desk_signals(items)  # compiles the list once
    with django_assert_num_queries(1):
        assert all(found for found in desk.desk_signals(items))
    set_story_controls(site, "elsewhere", "mod", mode="closed")
    with django_assert_num_queries(2):  # the site's stories are looked up now
        assert all(len(found) == 1 for found in desk.desk_signals(items))
    set_story_controls(site, "elsewhere", "mod", mode="open")
    site.refresh_from_db()
    assert site.controlled_stories == 0


# --- Story controls -------------------------------------------------------------------------------------


def test_premoderated_story_holds_civil_comments_on_both_paths(site, make_comment, fresh_model_state):
    set_story_controls(site, "story-pm", "mod", mode="premoderated")
    submit_and_decide(site, [clean("celery", text=CIVIL, story_id="story-pm")])
    fresh = Comment.objects.get(site_comment_id="c-celery")
    assert fresh.status == CommentStatus.NEEDS_REVIEW
    assert fresh.reasons[0] == desk.PREMODERATED_REASON and fresh.reason_codes[0] == "premoderated"
    stored = make_comment(text=CIVIL, story_id="story-pm")
    # Another text: a third copy of CIVIL from one commenter is spam now (selectors.commenters).
    other = make_comment(text="Thanks for the clear explanation of the vote.", story_id="story-open")
    decide_comments([stored.pk, other.pk])
    stored.refresh_from_db(), other.refresh_from_db()
    assert stored.status == CommentStatus.NEEDS_REVIEW
    assert other.status == CommentStatus.APPROVED
    audit = AuditEntry.objects.get(action="story_controls_changed")
    assert (audit.before["mode"], audit.after["mode"]) == ("open", "premoderated")


def test_closed_story_rejects_celery_submissions_but_decides_comments_queued_before(
    site, make_comment, fresh_model_state
):
    queued_before = make_comment(text=CIVIL, story_id="story-c")
    set_story_controls(site, "story-c", "mod", mode="closed")
    submit_and_decide(site, [clean("late", text=CIVIL, story_id="story-c")])
    late = Comment.objects.get(site_comment_id="c-late")
    assert late.status == CommentStatus.REJECTED and late.reasons[0] == "the story is closed to comments"
    decide_comments([queued_before.pk])
    queued_before.refresh_from_db()
    assert queued_before.status == CommentStatus.APPROVED


def test_closed_story_is_refused_by_the_api_naming_the_story(client, site, api_key, no_broker):
    set_story_controls(site, "story-c", "mod", mode="closed")
    response = api_post(client, api_key, comment_payload(1, story_id="story-c"))
    assert response.status_code == 409
    assert response.json()["error"] == {
        "field": "story_id",
        "message": "story 'story-c' is closed to new comments",
    }
    batch = api_post(
        client,
        api_key,
        {"comments": [comment_payload(2, story_id="story-open"), comment_payload(3, story_id="story-c")]},
        path="/api/v1/comments:batch",
    )
    assert batch.status_code == 409
    assert batch.json()["error"]["field"] == "comments[1].story_id"
    assert not Comment.objects.exists() and no_broker == []


def test_stricter_story_thresholds_apply_on_both_paths(site, make_comment, fresh_model_state):
    set_story_controls(site, "tragedy", "mod", policy_overrides={"toxicity": {"review": 0.0}})
    submit_and_decide(site, [clean("celery", text=CIVIL, story_id="tragedy")])
    assert Comment.objects.get(site_comment_id="c-celery").status == CommentStatus.NEEDS_REVIEW
    stored = make_comment(text=CIVIL, story_id="tragedy")
    # Another text: a third copy of CIVIL from one commenter is spam now (selectors.commenters).
    elsewhere = make_comment(text="Thanks for the clear explanation of the vote.", story_id="sport")
    decide_comments([stored.pk, elsewhere.pk])
    stored.refresh_from_db(), elsewhere.refresh_from_db()
    assert stored.status == CommentStatus.NEEDS_REVIEW
    assert "review threshold 0.00" in stored.reasons[0]
    assert elsewhere.status == CommentStatus.APPROVED


def test_story_controls_are_validated():
    site = Site.objects.create(slug="s", name="S")
    with pytest.raises(ValidationError) as caught:
        set_story_controls(site, "x", "mod", mode="locked")
    assert "mode" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        set_story_controls(site, "x", "mod", policy_overrides={"toxicity": {"review": 2}})
    assert "policy_overrides.toxicity.review" in caught.value.message_dict["policy_overrides"][0]
    assert not Story.objects.exists()


pytestmark = pytest.mark.django_db


def test_story_api_reads_and_sets_controls(client, site, api_key):
    url = "/api/v1/stories/story-9"
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {api_key}").json()["mode"] == "open"
    response = api_post(
        client,
        api_key,
        {"mode": "premoderated", "policy_overrides": {"toxicity": {"review": 0.2}}},
        path=url,
        method="put",
    )
    assert response.status_code == 200
    assert response.json()["mode"] == "premoderated"
    assert response.json()["policy_overrides"] == {"toxicity": {"review": 0.2}}
    assert AuditEntry.objects.get(action="story_controls_changed").actor_label == "site:default"
    bad = api_post(client, api_key, {"mode": "shut"}, path=url, method="put")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "mode"
    unknown = api_post(client, api_key, {"colour": "red"}, path=url, method="put")
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "colour"
    assert api_post(client, "nope", {}, path=url, method="put").status_code == 401


# --- Edits ----------------------------------------------------------------------------------------------


def test_an_edit_is_decided_again_keeps_its_history_and_tells_the_site(
    site, client, api_key, no_broker, fresh_model_state, settings
):
    settings.MODERATION_WEBHOOK_ALLOW_PRIVATE = ["loopback"]
    create_webhook_endpoint(site, "http://127.0.0.1:9/hook")
    first = api_post(client, api_key, comment_payload(1, text=CIVIL)).json()
    decide_comments([first["id"]])
    edited = api_post(
        client,
        api_key,
        comment_payload(1, text="Edited: you are all idiots", edited_at="2026-11-27T11:00:00Z"),
    )
    assert edited.status_code == 202 and edited.json()["edited"] is True
    comment = Comment.objects.get()
    assert (comment.status, comment.revision, comment.text) == ("queued", 1, "Edited: you are all idiots")
    history = AuditEntry.objects.get(comment=comment, action="edited")
    assert history.before["text"] == CIVIL and history.before["status"] == "approved"
    assert history.after["text"] == "Edited: you are all idiots"
    decide_comments([comment.pk])
    comment.refresh_from_db()
    assert comment.status != CommentStatus.QUEUED and comment.decided_by == "model"
    assert list(Decision.objects.filter(comment=comment).values_list("revision", flat=True)) == [0, 1]
    events = [json.loads(d.body)["data"] for d in WebhookDelivery.objects.order_by("id")]
    assert [e["status"] for e in events] == ["approved", comment.status]
    assert [e["revision"] for e in events] == [0, 1]
    # The same text again: idempotent, no new decision.
    again = api_post(client, api_key, comment_payload(1, text="Edited: you are all idiots"))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert Decision.objects.filter(comment=comment).count() == 2


def test_edits_on_the_celery_path_and_stale_edits(site, fresh_model_state):
    submit_and_decide(site, [clean(1, text=CIVIL, edited_at="2026-11-27T11:00:00Z")])
    submit_and_decide(site, [clean(1, text=CIVIL)])  # a repeat
    comment = Comment.objects.get()
    assert comment.revision == 0 and comment.decisions.count() == 1
    # An edit older than the stored text (delivered out of order) is ignored.
    submit_and_decide(site, [clean(1, text="older text", edited_at="2026-11-27T10:30:00Z")])
    comment.refresh_from_db()
    assert comment.text == CIVIL
    submit_and_decide(site, [clean(1, text="Newer text, still civil.", edited_at="2026-11-27T12:00:00Z")])
    comment.refresh_from_db()
    assert comment.text == "Newer text, still civil." and comment.revision == 1
    assert comment.status == CommentStatus.APPROVED and comment.decisions.count() == 2


def test_a_verdict_on_a_text_edited_meanwhile_is_not_written(site, make_comment):
    from moderation.services import ModelVerdict, record_model_decisions

    comment = make_comment(text=CIVIL)
    stale = ModelVerdict(comment.pk, {"toxicity": 0.01}, "v1", {}, revision=0)
    revise_comments(site, [clean(comment.site_comment_id.removeprefix("c-"), text="new words")])
    assert record_model_decisions([stale]) == []
    comment.refresh_from_db()
    assert comment.status == CommentStatus.QUEUED and comment.revision == 1


def test_edit_history_is_erased_with_the_author(site, make_comment):
    from moderation.services import erase_author

    comment = make_comment(text="my phone is 555 0101")
    revise_comments(site, [clean(comment.site_comment_id.removeprefix("c-"), text="my new words")])
    erase_author(site, comment.author_id)
    assert "555" not in json.dumps(list(AuditEntry.objects.values("before", "after")))


def test_edited_at_is_validated():
    from moderation.validation import SubmissionError

    with pytest.raises(SubmissionError) as caught:
        validate_submission(comment_payload(1, edited_at="yesterday"))
    assert caught.value.field == "edited_at"
    assert validate_submission(comment_payload(1))["edited_at"] is None


def test_closed_at_is_the_cut_between_decided_and_refused(site, make_comment):
    story = set_story_controls(site, "s", "mod", mode="closed")
    before = make_comment(story_id="s")
    Comment.objects.filter(pk=before.pk).update(submitted_at=story.closed_at - timedelta(seconds=1))
    after = make_comment(story_id="s")
    found = desk.story_signals([desk_item(site, "x", "s", before.pk), desk_item(site, "x", "s", after.pk)])
    assert found[0] == () and found[1][0].code == "closed"


def test_batch_edits_are_queued_again_and_closed_stories_keep_their_edits(
    client, site, api_key, no_broker, django_capture_on_commit_callbacks
):
    first = api_post(
        client, api_key, {"comments": [comment_payload(1), comment_payload(2)]}, path="/api/v1/comments:batch"
    ).json()["comments"]
    set_story_controls(site, comment_payload(1)["story_id"], "mod", mode="closed")
    with django_capture_on_commit_callbacks(execute=True):
        again = api_post(
            client,
            api_key,
            {"comments": [comment_payload(1, text="An edit after the story closed."), comment_payload(2)]},
            path="/api/v1/comments:batch",
        )
    assert again.status_code == 202
    items = again.json()["comments"]
    assert [(i["edited"], i["duplicate"]) for i in items] == [(True, False), (False, True)]
    assert no_broker[-1] == [first[0]["id"]]  # only the edit is decided again
    single = api_post(client, api_key, comment_payload(1, text="A second edit."))
    assert single.status_code == 202 and single.json()["revision"] == 2


def test_check_warns_of_the_sites_word_lists(client, site, api_key, fresh_model_state):
    add_word_list_entry(site, "block", "banana republic", "mod")
    url = "/api/v1/check"
    body = api_post(client, api_key, {"text": "What a b4n4n4 republic."}, path=url).json()
    assert (
        body["outcome"] == "rejected" and body["reasons"][0] == "on the site's block list: 'banana republic'"
    )
    assert body["reason_codes"][0] == "block_list"
    assert api_post(client, api_key, {"text": CIVIL}, path=url).json()["outcome"] == "approved"
