"""Verify a site adapter against the active model and record it for a site (services/adapters.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from moderation.models import Site
from moderation.scoring import ModelUnavailable
from moderation.services.adapters import activate_adapter, register_adapter, shadow_adapter
from moderation.services.registry import VerificationError


class Command(BaseCommand):
    help = (
        "Verify PATH (an adapter from `python -m training adapt`, with its .json) - sha256, library "
        "versions, pickle scan, fitted on the active model and for this site, smoke score - and register it "
        "for --site. It scores the site's comments once activated (`manage.py adapter --site S --activate`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--site", required=True, help="the site's slug")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--shadow", action="store_true", help="shadow it at once (scored, never deciding)")
        mode.add_argument("--activate", action="store_true", help="make it score the site's comments at once")
        parser.add_argument("--by", default="cli", help="who registers it (audit trail)")

    def handle(self, *args, path, site, shadow, activate, by, **options):
        found = Site.objects.filter(slug=site).first()
        if found is None:
            raise CommandError(f"--site: no site {site!r}")
        try:
            row = register_adapter(found, path, actor_label=by)
            if shadow:
                shadow_adapter(found, row.version, actor_label=by)
            elif activate:
                activate_adapter(found, row.version, actor_label=by)
        except (VerificationError, ValueError) as exc:
            raise CommandError(f"refused: {exc}") from None
        except ModelUnavailable as exc:
            raise CommandError(f"no model to verify the adapter against: {exc}") from None
        then = (
            " and shadows it"
            if shadow
            else " and activated it"
            if activate
            else f"; shadow it with `manage.py adapter --site {site} --shadow {row.version}` or activate it "
            f"with `manage.py adapter --site {site} --activate {row.version}`"
        )
        self.stdout.write(
            f"registered {row.version} for {site} (fitted on model {row.base_model_version}, sha256 "
            f"{row.sha256[:12]}…){then}"
        )
