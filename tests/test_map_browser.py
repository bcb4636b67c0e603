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


# The panels' boxes, and those of the tab bar and the layer control, on the page as it is.
PANEL_BOXES = """
const box = sel => { const e = document.querySelector(sel); if (!e) return null;
  const s = getComputedStyle(e); if (s.display === 'none' || s.visibility === 'hidden') return null;
  const r = e.getBoundingClientRect(); return r.width && r.height ? [r.left, r.top, r.right, r.bottom] : null; };
return {
  alarms: box('.riskmap-alerts'), broadcasts: box('.riskmap-broadcasts'),
  layers: box('.leaflet-control-layers'), legend: box('.riskmap-legend'), tabs: box('.riskmap-tabs'),
  width: window.innerWidth,
  // For each shown panel: is it what a tap lands on, at its corners and centre (nothing on top)?
  onTop: Object.fromEntries(['.riskmap-alerts', '.riskmap-broadcasts', '.leaflet-control-layers', '.riskmap-legend']
    .map(sel => [sel, document.querySelector(sel)]).filter(([, e]) => e && getComputedStyle(e).display !== 'none')
    .map(([sel, e]) => { const r = e.getBoundingClientRect();
      return [sel, [[r.left + 4, r.top + 4], [r.right - 4, r.bottom - 4], [r.left + 4, r.bottom - 4],
        [(r.left + r.right) / 2, (r.top + r.bottom) / 2]].every(([x, y]) => e.contains(document.elementFromPoint(x, y)))]; })),
};
"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1


@pytest.fixture
def phone(browser):
    """The browser as a phone: 390 × 844 CSS pixels, touch, until the test ends."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}
    )
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_on_a_phone_the_panels_open_one_at_a_time_from_tabs(
    logins: dict[Role, str], phone, live_server: str, artifacts: Path, four_colours: None
) -> None:
    load(phone, live_server + "/", logins[Role.duty])
    shown = phone.execute_script(PANEL_BOXES)
    assert shown["width"] == 390
    # Closed: no panel covers the map, only the tab bar at the bottom.
    assert [k for k in ("alarms", "broadcasts", "layers", "legend") if shown[k]] == []
    assert shown["tabs"] and shown["tabs"][3] == 844 and shown["tabs"][1] > 780
    tabs = {b.text: b for b in phone.find_elements(By.CSS_SELECTOR, ".riskmap-tabs button") if b.is_displayed()}
    assert set(tabs) == {"报警", "叫应", "图层", "图例"}
    for label, key in (("报警", "alarms"), ("叫应", "broadcasts"), ("图层", "layers"), ("图例", "legend")):
        tabs[label].click()
        shown = phone.execute_script(PANEL_BOXES)
        opened = [k for k in ("alarms", "broadcasts", "layers", "legend") if shown[k]]
        assert opened == [key], (label, shown)
        panel = shown[key]
        assert panel[0] >= 0 and panel[2] <= 390 and panel[1] >= 0, (label, panel)
        assert not _overlap(panel, shown["tabs"]), (label, shown)
        assert list(shown["onTop"].values()) == [True], (label, shown["onTop"])
        phone.save_screenshot(str(artifacts / f"risk-map-phone-{key}.png"))
    # The layer control still works from its drawer, and tapping the open tab closes it.
    tabs["图层"].click()
    next(
        lb for lb in phone.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers label") if "网格四色分布" in lb.text
    ).click()
    assert phone.execute_script("const r = window.riskmap; return r.map.hasLayer(r.regions.grid)") is True
    tabs["图层"].click()
    assert [k for k in ("alarms", "broadcasts", "layers", "legend") if phone.execute_script(PANEL_BOXES)[k]] == []
    # The map itself: a site's popup opens by tapping its marker.
    opened = phone.execute_script(
        "const r = window.riskmap, m = r.markers.find(m => r.map.hasLayer(m));"
        " r.map.setView(m.getLatLng(), 12); m.fire('click', {latlng: m.getLatLng()});"
        " return !!document.querySelector('.leaflet-popup-content');"
    )
    assert opened is True
    assert [e for e in phone.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_wide_screen_has_no_tab_bar_and_every_panel_shown(
    logins: dict[Role, str], browser, live_server: str, four_colours: None
) -> None:
    load(browser, live_server + "/", logins[Role.duty])
    shown = browser.execute_script(PANEL_BOXES)
    assert shown["tabs"] is None
    assert all(shown[k] for k in ("alarms", "broadcasts", "layers", "legend")), shown
