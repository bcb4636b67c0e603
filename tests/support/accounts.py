"""Users for tests: made through backend/accounts like the pages make them, with unique logins."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backend.accounts import users as accounts
from backend.core.principal import platform

PASSWORD = "Kuangshan#2026"


def make_user(engine: Engine, org: str, roles: list[str], name: str = "测试用户", prefix: str = "t") -> str:
    """A new user of organisation `org` (adcode or credit code) with PASSWORD; returns its login."""
    login = f"{prefix}{uuid.uuid4().hex[:10]}"
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test:setup"
        accounts.create_user(s, platform("test"), org_code=org, login=login, name=name, roles=roles, password=PASSWORD)
    return login


def sign_in(client: TestClient, login: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the session's CSRF token (from the account page)."""
    r = client.post("/login", data={"login": login, "password": password, "next": "/account"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/account")
    assert page.status_code == 200
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert found
    return found.group(1)


def browser_sign_in(browser: Any, base: str, login: str, next_: str = "/", password: str = PASSWORD) -> None:
    """Sign in through the login page in Chromium (no token left in the tab from other tests)."""
    browser.get(f"{base}/login?next={next_}")
    browser.execute_script("sessionStorage.clear()")
    browser.find_element(By.NAME, "login").send_keys(login)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()


def browser_sign_out(browser: Any) -> None:
    """Forget every cookie, so that the next test starts signed out."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
