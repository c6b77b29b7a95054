"""Export moderator decisions and stored Perspective suggested scores as training rows (see
moderation/selectors/labels.py) for ``python -m training train --labels FILE[:WEIGHT]``."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from moderation.selectors.labels import export_labels


def _when(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{option}: {value!r} is not a date (YYYY-MM-DD) or ISO 8601 date-time")
        parsed = datetime.combine(day, time.min)
    return (
        parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.get_current_timezone())
    )


class Command(BaseCommand):
    help = (
        "Write moderator decisions and stored suggested scores since --since as a training CSV "
        "(text, label, label_source, scores, ...)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", required=True, help="first day (YYYY-MM-DD, UTC) or ISO 8601 date-time"
        )
        parser.add_argument("--until", default=None, help="end, exclusive (default: now)")
        parser.add_argument("--out", required=True, type=Path, help="CSV file to write")
        parser.add_argument(
            "--audit-sample",
            type=int,
            default=500,
            help="most confirmed automatic approvals to include, chosen at random (default 500)",
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the audit sample")

    def handle(self, *args, since, until, out, audit_sample, seed, **options):
        if audit_sample < 0:
            raise CommandError("--audit-sample must be >= 0")
        counts = export_labels(out, _when("--since", since), _when("--until", until), audit_sample, seed)
        detail = ", ".join(f"{n} {source}" for source, n in counts.items())
        self.stdout.write(f"wrote {sum(counts.values())} rows to {out} ({detail})")
