"""Preview proposed per-site thresholds, or a review budget, on recent decisions and moderator labels before
saving them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from moderation.models import Site
from moderation.scoring import ModelUnavailable, adapted_thresholds, current_model, site_adapters
from moderation.selectors.tuning import OUTCOMES, fit_budget, preview_thresholds
from moderation.services import set_policy_overrides


def _precision(p: dict) -> str:
    return "–" if p["precision"] is None else f"{p['precision']:.0%} of {p['labelled']}"


class Command(BaseCommand):
    help = (
        "Expected auto-approve / review / auto-reject volumes and precision on moderator-labelled comments "
        "for proposed thresholds, e.g. --set toxicity.review=0.3 --set toxicity.reject=0.8, or for a review "
        "budget, e.g. --budget 0.1 (the share of comments held or rejected; the review threshold is fitted "
        "to it on the site's recent scores). Nothing is saved unless --save is given (the site's "
        "policy_overrides and budget, audited); admins can also edit them in the site's admin page."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", default="default")
        parser.add_argument("--set", action="append", default=[], metavar="LABEL.KEY=VALUE")
        parser.add_argument(
            "--budget",
            type=float,
            default=None,
            metavar="SHARE",
            help="review budget: share of comments flagged (held or rejected), e.g. 0.1",
        )
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--save", action="store_true", help="after the preview, save the proposed thresholds"
        )
        parser.add_argument("--by", default="admin", help="who saves them, for the audit entry")

    # noqa: A002
    def handle(
        self,
        *args,
        site,
        set,
        days,
        json: bool,
        save: bool = False,
        by: str = "admin",
        budget: float | None = None,
        **options,
    ):
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
            model = current_model()
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from None
        fitted = None
        if budget is not None:
            if proposed:
                raise CommandError("--budget fits toxicity.review itself; give --budget or --set, not both")
            try:
                fitted = fit_budget(target, budget, model, days)
            except ValueError as exc:
                raise CommandError(f"--budget: {exc}") from None
            proposed = fitted["overrides"]
        # A site whose adapter serves is decided at the adapter's thresholds for its label, its stored scores
        # are the adapted ones: preview over those, not the shared model's.
        adapter = site_adapters(model, {target.pk}).get(target.pk)
        base = adapted_thresholds(model.thresholds, adapter)
        try:
            report = preview_thresholds(target, proposed, base, days)
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        if fitted is not None:
            report["budget"] = {key: value for key, value in fitted.items() if key != "overrides"}
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(report, indent=1))
        else:
            if fitted is not None:
                self.stdout.write(
                    f"review budget {budget:.1%}: toxicity.review {proposed['toxicity']['review']:.4f}, "
                    f"flagging {fitted['flagged_share']:.1%} of {fitted['fitted_on']}"
                    + (f" ({fitted['note']})" if fitted["note"] else "")
                )
            self.stdout.write(f"{report['comments']} decisions in {days} days, {report['labelled']} labelled")
            for outcome in OUTCOMES:
                cur, new = report["current"], report["proposed"]
                self.stdout.write(
                    f"{outcome:13s} {cur['volumes'][outcome]:6d} -> {new['volumes'][outcome]:6d}   "
                    f"precision {_precision(cur['precision'][outcome])} -> "
                    f"{_precision(new['precision'][outcome])}"
                )
            caught = (report["current"], report["proposed"])
            flagged = [side["moderator_rejections_flagged"] for side in caught]
            if flagged[0]["of"]:
                self.stdout.write(
                    f"of {flagged[0]['of']} comments moderators rejected, flagged: "
                    f"{flagged[0]['flagged']} -> {flagged[1]['flagged']}"
                )
        if save:
            if not proposed:
                raise CommandError("--save needs --budget SHARE or at least one --set LABEL.KEY=VALUE")
            try:
                set_policy_overrides(target, proposed, actor_label=by, review_budget=budget)
            except ValidationError as exc:
                raise CommandError(exc.messages[0]) from None
            saved = f"saved for site {target.slug}: {target.policy_overrides}"
            if budget is not None:
                saved += f", review budget {budget}"
            self.stdout.write(saved)
