"""One batch of MQTT messages into the database, in one transaction.

Readings go through COPY into a staging table and then `INSERT … ON CONFLICT DO NOTHING`, so
a redelivered message is stored once. Each sensor's latest reading is moved forward under a
row lock, which also serialises alarm decisions for a sensor across ingesters: only readings
newer than what the sensor had are judged. Rejected input goes to dead_letters with its reason.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.core.config import IngestSettings
from backend.warnings.service import WarningError, acknowledge
from ingest.alarms import AlarmWriter, Subject
from ingest.payload import Reading, Reason, Rejection, SensorInfo, Topic, check_reading, parse_message


@dataclass
class Message:
    topic: str
    payload: bytes
    mid: int = 0
    generation: int = 0
    received: float = field(default_factory=time.monotonic)


@dataclass
class Outcome:
    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[Message, Rejection]] = field(default_factory=list)
    alarm_events: list[dict[str, Any]] = field(default_factory=list)


class Register:
    """The sensors and gateways the ingester checks messages against, reloaded when stale."""

    def __init__(self, engine: Engine, max_age_s: float = 30) -> None:
        self.engine, self.max_age_s = engine, max_age_s
        self.sensors: dict[str, SensorInfo] = {}
        self.gateways: dict[str, tuple[str, int]] = {}  # id -> (site code, site id)
        self.loaded_at = 0.0

    def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self.loaded_at < self.max_age_s:
            return
        with self.engine.connect() as c:
            rows = c.execute(
                text("""
                SELECT se.code, se.id, s.code, se.gateway_id, se.kind, se.unit, se.interval_s, se.thresholds,
                       s.id, e.status, s.kind
                FROM sensors se JOIN sites s ON s.id = se.site_id
                JOIN enterprises e ON e.id = s.enterprise_id""")
            )
            self.sensors = {r[0]: SensorInfo(*r[1:]) for r in rows}
            self.gateways = {
                g: (code, sid)
                for g, code, sid in c.execute(
                    text("SELECT g.id, s.code, s.id FROM gateways g JOIN sites s ON s.id = g.site_id")
                )
            }
        self.loaded_at = time.monotonic()

    def lookup(self, code: str) -> SensorInfo | None:
        if code not in self.sensors and time.monotonic() - self.loaded_at > 5:
            self.refresh(force=True)  # a sensor registered since the last load
        return self.sensors.get(code)


class BatchWriter:
    def __init__(self, engine: Engine, settings: IngestSettings, name: str) -> None:
        self.engine, self.settings, self.name = engine, settings, name
        self.register = Register(engine)
        self.root = settings.topic_root

    def process(self, messages: list[Message], now: datetime | None = None) -> Outcome:
        """Validate and store the batch; raises (and stores nothing) if the database fails."""
        now = now or datetime.now(UTC)
        self.register.refresh()
        out = Outcome()
        readings: list[Reading] = []
        dead: list[dict[str, Any]] = []
        statuses: list[tuple[str, int, str]] = []
        acks: list[tuple[Message, str, int, bool]] = []
        max_age = timedelta(seconds=self.settings.max_age_s)
        max_future = timedelta(seconds=self.settings.max_future_s)

        def reject(m: Message, r: Rejection, body: bytes | None = None) -> None:
            out.rejected.append((m, r))
            dead.append(
                {
                    "topic": m.topic[:256],
                    "payload": body if body is not None else m.payload,
                    "reading_index": r.index,
                    "reason": r.reason,
                    "detail": r.detail[:500],
                    "ingester": self.name,
                }
            )

        for m in messages:
            topic = Topic.parse(m.topic, self.root)
            if topic is None or topic.channel not in {"readings", "status", "ack"}:
                reject(m, Rejection(Reason.TOPIC, f"not a topic of the contract: {m.topic[:200]}"))
                continue
            gateway = self.register.gateways.get(topic.gateway_id)
            if gateway is None or gateway[0] != topic.site_code:
                reject(
                    m,
                    Rejection(Reason.UNKNOWN_GATEWAY, f"no gateway {topic.gateway_id!r} at site {topic.site_code!r}"),
                )
                continue
            if topic.channel == "ack":
                try:
                    body = json.loads(m.payload)
                    acks.append((m, topic.site_code, int(body["broadcast"]), bool(body.get("evacuated", False))))
                except (ValueError, KeyError, TypeError):
                    reject(m, Rejection(Reason.SHAPE, 'ack must be {"broadcast": <id>, "evacuated": true|false}'))
                continue
            if topic.channel == "status":
                state = m.payload.decode(errors="replace").strip()
                if state not in {"online", "offline"}:
                    reject(m, Rejection(Reason.SHAPE, "status must be 'online' or 'offline'"))
                else:
                    statuses.append((topic.gateway_id, gateway[1], state))
                continue
            items, refused = parse_message(m.payload, self.settings.max_payload_bytes)
            if refused:
                reject(m, refused, m.payload[: self.settings.max_payload_bytes])
                continue
            for i, item in enumerate(items):
                if isinstance(item, dict) and isinstance(item.get("sensor"), str):
                    self.register.lookup(item["sensor"])  # reloads once for a newly registered sensor
                checked = check_reading(item, i, topic, self.register.sensors, now, max_age, max_future)
                if isinstance(checked, Rejection):
                    reject(m, checked, json.dumps(item, ensure_ascii=False, default=str)[:4000].encode())
                else:
                    readings.append(checked)

        with Session(self.engine) as session, session.begin():
            session.info["actor"] = f"ingest:{self.name}"
            if readings:
                out.stored = self._store(session, readings)
                out.duplicates = len(readings) - out.stored
            if dead:
                session.execute(
                    text(
                        "INSERT INTO dead_letters (topic, payload, reading_index, reason, detail, ingester) "
                        "VALUES (:topic, :payload, :reading_index, :reason, :detail, :ingester)"
                    ),
                    dead,
                )
            alarms = AlarmWriter(session, now)
            for m, site_code, broadcast_id, evacuated in acks:
                try:
                    with session.begin_nested():
                        acknowledge(session, broadcast_id, None, site_code, evacuated, "mqtt", now)
                except WarningError as exc:
                    out.rejected.append((m, Rejection("bad_ack", str(exc))))
                    session.execute(
                        text(
                            "INSERT INTO dead_letters (topic, payload, reason, detail, ingester) "
                            "VALUES (:t, :p, 'bad_ack', :d, :i)"
                        ),
                        {"t": m.topic, "p": m.payload, "d": str(exc), "i": self.name},
                    )
            for gateway_id, site_id, state in statuses:
                self._gateway_status(session, alarms, gateway_id, site_id, state, now)
            if readings:
                self._judge(session, alarms, readings)
            alarms.finish()
            out.alarm_events = alarms.events
        return out

    def keep_failed(self, messages: list[Message], exc: Exception) -> Outcome:
        """Store a batch that could not be processed, as received, with the error."""
        detail = f"{type(exc).__name__}: {exc}"[:500]
        with Session(self.engine) as session, session.begin():
            session.execute(
                text(
                    "INSERT INTO dead_letters (topic, payload, reason, detail, ingester) "
                    "VALUES (:topic, :payload, 'ingest_error', :detail, :ingester)"
                ),
                [
                    {"topic": m.topic[:256], "payload": m.payload, "detail": detail, "ingester": self.name}
                    for m in messages
                ],
            )
        return Outcome(rejected=[(m, Rejection("ingest_error", detail)) for m in messages])

    def _store(self, session: Session, readings: list[Reading]) -> int:
        session.execute(
            text(
                "CREATE TEMP TABLE IF NOT EXISTS staging "
                "(sensor_id int, ts timestamptz, value float8) ON COMMIT DELETE ROWS"
            )
        )
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy("COPY staging (sensor_id, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "timestamptz", "float8"])
            for r in readings:
                copy.write_row((r.sensor.id, r.ts, r.value))
        stored = session.execute(
            text(
                "INSERT INTO readings (sensor_id, ts, value) SELECT sensor_id, ts, value FROM staging "
                "ON CONFLICT DO NOTHING"
            )
        ).rowcount
        return max(stored, 0)

    def _judge(self, session: Session, alarms: AlarmWriter, readings: list[Reading]) -> None:
        """Move each sensor's latest reading forward and decide its alarms on what is new."""
        advanced = dict(
            session.execute(
                text("""
            WITH latest AS (
                SELECT DISTINCT ON (sensor_id) sensor_id, ts, value FROM staging ORDER BY sensor_id, ts DESC),
            locked AS (
                SELECT s.id, s.last_reading_at FROM sensors s JOIN latest l ON l.sensor_id = s.id
                ORDER BY s.id FOR UPDATE OF s)
            UPDATE sensors s SET last_reading_at = l.ts, last_value = l.value
            FROM latest l JOIN locked p ON p.id = l.sensor_id
            WHERE s.id = l.sensor_id AND (p.last_reading_at IS NULL OR l.ts > p.last_reading_at)
            RETURNING s.id, p.last_reading_at""")
            ).all()
        )
        if not advanced:
            return
        by_sensor: dict[int, list[Reading]] = defaultdict(list)
        for r in readings:
            previous = advanced.get(r.sensor.id, ...)
            if previous is not ... and (previous is None or r.ts > previous):
                by_sensor[r.sensor.id].append(r)
        for rs in by_sensor.values():
            rs.sort(key=lambda r: r.ts)
        alarms.clear_offline([Subject.of_sensor(rs[0].sensor) for rs in by_sensor.values()])
        alarms.judge_sensors(by_sensor)

    def _gateway_status(
        self, session: Session, alarms: AlarmWriter, gateway_id: str, site_id: int, state: str, now: datetime
    ) -> None:
        session.execute(
            text("UPDATE gateways SET status = :s, status_at = :t WHERE id = :g"),
            {"s": state, "t": now, "g": gateway_id},
        )
        alarms.gateway(gateway_id, site_id, online=state == "online")
