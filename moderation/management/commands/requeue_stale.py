"""Re-enqueue comments that have been ``queued`` for too long: the database is the source of truth, so
comments whose message was lost (broker restarted without persistence, broker down at submission) are decided
anyway. Celery beat runs the same as the task ``moderation.requeue_stale``; ``make up`` runs it every 30 s."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from moderation.services import requeue_stale


class Command(BaseCommand):
    help = (
        "Re-enqueue comments queued longer than --older-than seconds "
        "(default MODERATION_STALE_AFTER_SECONDS)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=None, help="age in seconds")

    def handle(self, *args, older_than=None, **options):
        age = settings.MODERATION_STALE_AFTER_SECONDS if older_than is None else older_than
        sent, left = requeue_stale(age)
        if left:
            self.stderr.write(f"broker unreachable; {left} comment(s) still queued, try again")
        self.stdout.write(f"re-enqueued {sent} stale comment(s)")
