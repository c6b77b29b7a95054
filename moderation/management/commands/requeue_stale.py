"""Re-enqueue comments that have been ``queued`` for too long: the database is the source of truth, so comments
whose message was lost (broker restarted without persistence, broker down at submission) are decided anyway."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from moderation.models import Comment, CommentStatus
from moderation.queue import enqueue_decide

BATCH = 100


class Command(BaseCommand):
    help = "Re-enqueue comments queued longer than --older-than seconds (default MODERATION_STALE_AFTER_SECONDS)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=None, help="age in seconds")

    def handle(self, *args, older_than=None, **options):
        age = settings.MODERATION_STALE_AFTER_SECONDS if older_than is None else older_than
        cutoff = timezone.now() - timedelta(seconds=age)
        ids = list(
            Comment.objects.filter(status=CommentStatus.QUEUED, submitted_at__lte=cutoff)
            .order_by("submitted_at")
            .values_list("pk", flat=True)
        )
        sent = 0
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            if not enqueue_decide(chunk):
                self.stderr.write(f"broker unreachable; {len(ids) - sent} comment(s) still queued, try again")
                break
            sent += len(chunk)
        self.stdout.write(f"re-enqueued {sent} stale comment(s)")
