"""The sample register: reproducible from its seed, as large and as realistic as promised."""

import csv
import filecmp
import json
from collections import Counter, defaultdict
from pathlib import Path

from pyproj import Geod
from shapely.geometry import Point, shape

from backend.domain.major_hazard import Held, grade
from backend.domain.substances import resolve
from sample_data.generate import generate

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
GEOD = Geod(ellps="WGS84")


def _features(name: str) -> list[dict]:
    return json.loads((SAMPLE / name).read_text(encoding="utf-8"))["features"]


def _csv(name: str) -> list[dict]:
    with (SAMPLE / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    generate(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names
    mismatch = [n for n in names if not filecmp.cmp(tmp_path / n, SAMPLE / n, shallow=False)]
    assert mismatch == []


def test_sizes_meet_the_brief() -> None:
    kinds: dict[str, int] = {}
    for f in _features("sites.geojson"):
        kinds[f["properties"]["kind"]] = kinds.get(f["properties"]["kind"], 0) + 1
    assert kinds["coal_mine"] >= 40 and kinds["noncoal_mine"] >= 60
    assert kinds["tailings_pond"] >= 80 and kinds["hazchem"] >= 150
    assert len(_features("exposed_places.geojson")) >= 1000
    assert len(_csv("sensors.csv")) >= 3000
    feature_kinds = {f["properties"]["kind"] for f in _features("exposed_features.geojson")}
    assert {
        "river",
        "reservoir",
        "railway",
        "national_highway",
        "provincial_highway",
    } <= feature_kinds
    counties = [f for f in _features("regions.geojson") if f["properties"]["level"] == "county"]
    assert len(counties) == 60


def test_every_monitored_site_has_a_gateway_and_sensors_fit_the_kind() -> None:
    sites = {f["properties"]["code"]: f["properties"]["kind"] for f in _features("sites.geojson")}
    gateways = {g["site_code"] for g in _csv("gateways.csv")}
    assert set(sites) == gateways
    expected = {
        "coal_mine": {"methane", "carbon_monoxide", "power_draw"},
        "tailings_pond": {"phreatic_line", "dam_displacement", "rainfall"},
        "hazchem": {"tank_level", "temperature", "pressure"},
    }
    by_site: dict[str, set[str]] = {}
    for s in _csv("sensors.csv"):
        by_site.setdefault(s["site_code"], set()).add(s["kind"])
    for code, kind in sites.items():
        assert expected.get(kind, set()) <= by_site[code], code


def test_some_ponds_have_villages_within_1km_downstream() -> None:
    places = [
        (shape(f["geometry"]), f["properties"])
        for f in _features("exposed_places.geojson")
        if f["properties"]["kind"] in {"village", "school"}
    ]
    head_top = 0
    for f in _features("sites.geojson"):
        p = f["properties"]
        if p["kind"] != "tailings_pond":
            continue
        lon, lat = f["geometry"]["coordinates"]
        near = [pl for pl, _ in places if abs(pl.x - lon) < 0.02 and abs(pl.y - lat) < 0.02]
        for pl in near:
            az, _, dist = GEOD.inv(lon, lat, pl.x, pl.y)
            off = abs((az - p["downstream_bearing_deg"] + 180) % 360 - 180)
            if dist <= 1000 and off <= 30:
                head_top += 1
                break
    assert 10 <= head_top < 80


def test_inventories_use_gb18218_substances() -> None:
    rows = _csv("inventory.csv")
    assert rows
    for r in rows:
        # A substance outside Table 1 carries its Table 2 class.
        assert resolve(r["substance"], r["cas"] or None, r["hazard_class"] or None), r
        assert float(r["max_quantity_t"]) > 0


def test_inventories_are_held_in_realistic_units() -> None:
    """Tank farms, warehouses and process units; some plants with several major-hazard units, some with none."""
    rows = _csv("inventory.csv")
    units: dict[tuple[str, str], list[Held]] = defaultdict(list)
    for r in rows:
        assert r["unit_code"] and r["unit_name"] and r["unit_kind"] in {"production", "storage"}, r
        units[r["site_code"], r["unit_code"]].append(
            Held(float(r["max_quantity_t"]), r["substance"], r["cas"] or None, r["hazard_class"] or None)
        )
    names = {r["unit_name"] for r in rows}
    assert any("罐区" in n for n in names) and any("仓库" in n for n in names) and any("装置" in n for n in names)
    majors: Counter[str] = Counter()
    for (site, _), held in units.items():
        majors[site] += grade(held, 0).is_major_hazard
    per_site = Counter(majors.values())
    assert per_site[0] >= 10 and sum(n for k, n in per_site.items() if k >= 2) >= 5, per_site
    shaped = {(f["properties"]["site_code"], f["properties"]["code"]) for f in _features("hazard_units.geojson")}
    assert shaped and shaped <= set(units)


def test_sites_lie_in_their_county() -> None:
    counties = {f["properties"]["adcode"]: shape(f["geometry"]) for f in _features("regions.geojson")}
    for f in _features("sites.geojson"):
        p = f["properties"]
        assert counties[p["region_adcode"]].buffer(0.01).contains(Point(f["geometry"]["coordinates"])), p["code"]
