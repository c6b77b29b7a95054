"""Step back through the activation history: make the version active before the current one active again."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from moderation.models import ModelVersion
from moderation.selectors.adapters import stale_adapter_warnings
from moderation.services.registry import ActiveVersionChanged, VerificationError, rollback


class Command(BaseCommand):
    help = (
        "Make the version that was active before the current one active again; run it again to step further "
        "back (promote A, B, C, then rollback gives B, then A). Workers switch within seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--by", default="cli", help="who rolls back (audit trail)")

    def handle(self, *args, by, **options):
        before = ModelVersion.objects.filter(is_active=True).values_list("version", flat=True).first()
        try:
            row = rollback(actor_label=by)
        except ModelVersion.DoesNotExist as exc:  # NothingToRollBack: the message says what is active
            raise CommandError(f"nothing to roll back to: {exc}") from None
        except VerificationError as exc:
            raise CommandError(f"refused, the active version is unchanged: {exc}") from None
        except ActiveVersionChanged as exc:
            raise CommandError(f"{exc}; run rollback again to step back from the new version") from None
        self.stdout.write(f"active model: {row.version} (rolled back from {before or 'no active version'})")
        for warning in stale_adapter_warnings(row):
            self.stderr.write(warning)
