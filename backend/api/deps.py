"""Request-scoped dependencies: a database session and the caller's token and role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.core.config import api_settings
from backend.core.db import session_factory
from backend.core.security import token_digest
from backend.domain.kinds import Role
from backend.models import ApiToken


def get_session(request: Request) -> Iterator[Session]:
    """A session from the app's factory, made once at start-up (settings and the database URL are
    not parsed again on every request)."""
    factory = getattr(request.app.state, "sessions", None) or session_factory()
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"token:{self.name}"


LAST_USED_GRANULARITY = timedelta(minutes=1)  # last_used_at is written at most this often per token


def _caller(session: Session, credentials: HTTPAuthorizationCredentials | None) -> Caller | None:
    """The token's holder, or 401 when it is unknown, revoked or expired."""
    if credentials is None:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(credentials.credentials)))
    if token is None or token.revoked_at is not None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
    now = datetime.now(UTC)
    if token.expires_at is not None and token.expires_at <= now:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "token expired", {"WWW-Authenticate": "Bearer"})
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
        # Its own short transaction: a read-only request never commits its session, and this is
        # bookkeeping, not a change to audit.
        with session.get_bind().begin() as conn:
            conn.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    return Caller(token.name, Role(token.role))


def optional_caller(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller | None:
    """The caller when a token is sent (401 if it is not valid), else None: for open reads that
    show more to operators."""
    return _caller(session, credentials)


def _authorised(session: Session, credentials: HTTPAuthorizationCredentials | None, role: Role) -> Caller:
    caller = _caller(session, credentials)
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API token is required",
            {"WWW-Authenticate": "Bearer"},
        )
    if caller.role.rank < role.rank:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role")
    return caller


def require(role: Role):
    """A dependency admitting callers whose token has `role` or a higher one. It also makes the
    caller the audit actor of the request's session (the one the route gets: FastAPI gives every
    dependency of a request the same session), so no route sets it by hand."""

    def check(
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        caller = _authorised(session, credentials, role)
        session.info["actor"] = caller.actor
        return caller

    check.required_role = role  # type: ignore[attr-defined]  # read by backend.api.edge
    return check


def required_role(call: Any) -> Role | None:
    """The role a dependency made by `require` demands, else None."""
    return getattr(call, "required_role", None)


def authorise(authorization: str | None, role: Role) -> Caller:
    """The `require(role)` check from a raw Authorization header, in a session of its own that is
    closed before this returns (for the edge, and for streams that must not hold a connection)."""
    scheme, _, token = (authorization or "").partition(" ")
    credentials = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    with session_factory()() as session:
        return _authorised(session, credentials, role)


def read_access(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Reads are open unless RISKMAP_REQUIRE_AUTH_FOR_READ is set; then any valid token."""
    if api_settings().require_auth_for_read:
        require(Role.viewer)(session, credentials)


# EventSource cannot send an Authorization header: POST /api/v1/session puts the token in this
# HttpOnly cookie, sent only to the stream route (never in a URL, where logs would keep it).
STREAM_COOKIE = "riskmap_stream"
STREAM_PATH = "/api/v1/alarms/stream"


def stream_access(request: Request) -> None:
    """read_access for a long-lived stream: the token (header, or the stream cookie) is checked in
    a session closed at once, so an open stream holds no database connection."""
    if api_settings().require_auth_for_read:
        cookie = request.cookies.get(STREAM_COOKIE)
        authorise(request.headers.get("authorization") or (f"Bearer {cookie}" if cookie else None), Role.viewer)


ReadAccess = Depends(read_access)
Viewer = Annotated[Caller, Depends(require(Role.viewer))]
Operator = Annotated[Caller, Depends(require(Role.operator))]
Admin = Annotated[Caller, Depends(require(Role.admin))]
MaybeCaller = Annotated[Caller | None, Depends(optional_caller)]
