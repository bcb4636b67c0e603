"""Time as the regulators count it: Jilin keeps China Standard Time (UTC+8, no daylight saving),
so "today", the flood-season calendar and CAP identifiers use it; instants are stored in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "CST")


def china_day(at: datetime | None = None) -> date:
    """The regulators' day (China Standard Time) of `at`, or today's."""
    return (at or datetime.now(UTC)).astimezone(CHINA_TZ).date()
