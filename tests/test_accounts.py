"""Accounts: argon2 hashes and the password policy, lockout and its window, session expiry, logout,
CSRF, cookie flags, the audit log, the users API within a jurisdiction, RLS on users, the CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from backend.accounts import users as accounts
from backend.accounts.passwords import generate_password, policy_problems
from backend.api.deps import SESSION_COOKIE
from backend.cli import app as cli
from backend.core.principal import Principal, Role, Scope, platform
from backend.models import AuditEntry, User, UserSession
from tests.support.accounts import PASSWORD, make_user, sign_in

runner = CliRunner()
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    """A client of its own: its cookie jar is not shared with the other tests' client."""
    with TestClient(app) as c:
        yield c


def _audit(engine: Engine, key: str) -> list[tuple[str, str, dict | None, dict | None]]:
    with Session(engine) as s:
        return [
            (e.action, e.actor, e.before, e.after)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.entity_key == key).order_by(AuditEntry.id))
        ]


def _login(engine: Engine, login: str, password: str, now: datetime) -> accounts.LoginOutcome:
    with Session(engine) as s, s.begin():
        return accounts.login(s, login, password, address="192.0.2.7", user_agent="pytest", now=now)


# --- passwords -------------------------------------------------------------------------------


def test_the_password_policy() -> None:
    assert policy_problems("Kuangshan#2026", "zhangsan") == []
    assert any("至少需要 10" in p for p in policy_problems("Ab1#", "x"))
    assert any("至少 3 类" in p for p in policy_problems("kuangshananquan", "x"))
    assert any("用户名" in p for p in policy_problems("Zhangsan#2026", "zhangsan"))
    assert any("常见" in p for p in policy_problems("Password123!", "x"))
    assert all(policy_problems(generate_password("zhangsan"), "zhangsan") == [] for _ in range(20))


def test_only_an_argon2_hash_is_stored_never_the_password(seeded: Engine) -> None:
    login = make_user(seeded, "220283", ["regulator"])
    with seeded.connect() as c:
        stored = c.scalar(text("SELECT password_hash FROM users WHERE login = :l"), {"l": login})
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    inserted = _audit(seeded, login)[0]
    assert inserted[0] == "insert" and "password_hash" not in inserted[3] and inserted[3]["roles"] == ["regulator"]
    with Session(seeded) as s, pytest.raises(accounts.Invalid):
        accounts.create_user(
            s, platform("t"), org_code="220283", login=f"w{login}", name="弱", roles=["viewer"], password="123456789"
        )


# --- lockout ---------------------------------------------------------------------------------


def test_lockout_after_five_failures_and_unlock_after_the_window(seeded: Engine) -> None:
    login = make_user(seeded, "220283", ["duty"])
    for i in range(4):
        outcome = _login(seeded, login, "wrong-Password-1", T0 + timedelta(seconds=i))
        assert not outcome.ok and outcome.locked_until is None
    fifth = _login(seeded, login, "wrong-Password-1", T0 + timedelta(seconds=5))
    assert fifth.locked_until == T0 + timedelta(seconds=5, minutes=15)
    # Locked: even the right password is refused until the lock ends, and that is recorded too.
    assert _login(seeded, login, PASSWORD, T0 + timedelta(minutes=10)).locked_until is not None
    assert _login(seeded, login, PASSWORD, T0 + timedelta(minutes=16)).ok
    actions = [a for a, *_ in _audit(seeded, login)]
    assert actions.count("login_failed") == 6 and actions.count("lockout") == 1 and actions[-1] == "login"
    failure = next(after for action, _, _, after in _audit(seeded, login) if action == "login_failed")
    assert failure["address"] == "192.0.2.7" and failure["reason"] == "password"


def test_failures_spread_beyond_the_window_do_not_lock(seeded: Engine) -> None:
    login = make_user(seeded, "220283", ["duty"])
    for i in range(8):  # one failure every 10 minutes: never 5 within 15 minutes
        assert _login(seeded, login, "wrong-Password-1", T0 + timedelta(minutes=10 * i)).locked_until is None
    assert _login(seeded, login, PASSWORD, T0 + timedelta(minutes=81)).ok


def test_an_unknown_login_and_a_disabled_user_fail_alike(seeded: Engine) -> None:
    assert not _login(seeded, "nobody-here", PASSWORD, T0).ok
    login = make_user(seeded, "220283", ["viewer"])
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test"
        accounts.set_disabled(s, platform("t"), login, True)
    assert not _login(seeded, login, PASSWORD, T0).ok
    assert _audit(seeded, login)[-1][3]["reason"] == "disabled"


# --- sessions --------------------------------------------------------------------------------


def test_a_session_ends_when_idle_and_at_its_absolute_expiry(seeded: Engine) -> None:
    login = make_user(seeded, "220283", ["viewer"])
    outcome = _login(seeded, login, PASSWORD, T0)
    assert outcome.cookie and outcome.csrf_token
    with Session(seeded) as s:
        stored = s.scalar(select(UserSession).where(UserSession.id == accounts.session_digest(outcome.cookie)))
        assert stored is not None and outcome.cookie not in stored.id  # only the digest is kept
        # Used every 25 minutes it lives on (idle limit 30 min) — but not beyond 12 hours.
        at = T0
        while at + timedelta(minutes=25) < T0 + timedelta(hours=12):
            at += timedelta(minutes=25)
            assert accounts.check_session(s, outcome.cookie, now=at) is not None, at
        assert accounts.check_session(s, outcome.cookie, now=T0 + timedelta(hours=12)) is None
    idle = _login(seeded, login, PASSWORD, T0)
    with Session(seeded) as s:
        assert accounts.check_session(s, idle.cookie or "", now=T0 + timedelta(minutes=29)) is not None
        assert accounts.check_session(s, idle.cookie or "", now=T0 + timedelta(minutes=29 + 31)) is None
        assert accounts.check_session(s, "not-a-session", now=T0) is None
    # A week after their expiry, the user's old sessions are cleared at the next sign-in.
    assert _login(seeded, login, PASSWORD, T0 + timedelta(days=8)).ok
    with Session(seeded) as s:
        user_id = s.scalar(select(User.id).where(User.login == login))
        assert s.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id)) == 1


def test_logout_revokes_the_session_server_side(web: TestClient, seeded: Engine) -> None:
    login = make_user(seeded, "220283", ["regulator"], name="李监管")
    csrf = sign_in(web, login)
    cookie = web.cookies.get(SESSION_COOKIE)
    me = web.get("/api/v1/me").json()
    assert me["actor"] == f"user:{login}" and me["scope"] == "region" and me["region"] == "220283"
    assert me["organisation"]["name"] == "舒兰市应急管理局" and me["login"] == login
    assert web.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert web.get("/api/v1/me").status_code == 401
    # The old cookie, replayed, is refused: the session ended on the server, not only in the browser.
    replay = web.get("/api/v1/me", cookies={SESSION_COOKIE: cookie})
    assert replay.status_code == 401
    assert [a for a, *_ in _audit(seeded, login)][-2:] == ["login", "logout"]


def test_the_session_cookie_flags(web: TestClient, seeded: Engine, app: FastAPI) -> None:
    login = make_user(seeded, "220283", ["viewer"])
    r = web.post("/login", data={"login": login, "password": PASSWORD}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie
    with TestClient(app, base_url="https://testserver") as secure:
        r = secure.post("/login", data={"login": login, "password": PASSWORD}, follow_redirects=False)
        assert "Secure" in r.headers["set-cookie"]
    elsewhere = {"Origin": "https://evil.example"}
    forged = web.post("/login", data={"login": login, "password": PASSWORD}, headers=elsewhere, follow_redirects=False)
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    here = {"Origin": "http://testserver"}
    assert web.post("/login", data={"login": login, "password": PASSWORD}, headers=here).status_code == 200
    wrong = web.post("/login", data={"login": login, "password": "nope"}, follow_redirects=False)
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text and "set-cookie" not in wrong.headers


def test_a_locked_account_answers_as_an_unknown_login_does(web: TestClient, seeded: Engine, monkeypatch) -> None:
    """Locking a real login after N tries must not tell an attacker that it exists: the answer is
    the one an unknown login gets (the lock is in the audit log, and the message says it can happen)."""
    monkeypatch.setenv("RISKMAP_LOCKOUT_THRESHOLD", "2")
    login = make_user(seeded, "220283", ["viewer"])
    unknown = f"nobody{uuid.uuid4().hex[:8]}"

    def page(name: str, password: str) -> tuple[int, str]:
        r = web.post("/login", data={"login": name, "password": password})
        text_ = r.text.replace(name, "LOGIN")  # the form gives the login back
        return r.status_code, text_

    for _ in range(2):
        assert page(login, "nope") == page(unknown, "nope")
    locked = page(login, PASSWORD)  # the right password, but locked
    assert locked == page(unknown, PASSWORD)
    assert locked[0] == 401 and "连续 2 次错误后账户将锁定" in locked[1]
    assert [a for a, *_ in _audit(seeded, login)][-2:] == ["lockout", "login_failed"]


# --- CSRF ------------------------------------------------------------------------------------


def test_csrf_is_required_for_changes_with_the_session_cookie(web: TestClient, seeded: Engine) -> None:
    admin = make_user(seeded, "220283", ["admin"], name="舒兰管理员")
    csrf = sign_in(web, admin)
    body = {"org": "220283", "login": f"c{uuid.uuid4().hex[:8]}", "name": "王值班", "roles": ["duty"]}
    r = web.post("/api/v1/users", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert web.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "forged-token"}).status_code == 403
    r = web.post("/api/v1/users", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["roles"] == ["duty"] and created["organisation"]["code"] == "220283"
    assert policy_problems(created["initial_password"], body["login"]) == []
    # A PATCH without the token changes nothing.
    patch = web.patch(f"/api/v1/users/{body['login']}", json={"roles": ["regulator"]})
    assert patch.status_code == 403
    assert web.get("/api/v1/users", params={"org": "220283"}).status_code == 200  # a read needs none
    users = {u["login"]: u for u in web.get("/api/v1/users").json()}
    assert users[body["login"]]["roles"] == ["duty"]
    # A form field does as well as the header; a form without it is refused.
    form = {"org": "220283", "login": f"f{uuid.uuid4().hex[:8]}", "name": "赵表单", "roles": ["viewer"]}
    assert web.post("/admin/users", data=form).status_code == 403
    assert web.post("/admin/users", data={**form, "csrf_token": csrf}).status_code == 200


def test_a_bearer_token_needs_no_csrf(web: TestClient, tokens: dict[Role, str]) -> None:
    body = {"org": "220283", "login": f"b{uuid.uuid4().hex[:8]}", "name": "钱令牌", "roles": ["viewer"]}
    r = web.post("/api/v1/users", json=body, headers={"Authorization": f"Bearer {tokens[Role.admin]}"})
    assert r.status_code == 201


# --- jurisdiction ----------------------------------------------------------------------------


def test_a_county_admin_acts_only_within_the_county(web: TestClient, seeded: Engine) -> None:
    admin = make_user(seeded, "220283", ["admin"])
    other = make_user(seeded, "220203", ["regulator"])  # 龙潭区
    csrf = sign_in(web, admin)
    h = {"X-CSRF-Token": csrf}
    outside = {"org": "220203", "login": f"o{uuid.uuid4().hex[:8]}", "name": "越权", "roles": ["viewer"]}
    assert web.post("/api/v1/users", json=outside, headers=h).status_code == 404
    province = {**outside, "org": "220000", "roles": ["admin"]}
    assert web.post("/api/v1/users", json=province, headers=h).status_code == 404
    assert web.patch(f"/api/v1/users/{other}", json={"roles": ["admin"]}, headers=h).status_code == 404
    assert web.patch(f"/api/v1/users/{other}", json={"disabled": True}, headers=h).status_code == 404
    listed = {u["organisation"]["code"] for u in web.get("/api/v1/users").json()}
    assert listed and all(code == "220283" or code.startswith("9") for code in listed)
    assert other not in {u["login"] for u in web.get("/api/v1/users").json()}
    # The page refuses the same way.
    r = web.post(f"/admin/users/{other}/roles", data={"roles": ["admin"], "csrf_token": csrf})
    assert r.status_code == 404 and "没有用户" in r.text
    with seeded.connect() as c:
        assert c.scalar(text("SELECT roles FROM users WHERE login = :l"), {"l": other}) == ["regulator"]
    # Roles must fit the organisation, and `operator` is for tokens only.
    bad = {**outside, "org": "220283", "roles": ["operator"]}
    assert web.post("/api/v1/users", json=bad, headers=h).status_code == 422
    enterprise = {**outside, "org": "220283", "roles": ["enterprise"]}
    assert web.post("/api/v1/users", json=enterprise, headers=h).status_code == 422


def test_role_changes_and_token_creation_are_audited(web: TestClient, seeded: Engine) -> None:
    admin = make_user(seeded, "220000", ["admin"])
    target = make_user(seeded, "222404", ["viewer"])
    csrf = sign_in(web, admin)
    r = web.patch(f"/api/v1/users/{target}", json={"roles": ["duty", "regulator"]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["roles"] == ["duty", "regulator"]
    change = _audit(seeded, target)[-1]
    assert change == ("update", f"user:{admin}", {"roles": ["viewer"]}, {"roles": ["duty", "regulator"]})
    r = runner.invoke(cli, ["token", "create", "--role", "viewer", "--name", "珲春接口", "--org", "222404"])
    assert r.exit_code == 0, r.output
    with seeded.connect() as c:
        token_id, org_code = c.execute(
            text(
                "SELECT t.id, o.code FROM api_tokens t JOIN organisations o ON o.id = t.org_id WHERE t.name = '珲春接口'"
            )
        ).one()
    assert org_code == "222404"
    assert _audit(seeded, str(token_id))[0][0] == "insert"
    me = web.get("/api/v1/me", headers={"Authorization": f"Bearer {r.output.strip()}"}).json()
    assert me["scope"] == "region" and me["region"] == "222404"
    assert runner.invoke(cli, ["token", "create", "--name", "x", "--org", "999999"]).exit_code == 2


def test_users_are_visible_where_their_organisation_is(seeded: Engine) -> None:
    """Row-level security on users, as a role that policies bind (not the owner, not a superuser)."""
    county = make_user(seeded, "220283", ["viewer"])
    elsewhere = make_user(seeded, "220203", ["viewer"])
    with seeded.connect() as c, c.begin():
        c.execute(text("DROP ROLE IF EXISTS riskmap_users_probe; CREATE ROLE riskmap_users_probe NOLOGIN"))
        c.execute(text("GRANT SELECT ON users, user_sessions TO riskmap_users_probe"))
    try:
        for scope, region, sees_county, sees_elsewhere in (
            ("region", "220283", True, False),
            ("region", "2202", True, True),
            ("region", "220102", False, False),
            ("all", "", True, True),
            ("public", "", False, False),
        ):
            with seeded.connect() as c, c.begin():
                c.execute(text("SET LOCAL ROLE riskmap_users_probe"))
                c.execute(
                    text("SELECT set_config('riskmap.scope', :s, true), set_config('riskmap.region', :r, true)"),
                    {"s": scope, "r": region},
                )
                seen = set(
                    c.scalars(text("SELECT login FROM users WHERE login IN (:a, :b)"), {"a": county, "b": elsewhere})
                )
                assert (county in seen, elsewhere in seen) == (sees_county, sees_elsewhere), (scope, region)
    finally:
        with seeded.connect() as c, c.begin():
            c.execute(
                text("REVOKE ALL ON users, user_sessions FROM riskmap_users_probe; DROP ROLE riskmap_users_probe")
            )


def test_a_users_principal_follows_the_organisation(seeded: Engine) -> None:
    with Session(seeded) as s:
        enterprise = s.execute(
            text("SELECT credit_code, id FROM enterprises WHERE region_adcode = '220283' LIMIT 1")
        ).one()
    login = make_user(seeded, enterprise.credit_code, ["enterprise"])
    outcome = _login(seeded, login, PASSWORD, datetime.now(UTC))
    with Session(seeded) as s:
        signed = accounts.check_session(s, outcome.cookie or "")
        assert signed is not None
        p = signed.principal
    assert p.scope is Scope.enterprise and p.enterprise_id == enterprise.id and p.roles == {Role.enterprise}
    assert accounts.may_see(Principal("x", "x", scope=Scope.region, region="2202"), signed.org)


# --- command line ----------------------------------------------------------------------------


def test_cli_user_add_list_roles_passwd_disable(seeded: Engine) -> None:
    login = f"cli{uuid.uuid4().hex[:8]}"
    r = runner.invoke(
        cli,
        [
            "user",
            "add",
            "--org",
            "220283",
            "--role",
            "regulator",
            "--name",
            "张三",
            "--login",
            login,
            "--mobile",
            "13943210000",
        ],
    )
    assert r.exit_code == 0, r.output
    password = r.output.split("password:")[1].split()[0]
    assert policy_problems(password, login) == []
    listed = runner.invoke(cli, ["user", "list", "--org", "220283"]).output
    assert login in listed and "张三" in listed and "舒兰市应急管理局" in listed and password not in listed
    assert _login(seeded, login, password, datetime.now(UTC)).ok
    assert runner.invoke(cli, ["user", "roles", login, "--role", "duty", "--role", "viewer"]).output.strip() == (
        f"{login}: viewer,duty"
    )
    new = runner.invoke(cli, ["user", "passwd", login, "--password-stdin"], input="Songhua-River-88\n")
    assert new.exit_code == 0 and "Songhua" not in new.output
    assert _login(seeded, login, "Songhua-River-88", datetime.now(UTC)).ok
    assert runner.invoke(cli, ["user", "disable", login]).exit_code == 0
    assert not _login(seeded, login, "Songhua-River-88", datetime.now(UTC)).ok
    assert "disabled" in runner.invoke(cli, ["user", "list", "--org", "220283"]).output
    dup = runner.invoke(cli, ["user", "add", "--org", "220283", "--role", "viewer", "--name", "重名", "--login", login])
    assert dup.exit_code == 2 and "已被使用" in dup.output
    weak = runner.invoke(
        cli,
        [
            "user",
            "add",
            "--org",
            "220283",
            "--role",
            "viewer",
            "--name",
            "弱",
            "--login",
            f"w{login}",
            "--password-stdin",
        ],
        input="password\n",
    )
    assert weak.exit_code == 2 and "至少需要" in weak.output


def test_demo_accounts_are_seeded_once(seeded: Engine, tmp_path) -> None:
    from backend.accounts.demo import how_to_sign_in, seed_demo_accounts

    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:demo"
        wanted, secrets_file = seed_demo_accounts(s, tmp_path)
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    with Session(seeded) as s:
        users = {u.login: u for u in s.scalars(select(User).where(User.login.in_([a.login for a in wanted])))}
    assert len(users) == len(wanted) >= 9 * 2 + 3 * 2 + 3 + 2
    assert users["jl-admin"].roles == ["admin"] and users["jg220283"].roles == ["regulator"]
    assert users["zb220200"].roles == ["duty"]
    assert sum(1 for a in wanted if a.roles == ("enterprise",)) >= 3
    before = secrets_file.read_text()
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:demo"
        again, _ = seed_demo_accounts(s, tmp_path)
    assert [a.login for a in again] == [a.login for a in wanted] and secrets_file.read_text() == before
    import json

    passwords = json.loads(before)
    assert _login(seeded, "jg220283", passwords["jg220283"], datetime.now(UTC)).ok
    note = how_to_sign_in("http://127.0.0.1:8000/", wanted, secrets_file)
    assert "http://127.0.0.1:8000/login" in note and "jg220283" in note and str(secrets_file) in note


def test_hostile_form_input_is_a_clear_4xx(web: TestClient, seeded: Engine) -> None:
    """Forms are not JSON (no strict parser in front): NUL bytes and junk get a 4xx, never a 500."""
    assert web.post("/login", data={"login": "adm\x00in", "password": "x\x00y"}).status_code == 401
    assert web.post("/login", data={"login": "x" * 5000, "password": "y"}).status_code == 422
    admin = make_user(seeded, "220283", ["admin"])
    csrf = sign_in(web, admin)
    form = {"org": "2202\x0083", "login": "nul-org", "name": "某", "roles": ["viewer"], "csrf_token": csrf}
    assert web.post("/admin/users", data=form).status_code == 404
    form = {**form, "org": "220283", "name": "某\x00人"}
    r = web.post("/admin/users", data=form)
    assert r.status_code == 422 and "控制字符" in r.text
    r = web.post("/admin/users", data={**form, "name": "某人", "roles": ["root"]})
    assert r.status_code == 422 and "未知的角色" in r.text
    r = web.post("/admin/users/no%20such/roles", data={"roles": ["viewer"], "csrf_token": csrf})
    assert r.status_code == 404
    r = web.patch("/api/v1/users/" + "x" * 80, json={"disabled": True}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422
