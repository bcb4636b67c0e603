"""Time as the regulators count it: Jilin keeps China Standard Time (UTC+8, no daylight saving),
so "today", the flood-season calendar and CAP identifiers use it; instants are stored in UTC."""

from __future__ import annotations

from datetime import timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "CST")
