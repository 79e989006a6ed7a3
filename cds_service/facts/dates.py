"""FHIR date/dateTime/instant strings → timezone-aware UTC datetimes.

FHIR allows `2024`, `2024-03`, `2024-03-01` and full dateTimes with an offset. Every datetime the
facts layer hands to rules is aware (UTC): a date without time means midnight UTC, a partial date
its first day. Comparisons between aware datetimes then never raise.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


@lru_cache(maxsize=8192)
def _parse(text: str) -> datetime | None:
    text = text.strip()
    match = _PARTIAL.match(text)
    try:
        if match:
            year, month, day = match.groups()
            return datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_datetime(value: Any) -> datetime | None:
    """A FHIR date/dateTime (string, date or datetime) as an aware UTC datetime, else None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return _parse(value)
    return None


def age_in_years(birth_date: Any, now: datetime) -> int | None:
    """Completed years at `now`. Year-only / year-month birth dates count from the period's first
    day, i.e. the oldest age the patient can be (age cut-offs such as Beers ≥65 then err towards
    warning)."""
    born = parse_datetime(birth_date)
    if born is None:
        return None
    today = now.astimezone(UTC).date()
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years if years >= 0 else None
