"""Reading messages as gateways send them, and every way they can be wrong: pure.

A message is rejected whole when it is too large, not JSON, or not of the contract's shape;
otherwise each reading is checked on its own, so one bad reading does not cost the others.
Every field is checked against explicit ranges here, before anything reaches SQL: ids within
their column's type, numbers finite after unit conversion, strings and lists bounded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend.core.limits import INT4_MAX
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
    OUT_OF_RANGE = "out_of_range"
    BAD_ACK = "bad_ack"
    BAD_STATUS = "bad_status"
    RETAINED = "retained_refused"
    POISON = "ingest_error"  # passed validation but the database refused it

    # Rejections that a change of the register or a setting can cure: kept whole, to be replayed.
    # The others are the gateway's own faults (malformed, wrong shape, too large): kept cut short.
    REPLAYABLE = frozenset(
        {
            "unknown_gateway",
            "unknown_sensor",
            "foreign_sensor",
            "unit_mismatch",
            "ts_too_old",
            "ts_in_future",
            "bad_ack",
            "ingest_error",
        }
    )


MAX_CODE_CHARS = 64  # sensor codes, as the register's column
MAX_UNIT_CHARS = 16
MAX_TS_CHARS = 64
MAX_READINGS = 1000  # readings in one message
MAX_ABS_VALUE = 1e12  # no sensor of the register measures beyond this; larger is a fault
MAX_CONTROL_BYTES = 1024  # status and ack payloads are a few dozen bytes


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


def _lenient_json(payload: bytes) -> Any:
    """JSON, with NaN and ±Infinity read as numbers so that each reading holding one is refused
    on its own (not_finite) instead of the whole message."""
    return json.loads(payload, parse_constant=float)


def parse_message(payload: bytes, max_bytes: int) -> tuple[list[Any], Rejection | None]:
    """The message's reading objects, or why the whole message is refused."""
    if len(payload) > max_bytes:
        return [], Rejection(Reason.TOO_LARGE, f"{len(payload)} bytes, over the limit of {max_bytes}")
    try:
        doc = _lenient_json(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return [], Rejection(Reason.MALFORMED, str(exc)[:300])
    if isinstance(doc, dict) and "readings" in doc:
        items = doc["readings"]
        if not isinstance(items, list) or not items:
            return [], Rejection(Reason.SHAPE, "'readings' must be a non-empty list")
        if len(items) > MAX_READINGS:
            return [], Rejection(Reason.TOO_LARGE, f"{len(items)} readings, over the limit of {MAX_READINGS}")
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
    if len(code) > MAX_CODE_CHARS or len(ts_text) > MAX_TS_CHARS:
        return Rejection(Reason.SHAPE, f"'sensor' or 'ts' longer than {MAX_CODE_CHARS} characters", index)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Rejection(Reason.SHAPE, "'value' must be a number", index)
    if unit is not None and (not isinstance(unit, str) or len(unit) > MAX_UNIT_CHARS):
        return Rejection(Reason.SHAPE, f"'unit' must be a string of at most {MAX_UNIT_CHARS} characters", index)
    sensor = sensors.get(code)
    if sensor is None:
        return Rejection(Reason.UNKNOWN_SENSOR, f"no sensor {code!r} in the register", index)
    if sensor.site_code != topic.site_code or sensor.gateway_id != topic.gateway_id:
        return Rejection(
            Reason.FOREIGN_SENSOR, f"sensor {code!r} belongs to {sensor.site_code}/{sensor.gateway_id}", index
        )
    try:
        value = float(value)  # a JSON integer may be too large for a float
    except OverflowError:
        return Rejection(Reason.OUT_OF_RANGE, "value is too large", index)
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
            value = converter(unit, sensor.unit)(value)
        except UnitMismatch as exc:
            return Rejection(Reason.UNIT, f"{exc} for sensor {code!r}", index)
        except (ArithmeticError, ValueError) as exc:
            return Rejection(Reason.OUT_OF_RANGE, f"value cannot be converted: {type(exc).__name__}", index)
        if not math.isfinite(value):
            return Rejection(Reason.NOT_FINITE, f"value is not finite after conversion to {sensor.unit}", index)
    if abs(value) > MAX_ABS_VALUE:
        return Rejection(Reason.OUT_OF_RANGE, f"|value| over {MAX_ABS_VALUE:g} {sensor.unit}", index)
    return Reading(sensor, ts, float(value), index)


@dataclass(frozen=True)
class Ack:
    broadcast_id: int
    evacuated: bool


def parse_ack(payload: bytes) -> Ack | Rejection:
    """A 叫应 from a gateway: {"broadcast": <id>, "evacuated": true|false}, strictly typed."""
    shape = 'ack must be {"broadcast": <id>, "evacuated": true|false}'
    if len(payload) > MAX_CONTROL_BYTES:
        return Rejection(Reason.TOO_LARGE, f"{len(payload)} bytes, over the limit of {MAX_CONTROL_BYTES}")
    try:
        doc = _lenient_json(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return Rejection(Reason.MALFORMED, str(exc)[:300])
    if not isinstance(doc, dict) or set(doc) - {"broadcast", "evacuated"}:
        return Rejection(Reason.BAD_ACK, shape)
    broadcast, evacuated = doc.get("broadcast"), doc.get("evacuated", False)
    if isinstance(broadcast, bool) or not isinstance(broadcast, int) or not 1 <= broadcast <= INT4_MAX:
        return Rejection(Reason.BAD_ACK, f"'broadcast' must be an integer from 1 to {INT4_MAX}")
    if not isinstance(evacuated, bool):
        return Rejection(Reason.BAD_ACK, "'evacuated' must be true or false")
    return Ack(broadcast, evacuated)


def parse_status(payload: bytes) -> str | Rejection:
    """A gateway's status: 'online' or 'offline' (its Last Will)."""
    if len(payload) > MAX_CONTROL_BYTES:
        return Rejection(Reason.TOO_LARGE, f"{len(payload)} bytes, over the limit of {MAX_CONTROL_BYTES}")
    state = payload.decode(errors="replace").strip()
    if state not in {"online", "offline"}:
        return Rejection(Reason.BAD_STATUS, "status must be 'online' or 'offline'")
    return state
