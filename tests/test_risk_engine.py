"""Regrading against the database: dynamic rules fed through their tables, history, regions,
and the risk API."""

from datetime import UTC, datetime, timedelta

import h3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.risk.engine import regrade
from tests.support.hazards import PNG

SUMMER = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)  # in the flood season
WINTER = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def site_id(session: Session, code: str) -> int:
    return session.scalar(text("SELECT id FROM sites WHERE code = :c"), {"c": code})


def risk(session: Session, code: str) -> tuple[int, int, list[str]]:
    inherent, level, reasons = session.execute(
        text("SELECT inherent_level, level, reasons FROM site_risk WHERE site_id = :i"),
        {"i": site_id(session, code)},
    ).one()
    return inherent, level, [r["rule"] for r in reasons]


def reporting(session: Session, code: str, at: datetime) -> None:
    """The site's sensors reported at `at`, so it is not silent."""
    session.execute(
        text("UPDATE sensors SET last_reading_at = :t WHERE site_id = :i"),
        {"t": at, "i": site_id(session, code)},
    )


def blue_site(session: Session, kind: str) -> str:
    """A site of `kind` whose inherent level is blue."""
    return session.scalar(
        text(
            "SELECT s.code FROM site_risk r JOIN sites s ON s.id = r.site_id JOIN enterprises e ON e.id = s.enterprise_id "
            "WHERE r.inherent_level = 4 AND s.kind = :k AND e.status = 'operating' AND s.code LIKE 'JL-%' "
            "AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.site_id = s.id AND a.state IN ('raised', 'acknowledged'))"
            " ORDER BY s.code LIMIT 1"
        ),
        {"k": kind},
    )


def test_every_site_is_graded_with_reasons(session: Session) -> None:
    rows = session.execute(text("SELECT s.kind, r.level, r.reasons FROM site_risk r JOIN sites s ON s.id = r.site_id"))
    rows = rows.all()
    assert len(rows) == session.scalar(text("SELECT count(*) FROM sites"))
    for _kind, level, reasons in rows:
        assert 1 <= level <= 4 and reasons[0]["rule"] in {
            "gb18218",
            "tailings_pond",
            "coal_mine",
            "noncoal_mine",
        }
        assert all(r["basis"] and r["summary"] for r in reasons)


def test_a_full_regrade_of_quiet_sites_shows_all_four_colours(session: Session) -> None:
    now = datetime.now(UTC)
    session.execute(text("UPDATE sensors SET last_reading_at = :t"), {"t": now})
    regrade(session, now=now)
    session.commit()
    colours = dict(session.execute(text("SELECT color, count(*) FROM site_risk GROUP BY color")).all())
    assert set(colours) == {"red", "orange", "yellow", "blue"}, colours
    hazchem_red = session.scalar(
        text(
            "SELECT count(*) FROM site_risk r JOIN sites s ON s.id = r.site_id WHERE s.kind = 'hazchem' AND r.level = 1"
        )
    )
    assert hazchem_red >= 1


def test_alarm_raises_and_clearing_restores_with_history(session: Session, client: TestClient) -> None:
    code = blue_site(session, "hazchem")
    sid = site_id(session, code)
    now = datetime.now(UTC)
    reporting(session, code, now)
    regrade(session, [sid], now)
    inserted = session.execute(
        text(
            "INSERT INTO alarms (key, site_id, sensor_id, kind, color, state, value, threshold) "
            "SELECT 'test:' || id, site_id, id, 'threshold', 'red', 'raised', 60, 50 FROM sensors "
            "WHERE site_id = :i ORDER BY code LIMIT 1"
        ),
        {"i": sid},
    )
    assert inserted.rowcount == 1
    regrade(session, [sid], now + timedelta(seconds=1))
    session.commit()
    assert risk(session, code) == (4, 1, ["gb18218", "active_alarm"])
    session.execute(text("UPDATE alarms SET state = 'cleared' WHERE site_id = :i"), {"i": sid})
    regrade(session, [sid], now + timedelta(seconds=2))
    session.commit()
    assert risk(session, code)[1] == 4
    history = client.get(f"/api/v1/sites/{code}/risk-history").json()
    assert [(h["previous_level"], h["level"]) for h in history[:2]] == [(1, 4), (4, 1)]
    assert history[1]["reasons"][1]["evidence"]["alarms"][0]["value"] == 60


def test_hidden_hazard_via_api(session: Session, client: TestClient, tokens: dict[Role, str]) -> None:
    code = blue_site(session, "coal_mine")
    reporting(session, code, datetime.now(UTC))
    session.commit()
    auth = _auth(tokens[Role.operator])
    r = client.post(
        f"/api/v1/sites/{code}/hidden-hazards",
        json={"title": "主要通风机无备用", "major": True, "criterion": "coal:五"},
        headers=auth,
    )
    assert r.status_code == 201
    assert risk(session, code)[1:] == (1, ["coal_mine", "major_hidden_hazard"])
    hid = r.json()["id"]
    assert client.post(f"/api/v1/hidden-hazards/{hid}/confirm", json={}).status_code == 401
    # 销号 through the lifecycle: confirmed, planned, rectified with evidence, accepted
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    plan = {"measures": "增设备用通风机", "funds_yuan": 80000, "responsible": "张三", "deadline": later}
    for step, body in (("confirm", {}), ("plan", plan), ("start", {})):
        assert client.post(f"/api/v1/hidden-hazards/{hid}/{step}", json=body, headers=auth).status_code == 200
    photo = client.post(
        f"/api/v1/hidden-hazards/{hid}/files", files={"file": ("fan.png", PNG, "image/png")}, headers=auth
    ).json()
    for step, body in (("submit", {"attachments": [photo["id"]]}), ("accept", {"reason": "现场核查合格"})):
        assert client.post(f"/api/v1/hidden-hazards/{hid}/{step}", json=body, headers=auth).status_code == 200
    session.expire_all()
    assert risk(session, code)[1] == 4


def test_silent_site_turns_yellow(session: Session) -> None:
    code = blue_site(session, "noncoal_mine")
    sid = site_id(session, code)
    reporting(session, code, WINTER - timedelta(days=1))
    regrade(session, [sid], WINTER)
    session.commit()
    assert risk(session, code)[1:] == (3, ["noncoal_mine", "silent_site"])


def test_suspended_mine_drawing_power_is_red(session: Session) -> None:
    code = blue_site(session, "coal_mine")
    sid = site_id(session, code)
    session.execute(
        text("UPDATE enterprises SET status = 'suspended' WHERE id = (SELECT enterprise_id FROM sites WHERE id = :i)"),
        {"i": sid},
    )
    reporting(session, code, WINTER)
    session.execute(
        text("UPDATE sensors SET last_value = 0 WHERE site_id = :i AND kind IN ('power_draw', 'personnel_count')"),
        {"i": sid},
    )
    session.execute(text("UPDATE sensors SET last_value = 240 WHERE site_id = :i AND kind = 'power_draw'"), {"i": sid})
    regrade(session, [sid], WINTER)
    session.commit()
    assert risk(session, code)[1:] == (1, ["coal_mine", "covert_production"])
    session.execute(text("UPDATE sensors SET last_value = 0 WHERE site_id = :i AND kind = 'power_draw'"), {"i": sid})
    regrade(session, [sid], WINTER)
    session.commit()
    assert risk(session, code)[1] == 4, risk(session, code)


def test_rainstorm_warning_covering_a_pond_in_season(session: Session) -> None:
    code = blue_site(session, "tailings_pond")
    sid = site_id(session, code)
    session.execute(
        text(
            "INSERT INTO weather_warnings (identifier, color, area, adcodes, onset, expires) "
            "SELECT 'TEST-RAIN-1', 'orange', ST_Multi(ST_Buffer(location, 0.05)), '{}', :on, :off FROM sites WHERE id = :i"
        ),
        {"i": sid, "on": SUMMER - timedelta(hours=1), "off": SUMMER + timedelta(hours=6)},
    )
    reporting(session, code, SUMMER)
    regrade(session, [sid], SUMMER)
    assert risk(session, code)[1:] == (3, ["tailings_pond", "rainstorm_warning"])
    reporting(session, code, WINTER)
    regrade(session, [sid], WINTER)  # out of season, and the warning has expired
    assert risk(session, code)[1] == 4
    session.rollback()


def test_regional_distribution_by_county_prefecture_and_grid(session: Session, client: TestClient) -> None:
    levels = session.execute(
        text(
            "SELECT s.region_adcode, ST_X(s.location), ST_Y(s.location), r.level FROM site_risk r "
            "JOIN sites s ON s.id = r.site_id"
        )
    ).all()
    counties = client.get("/api/v1/risk/regions", params={"by": "county"}).json()["features"]
    assert len(counties) == 60
    for f in counties:
        mine = [lv for a, _, _, lv in levels if a == f["properties"]["adcode"]]
        assert f["properties"]["sites"] == len(mine)
        assert f["properties"]["level"] == (min(mine) if mine else None)
        assert sum(f["properties"]["counts"].values()) == len(mine)
    prefectures = client.get("/api/v1/risk/regions", params={"by": "prefecture"}).json()["features"]
    assert sum(f["properties"]["sites"] for f in prefectures) == len(levels)
    grid = client.get("/api/v1/risk/regions", params={"by": "grid", "resolution": 5}).json()
    assert grid["resolution"] == 5
    assert sum(f["properties"]["sites"] for f in grid["features"]) == len(levels)
    cells = {h3.latlng_to_cell(y, x, 5) for _, x, y, _ in levels}
    assert {f["properties"]["cell"] for f in grid["features"]} == cells
    assert client.get("/api/v1/risk/regions", params={"by": "grid", "resolution": 12}).status_code == 422


def test_risk_sites_geojson_and_filters(client: TestClient, session: Session) -> None:
    fc = client.get("/api/v1/risk/sites").json()
    assert fc["total"] == session.scalar(text("SELECT count(*) FROM sites"))
    p = fc["features"][0]["properties"]
    assert {"level", "color", "reasons", "inherent_level"} <= set(p)
    reds = client.get("/api/v1/risk/sites", params={"color": "red", "kind": "tailings_pond"}).json()["features"]
    assert reds and all(f["properties"]["color"] == "red" and f["properties"]["kind"] == "tailings_pond" for f in reds)
    assert client.get("/api/v1/risk/sites", params={"color": "purple"}).status_code == 422


def test_exposure_of_a_head_top_pond(client: TestClient, session: Session) -> None:
    code = session.scalar(
        text(
            "SELECT s.code FROM site_risk r JOIN sites s ON s.id = r.site_id "
            "WHERE (r.reasons -> 0 -> 'evidence' ->> 'head_top')::boolean ORDER BY s.code LIMIT 1"
        )
    )
    fc = client.get(f"/api/v1/sites/{code}/exposure").json()
    zone = [f for f in fc["features"] if f["properties"]["role"] == "zone"]
    found = [f for f in fc["features"] if f["properties"]["role"] == "found"]
    assert len(zone) == 1 and zone[0]["geometry"]["type"] == "Polygon"
    assert found and all(f["properties"]["distance_m"] <= 1000 for f in found)
    plant = client.get("/api/v1/sites/JL-HAZ-0001/exposure").json()
    assert plant["features"][0]["properties"]["role"] == "zone"
    assert client.get("/api/v1/sites/NOPE-1/exposure").status_code == 404


@pytest.mark.parametrize("kind", ["hazchem", "tailings_pond"])
def test_regrade_is_stable_without_change(session: Session, kind: str) -> None:
    code = blue_site(session, kind) or session.scalar(
        text("SELECT code FROM sites WHERE kind = :k LIMIT 1"), {"k": kind}
    )
    sid = site_id(session, code)
    now = datetime.now(UTC)
    reporting(session, code, now)
    regrade(session, [sid], now)
    before = session.scalar(text("SELECT count(*) FROM site_risk_history WHERE site_id = :i"), {"i": sid})
    report = regrade(session, [sid], now)
    assert report.changed == 0
    assert session.scalar(text("SELECT count(*) FROM site_risk_history WHERE site_id = :i"), {"i": sid}) == before
    session.rollback()
