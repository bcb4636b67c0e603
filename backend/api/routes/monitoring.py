"""Sensor time series and rain gauges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import Field
from sqlalchemy import text

from backend.alarms.rain import rolling_rain
from backend.api.deps import ReadAccess, SessionDep
from backend.api.edge import Instant, StrictJSONRoute
from backend.api.responses import Number, Out
from backend.api.routes.sites import CodePath
from backend.domain.alarm_rules import rain_signal

router = APIRouter(prefix="/api/v1", tags=["monitoring"], route_class=StrictJSONRoute)
MAX_POINTS = 500
MAX_SPAN = timedelta(days=366)


def parse_every(every: str) -> timedelta:
    """'30s', '5m', '1h', '1d' or a number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(every[:-1]) * units[every[-1]] if every[-1] in units else float(every)
    except (ValueError, IndexError):
        raise HTTPException(422, "every: expected e.g. 30s, 5m, 1h, 1d or seconds") from None
    if not 1 <= seconds <= 31 * 86400:
        raise HTTPException(422, "every: between 1 s and 31 days")
    return timedelta(seconds=seconds)


class PointOut(Out):
    """One reading, or one bucket of them (value the mean, with min, max and count)."""

    ts: str
    value: Number | None
    min: Number | None
    max: Number | None
    n: int


class ReadingsOut(Out):
    sensor: str
    kind: str
    unit: str | None
    thresholds: dict[str, Any] | None
    from_: str = Field(alias="from")
    to: str
    every_s: float | None = Field(description="bucket width in seconds; null: the raw readings")
    readings: int = Field(description="raw readings in the range")
    points: list[PointOut]


class RainfallOut(Out):
    sensor: str
    at: str
    mm: dict[str, float] = Field(description="rolling totals by window: 1h, 3h, 6h, 12h, 24h")
    signal: str | None = Field(description="the colour of the rainstorm signal reached, if any")
    thresholds: list[dict[str, Any]]


@router.get("/sensors/{code}/readings", dependencies=[ReadAccess], response_model=ReadingsOut)
def readings(
    code: CodePath,
    session: SessionDep,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    every: Annotated[str | None, Query(max_length=12)] = None,
) -> dict[str, Any]:
    """A sensor's readings; over a long range, averaged (with min and max) into at most 500 buckets
    unless `every` says otherwise."""
    sensor = session.execute(
        text("SELECT id, unit, kind, thresholds FROM sensors WHERE code = :c"), {"c": code}
    ).first()
    if sensor is None:
        raise HTTPException(404, f"no sensor {code!r}")
    to = to or datetime.now(UTC)
    from_ = from_ or to - timedelta(hours=24)
    if from_.tzinfo is None or to.tzinfo is None:
        raise HTTPException(422, "from/to: give a UTC offset")
    if not from_ < to or to - from_ > MAX_SPAN:
        raise HTTPException(422, "from/to: from must be before to, at most 366 days apart")
    count = (
        session.scalar(
            text("SELECT count(*) FROM readings WHERE sensor_id = :s AND ts >= :a AND ts < :b"),
            {"s": sensor.id, "a": from_, "b": to},
        )
        or 0
    )
    bucket = parse_every(every) if every else None
    if bucket is None and count > MAX_POINTS:
        bucket = timedelta(seconds=max(1, int((to - from_).total_seconds() / MAX_POINTS) + 1))
    if bucket is None:
        rows = session.execute(
            text(
                "SELECT ts, value, value, value, 1 FROM readings "
                "WHERE sensor_id = :s AND ts >= :a AND ts < :b ORDER BY ts"
            ),
            {"s": sensor.id, "a": from_, "b": to},
        )
    else:
        rows = session.execute(
            text(
                "SELECT date_bin(:bucket, ts, :a) AS t, avg(value), min(value), max(value), count(*) FROM readings "
                "WHERE sensor_id = :s AND ts >= :a AND ts < :b GROUP BY t ORDER BY t"
            ),
            {"s": sensor.id, "a": from_, "b": to, "bucket": bucket},
        )
    points = [{"ts": t.isoformat(), "value": v, "min": lo, "max": hi, "n": n} for t, v, lo, hi, n in rows]
    return {
        "sensor": code,
        "kind": sensor.kind,
        "unit": sensor.unit,
        "thresholds": sensor.thresholds,
        "from": from_.isoformat(),
        "to": to.isoformat(),
        "every_s": bucket.total_seconds() if bucket else None,
        "readings": count,
        "points": points,
    }


RAIN_WINDOWS_H = (1, 3, 6, 12, 24)


@router.get("/sensors/{code}/rainfall", dependencies=[ReadAccess], response_model=RainfallOut)
def rainfall(code: CodePath, session: SessionDep, at: Instant | None = None) -> dict[str, Any]:
    """A rain gauge's rolling rainfall over 1, 3, 6, 12 and 24 h, and the rainstorm signal it reaches."""
    sensor = session.execute(text("SELECT id, kind, thresholds FROM sensors WHERE code = :c"), {"c": code}).first()
    if sensor is None:
        raise HTTPException(404, f"no sensor {code!r}")
    if sensor.kind != "rainfall":
        raise HTTPException(422, f"sensor {code!r} is a {sensor.kind} sensor, not a rain gauge")
    at = at or datetime.now(UTC)
    sums = rolling_rain(session, sensor.id, RAIN_WINDOWS_H, at)
    totals = {f"{int(h)}h": round(v, 2) for h, v in sums.items()}
    signal = rain_signal(sums, sensor.thresholds)
    reached = signal[0] if signal else None
    return {
        "sensor": code,
        "at": at.isoformat(),
        "mm": totals,
        "signal": reached,
        "thresholds": [lv for lv in sensor.thresholds.get("levels", []) if "window_h" in lv],
    }
