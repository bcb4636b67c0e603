"""The map page in Chromium: where the browser is, and how to know the map has drawn."""

from __future__ import annotations

import re
from typing import Any

from selenium.webdriver.common.by import By

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


# Words that must never be visible on a page (every visible word is Chinese) nor leak from a
# template (None, undefined …).
ENGLISH = re.compile(
    r"\b(?:Login|Password|Logout|Sign|Account|Users?|Admin|Submit|Error|Start|Finding|Report|Planned|Done"
    r"|None|null|undefined)\b"
)


def fits_in_chinese(browser: Any) -> None:
    """Nothing wider than the window (no sideways scrolling of the page) and no English on it."""
    widths = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    visible = browser.find_element(By.TAG_NAME, "body").text
    assert not ENGLISH.search(visible), ENGLISH.search(visible)
