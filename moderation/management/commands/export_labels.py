"""Export moderator decisions and stored Perspective suggested scores as training rows (see
moderation/selectors/labels.py) for ``python -m training train --labels FILE[:WEIGHT]``, optionally with a
hold-out file of the latest rows for ``python -m training compare``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from moderation.management.options import parse_share, parse_when
from moderation.selectors.labels import (
    count_by_source,
    holdout_path,
    label_rows,
    split_by_time,
    write_label_rows,
)


def _counts(rows: list[dict]) -> str:
    return ", ".join(f"{n} {source}" for source, n in count_by_source(rows).items())


class Command(BaseCommand):
    help = (
        "Write moderator decisions and stored suggested scores since --since as a training CSV "
        "(text, label, label_source, scores, ...); with --holdout-after or --holdout-share, the latest rows "
        "go to a hold-out CSV instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", required=True, help="first day (YYYY-MM-DD, UTC) or ISO 8601 date-time"
        )
        parser.add_argument("--until", default=None, help="end, exclusive (default: now)")
        parser.add_argument("--out", required=True, type=Path, help="CSV file to write")
        parser.add_argument("--site", default=None, help="one site's rows (its slug; default: every site)")
        parser.add_argument(
            "--audit-sample",
            type=int,
            default=500,
            help="most confirmed automatic approvals to include, chosen at random (default 500)",
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the audit sample")
        holdout = parser.add_mutually_exclusive_group()
        holdout.add_argument(
            "--holdout-after",
            default=None,
            help="rows decided at or after this date (YYYY-MM-DD or ISO 8601) go to the hold-out file",
        )
        holdout.add_argument(
            "--holdout-share",
            default=None,
            help="the latest share of the rows (0 < F < 1, by decision time) goes to the hold-out file",
        )
        parser.add_argument(
            "--holdout-out",
            type=Path,
            default=None,
            help="hold-out CSV (default: <out stem>.holdout.csv beside --out)",
        )

    def handle(self, *args, since, until, out, site, audit_sample, seed, **options):
        if audit_sample < 0:
            raise CommandError("--audit-sample must be >= 0")
        after = parse_when("--holdout-after", options["holdout_after"])
        share = (
            parse_share("--holdout-share", options["holdout_share"])
            if options["holdout_share"] is not None
            else None
        )
        if options["holdout_out"] is not None and after is None and share is None:
            raise CommandError("--holdout-out: give --holdout-after or --holdout-share too")
        rows = label_rows(
            parse_when("--since", since), parse_when("--until", until), audit_sample, seed, site
        )
        if after is None and share is None:
            write_label_rows(out, rows)
            self.stdout.write(f"wrote {len(rows)} rows to {out} ({_counts(rows)})")
            return
        split = split_by_time(rows, after, share)
        holdout_out = options["holdout_out"] or holdout_path(out)
        if Path(holdout_out).resolve() == Path(out).resolve():
            raise CommandError("--holdout-out: must differ from --out")
        write_label_rows(out, split.train)
        write_label_rows(holdout_out, split.holdout)
        self.stdout.write(f"wrote {len(split.train)} training rows to {out} ({_counts(split.train)})")
        self.stdout.write(
            f"wrote {len(split.holdout)} hold-out rows (decided at or after {split.cutoff or '-'}) to "
            f"{holdout_out} ({_counts(split.holdout)})"
        )
        if split.repeats:
            self.stdout.write(
                f"left {split.repeats} hold-out rows out: their text is also in the training rows"
            )
        if not split.holdout or not split.train:
            self.stderr.write(
                f"warning: the {'hold-out' if not split.holdout else 'training'} file is empty "
                f"({len(rows)} rows in all)"
            )
