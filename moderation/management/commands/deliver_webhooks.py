"""Send the webhook outbox rows that are due: the same as the Celery beat task
``moderation.reconcile_webhooks``, for installations that run no beat (cron it, e.g. every minute)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from moderation.webhooks import deliver


class Command(BaseCommand):
    help = "Attempt every pending webhook delivery whose (re)try is due."

    def handle(self, *args, **options):
        counts = deliver(None)
        self.stdout.write(", ".join(f"{n} {what}" for what, n in counts.items()))
