"""Account state, in one place: users (create, roles, password, disable), signing in with lockout,
signing out, and checking a browser session.

Every step that matters goes to the audit log: a user's insert and role or state changes through
the audited model (backend/core/audit.py; secrets excluded), and, as entries of their own,
`login`, `login_failed`, `lockout`, `logout` and `password_changed`. An administrator acts only
within their jurisdiction: a user or organisation outside it is "not found", never "forbidden",
so that nothing outside is told to exist.

Time comes in as `now` (default: the clock), so that lockout and expiry can be tested without
waiting.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from backend.accounts.passwords import (
    check_policy,
    generate_password,
    hash_password,
    verify_password,
    waste_a_verification,
)
from backend.core.audit import record
from backend.core.config import AccountSettings
from backend.core.principal import Principal, Role, Scope
from backend.domain.errors import Conflict, Invalid, NotFound
from backend.domain.kinds import region_prefix
from backend.models import Organisation, User, UserSession

LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
USER_ROLES_ORDER = [r for r in Role if r is not Role.operator]  # `operator` is for machine tokens only
USER_ROLES = frozenset(USER_ROLES_ORDER)
TOUCH_GRANULARITY = timedelta(minutes=1)  # a session's last_seen_at is written at most this often
SESSION_KEPT = timedelta(days=7)  # an ended session stays this long after its expiry (who signed in from where)
ANONYMOUS = "public"  # the audit actor of a failed sign-in: nobody is known yet


class OutsideJurisdiction(NotFound):
    """A user or organisation the caller may not see: told apart from a missing one by nobody."""


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def session_digest(raw: str) -> str:
    """Sessions are stored by the SHA-256 of the cookie's random value, never the value itself."""
    return hashlib.sha256(raw.encode()).hexdigest()


# --- who may see what ------------------------------------------------------------------------


def may_see(caller: Principal, org: Organisation) -> bool:
    """Whether `org` lies within the caller's jurisdiction."""
    if caller.scope is Scope.all:
        return True
    if caller.scope is Scope.region:
        return bool(caller.region) and org.region_adcode.startswith(caller.region)
    if caller.scope is Scope.enterprise:
        return caller.enterprise_id is not None and org.enterprise_id == caller.enterprise_id
    return False


def principal_of(user: User, org: Organisation) -> Principal:
    """A signed-in user: a bureau's or department's users act in its region, an enterprise's in
    that enterprise."""
    base = Principal(
        actor=f"user:{user.login}",
        name=user.name,
        roles=frozenset(Role(r) for r in user.roles),
        org_id=org.id,
        user_id=user.id,
    )
    if org.enterprise_id is not None:
        return replace(base, scope=Scope.enterprise, enterprise_id=org.enterprise_id)
    return replace(base, scope=Scope.region, region=region_prefix(org.region_adcode))


def organisation(session: Session, caller: Principal, code: str) -> Organisation:
    """An organisation by code (a bureau's adcode, an enterprise's credit code) within the caller's
    jurisdiction."""
    org = None if "\x00" in code else session.scalar(select(Organisation).where(Organisation.code == code.strip()))
    if org is None or not may_see(caller, org):
        raise OutsideJurisdiction(f"没有编码为 {code} 的单位", field="org")
    return org


def visible_orgs(caller: Principal) -> list[Any]:
    """WHERE clauses on organisations for the caller's jurisdiction."""
    if caller.scope is Scope.all:
        return []
    if caller.scope is Scope.region and caller.region:
        return [Organisation.region_adcode.like(f"{caller.region}%")]
    if caller.scope is Scope.enterprise and caller.enterprise_id is not None:
        return [Organisation.enterprise_id == caller.enterprise_id]
    return [Organisation.id.is_(None)]


def list_users(session: Session, caller: Principal, org_code: str | None = None) -> list[tuple[User, Organisation]]:
    """The users of the caller's jurisdiction (of one organisation when `org_code` is given)."""
    query = select(User, Organisation).join(Organisation, Organisation.id == User.org_id).where(*visible_orgs(caller))
    if org_code:
        query = query.where(Organisation.code == org_code)
    return [
        (u, o) for u, o in session.execute(query.order_by(Organisation.region_adcode, Organisation.code, User.login))
    ]


def get_user(session: Session, caller: Principal, login: str) -> tuple[User, Organisation]:
    if not LOGIN_RE.match(login):
        raise OutsideJurisdiction("没有该用户", field="login")
    found = session.execute(
        select(User, Organisation).join(Organisation, Organisation.id == User.org_id).where(User.login == login)
    ).first()
    if found is None or not may_see(caller, found[1]):
        raise OutsideJurisdiction(f"没有用户 {login}", field="login")
    return found[0], found[1]


# --- changing accounts -----------------------------------------------------------------------


def roles_for(org: Organisation) -> list[Role]:
    """The roles a user of `org` may hold: an enterprise's users are enterprise users only; a
    department's (水利, 气象 …: information sharing) read only."""
    if org.kind == "enterprise":
        return [Role.enterprise]
    if org.kind == "department":
        return [Role.viewer]
    return [r for r in USER_ROLES_ORDER if r is not Role.enterprise]


def _roles(roles: Iterable[str], org: Organisation) -> list[str]:
    """Roles a user of `org` may hold, in a stable order; refuses unknown ones and `operator`."""
    try:
        wanted = {Role(r) for r in roles}
    except ValueError:
        raise Invalid("未知的角色", field="roles") from None
    if not wanted:
        raise Invalid("至少需要一个角色", field="roles")
    if not wanted <= USER_ROLES:
        raise Invalid("operator 角色只用于程序令牌", field="roles")
    if org.kind == "enterprise" and wanted != {Role.enterprise}:
        raise Invalid("企业单位的用户只能是企业用户", field="roles")
    if org.kind != "enterprise" and Role.enterprise in wanted:
        raise Invalid("企业用户只能属于企业单位", field="roles")
    if not wanted <= set(roles_for(org)):
        raise Invalid("信息共享部门的用户只能只读（viewer）", field="roles")
    return [r.value for r in Role if r in wanted]


def create_user(
    session: Session,
    caller: Principal,
    *,
    org_code: str,
    login: str,
    name: str,
    roles: Iterable[str],
    mobile: str | None = None,
    password: str | None = None,
) -> tuple[User, str]:
    """A new user of an organisation within the caller's jurisdiction. Returns the user and its
    initial password (generated unless given), which is never stored."""
    org = organisation(session, caller, org_code)
    login = login.strip().lower()
    if not LOGIN_RE.match(login):
        raise Invalid("用户名为 3–64 位小写字母、数字、点、下划线或短横线，以字母或数字开头", field="login")
    name = name.strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise Invalid("姓名不能为空（最多 64 字，不含控制字符）", field="name")
    mobile = (mobile or "").strip() or None
    if mobile is not None and not MOBILE_RE.match(mobile):
        raise Invalid("手机号应为 11 位中国大陆手机号", field="mobile")
    if _login_taken(session, login):
        raise Conflict(f"用户名 {login} 已被使用")
    password = password if password is not None else generate_password(login)
    check_policy(password, login)
    user = User(
        org_id=org.id,
        login=login,
        name=name,
        mobile=mobile,
        password_hash=hash_password(password),
        roles=_roles(roles, org),
        disabled=False,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user, password


def _login_taken(session: Session, login: str) -> bool:
    """Logins are unique across the platform: looked up unbound, so a login taken in another
    jurisdiction is a clear 409 (not a unique-constraint failure the caller's scope hid)."""
    with Session(session.get_bind()) as lookup:
        return lookup.scalar(select(User.id).where(User.login == login)) is not None


def set_roles(session: Session, caller: Principal, login: str, roles: Iterable[str]) -> User:
    """Replace a user's roles (audited as an update of the user, before and after)."""
    user, org = get_user(session, caller, login)
    new = _roles(roles, org)
    if caller.user_id == user.id and Role.admin.value not in new:
        raise Conflict("不能取消自己的管理员角色")
    user.roles = new
    session.flush()
    return user


def set_disabled(session: Session, caller: Principal, login: str, disabled: bool, now: datetime | None = None) -> User:
    """Disable (or enable again) a user; disabling ends every session of theirs at once."""
    user, _ = get_user(session, caller, login)
    if caller.user_id == user.id and disabled:
        raise Conflict("不能停用自己的账户")
    user.disabled = disabled
    if disabled:
        revoke_sessions(session, user.id, now=now)
    else:
        user.failed_logins, user.failed_since, user.locked_until = 0, None, None
    session.flush()
    return user


def set_password(
    session: Session,
    caller: Principal,
    login: str,
    new_password: str | None = None,
    *,
    current_password: str | None = None,
    keep_session: str | None = None,
    now: datetime | None = None,
) -> str:
    """Change a password: one's own (the current password must be given) or, by an administrator,
    anyone's within the jurisdiction (a reset: generated unless given). Every other session of the
    user ends. Returns the new password."""
    user, _ = get_user(session, caller, login)
    own = caller.user_id == user.id
    if own and (current_password is None or not verify_password(current_password, user.password_hash)[0]):
        raise Invalid("当前密码不正确", field="current_password")
    new_password = new_password if new_password is not None else generate_password(user.login)
    check_policy(new_password, user.login)
    if verify_password(new_password, user.password_hash)[0]:
        raise Invalid("新密码不能与当前密码相同", field="password")
    at = _now(now)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = at
    user.failed_logins, user.failed_since, user.locked_until = 0, None, None
    revoke_sessions(session, user.id, keep=keep_session, now=at)
    reset = caller.user_id != user.id
    record(session, "password_changed", "users", user.login, {"by": caller.actor, "reset": reset})
    session.flush()
    return new_password


def revoke_sessions(session: Session, user_id: int, keep: str | None = None, now: datetime | None = None) -> None:
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != session_digest(keep))
    session.execute(query.values(revoked_at=_now(now)))


# --- signing in and out ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoginOutcome:
    """What a sign-in attempt came to: a session (its cookie value and CSRF token), or a refusal
    (`locked_until` set when the account is locked)."""

    user: User | None = None
    cookie: str | None = None
    csrf_token: str | None = None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.cookie is not None


def login(
    session: Session,
    login_name: str,
    password: str,
    *,
    address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> LoginOutcome:
    """Check a login and password; on success open a session. The caller commits whatever the
    outcome: failures and lockouts are recorded (the counter, and the audit log)."""
    s = AccountSettings()
    at = _now(now)
    # A NUL byte (PostgreSQL stores none) can match no login: refused like an unknown one.
    login_name = login_name.strip().lower()[:64].replace("\x00", "")
    where = {"address": address, "user_agent": (user_agent or "")[:256] or None}
    user = session.scalar(select(User).where(User.login == login_name).with_for_update()) if login_name else None
    session.info["actor"] = ANONYMOUS
    if user is None:
        waste_a_verification(password)
        record(session, "login_failed", "users", login_name or "-", {**where, "reason": "unknown"})
        return LoginOutcome()
    if user.locked_until is not None and user.locked_until > at:
        waste_a_verification(password)  # as long as any other refusal
        record(session, "login_failed", "users", user.login, {**where, "reason": "locked"})
        return LoginOutcome(locked_until=user.locked_until)
    matches, rehashed = verify_password(password, user.password_hash)
    if not matches or user.disabled:
        reason = "disabled" if matches else "password"
        if not matches:
            window = timedelta(minutes=s.lockout_window_min)
            if user.failed_since is None or at - user.failed_since > window:
                user.failed_logins, user.failed_since = 0, at
            user.failed_logins += 1
        record(session, "login_failed", "users", user.login, {**where, "reason": reason})
        if user.failed_logins >= s.lockout_threshold:
            user.locked_until = at + timedelta(minutes=s.lockout_min)
            user.failed_logins, user.failed_since = 0, None
            record(session, "lockout", "users", user.login, {**where, "until": user.locked_until.isoformat()})
            session.flush()
            return LoginOutcome(locked_until=user.locked_until)
        session.flush()
        return LoginOutcome()
    session.info["actor"] = f"user:{user.login}"
    if rehashed:
        user.password_hash = rehashed
    user.failed_logins, user.failed_since, user.locked_until = 0, None, None
    user.last_login_at = at
    # Sessions long over are of no more use: each sign-in clears the user's own.
    session.execute(
        delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at < at - SESSION_KEPT)
    )
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        UserSession(
            id=session_digest(cookie),
            user_id=user.id,
            csrf_token=csrf,
            created_at=at,
            last_seen_at=at,
            idle_expires_at=min(at + timedelta(minutes=s.session_idle_min), at + timedelta(hours=s.session_max_h)),
            expires_at=at + timedelta(hours=s.session_max_h),
            client_address=(address or "")[:64] or None,
            user_agent=where["user_agent"],
        )
    )
    record(session, "login", "users", user.login, where)
    session.flush()
    return LoginOutcome(user=user, cookie=cookie, csrf_token=csrf)


@dataclass(frozen=True)
class SignedIn:
    """A valid browser session: who, their organisation, and the session's CSRF token."""

    user: User
    org: Organisation
    session_id: str
    csrf_token: str

    @property
    def principal(self) -> Principal:
        return principal_of(self.user, self.org)


def check_session(session: Session, cookie: str, now: datetime | None = None) -> SignedIn | None:
    """The session a cookie names, if it is still valid (not revoked, idle or past its absolute
    expiry, its user not disabled); its idle expiry moves on, written at most once a minute in a
    short transaction of its own (bookkeeping, not a change to audit)."""
    if not cookie or len(cookie) > 128:
        return None
    at = _now(now)
    found = session.execute(
        select(UserSession, User, Organisation)
        .join(User, User.id == UserSession.user_id)
        .join(Organisation, Organisation.id == User.org_id)
        .where(UserSession.id == session_digest(cookie))
        .execution_options(populate_existing=True)  # the touch below is written by another connection
    ).first()
    if found is None:
        return None
    us, user, org = found
    if us.revoked_at is not None or at >= us.idle_expires_at or at >= us.expires_at or user.disabled:
        return None
    if at - us.last_seen_at > TOUCH_GRANULARITY:
        idle = min(at + timedelta(minutes=AccountSettings().session_idle_min), us.expires_at)
        with session.get_bind().begin() as conn:
            conn.execute(
                update(UserSession).where(UserSession.id == us.id).values(last_seen_at=at, idle_expires_at=idle)
            )
    return SignedIn(user=user, org=org, session_id=us.id, csrf_token=us.csrf_token)


def csrf_matches(signed_in: SignedIn, presented: str | None) -> bool:
    """The CSRF token sent with an unsafe request against the session's own (constant time)."""
    return bool(presented) and hmac.compare_digest(signed_in.csrf_token.encode(), (presented or "").encode())


def logout(session: Session, cookie: str, now: datetime | None = None) -> bool:
    """End the session a cookie names; False when there was none to end."""
    found = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == session_digest(cookie), UserSession.revoked_at.is_(None))
    ).first()
    if found is None:
        return False
    us, user = found
    us.revoked_at = _now(now)
    session.info["actor"] = f"user:{user.login}"
    record(session, "logout", "users", user.login, {})
    session.flush()
    return True
