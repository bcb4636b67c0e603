"""Rolling rainfall of one gauge from its readings: the one query the alarm rules and the
rainfall API both use."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


def rolling_rain(
    session: Session, sensor_id: int, windows_h: Iterable[float], at: datetime, up_to_at: bool = True
) -> dict[float, float]:
    """Millimetres over each window (hours) ending at `at`. The alarm rules, judging a batch as it
    arrives, also count readings stamped a little after `at` (clocks may run ahead): up_to_at=False."""
    windows = sorted({float(w) for w in windows_h})
    if not windows:
        return {}
    sums = session.execute(
        text(
            "SELECT "
            + ", ".join(f"coalesce(sum(value) FILTER (WHERE ts > :at - interval '{w} hours'), 0)" for w in windows)
            + f" FROM readings WHERE sensor_id = :s AND ts > :at - interval '{max(windows)} hours'"
            + (" AND ts <= :at" if up_to_at else "")
        ),
        {"s": sensor_id, "at": at},
    ).one()
    return dict(zip(windows, (float(x) for x in sums), strict=True))
