"""Verify a model artifact and record it in the registry (see moderation/services/registry.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from moderation.services.registry import VerificationError, register_model
from moderation.services.registry import promote as promote_version


class Command(BaseCommand):
    help = (
        "Verify PATH (.joblib with its .json) - sha256, metadata, library versions, pickle scan, smoke "
        "score - and register it. It is served once promoted."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--promote", action="store_true", help="make it the active version at once")
        parser.add_argument("--by", default="cli", help="who registers it (audit trail)")

    def handle(self, *args, path, promote, by, **options):
        try:
            row = register_model(path, actor_label=by)
            if promote:
                promote_version(row.version, actor_label=by)
        except VerificationError as exc:
            raise CommandError(f"refused: {exc}") from None
        self.stdout.write(
            f"registered {row.version} ({row.path}, sha256 {row.sha256[:12]}…)"
            + (" and promoted it" if promote else f"; promote it with `manage.py promote {row.version}`")
        )
