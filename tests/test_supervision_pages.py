"""The supervision pages in headless Chromium and over plain HTTP: a county regulator uploads a
roster CSV (a bad row named with its row number), generates a plan, sees its visits by month, the
reason it falls short when the team is away, and what a regeneration changed; a viewer sees the
same without the forms; another county's plan is 未找到; nothing wider than a phone; bad form
input is a 4xx, never a 500."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.api.routes.supervision_pages import reason_zh
from backend.core.principal import Role
from tests.support.accounts import browser_sign_in, browser_sign_out, make_user, sign_in
from tests.support.browser import fits_in_chinese
from tests.support.wait import wait_until

COUNTY = "220106"  # 绿园区: fourteen chemical sites, supervised by the county
OTHER = "220103"  # 宽城区
YEAR = "2034"  # in the future: a regeneration plans the whole year again


def _shot(browser: Any, path: Path) -> None:
    """The whole page, beyond the window, as a PNG."""
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))


def _at_both_sizes(browser: Any, artifacts: Path, name: str) -> None:
    """The page fits at a phone's 390 px and at the desktop's width."""
    fits_in_chinese(browser)
    _shot(browser, artifacts / f"{name}-desktop.png")
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    )
    try:
        browser.refresh()
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "main h1"))
        fits_in_chinese(browser)
        _shot(browser, artifacts / f"{name}-phone.png")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _as(browser: Any, base: str, login: str, path: str) -> None:
    browser_sign_out(browser)
    browser_sign_in(browser, base, login, path)
    wait_until(lambda: browser.current_url == base + path)


@pytest.fixture
def team_away(seeded: Engine) -> Iterator[Any]:
    """Makes the county's whole team unavailable for a month (and a site's colour another), and
    puts both back afterwards: the shared database stays as the other tests expect it."""
    with Session(seeded) as s:
        saved = dict(
            s.execute(text("SELECT id, unavailable FROM inspectors WHERE region_adcode = :r"), {"r": COUNTY}).all()
        )
        colours = dict(
            s.execute(
                text(
                    "SELECT s.code, r.color FROM sites s JOIN site_risk r ON r.site_id = s.id WHERE s.region_adcode = :r"
                ),
                {"r": COUNTY},
            ).all()
        )
    changed: list[str] = []

    def away(year: int, month: int, site: str, colour: str) -> None:
        first = date(year, month, 1)
        days = [first + timedelta(days=d) for d in range(31) if (first + timedelta(days=d)).month == month]
        with Session(seeded) as s, s.begin():
            s.execute(text("UPDATE inspectors SET unavailable = :d WHERE region_adcode = :r"), {"d": days, "r": COUNTY})
            s.execute(
                text("UPDATE site_risk SET color = :c WHERE site_id = (SELECT id FROM sites WHERE code = :s)"),
                {"c": colour, "s": site},
            )
        changed.append(site)

    yield away, colours
    with Session(seeded) as s, s.begin():
        for inspector, days in saved.items():
            s.execute(text("UPDATE inspectors SET unavailable = :d WHERE id = :i"), {"d": days, "i": inspector})
        for site in changed:
            s.execute(
                text("UPDATE site_risk SET color = :c WHERE site_id = (SELECT id FROM sites WHERE code = :s)"),
                {"c": colours[site], "s": site},
            )


def test_a_regulator_keeps_the_roster_and_plans_and_a_viewer_only_reads(
    browser: Any,
    live_server: str,
    seeded: Engine,
    session: Session,
    client: TestClient,
    tokens: dict[Role, str],
    team_away: Any,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    away, colours = team_away
    regulator = make_user(seeded, COUNTY, ["regulator"], name="绿园监管员")
    viewer = make_user(seeded, COUNTY, ["viewer"], name="绿园查看员")
    other = client.post(
        "/api/v1/inspection-plans",
        json={"jurisdiction": OTHER, "period": YEAR, "seed": "宽城-页面测试"},
        headers={"Authorization": f"Bearer {tokens[Role.operator]}"},
    )
    assert other.status_code == 201, other.text

    # The roster: the county's inspectors, no other county's; the 监管 link leads here.
    _as(browser, live_server, regulator, "/supervision/inspectors")
    nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "header.top nav > a")]
    assert "监管" in nav
    team = set(session.scalars(text("SELECT certificate_no FROM inspectors WHERE region_adcode = :r"), {"r": COUNTY}))
    listed = {li.get_attribute("data-cert") for li in browser.find_elements(By.CSS_SELECTOR, "li.inspector")}
    assert listed == team
    first = browser.find_element(By.CSS_SELECTOR, "li.inspector")
    assert "危化" in first.find_element(By.CSS_SELECTOR, ".specs").text
    assert "应急管理局" in first.find_element(By.CSS_SELECTOR, ".org").text

    # A roster CSV with one good row and one bad: the good one loads, the bad one is named.
    cert = f"JLP{uuid.uuid4().hex[:8].upper()}"
    roster = tmp_path / "名册.csv"
    roster.write_text(
        "certificate_no,name,region_adcode,specialities,conflicts,unavailable,active\n"
        f"{cert},页面甲,{COUNTY},危化,,,true\n"
        f"{cert}X,页面乙,{COUNTY},化工,,,true\n",
        encoding="utf-8",
    )
    browser.find_element(By.CSS_SELECTOR, "#import-roster input[type=file]").send_keys(str(roster))
    chosen = browser.find_element(By.CSS_SELECTOR, "#import-roster .chosen")
    wait_until(lambda: chosen.text == "名册.csv")
    browser.find_element(By.CSS_SELECTOR, "#import-roster button").click()
    errors = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#import-errors li[data-row]"))
    assert [e.get_attribute("data-row") for e in errors] == ["2"]
    assert "第 2 行" in errors[0].text and "化工" in errors[0].text and "不是可选的专业" in errors[0].text
    assert "已导入 1 人" in browser.find_element(By.CSS_SELECTOR, ".msg.ok").text
    assert browser.find_elements(By.CSS_SELECTOR, f'li.inspector[data-cert="{cert}"]')
    # Filters: by speciality and by name.
    Select(browser.find_element(By.NAME, "speciality")).select_by_value("煤矿")
    browser.find_element(By.CSS_SELECTOR, "#inspector-filter button").click()
    wait_until(lambda: "speciality=" in browser.current_url)
    assert not browser.find_elements(By.CSS_SELECTOR, "li.inspector")  # the county's team: 危化 and 非煤 only
    browser.get(f"{live_server}/supervision/inspectors?q=页面甲")
    assert [li.get_attribute("data-cert") for li in browser.find_elements(By.CSS_SELECTOR, "li.inspector")] == [cert]
    browser.get(f"{live_server}/supervision/inspectors")
    _at_both_sizes(browser, artifacts, "supervision-inspectors")

    # A plan for the county and a year: its visits by month, every visit with two inspectors.
    browser.get(f"{live_server}/supervision/plans")
    form = browser.find_element(By.CSS_SELECTOR, "#generate form")
    Select(form.find_element(By.NAME, "jurisdiction")).select_by_value(COUNTY)
    year = form.find_element(By.NAME, "year")
    year.clear()
    year.send_keys(YEAR)
    seed = form.find_element(By.NAME, "seed")
    seed.clear()
    seed.send_keys("绿园-页面测试-1")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait_until(lambda: re.search(r"/supervision/plans/\d+$", browser.current_url))
    plan_id = int(browser.current_url.rsplit("/", 1)[1])
    assert "绿园区 2034年检查计划" in browser.find_element(By.TAG_NAME, "h1").text
    visits = browser.find_elements(By.CSS_SELECTOR, "li.visit")
    stored = session.execute(
        text(
            "SELECT s.code, v.day FROM plan_visits v JOIN sites s ON s.id = v.site_id"
            " JOIN inspection_plan_versions pv ON pv.id = v.version_id WHERE pv.plan_id = :p AND pv.version = 1"
        ),
        {"p": plan_id},
    ).all()
    assert stored and len(visits) == len(stored)
    assert {(v.get_attribute("data-site"), v.get_attribute("data-day")) for v in visits} == {
        (code, day.isoformat()) for code, day in stored
    }
    for v in visits:
        crew = v.find_element(By.CSS_SELECTOR, ".crew").text.split("、")
        assert len(crew) == 2 and all(crew)
        assert v.find_element(By.CSS_SELECTOR, ".colour").text in {"红色", "橙色", "黄色", "蓝色", "未定级"}
        assert v.find_element(By.CSS_SELECTOR, ".dot").get_attribute("class") != "dot"
    assert browser.find_elements(By.CSS_SELECTOR, "#draw a[href^='/draws#draw-']")
    assert "绿园-页面测试-1" in browser.find_element(By.ID, "draw").text
    _at_both_sizes(browser, artifacts, "supervision-plan")

    # The team away for the month of the first visit, and a site turned red: the regeneration says
    # what it cannot staff and what changed against version 1.
    month = min(day for _, day in stored).month
    turned = next(code for code, colour in sorted(colours.items()) if colour != "red")
    away(int(YEAR), month, turned, "red")
    # the plan in force says at once which sites it no longer fits, before anyone regenerates it
    browser.get(f"{live_server}/supervision/plans/{plan_id}")
    outdated = {li.get_attribute("data-site"): li.text for li in browser.find_elements(By.CSS_SELECTOR, "li.outdated")}
    assert turned in outdated and "红色" in outdated[turned], outdated
    browser.get(f"{live_server}/supervision/plans")
    form = browser.find_element(By.CSS_SELECTOR, "#generate form")
    Select(form.find_element(By.NAME, "jurisdiction")).select_by_value(COUNTY)
    year = form.find_element(By.NAME, "year")
    year.clear()
    year.send_keys(YEAR)
    form.find_element(By.NAME, "reason").send_keys("颜色变化后重新生成")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait_until(lambda: browser.current_url.endswith(f"/supervision/plans/{plan_id}"))
    assert turned not in {li.get_attribute("data-site") for li in browser.find_elements(By.CSS_SELECTOR, "li.outdated")}
    short = browser.find_element(By.ID, "shortfalls")
    assert re.search(rf"{month}月 绿园区 检查力量缺 \d+ 人日", short.text), short.text
    assert "第 2 版" in browser.find_element(By.TAG_NAME, "h1").text
    changes = browser.find_elements(By.CSS_SELECTOR, 'li.version[data-version="2"] li.change')
    assert changes
    by_site = {c.get_attribute("data-site"): c.text for c in changes}
    assert turned in by_site and "由" in by_site[turned] and "变为红色" in by_site[turned]
    assert any("检查力量不足" in t for t in by_site.values())
    assert not browser.find_elements(By.CSS_SELECTOR, 'li.version[data-version="1"] li.change')
    _at_both_sizes(browser, artifacts, "supervision-plan-v2")
    # Version 1 stays readable.
    browser.get(f"{live_server}/supervision/plans/{plan_id}?version=1")
    assert browser.find_elements(By.ID, "old-version") and browser.find_elements(By.ID, "feasible")
    # a year whose holidays are not in holidays.yaml: said apart from the shortfalls
    assert "节假日安排尚未录入" in browser.find_element(By.ID, "calendar-warning").text

    # The draw's link leads to the public page's row.
    browser.get(f"{live_server}/supervision/plans/{plan_id}")
    href = browser.find_element(By.CSS_SELECTOR, "#draw a[href^='/draws#draw-']").get_attribute("href")
    browser.get(href)
    assert browser.find_element(By.ID, href.rsplit("#", 1)[1]).get_attribute("data-draw")

    # The list of plans: the county's, with its version; not 宽城区's.
    browser.get(f"{live_server}/supervision/plans")
    plans = {li.get_attribute("data-plan"): li.text for li in browser.find_elements(By.CSS_SELECTOR, "li.plan")}
    assert str(plan_id) in plans and "第 2 版" in plans[str(plan_id)] and "绿园监管员" in plans[str(plan_id)]
    assert str(other.json()["plan_id"]) not in plans
    _at_both_sizes(browser, artifacts, "supervision-plans")

    # Another county's plan: 未找到, as a plan that does not exist.
    browser.get(f"{live_server}/supervision/plans/{other.json()['plan_id']}")
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == "未找到"
    assert "宽城" not in browser.find_element(By.TAG_NAME, "main").text

    # A viewer of the county sees the roster and the plan, and no form.
    _as(browser, live_server, viewer, "/supervision/plans")
    assert str(plan_id) in {li.get_attribute("data-plan") for li in browser.find_elements(By.CSS_SELECTOR, "li.plan")}
    assert not browser.find_elements(By.ID, "generate")
    browser.get(f"{live_server}/supervision/plans/{plan_id}")
    assert browser.find_elements(By.CSS_SELECTOR, "li.visit") and browser.find_elements(By.ID, "shortfalls")
    browser.get(f"{live_server}/supervision/inspectors")
    assert browser.find_elements(By.CSS_SELECTOR, "li.inspector")
    assert not browser.find_elements(By.ID, "add-inspector") and not browser.find_elements(By.ID, "import-roster")
    assert not browser.find_elements(By.CSS_SELECTOR, "form[method=post][action^='/supervision']")
    browser.get(f"{live_server}/supervision/plans/{other.json()['plan_id']}")
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == "未找到"


def _csrf(c: TestClient, login: str) -> str:
    return sign_in(c, login)


def test_bad_form_input_on_the_supervision_pages_is_a_4xx(app: FastAPI, seeded: Engine) -> None:
    regulator = make_user(seeded, COUNTY, ["regulator"], name="绿园监管员")
    viewer = make_user(seeded, COUNTY, ["viewer"], name="绿园查看员")
    with Session(seeded) as s:
        credit = s.scalar(text("SELECT credit_code FROM enterprises WHERE region_adcode = :r LIMIT 1"), {"r": OTHER})
        taken = s.scalar(text("SELECT certificate_no FROM inspectors WHERE region_adcode = :r LIMIT 1"), {"r": COUNTY})
        enterprise = s.scalar(
            text("SELECT credit_code FROM enterprises WHERE region_adcode = :r LIMIT 1"), {"r": COUNTY}
        )
    with TestClient(app) as anonymous:
        for path in ("/supervision/inspectors", "/supervision/plans", "/supervision/plans/1"):
            r = anonymous.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    with TestClient(app) as c:
        token = _csrf(c, regulator)
        plan = {"csrf_token": token, "jurisdiction": COUNTY, "year": "2035", "month": "", "seed": "s", "reason": ""}

        def post(path: str, **data: Any) -> int:
            return c.post(path, data=data, follow_redirects=False).status_code

        assert post("/supervision/plans", **{**plan, "csrf_token": "wrong"}) == 403
        assert post("/supervision/plans", **{**plan, "year": "20x5"}) == 422
        assert post("/supervision/plans", **{**plan, "month": "13"}) == 422
        assert post("/supervision/plans", **{**plan, "seed": "  "}) == 422
        assert post("/supervision/plans", **{**plan, "jurisdiction": "abc"}) == 422
        assert post("/supervision/plans", **{**plan, "jurisdiction": OTHER}) == 404
        assert post("/supervision/plans", **{**plan, "jurisdiction": "229999"}) == 404
        assert post("/supervision/plans", **{**plan, "year": "2020"}) == 409
        assert post("/supervision/plans", **{**plan, "seed": "a\x00b"}) == 422
        assert post("/supervision/plans", **{**plan, "reason": "a\x00b"}) == 422
        r = c.post("/supervision/plans", data={**plan, "year": "2020"})
        assert "该期间已经结束" in r.text
        assert post("/supervision/plans", **{**plan, "year": "2035", "month": "2"}) == 303
        assert c.get("/supervision/plans/0").status_code == 422
        assert c.get("/supervision/plans/2147483647").status_code == 404
        assert c.get("/supervision/plans/abc").status_code == 422
        own = c.get("/supervision/plans", params={"jurisdiction": COUNTY, "period": "2035-02"})
        assert own.status_code == 200
        found = re.findall(r'data-plan="(\d+)"', own.text)
        assert len(found) == 1
        assert c.get(f"/supervision/plans/{found[0]}").status_code == 200
        assert c.get(f"/supervision/plans/{found[0]}?version=999").status_code == 404
        assert c.get(f"/supervision/plans/{found[0]}?version=x").status_code == 422
        assert c.get("/supervision/plans?period=2035-13").status_code == 422
        assert c.get("/supervision/plans?jurisdiction=x").status_code == 422
        assert c.get("/supervision/inspectors?status=bogus").status_code == 422
        assert c.get("/supervision/inspectors?region=12").status_code == 422
        assert c.get("/supervision/inspectors?speciality=化工").status_code == 422

        one = {"csrf_token": token, "certificate_no": "JLQ0001", "name": "表单甲", "region_adcode": COUNTY}
        assert post("/supervision/inspectors", **one, specialities="化工") == 422
        assert post("/supervision/inspectors", **one) == 422  # no speciality
        assert post("/supervision/inspectors", **{**one, "certificate_no": "x!"}, specialities="危化") == 422
        assert post("/supervision/inspectors", **{**one, "certificate_no": taken}, specialities="危化") == 409
        assert post("/supervision/inspectors", **{**one, "region_adcode": OTHER}, specialities="危化") == 422
        assert post("/supervision/inspectors", **one, specialities="危化", unavailable="2035-02-30") == 422
        assert post("/supervision/inspectors", **{**one, "name": "甲\x00"}, specialities="危化") == 422
        assert post("/supervision/inspectors", **one, specialities="危化", conflicts=credit) == 422  # another county's
        r = c.post(
            "/supervision/inspectors", data={**one, "specialities": "危化", "conflicts": enterprise, "active": "1"}
        )
        assert r.status_code == 200 and "已添加执法人员 表单甲" in r.text
        assert 'data-cert="JLQ0001"' in r.text

        url = "/supervision/inspectors/import"
        assert c.post(url, data={"csrf_token": token}).status_code == 422  # no file
        files = {"file": ("r.csv", b"\xff\xfe\x00bad", "text/csv")}
        assert c.post(url, data={"csrf_token": token}, files=files).status_code == 422
        assert c.post(url, data={"csrf_token": token}, files={"file": ("r.csv", b"  ", "text/csv")}).status_code == 422
        nul = f"certificate_no,name,region_adcode,specialities\nJLQ0003,甲\x00,{COUNTY},危化\n".encode()
        assert c.post(url, data={"csrf_token": token}, files={"file": ("r.csv", nul, "text/csv")}).status_code == 422
        outside = f"certificate_no,name,region_adcode,specialities\nJLQ0002,越权,{OTHER},危化\n".encode()
        r = c.post(url, data={"csrf_token": token}, files={"file": ("r.csv", outside, "text/csv")})
        assert r.status_code == 404 and "不属于您辖区" in r.text
        with Session(seeded) as s:
            assert s.scalar(text("SELECT count(*) FROM inspectors WHERE certificate_no = 'JLQ0002'")) == 0
    with TestClient(app) as c:
        token = _csrf(c, viewer)
        assert c.post("/supervision/plans", data={**plan, "csrf_token": token}).status_code == 403
        assert (
            c.post("/supervision/inspectors", data={**one, "csrf_token": token, "specialities": "危化"}).status_code
            == 403
        )
    with TestClient(app) as c:
        _csrf(c, make_user(seeded, str(enterprise), ["enterprise"], name="企业用户"))
        assert c.get("/supervision/plans").status_code == 403
        assert c.get("/supervision/inspectors").status_code == 403


def test_import_reasons_are_said_in_chinese() -> None:
    assert reason_zh("specialities: unknown speciality '化工': give one of 煤矿, 非煤, 危化") == (
        "专业：「化工」不是可选的专业（煤矿、非煤、危化）"
    )
    assert reason_zh("duplicate certificate number 'A1234' in this file") == "执法证号 A1234 在文件中重复"
    assert reason_zh("duplicate certificate number 'A1234': already in the register") == "执法证号 A1234 已在名册中"
    assert reason_zh("name: Field required; certificate_no: String should match pattern '^x$'") == (
        "姓名：必填；执法证号：格式不正确"
    )
    assert reason_zh("unknown region '999999'") == "行政区划代码 999999 不存在"
    assert not re.search(r"[A-Za-z]{3,}", reason_zh("something: entirely unexpected"))
