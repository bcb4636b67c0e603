"""The HTTP edge under hostile input, against the real app, database and broker.

Every case that once answered 500 (or read a whole hostile body, or echoed it) is thrown at the
real app here: each must get a short 4xx. Bodies are sent chunked to a real uvicorn server, so the
limit is seen to stop reading; a cheap fuzz pass sends garbage to every route.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.core import config
from backend.core.principal import Role
from backend.embedded.stack import Stack
from backend.risk.engine import regrade
from tests.support.accounts import PASSWORD, browser_sign_out, make_user
from tests.support.browser import MAP_READY
from tests.support.cap import orange_rainstorm_cap
from tests.support.net import free_port
from tests.support.wait import wait_until

MB = 1024 * 1024
SITE = "JL-TSF-0032"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _site_point(engine: Engine, code: str) -> tuple[float, float]:
    with engine.connect() as c:
        return tuple(
            c.execute(text("SELECT ST_X(location), ST_Y(location) FROM sites WHERE code = :c"), {"c": code}).one()
        )


def _square(x: float, y: float, d: float = 0.01) -> list[list[float]]:
    return [[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]


def _bow_tie(x: float, y: float, d: float = 0.01) -> list[list[float]]:
    """A self-intersecting ring: its edges cross at (x, y)."""
    return [[x - d, y - d], [x + d, y + d], [x + d, y - d], [x - d, y + d], [x - d, y - d]]


def _many_vertices(x: float, y: float, n: int) -> list[list[float]]:
    """A valid ring (a circle) of n + 1 positions."""
    import math

    ring = [[x + 0.05 * math.cos(2 * math.pi * i / n), y + 0.05 * math.sin(2 * math.pi * i / n)] for i in range(n)]
    return [*ring, ring[0]]


def _cap(identifier: str, ring: list[tuple[float, float]]) -> str:
    return orange_rainstorm_cap(identifier, ring)


# --- 1. bodies: counted as they arrive, the token checked before a protected body is read ----


class Chunks:
    """A chunked request body (no Content-Length) that counts what the client managed to send."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    def __iter__(self) -> Iterator[bytes]:
        block = b" " * self.chunk
        while self.sent < self.total:
            self.sent += self.chunk
            yield block


def _post_chunked(url: str, body: Chunks, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url, content=body, headers={"content-type": "application/json", **(headers or {})}, timeout=60)


def test_chunked_body_over_the_limit_gets_413_and_is_not_read_to_the_end(
    live_server: str, tokens: dict[Role, str]
) -> None:
    settings = config.api_settings()
    # An open route: at most RISKMAP_MAX_OPEN_UPLOAD_BYTES (2 MB). What was sent past the limit
    # is what the sockets' buffers held when the server closed the connection.
    body = Chunks(200 * MB)
    r = _post_chunked(f"{live_server}/api/v1/assessments/major-hazard", body)
    assert r.status_code == 413
    assert body.sent < 16 * MB, f"the server read on: {body.sent / MB:.0f} MB sent"
    # A protected route, with a valid token: at most RISKMAP_MAX_UPLOAD_BYTES (20 MB).
    body = Chunks(300 * MB)
    r = _post_chunked(f"{live_server}/api/v1/sites", body, _auth(tokens[Role.operator]))
    assert r.status_code == 413
    assert body.sent < settings.max_upload_bytes + 16 * MB, f"the server read on: {body.sent / MB:.0f} MB sent"


@pytest.mark.parametrize("authorization", [None, "Bearer rmk_not-a-real-token", "Basic dXNlcjpwdw=="])
def test_a_protected_route_refuses_a_body_without_a_valid_token_before_reading_it(
    live_server: str, authorization: str | None
) -> None:
    body = Chunks(200 * MB)
    r = _post_chunked(f"{live_server}/api/v1/sites", body, {"Authorization": authorization} if authorization else {})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert body.sent < 16 * MB, f"the server read {body.sent / MB:.0f} MB before refusing"


def test_a_viewer_token_is_refused_before_the_body_too(live_server: str, tokens: dict[Role, str]) -> None:
    body = Chunks(200 * MB)
    r = _post_chunked(f"{live_server}/api/v1/broadcasts", body, _auth(tokens[Role.viewer]))
    assert r.status_code == 403
    assert body.sent < 16 * MB, f"the server read {body.sent / MB:.0f} MB before refusing"


def test_content_length_over_the_limit_is_refused(client: TestClient, tokens: dict[Role, str]) -> None:
    r = client.post(
        "/api/v1/assessments/tailings-pond",
        content=b"[" + b" " * (3 * MB) + b"]",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


# --- 2. errors never echo the input ----------------------------------------------------------

MARK = "ECHO-ME-"


@pytest.mark.parametrize(
    ("path", "body", "role"),
    [
        # the open 叫应 ack: a token of megabytes (its limit is a few kilobytes)
        ("/api/v1/broadcasts/1/ack", {"token": MARK * 600_000}, None),
        # an open siting check: one huge bad string, then a list of 100,000 bad items
        ("/api/v1/assessments/major-hazard", {"substances": [{"name": "氯", "quantity_t": MARK * 200_000}]}, None),
        ("/api/v1/assessments/major-hazard", {"substances": [{"quantity_t": MARK}] * 60_000}, None),
        # protected routes, with a valid token
        ("/api/v1/broadcasts", {"color": MARK * 600_000}, Role.operator),
        ("/api/v1/broadcasts", {"color": "red", "sites": [MARK * 20] * 20_000}, Role.operator),
        ("/api/v1/weather-warnings", {"identifier": MARK * 600_000, "color": "red"}, Role.operator),
        ("/api/v1/alarms/1/ack", {"comment": MARK * 600_000}, Role.operator),
    ],
)
def test_an_invalid_body_of_megabytes_gets_a_small_answer_without_the_input(
    client: TestClient, tokens: dict[Role, str], path: str, body: dict, role: Role | None
) -> None:
    raw = json.dumps(body).encode()
    assert len(raw) > 1 * MB
    headers = {"content-type": "application/json", **(_auth(tokens[role]) if role else {})}
    r = client.post(path, content=raw, headers=headers)
    assert 400 <= r.status_code < 500, r.text[:300]
    assert len(r.content) < 4096, f"{len(r.content)} bytes"
    assert MARK not in r.text


# --- 3 and 4. geometry, CAP, ids, NaN, NUL: every former 500 is a 4xx ----------------------


def _cases(x: float, y: float) -> list[tuple[str, str, str, Any, Role | None, int, str]]:
    """(name, method, path, body, role, expected status, a word the answer must contain)."""
    sq, bow = _square(x, y), _bow_tie(x, y)
    substances = [{"name": "氯", "quantity_t": 1}]
    pond = {"capacity_10k_m3": 100, "dam_height_m": 30, "downstream_bearing_deg": 90}
    return [
        # NUL bytes in the path and the query string (PostgreSQL refuses them)
        ("nul-query", "GET", "/api/v1/alarms?kind=%00", None, None, 400, "NUL"),
        ("nul-query-bbox", "GET", "/api/v1/sites?bbox=1,2,3%004", None, None, 400, "NUL"),
        ("nul-path", "GET", "/api/v1/sites/JL%00COAL", None, None, 400, "NUL"),
        ("nul-json", "PATCH", "/api/v1/sites/JL-COAL-0001", {"name": "矿\u0000"}, Role.operator, 422, "NUL"),
        # ids beyond the integer range
        ("alarm-int8", "GET", "/api/v1/alarms/99999999999", None, None, 422, "less than"),
        ("alarm-huge", "GET", "/api/v1/alarms/" + "9" * 40, None, None, 422, "less than"),
        ("alarm-negative", "GET", "/api/v1/alarms/-1", None, None, 422, "greater than"),
        ("broadcast-int4", "GET", "/api/v1/broadcasts/2147483648", None, None, 422, "less than"),
        ("broadcast-xml-int4", "GET", "/api/v1/broadcasts/2147483648.xml", None, None, 422, "less than"),
        ("ack-int8", "POST", "/api/v1/broadcasts/99999999999/ack", {"token": "x" * 20}, None, 422, "less than"),
        ("alarm-ack-int8", "POST", "/api/v1/alarms/99999999999/ack", {}, Role.operator, 422, "less than"),
        ("rectify-int8", "POST", "/api/v1/hidden-hazards/99999999999/rectify", None, Role.operator, 422, "less"),
        ("update-int8", "POST", "/api/v1/broadcasts/99999999999/update", {}, Role.operator, 422, "less than"),
        ("limit-huge", "GET", "/api/v1/sites?limit=" + "9" * 30, None, None, 422, "limit"),
        # NaN and Infinity in JSON bodies (Python's json accepts them)
        (
            "nan-number",
            "POST",
            "/api/v1/assessments/tailings-pond",
            json.dumps({**pond, "capacity_10k_m3": "?", "location": {"type": "Point", "coordinates": [x, y]}}).replace(
                '"?"', "NaN"
            ),
            None,
            422,
            "NaN",
        ),
        (
            "nan-coordinate",
            "POST",
            "/api/v1/assessments/major-hazard",
            '{"substances": [{"name": "氯", "quantity_t": 1}], "location": {"type": "Point", "coordinates": [NaN, 43]}}',
            None,
            422,
            "NaN",
        ),
        (
            "infinity-population",
            "POST",
            "/api/v1/assessments/major-hazard",
            '{"substances": [{"name": "氯", "quantity_t": 1}], "exposed_population": Infinity}',
            None,
            422,
            "Infinity",
        ),
        (
            "infinity-polygon",
            "POST",
            "/api/v1/broadcasts",
            '{"color": "red", "polygon": {"type": "Polygon", "coordinates": [[[126, 43], [-Infinity, 43], [126, 44], [126, 43]]]}}',
            Role.operator,
            422,
            "Infinity",
        ),
        # malformed GeoJSON members
        *[
            (
                f"geojson-{i}",
                "POST",
                "/api/v1/assessments/major-hazard",
                {"substances": substances, "footprint": g},
                None,
                422,
                "footprint",
            )
            for i, g in enumerate(
                [
                    {"type": "Polygon", "coordinates": "abc"},
                    {"type": "Polygon"},
                    {"type": 5, "coordinates": []},
                    {"type": "Polygon", "coordinates": [[[1, 2], [3]]]},
                    {"type": "Polygon", "coordinates": [[[x, y], [x, y + 0.1]]]},
                    {"type": "Polygon", "coordinates": [[["a", "b"], [1, 2], [3, 4], ["a", "b"]]]},
                    {"type": "Polygon", "coordinates": [[[x, y, 1, 2, 3], [x, y], [x, y], [x, y]]]},
                    {"type": "Polygon", "coordinates": [[[[[[x, y]]]]]]},
                    {"type": "GeometryCollection", "geometries": []},
                    [1, 2],
                    "POLYGON((1 2, 3 4))",
                ]
            )
        ],
        (
            "geojson-point-members",
            "POST",
            "/api/v1/assessments/tailings-pond",
            {**pond, "location": {"type": "Point"}},
            None,
            422,
            "location",
        ),
        (
            "site-geometry",
            "POST",
            "/api/v1/sites",
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": None}, "properties": {}},
            Role.operator,
            422,
            "geometry",
        ),
        (
            "site-move",
            "PATCH",
            "/api/v1/sites/JL-COAL-0001",
            {"geometry": {"type": "Point", "coordinates": [[1]]}},
            Role.operator,
            422,
            "geometry",
        ),
        # coordinates out of range, self-intersecting polygons, too many vertices
        (
            "latitude-1000",
            "POST",
            "/api/v1/assessments/tailings-pond",
            {**pond, "location": {"type": "Point", "coordinates": [126, 1000]}},
            None,
            422,
            "out of range",
        ),
        (
            "self-intersecting-footprint",
            "POST",
            "/api/v1/assessments/major-hazard",
            {"substances": substances, "footprint": {"type": "Polygon", "coordinates": [bow]}},
            None,
            422,
            "Self-intersection",
        ),
        (
            "self-intersecting-zone",
            "POST",
            "/api/v1/assessments/tailings-pond",
            {
                **pond,
                "location": {"type": "Point", "coordinates": [x, y]},
                "downstream_zone": {"type": "Polygon", "coordinates": [bow]},
            },
            None,
            422,
            "Self-intersection",
        ),
        (
            "too-many-vertices",
            "POST",
            "/api/v1/assessments/major-hazard",
            {"substances": substances, "footprint": {"type": "Polygon", "coordinates": [_many_vertices(x, y, 10_001)]}},
            None,
            422,
            "10000 vertices",
        ),
        (
            "warning-self-intersecting",
            "POST",
            "/api/v1/weather-warnings",
            {"identifier": "EDGE-BOW", "color": "red", "polygon": {"type": "Polygon", "coordinates": [bow]}},
            Role.operator,
            422,
            "Self-intersection",
        ),
        (
            "warning-latitude-1000",
            "POST",
            "/api/v1/weather-warnings",
            {
                "identifier": "EDGE-LAT",
                "color": "red",
                "polygon": {"type": "Polygon", "coordinates": [[[126, 43], [127, 1000], [127, 43], [126, 43]]]},
            },
            Role.operator,
            422,
            "out of range",
        ),
        (
            "warning-outside-china",
            "POST",
            "/api/v1/weather-warnings",
            {
                "identifier": "EDGE-PARIS",
                "color": "red",
                "polygon": {"type": "Polygon", "coordinates": [_square(2.3, 48.8)]},
            },
            Role.operator,
            422,
            "outside China",
        ),
        (
            "warning-malformed",
            "POST",
            "/api/v1/weather-warnings",
            {"identifier": "EDGE-MAL", "color": "red", "polygon": {"type": "Polygon", "coordinates": [[1, 2]]}},
            Role.operator,
            422,
            "area",
        ),
        (
            "broadcast-vertices",
            "POST",
            "/api/v1/broadcasts",
            {"color": "red", "polygon": {"type": "Polygon", "coordinates": [_many_vertices(x, y, 10_001)]}},
            Role.operator,
            422,
            "10000 vertices",
        ),
        (
            "broadcast-self-intersecting",
            "POST",
            "/api/v1/broadcasts",
            {"color": "red", "polygon": {"type": "Polygon", "coordinates": [bow]}},
            Role.operator,
            422,
            "Self-intersection",
        ),
        # instants that overflow date arithmetic
        (
            "expires-9999",
            "POST",
            "/api/v1/broadcasts",
            {
                "color": "red",
                "polygon": {"type": "Polygon", "coordinates": [sq]},
                "expires": "9999-12-31T23:59:59-14:00",
            },
            Role.operator,
            422,
            "expires",
        ),
        ("readings-year-1", "GET", "/api/v1/sensors/X-1/readings?to=0001-01-01T00:00:00Z", None, None, 422, "to"),
        ("rainfall-naive", "GET", "/api/v1/sensors/X-1/rainfall?at=2026-07-01T00:00:00", None, None, 422, "timezone"),
    ]


def _cap_cases(x: float, y: float) -> list[tuple[str, bytes, str]]:
    """CAP documents the weather-warning route must refuse: (name, body, a word of the answer)."""
    ring = [(a, b) for a, b in _square(x, y)]
    good = _cap("EDGE-CAP-OK", ring)
    decl = '<?xml version="1.0" encoding="UTF-8"?>'
    assert good.startswith("<?xml")
    body = good.split("?>", 1)[1]
    return [
        ("utf-16", (decl.replace("UTF-8", "UTF-16") + body).encode("utf-16"), "UTF-8"),
        ("utf-16-undeclared", body.encode("utf-16"), "UTF-8"),
        ("latin-1-declared", (decl.replace("UTF-8", "ISO-8859-1") + body).encode("utf-8"), "UTF-8"),
        ("doctype", (decl + "<!DOCTYPE alert>" + body).encode(), "DOCTYPE"),
        (
            "doctype-entities",
            (decl + '<!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>' + body).encode(),
            "DOCTYPE",
        ),
        ("doctype-lowercase", (decl + "<!doctype alert>" + body).encode(), "DOCTYPE"),
        ("latitude-1000", _cap("EDGE-CAP-LAT", [(x, y), (x + 0.1, 1000.0), (x + 0.1, y), (x, y)]).encode(), "range"),
        ("self-intersecting", _cap("EDGE-CAP-BOW", [(a, b) for a, b in _bow_tie(x, y)]).encode(), "Self-intersection"),
        (
            "not-closed",
            _cap("EDGE-CAP-OPEN", [(x, y), (x + 0.1, y), (x + 0.1, y + 0.1), (x, y + 0.2)]).encode(),
            "closed",
        ),
        ("nan-point", good.replace(f"{y - 0.01:.5f},{x - 0.01:.5f}", "NaN,NaN").encode(), "finite"),
        ("vertices", _cap("EDGE-CAP-MANY", [(a, b) for a, b in _many_vertices(x, y, 10_001)]).encode(), "vertices"),
        ("year-9999", good.replace(good.split("<expires>")[1][:25], "9999-12-31T23:59:59-14:00").encode(), "range"),
    ]


@pytest.fixture(scope="module")
def point(seeded: Engine) -> tuple[float, float]:
    return _site_point(seeded, SITE)


def test_every_former_500_is_a_clear_4xx(client: TestClient, tokens: dict[Role, str], point) -> None:
    failures = []
    for name, method, path, body, role, status, word in _cases(*point):
        headers = _auth(tokens[role]) if role else {}
        if isinstance(body, str):
            r = client.request(method, path, content=body, headers={**headers, "content-type": "application/json"})
        else:
            r = client.request(method, path, json=body, headers=headers)
        if r.status_code != status or word not in r.text:
            failures.append(f"{name}: {r.status_code} {r.text[:200]}")
    assert failures == []


def test_hostile_cap_is_refused_with_the_reason(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, point
) -> None:
    headers = {**_auth(tokens[Role.operator]), "content-type": "application/cap+xml"}
    failures = []
    for name, body, word in _cap_cases(*point):
        r = client.post("/api/v1/weather-warnings", content=body, headers=headers)
        if r.status_code != 422 or word not in r.text:
            failures.append(f"{name}: {r.status_code} {r.text[:200]}")
    assert failures == []
    with seeded.connect() as c:
        assert c.scalar(text("SELECT count(*) FROM weather_warnings WHERE identifier LIKE 'EDGE-%'")) == 0
    # The same document, well-formed, in range and simple, is accepted.
    ok = _cap("EDGE-CAP-OK", [(a, b) for a, b in _square(*point)])
    assert client.post("/api/v1/weather-warnings", content=ok, headers=headers).status_code == 201


def test_a_valid_geometry_with_stray_members_and_heights_still_works(client: TestClient, point) -> None:
    x, y = point
    footprint = {
        "type": "Polygon",
        "coordinates": [[[a, b, 250.0] for a, b in _square(x, y, 0.002)]],
        "crs": {"type": "name", "properties": {"name": "EPSG:99999"}},
        "bbox": [0, 0, 0, 0],
    }
    r = client.post(
        "/api/v1/assessments/major-hazard",
        json={"substances": [{"name": "氯", "quantity_t": 1}], "footprint": footprint},
    )
    assert r.status_code == 200, r.text
    big = {"type": "Polygon", "coordinates": [_many_vertices(x, y, 9_999)]}  # 10,000 positions: the limit
    r = client.post(
        "/api/v1/assessments/major-hazard", json={"substances": [{"name": "氯", "quantity_t": 1}], "footprint": big}
    )
    assert r.status_code == 200, r.text


GARBAGE = ["\x00", "9" * 30, "2147483648", "-1", "NaN", "Infinity", "x" * 10_000, "0001-01-01T00:00:00Z", "%", "é"]


def test_fuzz_every_route_with_garbage_parameters(app, client: TestClient, tokens: dict[Role, str]) -> None:
    """Every route in the OpenAPI document, every parameter set to each garbage value, with and
    without an admin token, and a garbage JSON body: nothing answers 500."""
    failures = []
    sent = 0
    for path, operations in app.openapi()["paths"].items():
        if path.endswith("/stream"):
            continue  # never ends by design; its own test is below
        for method, op in operations.items():
            names = {p["in"]: [] for p in op.get("parameters", [])}
            for p in op.get("parameters", []):
                names[p["in"]].append(p["name"])
            for value in GARBAGE:
                url = path
                for name in names.get("path", []):
                    url = url.replace("{" + name + "}", quote(value, safe=""))
                query = names.get("query", [])
                # every parameter at once, or one at a time where together they pass the URL limit (64 KiB)
                sets = (
                    [dict.fromkeys(query, value)] if len(value) * len(query) < 60_000 else [{n: value} for n in query]
                )
                for params, headers in ((ps, h) for ps in sets for h in ({}, _auth(tokens[Role.admin]))):
                    body = {"json": {"x": value, "token": value, "color": value}} if method != "get" else {}
                    r = client.request(method.upper(), url, params=params, headers=headers, **body)
                    sent += 1
                    if r.status_code >= 500:
                        failures.append(f"{method.upper()} {url[:80]} {list(params)} {value[:12]!r}: {r.status_code}")
    assert sent > 500 and failures == []


# --- 5. /docs on an isolated network -----------------------------------------------------------


def test_docs_load_nothing_from_another_host(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert not re.search(r"https?://", r.text), re.findall(r"https?://\S+", r.text)
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert len(assets) == 3 and all(a.startswith("/static/") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/redoc").status_code == 404  # it would load from a CDN: not served


def test_swagger_ui_renders_offline(browser, live_server: str, artifacts: Path) -> None:
    browser.get(live_server + "/docs")
    wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) > 20, timeout=20)
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(u.startswith(live_server) for u in resources), resources
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    browser.save_screenshot(str(artifacts / "swagger-ui.png"))


# --- 6. riskmap serve --port --bind ----------------------------------------------------------


def test_serve_takes_port_and_bind(db_url: str, stack: Stack) -> None:
    port = free_port()
    env = {**os.environ, "RISKMAP_DATABASE_URL": db_url, "RISKMAP_MQTT_URL": stack.mosquitto.url(), "RISKMAP_PORT": "1"}
    riskmap = str(Path(sys.executable).parent / "riskmap")
    proc = subprocess.Popen(
        [riskmap, "serve", "--port", str(port), "--bind", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def health() -> dict | None:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
            except httpx.TransportError:
                return None

        # `serve` alone runs no ingester, so /healthz says so; the web app and its services answer.
        body = wait_until(health, timeout=60, interval=0.3)
        assert body["database"]["ok"] and body["broker"]["ok"]
    finally:
        proc.terminate()
        proc.wait(15)
    up_help = subprocess.run([riskmap, "up", "--help"], capture_output=True, text=True, env=env, check=True).stdout
    assert "--port" in up_help and "--bind" in up_help


# --- 7. the map when reads need a login -------------------------------------------------------


def test_map_asks_to_sign_in_when_reads_need_it(
    browser, live_server: str, seeded: Engine, monkeypatch, artifacts: Path
) -> None:
    monkeypatch.setattr(config.api_settings(), "require_auth_for_read", True)
    assert httpx.get(f"{live_server}/api/v1/risk/sites").status_code == 401
    browser_sign_out(browser)
    browser.get(live_server + "/static/riskmap.css")
    browser.execute_script("sessionStorage.clear()")
    browser.get(live_server + "/")
    box = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".riskmap-login"), timeout=20)[0]
    assert "请先登录" in box.text
    browser.save_screenshot(str(artifacts / "map-sign-in-prompt.png"))
    box.find_element(By.LINK_TEXT, "登录").click()
    wait_until(lambda: "/login" in browser.current_url)
    login = make_user(seeded, "220000", ["viewer"], name="周只读")
    try:
        browser.find_element(By.NAME, "login").send_keys(login)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
        wait_until(lambda: browser.current_url.rstrip("/") == live_server)
        assert browser.execute_async_script(MAP_READY) is True
        drawn = browser.execute_script(
            "return [window.riskmap.markers.length, window.riskmap.regions.county.getLayers().length]"
        )
        assert drawn[0] > 300 and drawn[1] == 60
        # The live stream authenticates with the session cookie, as every call does (EventSource sends it).
        wait_until(lambda: browser.execute_script("return window.riskmap.alerts.source.readyState === 1"), timeout=10)
        assert not browser.find_elements(By.CSS_SELECTOR, ".riskmap-login")
        assert browser.execute_script("return sessionStorage.getItem('riskmapToken')") is None
        assert browser.get_cookie("riskmap_session")["httpOnly"] is True
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "401" not in e["message"]] == []
        browser.save_screenshot(str(artifacts / "map-signed-in.png"))
    finally:
        browser_sign_out(browser)


def test_the_stream_takes_the_session_cookie_or_a_token(
    app, seeded: Engine, live_server: str, tokens: dict[Role, str], monkeypatch
) -> None:
    monkeypatch.setattr(config.api_settings(), "require_auth_for_read", True)
    stream = f"{live_server}/api/v1/alarms/stream"
    assert httpx.get(stream, timeout=5).status_code == 401
    assert httpx.get(stream, cookies={"riskmap_session": "forged"}, timeout=5).status_code == 401
    login = make_user(seeded, "220283", ["viewer"])
    r = httpx.post(f"{live_server}/login", data={"login": login, "password": PASSWORD}, timeout=10)
    assert r.status_code == 303
    for kwargs in (
        {"cookies": {"riskmap_session": r.cookies["riskmap_session"]}},
        {"headers": _auth(tokens[Role.viewer])},
    ):
        with httpx.Client(timeout=10) as c, c.stream("GET", stream, **kwargs) as opened:
            assert opened.status_code == 200
            assert next(opened.iter_lines()).startswith("retry:")
    # The old stream cookie route is gone.
    assert httpx.post(f"{live_server}/api/v1/session", headers=_auth(tokens[Role.viewer])).status_code in {404, 405}


# --- 8. SSE: one shared listener, no connection per stream ------------------------------------


def _connections(engine: Engine) -> int:
    with engine.connect() as c:
        return c.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))


def _quiet_methane(engine: Engine) -> tuple[str, str, int]:
    """A coal mine's methane sensor on its first gateway, with no open alarm: (site, sensor, site id)."""
    with engine.connect() as c:
        return tuple(
            c.execute(
                text(
                    "SELECT s.code, se.code, s.id FROM sensors se JOIN sites s ON s.id = se.site_id "
                    "WHERE se.kind = 'methane' AND se.gateway_id = s.code || '-GW01' AND NOT EXISTS "
                    "(SELECT 1 FROM alarms a WHERE a.site_id = s.id AND a.state IN ('raised', 'acknowledged')) "
                    "ORDER BY s.code DESC LIMIT 1"
                )
            ).one()
        )


def test_fifty_streams_hold_no_connection_and_all_get_the_alarm(
    live_server: str, seeded: Engine, gateway, ingester, tokens: dict[Role, str], monkeypatch
) -> None:
    monkeypatch.setattr(config.api_settings(), "require_auth_for_read", True)  # the stream authenticates too
    site, sensor_code, site_id = _quiet_methane(seeded)
    gw = gateway(site)
    n = 50

    async def run() -> tuple[float, int, int, list[dict[str, Any]]]:
        limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
        async with httpx.AsyncClient(timeout=30, limits=limits, headers=_auth(tokens[Role.viewer])) as client:
            connected = [asyncio.Event() for _ in range(n)]

            async def listen(i: int) -> dict[str, Any]:
                async with client.stream("GET", f"{live_server}/api/v1/alarms/stream") as r:
                    assert r.status_code == 200
                    async for line in r.aiter_lines():
                        if line.startswith(": connected"):
                            connected[i].set()
                        if line.startswith("data: "):
                            alarm = json.loads(line[6:])
                            if alarm["site"] == site:
                                return alarm
                raise AssertionError("stream ended")

            before = await asyncio.to_thread(_connections, seeded)
            streams = [asyncio.create_task(listen(i)) for i in range(n)]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in connected)), 30)
            t0 = time.monotonic()
            health = await client.get(f"{live_server}/healthz")
            elapsed = time.monotonic() - t0
            assert health.status_code in {200, 503} and health.json()["database"]["ok"]
            during = await asyncio.to_thread(_connections, seeded)
            ts = (datetime.now(UTC) - timedelta(seconds=2)).isoformat(timespec="milliseconds")
            await asyncio.to_thread(gw.publish, {"sensor": sensor_code, "ts": ts, "value": 1.9})
            alarms = await asyncio.wait_for(asyncio.gather(*streams), 15)
            return elapsed, before, during, alarms

    try:
        elapsed, before, during, alarms = asyncio.run(run())
    finally:
        with Session(seeded) as s:
            s.execute(text("UPDATE alarms SET state = 'closed', closed_at = now() WHERE site_id = :s"), {"s": site_id})
            regrade(s, [site_id])
            s.commit()
    assert elapsed < 1.0, f"/healthz took {elapsed:.2f} s with {n} streams open"
    # At most the one shared LISTEN connection (and a pooled one for /healthz) more: not one per stream.
    assert during - before <= 3, (before, during)
    assert len(alarms) == n and {a["id"] for a in alarms} == {alarms[0]["id"]}
    assert all(a == alarms[0] for a in alarms)  # the same text, rendered once
    assert alarms[0]["sensor"] == sensor_code and alarms[0]["value"] == 1.9 and alarms[0]["state"] == "raised"
