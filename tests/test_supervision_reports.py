"""The supervision report as PDF and as pages, against the real database: 集安市's plan for this
year and inspections carried out through backend/supervision/inspections.py, the PDF opened with pypdf
and its text checked against the figures report.py computes (planned, done, fines, actions), its
fonts embedded and its Chinese title extractable; another jurisdiction is 404, bad input 4xx; the
dashboard and the printable page in Chromium at a phone's 390 px and at a desktop's width."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from backend.api import report_print
from backend.core.clock import china_day
from backend.core.principal import Role
from backend.models import Enterprise, PlanVersion, PlanVisit, Site
from backend.supervision import inspections, report, service
from tests.support.accounts import browser_sign_in, make_user, sign_in
from tests.support.browser import fits_in_chinese
from tests.support.wait import wait_until

COUNTY, SIBLING, PREFECTURE, PROVINCE = "220582", "220581", "220500", "220000"
YEAR = str(china_day().year)  # enforcement decisions are dated when made: this year's report counts them
PDF_URL = "/api/v1/reports/supervision.pdf"
FINE_YUAN = 12345.5


@pytest.fixture(scope="module")
def supervised(seeded: Engine) -> dict[str, Any]:
    """集安市's plan for this year (made as on 1 January, so its visits before today are due) and two visits of its busiest month carried out: three findings (one major), a fine, a 限期整改
    and a 移送 — through the plan service and the inspection workflow, as the API does."""
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:reports"
        _, version, _ = service.generate_plan(
            s, COUNTY, YEAR, f"报表测试-{YEAR}", "测试", date(int(YEAR), 1, 1), datetime(int(YEAR), 1, 1, tzinfo=UTC)
        )
        visits = s.scalars(
            select(PlanVisit).where(PlanVisit.version_id == version.id).order_by(PlanVisit.day, PlanVisit.id)
        ).all()
        month = max(range(1, 13), key=lambda m: (len({v.site_id for v in visits if v.day.month == m}), -m))
        in_month = [v for v in visits if v.day.month == month]
        chosen = [in_month[0], next(v for v in in_month if v.site_id != in_month[0].site_id)]
        done = []
        for n, visit in enumerate(chosen):
            code = s.scalar(select(Site.code).where(Site.id == visit.site_id))
            assert code is not None
            found = inspections.create(s, code, visit.day, "plan", plan_visit_id=visit.id)
            inspections.start(s, found)
            answers = {i["id"]: ("ok", "") for i in found.checklist}
            findings = (
                [{"title": "安全出口堵塞", "major": True}, {"title": "台账不全"}]
                if n == 0
                else [{"title": "警示标志缺失"}]
            )
            inspections.fill(s, found, answers, findings)
            inspections.complete(s, found)
            done.append(found)
        inspections.decide(s, done[0], "fine", f"（集）应急罚〔{YEAR}〕报表1号", amount_yuan=FINE_YUAN)
        inspections.decide(
            s, done[0], "rectify_by_deadline", f"（集）应急责改〔{YEAR}〕报表1号", deadline=date(int(YEAR), 12, 31)
        )
        inspections.decide(s, done[1], "transfer", f"（集）应急移〔{YEAR}〕报表1号")
        planned = s.scalar(select(PlanVersion).where(PlanVersion.id == version.id))
        assert planned is not None
        return {
            "planned": len(visits),
            "by_month": {m: sum(v.day.month == m for v in visits) for m in range(1, 13)},
            "month": month,
        }


def _expected(seeded: Engine, jurisdiction: str, period: str) -> dict[str, Any]:
    """What report.py computes from the database (unbound: the platform's view)."""
    with Session(seeded) as s:
        return report.supervision_report(s, jurisdiction, period, china_day())


def _pdf_text(content: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(content))
    return reader, [page.extract_text() for page in reader.pages]


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _fonts_embedded(reader: PdfReader) -> list[str]:
    """The base names of the fonts the pages use, each checked to carry its font program."""
    names = []
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for ref in fonts.get_object().values():
            font = ref.get_object()
            described = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            descriptor = described["/FontDescriptor"].get_object()
            assert {"/FontFile2", "/FontFile3", "/FontFile"} & set(descriptor.keys()), (font["/BaseFont"], descriptor)
            names.append(str(font["/BaseFont"]))
    return names


def test_the_pdf_report_matches_the_database(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, supervised: dict[str, Any]
) -> None:
    expected = _expected(seeded, COUNTY, YEAR)
    # the figures report.py computes are the ones made above
    assert expected["planned"] == supervised["planned"] > 0
    assert [m["planned"] for m in expected["by_month"]] == [supervised["by_month"][m] for m in range(1, 13)]
    assert expected["done"] == 2 and expected["findings"] == 3 and expected["major_findings"] == 1
    assert expected["fines"] == 1 and expected["fines_yuan"] == FINE_YUAN
    kinds = {a["kind"]: a["count"] for a in expected["actions"]}
    assert kinds["fine"] == 1 and kinds["rectify_by_deadline"] == 1 and kinds["transfer"] == 1
    assert expected["bureau"] == "集安市应急管理局" and expected["period_zh"] == f"{YEAR}年"

    r = client.get(PDF_URL, params={"jurisdiction": COUNTY, "period": YEAR})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    assert f"supervision-{COUNTY}-{YEAR}.pdf" in r.headers["content-disposition"]
    reader, pages = _pdf_text(r.content)
    text = "\n".join(pages)
    flat = _flat(text)
    assert f"集安市应急管理局{YEAR}年安全生产监管执法工作报表" in flat  # the Chinese title, extractable
    assert f"本期计划监督检查{expected['planned']}次，完成{expected['done']}次" in flat
    assert f"罚款{expected['fines']}次，罚款金额{FINE_YUAN:,.2f}元" in flat
    lines = [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]
    for i, m in enumerate(expected["by_month"], 1):
        assert f"{i} {m['month']}月 {m['planned']} {m['done']}" in " | ".join(lines), m
    assert f"合计 {expected['planned']} {expected['done']}" in " | ".join(lines)
    measures = {re.sub(r"^\d+ ", "", line) for line in lines}
    for a in expected["actions"]:
        assert f"{a['kind_zh']} 次 {a['count']}" in measures, a
    assert f"罚款金额 元 {FINE_YUAN:,.2f}" in measures
    assert f"完成监督检查 次 {expected['done']}" in measures
    overdue = [c for o in expected["overdue"] for c in o["sites"]]
    assert overdue and all(code in flat for code in overdue)
    for w in expected["workload"]:
        assert f"{w['inspector']}{w['planned']}{w['done']}" in flat, w
    # every page: the bureau atop it and its number of the total at its foot
    for n, page in enumerate(pages, 1):
        assert "集安市应急管理局" in page and f"第{n}页共{len(pages)}页" in _flat(page), (n, page[-80:])
    names = _fonts_embedded(reader)
    assert names and all("+" in n for n in names)  # embedded subsets (a subset's name has its tag)

    # a month: its title and that month alone
    month = supervised["month"]
    one = _expected(seeded, COUNTY, f"{YEAR}-{month:02d}")
    m = client.get(PDF_URL, params={"jurisdiction": COUNTY, "period": f"{YEAR}-{month:02d}"})
    assert m.status_code == 200
    _, mpages = _pdf_text(m.content)
    mflat = _flat("\n".join(mpages))
    assert f"集安市应急管理局{YEAR}年{month}月安全生产监管执法工作报表" in mflat
    assert f"本期计划监督检查{one['planned']}次，完成2次" in mflat
    assert [r["month"] for r in one["by_month"]] == [month] and f"1{month}月{one['planned']}2" in mflat


@pytest.fixture(scope="module")
def users(seeded: Engine, supervised: dict[str, Any]) -> dict[str, str]:
    with Session(seeded) as s:
        credit = s.scalar(
            select(Enterprise.credit_code)
            .join(Site, Site.enterprise_id == Enterprise.id)
            .where(Site.region_adcode == COUNTY)
            .limit(1)
        )
    assert credit is not None
    return {
        "county": make_user(seeded, COUNTY, ["viewer"], name="集安统计员"),
        "prefecture": make_user(seeded, PREFECTURE, ["regulator"], name="通化统计员"),
        "enterprise": make_user(seeded, credit, ["enterprise"], name="企业用户"),
    }


@pytest.fixture(scope="module")
def signed(app: FastAPI, users: dict[str, str]) -> Iterator[dict[str, TestClient]]:
    """A browser-like client per user, signed in through the login form (session cookie)."""
    clients = {}
    for who, login in users.items():
        c = TestClient(app)
        c.__enter__()
        sign_in(c, login)
        clients[who] = c
    yield clients
    for c in clients.values():
        c.__exit__(None, None, None)


def test_the_reports_keep_to_the_callers_jurisdiction(
    signed: dict[str, TestClient], anonymous: TestClient, client: TestClient
) -> None:
    county, prefecture, firm = signed["county"], signed["prefecture"], signed["enterprise"]
    own = {"jurisdiction": COUNTY, "period": YEAR}
    for url in ("/api/v1/reports/supervision", "/api/v1/reports/supervision.xlsx", PDF_URL):
        for other in (SIBLING, PREFECTURE, PROVINCE):  # a neighbour, the region above: not the county's
            r = county.get(url, params={**own, "jurisdiction": other})
            assert r.status_code == 404, (url, other, r.status_code)
        assert firm.get(url, params=own).status_code == 404  # an enterprise has no jurisdiction's report
        assert prefecture.get(url, params={**own, "jurisdiction": SIBLING}).status_code == 200  # inside it
        assert anonymous.get(url, params=own).status_code == 401
    assert county.get(PDF_URL, params=own).status_code == 200
    own_json = county.get("/api/v1/reports/supervision", params=own).json()
    assert own_json["done"] == 2 and own_json["fines_yuan"] == FINE_YUAN  # its own figures, whole
    # bad input: a clear 4xx, never a 500
    for bad, code in (
        ({"period": "2025-13"}, 422),
        ({"period": "25"}, 422),
        ({"period": "0000"}, 422),
        ({"jurisdiction": "22058"}, 422),
        ({"jurisdiction": "999999"}, 404),
    ):
        r = client.get(PDF_URL, params={**own, **bad})
        assert r.status_code == code, (bad, r.status_code, r.text)
    # the pages: the same rule, in Chinese
    assert county.get("/supervision", params={"jurisdiction": SIBLING}).status_code == 404
    assert "不在您的管辖范围内" in county.get("/supervision/report", params={"jurisdiction": PROVINCE}).text
    assert county.get("/supervision", params={"period": "2025-13"}).status_code == 422
    assert county.get("/supervision", params={"year": "2025", "month": "13"}).status_code == 422
    assert county.get("/supervision/report", params={"period": "0000"}).status_code == 422
    assert firm.get("/supervision").status_code == 403
    assert anonymous.get("/supervision", follow_redirects=False).status_code == 303


def test_the_key_sites_of_a_jurisdiction(signed: dict[str, TestClient], anonymous: TestClient, seeded: Engine) -> None:
    """The 重点检查企业名单: exactly the county's supervised sites that are red, black-listed, with an
    open 重大隐患 or repeated alarms, by API and on the dashboard; another county's is not found."""
    county = signed["county"]
    r = county.get("/api/v1/key-sites", params={"jurisdiction": COUNTY})
    assert r.status_code == 200, r.text
    got = {k["code"]: k for k in r.json()}
    with Session(seeded) as s:
        facts, _ = service.site_facts(s, COUNTY, datetime.now(UTC))
        red = {f.code for f in facts if f.colour == "red"}
        black = {f.code for f in facts if f.credit_list == "black"}
        major = {f.code for f in facts if f.open_major_hazard}
        alarmed = {f.code for f in facts if f.recent_alarms >= service.supervision_rules().raises.repeated_alarms.count}
    assert set(got) == red | black | major | alarmed and got
    assert all(k["reasons"] for k in got.values())
    assert all(("红色（重大风险）" in got[c]["reasons"]) == (c in red) for c in got)
    assert county.get("/api/v1/key-sites", params={"jurisdiction": SIBLING}).status_code == 404
    assert anonymous.get("/api/v1/key-sites", params={"jurisdiction": COUNTY}).status_code == 401
    page = county.get("/supervision", params={"jurisdiction": COUNTY, "period": YEAR})
    assert page.status_code == 200
    assert set(re.findall(r'class="key-site" data-code="([^"]+)"', page.text)) == set(got)
    # 执法力量测算 (通化 三十三): the same figures by API and on the page, from the county's sites and roster
    team = county.get("/api/v1/reports/team-sizing", params={"jurisdiction": COUNTY, "year": YEAR[:4]})
    assert team.status_code == 200, team.text
    t = team.json()
    assert sum(t["sites_by_colour"].values()) == len(facts) and t["inspectors"] > 0
    assert f'data-needed="{t["inspector_days_needed"]}" data-available="{t["inspector_days_available"]}"' in page.text
    assert county.get("/api/v1/reports/team-sizing", params={"jurisdiction": SIBLING, "year": 2026}).status_code == 404
    assert county.get("/api/v1/reports/team-sizing", params={"jurisdiction": COUNTY, "year": 99999}).status_code == 422


def test_the_pdf_font_and_fetcher(client: TestClient, monkeypatch: pytest.MonkeyPatch, live_server: str) -> None:
    font = report_print.report_font()
    assert font.is_file()
    fetcher = report_print.local_fetcher(font)
    with pytest.raises(ValueError, match="refused"):
        fetcher.fetch(f"{live_server}/api/v1/health")  # a local server is the network too
    with pytest.raises(ValueError, match="refused"):
        fetcher.fetch("file:///etc/passwd")
    assert fetcher.fetch(font.as_uri()).read(4) in (b"ttcf", b"\x00\x01\x00\x00", b"OTTO")
    # a missing font: a clear error at start-up, and the PDF route says what to install
    monkeypatch.setenv("RISKMAP_REPORT_FONT", "/nonexistent/font.ttc")
    report_print.report_font.cache_clear()
    try:
        with pytest.raises(report_print.PdfUnavailable, match="fonts-wqy-microhei"):
            report_print.report_font()
        r = client.get(PDF_URL, params={"jurisdiction": COUNTY, "period": YEAR})
        assert r.status_code == 503 and "RISKMAP_REPORT_FONT" in r.json()["detail"]
    finally:
        monkeypatch.delenv("RISKMAP_REPORT_FONT")
        report_print.report_font.cache_clear()
    assert report_print.report_font() == font
    # all renderers busy for longer than a request waits: 503 with Retry-After, the thread given back
    monkeypatch.setattr(report_print, "RENDER_WAIT_S", 0.05)
    taken = [report_print.RENDERING.acquire(timeout=5) for _ in range(2)]
    try:
        assert all(taken)
        busy = client.get(PDF_URL, params={"jurisdiction": COUNTY, "period": YEAR})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "30"
    finally:
        for _ in taken:
            report_print.RENDERING.release()
    assert client.get(PDF_URL, params={"jurisdiction": COUNTY, "period": YEAR}).status_code == 200


def test_a_long_overdue_list_is_counted_by_region_and_cut_at_the_worst(seeded: Engine) -> None:
    """A prefecture's report: the overdue sites counted per county and colour, then listed by name
    red first up to DETAIL_LIMIT, with the number left out said."""
    data = _expected(seeded, PREFECTURE, YEAR)
    colours = [o["colour"] for o in data["overdue"]]
    made = {
        c: [{"code": f"T-{c}-{i:04d}", "name": f"测试{c}{i}", "region": ("甲县", "乙县")[i % 2]} for i in range(200)]
        for c in colours
    }
    data["overdue"] = [
        {**o, "sites": [s["code"] for s in made[o["colour"]]], "site_details": made[o["colour"]]}
        for o in data["overdue"]
    ]
    html = report_print.report_html(data, for_pdf=False, links={"back": "/", "pdf": "/", "xlsx": "/"})
    listed = re.findall(r"<td>(T-[a-z]+-\d{4})</td>", html)
    assert len(listed) == report_print.DETAIL_LIMIT and listed[:200] == [s["code"] for s in made["red"]]
    total = 200 * len(colours)
    assert f"逾期未检查单位共 {total} 家" in html and f"其余 {total - report_print.DETAIL_LIMIT} 家" in html
    regions = re.search(r'<table id="overdue-regions">(.*?)</table>', html, re.S)
    assert regions and "甲县" in regions.group(1) and "乙县" in regions.group(1)
    assert f'<td class="num">{total // 2}</td></tr>' in regions.group(1)  # each county's total


# --- in Chromium ------------------------------------------------------------------------------


def _shot(browser: Any, path: Any) -> None:
    """The whole page as a PNG (beyond the viewport), for a person to look at."""
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))


def _phone(browser: Any) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    )


def test_the_dashboard_at_a_phone_and_a_desktop(
    browser: Any, live_server: str, seeded: Engine, users: dict[str, str], artifacts
) -> None:
    expected = _expected(seeded, COUNTY, YEAR)
    browser_sign_in(browser, live_server, users["county"], f"/supervision?period={YEAR}")
    wait_until(lambda: browser.find_elements(By.ID, "by-month"))
    try:
        for size in ("desktop", "phone"):
            if size == "phone":
                _phone(browser)
                browser.refresh()
                wait_until(lambda: browser.find_elements(By.ID, "by-month"))
            assert "监管统计" in browser.find_element(By.TAG_NAME, "h1").text
            assert "监管" in [a.text for a in browser.find_elements(By.CSS_SELECTOR, "header.top nav > a")] or (
                size == "phone"
            )
            current = browser.find_element(By.CSS_SELECTOR, 'nav.subnav a[aria-current="page"]')
            assert current.get_attribute("href").endswith("/supervision")
            bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart g.month")
            got = [(int(b.get_attribute("data-planned")), int(b.get_attribute("data-done"))) for b in bars]
            assert got == [(m["planned"], m["done"]) for m in expected["by_month"]]
            assert browser.find_element(By.ID, "planned").text == str(expected["planned"])
            assert browser.find_element(By.ID, "done").text == "2"
            assert browser.find_element(By.ID, "fines-yuan").text == f"{FINE_YUAN:,.2f}"
            assert browser.find_element(By.ID, "per-inspection").text == f"{expected['findings_per_inspection']:.2f}"
            swatches = {
                e.get_attribute("data-colour"): int(e.find_element(By.CSS_SELECTOR, ".n").text)
                for e in browser.find_elements(By.CSS_SELECTOR, ".swatch-row")
            }
            assert {"red", "orange", "yellow", "blue"} <= set(swatches)
            assert swatches == {o["colour"]: len(o["sites"]) for o in expected["overdue"] if o["colour"] in swatches}
            kinds = {
                tr.get_attribute("data-kind"): int(tr.find_element(By.CSS_SELECTOR, "td.n").text)
                for tr in browser.find_elements(By.CSS_SELECTOR, "#actions tr[data-kind]")
            }
            assert kinds == {a["kind"]: a["count"] for a in expected["actions"]}
            rows = browser.find_elements(By.CSS_SELECTOR, "#workload tr[data-inspector]")
            assert [r.get_attribute("data-inspector") for r in rows] == [w["inspector"] for w in expected["workload"]]
            options = [
                o.get_attribute("value")
                for o in browser.find_elements(By.CSS_SELECTOR, "select[name=jurisdiction] option")
            ]
            assert options == [COUNTY]  # a county's user picks nothing beyond its county
            fits_in_chinese(browser)
            _shot(browser, artifacts / f"supervision-dashboard-{size}.png")
        # an overdue site links to its page
        first = next(o for o in expected["overdue"] if o["sites"])
        link = browser.find_element(
            By.CSS_SELECTOR, f'details.overdue-list[data-colour="{first["colour"]}"] a[data-code]'
        )
        code = link.get_attribute("data-code")
        assert code in first["sites"]
        link.click()
        wait_until(lambda: f"/sites/{code}" in browser.current_url)
        assert code in browser.find_element(By.TAG_NAME, "h1").text
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_a_prefecture_picks_a_county_and_a_month(
    browser: Any, live_server: str, seeded: Engine, users: dict[str, str], supervised: dict[str, Any]
) -> None:
    month = supervised["month"]
    browser_sign_in(browser, live_server, users["prefecture"], "/supervision")
    wait_until(lambda: browser.find_elements(By.ID, "choose"))
    select_region = Select(browser.find_element(By.NAME, "jurisdiction"))
    offered = [o.get_attribute("value") for o in select_region.options]
    assert offered[0] == PREFECTURE and COUNTY in offered and all(o.startswith("2205") for o in offered)
    assert select_region.first_selected_option.get_attribute("value") == PREFECTURE  # its own by default
    select_region.select_by_value(COUNTY)
    Select(browser.find_element(By.NAME, "year")).select_by_value(YEAR)
    Select(browser.find_element(By.NAME, "month")).select_by_value(str(month))
    browser.find_element(By.CSS_SELECTOR, "#choose button[type=submit]").click()
    wait_until(lambda: f"month={month}" in browser.current_url)
    one = _expected(seeded, COUNTY, f"{YEAR}-{month:02d}")
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart g.month")
    assert [(b.get_attribute("data-month"), b.get_attribute("data-planned")) for b in bars] == [
        (str(month), str(one["planned"]))
    ]
    assert "集安市应急管理局" in browser.find_element(By.TAG_NAME, "h1").text
    href = browser.find_element(By.ID, "to-report").get_attribute("href")
    assert href.endswith(f"/supervision/report?jurisdiction={COUNTY}&period={YEAR}-{month:02d}")


def test_the_printable_report_in_print_media(
    browser: Any, live_server: str, seeded: Engine, users: dict[str, str], artifacts
) -> None:
    expected = _expected(seeded, COUNTY, YEAR)
    url = f"/supervision/report?jurisdiction={COUNTY}&period={YEAR}"
    browser_sign_in(browser, live_server, users["county"], url)
    wait_until(lambda: browser.find_elements(By.ID, "report-title"))
    title = browser.find_element(By.ID, "report-title").text
    assert title == f"集安市应急管理局 {YEAR}年 安全生产监管执法工作报表"
    toolbar = browser.find_element(By.CSS_SELECTOR, "nav.toolbar")
    assert toolbar.is_displayed()
    try:
        _phone(browser)
        browser.refresh()
        wait_until(lambda: browser.find_elements(By.ID, "report-title"))
        fits_in_chinese(browser)
        _shot(browser, artifacts / "supervision-report-phone.png")
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        assert not browser.find_element(By.CSS_SELECTOR, "nav.toolbar").is_displayed()  # left out of the print
        heads = browser.execute_script(
            "return [...document.querySelectorAll('thead')].map(t => getComputedStyle(t).display)"
        )
        assert heads and set(heads) == {"table-header-group"}  # repeated atop each printed page
        fits_in_chinese(browser)
        _shot(browser, artifacts / "supervision-report-print.png")
        printed = browser.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    reader, pages = _pdf_text(base64.b64decode(printed["data"]))
    box = reader.pages[0].mediabox
    assert abs(float(box.width) - 595.3) < 2 and abs(float(box.height) - 841.9) < 2  # A4
    flat = _flat("\n".join(pages))
    assert f"集安市应急管理局{YEAR}年安全生产监管执法工作报表" in flat
    assert f"本期计划监督检查{expected['planned']}次，完成{expected['done']}次" in flat
    assert "逾期未检查单位" in flat and "返回监管统计" not in flat
    for n, page in enumerate(pages, 1):
        assert "集安市应急管理局" in page and f"第{n}页共{len(pages)}页" in _flat(page), (n, page[-80:])
