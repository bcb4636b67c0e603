"""Tailings ponds: the GB 50863-2013 class table with its class-1 band, the operator's §3.2.1
upgrade through the API (regraded and audited), and the 1 km limit on every kind of 头顶库
evidence, inside a surveyed downstream zone too (measured in PostGIS)."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.domain.inherent import PondFacts, tailings_level
from backend.domain.levels import ORANGE, YELLOW
from backend.domain.tailings import Upgrade, grade_pond, pond_class
from backend.registry.importer import Layer, Row, import_rows
from backend.risk import exposure
from backend.risk.engine import regrade
from backend.warnings.issue import BroadcastOrder, issue

# --- the class table ---------------------------------------------------------------------------

# (V at the lower edge of the band, V just below its upper edge) per class, 万m³; then H, m.
V_EDGES = {1: (50000, 1e7), 2: (10000, 49999.99), 3: (1000, 9999.99), 4: (100, 999.99), 5: (0, 99.99)}
H_EDGES = {1: (200, 999), 2: (100, 199.99), 3: (60, 99.99), 4: (30, 59.99), 5: (0, 29.99)}
# GB 50863-2013 §3.2.1 written out: same -> it; one apart -> the higher; more -> the higher lowered by one.
EXPECTED = {  # EXPECTED[class by V][class by H - 1]
    1: [1, 1, 2, 2, 2],
    2: [1, 2, 2, 3, 3],
    3: [2, 2, 3, 3, 4],
    4: [2, 3, 3, 4, 4],
    5: [2, 3, 4, 4, 5],
}


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [(v, k) for k, edges in V_EDGES.items() for v in edges] + [(49999.99, 2), (9999.99, 3), (999.99, 4), (99.99, 5)],
)
def test_capacity_bands_at_every_edge(capacity: float, expected: int) -> None:
    assert grade_pond(capacity, 0).by_capacity == expected


@pytest.mark.parametrize(("height", "expected"), [(h, k) for k, edges in H_EDGES.items() for h in edges])
def test_height_bands_at_every_edge(height: float, expected: int) -> None:
    assert grade_pond(0, height).by_height == expected


@pytest.mark.parametrize(
    ("capacity", "height", "expected"),
    [
        (v, h, EXPECTED[kv][kh - 1])
        for kv, v_edges in V_EDGES.items()
        for kh, h_edges in H_EDGES.items()
        for v in v_edges
        for h in h_edges
    ],
)
def test_combined_class_at_every_boundary(capacity: float, height: float, expected: int) -> None:
    graded = grade_pond(capacity, height)
    assert graded.pond_class == graded.computed == pond_class(capacity, height) == expected
    gap = abs(graded.by_capacity - graded.by_height)
    assert graded.rule == ("same" if gap == 0 else "one_apart" if gap == 1 else "more_apart")


def test_class_1_needs_no_upgrade() -> None:
    assert pond_class(50000, 200) == 1  # the superseded AQ 2006-2005 rule made this a 二等 pond
    assert grade_pond(60000, 150).reason.startswith(
        "一等库：总库容 60000 万m³（一等 ≥ 50000），坝高 150 m（二等 100–200）"
    )


def test_reasons_name_the_facts_the_bands_and_the_clause() -> None:
    assert grade_pond(12000, 80).reason == (
        "二等库：总库容 12000 万m³（二等 10000–50000），坝高 80 m（三等 60–100），相差一等取高者（GB 50863-2013 第3.2.1条）"
    )
    assert grade_pond(20000, 10).reason == (
        "三等库：总库容 20000 万m³（二等 10000–50000），坝高 10 m（五等 < 30），相差三等，取高者降一等"
        "（GB 50863-2013 第3.2.1条）"
    )


def test_recorded_upgrade_raises_one_class_with_its_reason_but_never_past_class_1() -> None:
    up = Upgrade(3, 2, "溃坝将危及下游县城", "token:ops", "2026-11-25T10:00:00+00:00")
    raised = grade_pond(1500, 70, up)
    assert (raised.computed, raised.pond_class, raised.rule) == (3, 2, "same+upgrade")
    assert raised.reason.startswith(
        "二等库：依 GB 50863-2013 第3.2.1条提等（由三等提为二等），理由：溃坝将危及下游县城"
    )
    top = grade_pond(60000, 250, up)
    assert top.pond_class == 1 and "一等库不再提等" in top.reason
    level = tailings_level(PondFacts(1500, 70, True, upgrade=up))
    assert level.level == ORANGE and level.evidence["pond_class"] == 2 and level.evidence["computed_pond_class"] == 3
    assert tailings_level(PondFacts(1500, 70, True)).level == YELLOW
    assert "token:" not in raised.reason  # who recorded it is in the audit log, not in the text


def test_an_upgrade_recorded_for_another_class_is_not_applied() -> None:
    """V or H changed since the operator's decision about a 三等 pond: it is not carried over."""
    up = Upgrade(3, 2, "溃坝将危及下游县城", "token:ops", "2026-11-25T10:00:00+00:00")
    now_second = grade_pond(12000, 120, up)
    assert (now_second.computed, now_second.pond_class) == (2, 2)
    assert "是按三等作出的，现按库容与坝高为二等，未予适用" in now_second.reason


def test_tailings_reason_is_chinese_with_the_machine_fields_beside_it() -> None:
    reason = tailings_level(PondFacts(60000, 210, False))
    assert "verify" not in reason.summary and "=" not in reason.summary
    assert "GB 50863-2013 第3.2.1条" in reason.summary and "非头顶库" in reason.summary
    assert reason.evidence["clause"] == "GB 50863-2013 第3.2.1条" and reason.evidence["pond_class"] == 1
    assert "AQ 2006" not in reason.basis


# --- stored ponds in PostGIS -------------------------------------------------------------------

GEOD = Geod(ellps="WGS84")
BIG = (122.35, 45.25)  # in 白城, kilometres from any sample site (checked below)
PLAIN = (122.35, 45.15)
BEARING = 90.0


def at(origin: tuple[float, float], bearing: float, distance_m: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], bearing, distance_m)
    return lon, lat


def across(bearing: float, distance_m: float, half_m: float = 150) -> LineString:
    """A short line square to the ray from the dam, nearest to it at `distance_m`."""
    mid = at(BIG, bearing, distance_m)
    return LineString([at(mid, bearing - 90, half_m), at(mid, bearing + 90, half_m)])


def fan(origin: tuple[float, float], radius_m: float, half_deg: float) -> Polygon:
    arc = [at(origin, BEARING + d, radius_m) for d in range(-int(half_deg), int(half_deg) + 1, 5)]
    return Polygon([origin, *arc, origin])


@pytest.fixture(scope="module")
def ponds(seeded) -> dict[str, int]:
    """TT-BIG: a 4 km surveyed zone with villages at 990, 1010 and 3000 m and railways and
    highways at 900 and 1100 m; TT-PLAIN: a 三等 pond with nothing around; TT-ONE: a 一等 pond."""
    with Session(seeded) as s:
        s.info["actor"] = "test:tailings"
        near = s.scalar(
            text(
                "SELECT count(*) FROM sites WHERE ST_DWithin(location::geography, ST_MakePoint(:x, :y)::geography, 8000)"
            ),
            {"x": BIG[0], "y": BIG[1]},
        )
        assert near == 0
        credit = s.scalar(text("SELECT credit_code FROM enterprises ORDER BY id LIMIT 1"))
        pond = {"kind": "tailings_pond", "enterprise_credit_code": credit, "dam_type": "upstream", "wet": True}
        sites = [
            ("TT-BIG", "大库", BIG, 1500, 70),
            ("TT-PLAIN", "提等库", PLAIN, 1500, 70),
            ("TT-ONE", "一等库", at(PLAIN, 180, 5000), 60000, 210),
        ]
        rows = [
            Row(
                i,
                pond | {"code": c, "name": n, "capacity_10k_m3": v, "dam_height_m": h, "downstream_bearing_deg": 90},
                Point(*xy),
            )
            for i, (c, n, xy, v, h) in enumerate(sites, 1)
        ]
        for layer, data in [
            (Layer.sites, rows),
            (Layer.downstream_zones, [Row(1, {"code": "TT-BIG"}, fan(BIG, 4000, 35))]),
            (
                Layer.places,
                [
                    Row(
                        i,
                        {"code": f"TT-V{d}", "name": f"下游村{d}", "kind": "village", "population": 300},
                        Point(*at(BIG, BEARING, d)),
                    )
                    for i, d in enumerate([990, 1010, 3000], 1)
                ],
            ),
            (
                Layer.features,
                [
                    Row(1, {"code": "TT-RW900", "name": "铁路900", "kind": "railway"}, across(75, 900)),
                    Row(2, {"code": "TT-RW1100", "name": "铁路1100", "kind": "railway"}, across(75, 1100)),
                    Row(3, {"code": "TT-HW900", "name": "国道900", "kind": "national_highway"}, across(105, 900)),
                    Row(4, {"code": "TT-HW1100", "name": "省道1100", "kind": "provincial_highway"}, across(105, 1100)),
                ],
            ),
        ]:
            report = import_rows(s, layer, data)
            assert not report.errors, (layer, report.errors)
        s.commit()
        ids = dict(s.execute(text("SELECT code, id FROM sites WHERE code LIKE 'TT-%'")).all())
        regrade(s, list(ids.values()))
        s.commit()
        return ids


def test_evidence_stops_at_1_km_inside_a_large_surveyed_zone(session: Session, ponds: dict[str, int]) -> None:
    found = exposure.downstream(session, exposure.Source.sites([ponds["TT-BIG"]]))[ponds["TT-BIG"]]
    assert {p.name for p in found} == {"下游村990", "铁路900", "国道900"}
    assert all(p.distance_m <= 1000 for p in found)
    assert next(p for p in found if p.name == "下游村990").distance_m == pytest.approx(990, abs=0.5)
    assert next(p for p in found if p.name == "铁路900").distance_m == pytest.approx(900, abs=1)


def test_the_limit_is_inclusive_and_comes_from_the_rules(
    session: Session, ponds: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = exposure.Source.sites([ponds["TT-BIG"]])
    targets = exposure.downstream_targets(session, src)[ponds["TT-BIG"]]
    measured = next(p for p in targets if p.name == "下游村1010").distance_m
    rules = exposure.tailings_rules().model_copy(update={"head_top_distance_m": measured})
    monkeypatch.setattr(exposure, "tailings_rules", lambda: rules)
    wider = {p.name for p in exposure.downstream(session, src)[ponds["TT-BIG"]]}
    assert "下游村1010" in wider and "铁路1100" not in wider  # a place exactly at the limit is within it


def test_regraded_pond_is_head_top_by_the_near_evidence_only(session: Session, ponds: dict[str, int]) -> None:
    reasons = session.scalar(text("SELECT reasons FROM site_risk WHERE site_id = :i"), {"i": ponds["TT-BIG"]})
    pond = next(r for r in reasons if r["rule"] == "tailings_pond")
    assert pond["evidence"]["head_top"] is True
    assert {p["name"] for p in pond["evidence"]["downstream"]} == {"下游村990", "铁路900", "国道900"}
    assert "头顶库：坝下游 1000 m 内有" in pond["summary"] and "下游村3000" not in pond["summary"]


def test_a_village_3_km_down_the_zone_is_no_evidence_but_still_a_warning_target(
    session: Session, ponds: dict[str, int]
) -> None:
    src = exposure.Source.sites([ponds["TT-BIG"]])
    assert "下游村3000" not in {p.name for p in exposure.downstream(session, src)[ponds["TT-BIG"]]}
    targets = {p.name for p in exposure.downstream_targets(session, src)[ponds["TT-BIG"]]}
    assert {"下游村990", "下游村1010", "下游村3000", "铁路1100"} <= targets
    area = MultiPolygon([Point(*BIG).buffer(0.05)])
    b = issue(
        session,
        BroadcastOrder("prepare", "yellow", area, site_ids=(ponds["TT-BIG"],)),
        datetime.now(UTC),
        "test:tailings",
    )
    assert {"下游村3000", "下游村990"} <= {p["name"] for p in b.places if p["pond"] == "TT-BIG"}
    session.rollback()


def test_sector_without_a_survey_applies_the_same_limit_to_lines(session: Session, ponds: dict[str, int]) -> None:
    src = exposure.Source.proposal({"type": "Point", "coordinates": BIG}, bearing=BEARING)
    assert {p.name for p in exposure.downstream(session, src)[0]} == {"下游村990", "铁路900", "国道900"}


# --- the §3.2.1 upgrade through the API --------------------------------------------------------


def _pond_reason(session: Session, site_id: int) -> tuple[int, dict]:
    session.expire_all()
    inherent, reasons = session.execute(
        text("SELECT inherent_level, reasons FROM site_risk WHERE site_id = :i"), {"i": site_id}
    ).one()
    return inherent, next(r for r in reasons if r["rule"] == "tailings_pond")


def test_upgrade_override_regrades_and_is_audited(
    client: TestClient, tokens: dict[Role, str], session: Session, ponds: dict[str, int]
) -> None:
    url = "/api/v1/sites/TT-PLAIN/pond-class-override"
    op = {"Authorization": f"Bearer {tokens[Role.operator]}"}
    before, reason = _pond_reason(session, ponds["TT-PLAIN"])
    assert (before, reason["evidence"]["pond_class"]) == (YELLOW, 3)

    assert client.post(url, json={"reason": "下游有县城"}).status_code == 401
    viewer = {"Authorization": f"Bearer {tokens[Role.viewer]}"}
    assert client.post(url, json={"reason": "下游有县城"}, headers=viewer).status_code == 403
    assert client.post(url, json={"reason": "   "}, headers=op).status_code == 422

    r = client.post(url, json={"reason": "溃坝将危及下游县城及京哈高速"}, headers=op)
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["from_class"], out["to_class"], out["graded"]["pond_class"]) == (3, 2, 2)
    assert out["graded"]["color"] == "orange"
    after, reason = _pond_reason(session, ponds["TT-PLAIN"])
    assert after == ORANGE and reason["evidence"]["upgrade"]["reason"] == "溃坝将危及下游县城及京哈高速"
    assert "依 GB 50863-2013 第3.2.1条提等" in reason["summary"] and "溃坝将危及下游县城及京哈高速" in reason["summary"]

    again = client.post(url, json={"reason": "再提一等"}, headers=op)
    assert again.status_code == 409 and "已记录提等" in again.json()["detail"]

    assert client.delete(url, headers=op).status_code == 200
    assert _pond_reason(session, ponds["TT-PLAIN"])[0] == YELLOW
    assert client.delete(url, headers=op).status_code == 404

    audit = session.execute(
        text(
            "SELECT action, actor, after, before FROM audit_log WHERE entity = 'pond_class_overrides' "
            "AND entity_key = :k ORDER BY id"
        ),
        {"k": str(ponds["TT-PLAIN"])},
    ).all()
    assert [a.action for a in audit] == ["insert", "delete"]
    assert audit[0].actor == "token:test-operator" and audit[0].after["reason"] == "溃坝将危及下游县城及京哈高速"
    assert audit[1].before["to_class"] == 2


def test_upgrade_refused_for_class_1_and_for_other_kinds(
    client: TestClient, tokens: dict[Role, str], session: Session, ponds: dict[str, int]
) -> None:
    op = {"Authorization": f"Bearer {tokens[Role.operator]}"}
    one = client.post("/api/v1/sites/TT-ONE/pond-class-override", json={"reason": "下游有城镇"}, headers=op)
    assert one.status_code == 409 and "一等库不再提等" in one.json()["detail"]
    mine = session.scalar(text("SELECT code FROM sites WHERE kind = 'coal_mine' ORDER BY code LIMIT 1"))
    other = client.post(f"/api/v1/sites/{mine}/pond-class-override", json={"reason": "下游有城镇"}, headers=op)
    assert other.status_code == 409 and "不是尾矿库" in other.json()["detail"]
    assert client.post("/api/v1/sites/NO-SUCH/pond-class-override", json={"reason": "x"}, headers=op).status_code == 404


def test_assessment_of_a_proposed_class_1_pond_gives_the_reasons(client: TestClient, ponds: dict[str, int]) -> None:
    body = {
        "capacity_10k_m3": 60000,
        "dam_height_m": 150,
        "location": {"type": "Point", "coordinates": list(BIG)},
        "downstream_bearing_deg": BEARING,
    }
    out = client.post("/api/v1/assessments/tailings-pond", json=body).json()
    assert out["pond_class"] == 1 and out["class_reason"].startswith("一等库：总库容 60000 万m³（一等 ≥ 50000）")
    assert out["head_top"] and (out["level"], out["color"]) == (1, "red")
    assert "头顶库：坝下游 1000 m 内有铁路900（铁路，距坝 900 m）" in out["summary"]
    assert "下游村990（村庄，距坝 990 m）" in out["summary"] and "1010" not in out["summary"]
