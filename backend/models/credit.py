"""Credit lists (吉政发〔2018〕26号 九): 黑名单 and 红名单 entries with their reasons, decisions and dates.

An entry is never deleted: leaving a list (移出, or the end of its period) is recorded on the entry.
The enterprise's name, credit code and county are kept as they were announced, so the public list
reads them from here (the register's enterprises are not public). `Enterprise.credit_list` is the
current state derived from these entries (backend/supervision/credit.py).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Audited, Base


class CreditListEntry(Audited, Base):
    """One listing of an enterprise on the 黑名单 or the 红名单, and how it ended."""

    __tablename__ = "credit_list_entries"
    __table_args__ = (
        CheckConstraint("list IN ('black', 'red')", name="list_known"),
        CheckConstraint("length(btrim(reason)) > 0", name="reason_given"),
        CheckConstraint("length(btrim(document_no)) > 0", name="document_given"),
        CheckConstraint("valid_until IS NULL OR valid_until >= listed_on", name="valid_after_listed"),
        CheckConstraint("removed_on IS NULL OR removed_on >= listed_on", name="removed_after_listed"),
        CheckConstraint(
            "(removed_on IS NULL) = (removal_reason IS NULL) AND (removed_on IS NULL) = (ended IS NULL)",
            name="removal_complete",
        ),
        CheckConstraint("ended IS NULL OR ended IN ('removed', 'expired')", name="ended_known"),
        # one entry in force per enterprise and list: a second is refused (409)
        Index(
            "uq_credit_list_entries_active",
            "enterprise_id",
            "list",
            unique=True,
            postgresql_where=text("removed_on IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)  # the enterprise's county
    credit_code: Mapped[str] = mapped_column(String(18))  # as announced
    enterprise_name: Mapped[str] = mapped_column(String(128))  # as announced
    list: Mapped[str] = mapped_column(String(8), index=True)  # black | red
    reason: Mapped[str] = mapped_column(Text)
    basis: Mapped[str] = mapped_column(String(200), server_default="")  # the rule applied (legal basis)
    document_no: Mapped[str] = mapped_column(String(64))  # 文号 of the decision
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))  # the deciding bureau
    decided_by: Mapped[str] = mapped_column(String(128))  # the deciding bureau's name, as announced
    listed_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)  # the last day on the list; open when NULL
    removed_on: Mapped[date | None] = mapped_column(Date)  # the first day off the list
    removal_reason: Mapped[str | None] = mapped_column(Text)
    ended: Mapped[str | None] = mapped_column(String(8))  # removed (移出) | expired (期满)
    created_by: Mapped[str] = mapped_column(String(96))
    removed_by: Mapped[str | None] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
