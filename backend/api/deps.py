"""Request-scoped dependencies: a database session bound to the caller (a Principal made from the
caller's token), and the permission checks routes declare."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.core.config import api_settings
from backend.core.db import session_factory
from backend.core.jurisdiction import bind
from backend.core.principal import Perm, Principal, Role, Scope
from backend.core.security import token_digest
from backend.domain.kinds import region_prefix
from backend.models import ApiToken, Organisation


def get_session(request: Request) -> Iterator[Session]:
    """A session from the app's factory, made once at start-up (settings and the database URL are
    not parsed again on every request)."""
    factory = getattr(request.app.state, "sessions", None) or session_factory()
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
bearer = HTTPBearer(auto_error=False)


LAST_USED_GRANULARITY = timedelta(minutes=1)  # last_used_at is written at most this often per token


def token_principal(token: ApiToken, org: Organisation | None) -> Principal:
    """A machine token acts in its organisation's jurisdiction, or the whole platform's without one."""
    base = Principal(actor=f"token:{token.name}", name=token.name, roles=frozenset({Role(token.role)}))
    if org is None:
        return replace(base, scope=Scope.all)
    if org.enterprise_id is not None:
        return replace(base, scope=Scope.enterprise, enterprise_id=org.enterprise_id, org_id=org.id)
    return replace(base, scope=Scope.region, region=region_prefix(org.region_adcode), org_id=org.id)


def _caller(session: Session, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
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
    return token_principal(token, session.get(Organisation, token.org_id) if token.org_id is not None else None)


def optional_caller(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    """The caller when a token is sent (401 if it is not valid), else None: for open reads that
    show more to operators."""
    return _caller(session, credentials)


def _authorised(session: Session, credentials: HTTPAuthorizationCredentials | None, perm: Perm) -> Principal:
    caller = _caller(session, credentials)
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API token is required",
            {"WWW-Authenticate": "Bearer"},
        )
    if not caller.can(perm):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {perm} permission")
    return caller


def require(perm: Perm):
    """A dependency admitting callers holding `perm`. It also binds the caller to the request's
    session (the one the route gets: FastAPI gives every dependency of a request the same session):
    the caller is the audit actor and its jurisdiction scopes every transaction, so no route sets
    either by hand."""

    def check(
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        caller = _authorised(session, credentials, perm)
        bind(session, caller)
        return caller

    check.required_perm = perm  # type: ignore[attr-defined]  # read by backend.api.edge
    return check


def required_perm(call: Any) -> Perm | None:
    """The permission a dependency made by `require` demands, else None."""
    return getattr(call, "required_perm", None)


def authorise(authorization: str | None, perm: Perm) -> Principal:
    """The `require(role)` check from a raw Authorization header, in a session of its own that is
    closed before this returns (for the edge, and for streams that must not hold a connection)."""
    scheme, _, token = (authorization or "").partition(" ")
    credentials = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    with session_factory()() as session:
        return _authorised(session, credentials, perm)


def read_access(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Reads are open unless RISKMAP_REQUIRE_AUTH_FOR_READ is set; then any valid token."""
    if api_settings().require_auth_for_read:
        require(Perm.read)(session, credentials)


# EventSource cannot send an Authorization header: POST /api/v1/session puts the token in this
# HttpOnly cookie, sent only to the stream route (never in a URL, where logs would keep it).
STREAM_COOKIE = "riskmap_stream"
STREAM_PATH = "/api/v1/alarms/stream"


def stream_access(request: Request) -> None:
    """read_access for a long-lived stream: the token (header, or the stream cookie) is checked in
    a session closed at once, so an open stream holds no database connection."""
    if api_settings().require_auth_for_read:
        cookie = request.cookies.get(STREAM_COOKIE)
        authorise(request.headers.get("authorization") or (f"Bearer {cookie}" if cookie else None), Perm.read)


ReadAccess = Depends(read_access)
Viewer = Annotated[Principal, Depends(require(Perm.read))]
Duty = Annotated[Principal, Depends(require(Perm.duty))]
Operator = Annotated[Principal, Depends(require(Perm.write))]
Admin = Annotated[Principal, Depends(require(Perm.admin))]
MaybeCaller = Annotated[Principal | None, Depends(optional_caller)]
