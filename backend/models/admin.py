"""Who may do what, and what they did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Audited, Base


class Organisation(Audited, Base):
    """A regulator (one 应急管理局 per region of the register, and other departments such as 水利,
    气象 or 自然资源 that share information) or an enterprise of the register.

    Bureaus and enterprise organisations are made by triggers when a region or an enterprise is
    registered (migration 0010), so the two can never disagree; departments are added by hand.
    Its jurisdiction is its region (everything whose region code starts with the region's prefix),
    or, for an enterprise, that enterprise only.
    """

    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint("kind IN ('bureau', 'department', 'enterprise')", name="kind_known"),
        CheckConstraint("(kind = 'enterprise') = (enterprise_id IS NOT NULL)", name="enterprise_iff_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # bureau: adcode; enterprise: credit code
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), index=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiToken(Audited, Base):
    """An API token; only its digest is kept. It expires, and can be revoked."""

    __tablename__ = "api_tokens"
    __audit_exclude__ = frozenset({"token_hash", "last_used_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: never
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The token acts within this organisation's jurisdiction; NULL: the whole platform.
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))  # insert | update | delete | or a verb
    entity: Mapped[str] = mapped_column(String(32), index=True)
    entity_key: Mapped[str] = mapped_column(String(64), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()
    # Whose rows the entry is about (row-level security shows it only within that jurisdiction);
    # both NULL: the whole platform's, seen by province-wide callers only.
    region_adcode: Mapped[str | None] = mapped_column(String(6), index=True)
    enterprise_id: Mapped[int | None] = mapped_column()
