"""End to end on real parts: a real Celery worker process, the machine's Redis, the test database (SQLite file
or PostgreSQL), the real HTTP server, the shipped model."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from moderation.models import AuditEntry, Comment, CommentStatus, Decision
from tests.conftest import comment_payload, wait_for
from training.onnx_encoder import onnx_available

pytestmark = pytest.mark.integration

DECIDED = {CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.NEEDS_REVIEW}

MIXED = [
    "Pakistan is right to wait; recognising the Taliban now would reward them for nothing.",
    "As an Afghan living in Peshawar, I think the refugees deserve more attention in this story.",
    "You are a pathetic idiot and a moron, shut your stupid mouth.",
    "f u c k you, you worthless piece of sh1t",
    "CHECK OUT my channel!!! subscribe http://free-money.example.com win an iPhone now click here",
]


def http(method: str, url: str, key: str, data: dict | None = None) -> tuple[int, dict]:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def decided_states(live_server, key: str, ids: list[int]) -> list[dict] | None:
    """The status API's answers for `ids` once every one is decided, else None. Polled twice a second, five
    ids stay under the API's rate limit (MODERATION_RATE_LIMIT_PER_MINUTE, 1,200) however long a worker
    takes; ten times a second got 429s after about 25 s, which read as a missing status."""
    answers = [http("GET", f"{live_server.url}/api/v1/comments/{pk}", key) for pk in ids]
    if all(code == 200 and body["status"] in DECIDED for code, body in answers):
        return [body for _, body in answers]
    return None


def shipped_model_version() -> str:
    from training.runtime import load_model

    return load_model().version


def test_http_submissions_are_decided_by_a_real_worker(live_server, api_key, start_worker):
    start_worker()
    ids = []
    for n, text in enumerate(MIXED):
        status, body = http(
            "POST", f"{live_server.url}/api/v1/comments", api_key, comment_payload(n, text=text)
        )
        assert status == 202 and body["status"] == "queued"
        ids.append(body["id"])

    states = wait_for(
        lambda: decided_states(live_server, api_key, ids),
        timeout=60,
        interval=0.5,
        message="decisions through the status API",
    )
    version = shipped_model_version()
    for state in states:
        assert state["model_version"] == version
        assert set(state["scores"]) >= {"toxicity", "spam"}
        assert state["reasons"] and state["decided_at"]
    # the plainly abusive ones are not approved; the polite ones are not rejected
    by_text = dict(zip(MIXED, states, strict=True))
    assert by_text[MIXED[2]]["status"] != "approved"
    assert by_text[MIXED[3]]["status"] != "approved"
    assert by_text[MIXED[0]]["status"] != "rejected"
    assert by_text[MIXED[1]]["status"] != "rejected"
    assert Decision.objects.filter(comment_id__in=ids, kind="auto").count() == len(ids)
    assert AuditEntry.objects.filter(comment_id__in=ids, action__startswith="auto_").count() == len(ids)


def test_celery_submissions_through_the_client_are_decided_once(start_worker, site):
    from django.conf import settings

    from moderation.client import submit

    start_worker()
    for n in range(3):  # to the submission queue, read in batches
        submit(
            **comment_payload(f"celery-{n}"),
            broker_url=settings.REDIS_URL,
            queue=settings.MODERATION_SUBMIT_QUEUE,
        )
    # the same comment again, once more through the submission reader and once as an ordinary task on the main
    # queue: still one comment and one decision
    submit(
        **comment_payload("celery-0"), broker_url=settings.REDIS_URL, queue=settings.MODERATION_SUBMIT_QUEUE
    )
    submit(**comment_payload("celery-0"), broker_url=settings.REDIS_URL, queue=settings.MODERATION_QUEUE)

    wait_for(
        lambda: Comment.objects.filter(source="celery", status__in=DECIDED).count() == 3,
        timeout=60,
        message="3 decided comments",
    )
    assert Comment.objects.filter(site_comment_id="c-celery-0").count() == 1
    for comment in Comment.objects.filter(source="celery"):
        assert comment.decisions.filter(kind="auto").count() == 1
        assert comment.model_version == shipped_model_version()


def test_a_task_delivered_twice_decides_once(start_worker, make_comment):
    from moderation.queue import enqueue_decide

    comment = make_comment()
    worker = start_worker()
    assert enqueue_decide([comment.pk]) and enqueue_decide([comment.pk])
    wait_for(
        lambda: worker.output().count("succeeded") >= 2, timeout=60, message="both deliveries to be processed"
    )
    comment.refresh_from_db()
    assert comment.status in DECIDED
    assert Decision.objects.filter(comment=comment).count() == 1


@pytest.mark.skipif(
    not onnx_available(),
    reason="onnxruntime / tokenizers are not installed (default dependencies: pip install -e .)",
)
def test_a_prefork_worker_with_the_stage_on_decides_with_blended_scores(live_server, api_key, start_worker):
    """As docker-compose runs it: a prefork pool loads the model (and the encoder) in its parent, before
    forking, and its children score. With torch's thread pool started in the parent they used to hang
    (6f7d685): without that fix this test times out. The shipped stage now runs through its ONNX encoder:
    each child creates its own onnxruntime session (training.onnx_encoder)."""
    from training.runtime import load_model

    start_worker(MODERATION_SECOND_STAGE="on", pool="prefork", concurrency=2)
    ids = []
    for n, text in enumerate(MIXED):
        payload = comment_payload(n, text=text)
        status, body = http("POST", f"{live_server.url}/api/v1/comments", api_key, payload)
        assert status == 202
        ids.append(body["id"])

    states = wait_for(
        lambda: decided_states(live_server, api_key, ids),
        timeout=90,
        interval=0.5,
        message="decisions by the worker with the second stage",
    )
    staged = load_model(second_stage=True).score(MIXED)
    fast = load_model(second_stage=False).score(MIXED)
    assert any(abs(s["toxicity"] - f["toxicity"]) > 0.01 for s, f in zip(staged, fast, strict=True))
    for state, expected in zip(states, staged, strict=True):
        assert state["scores"]["toxicity"] == pytest.approx(expected["toxicity"], abs=1e-3)
        assert state["scores"]["spam"] == pytest.approx(expected["spam"], abs=1e-3)
    by_text = dict(zip(MIXED, states, strict=True))
    assert by_text[MIXED[2]]["status"] != "approved" and by_text[MIXED[3]]["status"] != "approved"
    assert by_text[MIXED[0]]["status"] != "rejected" and by_text[MIXED[1]]["status"] != "rejected"


def test_a_site_follows_its_celery_submission_with_the_client(live_server, api_key, start_worker):
    """What the client's docstring promises a site: submit over Celery, then look the decision up (None before
    the worker stores it) or wait for it, by the site's own comment id, through the status API."""
    from django.conf import settings

    from moderation.client import DecisionLookupError, decision, submit, wait_for_decision

    assert decision("c-follow", api_url=live_server.url, api_key=api_key) is None
    with pytest.raises(DecisionLookupError, match="401"):
        decision("c-follow", api_url=live_server.url, api_key="mod_wrong")
    start_worker()
    sent = submit(
        **comment_payload("follow"), broker_url=settings.REDIS_URL, queue=settings.MODERATION_SUBMIT_QUEUE
    )
    state = wait_for_decision(sent.site_comment_id, api_url=live_server.url, api_key=api_key, timeout=60)
    assert state["site_comment_id"] == "c-follow" and state["status"] in DECIDED
    assert state["model_version"] == shipped_model_version()


def test_celery_path_rejects_closed_stories_and_decides_edits_again(start_worker, site):
    """Issue 21 on the real queue path: nothing can be refused there: a comment for a closed story is stored
    and rejected with the reason; an edit (a new text under the same id) is decided again at revision 1."""
    from django.conf import settings

    from moderation.client import submit
    from moderation.services.desk import set_story_controls

    set_story_controls(site, "closed-story", "test", mode="closed")
    start_worker()
    where = {"broker_url": settings.REDIS_URL, "queue": settings.MODERATION_SUBMIT_QUEUE}
    submit(**comment_payload("late", story_id="closed-story"), **where)
    submit(**comment_payload("edit", text="A first, civil draft of my comment."), **where)
    wait_for(
        lambda: Comment.objects.filter(status__in=DECIDED).count() == 2, timeout=60, message="2 decisions"
    )
    late = Comment.objects.get(site_comment_id="c-late")
    assert late.status == CommentStatus.REJECTED and late.reasons[0] == "the story is closed to comments"

    submit(
        **comment_payload("edit", text="The edited text, still civil.", edited_at="2026-11-27T12:00:00Z"),
        **where,
    )
    wait_for(
        lambda: Decision.objects.filter(comment__site_comment_id="c-edit", kind="auto").count() == 2,
        timeout=60,
        message="the edit's decision",
    )
    edited = Comment.objects.get(site_comment_id="c-edit")
    assert edited.revision == 1 and edited.text == "The edited text, still civil."
    assert edited.status in DECIDED
    assert AuditEntry.objects.get(comment=edited, action="edited").before["text"].startswith("A first")
