"""Request-scoped dependencies: a database session bound to the caller (a Principal made from the
caller's token), and the permission checks routes declare."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.core.config import api_settings
from backend.core.db import session_factory
from backend.core.jurisdiction import bind
from backend.core.principal import PUBLIC, Principal, Scope, platform
from backend.core.security import token_digest
from backend.domain.kinds import Perm, Role, region_prefix
from backend.models import ApiToken, Organisation


def get_session(request: Request) -> Iterator[Session]:
    """A session from the app's factory, made once at start-up (settings and the database URL are
    not parsed again on every request). It is bound to PUBLIC until a caller is known: no request
    reads or writes outside a jurisdiction, whatever its route forgets."""
    factory = getattr(request.app.state, "sessions", None) or session_factory()
    with factory() as session:
        bind(session, PUBLIC)
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
bearer = HTTPBearer(auto_error=False)


LAST_USED_GRANULARITY = timedelta(minutes=1)  # last_used_at is written at most this often per token


def token_principal(token: ApiToken, org: Organisation | None) -> Principal:
    """A machine token acts in its organisation's jurisdiction, or the whole platform's without one."""
    base = Principal(actor=f"token:{token.name}", name=token.name, roles=frozenset({Role(token.role)}))
    return within(base, org)


def within(base: Principal, org: Organisation | None) -> Principal:
    """`base` acting in `org`'s jurisdiction (a region prefix, or one enterprise); all without one."""
    if org is None:
        return replace(base, scope=Scope.all)
    if org.enterprise_id is not None:
        return replace(base, scope=Scope.enterprise, enterprise_id=org.enterprise_id, org_id=org.id)
    return replace(base, scope=Scope.region, region=region_prefix(org.region_adcode), org_id=org.id)


def _caller(session: Session, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    """The token's holder, or 401 when it is unknown, revoked or expired."""
    if credentials is None:
        return None
    # Looked up in a session of its own, never bound: the request's session already runs in the
    # PUBLIC scope, where no token is visible.
    with Session(session.get_bind()) as lookup:
        token = lookup.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(credentials.credentials)))
        org = lookup.get(Organisation, token.org_id) if token is not None and token.org_id is not None else None
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
    return token_principal(token, org)


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


# Who reads without a token when RISKMAP_PUBLIC_MAP = sites: the whole register, read-only, as
# before row-level security.
PUBLIC_READER = Principal(actor="public", name="public", roles=frozenset({Role.viewer}), scope=Scope.all)
LOGIN_REQUIRED = "an API token is required"


def _reader(
    session: Session, credentials: HTTPAuthorizationCredentials | None, opened_by: tuple[str, ...]
) -> Principal:
    """The caller of a read, bound to the session: the token's holder, or the public when the
    RISKMAP_PUBLIC_MAP setting is one of `opened_by`; else 401."""
    if credentials is not None:
        return require(Perm.read)(session, credentials)
    mode = api_settings().public_access
    if mode not in opened_by:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, LOGIN_REQUIRED, {"WWW-Authenticate": "Bearer"})
    reader = PUBLIC_READER if mode == "sites" else PUBLIC
    bind(session, reader)
    return reader


def read_access(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """A read of site details: the token's holder within its jurisdiction; without a token, only
    when RISKMAP_PUBLIC_MAP = sites."""
    return _reader(session, credentials, ("sites",))


def public_access(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """A read of what the public map shows (regions, the four-colour distribution per county):
    open unless RISKMAP_PUBLIC_MAP = none."""
    return _reader(session, credentials, ("county", "sites"))


# EventSource cannot send an Authorization header: POST /api/v1/session puts the token in this
# HttpOnly cookie, sent only to the stream route (never in a URL, where logs would keep it).
STREAM_COOKIE = "riskmap_stream"
STREAM_PATH = "/api/v1/alarms/stream"


def stream_access(request: Request) -> Principal:
    """read_access for a long-lived stream: the token (header, or the stream cookie) is checked in
    a session closed at once, so an open stream holds no database connection. The listener's
    principal is returned: each event is sent only to listeners whose jurisdiction holds it."""
    cookie = request.cookies.get(STREAM_COOKIE)
    authorization = request.headers.get("authorization") or (f"Bearer {cookie}" if cookie else None)
    if authorization is None and api_settings().public_access == "sites":
        return PUBLIC_READER
    return authorise(authorization, Perm.read)


def export_as(app: FastAPI, org: Organisation | None) -> None:
    """Every read of `app` as `org`'s viewer (row-level security applies), or as the platform when
    None: for the map export made from the command line, which sends no token."""
    principal = (
        platform("export-map")
        if org is None
        else within(Principal(actor=f"export:{org.code}", name=org.name, roles=frozenset({Role.viewer})), org)
    )

    def as_principal(session: SessionDep) -> Principal:
        bind(session, principal)
        return principal

    app.dependency_overrides[read_access] = as_principal
    app.dependency_overrides[public_access] = as_principal


ReadAccess = Depends(read_access)
PublicAccess = Depends(public_access)
Reader = Annotated[Principal, Depends(read_access)]
PublicReader = Annotated[Principal, Depends(public_access)]
Viewer = Annotated[Principal, Depends(require(Perm.read))]
Duty = Annotated[Principal, Depends(require(Perm.duty))]
Operator = Annotated[Principal, Depends(require(Perm.write))]
Admin = Annotated[Principal, Depends(require(Perm.admin))]
MaybeCaller = Annotated[Principal | None, Depends(optional_caller)]
