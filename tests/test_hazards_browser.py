"""One 重大隐患 walked through the pages in headless Chromium, from the enterprise's self-report to
销号 after the supervising bureau's on-site acceptance, on a 390 px wide screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from backend.models import Enterprise, HazardEvent, HiddenHazard
from tests.support.accounts import browser_sign_in, browser_sign_out, make_user
from tests.support.browser import MAP_READY
from tests.support.hazards import PNG
from tests.support.wait import wait_until


def _site(seeded: Engine) -> dict[str, Any]:
    with Session(seeded) as s:
        row = s.execute(
            text("""
            SELECT s.id, s.code, s.enterprise_id, s.region_adcode,
                   (SELECT id FROM organisations o WHERE o.enterprise_id = s.enterprise_id) eorg,
                   (SELECT id FROM organisations o WHERE o.kind = 'bureau' AND o.code = s.region_adcode) corg
            FROM sites s JOIN enterprises e ON e.id = s.enterprise_id
            WHERE s.kind = 'hazchem' AND e.status = 'operating'
              AND NOT EXISTS (SELECT 1 FROM hidden_hazards h WHERE h.site_id = s.id)
            ORDER BY s.id DESC LIMIT 1""")
        ).one()
    with Session(seeded) as s:
        credit = s.scalar(select(Enterprise.credit_code).where(Enterprise.id == row.enterprise_id))
    own = make_user(seeded, str(credit), ["enterprise"], name="企业安全负责人")
    county = make_user(seeded, row.region_adcode, ["regulator", "duty"], name="县局监管员")
    return {"row": row, "own": own, "county": county}


def _as(browser: Any, base: str, login: str, path: str) -> None:
    """Sign out whoever is signed in, and sign in as `login` on its way to `path`."""
    browser_sign_out(browser)
    browser_sign_in(browser, base, login, path)
    wait_until(lambda: browser.current_url == base + path)


def _step(browser: Any, name: str, fields: dict[str, str] | None = None) -> None:
    """Fill the form of transition `name` and submit it; wait for its event in the timeline."""
    form = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f"form[data-step={name}]"))[0]
    for field, value in (fields or {}).items():
        el = form.find_element(By.NAME, field)
        if el.get_attribute("type") in ("date", "checkbox"):
            browser.execute_script(
                "if (arguments[0].type === 'checkbox') { arguments[0].checked = true; } else { arguments[0].value = arguments[1]; }",
                el,
                value,
            )
        else:
            el.send_keys(value)
    count = len(browser.find_elements(By.CSS_SELECTOR, "#timeline li"))
    form.find_element(By.CSS_SELECTOR, "button").click()
    error = browser.find_element(By.ID, "error")
    wait_until(
        lambda: (
            len(browser.find_elements(By.CSS_SELECTOR, "#timeline li")) > count or error.get_attribute("hidden") is None
        )
    )
    assert error.get_attribute("hidden") is not None, f"{name}: {error.text}"


def test_a_major_hazard_from_self_report_to_closed_in_the_browser(
    browser: Any, live_server: str, seeded: Engine, session: Session, artifacts: Path, tmp_path: Path
) -> None:
    ctx = _site(seeded)
    row = ctx["row"]
    browser.set_window_size(390, 844)
    browser.get(live_server + "/hazards/new")
    # not signed in: the page sends the browser to the login page, which brings it back
    wait_until(lambda: "/login?next=" in browser.current_url)
    _as(browser, live_server, ctx["own"], "/hazards/new")
    form = browser.find_element(By.ID, "report")
    form.find_element(By.NAME, "site").send_keys(row.code)
    form.find_element(By.NAME, "title").click()  # leaving the site field loads its criteria
    form.find_element(By.NAME, "title").send_keys("液氯充装未使用万向管道充装系统")
    form.find_element(By.CSS_SELECTOR, "input[name=grade][value=major]").click()
    picker = Select(form.find_element(By.ID, "criterion"))
    wait_until(lambda: len(picker.options) > 10)
    assert all("危险化学品" in o.text or "监管部门" in o.text for o in picker.options)
    picker.select_by_value("hazchem:七")
    deadline = (datetime.now(UTC) + timedelta(days=40)).astimezone().strftime("%Y-%m-%d")
    browser.execute_script("arguments[0].value = arguments[1];", form.find_element(By.NAME, "deadline"), deadline)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(lambda: "/hazards/" in browser.current_url and "new" not in browser.current_url)
    hid = int(browser.current_url.rsplit("/", 1)[1])
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#timeline li[data-event=reported]"))
    assert "重大隐患" in browser.find_element(By.ID, "facts").text
    assert "安监总管三〔2017〕121号" in browser.find_element(By.ID, "facts").text

    # the enterprise's safety lead confirms its own report; it may not supervise nor accept
    _step(browser, "confirm", {"reason": "安全负责人现场确认"})
    assert not browser.find_elements(By.CSS_SELECTOR, "form[data-step=supervise]")

    # the county bureau puts it under 挂牌督办 with 停产停业
    _as(browser, live_server, ctx["county"], f"/hazards/{hid}")
    _step(
        browser, "supervise", {"order_no": "舒应急督〔2026〕1号", "deadline": deadline, "interim_measures": "suspend"}
    )
    assert "停产停业" in browser.find_element(By.ID, "facts").text
    session.expire_all()
    assert session.get(Enterprise, row.enterprise_id).status == "suspended"  # type: ignore[union-attr]

    # the map's hazard layer shows it to the bureau: red (重大), outlined only when overdue
    browser.set_window_size(1400, 1000)
    _as(browser, live_server, ctx["county"], "/")
    assert browser.execute_async_script(MAP_READY) is True
    shown = browser.execute_script("return window.riskmap.hazards.filter(h => h.id === arguments[0]);", hid)
    assert shown == [
        {
            "id": hid,
            "title": "液氯充装未使用万向管道充装系统",
            "major": True,
            "overdue": False,
            "state_zh": "已确认",
            "site": row.code,
        }
    ]
    assert "隐患（红：重大" in browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers").text
    browser.set_window_size(390, 844)

    # the enterprise plans, rectifies and submits with a photo
    _as(browser, live_server, ctx["own"], f"/hazards/{hid}")
    _step(
        browser,
        "plan",
        {"measures": "改用万向管道充装系统", "funds_yuan": "260000", "responsible": "王工", "deadline": deadline},
    )
    _step(browser, "start")
    photo = tmp_path / "整改后.png"
    photo.write_bytes(PNG)
    browser.find_element(By.ID, "file").send_keys(str(photo))
    browser.find_element(By.CSS_SELECTOR, "#upload button").click()
    wait_until(lambda: "整改后.png" in browser.find_element(By.ID, "files").text)
    _step(browser, "submit", {"reason": "已完成改造"})
    assert not browser.find_elements(By.CSS_SELECTOR, "form[data-step=accept]")  # never its own

    # the supervising bureau accepts on site: 销号
    _as(browser, live_server, ctx["county"], f"/hazards/{hid}")
    today = datetime.now(UTC).astimezone().strftime("%Y-%m-%d")
    _step(browser, "accept", {"inspectors": "周建国、吴海燕", "accepted_on": today, "reason": "现场核查合格"})
    assert "已销号" in browser.find_element(By.ID, "facts").text
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    browser.save_screenshot(str(artifacts / "hazard-closed-390.png"))

    session.expire_all()
    hazard = session.get(HiddenHazard, hid)
    assert hazard is not None and (hazard.state, hazard.inspectors) == ("closed", "周建国、吴海燕")
    assert session.get(Enterprise, row.enterprise_id).status == "operating"  # type: ignore[union-attr]
    events = session.scalars(select(HazardEvent.event).where(HazardEvent.hazard_id == hid).order_by(HazardEvent.id))
    assert list(events) == ["reported", "confirmed", "supervised", "planned", "started", "submitted", "accepted"]

    # the list shows it, with its filters
    browser.get(f"{live_server}/hazards")
    Select(browser.find_element(By.NAME, "grade")).select_by_value("major")
    browser.find_element(By.CSS_SELECTOR, "#filters button").click()
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f".card[data-id='{hid}']"))
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    browser.set_window_size(1400, 1000)
