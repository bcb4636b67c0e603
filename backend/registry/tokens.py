"""API tokens: created from the command line, shown once, stored as a digest."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.core.audit import record
from backend.core.security import new_api_token, token_digest
from backend.domain.kinds import Role
from backend.models import ApiToken


def create_token(session: Session, name: str, role: Role) -> str:
    token = new_api_token()
    session.add(
        ApiToken(
            name=name,
            role=str(role),
            token_hash=token_digest(token),
            created_by=session.info.get("actor", ""),
        )
    )
    record(session, "token_create", "api_tokens", name, {"role": str(role)})
    return token
