"""Request-scoped dependencies: a database session bound to the caller (a Principal made from the
caller's token or browser session), and the permission checks routes declare."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.accounts import users as accounts
from backend.accounts.users import SignedIn
from backend.core.config import AccountSettings, api_settings
from backend.core.db import session_factory
from backend.core.jurisdiction import bind
from backend.core.principal import PUBLIC, PUBLIC_READER, Perm, Principal, Role, Scope, platform
from backend.core.security import token_digest
from backend.domain.kinds import region_prefix
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


def _token_caller(session: Session, credentials: HTTPAuthorizationCredentials) -> Principal:
    """The token's holder, or 401 when it is unknown, revoked or expired."""
    # Looked up in a session of its own, never bound: the request's session already runs in the
    # PUBLIC scope, where no token is visible.
    with Session(session.get_bind()) as lookup:
        token = lookup.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(credentials.credentials)))
        org = lookup.get(Organisation, token.org_id) if token is not None and token.org_id is not None else None
    if token is None or token.revoked_at is not None or (token.org_id is not None and org is None):
        # (an organisation that cannot be found never widens a token to the whole platform)
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


# --- browser sessions ---------------------------------------------------------------------------
# A signed-in browser carries this HttpOnly cookie (the session's random value; the server keeps
# only its digest, backend/accounts/users.py). A request it authenticates that changes something
# (POST, PUT, PATCH, DELETE) must also carry the session's own CSRF token, compared with the one
# kept server-side: in the X-CSRF-Token header (the page's fetches, htmx) or a csrf_token form
# field (plain forms). A bearer token needs neither.
SESSION_COOKIE = "riskmap_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NOT_SIGNED_IN = "请先登录 (sign in, or send a bearer token)"
CSRF_REFUSED = "CSRF 校验失败：请刷新页面后重试 (missing or wrong X-CSRF-Token)"


def cookie_secure(request: Request) -> bool:
    """Secure cookies over https, and always when RISKMAP_SESSION_COOKIE_SECURE says so (behind a
    proxy that terminates TLS)."""
    return request.url.scheme == "https" or AccountSettings().session_cookie_secure


def signed_in_user(session: Session, cookie: str | None) -> SignedIn | None:
    """The valid session a cookie names, else None; looked up in a session of its own, never bound
    (the request's session runs in the PUBLIC scope until its caller is known)."""
    if not cookie:
        return None
    with Session(session.get_bind()) as lookup:
        return accounts.check_session(lookup, cookie)


def _authenticate(
    session: Session,
    credentials: HTTPAuthorizationCredentials | None,
    cookie: str | None,
    *,
    unsafe: bool = False,
    csrf: str | None = None,
    csrf_pending: bool = False,
) -> Principal | None:
    """The caller from a bearer token (which wins) or the session cookie; None when neither is
    sent. A bad token, or a cookie that names no valid session, is 401; a cookie-authenticated
    unsafe request without the session's CSRF token is 403 (unless `csrf_pending`: a form whose
    field is checked once its body has been read)."""
    if credentials is not None:
        return _token_caller(session, credentials)
    if not cookie:
        return None
    signed = signed_in_user(session, cookie)
    if signed is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_SIGNED_IN, {"WWW-Authenticate": "Bearer"})
    if unsafe and not accounts.csrf_matches(signed, csrf) and not (csrf_pending and csrf is None):
        raise HTTPException(status.HTTP_403_FORBIDDEN, CSRF_REFUSED)
    return signed.principal


def optional_caller(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    """The caller when a token is sent (401 if it is not valid) or a valid session cookie, else
    None: for open reads that show more to operators. A stale cookie reads as signed out."""
    if credentials is not None:
        return _token_caller(session, credentials)
    signed = signed_in_user(session, request.cookies.get(SESSION_COOKIE))
    return signed.principal if signed else None


def _authorised(session: Session, caller: Principal | None, perm: Perm) -> Principal:
    if caller is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_SIGNED_IN, {"WWW-Authenticate": "Bearer"})
    if not caller.can(perm):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {perm} permission")
    return caller


async def form_csrf(request: Request) -> str | None:
    """The csrf_token field of a form sent with the session cookie and without the header (read
    here, asynchronously, so that the check that follows can compare it)."""
    headers = request.headers
    if (
        request.method in UNSAFE_METHODS
        and SESSION_COOKIE in request.cookies
        and "authorization" not in headers
        and CSRF_HEADER not in headers
        and headers.get("content-type", "").split(";")[0].strip().lower() in FORM_TYPES
    ):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _csrf_presented(request: Request, form_token: str | None) -> str | None:
    return request.headers.get(CSRF_HEADER) or form_token


def require(perm: Perm):
    """A dependency admitting callers holding `perm` (by bearer token, or by session cookie with
    its CSRF token for unsafe methods). It also binds the caller to the request's session (the one
    the route gets: FastAPI gives every dependency of a request the same session): the caller is
    the audit actor and its jurisdiction scopes every transaction, so no route sets either by hand."""

    def check(
        request: Request,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        form_token: Annotated[str | None, Depends(form_csrf)],
    ) -> Principal:
        caller = _authenticate(
            session,
            credentials,
            request.cookies.get(SESSION_COOKIE),
            unsafe=request.method in UNSAFE_METHODS,
            csrf=_csrf_presented(request, form_token),
        )
        caller = _authorised(session, caller, perm)
        bind(session, caller)
        return caller

    check.required_perm = perm  # type: ignore[attr-defined]  # read by backend.api.edge
    return check


def required_perm(call: Any) -> Perm | None:
    """The permission a dependency made by `require` demands, else None."""
    return getattr(call, "required_perm", None)


def authorise(
    authorization: str | None,
    perm: Perm,
    cookie: str | None = None,
    *,
    method: str = "GET",
    csrf: str | None = None,
    form: bool = False,
) -> Principal:
    """The `require(perm)` check from a request's head (Authorization header, session cookie, CSRF
    header), in a session of its own that is closed before this returns (for the edge, before a
    body is read, and for streams that must not hold a connection). A form's csrf_token field is
    checked by the route, once the body is read (`form`)."""
    scheme, _, token = (authorization or "").partition(" ")
    credentials = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    with session_factory()() as session:
        caller = _authenticate(
            session, credentials, cookie, unsafe=method in UNSAFE_METHODS, csrf=csrf, csrf_pending=form
        )
        return _authorised(session, caller, perm)


LOGIN_REQUIRED = "an API token is required"


def _reader(session: Session, caller: Principal | None, opened_by: tuple[str, ...]) -> Principal:
    """The caller of a read, bound to the session: the signed-in user or the token's holder, or
    the public when the RISKMAP_PUBLIC_MAP setting is one of `opened_by`; else 401."""
    if caller is not None:
        caller = _authorised(session, caller, Perm.read)
        bind(session, caller)
        return caller
    mode = api_settings().public_access
    if mode not in opened_by:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, LOGIN_REQUIRED, {"WWW-Authenticate": "Bearer"})
    reader = PUBLIC_READER if mode == "sites" else PUBLIC
    bind(session, reader)
    return reader


def read_access(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """A read of site details: the caller (token or session) within its jurisdiction; without
    one, only when RISKMAP_PUBLIC_MAP = sites."""
    return _reader(session, _authenticate(session, credentials, request.cookies.get(SESSION_COOKIE)), ("sites",))


def internal_access(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """A read of the bureaus' own work (broadcasts and their 叫应, inspections, plans, rosters): the
    caller (token or session) within its jurisdiction, whatever RISKMAP_PUBLIC_MAP opens; plans stay
    unannounced (四不两直) and answers stay the bureaus' own."""
    return _reader(session, _authenticate(session, credentials, request.cookies.get(SESSION_COOKIE)), ())


def public_access(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """A read of what the public map shows (regions, the four-colour distribution per county):
    open unless RISKMAP_PUBLIC_MAP = none."""
    return _reader(
        session, _authenticate(session, credentials, request.cookies.get(SESSION_COOKIE)), ("county", "sites")
    )


def stream_access(request: Request) -> Principal:
    """read_access for a long-lived stream (EventSource sends the session cookie, programs a
    token), checked in a session closed at once, so an open stream holds no database connection.
    The listener's principal is returned: each event is sent only to listeners whose jurisdiction
    holds it."""
    authorization, cookie = request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE)
    if authorization is None and cookie is None and api_settings().public_access == "sites":
        return PUBLIC_READER
    return authorise(authorization, Perm.read, cookie)


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
    app.dependency_overrides[internal_access] = as_principal


ReadAccess = Depends(read_access)
InternalAccess = Depends(internal_access)
PublicAccess = Depends(public_access)
Reader = Annotated[Principal, Depends(read_access)]
PublicReader = Annotated[Principal, Depends(public_access)]
Viewer = Annotated[Principal, Depends(require(Perm.read))]
Duty = Annotated[Principal, Depends(require(Perm.duty))]
Operator = Annotated[Principal, Depends(require(Perm.write))]
Admin = Annotated[Principal, Depends(require(Perm.admin))]
MaybeCaller = Annotated[Principal | None, Depends(optional_caller)]
