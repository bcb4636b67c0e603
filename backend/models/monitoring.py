"""Gateways, sensors and their readings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Audited, Base, Timestamped, geometry
from backend.models.registry import Site


class Gateway(Audited, Timestamped, Base):
    """An IoT gateway at a site; its id is its MQTT user name."""

    __tablename__ = "gateways"
    __audit_exclude__ = frozenset({"password_hash"})

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    # Mosquitto's own PBKDF2-SHA512 format, so the broker's password file is written from it.
    password_hash: Mapped[str] = mapped_column(String(256))
    # Its birth message and Last Will on riskmap/v1/{site}/{gateway}/status.
    status: Mapped[str | None] = mapped_column(String(8))
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A disabled gateway is left out of the broker's password file, so it cannot connect.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the password was last replaced (the hash itself is not audited).
    password_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    site: Mapped[Site] = relationship()


class Sensor(Audited, Timestamped, Base):
    __tablename__ = "sensors"
    __table_args__ = (Index("ix_sensors_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    gateway_id: Mapped[str] = mapped_column(ForeignKey("gateways.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    unit: Mapped[str] = mapped_column(String(16))
    location_label: Mapped[str] = mapped_column(String(64), default="")  # e.g. 采煤工作面T1
    substance: Mapped[str | None] = mapped_column(String(32))  # toxic gas sensors
    interval_s: Mapped[int] = mapped_column(Integer)
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geom: Mapped[Any | None] = mapped_column(geometry("POINT"))
    # The latest reading, kept by the ingester so that "is it silent, is it active" is cheap.
    last_reading_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_value: Mapped[float | None] = mapped_column(Double)

    site: Mapped[Site] = relationship()
    gateway: Mapped[Gateway] = relationship()


class Reading(Base):
    """One value of one sensor; the table is partitioned by month on ts (see the migration)."""

    __tablename__ = "readings"
    __table_args__ = (
        PrimaryKeyConstraint("sensor_id", "ts"),
        {"postgresql_partition_by": "RANGE (ts)"},
    )

    sensor_id: Mapped[int] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    value: Mapped[float] = mapped_column(Double)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeadLetter(Base):
    """A rejected message or reading, kept as received with the reason, so nothing is lost."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    topic: Mapped[str] = mapped_column(String(256))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reading_index: Mapped[int | None] = mapped_column(Integer)  # which reading of the message; None: all
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(String(500))
    ingester: Mapped[str] = mapped_column(String(64))
    gateway_id: Mapped[str | None] = mapped_column(String(64), index=True)  # from the topic, as sent
    payload_size: Mapped[int | None] = mapped_column(Integer)  # as received; `payload` may be cut short
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replay_result: Mapped[str | None] = mapped_column(String(32))


class IngesterStatus(Base):
    """Each ingester's heartbeat, so that /healthz can tell alive, connected and keeping up."""

    __tablename__ = "ingester_status"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    connected: Mapped[bool] = mapped_column(Boolean)
    lag_s: Mapped[float] = mapped_column(Double)
    stats: Mapped[dict[str, Any]] = mapped_column(JSONB)


class AlarmEvent(Base):
    """Every transition of an alarm: raised, escalated, de-escalated, acknowledged, cleared, closed."""

    __tablename__ = "alarm_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    event: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    color: Mapped[str] = mapped_column(String(8))
    value: Mapped[float | None] = mapped_column(Double)
    actor: Mapped[str] = mapped_column(String(64), server_default="system")
    comment: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(server_default="{}")  # e.g. whom an escalation notified
