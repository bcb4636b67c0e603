"""The people a warning must reach: each enterprise's and site's responsible people (with the three
包保责任人 of each major-hazard unit), each regulator's duty roster (值班表), and the person-by-person
answers to a broadcast.

Rows carry the region they belong to, so the row-level security policies of migration 0013 read
one column (riskmap_enterprise_visible / riskmap_region_visible / riskmap_site_visible).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Audited, Base, Timestamped


class Person(Audited, Timestamped, Base):
    """A responsible person of an enterprise, of one of its sites, or of one major-hazard unit."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    hazard_unit_id: Mapped[int | None] = mapped_column(ForeignKey("hazard_units.id", ondelete="CASCADE"), index=True)
    # the site's region for a site's person, else the enterprise's: what jurisdiction sees the row
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    duty: Mapped[str] = mapped_column(String(24))  # backend.people.register.Duty
    name: Mapped[str] = mapped_column(String(64))
    mobile: Mapped[str] = mapped_column(String(11))  # normalised: 11 digits
    landline: Mapped[str | None] = mapped_column(String(24))
    email: Mapped[str | None] = mapped_column(String(128))


class DutyShift(Audited, Base):
    """Who is on duty for a regulator organisation from `starts_at` until `ends_at` (exclusive);
    one organisation's shifts never overlap (an exclusion constraint)."""

    __tablename__ = "duty_shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)  # the organisation's
    name: Mapped[str] = mapped_column(String(64))
    mobile: Mapped[str] = mapped_column(String(11))
    landline: Mapped[str | None] = mapped_column(String(24))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecipientPerson(Base):
    """One responsible person a broadcast reached for one targeted site, with their own answer
    token (only its digest is kept). The site's recipient row holds the site's answer: it is
    answered when one of its people answers."""

    __tablename__ = "broadcast_recipient_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("broadcast_recipients.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    duty: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(64))
    mobile: Mapped[str] = mapped_column(String(11))  # as it was when the broadcast went out
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_via: Mapped[str | None] = mapped_column(String(8))
    escalation: Mapped[int] = mapped_column(Integer, server_default="0")
