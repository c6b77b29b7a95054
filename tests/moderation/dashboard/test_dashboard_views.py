"""The dashboard through Django's test client: every view and action, login, CSRF, method checks, escaping of
hostile comment text in every view, filters and sorts, bulk/author/undo actions, first-wins conflicts,
headers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from moderation import scoring
from moderation.dashboard import explanations as explaining
from moderation.models import AuditEntry, Comment, CommentStatus, Decision
from moderation.services import (
    ModelVerdict,
    moderate_comments,
    record_model_decisions,
    undo_moderator_actions,
)

pytestmark = pytest.mark.django_db

THRESHOLDS = {
    "toxicity": {"reject": 0.9, "review": 0.4},
    "spam": {"reject": 0.9, "review": 0.4},
    "insult": {"reject": 0.9, "review": 0.4},
}
XSS = (
    '<script>alert("x1")</script> <img src=x onerror="alert(\'x2\')"> '
    '<a href="javascript:alert(3)">click</a> </textarea><textarea> '
    '<svg onload="alert(4)"><circle r="5"/></svg> "quoted" \'single\' & done'
)
RAW_MARKERS = [
    "<script>alert",
    "<img src=x",
    '<a href="javascript:',
    "</textarea><textarea>",
    "<svg onload",
    "<circle",
]

GET_VIEWS = ["/dashboard/", "/dashboard/counts", "/dashboard/audit/", "/dashboard/stats/"]
POST_VIEWS = ["/dashboard/bulk", "/dashboard/authors/reject", "/dashboard/undo"]


@pytest.fixture
def held(make_comment):
    """A comment the model sent to review, with the given scores."""

    def make(scores=None, model_version="test-v1", **overrides):
        comment = make_comment(**overrides)
        record_model_decisions(
            [ModelVerdict(comment.pk, scores or {"toxicity": 0.6}, model_version, THRESHOLDS)]
        )
        comment.refresh_from_db()
        return comment

    return make


@pytest.fixture
def logged_in(moderator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    return client


@pytest.fixture
def other_moderator(django_user_model):
    user = django_user_model.objects.create_user(username="mod2", password="another horse battery")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return user, client


def token(client, url="/dashboard/") -> str:
    page = client.get(url).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def post(client, url, data, **kwargs):
    return client.post(url, {**data, "csrfmiddlewaretoken": token(client)}, **kwargs)


def visible_text(page: str) -> str:
    return re.sub(r"</?mark[^>]*>", "", page)


def assert_escaped(page: str) -> None:
    for marker in RAW_MARKERS:
        assert marker not in page, f"unescaped {marker!r} in page"
    assert "&lt;script&gt;alert(&quot;x1&quot;)&lt;/script&gt;" in visible_text(page)


def assert_no_inline_script(page: str) -> None:
    # Escaped comment text has no "<", so every tag found here is markup the dashboard wrote.
    for tag in re.findall(r"<[a-zA-Z][^>]*>", page):
        tag = re.sub(r'="[^"]*"', '=""', tag) if not tag.startswith("<script") else tag  # values are text
        if tag.startswith("<script"):
            assert "src=" in tag, f"inline script {tag}"
        assert not re.search(r"\son[a-z]+\s*=", tag), f"inline event handler in {tag}"
        assert " style=" not in tag, f"inline style in {tag}"
        assert "javascript:" not in tag, f"javascript: URL in {tag}"
    assert 'href="javascript:' not in page


# --- access -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", GET_VIEWS + ["/dashboard/comments/1/"])
def test_every_page_needs_login(client, held, url):
    held()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", POST_VIEWS + ["/dashboard/comments/1/action"])
def test_every_action_needs_login(client, held, url):
    comment = held()
    response = client.post(
        url,
        {"action": "approve", "expected_status": "needs_review", "selected": f"{comment.pk}:needs_review"},
    )
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    comment.refresh_from_db()
    assert comment.status == CommentStatus.NEEDS_REVIEW


@pytest.mark.parametrize("url", POST_VIEWS + ["/dashboard/comments/1/action"])
def test_every_action_refuses_get(logged_in, held, url):
    comment = held()
    response = logged_in.get(
        url + f"?action=approve&expected_status=needs_review&selected={comment.pk}:needs_review"
    )
    assert response.status_code == 405
    comment.refresh_from_db()
    assert comment.status == CommentStatus.NEEDS_REVIEW


@pytest.mark.parametrize("url", POST_VIEWS + ["/dashboard/comments/1/action"])
def test_every_action_refuses_post_without_csrf_token(logged_in, held, url):
    comment = held()
    logged_in.get("/dashboard/")  # sets the CSRF cookie: only the token in the form is missing
    response = logged_in.post(
        url,
        {
            "action": "approve",
            "expected_status": "needs_review",
            "selected": f"{comment.pk}:needs_review",
            "site_id": comment.site_id,
            "author_id": comment.author_id,
            "reason_code": "spam",
        },
    )
    assert response.status_code == 403
    comment.refresh_from_db()
    assert comment.status == CommentStatus.NEEDS_REVIEW


def test_anonymous_sees_only_the_login_page(client):
    page = client.get("/login/").content.decode()
    assert 'name="username"' in page and "Audit log" not in page and "dashboard.js" not in page
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_admin_link_only_for_staff(logged_in, client, django_user_model):
    assert "/admin/" not in logged_in.get("/dashboard/").content.decode()
    assert logged_in.get("/admin/").status_code == 302  # a moderator is not an admin
    admin = django_user_model.objects.create_user(
        username="boss", password="x" * 12, is_staff=True, is_superuser=True
    )
    client.force_login(admin)
    assert 'href="/admin/"' in client.get("/dashboard/").content.decode()
    assert client.get("/admin/auth/user/").status_code == 200
    assert client.get("/admin/moderation/apikey/").status_code == 200


def test_security_headers(logged_in):
    response = logged_in.get("/dashboard/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert Client().get("/login/")["Content-Security-Policy"] == csp


def test_secure_cookies_setting_is_honoured(logged_in, settings):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client = Client()
    response = client.get("/login/")
    assert response.cookies["csrftoken"]["secure"]


# --- hostile text is text everywhere ------------------------------------------------------------------------


def test_hostile_comment_is_shown_as_text_in_every_view(logged_in, held, moderator):
    evil = held(
        text=XSS,
        author_name=XSS[:200],
        story_title=XSS[:200],
        scores={"toxicity": 0.7, "spam": 0.5},
        model_version="v<script>alert(9)</script>",
        author_id="evil-author",
    )
    held(text="second " + XSS, author_id="evil-author")
    moderate_comments({evil.pk: "needs_review"}, moderator, "reject", "other", note=XSS)
    pages = {
        "queue rejected": logged_in.get("/dashboard/?status=rejected"),
        "queue all": logged_in.get("/dashboard/?status=all"),
        "queue search": logged_in.get("/dashboard/", {"q": "script", "story": XSS[:150]}),
        "queue review": logged_in.get("/dashboard/"),
        "detail": logged_in.get(f"/dashboard/comments/{evil.pk}/"),
        "audit": logged_in.get("/dashboard/audit/"),
        "stats": logged_in.get("/dashboard/stats/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        page = response.content.decode()
        for marker in RAW_MARKERS + ["<script>alert(9)"]:
            assert marker not in page, f"{name}: unescaped {marker!r}"
        assert_no_inline_script(page)
    assert_escaped(pages["detail"].content.decode())
    assert "&lt;script&gt;alert(&quot;x1&quot;)" in visible_text(pages["audit"].content.decode())  # the note


def test_line_breaks_are_kept(logged_in, held):
    comment = held(text="first line\nsecond <b>line</b>")
    for url in ("/dashboard/", f"/dashboard/comments/{comment.pk}/"):
        page = visible_text(logged_in.get(url).content.decode())
        assert "first line<br>second &lt;b&gt;line&lt;/b&gt;" in page


# --- queues: counts, filters, sorts, search -----------------------------------------------------------------


def test_counts_endpoint_and_tabs(logged_in, held, make_comment):
    held(), held()
    make_comment()
    data = logged_in.get("/dashboard/counts").json()
    assert (
        data["counts"]["needs_review"] == 2 and data["counts"]["queued"] == 1 and data["counts"]["all"] == 3
    )
    page = logged_in.get("/dashboard/").content.decode()
    assert re.search(r'data-status="needs_review"[^>]*>Needs review <span class="count">2</span>', page)
    assert logged_in.get("/dashboard/counts")["Cache-Control"].startswith("max-age=0")


def item_ids(page: str) -> list[int]:
    return [
        int(i) for i in re.findall(r'<li class="item[^"]*" id="comment-\d+" data-comment-id="(\d+)"', page)
    ]


def test_sorts(logged_in, held):
    low = held(scores={"toxicity": 0.45})
    high = held(scores={"toxicity": 0.85, "spam": 0.2})
    edge = held(scores={"toxicity": 0.41})  # 0.01 from the review threshold: least certain
    mid = held(scores={"spam": 0.65})
    get = lambda sort: item_ids(logged_in.get("/dashboard/", {"sort": sort}).content.decode())  # noqa: E731
    assert get("newest") == [mid.pk, edge.pk, high.pk, low.pk]
    assert get("oldest") == [low.pk, high.pk, edge.pk, mid.pk]
    assert get("score") == [high.pk, mid.pk, low.pk, edge.pk]
    # closest to a threshold of the model in use (or to 0.5 without a model)
    model = explaining.get_model()
    cuts = model.thresholds if model else {}

    def distance(scores):
        if not cuts:
            return abs(max(scores.values()) - 0.5)
        return min(abs(scores.get(label, 0.0) - t) for label, c in cuts.items() for t in c.values())

    rows = {c.pk: distance(c.scores) for c in (low, high, edge, mid)}
    assert get("uncertain") == sorted(rows, key=lambda pk: (rows[pk], -pk))


def test_filters_and_search(logged_in, held, moderator):
    a = held(
        text="Spam spam lovely spam",
        author_id="alice",
        story_id="s1",
        story_title="Budget vote",
        scores={"spam": 0.7},
        model_version="m-1",
    )
    b = held(
        text="You are an idiot",
        author_id="bob",
        story_id="s2",
        story_title="Transfer window",
        scores={"toxicity": 0.8, "severe_toxicity": 0.5},
        model_version="m-2",
    )
    c = held(text="Another comment", author_id="carol", story_id="s2", scores={"severe_toxicity": 0.6})
    ids = lambda **q: set(item_ids(logged_in.get("/dashboard/", q).content.decode()))  # noqa: E731
    assert ids(q="IDIOT") == {b.pk}
    assert ids(author="alice") == {a.pk}
    assert ids(story="s2") == {b.pk, c.pk}
    assert ids(story="budget") == {a.pk}
    assert ids(model_version="m-1") == {a.pk}
    assert ids(label="spam") == {a.pk}
    assert ids(label="toxicity") == {b.pk}  # "severe_toxicity ..." reasons do not count as toxicity
    today = timezone.now().date()
    assert ids(date_from=today.isoformat(), date_to=today.isoformat()) == {a.pk, b.pk, c.pk}
    assert ids(date_to=(today - timedelta(days=1)).isoformat()) == set()
    moderate_comments({a.pk: "needs_review"}, moderator, "approve")
    assert ids(status="approved", decided_by="moderator") == {a.pk}
    assert ids(status="approved", decided_by="model") == set()
    assert ids(status="all", decided_by="model") == {b.pk, c.pk}
    assert ids(status="all", decided_by="mod") == {a.pk}


@pytest.mark.parametrize(
    "query,message",
    [
        ({"status": "nope"}, "status must be"),
        ({"sort": "random"}, "sort must be"),
        ({"label": "x"}, "label must"),
        ({"date_from": "yesterday"}, "date_from must be a date"),
        ({"q": "x" * 201}, "q is longer"),
    ],
)
def test_bad_filters_are_named(logged_in, query, message):
    response = logged_in.get("/dashboard/", query)
    assert response.status_code == 400 and message in response.content.decode()


def test_pagination_keeps_filters(logged_in, held):
    for _ in range(52):
        held(author_id="many")
    page = logged_in.get("/dashboard/", {"author": "many"}).content.decode()
    assert len(item_ids(page)) == 50 and "?author=many&amp;page=2" in page
    assert len(item_ids(logged_in.get("/dashboard/", {"author": "many", "page": 2}).content.decode())) == 2


def test_empty_queue_says_so(logged_in):
    assert "Nothing here. Queue clear." in logged_in.get("/dashboard/").content.decode()


def test_queued_comments_cannot_be_acted_on_from_their_tab(logged_in, make_comment):
    make_comment()
    page = logged_in.get("/dashboard/?status=queued").content.decode()
    assert "approve-form" not in page and 'id="bulk-form"' not in page


# --- item view: history, explanation ------------------------------------------------------------------------


def test_item_view_shows_history_decisions_and_scores(logged_in, held, moderator):
    first = held(author_id="regular", text="An older comment of mine")
    moderate_comments({first.pk: "needs_review"}, moderator, "approve")
    held(author_id="regular", text="A second pending one")
    current = held(author_id="regular", text="The comment in question", scores={"toxicity": 0.6, "spam": 0.1})
    response = logged_in.get(f"/dashboard/comments/{current.pk}/")
    page = visible_text(response.content.decode())
    assert "The comment in question" in page
    assert "1 approved · 0 rejected · 2 pending" in page
    assert "An older comment of mine" in page and "A second pending one" in page
    assert "toxicity 0.60 ≥ review threshold 0.40" in page
    assert 'aria-label="toxicity 0.60"' in page and 'width="60.0"' in page  # the score bar
    assert "Reject all 2 pending by this author" in page
    assert logged_in.get("/dashboard/comments/999999/").status_code == 404


def test_highlight_marks_the_words_given_and_keeps_the_text():
    text = "You are a  stupid idiot,\nclick <here>"
    segments = explaining.highlight(
        text, [("stupid", 3.0), ("idiot", 1.5), ("here", 0.1), ("click here", 0.9)]
    )
    assert "".join(s.text for s in segments) == text
    marked = {s.text: s.level for s in segments if s.level}
    # "here" alone is too weak to mark, but it is part of the strong n-gram "click here"
    assert marked == {"stupid": 3, "idiot,": 2, "click": 1, "<here>": 1}
    assert explaining.highlight("plain", []) == [explaining.Segment("plain")]


def test_highlight_matches_normalised_spellings():
    segments = explaining.highlight("what an 1d10t!", [("idiot", 2.0)])
    assert [s.text for s in segments if s.level] == ["1d10t!"]


shipped = pytest.mark.skipif(
    explaining.get_model() is None, reason="no loadable model at models/default.joblib"
)


@shipped
def test_a_spam_hold_for_a_telephone_number_highlights_the_number(logged_in, held):
    comment = held(
        text="Antivirus renewal support, call now +1 555 0190, certified technicians available.",
        scores={"spam": 0.9},
    )
    page = logged_in.get(f"/dashboard/comments/{comment.pk}/").content.decode()
    marked = re.findall(r'<mark class="why why-3" title="raises spam[^"]*">([^<]*)</mark>', page)
    assert marked == ["+1", "555", "0190,"]


@shipped
def test_queue_and_item_highlight_why_with_the_shipped_model(logged_in, held):
    comment = held(text="You are a stupid idiot and everyone knows it", scores={"toxicity": 0.8})
    for url in ("/dashboard/", f"/dashboard/comments/{comment.pk}/"):
        page = logged_in.get(url).content.decode()
        assert re.search(
            r'<mark class="why why-3" title="raises toxicity[^"]*">(stupid|idiot)</mark>', page
        ), url
    detail = logged_in.get(f"/dashboard/comments/{comment.pk}/").content.decode()
    assert "adds to toxicity (log-odds)" in detail and "<td>stupid</td>" in detail


def test_without_a_model_there_is_no_highlight_and_a_notice(logged_in, held, settings, tmp_path):
    settings.MODERATION_MODEL_PATH = str(tmp_path / "missing.joblib")
    scoring.reset_for_tests()  # a fresh process: the dashboard reads the process's one model handle
    try:
        comment = held(text="You are a stupid idiot")
        page = logged_in.get(f"/dashboard/comments/{comment.pk}/").content.decode()
        assert "<mark" not in page and "No explanation:" in page and "not found" in page
        assert "No word highlighting" in logged_in.get("/dashboard/").content.decode()
    finally:
        settings.MODERATION_MODEL_PATH = ""
        scoring.reset_for_tests()


# --- actions ------------------------------------------------------------------------------------------------


def test_reject_needs_a_reason_and_other_needs_a_note(logged_in, held):
    comment = held()
    url = f"/dashboard/comments/{comment.pk}/action"
    base = {"action": "reject", "expected_status": "needs_review"}
    assert post(logged_in, url, {**base, "reason_code": ""}).status_code == 400
    assert post(logged_in, url, {**base, "reason_code": "rude"}).status_code == 400
    response = post(logged_in, url, {**base, "reason_code": "other"})
    assert response.status_code == 400 and "note is required" in response.content.decode()
    assert post(logged_in, url, {**base, "action": "delete"}).status_code == 400
    comment.refresh_from_db()
    assert comment.status == CommentStatus.NEEDS_REVIEW
    post(logged_in, url, {**base, "reason_code": "other", "note": "  doxxing  "})
    decision = comment.decisions.get(kind="moderator")
    assert (decision.reason_code, decision.note) == ("other", "doxxing")


def test_bulk_reject_with_first_wins_conflict(logged_in, held, other_moderator, moderator):
    a, b, c = held(), held(), held()
    other, _ = other_moderator
    moderate_comments({b.pk: "needs_review"}, other, "approve")  # the other moderator got to b first
    response = post(
        logged_in,
        "/dashboard/bulk",
        {
            "action": "reject",
            "reason_code": "spam",
            "selected": [f"{a.pk}:needs_review", f"{b.pk}:needs_review", f"{c.pk}:needs_review"],
        },
        follow=True,
    )
    page = response.content.decode()
    assert "2 comments rejected. Press u to undo." in page
    assert f"Not changed: comment {b.pk} is already approved by mod2." in page
    statuses = dict(Comment.objects.values_list("pk", "status"))
    assert statuses[a.pk] == statuses[c.pk] == "rejected" and statuses[b.pk] == "approved"
    audits = AuditEntry.objects.filter(action="reject", actor=moderator)
    assert audits.count() == 2 and all(
        e.after["via"] == "bulk" and e.after["reason_code"] == "spam" for e in audits
    )
    assert all(e.before["scores"] == {"toxicity": 0.6} for e in audits)  # the model's scores at the time


def test_bulk_approve_and_nothing_selected(logged_in, held):
    a, b = held(), held()
    post(
        logged_in,
        "/dashboard/bulk",
        {"action": "approve", "selected": [f"{a.pk}:needs_review", f"{b.pk}:needs_review"]},
    )
    assert set(Comment.objects.values_list("status", flat=True)) == {"approved"}
    response = post(logged_in, "/dashboard/bulk", {"action": "approve"}, follow=True)
    assert "Nothing selected" in response.content.decode()


def test_reject_all_pending_by_author(logged_in, held, moderator):
    spam1, spam2 = held(author_id="spammer"), held(author_id="spammer")
    done = held(author_id="spammer")
    moderate_comments({done.pk: "needs_review"}, moderator, "approve")
    innocent = held(author_id="someone-else")
    response = post(
        logged_in,
        "/dashboard/authors/reject",
        {"site_id": spam1.site_id, "author_id": "spammer", "reason_code": "spam"},
        follow=True,
    )
    assert "2 comments rejected" in response.content.decode()
    statuses = dict(Comment.objects.values_list("pk", "status"))
    assert statuses[spam1.pk] == statuses[spam2.pk] == "rejected"
    assert statuses[done.pk] == "approved" and statuses[innocent.pk] == "needs_review"
    assert AuditEntry.objects.filter(action="reject", after__via="author").count() == 2
    assert post(logged_in, "/dashboard/authors/reject", {"site_id": "", "author_id": "x"}).status_code == 400


def test_undo_restores_the_previous_state_as_a_new_audited_action(logged_in, held, moderator):
    comment = held()
    auto_decided_at = comment.decided_at
    post(
        logged_in,
        f"/dashboard/comments/{comment.pk}/action",
        {"action": "reject", "reason_code": "toxic", "expected_status": "needs_review"},
    )
    response = post(logged_in, "/dashboard/undo", {}, follow=True)
    assert "Undone: reject" in response.content.decode()
    comment.refresh_from_db()
    assert comment.status == "needs_review" and comment.decided_by == "model"
    assert comment.decided_at == auto_decided_at
    undo = AuditEntry.objects.filter(comment=comment).order_by("-id").first()
    assert (
        undo.action == "undo"
        and undo.before["status"] == "rejected"
        and undo.after["status"] == "needs_review"
    )
    assert undo.actor == moderator
    assert Decision.objects.filter(comment=comment, reason_code="undo").exists()
    assert "Nothing to undo" in post(logged_in, "/dashboard/undo", {}, follow=True).content.decode()


def test_undo_of_a_bulk_action_restores_every_comment(logged_in, held):
    a, b = held(), held()
    post(
        logged_in,
        "/dashboard/bulk",
        {
            "action": "reject",
            "reason_code": "spam",
            "selected": [f"{a.pk}:needs_review", f"{b.pk}:needs_review"],
        },
    )
    post(logged_in, "/dashboard/undo", {})
    assert set(Comment.objects.values_list("status", flat=True)) == {"needs_review"}


def test_undo_refused_when_someone_changed_it_since(logged_in, held, other_moderator):
    comment = held()
    post(
        logged_in,
        f"/dashboard/comments/{comment.pk}/action",
        {"action": "reject", "reason_code": "spam", "expected_status": "needs_review"},
    )
    other, _ = other_moderator
    moderate_comments({comment.pk: "rejected"}, other, "approve")
    response = post(logged_in, "/dashboard/undo", {}, follow=True)
    assert (
        f"Not undone: comment {comment.pk} was changed since (now approved by mod2)"
        in response.content.decode()
    )
    comment.refresh_from_db()
    assert comment.status == "approved"


def test_undo_only_by_the_moderator_who_acted(held, moderator, other_moderator):
    comment = held()
    result = moderate_comments({comment.pk: "needs_review"}, moderator, "approve")
    other, other_client = other_moderator
    refused = undo_moderator_actions(result.audit_ids, other)
    assert not refused.changed and "not an action of yours" in refused.conflicts[0]
    # and the other moderator's session has nothing to undo
    assert "Nothing to undo" in post(other_client, "/dashboard/undo", {}, follow=True).content.decode()
    comment.refresh_from_db()
    assert comment.status == "approved"


def test_conflicting_single_action_is_reported_not_overwritten(logged_in, held, other_moderator):
    comment = held()
    _, other_client = other_moderator
    seen = {"action": "reject", "reason_code": "toxic", "expected_status": "needs_review"}
    post(other_client, f"/dashboard/comments/{comment.pk}/action", {**seen, "action": "approve"})
    response = post(logged_in, f"/dashboard/comments/{comment.pk}/action", seen, follow=True)
    assert f"Not changed: comment {comment.pk} is already approved by mod2." in response.content.decode()
    comment.refresh_from_db()
    assert comment.status == "approved" and comment.decided_by == "mod2"


# --- audit log and stats ------------------------------------------------------------------------------------


def test_audit_log_filters(logged_in, held, moderator, other_moderator):
    a, b = held(), held()
    other, _ = other_moderator
    moderate_comments({a.pk: "needs_review"}, moderator, "approve")
    moderate_comments({b.pk: "needs_review"}, other, "reject", "spam")

    def rows(**q):
        page = logged_in.get("/dashboard/audit/", q).content.decode()
        return re.findall(r'<tr class="audit-row action-([a-z_]+)">', page)

    assert rows(moderator="mod") == ["approve"]
    assert rows(moderator="mod2") == ["reject"]
    assert rows(action="reject") == ["reject"]
    assert sorted(rows(comment=a.pk)) == ["approve", "auto_needs_review", "submitted"]
    today = timezone.now().date()
    assert len(rows(date_from=today.isoformat())) == 6
    assert rows(date_to=(today - timedelta(days=1)).isoformat()) == []
    assert logged_in.get("/dashboard/audit/", {"comment": "x"}).status_code == 400
    page = logged_in.get("/dashboard/audit/", {"action": "reject"}).content.decode()
    assert "needs_review → rejected" in page and "reason spam" in page and "toxicity 0.60" in page


def test_stats_page_draws_charts(logged_in, held, moderator):
    a, b, c = held(scores={"toxicity": 0.7}), held(scores={"spam": 0.6}), held()
    moderate_comments({a.pk: "needs_review"}, moderator, "approve")
    moderate_comments({b.pk: "needs_review"}, moderator, "reject", "spam")
    Comment.objects.filter(pk=c.pk).update(submitted_at=timezone.now() - timedelta(hours=30))
    page = logged_in.get("/dashboard/stats/").content.decode()
    for title in (
        "Comments per hour by outcome",
        "Automatic vs moderator decisions",
        "Moderator override rate per label",
        "Needs-review queue by age",
        "Model versions",
    ):
        assert title in page
    assert page.count('<rect class="o-') >= 2
    assert re.search(r"<title>toxicity: 100% of 1</title>", page)
    assert re.search(r"<title>spam: 0% of 1</title>", page)
    assert "<title>1–3 d: 1</title>" in page
    assert "<title>test-v1: 3</title>" in page


def test_stats_page_with_no_data(logged_in):
    page = logged_in.get("/dashboard/stats/").content.decode()
    assert page.count("No data yet.") == 5


def test_counts_say_how_many_comments_entered_the_queue_since_the_page(client, moderator, make_comment):
    """The "N new comments — show" prompt's number: comments decided into (or submitted to) this queue, with
    these filters, after the page was drawn."""
    import datetime as dt

    from django.utils import timezone

    from moderation.models import Comment

    client.force_login(moderator)
    before, after = make_comment(story_id="s-1"), make_comment(story_id="s-1")
    other_story = make_comment(story_id="s-2")
    drawn = timezone.now()
    Comment.objects.filter(pk=before.pk).update(
        status="needs_review", decided_at=drawn - dt.timedelta(minutes=1)
    )
    Comment.objects.filter(pk__in=[after.pk, other_story.pk]).update(
        status="needs_review", decided_at=drawn + dt.timedelta(seconds=5)
    )
    since = drawn.isoformat()
    everything = client.get("/dashboard/counts", {"since": since}).json()
    assert everything["new"] == 2 and everything["counts"]["needs_review"] == 3
    assert client.get("/dashboard/counts", {"since": since, "story": "s-1"}).json()["new"] == 1
    assert "new" not in client.get("/dashboard/counts").json()
    naive = client.get("/dashboard/counts", {"since": "2026-12-02T10:00:00"})
    assert naive.status_code == 400 and "time zone" in naive.json()["error"]
