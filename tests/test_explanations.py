"""What a regulator reads: every reason in Chinese with its source, no raw keys and no 'verify'
on a page; the defaults not yet confirmed are listed for administrators as 默认值（待确认）."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from backend.core.principal import Role
from backend.domain.inherent import mine_level
from backend.domain.unconfirmed import unconfirmed
from tests.support.browser import open_map
from tests.support.wait import wait_until

# A raw key (`gas_class`, `hydrogeology=…`), the word verify, or an English word: none on a page.
# Letter runs are delimited by non-letters, not \b: between a CJK character and ASCII there is no \b.
RAW = re.compile(r"[a-z]+_[a-z_]+|[a-z_]+=|verify|(?<![A-Za-z])[a-z]{4,}(?![A-Za-z])")


def test_mine_reasons_name_the_fact_and_the_level_in_chinese() -> None:
    r = mine_level("coal_mine", {"gas_class": "outburst", "hydrogeology": "simple", "capacity_10k_t": 120})
    assert r.summary == "煤与瓦斯突出矿井 → 重大风险" and r.basis.startswith("来源：《煤矿安全规程》")
    r = mine_level("coal_mine", {"gas_class": "low_gas", "hydrogeology": "simple", "capacity_10k_t": 120})
    assert r.summary == "设计生产能力 ≥ 90 万t/a → 一般风险"
    r = mine_level("noncoal_mine", {"mining_method": "open_pit", "capacity_10k_t": 20})
    assert r.summary == "未达到更高等级的条件（露天开采）→ 低风险"


def test_no_reason_on_the_map_carries_a_raw_key_or_verify(client: TestClient) -> None:
    """Every summary and basis served for the map reads as Chinese prose."""
    features = client.get("/api/v1/risk/sites").json()["features"]
    texts = [
        (f["id"], text, r["basis"])
        for f in features
        for r in f["properties"]["reasons"]
        for text in [r["summary"], *(c["text"] for c in r.get("lower", []))]
    ]
    assert texts
    offending = [t for t in texts if RAW.search(t[1]) or RAW.search(t[2])]
    assert not offending, offending[:5]


def test_unconfirmed_defaults_are_listed_with_their_source(
    client: TestClient, anonymous: TestClient, tokens: dict[Role, str]
) -> None:
    found = unconfirmed()
    files = {u.file for u in found}
    assert {"gb18218", "sensor_thresholds", "risk_rules", "flood_warning"} <= files
    assert any(u.file == "flood_warning" and u.fields == ("severity",) for u in found)
    assert anonymous.get("/api/v1/admin/unconfirmed-defaults").status_code == 401
    r = client.get("/api/v1/admin/unconfirmed-defaults", headers={"Authorization": f"Bearer {tokens[Role.admin]}"})
    assert r.status_code == 200 and len(r.json()) == len(found)
    assert all(item["source"] for item in r.json() if item["file"] != "flood_warning")


def test_the_defaults_page_lists_every_value_in_chinese_for_administrators_only(
    browser, live_server: str, tokens: dict[Role, str]
) -> None:
    browser.get(live_server + "/admin/defaults")
    browser.execute_script("sessionStorage.clear()")
    browser.get(live_server + "/admin/defaults")
    assert browser.execute_script("return document.querySelectorAll('#unconfirmed tbody tr').length") == 0

    def submit(token: str) -> None:
        browser.execute_script(
            "document.getElementById('token').value = arguments[0];"
            "document.getElementById('login').dispatchEvent(new Event('submit', {cancelable: true}));",
            token,
        )

    submit(tokens[Role.viewer])
    wait_until(lambda: browser.execute_script("return document.getElementById('msg').textContent") == "需要管理员令牌")
    submit(tokens[Role.admin])
    rows = wait_until(
        lambda: browser.execute_script("return document.querySelectorAll('#unconfirmed tbody tr').length")
    )
    assert rows == len(unconfirmed()) > 0
    text = browser.execute_script("return document.body.innerText")
    assert text.count("默认值（待确认）") >= rows and "风险分级规则" in text and "危险化学品重大危险源辨识" in text


def test_site_popups_read_in_chinese_with_their_clauses(
    logins: dict[Role, str], browser, live_server: str, client: TestClient, tokens: dict[Role, str]
) -> None:
    """One site of each kind: its popup has the reasons with their sources, and no raw key."""
    features = client.get("/api/v1/risk/sites").json()["features"]
    codes = {}
    for f in features:
        codes.setdefault(f["properties"]["kind"], f["id"])
    open_map(browser, live_server + "/", logins[Role.viewer])
    for kind, code in sorted(codes.items()):
        text = browser.execute_script(
            """
            const r = window.riskmap, code = arguments[0];
            const m = r.markers.find(m => m.feature.properties.code === code);
            m.openPopup();
            const t = document.querySelector('.leaflet-popup-content .reasons').innerText;
            m.closePopup();
            return t;
            """,
            code,
        )
        assert "来源" in text or "GB" in text, (kind, text)
        assert not RAW.search(text), (kind, RAW.search(text), text)


def test_numbers_are_never_shown_across_the_edge_they_are_judged_by() -> None:
    from backend.domain.major_hazard import Held, grade
    from backend.domain.tailings import grade_pond

    not_major = grade([Held(4.998, "氯")], 0).summary
    assert "S = Σq/Q = 0.9996 < 1" in not_major
    second = grade([Held(124.98, "氯")], 20).summary  # R = 1.0 × 4 × 24.996 = 99.98
    assert second.startswith("二级重大危险源：R = 99.98 ≥ 50")
    pond = grade_pond(99.999, 29.999).reason
    assert "总库容 99.999 万m³（五等 < 100）" in pond and "坝高 29.999 m（五等 < 30）" in pond
