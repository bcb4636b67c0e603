"""The map page in Chromium: where the browser is, and how to know the map has drawn."""

from __future__ import annotations

from typing import Any

from tests.support.accounts import browser_sign_in
from tests.support.wait import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# For execute_async_script: resolves true once window.riskmap.ready has, or with the error.
MAP_READY = """
const done = arguments[arguments.length - 1];
const wait = () => window.riskmap && window.riskmap.ready
    ? window.riskmap.ready.then(() => done(true), e => done(String(e)))
    : setTimeout(wait, 50);
wait();
"""


def open_map(browser: Any, url: str, login: str | None = None) -> None:
    """Load the map page and wait until every layer has been drawn; with `login`, signed in as that
    user first, through the login page (site details need a login)."""
    if login is not None:
        base = url.split("/", 3)
        browser_sign_in(browser, "/".join(base[:3]), login, "/" + (base[3] if len(base) > 3 else ""))
        wait_until(lambda: "/login" not in browser.current_url)
    browser.get(url)
    assert browser.execute_async_script(MAP_READY) is True
