"""The Python client for sites: submit a comment to the moderation queue.

    from moderation.client import submit
    sent = submit(site_comment_id="c-123", text="Nice piece.", author_id="u-9", story_id="s-1",
                  broker_url="redis://127.0.0.1:6379/0")
    sent.site_comment_id, sent.message_id   # the decision arrives by webhook with this site_comment_id

    from moderation.client import decision, wait_for_decision
    decision("c-123", api_url="http://127.0.0.1:8000", api_key=KEY)   # the state now, None if not stored yet
    wait_for_decision("c-123", api_url=..., api_key=KEY, timeout=30)  # waits until it is decided

The payload is validated here first with the same rules as the worker and the HTTP API, so a bad comment fails
at the caller with a ``SubmissionError`` naming the field and the limit, and nothing is enqueued.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from celery import Celery

from moderation.queue import SUBMIT_COMMENT
from moderation.validation import SubmissionError, validate_submission

__all__ = ["submit", "Submitted", "SubmissionError", "decision", "wait_for_decision", "DecisionLookupError"]


@dataclass(frozen=True)
class Submitted:
    """What ``submit`` put on the queue: the site and the comment's id there (the webhook event and the
    dashboard name the comment by them), and the broker message's id (for the worker's logs)."""

    site: str
    site_comment_id: str
    message_id: str


_apps: dict[tuple[str, str], Celery] = {}


def _app(broker_url: str, key_prefix: str) -> Celery:
    if (broker_url, key_prefix) not in _apps:
        # Not the process's current app: a site's Django process (or ours, in tests) has its own, which
        # ``shared_task`` and ``moderation.queue.producer`` use; a client must not take its place.
        app = Celery("moderation-client", broker=broker_url, set_as_current=False)
        app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_timeout=3)
        if key_prefix:
            app.conf.broker_transport_options = {"global_keyprefix": key_prefix}
        _apps[broker_url, key_prefix] = app
    return _apps[broker_url, key_prefix]


def submit(
    *,
    site_comment_id: str | None = None,
    text: str | None = None,
    author_id: str | None = None,
    story_id: str | None = None,
    broker_url: str | None = None,
    queue: str | None = None,
    site: str | None = None,
    **optional: Any,
) -> Submitted:
    """Validate one comment and put it on the moderation queue as ``moderation.submit_comment``.

    ``optional`` takes story_title, author_name, parent_id, created_at and edited_at (ISO 8601 strings), ip,
    user_agent, language. Sending a new text under a ``site_comment_id`` sent before is an edit: the comment
    is moderated again and its new decision reaches the site's webhook. ``broker_url`` defaults to $REDIS_URL,
    then redis://127.0.0.1:6379/0; ``queue`` (the submission queue the workers read in batches) to
    $MODERATION_SUBMIT_QUEUE, then $MODERATION_QUEUE + ".submit"; the
    broker key prefix is $MODERATION_REDIS_KEY_PREFIX if the workers use one; ``site`` is the site's slug
    (default "default"). Returns a ``Submitted``. Raises SubmissionError for bad input (a required field
    left out included), and kombu's OperationalError if the broker cannot be reached.
    """
    required = {
        "site_comment_id": site_comment_id,
        "text": text,
        "author_id": author_id,
        "story_id": story_id,
    }
    payload = {**{k: v for k, v in required.items() if v is not None}, **optional}
    validate_submission(payload)
    if site is not None:
        payload["site"] = site
    broker_url = broker_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    queue = (
        queue
        or os.environ.get("MODERATION_SUBMIT_QUEUE")
        or os.environ.get("MODERATION_QUEUE", "moderation") + ".submit"
    )
    key_prefix = os.environ.get("MODERATION_REDIS_KEY_PREFIX", "")
    result = _app(broker_url, key_prefix).send_task(SUBMIT_COMMENT, kwargs=payload, queue=queue)
    return Submitted(site or "default", payload["site_comment_id"], result.id)


class DecisionLookupError(Exception):
    """The status API refused the lookup or could not be reached; the message says which and why."""


def decision(
    site_comment_id: str, *, api_url: str | None = None, api_key: str | None = None, timeout: float = 10.0
) -> dict[str, Any] | None:
    """The comment's state from the status API (``GET /api/v1/comments?site_comment_id=``): ``status``
    (queued, approved, rejected, needs_review...), ``reasons``, ``reason_codes``, ``scores``,
    ``model_version``. None while the worker has not stored it yet. ``api_url`` defaults to
    $MODERATION_API_URL, ``api_key`` to $MODERATION_API_KEY. Raises DecisionLookupError for a refused key or
    an unreachable API."""
    api_url = (api_url or os.environ.get("MODERATION_API_URL") or "http://127.0.0.1:8000").rstrip("/")
    api_key = api_key or os.environ.get("MODERATION_API_KEY", "")
    query = urllib.parse.urlencode({"site_comment_id": site_comment_id})
    request = urllib.request.Request(
        f"{api_url}/api/v1/comments?{query}",
        headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the site's own API URL)
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise DecisionLookupError(f"the status API answered {exc.code}: {message}") from None
    except (OSError, ValueError) as exc:
        raise DecisionLookupError(f"the status API at {api_url} could not be reached: {exc}") from None


def wait_for_decision(
    site_comment_id: str,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    timeout: float = 30.0,
    interval: float = 0.5,
) -> dict[str, Any]:
    """Poll ``decision`` until the comment is decided (its status is no longer ``queued``) and return its
    state. Raises TimeoutError after ``timeout`` seconds, naming the last status seen. A site with webhooks
    does not need this: the decision is pushed to it."""
    deadline = time.monotonic() + timeout
    state = None
    while True:
        state = decision(site_comment_id, api_url=api_url, api_key=api_key)
        if state is not None and state.get("status") != "queued":
            return state
        if time.monotonic() >= deadline:
            seen = state["status"] if state else "not stored yet"
            raise TimeoutError(f"comment {site_comment_id!r} not decided within {timeout:g} s ({seen})")
        time.sleep(interval)
