"""The map page: a folium map whose every asset is served by the platform itself.

folium draws the page (Leaflet map, optional basemap, scale); the scripts in `static/` (SCRIPTS,
one per feature) fetch the layers from the API by URL, so the page stays small and always shows
the register as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, JavascriptLink, MacroElement
from jinja2 import Template

from backend.domain.rules_models import risk_levels
from backend.domain.units import DISPLAY

STATIC = Path(__file__).parent / "static"
JILIN_CENTER = (43.5, 126.3)
# The map's scripts, in the order the page loads them: each adds its part to window.RiskMap, the
# last one (riskmap.js) puts them together in RiskMap.init.
SCRIPTS = (
    "riskmap-core.js",
    "riskmap-popup.js",
    "riskmap-layers.js",
    "riskmap-alarms.js",
    "riskmap-broadcasts.js",
    "riskmap-hazards.js",
    "riskmap.js",
)

# A site's fill is its risk colour; its outline says its kind.
KIND_STYLE = {
    "coal_mine": {"color": "#3b3b3b", "label": "煤矿"},
    "noncoal_mine": {"color": "#8c564b", "label": "非煤矿山"},
    "tailings_pond": {"color": "#17becf", "label": "尾矿库"},
    "hazchem": {"color": "#9467bd", "label": "危险化学品企业"},
}


class _Boot(MacroElement):
    """Starts the map's scripts (SCRIPTS) on the folium map once the page's scripts are loaded."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        RiskMap.init({{ this._parent.get_name() }}, {{ this.config | tojson }});
        {% endmacro %}"""
    )

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self._name = "RiskMapBoot"
        self.config = config


def build_map(
    api_base: str = "/api/v1",
    static_base: str = "/static",
    basemap_url: str | None = None,
    basemap_attribution: str = "",
    title: str = "吉林省安全风险四色分布图",
    data: dict[str, Any] | None = None,
) -> folium.Map:
    m = folium.Map(
        location=JILIN_CENTER,
        zoom_start=7,
        tiles=None,
        control_scale=False,
        prefer_canvas=True,
        min_zoom=5,
        max_zoom=18,
    )
    # Replace folium's CDN links with the copies the platform serves.
    m.default_js = [("leaflet", f"{static_base}/vendor/leaflet/leaflet.js")]
    m.default_css = [
        ("leaflet_css", f"{static_base}/vendor/leaflet/leaflet.css"),
        ("riskmap_css", f"{static_base}/riskmap.css"),
    ]
    if basemap_url:
        folium.TileLayer(tiles=basemap_url, attr=basemap_attribution or " ", name="底图").add_to(m)
    root = m.get_root()
    root.header.add_child(Element(f"<title>{title}</title>"))
    root.html.add_child(Element(f'<div id="riskmap-title">{title}</div>'))
    for script in SCRIPTS:
        root.html.add_child(JavascriptLink(f"{static_base}/{script}"))
    config: dict[str, Any] = {
        "api": api_base,
        "kinds": KIND_STYLE,
        "levels": [lv.model_dump(mode="json") for lv in risk_levels().levels],
        "units": DISPLAY,  # units as people write them (℃, m³)
    }
    if data is not None:
        config |= {"data": data, "exportedAt": datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M")}
    _Boot(config).add_to(m)
    return m


def render_page(**kwargs: Any) -> str:
    return build_map(**kwargs).get_root().render()


def inline_assets(html: str, static_base: str = "/static") -> str:
    """Put the local scripts and styles into the page itself, for a file that stands alone."""
    for path in sorted(STATIC.rglob("*")):
        if path.suffix not in {".js", ".css"}:
            continue
        url = f"{static_base}/{path.relative_to(STATIC).as_posix()}"
        body = path.read_text(encoding="utf-8")
        html = html.replace(f'<script src="{url}"></script>', f"<script>{body}</script>")
        html = html.replace(f'<link rel="stylesheet" href="{url}"/>', f"<style>{body}</style>")
    return html


def export_map(fetch: Callable[[str], Any]) -> str:
    """A self-contained four-colour map: assets and the API's current layers inlined."""
    data = {"sites": fetch("/api/v1/risk/sites")}
    for view in ("county", "prefecture", "grid"):
        data[f"regions_{view}"] = fetch(f"/api/v1/risk/regions?by={view}")
    return inline_assets(build_map(data=data).get_root().render())
