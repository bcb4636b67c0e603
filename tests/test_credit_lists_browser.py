"""The public credit-list page (/credit-lists) in headless Chromium: a county regulator lists an
enterprise of its county and removes it again from a phone (390 × 844); the public, at the desktop
size, reads the lists with no form and filters them by county. Chinese throughout, nothing wider
than the screen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import Engine, text

from backend.core.clock import china_day
from backend.core.principal import Role
from backend.supervision import service
from tests.support.accounts import browser_sign_in, make_user
from tests.support.browser import fits_in_chinese
from tests.support.jurisdiction import PANSHI, SHULAN
from tests.support.wait import wait_until


@pytest.fixture
def firm(seeded: Engine) -> Iterator[Any]:
    """An enterprise of 磐石市 on no list; its entries away again afterwards."""
    with seeded.connect() as c:
        row = c.execute(
            text(
                "SELECT id, credit_code, name FROM enterprises WHERE region_adcode = :c AND credit_list = 'none' "
                "AND status = 'operating' ORDER BY id DESC LIMIT 1"
            ),
            {"c": PANSHI},
        ).one()
    yield row
    with seeded.begin() as c:
        c.execute(text("DELETE FROM credit_list_entries WHERE enterprise_id = :e"), {"e": row.id})
        c.execute(text("UPDATE enterprises SET credit_list = 'none' WHERE id = :e"), {"e": row.id})


def test_a_county_regulator_lists_and_removes_an_enterprise_on_a_phone(
    phone: Any, live_server: str, seeded: Engine, firm: Any, artifacts: Path
) -> None:
    login = make_user(seeded, PANSHI, ["regulator"], name="磐石监管员")
    browser_sign_in(phone, live_server, login, "/credit-lists")
    wait_until(lambda: phone.current_url.endswith("/credit-lists"))
    form = wait_until(lambda: phone.find_elements(By.ID, "add-entry"))[0]
    form.find_element(By.NAME, "credit_code").send_keys(firm.credit_code)
    form.find_element(By.CSS_SELECTOR, "input[name=list][value=black]").click()
    form.find_element(By.NAME, "reason").send_keys("发生较大生产安全事故")
    form.find_element(By.NAME, "document_no").send_keys("磐应急失信〔2026〕9号")
    until = (china_day() + timedelta(days=3 * 365)).isoformat()
    phone.execute_script("arguments[0].value = arguments[1]", form.find_element(By.NAME, "valid_until"), until)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    row = f"#black-list tr[data-credit-code='{firm.credit_code}']"
    wait_until(lambda: phone.find_elements(By.CSS_SELECTOR, row))
    status = phone.find_element(By.CSS_SELECTOR, "p.msg.ok").text
    add = service.supervision_rules().raises.blacklist.add_per_year
    assert f"已将{firm.name}列入黑名单" in status and "黑名单" in status, status
    listed = phone.find_element(By.CSS_SELECTOR, row).text
    assert "发生较大生产安全事故" in listed and "磐应急失信〔2026〕9号" in listed and until in listed
    assert "磐石市应急管理局" in listed
    assert f"每年增加 {add} 次检查" in phone.find_element(By.ID, "effect-black").text
    fits_in_chinese(phone)
    phone.save_screenshot(str(artifacts / "credit-lists-phone.png"))
    with seeded.connect() as c:
        assert c.scalar(text("SELECT credit_list FROM enterprises WHERE id = :e"), {"e": firm.id}) == "black"

    # 移出 from the row, with its reason: the entry moves to 历史
    entry = phone.find_element(By.CSS_SELECTOR, row)
    entry.find_element(By.NAME, "reason").send_keys("隐患整改完成，准予信用修复")
    entry.find_element(By.CSS_SELECTOR, "form.remove button").click()
    gone = f"#history-list tr[data-credit-code='{firm.credit_code}']"
    wait_until(lambda: phone.find_elements(By.CSS_SELECTOR, gone))
    assert "隐患整改完成，准予信用修复" in phone.find_element(By.CSS_SELECTOR, gone).text
    assert not phone.find_elements(By.CSS_SELECTOR, row)
    assert f"已将{firm.name}移出黑名单" in phone.find_element(By.CSS_SELECTOR, "p.msg.ok").text
    fits_in_chinese(phone)
    with seeded.connect() as c:
        assert c.scalar(text("SELECT credit_list FROM enterprises WHERE id = :e"), {"e": firm.id}) == "none"
        actors = set(
            c.scalars(
                text("SELECT actor FROM audit_log WHERE entity = 'credit_list_entries' AND enterprise_id = :e"),
                {"e": firm.id},
            )
        )
    assert actors == {f"user:{login}"}


def test_the_public_reads_the_lists_without_a_form_and_filters_by_county(
    browser: Any, live_server: str, seeded: Engine, firm: Any, client: Any, tokens: dict[Role, str]
) -> None:
    body = {
        "credit_code": firm.credit_code,
        "list": "red",
        "reason": "安全生产标准化一级企业",
        "document_no": "磐应急守信〔2026〕1号",
    }
    made = client.post("/api/v1/credit-lists", json=body, headers={"Authorization": f"Bearer {tokens[Role.operator]}"})
    assert made.status_code == 201, made.text
    browser.get(f"{live_server}/credit-lists")
    red = f"#red-list tr[data-credit-code='{firm.credit_code}']"
    assert "安全生产标准化一级企业" in browser.find_element(By.CSS_SELECTOR, red).text
    assert not browser.find_elements(By.ID, "add-entry") and not browser.find_elements(By.CSS_SELECTOR, "form.remove")
    rules = service.supervision_rules().lowering.redlist
    assert (
        f"每年减少 {rules.subtract_per_year} 次检查，但不少于 {rules.min_per_year} 次"
        in browser.find_element(By.ID, "effect-red").text
    )
    assert [h.text.split()[0] for h in browser.find_elements(By.CSS_SELECTOR, "section.card h2")][1:4] == [
        "黑名单",
        "红名单",
        "历史",
    ]
    fits_in_chinese(browser)

    Select(browser.find_element(By.NAME, "region")).select_by_value(SHULAN)
    browser.find_element(By.CSS_SELECTOR, "#credit-filter button").click()
    wait_until(lambda: "region=" + SHULAN in browser.current_url)
    assert not browser.find_elements(By.CSS_SELECTOR, red)  # a 磐石市 entry is not 舒兰市's
    Select(browser.find_element(By.NAME, "region")).select_by_value(PANSHI)
    browser.find_element(By.CSS_SELECTOR, "#credit-filter button").click()
    wait_until(lambda: "region=" + PANSHI in browser.current_url)
    assert browser.find_elements(By.CSS_SELECTOR, red)
