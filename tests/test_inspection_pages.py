"""The inspection pages: an inspection worked through on a 390 px phone in headless Chromium, from
the new-inspection form to completion (checklist, a finding with a photo from the camera input, the
finding turned into a hidden hazard, 责令停产整顿 suspending the enterprise), the same page on a
desktop, another county's inspection as 未找到; and, over HTTP, a viewer's read-only page, an
enterprise refused, a refused answer keeping what was typed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.hazards import files
from backend.models import HazardFile, HiddenHazard
from tests.support.accounts import browser_sign_in, make_user, sign_in
from tests.support.browser import fits_in_chinese
from tests.support.hazards import PNG
from tests.support.wait import wait_until


@dataclass
class Place:
    site: str
    site_id: int
    enterprise_id: int
    region: str
    team: list[str]
    names: list[str]


def _place(seeded: Engine, kind: str, *, not_region: str = "") -> Place:
    """An operating site of `kind` whose county has two inspectors free of conflicts with it."""
    with Session(seeded) as s:
        row = s.execute(
            text("""
            SELECT s.id, s.code, s.enterprise_id, s.region_adcode, e.credit_code FROM sites s
            JOIN enterprises e ON e.id = s.enterprise_id
            WHERE s.kind = :k AND e.status = 'operating' AND s.region_adcode NOT LIKE :nr
              AND (SELECT count(*) FROM inspectors i WHERE i.region_adcode = s.region_adcode AND i.active
                   AND NOT e.credit_code = ANY(i.conflicts)) >= 2
            ORDER BY s.id DESC LIMIT 1"""),
            {"k": kind, "nr": (not_region[:4] + "%") if not_region else "-"},
        ).one()
        team = s.execute(
            text(
                "SELECT certificate_no, name FROM inspectors WHERE region_adcode = :r AND active "
                "AND NOT :c = ANY(conflicts) ORDER BY region_adcode, name LIMIT 2"
            ),
            {"r": row.region_adcode, "c": row.credit_code},
        ).all()
    return Place(row.code, row.id, row.enterprise_id, row.region_adcode, [t[0] for t in team], [t[1] for t in team])


@pytest.fixture
def place(seeded: Engine, client: TestClient, tokens: dict[Role, str]) -> Iterator[Place]:
    """A tailings pond to inspect; its enterprise's status and its hazards put back afterwards."""
    p = _place(seeded, "tailings_pond")
    yield p
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test"
        s.execute(text("UPDATE enterprises SET status = 'operating' WHERE id = :e"), {"e": p.enterprise_id})
        for h in s.scalars(select(HiddenHazard).where(HiddenHazard.site_id == p.site_id)):
            s.delete(h)
    client.post("/api/v1/risk/regrade", headers={"Authorization": f"Bearer {tokens[Role.operator]}"})


def _text(browser: Any, css: str) -> str:
    """An element's text read in the page (htmx may swap it between finding and reading it)."""
    return browser.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css)


def _item(browser: Any, item: str) -> Any:
    return browser.find_element(By.ID, f"item-{item}")


def _answer(browser: Any, item: str, result: str, note: str = "") -> None:
    """Tap a choice (and type a note): htmx saves the item and swaps it in, saying so."""
    if note:
        field = _item(browser, item).find_element(By.NAME, "note")
        field.send_keys(note)
    _item(browser, item).find_element(By.CSS_SELECTOR, f"label.choice.{result}").click()
    # the saved item, answered (not the one it replaces, which htmx keeps a moment while swapping)
    wait_until(lambda: _text(browser, f"#item-{item}.answered.{result}:not(.htmx-swapping) .saved"))


def _submit(browser: Any, form_css: str) -> None:
    browser.find_element(By.CSS_SELECTOR, f"{form_css} button[type=submit]").click()


def _error_near(browser: Any, form_css: str) -> str:
    return wait_until(lambda: _text(browser, f"{form_css} .field-err"))


def test_a_regulator_works_an_inspection_through_on_a_phone(
    phone: Any,
    live_server: str,
    seeded: Engine,
    place: Place,
    client: TestClient,
    tokens: dict[Role, str],
    artifacts: Path,
    tmp_path: Path,
) -> None:
    login = make_user(seeded, place.region, ["regulator"], name="县局执法员")
    browser_sign_in(phone, live_server, login, "/inspections/new")
    wait_until(lambda: phone.find_elements(By.ID, "new-inspection"))
    assert "检查记录" in [a.text for a in phone.find_elements(By.CSS_SELECTOR, "header.top nav > a")]
    fits_in_chinese(phone)
    form = "#new-inspection"
    Select(phone.find_element(By.NAME, "origin")).select_by_value("report_12350")
    phone.find_element(By.NAME, "origin_ref").send_keys("12350-2026-0815")
    phone.find_element(By.NAME, "site").send_keys(place.site)
    phone.find_element(By.NAME, "note").send_keys("群众举报尾矿库夜间违规排放")
    phone.find_element(By.CSS_SELECTOR, f'input[name=inspectors][value="{place.team[0]}"]').click()
    _submit(phone, form)
    # one inspector is not enough: the reason next to the list, and what was typed is still there
    assert "至少需要 2 名执法人员" in _error_near(phone, "#inspectors")
    assert phone.find_element(By.NAME, "site").get_attribute("value") == place.site
    assert phone.find_element(By.NAME, "origin_ref").get_attribute("value") == "12350-2026-0815"
    assert phone.find_element(By.CSS_SELECTOR, f'input[value="{place.team[0]}"]').is_selected()
    phone.find_element(By.CSS_SELECTOR, f'input[name=inspectors][value="{place.team[1]}"]').click()
    _submit(phone, form)
    wait_until(lambda: re.search(r"/inspections/\d+", phone.current_url) and phone.find_elements(By.ID, "start"))
    iid = int(re.search(r"/inspections/(\d+)", phone.current_url).group(1))  # type: ignore[union-attr]
    assert phone.find_element(By.ID, "state").text == "待检查"
    assert all(n in phone.find_element(By.ID, "summary").text for n in place.names)

    _submit(phone, "#start")
    wait_until(lambda: _text(phone, "#state") == "检查中")
    items = [li.get_attribute("data-item") for li in phone.find_elements(By.CSS_SELECTOR, "#checklist li.item")]
    assert len(items) >= 3
    heights = phone.execute_script(
        "return [...document.querySelectorAll('.choice span, button.big')].map(e => e.getBoundingClientRect().height)"
    )
    assert min(heights) >= 44, heights  # thumb-sized
    _answer(phone, items[0], "finding", "干滩长度不足")
    for item in items[1:-1]:
        _answer(phone, item, "ok")
    # not every item answered: completing is refused, saying which
    _submit(phone, "#complete")
    assert items[-1] in _error_near(phone, "#complete")

    # a finding with a photo from the camera input
    photo = tmp_path / "干滩.png"
    photo.write_bytes(PNG)
    phone.find_element(By.CSS_SELECTOR, "#add-finding textarea[name=title]").send_keys("尾矿库干滩长度不满足设计要求")
    Select(phone.find_element(By.CSS_SELECTOR, "#add-finding select[name=item]")).select_by_value(items[0])
    camera = phone.find_element(By.CSS_SELECTOR, "#add-finding input[type=file]")
    assert camera.get_attribute("accept") == "image/*" and camera.get_attribute("capture") == "environment"
    assert camera.get_attribute("multiple") is not None
    camera.send_keys(str(photo))
    _submit(phone, "#add-finding")
    img = wait_until(lambda: phone.find_elements(By.CSS_SELECTOR, 'ol.findings li[data-index="0"] .photos img'))[0]
    wait_until(lambda: phone.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img))
    assert phone.find_element(By.CSS_SELECTOR, ".msg.ok").text == "已记录问题"

    # the finding becomes a hidden hazard in one step, its photo with it
    _submit(phone, 'ol.findings li[data-index="0"] form.to-hazard')
    link = wait_until(lambda: phone.find_elements(By.CSS_SELECTOR, ".hazard-link a"))[0]
    hazard_id = int(link.get_attribute("href").rsplit("/", 1)[1])
    with Session(seeded) as s:
        carried = s.scalars(select(HazardFile.sha256).where(HazardFile.hazard_id == hazard_id)).all()
    assert carried == [files.check(PNG).digest]

    # enforcement: a fine without its amount is refused next to the amount, the rest kept
    suffix = uuid.uuid4().hex[:6]
    Select(phone.find_element(By.CSS_SELECTOR, "#decide select[name=kind]")).select_by_value("fine")
    phone.find_element(By.CSS_SELECTOR, "#decide input[name=document_no]").send_keys(f"（测）应急罚〔2026〕{suffix}号")
    _submit(phone, "#decide")
    assert "罚款须填写金额" in _error_near(phone, "#decide")
    assert Select(phone.find_element(By.CSS_SELECTOR, "#decide select[name=kind]")).first_selected_option.text == "罚款"
    kept = phone.find_element(By.CSS_SELECTOR, "#decide input[name=document_no]")
    assert kept.get_attribute("value") == f"（测）应急罚〔2026〕{suffix}号"
    Select(phone.find_element(By.CSS_SELECTOR, "#decide select[name=kind]")).select_by_value(
        "suspend_for_rectification"
    )
    kept.clear()
    kept.send_keys(f"（测）应急责停〔2026〕{suffix}号")
    _submit(phone, "#decide")
    wait_until(lambda: "责令停产整顿" in _text(phone, "#actions ul.rows"))
    status = phone.find_element(By.ID, "enterprise-status")
    assert status.get_attribute("data-status") == "suspended" and status.text == "停产"
    with Session(seeded) as s:
        assert s.scalar(text("SELECT status FROM enterprises WHERE id = :e"), {"e": place.enterprise_id}) == (
            "suspended"
        )

    _answer(phone, items[-1], "na")
    fits_in_chinese(phone)
    phone.save_screenshot(str(artifacts / "inspection-phone.png"))
    _submit(phone, "#complete")
    wait_until(lambda: _text(phone, "#state") == "已完成")
    assert not phone.find_elements(By.CSS_SELECTOR, "#checklist form")  # the record is now fixed
    assert phone.find_elements(By.CSS_SELECTOR, ".hazard-link a")
    # an answer that is not a page (here the API's JSON refusal) is not swapped in: the reason is shown
    phone.execute_script(
        "htmx.ajax('POST', arguments[0], {source: 'main', target: 'main'})", f"/api/v1/inspections/{iid}/start"
    )
    assert re.fullmatch(r"操作未完成（4\d\d），请稍后重试", wait_until(lambda: _text(phone, "#net-error")))
    assert phone.find_elements(By.ID, "checklist")
    done = client.get(f"/api/v1/inspections/{iid}").json()
    assert done["state"] == "completed" and done["findings"][0]["hazard_id"] == hazard_id
    assert done["checklist"][0] == {**done["checklist"][0], "result": "finding", "note": "干滩长度不足"}

    # the list finds it by its filters
    phone.get(f"{live_server}/inspections?state=completed&site={place.site}&inspector={place.team[0]}&period=2026")
    wait_until(lambda: phone.find_elements(By.CSS_SELECTOR, f'#inspections li[data-id="{iid}"]'))
    fits_in_chinese(phone)
    phone.get(f"{live_server}/inspections?period=26-7")
    assert "期间请填写年份" in _error_near(phone, "#filters")

    # the same inspection on a desktop
    phone.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    phone.set_window_size(1400, 1000)
    phone.get(f"{live_server}/inspections/{iid}")
    wait_until(lambda: phone.find_elements(By.ID, "checklist"))
    fits_in_chinese(phone)
    columns = phone.execute_script(
        "return getComputedStyle(document.querySelector('#checklist .items')).gridTemplateColumns.split(' ').length"
    )
    assert columns == 2
    phone.save_screenshot(str(artifacts / "inspection-desktop.png"))
    phone.find_element(By.CSS_SELECTOR, ".hazard-link a").click()
    wait_until(lambda: phone.current_url.endswith(f"/hazards/{hazard_id}"))

    # another county's inspection is 未找到, like one that does not exist
    other = _place(seeded, "noncoal_mine", not_region=place.region)
    made = client.post(
        "/api/v1/inspections",
        json={"site": other.site, "day": "2026-11-20", "origin": "other", "inspectors": other.team},
        headers={"Authorization": f"Bearer {tokens[Role.operator]}"},
    )
    assert made.status_code == 201, made.text
    phone.get(f"{live_server}/inspections/{made.json()['id']}")
    assert "未找到" in phone.title and "未找到检查记录" in phone.page_source
    assert other.site not in phone.page_source


def _page(client: TestClient, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return r.text


def test_viewers_read_enterprises_are_refused_and_a_refused_answer_keeps_its_input(
    app: FastAPI, seeded: Engine, place: Place, client: TestClient, tokens: dict[Role, str]
) -> None:
    op = {"Authorization": f"Bearer {tokens[Role.operator]}"}
    made = client.post(
        "/api/v1/inspections",
        json={"site": place.site, "day": "2026-11-21", "origin": "other", "inspectors": place.team},
        headers=op,
    )
    iid = made.json()["id"]
    assert client.post(f"/api/v1/inspections/{iid}/start", headers=op).status_code == 200
    viewer = make_user(seeded, place.region, ["viewer"], name="只读用户")
    with TestClient(app) as browser:
        csrf = sign_in(browser, viewer)
        shown = _page(browser, f"/inspections/{iid}")
        assert "检查中" in shown and 'name="result"' not in shown and "<form" not in shown.split("</header>")[1]
        r = browser.post(f"/inspections/{iid}/start", data={"csrf_token": csrf})
        assert r.status_code == 403 and "无权操作" in r.text
    with Session(seeded) as s:
        credit = s.scalar(text("SELECT credit_code FROM enterprises WHERE id = :e"), {"e": place.enterprise_id})
    firm = make_user(seeded, str(credit), ["enterprise"], name="企业用户")
    with TestClient(app) as browser:
        csrf = sign_in(browser, firm)
        r = browser.post(f"/inspections/{iid}/findings", data={"title": "企业自填", "csrf_token": csrf})
        assert r.status_code == 403
    regulator = make_user(seeded, place.region, ["regulator"], name="执法员")
    with TestClient(app) as browser:
        csrf = sign_in(browser, regulator)
        item = client.get(f"/api/v1/inspections/{iid}").json()["checklist"][0]["id"]
        # no CSRF token: refused
        assert browser.post(f"/inspections/{iid}/items/{item}", data={"result": "ok"}).status_code == 403
        # htmx: only the item comes back, refused with the note kept, or saved
        hx = {"HX-Request": "true", "X-CSRF-Token": csrf}
        r = browser.post(f"/inspections/{iid}/items/{item}", data={"result": "maybe", "note": "看不清"}, headers=hx)
        assert r.status_code == 422 and r.text.lstrip().startswith("<li") and 'value="看不清"' in r.text
        assert "请选择合格、不合格或不适用" in r.text
        # without htmx the whole page, the reason next to the item
        r = browser.post(f"/inspections/{iid}/items/{item}", data={"result": "", "csrf_token": csrf})
        assert r.status_code == 422 and re.search(
            rf'id="item-{item}".*?class="field-err" role="alert">请选择合格、不合格或不适用', r.text, re.S
        )
        r = browser.post(f"/inspections/{iid}/items/{item}", data={"result": "ok", "note": "正常"}, headers=hx)
        assert r.status_code == 200 and "已保存：合格" in r.text
        # without htmx the whole page; a bad photo is refused next to its field, the title kept
        r = browser.post(
            f"/inspections/{iid}/findings",
            data={"title": "排洪井盖板破损", "csrf_token": csrf},
            files={"photos": ("x.png", b"not an image at all", "image/png")},
        )
        assert r.status_code == 422 and "排洪井盖板破损" in r.text and "只接受图片" in r.text
        assert client.get(f"/api/v1/inspections/{iid}").json()["findings"] == []  # nothing half-saved
        r = browser.post(f"/inspections/{iid}/complete", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 409 and "以下检查项尚未填写" in r.text
        assert browser.get("/inspections/2147483647").status_code == 404
        assert browser.get("/inspections/new?visit=2147483647").status_code == 404
        assert browser.get("/inspections?state=nope").status_code == 422
    other = _place(seeded, "noncoal_mine", not_region=place.region)
    stranger = make_user(seeded, other.region, ["regulator"], name="外县执法员")
    with TestClient(app) as browser:
        csrf = sign_in(browser, stranger)
        assert browser.get(f"/inspections/{iid}").status_code == 404
        r = browser.post(f"/inspections/{iid}/findings", data={"title": "越权", "csrf_token": csrf})
        assert r.status_code == 404 and "未找到检查记录" in r.text
        listed = _page(browser, "/inspections")
        assert f'data-id="{iid}"' not in listed and place.site not in listed
    with TestClient(app) as anonymous:
        r = anonymous.get(f"/inspections/{iid}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
