"""The sites' Python client must leave the process's Celery app alone."""

from celery import current_app

from moderation import client
from moderation.queue import producer


def test_a_client_app_does_not_become_the_current_app():
    # The client made its own app the current one: afterwards every task this process sent went through it,
    # without the project's routes or key prefix (test_compose then waited in vain for a Celery submission).
    ours = producer()
    app = client._app("redis://127.0.0.1:6379/15", "client-test:")
    assert app is not ours
    assert current_app._get_current_object() is ours
    assert producer() is ours and producer().main == "moderation"


def test_a_missing_required_field_is_a_submission_error_naming_it():
    """Issue 21: leaving out a required field raised TypeError, not the SubmissionError sites catch."""
    import pytest

    with pytest.raises(client.SubmissionError, match="site_comment_id"):
        client.submit(text="Nice piece.", author_id="u-9", story_id="s-1", broker_url="redis://127.0.0.1:1/0")
    with pytest.raises(client.SubmissionError, match="text"):
        client.submit(site_comment_id="c-1", text="", author_id="u-9", story_id="s-1")


def test_submit_says_what_it_put_on_the_queue(monkeypatch):
    sent = []

    class App:
        def send_task(self, name, kwargs, queue):
            sent.append((name, kwargs, queue))

            class Result:
                id = "message-1"

            return Result()

    monkeypatch.setattr(client, "_app", lambda broker_url, key_prefix: App())
    result = client.submit(
        site_comment_id="c-1", text="Nice piece.", author_id="u-9", story_id="s-1", site="news"
    )
    assert result == client.Submitted("news", "c-1", "message-1")
    assert sent[0][1]["site"] == "news" and sent[0][1]["site_comment_id"] == "c-1"
