"""One batch of MQTT messages into the database, in one transaction.

Readings go through COPY into a staging table and then `INSERT … ON CONFLICT DO NOTHING`, so
a redelivered message is stored once. Each sensor's latest reading is moved forward under a
row lock, which also serialises alarm decisions for a sensor across ingesters: only readings
newer than what the sensor had are judged. Rejected input goes to dead_letters with its reason,
cut to a bounded size and within a per-gateway budget.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Engine, column, delete, insert, select, table, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backend.core.config import IngestSettings
from backend.models import DeadLetter, Gateway
from backend.models import Reading as ReadingRow
from backend.warnings.answers import acknowledge
from backend.warnings.rules import WarningError
from ingest.alarms import AlarmWriter, subject_of
from ingest.payload import (
    MAX_CODE_CHARS,
    Ack,
    Reading,
    Reason,
    Rejection,
    SensorInfo,
    Topic,
    check_reading,
    parse_ack,
    parse_message,
    parse_status,
)

# The register as the ingester holds it in memory.
REGISTER_SENSORS = text("""
    SELECT se.code, se.id, s.code AS site_code, se.gateway_id, se.kind, se.unit, se.interval_s,
           se.thresholds, s.id AS site_id, e.status AS site_status, s.kind AS site_kind
    FROM sensors se JOIN sites s ON s.id = se.site_id
    JOIN enterprises e ON e.id = s.enterprise_id""")
REGISTER_GATEWAYS = text(
    "SELECT g.id, s.code AS site_code, s.id AS site_id FROM gateways g JOIN sites s ON s.id = g.site_id"
)
# A batch's readings go through COPY into this per-connection table, then into readings at once.
CREATE_STAGING = text(
    "CREATE TEMP TABLE IF NOT EXISTS staging (sensor_id int, ts timestamptz, value float8) ON COMMIT DELETE ROWS"
)
STAGING = table("staging", column("sensor_id"), column("ts"), column("value"))
STORE_STAGED = (
    pg_insert(ReadingRow.__table__)
    .from_select(["sensor_id", "ts", "value"], select(STAGING.c.sensor_id, STAGING.c.ts, STAGING.c.value))
    .on_conflict_do_nothing()
    .execution_options(preserve_rowcount=True)  # an INSERT's rowcount is kept only when asked
)
# Each sensor's latest reading moved forward (never back), under a row lock in id order; returns
# the sensors that advanced with their previous latest.
ADVANCE_LATEST = text("""
    WITH latest AS (
        SELECT DISTINCT ON (sensor_id) sensor_id, ts, value FROM staging ORDER BY sensor_id, ts DESC),
    locked AS (
        SELECT s.id, s.last_reading_at FROM sensors s JOIN latest l ON l.sensor_id = s.id
        ORDER BY s.id FOR UPDATE OF s)
    UPDATE sensors s SET last_reading_at = l.ts, last_value = l.value
    FROM latest l JOIN locked p ON p.id = l.sensor_id
    WHERE s.id = l.sensor_id AND (p.last_reading_at IS NULL OR l.ts > p.last_reading_at)
    RETURNING s.id, p.last_reading_at""")


@dataclass
class Message:
    topic: str
    payload: bytes
    mid: int = 0
    generation: int = 0
    received: float = field(default_factory=time.monotonic)
    qos: int = 1


@dataclass
class Outcome:
    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[Message, Rejection]] = field(default_factory=list)
    alarm_events: list[dict[str, Any]] = field(default_factory=list)
    suppressed: int = 0  # rejects not stored: their gateway is over its dead-letter budget

    def merge(self, other: Outcome) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        self.alarm_events.extend(other.alarm_events)
        self.suppressed += other.suppressed


@dataclass
class Prepared:
    """A batch after validation: what to write, and what to dead-letter with why."""

    readings: list[Reading] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[tuple[str, int, str]] = field(default_factory=list)
    acks: list[tuple[Message, str, Ack]] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)


def clean_text(value: str, limit: int) -> str:
    """PostgreSQL text cannot hold NUL; bound what we store."""
    return value.replace("\x00", "\\0")[:limit]


def describe_error(exc: BaseException) -> str:
    """The database's own words (SQLSTATE and first line), never the offending data in full."""
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None)
    first = (str(orig).splitlines() or [""])[0]
    return clean_text(f"{type(orig).__name__}{f' [{state}]' if state else ''}: {first}", 500)


# SQLSTATE classes that say the data is at fault: a value out of range or of the wrong form (22),
# a constraint it breaks (23), a limit it exceeds (54). Anything else is the database's or the
# platform's fault (unreachable, read-only, a migration under way): retried, never dead-lettered.
DATA_SQLSTATE_CLASSES = ("22", "23", "54")


def refuses_data(exc: BaseException) -> bool:
    """True when this data cannot be stored (find the message and dead-letter it); False when the
    database is unreachable or not ready (retry the same data, acknowledge nothing)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return False
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, psycopg.Error):
        state = getattr(orig, "sqlstate", None)
        return bool(state) and state[:2] in DATA_SQLSTATE_CLASSES
    # Not a database error: a fault in our own code that this data set off.
    return not isinstance(orig, ConnectionError | TimeoutError | OSError)


class DeadLetterBudget:
    """How many rejects of one gateway are stored per window: a gateway flooding garbage costs
    a bounded number of rows; the rest are counted, and reported as one summary row. Replayable
    rejects (kept whole) have their own, larger allowance (`kind`)."""

    def __init__(self, limits: dict[str, tuple[int, int]], window_s: float) -> None:
        self.limits, self.window_s = limits, window_s  # kind -> (rows, bytes)
        self.window_start = time.monotonic()
        self.used: dict[tuple[str, str], tuple[int, int]] = {}
        self.suppressed: dict[str, int] = defaultdict(int)

    def admit(self, kind: str, gateway: str, size: int) -> bool:
        if time.monotonic() - self.window_start > self.window_s:
            self.window_start, self.used = time.monotonic(), {}
        max_rows, max_bytes = self.limits[kind]
        rows, used = self.used.get((kind, gateway), (0, 0))
        if rows >= max_rows or used + size > max_bytes:
            self.suppressed[gateway] += 1
            return False
        self.used[(kind, gateway)] = (rows + 1, used + size)
        return True

    def refund(self, kind: str, gateway: str, size: int) -> None:
        """A row admitted in a transaction that did not commit."""
        rows, used = self.used.get((kind, gateway), (0, 0))
        if rows:
            self.used[(kind, gateway)] = (rows - 1, max(used - size, 0))

    def give_back(self, counts: dict[str, int]) -> None:
        for gateway, n in counts.items():
            self.suppressed[gateway] += n

    def take_suppressed(self) -> dict[str, int]:
        taken, self.suppressed = dict(self.suppressed), defaultdict(int)
        return taken


class Register:
    """The sensors and gateways the ingester checks messages against. Reloaded when a change to
    the register is notified (see `listen`), when stale, and once on an unknown sensor or gateway."""

    def __init__(self, engine: Engine, max_age_s: float = 30, miss_reload_s: float = 5) -> None:
        self.engine, self.max_age_s, self.miss_reload_s = engine, max_age_s, miss_reload_s
        self.sensors: dict[str, SensorInfo] = {}
        self.gateways: dict[str, tuple[str, int]] = {}  # id -> (site code, site id)
        self.loaded_at = 0.0
        self.changed = threading.Event()

    def refresh(self, force: bool = False) -> None:
        if self.changed.is_set():
            force = True
        if not force and time.monotonic() - self.loaded_at < self.max_age_s:
            return
        self.changed.clear()
        with self.engine.connect() as c:
            rows = c.execute(REGISTER_SENSORS).mappings()
            self.sensors = {r["code"]: SensorInfo(**{k: v for k, v in r.items() if k != "code"}) for r in rows}
            self.gateways = {g.id: (g.site_code, g.site_id) for g in c.execute(REGISTER_GATEWAYS)}
        self.loaded_at = time.monotonic()

    def _reload_on_miss(self) -> None:
        if time.monotonic() - self.loaded_at > self.miss_reload_s:
            self.refresh(force=True)

    def lookup(self, code: str) -> SensorInfo | None:
        if code not in self.sensors:
            self._reload_on_miss()  # a sensor registered since the last load
        return self.sensors.get(code)

    def gateway(self, gateway_id: str) -> tuple[str, int] | None:
        if gateway_id not in self.gateways:
            self._reload_on_miss()  # a gateway registered since the last load
        return self.gateways.get(gateway_id)

    def listen(self, database_url: str, stop: threading.Event) -> None:
        """Mark the register changed on every NOTIFY riskmap_register (sent by triggers on the
        gateways, sensors, sites and enterprises tables); reconnects when the database drops."""
        while not stop.is_set():
            try:
                with psycopg.connect(database_url, autocommit=True) as conn:
                    conn.execute("LISTEN riskmap_register")
                    self.changed.set()  # anything may have changed while we were not listening
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.changed.set()
            except psycopg.Error:
                stop.wait(2)


class BatchWriter:
    def __init__(self, engine: Engine, settings: IngestSettings, name: str) -> None:
        self.engine, self.settings, self.name = engine, settings, name
        self.register = Register(engine)
        self.root = settings.topic_root
        self.written_dead: list[dict[str, Any]] = []
        self.budget = DeadLetterBudget(
            {
                "fault": (settings.dead_letter_max_rows, settings.dead_letter_max_bytes),
                "replayable": (settings.dead_letter_replayable_max_rows, settings.dead_letter_replayable_max_bytes),
            },
            settings.dead_letter_window_s,
        )

    def _dead_row(self, m: Message, r: Rejection, body: bytes | None = None) -> dict[str, Any]:
        """A dead letter: replayable ones kept whole (up to the message limit), the gateway's own
        faults cut to the configured size. The budget is applied when it is written."""
        payload = body if body is not None else m.payload
        topic = Topic.parse(m.topic, self.root)
        replayable = r.reason in Reason.REPLAYABLE
        keep = self.settings.max_payload_bytes if replayable else self.settings.dead_letter_payload_bytes
        detail = r.detail
        if len(payload) > keep:
            detail = f"{detail} (payload {len(payload)} bytes, first {keep} kept)"
        return {
            "topic": clean_text(m.topic, 256),
            "payload": payload[:keep],
            "reading_index": r.index,
            "reason": r.reason,
            "detail": clean_text(detail, 500),
            "ingester": self.name,
            "gateway_id": clean_text(topic.gateway_id, 64) if topic else None,
            "payload_size": len(payload),
        }

    @staticmethod
    def _budget_key(row: dict[str, Any]) -> tuple[str, str, int]:
        kind = "replayable" if row["reason"] in Reason.REPLAYABLE else "fault"
        return kind, row["gateway_id"] or "?", len(row["payload"])

    def _admit(self, rows: list[dict[str, Any]], out: Outcome) -> list[dict[str, Any]]:
        """The rows within their gateway's budget; the others are counted as suppressed."""
        kept = [r for r in rows if self.budget.admit(*self._budget_key(r))]
        out.suppressed += len(rows) - len(kept)
        return kept

    def _refund(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.budget.refund(*self._budget_key(r))

    def validate(self, messages: list[Message], now: datetime) -> Prepared:
        """Check every message and reading against the contract and the register: pure of writes."""
        self.register.refresh()
        prep = Prepared()
        max_age = timedelta(seconds=self.settings.max_age_s)
        max_future = timedelta(seconds=self.settings.max_future_s)

        def reject(m: Message, r: Rejection, body: bytes | None = None) -> None:
            prep.outcome.rejected.append((m, r))
            prep.dead.append(self._dead_row(m, r, body))

        for m in messages:
            topic = Topic.parse(m.topic, self.root)
            if topic is None or topic.channel not in {"readings", "status", "ack"}:
                reject(m, Rejection(Reason.TOPIC, f"not a topic of the contract: {m.topic[:200]!r}"))
                continue
            gateway = self.register.gateway(topic.gateway_id)
            if gateway is None or gateway[0] != topic.site_code:
                reject(
                    m,
                    Rejection(
                        Reason.UNKNOWN_GATEWAY, f"no gateway {topic.gateway_id[:64]!r} at site {topic.site_code[:64]!r}"
                    ),
                )
                continue
            if topic.channel == "ack":
                ack = parse_ack(m.payload)
                if isinstance(ack, Rejection):
                    reject(m, ack)
                else:
                    prep.acks.append((m, topic.site_code, ack))
                continue
            if topic.channel == "status":
                state = parse_status(m.payload)
                if isinstance(state, Rejection):
                    reject(m, state)
                else:
                    prep.statuses.append((topic.gateway_id, gateway[1], state))
                continue
            items, refused = parse_message(m.payload, self.settings.max_payload_bytes)
            if refused:
                reject(m, refused)
                continue
            for i, item in enumerate(items):
                if isinstance(item, dict) and isinstance(item.get("sensor"), str):
                    self.register.lookup(item["sensor"][:MAX_CODE_CHARS])
                checked = check_reading(item, i, topic, self.register.sensors, now, max_age, max_future)
                if isinstance(checked, Rejection):
                    reject(m, checked, json.dumps(item, ensure_ascii=False, default=str).encode())
                else:
                    prep.readings.append(checked)
        return prep

    def write(self, session: Session, prep: Prepared, now: datetime, keep_rejects: bool = True) -> Outcome:
        """Store a validated batch in the caller's transaction. With keep_rejects (live traffic)
        its rejects are dead-lettered within their gateway's budget; `written_dead` holds what
        was admitted, for a refund if the transaction does not commit."""
        out = prep.outcome
        if prep.readings:
            out.stored = self._store(session, prep.readings)
            out.duplicates = len(prep.readings) - out.stored
        dead = list(prep.dead)
        alarms = AlarmWriter(session, now)
        for m, site_code, ack in prep.acks:
            try:
                with session.begin_nested():
                    acknowledge(session, ack.broadcast_id, None, site_code, ack.evacuated, "mqtt", now)
            except WarningError as exc:
                rejection = Rejection(Reason.BAD_ACK, str(exc))
                out.rejected.append((m, rejection))
                dead.append(self._dead_row(m, rejection))
        self.written_dead = self._admit(dead, out) if keep_rejects else []
        if self.written_dead:
            session.execute(insert(DeadLetter), self.written_dead)
        for gateway_id, site_id, state in prep.statuses:
            self._gateway_status(session, alarms, gateway_id, site_id, state, now)
        if prep.readings:
            self._judge(session, alarms, prep.readings)
        alarms.finish()
        out.alarm_events = alarms.events
        return out

    def process(self, messages: list[Message], now: datetime | None = None) -> Outcome:
        """Validate and store the batch in one transaction; raises (and stores nothing) if the
        database refuses it."""
        now = now or datetime.now(UTC)
        prep = self.validate(messages, now)
        self.written_dead = []
        try:
            with Session(self.engine) as session, session.begin():
                session.info["actor"] = f"ingest:{self.name}"
                return self.write(session, prep, now)
        except Exception:
            self._refund(self.written_dead)
            raise

    def keep_failed(self, message: Message, exc: Exception) -> Outcome:
        """Dead-letter one message that passed validation but that the database refused."""
        rejection = Rejection(Reason.POISON, describe_error(exc))
        out = Outcome(rejected=[(message, rejection)])
        rows = self._admit([self._dead_row(message, rejection)], out)
        if rows:
            try:
                with Session(self.engine) as session, session.begin():
                    session.execute(insert(DeadLetter), rows)
            except Exception:
                self._refund(rows)
                raise
        return out

    def write_suppressed_summary(self) -> int:
        """One dead letter per gateway over its budget, saying how many rejects were not kept."""
        taken = self.budget.take_suppressed()
        if not taken:
            return 0
        rows = [
            {
                "topic": f"{self.root}/?/{gateway}/*"[:256],
                "payload": b"",
                "reading_index": None,
                "reason": "dead_letter_cap",
                "detail": f"{n} rejects of gateway {gateway!r} not stored: over its dead-letter budget "
                f"({self.settings.dead_letter_max_rows} rows or {self.settings.dead_letter_max_bytes} bytes "
                f"per {self.settings.dead_letter_window_s:g} s)",
                "ingester": self.name,
                "gateway_id": gateway[:64],
                "payload_size": 0,
            }
            for gateway, n in taken.items()
        ]
        try:
            with Session(self.engine) as session, session.begin():
                session.execute(insert(DeadLetter), rows)
        except Exception:
            self.budget.give_back(taken)  # counted again in the next summary
            raise
        return sum(taken.values())

    def _store(self, session: Session, readings: list[Reading]) -> int:
        session.execute(CREATE_STAGING)
        session.execute(delete(STAGING))  # a replay writes several messages in one transaction
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy("COPY staging (sensor_id, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "timestamptz", "float8"])
            for r in readings:
                copy.write_row((r.sensor.id, r.ts, r.value))
        stored = session.execute(STORE_STAGED).rowcount
        return max(stored, 0)

    def _judge(self, session: Session, alarms: AlarmWriter, readings: list[Reading]) -> None:
        """Move each sensor's latest reading forward and decide its alarms on what is new."""
        advanced = {r.id: r.last_reading_at for r in session.execute(ADVANCE_LATEST)}
        if not advanced:
            return
        by_sensor: dict[int, list[Reading]] = defaultdict(list)
        for r in readings:
            previous = advanced.get(r.sensor.id, ...)
            if previous is not ... and (previous is None or r.ts > previous):
                by_sensor[r.sensor.id].append(r)
        for rs in by_sensor.values():
            rs.sort(key=lambda r: r.ts)
        alarms.clear_offline([subject_of(rs[0].sensor) for rs in by_sensor.values()])
        alarms.judge_sensors(by_sensor)

    def _gateway_status(
        self, session: Session, alarms: AlarmWriter, gateway_id: str, site_id: int, state: str, now: datetime
    ) -> None:
        session.execute(
            update(Gateway)
            .where(Gateway.id == gateway_id)
            .values(status=state, status_at=now)
            .execution_options(synchronize_session=False)
        )
        alarms.gateway(gateway_id, site_id, online=state == "online")
