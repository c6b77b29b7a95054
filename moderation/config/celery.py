"""The one Celery app of the project, used by the workers, beat and every sender (the web process, management
commands). Start a worker with ``celery -A moderation.config.celery:app worker``.

All Celery settings live in Django settings under the CELERY_ namespace (moderation/config/settings.py, which
also refuses task time limits that could outlive the broker's visibility timeout). Nothing here touches Django
at import: ``moderation.config`` imports this module, so it runs while the settings themselves are being
loaded. The worker's start-up work (the batched submission reader, loading the model before the first message)
is in worker/startup.py, which the worker imports with its tasks.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation.config.settings")

app = Celery("moderation", include=["worker.tasks", "worker.startup"])
app.config_from_object("django.conf:settings", namespace="CELERY")
# The reliable submission reader runs inside each worker's consumer (it decides by itself whether it is
# enabled: MODERATION_BATCH_CONSUMER). Named, not imported: importing it needs Django's apps, which are not
# ready yet.
app.steps["consumer"].add("worker.batching:SubmissionReaderStep")
