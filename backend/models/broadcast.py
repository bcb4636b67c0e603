"""Flood-season early warnings: the broadcasts issued, who they target, and every delivery,
acknowledgement and escalation (全程可追溯)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, geometry


class Broadcast(Base):
    """A CAP 1.2 alert the platform issued (Alert, Update or Cancel)."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_area", "area", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    sent: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10))  # CAP: Actual | Exercise
    msg_type: Mapped[str] = mapped_column(String(8))  # CAP: Alert | Update | Cancel
    action: Mapped[str] = mapped_column(String(10))  # evacuate (停产撤人) | prepare | allclear
    color: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(12), index=True)  # active | superseded | cancelled | expired
    headline: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text)
    instruction: Mapped[str] = mapped_column(Text)
    area_desc: Mapped[str] = mapped_column(String(256))
    area: Mapped[Any] = mapped_column(geometry("MULTIPOLYGON"))
    adcodes: Mapped[list[str]] = mapped_column(ARRAY(String(6)), server_default="{}")
    issuing_adcode: Mapped[str] = mapped_column(String(6))
    onset: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    references_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    weather_warning_id: Mapped[int | None] = mapped_column(ForeignKey("weather_warnings.id"))
    rule: Mapped[str] = mapped_column(String(32))  # the rule that issued it, or "manual"
    issued_by: Mapped[str] = mapped_column(String(64))
    places: Mapped[list[dict[str, Any]]] = mapped_column(server_default="[]")  # downstream places warned
    cap_xml: Mapped[str] = mapped_column(Text)


class Recipient(Base):
    """An enterprise site a broadcast targets, and where it stands in 叫应."""

    __tablename__ = "broadcast_recipients"

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12), index=True)  # waiting | acknowledged | evacuated | overdue
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_via: Mapped[str | None] = mapped_column(String(8))  # http | mqtt
    evacuated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation: Mapped[int] = mapped_column(Integer, server_default="0")  # 0 none, 1 county, 2 prefecture
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fake_evacuation: Mapped[bool] = mapped_column(Boolean, server_default="false")  # 假停产假撤人
    evidence: Mapped[dict[str, Any]] = mapped_column(server_default="{}")


class BroadcastEvent(Base):
    __tablename__ = "broadcast_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast_recipients.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    event: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str | None] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64), server_default="system")
    detail: Mapped[dict[str, Any]] = mapped_column(server_default="{}")


class SmsOutbox(Base):
    """Messages for an SMS gateway adapter to send; the adapter marks them sent."""

    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # what the message is about: a broadcast (its recipient), or an alarm nobody acknowledged
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast_recipients.id", ondelete="CASCADE"))
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), server_default="warning")  # warning | escalation | alarm
    to_enterprise: Mapped[str | None] = mapped_column(String(18))  # 统一社会信用代码 of the enterprise reached
    to_phone: Mapped[str | None] = mapped_column(String(11))  # the mobile number the adapter sends to
    to_name: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    duty_shift_id: Mapped[int | None] = mapped_column(ForeignKey("duty_shifts.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Webhook(Base):
    """A subscriber to broadcasts; each delivery is signed with HMAC-SHA256 of the body."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(512))
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
