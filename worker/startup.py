"""What a worker does once at start, before it takes its first message (imported by the worker with its
tasks)."""

from __future__ import annotations

from celery.signals import worker_init

from moderation.scoring import ModelUnavailable, current_model
from training.language import preload


@worker_init.connect
def load_model_before_consuming(**kwargs) -> None:
    """Load and verify the model before the first message: a load inside a task would count against the task's
    time limit. Prefork pool processes inherit it (copy-on-write); a failure is logged and retried by the
    first batch, whose comments then go to review with the reason."""
    preload()
    try:
        current_model()
    except ModelUnavailable:
        pass
