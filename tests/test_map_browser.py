"""The four-colour map in Debian's headless Chromium, with every host but loopback unresolvable."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from backend.cli import app as cli
from backend.core.principal import Role
from backend.models import Region, Site
from backend.risk.engine import regrade
from tests.support.browser import open_map

DRAWN = """
const r = window.riskmap, map = r.map;
const inJilin = m => { const p = m.getLatLng(); return p.lat > 40.8 && p.lat < 46.4 && p.lng > 121.5 && p.lng < 131.4; };
return {
  counties: r.regions.county.getLayers().length,
  countiesOnMap: map.hasLayer(r.regions.county),
  markers: r.markers.length,
  markersOnMap: r.markers.filter(m => map.hasLayer(m) && inJilin(m)).length,
  fills: [...new Set(r.markers.filter(m => map.hasLayer(m)).map(m => m.options.fillColor))].sort(),
  kinds: r.markers.reduce((acc, m) => (acc[m.feature.properties.kind] = (acc[m.feature.properties.kind] || 0) + 1, acc), {}),
  legend: document.querySelector('.riskmap-legend').innerText,
  resources: performance.getEntriesByType('resource').map(e => e.name),
};
"""

HEX = ["#2c7bb6", "#d7191c", "#f28e2b", "#ffd92f"]


@pytest.fixture(scope="module")
def four_colours(seeded: Engine) -> None:
    """Sites reporting, so their inherent levels show in all four colours."""
    with Session(seeded) as s:
        # Graded as of ten minutes ago, so that later tests' fresh readings are newer than these.
        now = datetime.now(UTC) - timedelta(minutes=10)
        s.execute(text("UPDATE sensors SET last_reading_at = :t"), {"t": now})
        s.execute(text("UPDATE alarms SET state = 'closed' WHERE state IN ('raised', 'acknowledged')"))
        regrade(s, now=now)
        s.commit()


def load(browser, url: str, login: str | None = None) -> dict:
    open_map(browser, url, login)
    return browser.execute_script(DRAWN)


def test_four_colour_map_draws_every_county_and_site_offline(
    logins: dict[Role, str],
    browser,
    live_server: str,
    session: Session,
    artifacts: Path,
    four_colours: None,
    tokens: dict[Role, str],
) -> None:
    drawn = load(browser, live_server + "/", logins[Role.viewer])
    counties = session.scalar(select(func.count()).select_from(Region).where(Region.level == "county"))
    sites = session.scalar(select(func.count()).select_from(Site))
    assert drawn["counties"] == counties == 60 and drawn["countiesOnMap"]
    assert drawn["markers"] == drawn["markersOnMap"] == sites
    assert drawn["kinds"] == dict(session.execute(select(Site.kind, func.count()).group_by(Site.kind)).all())
    assert drawn["fills"] == HEX
    for word in ("重大风险", "较大风险", "一般风险", "低风险"):
        assert word in drawn["legend"]
    assert drawn["resources"] and all(u.startswith(live_server) for u in drawn["resources"]), drawn["resources"]
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    browser.save_screenshot(str(artifacts / "risk-map.png"))


def test_switch_to_grid_and_filter_by_colour(
    logins: dict[Role, str], browser, live_server: str, artifacts: Path, four_colours: None, tokens: dict[Role, str]
) -> None:
    load(browser, live_server + "/", logins[Role.viewer])
    labels = browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers label")
    next(lb for lb in labels if "网格四色分布" in lb.text).click()
    on_map = browser.execute_script(
        "const r = window.riskmap; return [r.map.hasLayer(r.regions.grid), r.map.hasLayer(r.regions.county),"
        " r.regions.grid.getLayers().length]"
    )
    assert on_map[0] and not on_map[1] and on_map[2] > 10
    next(lb for lb in labels if "低风险" in lb.text).click()
    fills = browser.execute_script(
        "const r = window.riskmap; return [...new Set(r.markers.filter(m => r.map.hasLayer(m)).map(m => m.options.fillColor))].sort()"
    )
    assert fills == ["#d7191c", "#f28e2b", "#ffd92f"]
    browser.save_screenshot(str(artifacts / "risk-map-grid.png"))


def test_selecting_a_head_top_pond_draws_its_downstream_zone(
    logins: dict[Role, str],
    browser,
    live_server: str,
    session: Session,
    artifacts: Path,
    four_colours: None,
    tokens: dict[Role, str],
) -> None:
    code = session.scalar(
        text(
            "SELECT s.code FROM site_risk r JOIN sites s ON s.id = r.site_id "
            "WHERE (r.reasons -> 0 -> 'evidence' ->> 'head_top')::boolean ORDER BY s.code LIMIT 1"
        )
    )
    load(browser, live_server + "/", logins[Role.viewer])
    popup = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1], code = arguments[0], r = window.riskmap;
        const m = r.markers.find(m => m.feature.properties.code === code);
        r.map.setView(m.getLatLng(), 14, { animate: false });
        m.openPopup();
        const wait = () => r.exposureSite === code ? done({
            html: document.querySelector('.leaflet-popup-content').innerText,
            found: r.exposureFound, layers: r.exposure.getLayers().length }) : setTimeout(wait, 50);
        wait();
    """,
        code,
    )
    assert code in popup["html"] and "头顶库" in popup["html"] and popup["found"] >= 1
    browser.save_screenshot(str(artifacts / "risk-map-head-top.png"))


def test_exported_map_stands_alone(browser, session: Session, artifacts: Path, four_colours: None) -> None:
    out = artifacts / "risk-map-export.html"
    result = CliRunner().invoke(cli, ["export-map", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "<script src=" not in html and 'rel="stylesheet" href=' not in html
    drawn = load(browser, out.as_uri())
    assert drawn["markers"] == session.scalar(select(func.count()).select_from(Site))
    assert drawn["counties"] == 60 and drawn["fills"] == HEX
    assert all(u.startswith("file:") or u.startswith("data:") for u in drawn["resources"])
    browser.save_screenshot(str(artifacts / "risk-map-export.png"))
