"""The pages beyond signing in, in headless Chromium at a phone's 390 × 844: an enterprise's home
page (its own sites only, 叫应 answered from the page), the people register for regulators, and a
site's page (another county's site is 未找到). Chinese throughout, nothing wider than the screen."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.warnings.issue import BroadcastOrder, issue
from tests.support.accounts import PASSWORD, browser_sign_in, browser_sign_out, make_user
from tests.support.browser import fits_in_chinese, open_map
from tests.support.wait import wait_until


def _nav(browser: Any) -> list[str]:
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "header.top nav > a")]


def test_an_enterprise_user_lands_on_its_home_page_and_answers_a_broadcast(
    phone: Any, live_server: str, seeded: Engine, session: Session, artifacts
) -> None:
    enterprise_id, credit_code, name = session.execute(
        text(
            "SELECT e.id, e.credit_code, e.name FROM enterprises e JOIN sites s ON s.enterprise_id = e.id"
            " GROUP BY e.id HAVING count(*) >= 2 ORDER BY e.id LIMIT 1"
        )
    ).one()
    own = dict(session.execute(text("SELECT code, id FROM sites WHERE enterprise_id = :e"), {"e": enterprise_id}).all())
    target = sorted(own)[0]
    x, y = session.execute(
        text("SELECT ST_X(location), ST_Y(location) FROM sites WHERE code = :c"), {"c": target}
    ).one()
    b = issue(
        session,
        BroadcastOrder(
            "evacuate", "orange", MultiPolygon([box(x - 0.01, y - 0.01, x + 0.01, y + 0.01)]), site_ids=(own[target],)
        ),
        datetime.now(UTC),
        "test",
    )
    session.commit()
    login = make_user(seeded, credit_code, ["enterprise"], name="企业值班员")

    browser_sign_in(phone, live_server, login)  # next: "/" — an enterprise user lands on its home page
    wait_until(lambda: phone.current_url.endswith("/enterprise"))
    wait_until(lambda: phone.find_elements(By.ID, "to-answer"))
    assert name in phone.find_element(By.TAG_NAME, "h1").text
    assert _nav(phone)[:4] == ["地图", "企业首页", "隐患", "账户"] and "人员" not in _nav(phone)
    shown = {li.get_attribute("data-code") for li in phone.find_elements(By.CSS_SELECTOR, "#sites li[data-code]")}
    assert shown == set(own)  # its own sites, every one, and none of another enterprise
    assert all(
        li.find_element(By.CSS_SELECTOR, ".level").text
        for li in phone.find_elements(By.CSS_SELECTOR, "#sites li[data-code]")
    )
    fits_in_chinese(phone)
    phone.save_screenshot(str(artifacts / "enterprise-home-phone.png"))

    row = phone.find_element(By.CSS_SELECTOR, f'.answer[data-broadcast="{b.id}"]')
    assert row.find_element(By.CSS_SELECTOR, ".status").text == "待叫应"
    row.find_element(By.CSS_SELECTOR, "button.answer-evacuated").click()
    wait_until(lambda: row.find_element(By.CSS_SELECTOR, ".status").text == "已撤人")
    assert row.find_elements(By.TAG_NAME, "button") == []
    rec = session.execute(
        text("SELECT status, acknowledged_via FROM broadcast_recipients WHERE broadcast_id = :b"), {"b": b.id}
    ).one()
    assert tuple(rec) == ("evacuated", "http")
    actor = session.scalar(
        text("SELECT actor FROM broadcast_events WHERE broadcast_id = :b AND event = 'acknowledged'"), {"b": b.id}
    )
    assert actor == f"user:{login}"
    # Answered: the page no longer offers it.
    phone.refresh()
    wait_until(lambda: phone.find_elements(By.ID, "to-answer"))
    assert phone.find_elements(By.CSS_SELECTOR, f'.answer[data-broadcast="{b.id}"]') == []
    phone.get(f"{live_server}/people")  # the people register is the regulators'
    assert "无权访问" in phone.title and "人员名册仅对监管部门开放" in phone.page_source


def test_the_enterprise_page_is_for_enterprise_users_only(phone: Any, live_server: str, seeded: Engine) -> None:
    phone.get(f"{live_server}/enterprise")
    wait_until(lambda: "/login" in phone.current_url)  # signed out: sign in first
    login = make_user(seeded, "220283", ["regulator"], name="舒兰监管员")
    browser_sign_in(phone, live_server, login, "/enterprise")
    wait_until(lambda: "/login" not in phone.current_url)  # the login page has a <main h1> too
    wait_until(lambda: phone.find_elements(By.CSS_SELECTOR, "main h1"))
    assert "无权访问" in phone.title and "企业首页仅对企业用户开放" in phone.page_source
    assert "企业首页" not in _nav(phone) and "人员" in _nav(phone)


COUNTY = "220283"  # 舒兰市


def _rows(browser: Any) -> list[dict[str, str]]:
    return browser.execute_script(
        "return [...document.querySelectorAll('#people tbody tr[data-enterprise]')].map(tr => ({"
        " enterprise: tr.dataset.enterprise, site: tr.dataset.site, name: tr.querySelector('td b').textContent,"
        " phone: tr.querySelector('.phone').textContent }))"
    )


def test_the_people_register_for_a_county_with_phones_masked_by_role_and_its_roster(
    phone: Any, live_server: str, seeded: Engine, session: Session, artifacts
) -> None:
    people = session.execute(
        text("SELECT name, mobile, region_adcode FROM people WHERE region_adcode LIKE :r"), {"r": COUNTY + "%"}
    ).all()
    assert people
    now = datetime.now(UTC)
    bureau = session.scalar(text("SELECT id FROM organisations WHERE code = :c AND kind = 'bureau'"), {"c": COUNTY})

    def shifts() -> list[str]:
        return list(
            session.scalars(
                text(
                    "SELECT name FROM duty_shifts WHERE org_id = :o AND starts_at < :to AND ends_at > :now"
                    " ORDER BY starts_at"
                ),
                {"o": bureau, "now": now, "to": now + timedelta(days=7)},
            )
        )

    if not shifts():  # the sample roster ran out: one shift of the coming week
        session.execute(
            text(
                "INSERT INTO duty_shifts (org_id, region_adcode, name, mobile, starts_at, ends_at)"
                " VALUES (:o, :r, '值班测试', '13911112222', :s, :e)"
            ),
            {"o": bureau, "r": COUNTY, "s": now + timedelta(hours=1), "e": now + timedelta(hours=2)},
        )
        session.commit()
    regulator = make_user(seeded, COUNTY, ["regulator"], name="舒兰监管员")
    viewer = make_user(seeded, COUNTY, ["viewer"], name="舒兰查看员")

    browser_sign_in(phone, live_server, regulator, "/people")
    wait_until(lambda: phone.find_elements(By.ID, "people"))
    rows = _rows(phone)
    assert sorted(r["name"] for r in rows) == sorted(p.name for p in people)  # the county's, no other
    assert {r["phone"] for r in rows} == {p.mobile for p in people}  # a regulator sees phones in full
    roster = [li.find_element(By.TAG_NAME, "b").text for li in phone.find_elements(By.CSS_SELECTOR, "#roster li")]
    assert roster == shifts() and roster
    assert "舒兰市应急管理局值班表" in phone.find_element(By.CSS_SELECTOR, "#roster h2").text
    fits_in_chinese(phone)
    phone.save_screenshot(str(artifacts / "people-phone.png"))

    # Filter by an enterprise, then by one of its sites.
    chosen = rows[-1]["enterprise"]
    Select(phone.find_element(By.NAME, "enterprise")).select_by_value(chosen)
    phone.find_element(By.CSS_SELECTOR, "#people-filter button").click()
    wait_until(lambda: "enterprise=" in phone.current_url)
    filtered = _rows(phone)
    assert filtered and {r["enterprise"] for r in filtered} == {chosen}
    assert len(filtered) == sum(1 for r in rows if r["enterprise"] == chosen)
    site = next((r["site"] for r in rows if r["site"]), None)
    assert site
    phone.get(f"{live_server}/people?site={site}")
    assert {r["site"] for r in _rows(phone)} == {site}
    phone.get(f"{live_server}/people?enterprise=not-a-code")
    assert "查询条件有误" in phone.title
    browser_sign_out(phone)

    # A viewer of the same county sees the same people, phones masked.
    browser_sign_in(phone, live_server, viewer, "/people")
    wait_until(lambda: phone.find_elements(By.ID, "people"))
    masked = _rows(phone)
    assert len(masked) == len(rows)
    assert all(re.fullmatch(r"1\d\d\*{4}\d{4}", r["phone"]) for r in masked), masked[:3]
    assert "电话号码已部分隐藏" in phone.page_source


def test_a_site_page_in_the_county_and_未找到_for_another_countys_site(
    phone: Any, live_server: str, seeded: Engine, session: Session, artifacts
) -> None:
    own, name, level = session.execute(
        text(
            "SELECT s.code, s.name, r.level FROM sites s JOIN site_risk r ON r.site_id = s.id"
            " WHERE s.region_adcode = :c AND r.level IS NOT NULL ORDER BY s.code LIMIT 1"
        ),
        {"c": COUNTY},
    ).one()
    other = session.scalar(
        text("SELECT code FROM sites WHERE region_adcode <> :c ORDER BY code LIMIT 1"), {"c": COUNTY}
    )
    login = make_user(seeded, COUNTY, ["regulator"], name="舒兰监管员")

    browser_sign_in(phone, live_server, login, f"/sites/{own}")
    wait_until(lambda: phone.find_elements(By.ID, "level"))
    assert name in phone.find_element(By.TAG_NAME, "h1").text
    level_zh = {1: "重大风险", 2: "较大风险", 3: "一般风险", 4: "低风险"}[level]
    assert level_zh in phone.find_element(By.ID, "level").text
    assert phone.find_elements(By.CSS_SELECTOR, "#reasons li") and phone.find_elements(By.ID, "hazards")
    fits_in_chinese(phone)
    phone.save_screenshot(str(artifacts / "site-phone.png"))

    phone.get(f"{live_server}/sites/{other}")
    wait_until(lambda: phone.find_elements(By.CSS_SELECTOR, "main h1"))
    assert phone.find_element(By.CSS_SELECTOR, "main h1").text == "未找到"
    assert other in phone.page_source and "定级依据" not in phone.page_source
    fits_in_chinese(phone)
    # The same answer, status 404, as for a code that does not exist: nothing tells the two apart.
    with httpx.Client(base_url=live_server) as http:
        assert http.post("/login", data={"login": login, "password": PASSWORD, "next": "/"}).status_code == 303
        refused, missing = http.get(f"/sites/{other}"), http.get("/sites/JL-NONE-9999")
        assert refused.status_code == missing.status_code == 404
        assert refused.text.replace(other, "X") == missing.text.replace("JL-NONE-9999", "X")
        assert http.get(f"/sites/{own}").status_code == 200
    with httpx.Client(base_url=live_server) as anonymous:
        assert anonymous.get(f"/sites/{own}").status_code == 303  # sign in first


def test_a_site_popup_on_the_map_links_to_its_page(
    logins: dict[Role, str], browser: Any, live_server: str, seeded: Engine
) -> None:
    open_map(browser, live_server + "/", logins[Role.viewer])
    code = browser.execute_script(
        "const r = window.riskmap, m = r.markers.find(m => r.map.hasLayer(m));"
        " r.map.setView(m.getLatLng(), 12); m.fire('click', {latlng: m.getLatLng()});"
        " return m.feature.properties.code;"
    )
    # The popup fades in (Leaflet): until it is visible its link reads as empty text.
    link = wait_until(
        lambda: [a for a in browser.find_elements(By.CSS_SELECTOR, ".leaflet-popup-content a.site-page") if a.text]
    )[0]
    assert link.text == "场所详情（报警、隐患）"
    link.click()
    wait_until(lambda: browser.current_url.endswith(f"/sites/{code}"))
    wait_until(lambda: browser.find_elements(By.ID, "level"))
    assert code in browser.find_element(By.TAG_NAME, "h1").text
