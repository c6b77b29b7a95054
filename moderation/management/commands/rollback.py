"""Switch back to the model version that was active before the current one."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from moderation.models import ModelVersion
from moderation.registry import VerificationError, rollback


class Command(BaseCommand):
    help = "Make the previously active model version active again; workers switch within seconds."

    def add_arguments(self, parser):
        parser.add_argument("--by", default="cli", help="who rolls back (audit trail)")

    def handle(self, *args, by, **options):
        try:
            row = rollback(actor_label=by)
        except ModelVersion.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        except VerificationError as exc:
            raise CommandError(f"refused, the active version is unchanged: {exc}") from None
        self.stdout.write(f"active model: {row.version}")
