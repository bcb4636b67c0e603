"""People who sign in: users of an organisation, and their server-side browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Audited, Base

# Roles a person may hold (kinds.Role without `operator`, which is for machine tokens only).
USER_ROLES = ("viewer", "enterprise", "duty", "regulator", "admin")


class User(Audited, Base):
    """A person of one organisation, with roles; only an argon2 hash of the password is kept.

    Visible (row-level security, migration 0011) wherever its organisation is: a county's users to
    the county, its prefecture and the province; an enterprise's users to the enterprise too.
    """

    __tablename__ = "users"
    # Secrets and sign-in bookkeeping stay out of the audit log's before/after; logins, failures,
    # lockouts and password changes are recorded as their own entries (backend/accounts).
    __audit_exclude__ = frozenset(
        {"password_hash", "failed_logins", "failed_since", "locked_until", "last_login_at", "password_changed_at"}
    )
    __table_args__ = (
        CheckConstraint(
            "cardinality(roles) >= 1 AND roles <@ ARRAY['viewer','enterprise','duty','regulator','admin']::varchar[]",
            name="roles_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    mobile: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def code(self) -> str:
        """The audit log's key for a user (backend/core/audit.py): its login, as in the entries
        for sign-ins and password changes."""
        return self.login


class UserSession(Base):
    """A browser session: the cookie's secret is never stored, only its SHA-256 digest (the id).

    It ends when idle too long (idle_expires_at moves on with use), at its absolute expiry, or when
    revoked (logout, password change, the user disabled).
    """

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie value
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    idle_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
