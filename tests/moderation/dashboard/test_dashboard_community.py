"""Issue 21 in the dashboard, through Django's test client: the Reported queue (counts, reasons, acting
resolves the reports) and commenter states set from a card or the detail page (POST + CSRF, audited, shown as
a badge)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from moderation.models import AuditEntry, Comment, Commenter, CommentStatus, ModeratorSiteAccess, Report
from moderation.services import get_or_create_site, report_comment, set_commenter_state

pytestmark = pytest.mark.django_db

XSS = '<script>alert("r")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def logged_in(client, moderator):
    client.force_login(moderator)
    return client


@pytest.fixture
def reported(make_comment, settings):
    settings.MODERATION_REPORTS_PER_WINDOW = 0  # no Redis counting needed here
    comment = make_comment(text="An approved comment readers dislike.")
    Comment.objects.filter(pk=comment.pk).update(status=CommentStatus.APPROVED, decided_by="model")
    comment.refresh_from_db()
    for reporter, reason in (("r1", "abusive"), ("r2", "abusive"), ("r3", XSS)):
        report_comment(comment, reporter, reason)
    comment.refresh_from_db()
    return comment


def test_reported_queue_lists_counts_and_escaped_reasons(logged_in, reported, make_comment):
    make_comment(text="Nobody reported this one.")
    page = logged_in.get("/dashboard/?status=reported")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'id="comment-{reported.pk}"' in html and "Nobody reported" not in html
    assert "Reported by 3 readers" in html and "abusive</span> ×2" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    counts = logged_in.get("/dashboard/counts").json()["counts"]
    assert counts["reported"] == 1
    assert counts["all"] == Comment.objects.count()  # reported comments are not counted twice


def test_rejecting_from_the_reported_queue_resolves_the_reports(logged_in, reported):
    response = logged_in.post(
        f"/dashboard/comments/{reported.pk}/action",
        {"action": "reject", "expected_status": reported.status, "reason_code": "harassment"},
    )
    assert response.status_code == 302
    reported.refresh_from_db()
    assert reported.status == CommentStatus.REJECTED
    assert not Report.objects.filter(resolved_at__isnull=True).exists()
    assert "Nothing here" in logged_in.get("/dashboard/?status=reported").content.decode()


def test_ban_from_a_card_is_audited_shown_and_applied(logged_in, make_comment, moderator):
    comment = make_comment(author_id="troll-9")
    Comment.objects.filter(pk=comment.pk).update(status=CommentStatus.NEEDS_REVIEW)
    html = logged_in.get("/dashboard/").content.decode()
    assert 'class="inline commenter-form"' in html
    response = logged_in.post(
        "/dashboard/commenters/state",
        {
            "site_id": comment.site_id,
            "author_id": "troll-9",
            "state": "banned",
            "reason": "repeated abuse",
            "next": "/dashboard/",
        },
    )
    assert response.status_code == 302
    commenter = Commenter.objects.get(author_id="troll-9")
    assert (commenter.state, commenter.reason, commenter.updated_by) == ("banned", "repeated abuse", "mod")
    entry = AuditEntry.objects.get(action="commenter_state")
    assert entry.actor == moderator and entry.after["state"] == "banned"
    html = logged_in.get("/dashboard/").content.decode()
    assert 'class="badge commenter commenter-banned"' in html
    detail = logged_in.get(f"/dashboard/comments/{comment.pk}/").content.decode()
    assert "commenter-banned" in detail and 'class="inline commenter-form"' in detail


def test_suspend_until_a_dashboard_time_and_a_bad_one_is_explained(logged_in, site):
    until = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data = {"site_id": site.pk, "author_id": "hot", "state": "suspended", "until": until}
    logged_in.post("/dashboard/commenters/state", data)
    assert Commenter.objects.get(author_id="hot").until.strftime("%Y-%m-%dT%H:%M") == until
    response = logged_in.post("/dashboard/commenters/state", {**data, "until": ""}, follow=True)
    assert "not changed: until is required" in response.content.decode()


def test_commenter_form_needs_post_csrf_and_a_visible_site(site, moderator, django_user_model):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(moderator)
    data = {"site_id": site.pk, "author_id": "x", "state": "banned"}
    assert strict.post("/dashboard/commenters/state", data).status_code == 403
    assert strict.get("/dashboard/commenters/state").status_code == 405
    limited = django_user_model.objects.create_user(username="limited", password="pw")
    ModeratorSiteAccess.objects.create(user=limited, site=get_or_create_site("other"))
    client = Client()
    client.force_login(limited)
    assert client.post("/dashboard/commenters/state", data).status_code == 404
    assert not Commenter.objects.exists()


def test_commenter_state_set_by_the_site_shows_on_cards(logged_in, make_comment, site):
    comment = make_comment(author_id="regular")
    Comment.objects.filter(pk=comment.pk).update(status=CommentStatus.NEEDS_REVIEW)
    set_commenter_state(site, "regular", {"state": "trusted", "reason": "long-time reader"}, "site:default")
    html = logged_in.get("/dashboard/").content.decode()
    assert 'class="badge commenter commenter-trusted"' in html and "long-time reader" in html


def test_undoing_a_decision_from_the_reported_queue_opens_its_reports_again(logged_in, reported):
    logged_in.post(
        f"/dashboard/comments/{reported.pk}/action",
        {"action": "approve", "expected_status": reported.status},
    )
    assert not Report.objects.filter(resolved_at__isnull=True).exists()
    logged_in.post("/dashboard/undo")
    reported.refresh_from_db()
    assert reported.status == CommentStatus.NEEDS_REVIEW
    assert Report.objects.filter(resolved_at__isnull=True).count() == 3
    assert f'id="comment-{reported.pk}"' in logged_in.get("/dashboard/?status=reported").content.decode()


def test_commenters_and_reports_are_read_only_in_the_admin(client, django_user_model, reported, site):
    set_commenter_state(site, "x", {"state": "banned"}, "mod")
    boss = django_user_model.objects.create_superuser(username="boss", password="pw")
    client.force_login(boss)
    for model in ("commenter", "report"):
        assert client.get(f"/admin/moderation/{model}/").status_code == 200
        assert client.get(f"/admin/moderation/{model}/add/").status_code == 403
    commenter = Commenter.objects.get()
    client.post(f"/admin/moderation/commenter/{commenter.pk}/change/", {"state": "trusted"})
    assert Commenter.objects.get().state == "banned"


def _site_form(client, django_user_model, site, **fields) -> dict:
    """The admin's change form of ``site`` as a superuser "boss" posts it, logged in, with ``fields`` set."""
    boss = django_user_model.objects.create_superuser(username="boss", password="pw")
    client.force_login(boss)
    return {
        "slug": site.slug,
        "name": site.name,
        "policy_overrides": "{}",
        "report_threshold": "3",
        "allowed_link_domains": "[]",
        "denied_link_domains": "[]",
        **fields,
    }


def test_link_domains_edited_in_the_admin_are_validated_and_audited(client, django_user_model, site):
    form = _site_form(
        client,
        django_user_model,
        site,
        allowed_link_domains='["gov.uk"]',
        denied_link_domains='["spam.example"]',
    )
    response = client.post(f"/admin/moderation/site/{site.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    site.refresh_from_db()
    assert (site.allowed_link_domains, site.denied_link_domains) == (["gov.uk"], ["spam.example"])
    entry = AuditEntry.objects.get(action="link_domains_changed")
    assert entry.actor_label == "boss" and entry.before["denied_link_domains"] == []
    bad = client.post(
        f"/admin/moderation/site/{site.pk}/change/", {**form, "denied_link_domains": '["http://x.example"]'}
    )
    assert bad.status_code == 200 and "is not a lower-case domain" in bad.content.decode()
    form["report_threshold"] = "0"
    assert (
        "report_threshold must be"
        in client.post(f"/admin/moderation/site/{site.pk}/change/", form).content.decode()
    )


def test_holding_every_commenters_links_is_switched_in_the_admin_and_audited(client, django_user_model, site):
    form = _site_form(client, django_user_model, site, hold_links="on")
    response = client.post(f"/admin/moderation/site/{site.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    site.refresh_from_db()
    assert site.hold_links is True
    entry = AuditEntry.objects.get(action="link_domains_changed")
    assert entry.actor_label == "boss"
    assert (entry.before["hold_links"], entry.after["hold_links"]) == (False, True)
    del form["hold_links"]  # an unticked box is not sent
    client.post(f"/admin/moderation/site/{site.pk}/change/", form)
    site.refresh_from_db()
    assert site.hold_links is False
    assert AuditEntry.objects.filter(action="link_domains_changed").count() == 2
