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
