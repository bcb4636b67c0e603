"""Debian's headless Chromium for the map and Swagger UI tests, and where their screenshots go."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.accounts import browser_sign_out
from tests.support.browser import CHROMEDRIVER, CHROMIUM
from tests.support.paths import ARTIFACTS


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Debian's headless Chromium, unable to resolve any host but the loopback address."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            raise RuntimeError(f"{path} is missing: install Debian's chromium and chromium-driver (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium: webdriver.Chrome) -> Iterator[webdriver.Chrome]:
    """The browser for one test: its log drained first, its page left blank after (an open map
    keeps its live stream open), and the user it signed in as signed out. Each test starts at the
    desktop size: one that failed at a phone's size must not leave the next on a phone's layout."""
    chromium.set_window_size(1400, 1000)
    chromium.get("about:blank")
    chromium.get_log("browser")
    yield chromium
    if chromium.current_url.startswith("http"):
        chromium.execute_script("sessionStorage.clear()")
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})  # signed out for the next test
    chromium.get("about:blank")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def phone(browser: webdriver.Chrome) -> Iterator[webdriver.Chrome]:
    """The browser as a phone (390 × 844 CSS pixels, touch), signed out before and after."""
    browser_sign_out(browser)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    )
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        browser_sign_out(browser)
