"""Several sites: API keys never cross sites (every endpoint), per-site thresholds in the worker and the
check endpoint, moderators limited to some sites on the dashboard (IDOR)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from moderation.models import AuditEntry, Comment, CommentStatus, Decision, ModeratorSiteAccess
from moderation.services import (
    ModelVerdict,
    accept_comment,
    create_api_key,
    get_or_create_site,
    record_model_decisions,
    thresholds_for,
    validate_policy_overrides,
)
from moderation.validation import validate_submission
from tests.conftest import comment_payload

pytestmark = pytest.mark.django_db

THRESHOLDS = {"toxicity": {"review": 0.5, "reject": 0.9}, "spam": {"review": 0.5, "reject": 0.9}}


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("moderation.api.v1.enqueue_decide", lambda ids: True)
    monkeypatch.setattr("moderation.api.v1.dispatch", lambda ids: True)


@pytest.fixture
def sites(db):
    a, b = get_or_create_site("site-a", "Site A"), get_or_create_site("site-b", "Site B")
    return {"a": (a, create_api_key(a)[1]), "b": (b, create_api_key(b)[1])}


def store(site, n, **overrides):
    comment, _ = accept_comment(site, validate_submission(comment_payload(n, **overrides)), "api")
    return comment


def held(site, n, **overrides):
    comment = store(site, n, **overrides)
    record_model_decisions([ModelVerdict(comment.pk, {"toxicity": 0.6}, "m-1", THRESHOLDS)])
    comment.refresh_from_db()
    return comment


def api(client, method, url, key, data=None):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if data is not None:
        return getattr(client, method)(url, json.dumps(data), content_type="application/json", **kwargs)
    return getattr(client, method)(url, **kwargs)


# --- API keys never cross sites -----------------------------------------------------------------------------


def test_status_api_of_another_sites_comment_is_404(client, sites):
    (a, key_a), (_, key_b) = sites["a"], sites["b"]
    comment = store(a, 1)
    assert api(client, "get", f"/api/v1/comments/{comment.pk}", key_a).status_code == 200
    response = api(client, "get", f"/api/v1/comments/{comment.pk}", key_b)
    assert response.status_code == 404 and comment.site_comment_id not in response.content.decode()


def test_submitting_another_sites_comment_id_creates_its_own_comment(client, sites):
    (a, _), (b, key_b) = sites["a"], sites["b"]
    theirs = held(a, 1)
    response = api(
        client, "post", "/api/v1/comments", key_b, comment_payload(1, text="Site B's own comment text.")
    )
    assert response.status_code == 202  # not 200 "duplicate" with site A's state
    body = response.json()
    assert body["id"] != theirs.pk and set(body) == {"id", "status"}
    theirs.refresh_from_db()
    assert (
        theirs.site == a
        and theirs.status == CommentStatus.NEEDS_REVIEW
        and theirs.text.startswith("Pakistan")
    )
    assert Comment.objects.get(pk=body["id"]).site == b


def test_batch_with_another_sites_comment_ids_creates_its_own_comments(client, sites):
    (a, _), (b, key_b) = sites["a"], sites["b"]
    theirs = held(a, 1)
    response = api(
        client,
        "post",
        "/api/v1/comments:batch",
        key_b,
        {"comments": [comment_payload(1), comment_payload(2)]},
    )
    assert response.status_code == 202
    items = response.json()["comments"]
    assert [item["duplicate"] for item in items] == [False, False]
    assert theirs.pk not in {item["id"] for item in items}
    assert Comment.objects.filter(site=b).count() == 2 and Comment.objects.filter(site=a).count() == 1


def test_erasing_another_sites_author_is_404_and_changes_nothing(client, sites):
    (a, _), (_, key_b) = sites["a"], sites["b"]
    theirs = held(a, 1, author_id="reader-7")
    response = api(client, "post", "/api/v1/authors/reader-7:erase", key_b)
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.author_id == "reader-7" and theirs.text and theirs.status == CommentStatus.NEEDS_REVIEW


def test_check_uses_the_keys_site_policy(client, sites):
    (_, key_a), (b, key_b) = sites["a"], sites["b"]
    b.policy_overrides = {label: {"review": 0.0, "reject": 0.0} for label in ("toxicity", "spam")}
    b.save()
    text = {"text": "Pakistan's caution about recognising the Taliban makes sense given the border."}
    assert api(client, "post", "/api/v1/check", key_a, text).json()["outcome"] == "approved"
    strict = api(client, "post", "/api/v1/check", key_b, text).json()
    assert strict["outcome"] == "rejected" and any("reject threshold 0.00" in r for r in strict["reasons"])


def test_a_story_of_one_site_is_not_another_sites(client, sites):
    """Issue 21: a story's controls are per site; the same story id on another site stays open."""
    key_a, key_b = sites["a"][1], sites["b"][1]
    assert api(client, "put", "/api/v1/stories/s-1", key_a, {"mode": "closed"}).status_code == 200
    assert api(client, "get", "/api/v1/stories/s-1", key_b).json()["mode"] == "open"
    assert api(client, "get", "/api/v1/stories/s-1", key_a).json()["mode"] == "closed"


def test_every_api_endpoint_is_listed_here():
    """A new API endpoint that reads or changes comments must get its cross-site test above."""
    from moderation.config.urls import urlpatterns

    api_routes = sorted(str(p.pattern) for p in urlpatterns if str(p.pattern).startswith("api/"))
    assert api_routes == sorted(
        [
            "api/v1/comments",
            "api/v1/comments:batch",
            "api/v1/check",
            "api/v1/comments/<int:comment_id>",
            "api/v1/authors/<str:author_id>:erase",
            "api/v1/openapi.json",  # the API's description: no site's data
            "api/v1/stories/<str:story_id>",  # test_a_story_of_one_site_is_not_another_sites
            # cross-site tests in test_reports.py (a report of another site's comment is a 404; commenter
            # states are per site)
            "api/v1/comments/<int:comment_id>/reports",
            "api/v1/commenters/<str:author_id>",
        ]
    )


# --- per-site thresholds ------------------------------------------------------------------------------------


def test_thresholds_for_merges_the_sites_overrides_over_the_models(sites):
    a, _ = sites["a"]
    assert thresholds_for(a, THRESHOLDS) == THRESHOLDS
    a.policy_overrides = {"toxicity": {"review": 0.3}, "threat": {"reject": 0.5}}
    merged = thresholds_for(a, THRESHOLDS)
    assert merged["toxicity"] == {"review": 0.3, "reject": 0.9}
    # the model has no threat thresholds
    assert merged["spam"] == THRESHOLDS["spam"] and "threat" not in merged
    assert THRESHOLDS["toxicity"]["review"] == 0.5  # the model's own are not changed


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([], "must be an object"),
        ({"rudeness": {"review": 0.2}}, "'rudeness' is not a label"),
        ({"toxicity": {"review": 1.5}}, "policy_overrides.toxicity.review must be a number from 0 to 1"),
        ({"toxicity": {"warn": 0.5}}, '"review" and/or "reject"'),
        ({"toxicity": {"review": 0.9, "reject": 0.5}}, "review must not be above reject"),
    ],
)
def test_bad_overrides_are_refused_with_the_field(overrides, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        validate_policy_overrides(overrides)


def test_invalid_overrides_saved_anyway_are_ignored(sites):
    a, _ = sites["a"]
    a.policy_overrides = {"toxicity": {"review": "low"}}
    assert thresholds_for(a, THRESHOLDS) == THRESHOLDS


def test_the_worker_applies_each_sites_thresholds(sites):
    """Both worker paths: stored comments decided by id, and Celery submissions scored before storing."""
    from moderation.services.ingest import decide_comments, submit_and_decide

    (a, _), (b, _) = sites["a"], sites["b"]
    # toxicity and insult both at 0: two labels agree on every comment
    b.policy_overrides = {
        "toxicity": {"review": 0.0, "reject": 0.0},
        "insult": {"review": 0.0, "reject": 0.0},
    }
    b.save()
    stored = [store(a, 1), store(b, 1)]
    assert decide_comments([c.pk for c in stored]) == []
    submit_and_decide(a, [validate_submission(comment_payload(2))])
    submit_and_decide(b, [validate_submission(comment_payload(2))])
    for site, expected in ((a, CommentStatus.APPROVED), (b, CommentStatus.REJECTED)):
        for comment in Comment.objects.filter(site=site):
            assert comment.status == expected, (site.slug, comment.site_comment_id, comment.reasons)
    assert any("toxicity" in r and "0.00" in r for r in Comment.objects.filter(site=b).first().reasons)


# --- moderators limited to some sites -----------------------------------------------------------------------


@pytest.fixture
def limited(sites, django_user_model):
    """A moderator limited to site A, logged in, and one comment held for review on each site."""
    user = django_user_model.objects.create_user(username="mod-a", password="correct horse battery")
    ModeratorSiteAccess.objects.create(user=user, site=sites["a"][0])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client, held(sites["a"][0], 1), held(sites["b"][0], 1, author_id="reader-b")


def csrf(client) -> str:
    page = client.get("/dashboard/").content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def item_ids(page: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-comment-id="(\d+)"', page)}


def test_limited_moderator_sees_only_their_sites(limited):
    client, mine, theirs = limited
    page = client.get("/dashboard/").content.decode()
    assert mine.pk in item_ids(page) and theirs.pk not in item_ids(page)
    assert client.get("/dashboard/?status=all").content.decode().count(f'data-comment-id="{theirs.pk}"') == 0
    assert client.get("/dashboard/counts").json()["counts"]["needs_review"] == 1
    audit = client.get("/dashboard/audit/").content.decode()
    assert f"/dashboard/comments/{theirs.pk}/" not in audit and f"/dashboard/comments/{mine.pk}/" in audit


def test_limited_moderator_gets_404_on_another_sites_comment_and_actions(limited):
    client, mine, theirs = limited
    token = csrf(client)
    assert client.get(f"/dashboard/comments/{mine.pk}/").status_code == 200
    assert client.get(f"/dashboard/comments/{theirs.pk}/").status_code == 404
    response = client.post(
        f"/dashboard/comments/{theirs.pk}/action",
        {"action": "approve", "expected_status": "needs_review", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 404
    client.post(
        "/dashboard/bulk",
        {"action": "approve", "selected": [f"{theirs.pk}:needs_review"], "csrfmiddlewaretoken": token},
    )
    response = client.post(
        "/dashboard/authors/reject",
        {
            "site_id": theirs.site_id,
            "author_id": "reader-b",
            "reason_code": "spam",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == CommentStatus.NEEDS_REVIEW and theirs.decided_by == "model"
    assert not Decision.objects.filter(comment=theirs, kind="moderator").exists()
    assert not AuditEntry.objects.filter(comment=theirs, actor_label="mod-a").exists()
    # Their own site still works.
    client.post(
        f"/dashboard/comments/{mine.pk}/action",
        {"action": "approve", "expected_status": "needs_review", "csrfmiddlewaretoken": token},
    )
    mine.refresh_from_db()
    assert mine.status == CommentStatus.APPROVED


def test_superusers_and_unrestricted_moderators_see_every_site(limited, django_user_model, sites):
    _, mine, theirs = limited
    boss = django_user_model.objects.create_superuser(username="boss", password="correct horse battery")
    ModeratorSiteAccess.objects.create(user=boss, site=sites["a"][0])  # ignored for superusers
    plain = django_user_model.objects.create_user(username="any", password="correct horse battery")
    for user in (boss, plain):
        client = Client()
        client.force_login(user)
        assert {mine.pk, theirs.pk} <= item_ids(client.get("/dashboard/").content.decode())
        assert client.get(f"/dashboard/comments/{theirs.pk}/").status_code == 200


def test_limited_moderator_sees_only_their_sites_figures_on_the_stats_page(limited, sites):
    from moderation.selectors import stats

    client, mine, theirs = limited
    for n in range(2, 5):  # more held on site B than on site A
        held(sites["b"][0], n, author_id=f"reader-b{n}")
    page = client.get("/dashboard/stats/").content.decode()
    assert "<strong>1</strong> waiting for review" in page
    assert stats.queue_age()[1]["pending"] == 5
    assert stats.queue_age(site_ids=[sites["a"][0].pk])[1]["pending"] == 1
    only_a, everyone = stats.auto_vs_human(site_ids=[sites["a"][0].pk]), stats.auto_vs_human()
    assert [label[3] for label in only_a.labels if label[3].isdigit()] != [
        label[3] for label in everyone.labels if label[3].isdigit()
    ]
