"""What scores a site's comments: its active adapter, its shadow adapter, or the shared model alone."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from moderation.models import Site, SiteAdapterVersion
from moderation.scoring import ModelUnavailable
from moderation.selectors.adapters import site_adapter_rows
from moderation.selectors.shadow import shadow_report
from moderation.services.adapters import (
    activate_adapter,
    remove_adapter,
    shadow_adapter,
    stop_adapter_shadow,
)
from moderation.services.registry import VerificationError


class Command(BaseCommand):
    help = (
        "--site S [--list]: its registered adapters; --shadow [VERSION]: shadow one (scored beside, never "
        "deciding); --stop-shadow; --activate [VERSION]: make it score the site's comments; --remove: back "
        "to the shared model's scores; --report VERSION: the shadow report. VERSION defaults to the site's "
        "latest registered adapter. Workers switch within seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", required=True, help="the site's slug")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--list", action="store_true", help="list the site's adapters (the default)")
        action.add_argument("--shadow", nargs="?", const="", metavar="VERSION")
        action.add_argument("--stop-shadow", action="store_true")
        action.add_argument("--activate", nargs="?", const="", metavar="VERSION")
        action.add_argument("--remove", action="store_true", help="stop adapting the site's scores")
        action.add_argument("--report", metavar="VERSION", help="how a shadowed adapter compares")
        parser.add_argument("--by", default="cli", help="who does it (audit trail)")

    def handle(self, *args, site, shadow, stop_shadow, activate, remove, report, by, **options):
        found = Site.objects.filter(slug=site).first()
        if found is None:
            raise CommandError(f"--site: no site {site!r}")
        try:
            if activate is not None:
                row = activate_adapter(found, activate or None, actor_label=by)
                self.stdout.write(f"{site}: adapter {row.version} scores its comments")
                if row.label in (found.policy_overrides or {}):
                    # The site's own thresholds win over the adapter's; fitted on the shared scores, they
                    # are on another scale than the adapted score.
                    self.stderr.write(
                        f"warning: {site} has its own {row.label} thresholds "
                        f"({found.policy_overrides[row.label]}), which apply over the adapter's "
                        f"({row.thresholds.get(row.label)}); refit them on the adapted scores with "
                        f"`manage.py preview_thresholds --site {site} --budget B --save` once it has served "
                        "a while, or remove them"
                    )
            elif shadow is not None:
                row = shadow_adapter(found, shadow or None, actor_label=by)
                self.stdout.write(f"{site}: shadowing adapter {row.version}")
            elif stop_shadow:
                row = stop_adapter_shadow(found, actor_label=by)
                self.stdout.write(f"{site}: stopped shadowing {row.version}" if row else f"{site}: no shadow")
            elif remove:
                row = remove_adapter(found, actor_label=by)
                self.stdout.write(
                    f"{site}: adapter {row.version} removed, the shared model's scores serve"
                    if row
                    else f"{site}: no active adapter"
                )
            elif report:
                if not SiteAdapterVersion.objects.filter(site=found, version=report).exists():
                    raise CommandError(f"--report: site {site} has no adapter {report!r}")
                self.stdout.write(json.dumps(shadow_report(report), indent=1, ensure_ascii=False))
            else:
                self.stdout.write(json.dumps(site_adapter_rows(found), indent=1, ensure_ascii=False))
        except SiteAdapterVersion.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        except (VerificationError, ValueError) as exc:
            raise CommandError(f"refused, nothing changed: {exc}") from None
        except ModelUnavailable as exc:
            raise CommandError(f"no model to verify the adapter against: {exc}") from None
