"""头顶库, 三边库 and residents within 500 m, measured in PostGIS on places placed at known
distances (far from the sample data's, and named so that nothing else can match)."""

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import LineString, Point
from sqlalchemy.orm import Session

from backend.registry.importer import Layer, Row, import_rows
from backend.risk import exposure

GEOD = Geod(ellps="WGS84")
POND = (122.60, 45.35)  # in 白城, with no sample site within kilometres
PLANT = (122.70, 45.45)
BEARING = 90.0


def at(origin: tuple[float, float], bearing: float, distance_m: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], bearing, distance_m)
    return lon, lat


def square(center: tuple[float, float], half_m: float) -> list[tuple[float, float]]:
    e = at(center, 90, half_m)[0] - center[0]
    n = at(center, 0, half_m)[1] - center[1]
    x, y = center
    return [(x - e, y - n), (x + e, y - n), (x + e, y + n), (x - e, y + n), (x - e, y - n)]


@pytest.fixture(scope="module")
def scene(seeded) -> None:
    from sqlalchemy.orm import Session

    places = [
        ("SP-990", "村990", "village", 200, at(POND, BEARING, 990)),
        ("SP-1010", "村1010", "village", 200, at(POND, BEARING, 1010)),
        ("SP-UP", "村上游", "village", 200, at(POND, BEARING + 180, 500)),
        ("SP-SIDE", "村侧方", "village", 200, at(POND, 45, 600)),  # outside the 60°–120° sector
        ("SP-EDGE450", "小区边450", "residential", 40, at(PLANT, 90, 200 + 450)),
        ("SP-EDGE550", "小区边550", "residential", 70, at(PLANT, 90, 200 + 550)),
    ]
    river = LineString([at(POND, 0, 800), at(at(POND, 0, 800), 90, 3000), at(at(POND, 0, 800), 270, 3000)][::2])
    with Session(seeded) as s:
        s.info["actor"] = "test:scene"
        report = import_rows(
            s,
            Layer.places,
            [
                Row(i, {"code": c, "name": n, "kind": k, "population": p}, Point(*xy))
                for i, (c, n, k, p, xy) in enumerate(places, 1)
            ],
        )
        assert not report.errors, report.errors
        report = import_rows(s, Layer.features, [Row(1, {"code": "SF-RIVER", "name": "河800", "kind": "river"}, river)])
        assert not report.errors, report.errors
        s.commit()


def names(places) -> set[str]:
    return {p.name for p in places}


def test_downstream_sector_finds_990_not_1010_nor_upstream(session: Session, scene: None) -> None:
    found = exposure.downstream(
        session, exposure.Source.proposal({"type": "Point", "coordinates": POND}, bearing=BEARING)
    ).get(0, [])
    assert "村990" in names(found)
    assert {"村1010", "村上游", "村侧方"}.isdisjoint(names(found))
    assert next(p for p in found if p.name == "村990").distance_m == pytest.approx(990, abs=0.5)


def test_surveyed_zone_is_used_instead_of_the_sector(session: Session, scene: None) -> None:
    # A zone towards the north-east picks the side village and not the one due east.
    zone = {"type": "Polygon", "coordinates": [[POND, at(POND, 20, 1000), at(POND, 70, 1000), POND]]}
    found = exposure.downstream(
        session, exposure.Source.proposal({"type": "Point", "coordinates": POND}, zone=zone)
    ).get(0, [])
    assert "村侧方" in names(found) and "村990" not in names(found)


def test_river_800m_away_makes_a_three_side_pond(session: Session, scene: None) -> None:
    found = exposure.waters_near(session, exposure.Source.proposal({"type": "Point", "coordinates": POND}))
    river = next(p for p in found[0] if p.name == "河800")
    assert river.kind == "river" and river.distance_m == pytest.approx(800, abs=1)


def test_residents_counted_from_the_footprint_edge_not_the_centroid(session: Session, scene: None) -> None:
    footprint = {"type": "Polygon", "coordinates": [square(PLANT, 200)]}
    by_edge = exposure.residents_near(session, exposure.Source.proposal(None, footprint)).get(0, [])
    assert "小区边450" in names(by_edge) and "小区边550" not in names(by_edge)
    by_point = exposure.residents_near(session, exposure.Source.proposal({"type": "Point", "coordinates": PLANT}))
    assert "小区边450" not in names(by_point.get(0, []))


def test_tailings_assessment_api(client: TestClient, scene: None) -> None:
    body = {
        "capacity_10k_m3": 1500,
        "dam_height_m": 70,
        "location": {"type": "Point", "coordinates": list(POND)},
        "downstream_bearing_deg": BEARING,
    }
    r = client.post("/api/v1/assessments/tailings-pond", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["pond_class"] == 3 and out["head_top"] and out["three_side"]
    assert out["head_top_evidence"][0]["name"] == "村990" and out["head_top_evidence"][0]["population"] == 200
    assert any(e["name"] == "河800" for e in out["three_side_evidence"])
    assert (out["level"], out["color"]) == (1, "red")
    upstream = client.post("/api/v1/assessments/tailings-pond", json=body | {"downstream_bearing_deg": 180}).json()
    assert not upstream["head_top"]


def test_major_hazard_assessment_api(client: TestClient, scene: None) -> None:
    worked = {
        "substances": [{"cas": "7782-50-5", "quantity_t": 10}, {"name": "氨", "quantity_t": 30}],
        "exposed_population": 120,
    }
    out = client.post("/api/v1/assessments/major-hazard", json=worked).json()
    assert (out["s"], out["r"], out["grade"], out["color"], out["alpha"]) == (5, 28, 3, "yellow", 2.0)
    assert out["substances"][0] | {} == out["substances"][0] and out["substances"][0]["critical_quantity_t"] == 5
    assert "GB 18218" in out["basis"]
    footprint = {"type": "Polygon", "coordinates": [square(PLANT, 200)]}
    counted = client.post(
        "/api/v1/assessments/major-hazard", json={"substances": worked["substances"], "footprint": footprint}
    ).json()
    assert counted["exposed_population"] >= 40 and counted["alpha"] in (1.2, 1.5, 2.0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"substances": [{"name": "氯", "quantity_t": -1}], "exposed_population": 1}, "quantity_t"),
        ({"substances": [{"name": "二噁英", "quantity_t": 1}], "exposed_population": 1}, "substances"),
        ({"substances": [{"name": "氯", "quantity_t": 1}]}, "exposed_population"),
        (
            {
                "substances": [{"name": "氯", "quantity_t": 1}],
                "location": {"type": "Point", "coordinates": [2.3, 48.8]},
            },
            "location",
        ),
        (
            {
                "substances": [{"name": "氯", "quantity_t": 1}],
                "footprint": {
                    "type": "Polygon",
                    "coordinates": [[[126, 43], [127, 44], [127, 43], [126, 44], [126, 43]]],
                },
            },
            "footprint",
        ),
    ],
)
def test_bad_assessments_get_422_naming_the_field(client: TestClient, body: dict, field: str) -> None:
    r = client.post("/api/v1/assessments/major-hazard", json=body)
    assert r.status_code == 422
    assert field in str(r.json()["detail"])
