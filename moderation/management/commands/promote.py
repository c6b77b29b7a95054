"""Make a registered model version the one every worker serves."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from moderation.models import ModelVersion
from moderation.selectors.adapters import stale_adapter_warnings
from moderation.services.registry import VerificationError, promote


class Command(BaseCommand):
    help = "Make VERSION (registered with register_model) the active model; workers switch within seconds."

    def add_arguments(self, parser):
        parser.add_argument("version")
        parser.add_argument("--by", default="cli", help="who promotes it (audit trail)")

    def handle(self, *args, version, by, **options):
        try:
            row = promote(version, actor_label=by)
        except ModelVersion.DoesNotExist:
            known = ", ".join(ModelVersion.objects.values_list("version", flat=True)) or "none"
            raise CommandError(f"no registered version {version!r} (registered: {known})") from None
        except VerificationError as exc:
            raise CommandError(f"refused, the active version is unchanged: {exc}") from None
        self.stdout.write(f"active model: {row.version}")
        for warning in stale_adapter_warnings(row):
            self.stderr.write(warning)
