"""One site that cannot be graded never stops the regrade: it keeps its last level, says why in
the risk API, on the map (grey dashed outline, the reason in its popup) and in the operators'
list, and every other site is graded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.models import HazardUnit, InventoryItem, Site, SiteRisk
from backend.risk.engine import regrade
from tests.support.browser import open_map

UNKNOWN = "某未列明物质甲"


def _regrade(engine: Engine):
    with Session(engine) as s, s.begin():
        s.info["actor"] = "test:grading-errors"
        return regrade(s)


@pytest.fixture
def broken_site(seeded: Engine) -> Iterator[tuple[str, int]]:
    """A graded chemical site given one substance that is in no table and has no class."""
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:grading-errors"
        site = s.scalar(select(Site).where(Site.kind == "hazchem").order_by(Site.code.desc()).limit(1))
        assert site is not None
        before = s.scalar(select(SiteRisk.level).where(SiteRisk.site_id == site.id))
        unit = s.scalar(select(HazardUnit).where(HazardUnit.site_id == site.id).order_by(HazardUnit.code).limit(1))
        assert unit is not None
        s.add(InventoryItem(site_id=site.id, unit_id=unit.id, substance=UNKNOWN, cas=None, max_quantity_t=3.0))
        code = site.code
    assert before is not None
    yield code, before
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:grading-errors"
        s.execute(text("DELETE FROM inventory_items WHERE substance = :n"), {"n": UNKNOWN})
    _regrade(seeded)


def test_a_site_that_cannot_be_graded_keeps_its_level_and_the_others_are_graded(
    seeded: Engine, broken_site: tuple[str, int], client: TestClient, anonymous: TestClient, tokens: dict[Role, str]
) -> None:
    code, before = broken_site
    report = _regrade(seeded)
    with Session(seeded) as s:
        total = s.scalar(select(func.count()).select_from(Site))
        row = s.execute(
            select(SiteRisk.level, SiteRisk.grading_error)
            .join(Site, Site.id == SiteRisk.site_id)
            .where(Site.code == code)
        ).one()
    assert code in report.errors and report.graded == total - len(report.errors)
    assert row.level == before, "the last level is kept"
    assert UNKNOWN in row.grading_error and row.grading_error.startswith("无法定级")

    fc = client.get("/api/v1/risk/sites").json()
    props = next(f["properties"] for f in fc["features"] if f["id"] == code)
    assert props["level"] == before and UNKNOWN in props["grading_error"]
    assert all(f["properties"]["grading_error"] is None for f in fc["features"] if f["id"] not in report.errors)

    assert anonymous.get("/api/v1/risk/grading-errors").status_code == 401
    listed = client.get(
        "/api/v1/risk/grading-errors", headers={"Authorization": f"Bearer {tokens[Role.operator]}"}
    ).json()
    assert next(e for e in listed if e["code"] == code)["level"] == before

    # Fixed: the next regrade clears the flag.
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:grading-errors"
        s.execute(text("DELETE FROM inventory_items WHERE substance = :n"), {"n": UNKNOWN})
    _regrade(seeded)
    with Session(seeded) as s:
        assert (
            s.scalar(select(SiteRisk.grading_error).join(Site, Site.id == SiteRisk.site_id).where(Site.code == code))
            is None
        )


def test_a_site_never_graded_is_listed_without_a_level(seeded: Engine, client: TestClient) -> None:
    """A new site whose first grading fails has no level to keep: it is drawn grey, not hidden."""
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:grading-errors"
        template = s.scalar(select(Site).where(Site.kind == "hazchem").order_by(Site.code).limit(1))
        assert template is not None
        site = Site(
            code="JL-HAZ-9901",
            name="测试未定级化工厂",
            kind="hazchem",
            enterprise_id=template.enterprise_id,
            region_adcode=template.region_adcode,
            location=template.location,
        )
        s.add(site)
        s.flush()
        unit = HazardUnit(site_id=site.id, code="T1", name="1号罐区", kind="storage")
        s.add(unit)
        s.flush()
        s.add(InventoryItem(site_id=site.id, unit_id=unit.id, substance=UNKNOWN, cas=None, max_quantity_t=1.0))
    try:
        report = _regrade(seeded)
        assert "JL-HAZ-9901" in report.errors
        props = next(
            f["properties"] for f in client.get("/api/v1/risk/sites").json()["features"] if f["id"] == "JL-HAZ-9901"
        )
        assert props["level"] is None and props["color"] is None and UNKNOWN in props["grading_error"]
        counties = client.get("/api/v1/risk/regions", params={"by": "county"})
        assert counties.status_code == 200
    finally:
        with Session(seeded) as s, s.begin():
            s.info["actor"] = "test:grading-errors"
            s.execute(text("DELETE FROM sites WHERE code = 'JL-HAZ-9901'"))


def test_the_map_shows_the_grading_error_in_grey_with_the_reason(
    logins: dict[Role, str],
    browser,
    live_server: str,
    seeded: Engine,
    broken_site: tuple[str, int],
    tokens: dict[Role, str],
) -> None:
    code, _ = broken_site
    _regrade(seeded)
    open_map(browser, live_server + "/", logins[Role.viewer])
    shown = browser.execute_script(
        """
        const r = window.riskmap, code = arguments[0];
        const m = r.markers.find(m => m.feature.properties.code === code);
        r.map.setView(m.getLatLng(), 12, { animate: false });
        m.openPopup();
        return { text: document.querySelector('.leaflet-popup-content').innerText,
                 outline: m.options.color, dash: m.options.dashArray };
        """,
        code,
    )
    assert "本次未能定级" in shown["text"] and UNKNOWN in shown["text"]
    assert shown["outline"] == "#616161" and shown["dash"]


def test_a_mine_missing_its_attributes_is_flagged_in_chinese_not_graded_blue(seeded: Engine) -> None:
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:grading-errors"
        template = s.scalar(select(Site).where(Site.kind == "coal_mine").order_by(Site.code).limit(1))
        assert template is not None
        s.add(
            Site(
                code="JL-COAL-9901",
                name="测试缺属性煤矿",
                kind="coal_mine",
                enterprise_id=template.enterprise_id,
                region_adcode=template.region_adcode,
                location=template.location,
            )
        )
    try:
        report = _regrade(seeded)
        assert (
            report.errors["JL-COAL-9901"]
            == "无法定级：登记信息缺少瓦斯等级、水文地质类型、设计生产能力，请补全后重新定级"
        )
        assert set(report.errors) == {"JL-COAL-9901"}, "the sample register grades without errors"
    finally:
        with Session(seeded) as s, s.begin():
            s.info["actor"] = "test:grading-errors"
            s.execute(text("DELETE FROM sites WHERE code = 'JL-COAL-9901'"))
