"""Reading messages as gateways send them, and every way they can be wrong: pure.

A message is rejected whole when it is too large, not JSON, or not of the contract's shape;
otherwise each reading is checked on its own, so one bad reading does not cost the others.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend.domain.units import UnitMismatch, converter


class Reason:
    TOO_LARGE = "payload_too_large"
    MALFORMED = "malformed_json"
    SHAPE = "wrong_shape"
    TOPIC = "bad_topic"
    UNKNOWN_GATEWAY = "unknown_gateway"
    UNKNOWN_SENSOR = "unknown_sensor"
    FOREIGN_SENSOR = "foreign_sensor"
    NOT_FINITE = "not_finite"
    UNIT = "unit_mismatch"
    BAD_TS = "bad_timestamp"
    FUTURE = "ts_in_future"
    TOO_OLD = "ts_too_old"


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str
    index: int | None = None  # the reading's position in the message; None: the whole message


@dataclass(frozen=True)
class SensorInfo:
    id: int
    site_code: str
    gateway_id: str
    kind: str
    unit: str
    interval_s: int
    thresholds: dict[str, Any]
    site_id: int
    site_status: str
    site_kind: str


@dataclass(frozen=True)
class Reading:
    sensor: SensorInfo
    ts: datetime
    value: float  # in the sensor's own unit
    index: int


@dataclass(frozen=True)
class Topic:
    site_code: str
    gateway_id: str
    channel: str

    @classmethod
    def parse(cls, topic: str, root: str = "riskmap/v1") -> Topic | None:
        prefix = root + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(*parts)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def parse_message(payload: bytes, max_bytes: int) -> tuple[list[Any], Rejection | None]:
    """The message's reading objects, or why the whole message is refused."""
    if len(payload) > max_bytes:
        return [], Rejection(Reason.TOO_LARGE, f"{len(payload)} bytes, over the limit of {max_bytes}")
    try:
        doc = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return [], Rejection(Reason.MALFORMED, str(exc)[:300])
    if isinstance(doc, dict) and "readings" in doc:
        items = doc["readings"]
        if not isinstance(items, list) or not items:
            return [], Rejection(Reason.SHAPE, "'readings' must be a non-empty list")
        return items, None
    if isinstance(doc, dict) and "sensor" in doc:
        return [doc], None
    return [], Rejection(Reason.SHAPE, 'expected {"readings": [...]} or one reading object')


def check_reading(
    item: Any,
    index: int,
    topic: Topic,
    sensors: dict[str, SensorInfo],
    now: datetime,
    max_age: timedelta,
    max_future: timedelta,
) -> Reading | Rejection:
    if not isinstance(item, dict):
        return Rejection(Reason.SHAPE, "a reading must be an object", index)
    code, ts_text, value, unit = item.get("sensor"), item.get("ts"), item.get("value"), item.get("unit")
    if not isinstance(code, str) or not isinstance(ts_text, str):
        return Rejection(Reason.SHAPE, "'sensor' and 'ts' must be strings", index)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Rejection(Reason.SHAPE, "'value' must be a number", index)
    if unit is not None and not isinstance(unit, str):
        return Rejection(Reason.SHAPE, "'unit' must be a string", index)
    sensor = sensors.get(code)
    if sensor is None:
        return Rejection(Reason.UNKNOWN_SENSOR, f"no sensor {code!r} in the register", index)
    if sensor.site_code != topic.site_code or sensor.gateway_id != topic.gateway_id:
        return Rejection(
            Reason.FOREIGN_SENSOR, f"sensor {code!r} belongs to {sensor.site_code}/{sensor.gateway_id}", index
        )
    if not math.isfinite(value):
        return Rejection(Reason.NOT_FINITE, f"value {value!r} is not finite", index)
    try:
        ts = datetime.fromisoformat(ts_text)
    except ValueError:
        return Rejection(Reason.BAD_TS, f"'ts' {ts_text[:40]!r} is not RFC 3339", index)
    if ts.tzinfo is None:
        return Rejection(Reason.BAD_TS, f"'ts' {ts_text[:40]!r} has no UTC offset", index)
    if ts - now > max_future:
        return Rejection(Reason.FUTURE, f"'ts' {ts_text} is more than {max_future} ahead", index)
    if now - ts > max_age:
        return Rejection(Reason.TOO_OLD, f"'ts' {ts_text} is older than {max_age}", index)
    if unit is not None and unit != sensor.unit:
        try:
            value = converter(unit, sensor.unit)(float(value))
        except UnitMismatch as exc:
            return Rejection(Reason.UNIT, f"{exc} for sensor {code!r}", index)
    return Reading(sensor, ts, float(value), index)
