"""The map page in Chromium: where the browser is, and how to know the map has drawn."""

from __future__ import annotations

from typing import Any

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


def open_map(browser: Any, url: str, token: str | None = None) -> None:
    """Load the map page and wait until every layer has been drawn; with `token`, signed in with
    it first (site details need a login), as the page keeps it: in the tab's sessionStorage."""
    if token is not None:
        browser.get(url.rstrip("/") + "/static/riskmap.css")  # a page of the origin, to reach its storage
        browser.execute_script("sessionStorage.setItem('riskmapToken', arguments[0])", token)
    browser.get(url)
    assert browser.execute_async_script(MAP_READY) is True
