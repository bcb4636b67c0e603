"""The server-rendered pages: sign in and out, one's account, and user administration.

Every page extends maps/templates/base.html (the header names the user, their organisation and
退出). Forms post back with the session's CSRF token in a hidden `csrf_token` field (htmx sends
it as the X-CSRF-Token header, from the body's hx-headers); a page needing a signed-in user sends
the browser to /login first, and comes back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.accounts import users as accounts
from backend.accounts.users import SignedIn
from backend.api.deps import SESSION_COOKIE, SessionDep, cookie_secure, signed_in_user
from backend.api.errors import status_of
from backend.api.templating import templates
from backend.core.clock import CHINA_TZ
from backend.core.config import AccountSettings
from backend.core.jurisdiction import bind
from backend.core.principal import ROLE_ZH, Perm, Role, Scope, platform
from backend.domain.errors import DomainError
from backend.models import Organisation

router = APIRouter(tags=["pages"], include_in_schema=False)
Text = Annotated[str, Form(max_length=256)]
LoginPath = Annotated[str, Path(max_length=64)]
NO_STORE = {"Cache-Control": "no-store"}


def local_time(when: datetime | None) -> str | None:
    return when.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if when else None


def me_of(signed: SignedIn) -> dict[str, Any]:
    u, o = signed.user, signed.org
    roles = [Role(r) for r in u.roles]
    return {
        "login": u.login,
        "name": u.name,
        "mobile": u.mobile,
        "org_name": o.name,
        "roles_zh": [ROLE_ZH[r] for r in roles],
        "is_admin": Role.admin in roles,
        # The header's links: an enterprise user has its home page, a regulator's people the register.
        "is_enterprise": o.kind == "enterprise",
        "last_login": local_time(u.last_login_at),
        "password_changed": local_time(u.password_changed_at),
    }


def render(
    name: str, title: str, signed: SignedIn | None = None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page from maps/templates in the shared layout; never cached (it names the user)."""
    html = (
        templates()
        .get_template(name)
        .render(
            title=title,
            me=me_of(signed) if signed else None,
            csrf_token=signed.csrf_token if signed else None,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=NO_STORE)


def signed_in(request: Request, session: SessionDep) -> SignedIn | None:
    return signed_in_user(session, request.cookies.get(SESSION_COOKIE))


def _landing(target: str, org: Organisation | None) -> str:
    """Where a sign-in lands: `next`, except that an enterprise user sent to the map (the default
    "/") lands on its enterprise home page instead."""
    return "/enterprise" if target == "/" and org is not None and org.kind == "enterprise" else target


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never another host: //evil, /\\evil, https://…)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 512:
        return "/"
    return target


def to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)


def _csrf_refused(signed: SignedIn) -> HTMLResponse:
    return render(
        "error.html", "请求被拒绝", signed, 403, detail="页面已过期或请求来源不明（CSRF 校验失败），请刷新页面后重试。"
    )


def page_caller(
    request: Request,
    session: Session,
    *,
    regulators_only: bool = False,
    closed: str = "该页面仅对监管部门开放。",
    write: str | None = None,
    csrf: str | None = None,
) -> SignedIn | Response:
    """The signed-in user of a page, bound to the request's session (row-level security reads as
    them from here on); else the page that says why: the login page for nobody signed in, 403 with
    `closed` for an enterprise's user on a regulators' page, and for a form that changes something
    (`write`: the refusal's text) 403 for a wrong CSRF token (the form's field or X-CSRF-Token) or
    for a user without the write permission. Every page module asks this, and only this."""
    signed = signed_in(request, session)
    if signed is None:
        return to_login(request)
    p = signed.principal
    if regulators_only and p.scope not in (Scope.region, Scope.all):
        return render("error.html", "无权访问", signed, 403, detail=closed)
    if write is not None:
        if not accounts.csrf_matches(signed, csrf or request.headers.get("x-csrf-token")):
            return _csrf_refused(signed)
        if not p.can(Perm.write):
            return render("error.html", "无权操作", signed, 403, detail=write)
    bind(session, p)
    return signed


# --- sign in and out ---------------------------------------------------------------------------


def _login_page(next_: str, login: str = "", error: str | None = None, status_code: int = 200) -> HTMLResponse:
    s = AccountSettings()
    return render(
        "login.html",
        "登录",
        None,
        status_code,
        next=next_,
        login=login,
        error=error,
        threshold=s.lockout_threshold,
        lock_min=int(s.lockout_min),
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    signed = signed_in(request, session)
    if signed is not None:
        return RedirectResponse(_landing(_safe_next(next), signed.org), status_code=303)
    return _login_page(_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: SessionDep,
    login: Annotated[str, Form(max_length=64)] = "",
    password: Text = "",
    next: Text = "/",
) -> Response:
    """Sign in: a session cookie (HttpOnly, SameSite=Lax, Secure under https) and back to `next`.
    A sign-in posted from another site's page (its Origin says so) is refused: it would sign the
    browser in to someone else's account (login CSRF); there is no session yet to hold a token."""
    target = _safe_next(next)
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        return render("error.html", "请求被拒绝", None, 403, detail="登录请求来自其他网站，已拒绝。")
    bind(session, platform("sign-in"))  # nobody is known yet: the account is found as the platform
    outcome = accounts.login(
        session,
        login,
        password,
        address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    session.commit()
    if not outcome.ok:
        # One answer for an unknown login, a wrong password and a locked account: a different one
        # for a lock would tell an attacker which logins exist (five tries lock only a real one).
        s = AccountSettings()
        return _login_page(
            target,
            login,
            f"用户名或密码错误。连续 {s.lockout_threshold} 次错误后账户将锁定 {s.lockout_min} 分钟，"
            "请稍后再试或联系本单位管理员。",
            401,
        )
    org = session.get(Organisation, outcome.user.org_id) if outcome.user is not None else None
    response = RedirectResponse(_landing(target, org), status_code=303)
    s = AccountSettings()
    response.set_cookie(
        SESSION_COOKIE,
        outcome.cookie or "",
        max_age=int(s.session_max_h * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )
    return response


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, session: SessionDep, csrf_token: Text = "") -> Response:
    """Sign out: the server-side session ends (the cookie alone would not be enough) and the cookie
    is cleared."""
    signed = signed_in(request, session)
    if signed is not None:
        if not accounts.csrf_matches(signed, csrf_token or request.headers.get("x-csrf-token")):
            return _csrf_refused(signed)
        bind(session, signed.principal)
        accounts.logout(session, request.cookies[SESSION_COOKIE])
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request))
    return response


# --- one's own account -----------------------------------------------------------------------


def _account_page(signed: SignedIn, status_code: int = 200, **context: Any) -> HTMLResponse:
    s = AccountSettings()
    return render(
        "account.html",
        "我的账户",
        signed,
        status_code,
        min_length=s.password_min_length,
        min_classes=s.password_min_classes,
        **context,
    )


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: SessionDep) -> Response:
    signed = signed_in(request, session)
    return to_login(request) if signed is None else _account_page(signed)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    session: SessionDep,
    current_password: Text = "",
    password: Text = "",
    password2: Text = "",
    csrf_token: Text = "",
) -> Response:
    """Change one's own password (the current one first); one's other sessions end."""
    signed = signed_in(request, session)
    if signed is None:
        return to_login(request)
    if not accounts.csrf_matches(signed, csrf_token):
        return _csrf_refused(signed)
    if password != password2:
        return _account_page(signed, 422, error="两次输入的新密码不一致")
    bind(session, signed.principal)
    try:
        accounts.set_password(
            session,
            signed.principal,
            signed.user.login,
            password,
            current_password=current_password,
            keep_session=request.cookies[SESSION_COOKIE],
        )
    except DomainError as exc:
        session.rollback()
        return _account_page(signed, 422, error=str(exc))
    session.commit()
    return _account_page(signed, message="密码已修改")


# --- user administration ---------------------------------------------------------------------


def _admin(request: Request, session: SessionDep) -> SignedIn | Response:
    """The signed-in administrator, or the answer to give instead (sign in first, or 403)."""
    signed = signed_in(request, session)
    if signed is None:
        return to_login(request)
    if Role.admin.value not in signed.user.roles:
        return render("error.html", "无权访问", signed, 403, detail="用户管理仅对管理员开放。")
    bind(session, signed.principal)
    return signed


def _admin_page(
    session: SessionDep, signed: SignedIn, status_code: int = 200, form: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    caller = signed.principal
    rows = []
    now = datetime.now(UTC)
    for u, o in accounts.list_users(session, caller):
        allowed = accounts.roles_for(o)
        rows.append(
            {
                "login": u.login,
                "name": u.name,
                "mobile": u.mobile,
                "org_name": o.name,
                "roles": u.roles,
                "disabled": u.disabled,
                "locked": u.locked_until is not None and u.locked_until > now,
                "allowed_roles": [{"value": r.value, "zh": ROLE_ZH[r]} for r in allowed],
            }
        )
    orgs = session.execute(
        select(Organisation.code, Organisation.name)
        .where(*accounts.visible_orgs(caller))
        .order_by(Organisation.kind, Organisation.region_adcode, Organisation.code)
        .limit(2000)
    ).all()
    return render(
        "admin_users.html",
        "用户管理",
        signed,
        status_code,
        users=rows,
        orgs=[{"code": c, "name": n} for c, n in orgs],
        all_roles=[{"value": r.value, "zh": ROLE_ZH[r]} for r in accounts.USER_ROLES_ORDER],
        form=form or {},
        **context,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, session: SessionDep) -> Response:
    signed = _admin(request, session)
    return signed if isinstance(signed, Response) else _admin_page(session, signed)


Roles = Annotated[list[str] | None, Form(max_length=16)]


@router.post("/admin/users", response_class=HTMLResponse)
def admin_add_user(
    request: Request,
    session: SessionDep,
    org: Annotated[str, Form(max_length=32)] = "",
    login: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    mobile: Annotated[str, Form(max_length=20)] = "",
    roles: Roles = None,
    csrf_token: Text = "",
) -> Response:
    """Add a user within the administrator's jurisdiction; the initial password is shown once."""
    signed = _admin(request, session)
    if isinstance(signed, Response):
        return signed
    if not accounts.csrf_matches(signed, csrf_token):
        return _csrf_refused(signed)
    form = {"org": org, "login": login, "name": name, "mobile": mobile}
    try:
        user, password = accounts.create_user(
            session, signed.principal, org_code=org, login=login, name=name, roles=roles or [], mobile=mobile
        )
    except DomainError as exc:
        session.rollback()
        return _admin_page(session, signed, status_of(exc), form=form, error=str(exc))
    session.commit()
    return _admin_page(
        session,
        signed,
        message=f"已新增用户 {user.name}（{user.login}）",
        initial_login=user.login,
        initial_password=password,
    )


@router.post("/admin/users/{login}/roles", response_class=HTMLResponse)
def admin_set_roles(
    request: Request, session: SessionDep, login: LoginPath, roles: Roles = None, csrf_token: Text = ""
) -> Response:
    def change(signed: SignedIn) -> str:
        accounts.set_roles(session, signed.principal, login, roles or [])
        return f"已更新 {login} 的角色"

    return _admin_change(request, session, csrf_token, change)


@router.post("/admin/users/{login}/disabled", response_class=HTMLResponse)
def admin_set_disabled(
    request: Request, session: SessionDep, login: LoginPath, disabled: Text = "true", csrf_token: Text = ""
) -> Response:
    off = disabled != "false"

    def change(signed: SignedIn) -> str:
        accounts.set_disabled(session, signed.principal, login, off)
        return f"已{'停用' if off else '启用'} {login}"

    return _admin_change(request, session, csrf_token, change)


@router.post("/admin/users/{login}/password", response_class=HTMLResponse)
def admin_reset_password(request: Request, session: SessionDep, login: LoginPath, csrf_token: Text = "") -> Response:
    result: dict[str, str] = {}

    def change(signed: SignedIn) -> str:
        result["password"] = accounts.set_password(session, signed.principal, login)
        return f"已重置 {login} 的密码"

    return _admin_change(request, session, csrf_token, change, result)


def _admin_change(
    request: Request, session: SessionDep, csrf_token: str, change: Any, result: dict[str, str] | None = None
) -> Response:
    """One administrator's change to one user, then the page again with what happened."""
    signed = _admin(request, session)
    if isinstance(signed, Response):
        return signed
    if not accounts.csrf_matches(signed, csrf_token):
        return _csrf_refused(signed)
    try:
        message = change(signed)
    except DomainError as exc:
        session.rollback()
        return _admin_page(session, signed, status_of(exc), error=str(exc))
    session.commit()
    extra = {}
    if result and "password" in result:
        extra = {"initial_login": request.path_params["login"], "initial_password": result["password"]}
    return _admin_page(session, signed, message=message, **extra)
