"""The flood season (汛期) by region and date: pure."""

from __future__ import annotations

from datetime import date

from backend.domain.rules_models import FloodSeason, SeasonDates, risk_rules


def _calendar(adcode: str | None, rules: FloodSeason) -> SeasonDates:
    by_region = rules.by_region or {}
    if adcode:
        # A county's own dates, else its prefecture's, else its province's.
        for key in (adcode, adcode[:4] + "00", adcode[:2] + "0000"):
            if key in by_region:
                return by_region[key]
    return rules.default


def _within(day: date, start: str, end: str) -> bool:
    md = day.strftime("%m-%d")
    return start <= md <= end if start <= end else (md >= start or md <= end)


def in_flood_season(day: date, adcode: str | None = None, rules: FloodSeason | None = None) -> bool:
    cal = _calendar(adcode, rules or risk_rules().flood_season)
    return _within(day, cal.start, cal.end)


def in_main_flood_season(day: date, adcode: str | None = None, rules: FloodSeason | None = None) -> bool:
    cal = _calendar(adcode, rules or risk_rules().flood_season)
    return _within(day, cal.main_start, cal.main_end)
