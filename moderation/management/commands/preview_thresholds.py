"""Preview proposed per-site thresholds on recent decisions and moderator labels before saving them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from moderation.models import Site
from moderation.scoring import ModelUnavailable, current_model
from moderation.selectors.tuning import OUTCOMES, preview_thresholds
from moderation.services import set_policy_overrides


def _precision(p: dict) -> str:
    return "–" if p["precision"] is None else f"{p['precision']:.0%} of {p['labelled']}"


class Command(BaseCommand):
    help = (
        "Expected auto-approve / review / auto-reject volumes and precision on moderator-labelled comments "
        "for proposed thresholds, e.g. --set toxicity.review=0.3 --set toxicity.reject=0.8. Nothing is saved "
        "unless --save is given (the site's policy_overrides, audited); admins can also edit them in the "
        "site's admin page."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", default="default")
        parser.add_argument("--set", action="append", default=[], metavar="LABEL.KEY=VALUE")
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--save", action="store_true", help="after the preview, save the proposed thresholds"
        )
        parser.add_argument("--by", default="admin", help="who saves them, for the audit entry")

    # noqa: A002
    def handle(self, *args, site, set, days, json: bool, save: bool = False, by: str = "admin", **options):
        try:
            target = Site.objects.get(slug=site)
        except Site.DoesNotExist:
            raise CommandError(f"--site: no site {site!r}") from None
        proposed: dict = {}
        for item in set:
            key, sep, value = item.partition("=")
            label, dot, cut = key.partition(".")
            if not sep or not dot or cut not in ("review", "reject"):
                raise CommandError(f"--set {item!r}: expected LABEL.review=VALUE or LABEL.reject=VALUE")
            try:
                proposed.setdefault(label, {})[cut] = float(value)
            except ValueError:
                raise CommandError(f"--set {item!r}: {value!r} is not a number") from None
        try:
            model_thresholds = current_model().thresholds
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from None
        try:
            report = preview_thresholds(target, proposed, model_thresholds, days)
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(report, indent=1))
        else:
            self.stdout.write(f"{report['comments']} decisions in {days} days, {report['labelled']} labelled")
            for outcome in OUTCOMES:
                cur, new = report["current"], report["proposed"]
                self.stdout.write(
                    f"{outcome:13s} {cur['volumes'][outcome]:6d} -> {new['volumes'][outcome]:6d}   "
                    f"precision {_precision(cur['precision'][outcome])} -> "
                    f"{_precision(new['precision'][outcome])}"
                )
        if save:
            if not proposed:
                raise CommandError("--save needs at least one --set LABEL.KEY=VALUE")
            try:
                set_policy_overrides(target, proposed, actor_label=by)
            except ValidationError as exc:
                raise CommandError(exc.messages[0]) from None
            self.stdout.write(f"saved for site {target.slug}: {target.policy_overrides}")
