"""The Celery app of the workers. Start it with ``celery -A worker.celery:app worker``.

All Celery settings live in Django settings under the CELERY_ namespace (moderation/settings.py)."""

from __future__ import annotations

import os

import django
from celery import Celery
from celery.signals import worker_init
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation.settings")
django.setup()

from django.conf import settings  # noqa: E402  (after django.setup)

app = Celery("worker", include=["worker.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")


def check_time_limits() -> None:
    """Refuse to start if a task could outlive the broker's visibility timeout: Redis would hand the message to a
    second worker while the first still runs it."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    for name in ("CELERY_TASK_TIME_LIMIT", "CELERY_TASK_SOFT_TIME_LIMIT"):
        limit = getattr(settings, name)
        if not limit or limit >= visibility * 0.5:
            raise ImproperlyConfigured(
                f"{name}={limit} must be set and below half of CELERY_VISIBILITY_TIMEOUT={visibility} seconds"
            )


check_time_limits()

if settings.MODERATION_BATCH_CONSUMER:
    from .batching import SubmissionReaderStep

    app.steps["consumer"].add(SubmissionReaderStep)


@worker_init.connect
def load_model_before_consuming(**kwargs) -> None:
    """Load and verify the model before the first message: a load inside a task would count against the task's
    time limit. Prefork pool processes inherit it (copy-on-write); a failure is logged and retried by the first
    batch, whose comments then go to review with the reason."""
    from moderation.engine import ModelUnavailable, current_model
    from training.language import preload

    preload()
    try:
        current_model()
    except ModelUnavailable:
        pass
