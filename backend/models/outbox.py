"""Deliveries waiting to go out: written in the transaction that decides them, sent by the
delivery worker after it commits (backend/warnings/delivery.py), each attempt recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base

PENDING = text("delivered_at IS NULL AND dead_at IS NULL")
# The kind of an outbox row that is not a message but a fact for the warning side to react to
# after the transaction that recorded it commits (a rain gauge's alarm change from an ingest
# batch); `riskmap deliver` hands it to backend.warnings.intake.
FACT_KIND = "alarm"


class OutboxMessage(Base):
    """One MQTT publish or webhook POST. Delivered at least once: `key` travels with it
    (X-Riskmap-Delivery, or "delivery" in the MQTT payload) so a receiver can drop repeats."""

    __tablename__ = "outbox"
    __table_args__ = (
        # What the worker claims: due, not delivered, not dead.
        Index("ix_outbox_due", "next_attempt_at", postgresql_where=PENDING),
        # The earlier pending message to the same topic, which must go first.
        Index("ix_outbox_pending_target", "target", "id", postgresql_where=PENDING),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # idempotency key
    kind: Mapped[str] = mapped_column(String(8))  # mqtt | webhook | alarm (FACT_KIND)
    target: Mapped[str] = mapped_column(String(512))  # topic or URL
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # mqtt: {"qos": 1, "retain": bool}; webhook: the HTTP headers (signature, delivery key).
    headers: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast_recipients.id", ondelete="CASCADE"))
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(24))  # the broadcast event recorded when it is delivered
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the claim's lease
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OutboxAttempt(Base):
    """One try at one delivery, successful or not."""

    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    worker: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int | None] = mapped_column(Integer)  # the HTTP status of a webhook
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
