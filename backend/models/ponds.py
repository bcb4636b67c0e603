"""Operators' recorded decisions about tailings ponds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, SmallInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Audited, Base


class PondClassOverride(Audited, Base):
    """A pond raised one class after review (GB 50863-2013 §3.2.1: failure would seriously harm
    downstream towns, major industrial sites, trunk railways or expressways). Never automatic:
    an operator records it with the reason; withdrawing it deletes the row (both audited)."""

    __tablename__ = "pond_class_overrides"
    __table_args__ = (
        CheckConstraint("from_class BETWEEN 2 AND 5", name="from_class_range"),
        CheckConstraint("to_class = from_class - 1", name="one_class_up"),
        CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
    )

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    from_class: Mapped[int] = mapped_column(SmallInteger)
    to_class: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
