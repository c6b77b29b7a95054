"""Project wiring: settings, URLs, WSGI and the one Celery app.

The Celery app is imported here, as cookiecutter-django does, so that every process that loads the settings
(web, worker, beat, management commands) has it as its current app: ``shared_task`` and ``moderation.queue``
use it.
"""

from moderation.config.celery import app as celery_app

__all__ = ["celery_app"]
