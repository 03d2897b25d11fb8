"""Times are stored in UTC and shown in the configured zone: the one place a zone name becomes a tzinfo."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None) -> tzinfo:
    """The zone called ``name`` (an IANA name); ``datetime.UTC`` itself for "UTC" or no name."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown timezone {name!r}: use an IANA name such as Europe/Paris.") from exc


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone: a naive datetime is taken as UTC (how SQLite hands them back)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
