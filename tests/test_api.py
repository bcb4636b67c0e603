"""The HTTP API against the real database."""

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.models import Site
from tests.support.wait import wait_until


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_healthz_checks_database_broker_and_ingester(client: TestClient, ingester) -> None:
    def mine_connected():
        body = client.get("/healthz").json()
        mine = [i for i in body["ingest"]["ingesters"] if i["name"] == ingester.name and i["connected"]]
        return mine and body

    body = wait_until(mine_connected)
    assert body["ok"] and body["database"]["postgis"].startswith("3.") and body["broker"]["ok"]
    mine = [i for i in body["ingest"]["ingesters"] if i["name"] == ingester.name]
    assert mine and mine[0]["alive"] and mine[0]["connected"] and mine[0]["lag_s"] < 60


def test_sites_is_geojson_with_total_and_paging(client: TestClient, session: Session) -> None:
    total = session.scalar(select(func.count()).select_from(Site))
    r = client.get("/api/v1/sites", params={"limit": 50, "offset": 10})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["total"] == total and fc["numberReturned"] == 50
    codes = [f["id"] for f in fc["features"]]
    everything = [f["id"] for f in client.get("/api/v1/sites", params={"limit": 5000}).json()["features"]]
    assert codes == everything[10:60] and len(everything) == total
    f = fc["features"][0]
    assert f["geometry"]["type"] == "Point" and {
        "code",
        "kind",
        "enterprise",
        "region_name",
    } <= set(f["properties"])


def test_site_filters_by_kind_region_status_and_bbox(client: TestClient, session: Session) -> None:
    ponds = client.get("/api/v1/sites", params={"kind": "tailings_pond", "limit": 5000}).json()
    assert ponds["total"] == session.scalar(text("SELECT count(*) FROM sites WHERE kind = 'tailings_pond'"))
    assert {f["properties"]["kind"] for f in ponds["features"]} == {"tailings_pond"}
    two = client.get("/api/v1/sites", params=[("kind", "coal_mine"), ("kind", "hazchem")]).json()
    assert {f["properties"]["kind"] for f in two["features"]} == {"coal_mine", "hazchem"}
    # 220200 is 吉林市: the prefecture includes its counties.
    jilin = client.get("/api/v1/sites", params={"region": "220200", "limit": 5000}).json()
    assert jilin["total"] == session.scalar(text("SELECT count(*) FROM sites WHERE region_adcode LIKE '2202%'"))
    assert jilin["total"] > 40 and all(f["properties"]["region_adcode"].startswith("2202") for f in jilin["features"])
    suspended = client.get("/api/v1/sites", params={"status": "suspended", "limit": 5000}).json()
    assert suspended["total"] > 0 and {f["properties"]["status"] for f in suspended["features"]} == {"suspended"}
    bbox = (126.4, 43.7, 126.8, 44.0)
    inside = client.get("/api/v1/sites", params={"bbox": ",".join(map(str, bbox)), "limit": 5000}).json()
    expected = session.scalar(
        text(
            "SELECT count(*) FROM sites WHERE ST_X(location) BETWEEN 126.4 AND 126.8 "
            "AND ST_Y(location) BETWEEN 43.7 AND 44.0"
        )
    )
    assert inside["total"] == expected > 10
    for f in inside["features"]:
        x, y = f["geometry"]["coordinates"]
        assert bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]


def test_bad_query_parameters_get_422(client: TestClient) -> None:
    for params in (
        {"bbox": "1,2,3"},
        {"bbox": "10,10,5,5"},
        {"bbox": "a,b,c,d"},
        {"kind": "volcano"},
        {"region": "22"},
        {"limit": 0},
        {"limit": 10**9},
        {"offset": -1},
    ):
        r = client.get("/api/v1/sites", params=params)
        assert r.status_code == 422, params


def test_one_site_in_full_and_404(client: TestClient) -> None:
    pond = client.get("/api/v1/sites/JL-TSF-0004").json()
    p = pond["properties"]
    assert p["kind"] == "tailings_pond" and p["tailings_pond"]["dam_height_m"] > 0
    assert p["sensors"] and p["gateways"] and all("password" not in str(g) for g in p["gateways"])
    assert {s["kind"] for s in p["sensors"]} >= {"phreatic_line", "dam_displacement", "rainfall"}
    plant = client.get("/api/v1/sites/JL-HAZ-0001").json()["properties"]
    assert plant["inventory"] and plant["footprint"]["type"] == "Polygon"
    r = client.get("/api/v1/sites/JL-NOPE-9999")
    assert r.status_code == 404 and "JL-NOPE-9999" in r.json()["detail"]
    assert client.get("/api/v1/sites/../../etc").status_code == 404


def test_regions_geojson_counts_sites(client: TestClient, session: Session) -> None:
    fc = client.get("/api/v1/regions").json()
    assert len(fc["features"]) == 60
    assert sum(f["properties"]["site_count"] for f in fc["features"]) == session.scalar(
        select(func.count()).select_from(Site)
    )
    prefectures = client.get("/api/v1/regions", params={"level": "prefecture", "simplify_m": 500}).json()
    assert len(prefectures["features"]) == 9


NEW_SITE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [126.58, 43.90]},
    "properties": {"code": "API-HAZ-0001", "name": "接口新建厂区", "kind": "hazchem"},
}


def test_writes_need_a_token_with_the_right_role(client: TestClient, tokens: dict[Role, str], session: Session) -> None:
    credit = session.scalar(text("SELECT credit_code FROM enterprises ORDER BY id LIMIT 1"))
    body = {**NEW_SITE, "properties": {**NEW_SITE["properties"], "enterprise_credit_code": credit}}
    r = client.post("/api/v1/sites", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/v1/sites", json=body, headers=_auth("rmk_forged")).status_code == 401
    assert client.post("/api/v1/sites", json=body, headers=_auth(tokens[Role.viewer])).status_code == 403
    r = client.post("/api/v1/sites", json=body, headers=_auth(tokens[Role.operator]))
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["region_adcode"] == "220203"
    again = client.post("/api/v1/sites", json=body, headers=_auth(tokens[Role.operator]))
    assert again.status_code == 409
    outside = {
        **body,
        "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
        "properties": {**body["properties"], "code": "API-HAZ-0002"},
    }
    r = client.post("/api/v1/sites", json=outside, headers=_auth(tokens[Role.operator]))
    assert r.status_code == 422 and "outside China" in r.json()["detail"]
    actor = session.scalar(text("SELECT actor FROM audit_log WHERE entity = 'sites' AND entity_key = 'API-HAZ-0001'"))
    assert actor == "token:test-operator"


def test_enterprise_status_change_is_audited(client: TestClient, tokens: dict[Role, str]) -> None:
    code = client.get("/api/v1/sites/JL-COAL-0003").json()["properties"]["enterprise_credit_code"]
    r = client.patch(
        f"/api/v1/enterprises/{code}",
        json={"status": "suspended"},
        headers=_auth(tokens[Role.operator]),
    )
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert (
        client.patch(
            f"/api/v1/enterprises/{code}",
            json={"status": "asleep"},
            headers=_auth(tokens[Role.operator]),
        ).status_code
        == 422
    )
    assert client.get("/api/v1/audit", headers=_auth(tokens[Role.operator])).status_code == 403
    log = client.get("/api/v1/audit", params={"entity": "enterprises"}, headers=_auth(tokens[Role.admin])).json()
    assert any(e["after"] == {"status": "suspended"} and e["actor"] == "token:test-operator" for e in log)


def test_move_a_site(client: TestClient, tokens: dict[Role, str]) -> None:
    r = client.patch(
        "/api/v1/sites/JL-MINE-0005",
        json={"geometry": {"type": "Point", "coordinates": [0, 0]}},
        headers=_auth(tokens[Role.operator]),
    )
    assert r.status_code == 422
    r = client.patch("/api/v1/sites/JL-MINE-0005", json={"name": "改名矿"}, headers=_auth(tokens[Role.operator]))
    assert r.status_code == 200 and r.json()["properties"]["name"] == "改名矿"


def test_oversized_and_malformed_bodies(client: TestClient, tokens: dict[Role, str]) -> None:
    huge = b"{" + b" " * (21 * 1024 * 1024) + b"}"
    r = client.post(
        "/api/v1/sites",
        content=huge,
        headers={**_auth(tokens[Role.operator]), "content-type": "application/json"},
    )
    assert r.status_code == 413
    r = client.post(
        "/api/v1/sites",
        content=b"{not json",
        headers={**_auth(tokens[Role.operator]), "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_reads_can_require_a_token(
    client: TestClient, anonymous: TestClient, tokens: dict[Role, str], monkeypatch
) -> None:
    from backend.core import config

    monkeypatch.setenv("RISKMAP_REQUIRE_AUTH_FOR_READ", "true")
    config.api_settings.cache_clear()
    try:
        assert anonymous.get("/api/v1/sites?limit=1").status_code == 401
        assert client.get("/api/v1/sites?limit=1", headers=_auth(tokens[Role.viewer])).status_code == 200
    finally:
        monkeypatch.delenv("RISKMAP_REQUIRE_AUTH_FOR_READ")
        config.api_settings.cache_clear()


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/sites", "/api/v1/sites/{code}", "/api/v1/regions", "/healthz"} <= set(paths)
