"""API tokens: created from the command line, shown once, stored as a digest; each expires
(RISKMAP_TOKEN_DAYS, 90 days by default) and can be revoked. Every change is audited: the
model is Audited, so these go through the ORM with the session's actor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.config import TokenSettings
from backend.core.principal import Role
from backend.core.security import new_api_token, token_digest
from backend.models import ApiToken, Organisation


class TokenNotFound(LookupError):
    pass


class OrganisationNotFound(LookupError):
    pass


def organisation(session: Session, code: str) -> Organisation:
    """An organisation by its code (a bureau's GB/T 2260 code, an enterprise's credit code)."""
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise OrganisationNotFound(f"no organisation {code!r} (a region code such as 220283, or a credit code)")
    return org


def create_token(
    session: Session, name: str, role: Role, days: int | None = None, org: Organisation | None = None
) -> str:
    """A new token valid for `days` (default: the setting), acting within `org`'s jurisdiction (None:
    the whole platform); returns the secret, never stored."""
    days = TokenSettings().days if days is None else days
    if days < 1:
        raise ValueError("a token must be valid for at least one day")
    token = new_api_token()
    session.add(
        ApiToken(
            name=name,
            role=str(role),
            token_hash=token_digest(token),
            created_by=session.info.get("actor", ""),
            expires_at=datetime.now(UTC) + timedelta(days=days),
            org_id=None if org is None else org.id,
        )
    )
    session.flush()
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, name_or_id: str) -> list[ApiToken]:
    """Revoke a token by id, or every unrevoked token with that name; returns those revoked."""
    query = select(ApiToken).where(ApiToken.revoked_at.is_(None))
    if name_or_id.isdigit():
        query = query.where(ApiToken.id == int(name_or_id))
    else:
        query = query.where(ApiToken.name == name_or_id)
    found = list(session.scalars(query))
    if not found:
        raise TokenNotFound(f"no unrevoked token {name_or_id!r}")
    now = datetime.now(UTC)
    for token in found:
        token.revoked_at = now
    session.flush()
    return found
