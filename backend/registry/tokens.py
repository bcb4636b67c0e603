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


class UnknownOrganisation(LookupError):
    pass


def create_token(session: Session, name: str, role: Role, days: int | None = None, org: str | None = None) -> str:
    """A new token valid for `days` (default: the setting), acting in the jurisdiction of the
    organisation coded `org` (an adcode or a credit code; None: the whole platform); returns the
    secret, never stored."""
    days = TokenSettings().days if days is None else days
    if days < 1:
        raise ValueError("a token must be valid for at least one day")
    org_id = None
    if org is not None:
        org_id = session.scalar(select(Organisation.id).where(Organisation.code == org.strip()))
        if org_id is None:
            raise UnknownOrganisation(f"no organisation with code {org!r}")
    token = new_api_token()
    session.add(
        ApiToken(
            name=name,
            role=str(role),
            token_hash=token_digest(token),
            created_by=session.info.get("actor", ""),
            expires_at=datetime.now(UTC) + timedelta(days=days),
            org_id=org_id,
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
