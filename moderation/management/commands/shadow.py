"""Shadow mode: a registered candidate scores live traffic beside the active model without deciding."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from moderation.models import ModelVersion
from moderation.selectors.shadow import shadow_report
from moderation.services.registry import VerificationError
from moderation.services.shadow import score_pending, start_shadow, stop_shadow


class Command(BaseCommand):
    help = "shadow VERSION: start shadowing it; --stop; --score: score pending now; --report VERSION: report."

    def add_arguments(self, parser):
        parser.add_argument("version", nargs="?")
        parser.add_argument("--stop", action="store_true")
        parser.add_argument("--score", action="store_true", help="score the pending comments now")
        parser.add_argument("--report", action="store_true", help="print the comparison report of VERSION")
        parser.add_argument("--by", default="cli")

    def handle(self, *args, version, stop, score, report, by, **options):
        try:
            if stop:
                row = stop_shadow(by)
                self.stdout.write(f"stopped shadowing {row.version}" if row else "no shadow model")
            elif report:
                if not version:
                    raise CommandError("--report needs VERSION")
                result = shadow_report(version)
                self.stdout.write(json.dumps(result, indent=1, ensure_ascii=False))
                for unknown, n in sorted(result["unregistered"].items()):
                    self.stderr.write(
                        f"{n} comment(s) were decided by {unknown or '(no version recorded)'}, which has no "
                        "registry row: left out of the per-label comparison (register it with "
                        "`manage.py register_model`, or run `manage.py bootstrap` for the shipped model)"
                    )
            elif score:
                self.stdout.write(f"scored {score_pending()} comment(s)")
            elif version:
                start_shadow(version, by)
                self.stdout.write(f"shadowing {version}")
            else:
                raise CommandError("give VERSION, --stop, --score or --report VERSION")
        except ModelVersion.DoesNotExist:
            raise CommandError(f"no registered version {version!r}") from None
        except (VerificationError, ValueError) as exc:
            raise CommandError(f"refused: {exc}") from None
