"""The map page in Debian's headless Chromium, with every host but loopback unresolvable."""

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.models import Region, Site

READY = """
const done = arguments[arguments.length - 1];
const wait = () => window.riskmap && window.riskmap.ready
    ? window.riskmap.ready.then(() => done(true), e => done(String(e)))
    : setTimeout(wait, 50);
wait();
"""

DRAWN = """
const r = window.riskmap, map = r.map;
const counties = r.counties.getLayers();
const markers = Object.values(r.sites).flatMap(l => l.getLayers());
const inJilin = m => { const p = m.getLatLng(); return p.lat > 40.8 && p.lat < 46.4 && p.lng > 121.5 && p.lng < 131.4; };
return {
  counties: counties.length,
  countiesOnMap: counties.filter(l => map.hasLayer(l)).length,
  markers: markers.length,
  markersOnMap: markers.filter(m => map.hasLayer(m) && inJilin(m)).length,
  kinds: Object.fromEntries(Object.entries(r.sites).map(([k, l]) => [k, l.getLayers().length])),
  resources: performance.getEntriesByType('resource').map(e => e.name),
};
"""


def test_map_draws_every_county_and_site_offline(
    browser, live_server: str, session: Session, artifacts: Path
) -> None:
    browser.get(live_server + "/")
    assert browser.execute_async_script(READY) is True
    drawn = browser.execute_script(DRAWN)
    counties = session.scalar(
        select(func.count()).select_from(Region).where(Region.level == "county")
    )
    sites = session.scalar(select(func.count()).select_from(Site))
    assert drawn["counties"] == drawn["countiesOnMap"] == counties == 60
    assert drawn["markers"] == drawn["markersOnMap"] == sites
    by_kind = dict(session.execute(select(Site.kind, func.count()).group_by(Site.kind)).all())
    assert drawn["kinds"] == by_kind
    # Everything the page loaded came from the platform itself.
    assert drawn["resources"] and all(u.startswith(live_server) for u in drawn["resources"]), drawn[
        "resources"
    ]
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    browser.save_screenshot(str(artifacts / "map.png"))


def test_site_popup_shows_the_register(browser, live_server: str, artifacts: Path) -> None:
    browser.get(live_server + "/")
    assert browser.execute_async_script(READY) is True
    html = browser.execute_script("""
        const m = window.riskmap.sites.tailings_pond.getLayers().find(l => l.feature.properties.code === 'JL-TSF-0001');
        window.riskmap.map.setView(m.getLatLng(), 11, { animate: false });
        m.openPopup();
        return document.querySelector('.leaflet-popup-content').innerHTML;
    """)
    assert "JL-TSF-0001" in html and "尾矿库" in html
    browser.save_screenshot(str(artifacts / "map-popup.png"))
