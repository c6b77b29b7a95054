"""Option parsers shared by the management commands (dates and shares), each error naming the option."""

from __future__ import annotations

from datetime import datetime, time

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def parse_when(option: str, value: str | None) -> datetime | None:
    """A date (YYYY-MM-DD, midnight) or ISO 8601 date-time, made aware in the current time zone when naive."""
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


def parse_share(option: str, value: str) -> float:
    """A number strictly between 0 and 1."""
    try:
        share = float(value)
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not a number") from None
    if not 0 < share < 1:
        raise CommandError(f"{option} must be between 0 and 1 (a share), got {value}")
    return share
