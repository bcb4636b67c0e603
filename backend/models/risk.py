"""What the risk engine reads besides the register (alarms, hidden hazards, weather warnings)
and what it writes (each site's level with its reasons, and the history of its changes)."""

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
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Audited, Base, geometry

OPEN_ALARM_STATES = ("raised", "acknowledged")


class Alarm(Base):
    """One alarm per sensor (or site, or gateway) and condition, escalating in place."""

    __tablename__ = "alarms"
    __table_args__ = (
        # Two readings at once, or two ingesters, can never open a second alarm for one condition.
        Index(
            "uq_alarms_open_key",
            "key",
            unique=True,
            postgresql_where=text("state IN ('raised', 'acknowledged')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(96))  # e.g. "sensor:42:threshold"
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    sensor_id: Mapped[int | None] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"))
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("gateways.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    color: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), index=True)
    value: Mapped[float | None] = mapped_column(Double)
    threshold: Mapped[float | None] = mapped_column(Double)
    message: Mapped[str] = mapped_column(String(256), server_default="")
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    ack_comment: Mapped[str | None] = mapped_column(String(500))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class HiddenHazard(Audited, Base):
    """A hidden hazard (隐患) at a site, from discovery to 销号 (backend/hazards/lifecycle.py owns
    its states). A 重大隐患 keeps its site red until closed; `rectified_at` is the 销号 instant."""

    __tablename__ = "hidden_hazards"
    __table_args__ = (Index("ix_hidden_hazards_location", "location", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("hazard_units.id", ondelete="SET NULL"))
    sensor_id: Mapped[int | None] = mapped_column(ForeignKey("sensors.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, server_default="")
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    criterion: Mapped[str | None] = mapped_column(String(48))  # "coal:五": standard code and item number
    major_reason: Mapped[str | None] = mapped_column(Text)  # a regulator's reasoned decision
    state: Mapped[str] = mapped_column(String(16), server_default="reported", index=True)
    found_by: Mapped[str] = mapped_column(String(16), server_default="inspection")
    reported_by: Mapped[str] = mapped_column(String(128), server_default="")
    location: Mapped[Any | None] = mapped_column(geometry("POINT"))
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    measures: Mapped[str | None] = mapped_column(Text)
    funds_yuan: Mapped[float | None] = mapped_column(Double)
    responsible: Mapped[str | None] = mapped_column(String(64))
    supervised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_no: Mapped[str | None] = mapped_column(String(64))
    supervising_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    interim_measures: Mapped[list[str]] = mapped_column(ARRAY(String(16)), server_default="{}")
    status_before: Mapped[str | None] = mapped_column(String(16))  # the enterprise's status before 停产停业
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    inspectors: Mapped[str | None] = mapped_column(String(256))
    accepted_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation: Mapped[int] = mapped_column(Integer, server_default="0")
    rectified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class HazardEvent(Base):
    """One transition of a hidden hazard: who, when, why, with what attached."""

    __tablename__ = "hazard_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hidden_hazards.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, server_default="")
    detail: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    attachments: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")


class HazardFile(Base):
    """A photo or document of a hazard, stored content-addressed (SHA-256) by backend/hazards/files.py."""

    __tablename__ = "hazard_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hidden_hazards.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WeatherWarning(Base):
    """A meteorological warning (暴雨预警) for an area, as received (CAP or JSON)."""

    __tablename__ = "weather_warnings"
    __table_args__ = (Index("ix_weather_warnings_area", "area", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    sender: Mapped[str] = mapped_column(String(128), server_default="")
    event: Mapped[str] = mapped_column(String(64), server_default="暴雨")
    color: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), server_default="Actual")  # CAP status
    area: Mapped[Any] = mapped_column(geometry("MULTIPOLYGON"))
    adcodes: Mapped[list[str]] = mapped_column(ARRAY(String(6)), server_default="{}")
    onset: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str | None] = mapped_column(Text)


class SiteRisk(Base):
    """A site's current level. One that cannot be graded (an unknown substance, a missing
    attribute) keeps its last level and carries `grading_error`; one never graded has none."""

    __tablename__ = "site_risk"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    inherent_level: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[int | None] = mapped_column(Integer, index=True)
    color: Mapped[str | None] = mapped_column(String(8))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column()
    graded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last successful grading
    grading_error: Mapped[str | None] = mapped_column(String(500))
    grading_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SiteRiskChange(Base):
    """A change of a site's level, with the reasons it changed."""

    __tablename__ = "site_risk_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    previous_level: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column()
