"""The login, account and user administration pages in headless Chromium, at a phone's 390 px and
at desktop size: Chinese throughout, nothing wider than the screen, forms that work."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import Engine, text

from tests.support.accounts import PASSWORD, browser_sign_in, browser_sign_out, make_user
from tests.support.browser import fits_in_chinese
from tests.support.wait import wait_until

VIEWPORTS = {"phone": (390, 844, True), "desktop": (1400, 1000, False)}


@pytest.fixture(params=list(VIEWPORTS))
def page(request: pytest.FixtureRequest, browser: Any, artifacts) -> Iterator[tuple[Any, str]]:
    """The browser at one viewport, signed out before and after."""
    width, height, mobile = VIEWPORTS[request.param]
    browser_sign_out(browser)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    try:
        yield browser, request.param
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        browser_sign_out(browser)


def test_sign_in_account_and_sign_out(page: tuple[Any, str], live_server: str, seeded: Engine, artifacts) -> None:
    browser, size = page
    login = make_user(seeded, "220283", ["regulator"], name="李舒兰")
    browser.get(f"{live_server}/account")
    wait_until(lambda: "/login" in browser.current_url)  # sent to sign in first
    assert "登录" in browser.title and "用户名" in browser.page_source
    fits_in_chinese(browser)
    browser.find_element(By.NAME, "login").send_keys(login)
    browser.find_element(By.NAME, "password").send_keys("Wrong#Password1")
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    error = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".msg.err"))[0]
    assert error.text.startswith("用户名或密码错误。")
    browser.save_screenshot(str(artifacts / f"login-error-{size}.png"))
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait_until(lambda: browser.current_url.endswith("/account"))  # back where it was going
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "header.top"))  # the URL changes before the page loads
    header = browser.find_element(By.CSS_SELECTOR, "header.top").text
    assert "李舒兰" in header and "舒兰市应急管理局" in header and "退出" in header
    assert browser.find_element(By.ID, "me-org").text == "舒兰市应急管理局"
    assert "监管人员" in browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    fits_in_chinese(browser)
    browser.save_screenshot(str(artifacts / f"account-{size}.png"))
    # Change the password: a wrong current one is refused, then it works.
    form = browser.find_element(By.ID, "password-form")
    form.find_element(By.NAME, "current_password").send_keys("Not-the-one-9")
    form.find_element(By.NAME, "password").send_keys("Songhua#River42")
    form.find_element(By.NAME, "password2").send_keys("Songhua#River42")
    form.find_element(By.TAG_NAME, "button").click()
    assert wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".msg.err"))[0].text == "当前密码不正确"
    form = browser.find_element(By.ID, "password-form")
    form.find_element(By.NAME, "current_password").send_keys(PASSWORD)
    form.find_element(By.NAME, "password").send_keys("Songhua#River42")
    form.find_element(By.NAME, "password2").send_keys("Songhua#River42")
    form.find_element(By.TAG_NAME, "button").click()
    assert wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".msg.ok"))[0].text == "密码已修改"
    # 退出 ends the session; the account page then asks to sign in again.
    browser.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait_until(lambda: "/login" in browser.current_url)
    browser.get(f"{live_server}/account")
    wait_until(lambda: "/login" in browser.current_url)
    browser_sign_in(browser, live_server, login, "/account", password="Songhua#River42")
    wait_until(lambda: browser.current_url.endswith("/account"))


def test_a_county_admin_manages_the_countys_users(
    page: tuple[Any, str], live_server: str, seeded: Engine, artifacts
) -> None:
    browser, size = page
    admin = make_user(seeded, "220283", ["admin"], name="舒兰管理员")
    colleague = make_user(seeded, "220283", ["viewer"], name="吴同事")
    elsewhere = make_user(seeded, "220203", ["regulator"], name="龙潭区的人")
    browser_sign_in(browser, live_server, admin, "/admin/users")
    wait_until(lambda: browser.current_url.endswith("/admin/users"))
    wait_until(lambda: browser.find_elements(By.ID, "users"))  # the URL changes before the page loads
    table = browser.find_element(By.ID, "users").text
    assert "吴同事" in table and "龙潭区的人" not in table
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-login="{elsewhere}"]')
    fits_in_chinese(browser)
    browser.save_screenshot(str(artifacts / f"admin-users-{size}.png"))
    wait_until(lambda: browser.execute_script("return !!window.htmx"))
    browser.execute_script("window.keptAcrossChanges = true")  # htmx replaces <main>, not the page
    # Add a duty officer of the county: the initial password is shown once.
    new = f"n{uuid.uuid4().hex[:8]}"
    form = browser.find_element(By.ID, "add-user")
    form.find_element(By.NAME, "org").send_keys("220283")
    form.find_element(By.NAME, "name").send_keys("郑值班")
    form.find_element(By.NAME, "login").send_keys(new)
    form.find_element(By.NAME, "mobile").send_keys("13943215678")
    form.find_element(By.CSS_SELECTOR, 'input[name="roles"][value="duty"]').click()
    browser.execute_script("arguments[0].scrollIntoView()", form.find_element(By.TAG_NAME, "button"))
    form.find_element(By.TAG_NAME, "button").click()
    notice = wait_until(lambda: browser.find_elements(By.ID, "initial-password"))[0]
    assert new in notice.text and "仅显示一次" in notice.text
    with seeded.connect() as c:
        roles = c.scalar(text("SELECT roles FROM users WHERE login = :l"), {"l": new})
    assert roles == ["duty"]
    # Another county's organisation is refused, in Chinese.
    form = browser.find_element(By.ID, "add-user")
    form.find_element(By.NAME, "org").send_keys("220203")
    form.find_element(By.NAME, "name").send_keys("越权")
    form.find_element(By.NAME, "login").send_keys(f"x{new}")
    form.find_element(By.CSS_SELECTOR, 'input[name="roles"][value="viewer"]').click()
    form.find_element(By.TAG_NAME, "button").click()
    assert "没有编码为 220203 的单位" in wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".msg.err"))[0].text
    # Give the colleague the duty role, then disable them.
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-login="{colleague}"]')
    row.find_element(By.CSS_SELECTOR, 'input[name="roles"][value="duty"]').click()
    row.find_element(By.CSS_SELECTOR, "form.roles button").click()
    assert "已更新" in wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".msg.ok"))[0].text
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-login="{colleague}"]')
    row.find_element(By.CSS_SELECTOR, "td.actions form button.danger").click()
    state = f'tr[data-login="{colleague}"] td.state'  # read in one step: htmx may swap the row between two
    wait_until(
        lambda: browser.execute_script("return document.querySelector(arguments[0])?.innerText", state) == "已停用"
    )
    with seeded.connect() as c:
        roles, disabled = c.execute(text("SELECT roles, disabled FROM users WHERE login = :l"), {"l": colleague}).one()
    assert roles == ["viewer", "duty"] and disabled
    assert browser.execute_script("return window.keptAcrossChanges") is True
    fits_in_chinese(browser)


def test_user_administration_is_for_admins_only(page: tuple[Any, str], live_server: str, seeded: Engine) -> None:
    browser, _ = page
    browser.get(f"{live_server}/admin/users")
    wait_until(lambda: "/login" in browser.current_url)
    duty = make_user(seeded, "220283", ["duty"])
    browser_sign_in(browser, live_server, duty, "/admin/users")
    wait_until(lambda: "用户管理仅对管理员开放" in browser.page_source)
    assert browser.find_element(By.TAG_NAME, "h1").text == "无权访问"
    assert "用户管理" not in browser.find_element(By.CSS_SELECTOR, "header.top nav").text
    fits_in_chinese(browser)
