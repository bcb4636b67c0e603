"""Nothing of one county reaches a user of another, whatever the route.

Every route of the OpenAPI document (enumerated when the test runs, so a route added tomorrow is
called too) is called with every method it has, as a user of 磐石市 (220284), as an enterprise of
磐石市 and as the public, with its path parameters (and the query parameters that take ids or codes)
filled with the rows of 舒兰市 (220283). Then: no 2xx answer carries any of 舒兰市's codes, names,
or marked texts; a route given a 舒兰市 row answers as if it did not exist; the totals a list gives
are the caller's own; 舒兰市's rows are the same afterwards; and the live alarm stream sends a
磐石市 listener nothing of 舒兰市. A route that cannot be called this way is listed in UNCALLABLE with
the reason (and the test fails if a listed route disappears, so the list stays true).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.api.deps import SESSION_COOKIE
from backend.core.principal import Role
from backend.registry.tokens import create_token
from tests.support.accounts import make_user, sign_in
from tests.support.hazards import PDF, PNG
from tests.support.jurisdiction import LATER_TABLES, PANSHI, SHULAN, TABLES, Made, cleanup, populate

UNSAFE = {"post", "put", "patch", "delete"}
UNCALLABLE = {
    ("get", "/api/v1/alarms/stream"): "a stream that never ends: test_the_alarm_stream_sends_nothing_of_another_county",
}
# Routes whose answers are public by design, whoever asks: their 2xx bodies may name 舒兰市's rows.
PUBLISHED = {
    ("get", "/api/v1/checklists/{kind}"): "rules data (the checklist items of a site kind), the same for everyone",
    ("get", "/api/v1/draws"): "双随机一公开: every draw, its inputs and its result are published",
    ("get", "/api/v1/draws/{draw_id}"): "双随机一公开: anyone may re-run a draw from its published inputs",
    ("get", "/api/v1/credit-lists"): "黑名单 / 红名单 are announced to the public (吉政发 九: 定期公告)",
    ("get", "/api/v1/credit-lists/{entry_id}"): "one announced 黑名单 / 红名单 entry, open to all",
}
# Bodies for the routes that change a row named by the path: the change a user of another county
# would try. Every other route gets an empty object (refused by validation, or a body-less action).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("patch", "/api/v1/sites/{code}"): {"name": "越权改名"},
    ("patch", "/api/v1/enterprises/{credit_code}"): {"name": "越权改名", "status": "suspended"},
    ("post", "/api/v1/sites/{code}/hidden-hazards"): {"title": "越权隐患", "major": True},
    ("post", "/api/v1/sites/{code}/pond-class-override"): {"reason": "越权提等"},
    ("post", "/api/v1/alarms/{alarm_id}/ack"): {"comment": "越权"},
    ("post", "/api/v1/alarms/{alarm_id}/close"): {"comment": "越权"},
    ("post", "/api/v1/broadcasts/{broadcast_id}/update"): {"color": "red", "note": "越权"},
    ("post", "/api/v1/broadcasts/{broadcast_id}/cancel"): {"reason": "越权"},
    ("post", "/api/v1/broadcasts/{broadcast_id}/ack"): {"token": "rmk_not_the_recipients_token", "evacuated": True},
    ("post", "/api/v1/hidden-hazards/{hazard_id}/{transition}"): {"reason": "越权"},
    ("post", "/api/v1/credit-lists/{entry_id}/remove"): {"reason": "越权移出"},
}


@dataclass
class Shulan:
    """舒兰市's rows as the owner sees them: what must never reach another county's user."""

    site_codes: list[str]
    values: dict[str, Any]  # path / query parameter -> a 舒兰市 value
    secrets: set[str] = field(default_factory=set)


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    own_sites: int  # sites of its own jurisdiction
    own_active_alarms: int
    actor: str = ""  # its audit actor: the log may quote what it sent itself


def _supervised(client: TestClient, operator: str, site: str) -> dict[str, Any]:
    """舒兰市's plan (with its draw), an inspection with a finding and an enforcement decision."""
    auth = {"Authorization": f"Bearer {operator}"}
    plan = client.post(
        "/api/v1/inspection-plans", json={"jurisdiction": SHULAN, "period": "2031", "seed": "leak-舒兰"}, headers=auth
    )
    assert plan.status_code == 201, plan.text
    roster = client.get("/api/v1/inspectors", params={"region": SHULAN}, headers=auth).json()
    inspectors = [i["certificate_no"] for i in roster if i["active"]][:2]
    found = client.post(
        "/api/v1/inspections",
        json={"site": site, "day": "2031-03-03", "origin": "other", "inspectors": inspectors},
        headers=auth,
    )
    assert found.status_code == 201, found.text
    inspection = found.json()["id"]
    for step, body in (("start", None), ("record", {"findings": [{"title": f"leak 检查发现 {SHULAN}"}]})):
        r = client.post(f"/api/v1/inspections/{inspection}/{step}", json=body, headers=auth)
        assert r.status_code == 200, r.text
    action = client.post(
        "/api/v1/enforcement-actions",
        json={
            "inspection_id": inspection,
            "kind": "rectify_by_deadline",
            "document_no": f"leak（{SHULAN}）1号",
            "deadline": "2031-04-03",
        },
        headers=auth,
    )
    assert action.status_code == 201, action.text
    photo = client.post(
        f"/api/v1/inspections/{inspection}/files",
        files={"file": (f"leak {SHULAN}.png", PNG, "image/png")},
        data={"finding": "0"},
        headers=auth,
    )
    assert photo.status_code == 201, photo.text
    return {
        "inspection_file_id": photo.json()["id"],
        "plan_id": plan.json()["plan_id"],
        "version": plan.json()["version"],
        "draw_id": plan.json()["draw_id"],
        "inspection_id": inspection,
        "index": 0,
        "action_id": action.json()["id"],
    }


def _listed(client: TestClient, operator: str, credit_code: str) -> int:
    """舒兰市's enterprise on the 黑名单 (its entry is public; only its county and above change it)."""
    body = {"credit_code": credit_code, "list": "black", "reason": f"leak 黑名单 {SHULAN}", "document_no": "leak-1"}
    r = client.post("/api/v1/credit-lists", json=body, headers={"Authorization": f"Bearer {operator}"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _attached(client: TestClient, operator: str, hazard: int) -> int:
    """A document attached to 舒兰市's hazard."""
    r = client.post(
        f"/api/v1/hidden-hazards/{hazard}/files",
        files={"file": (f"leak {SHULAN}.pdf", PDF, "application/pdf")},
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture(scope="module")
def world(seeded: Engine, client: TestClient, tokens: dict[Role, str]) -> Iterator[tuple[Made, Shulan]]:
    with seeded.begin() as conn:
        made = populate(conn, (SHULAN, PANSHI), tag="leak", with_override=False)
    user = make_user(seeded, SHULAN, ["regulator"], name=f"leak 用户 {SHULAN}")
    with seeded.connect() as conn:
        sites = conn.execute(
            text(
                "SELECT s.id, s.code, s.name, e.credit_code, e.name ename FROM sites s "
                "JOIN enterprises e ON e.id = s.enterprise_id WHERE s.region_adcode = :c ORDER BY s.code"
            ),
            {"c": SHULAN},
        ).all()
        ids = [s.id for s in sites]
        sensors = conn.execute(text("SELECT code FROM sensors WHERE site_id = ANY(:i)"), {"i": ids}).scalars().all()
        gateways = conn.execute(text("SELECT id FROM gateways WHERE site_id = ANY(:i)"), {"i": ids}).scalars().all()
        broadcast = conn.execute(
            text("SELECT identifier, headline FROM broadcasts WHERE id = :b"), {"b": made.broadcasts[SHULAN]}
        ).one()
        credit_list = conn.scalar(
            text("SELECT credit_list FROM enterprises WHERE credit_code = :c"), {"c": sites[0].credit_code}
        )
        pond = conn.scalar(text("SELECT p.site_id FROM tailings_ponds p JOIN sites s ON s.id = p.site_id LIMIT 1"))
        assert pond is not None
    secrets = (
        {s.code for s in sites}
        | {s.name for s in sites}
        | {s.credit_code for s in sites}
        | {s.ename for s in sites}
        | set(sensors)
        | set(gateways)
        | {
            broadcast.identifier,
            broadcast.headline,
            f"leak 测试报警 {SHULAN}",
            f"leak 测试隐患 {SHULAN}",
            f"leak {SHULAN}",
            f"leak 用户 {SHULAN}",
            f"leak 检查发现 {SHULAN}",
            f"leak（{SHULAN}）1号",
            f"leak 黑名单 {SHULAN}",
            user,
        }
    )
    values = {
        "code": sites[0].code,
        "sensor_code": sensors[0],
        "credit_code": sites[0].credit_code,
        "alarm_id": made.alarms[SHULAN],
        "broadcast_id": made.broadcasts[SHULAN],
        "hazard_id": made.hazards[SHULAN],
        # query parameters that take ids or codes
        "site": sites[0].code,
        "region": SHULAN,
        "gateway": gateways[0],
        "key": sites[0].code,
        "entity": "sites",
        "login": user,
        "kind": "coal_mine",  # checklists: public data, named for the route to be called
        "jurisdiction": SHULAN,
        "org": SHULAN,
        "period": "2031",
        **_supervised(client, tokens[Role.operator], sites[0].code),
        "file_id": _attached(client, tokens[Role.operator], made.hazards[SHULAN]),
        "transition": "confirm",
        "entry_id": _listed(client, tokens[Role.operator], sites[0].credit_code),
    }
    yield made, Shulan([s.code for s in sites], values, secrets)
    with seeded.begin() as conn:
        cleanup(conn, made)
        conn.execute(text("DELETE FROM credit_list_entries WHERE id = :i"), {"i": values["entry_id"]})
        conn.execute(
            text("UPDATE enterprises SET credit_list = :l WHERE credit_code = :c"),
            {"l": credit_list, "c": sites[0].credit_code},
        )


def _token(session: Session, name: str, role: Role, org_code: str) -> str:
    secret = create_token(session, name, role)
    session.execute(
        text("UPDATE api_tokens SET org_id = (SELECT id FROM organisations WHERE code = :c) WHERE name = :n"),
        {"c": org_code, "n": name},
    )
    return secret


@pytest.fixture(scope="module")
def callers(seeded: Engine, app: FastAPI, world: tuple[Made, Shulan]) -> list[Caller]:
    # A 磐石市 regulator signed in through the login form: the browser's way, cookie and CSRF token.
    login = make_user(seeded, PANSHI, ["regulator", "duty"], name="磐石监管员")
    with TestClient(app) as browser:
        csrf = sign_in(browser, login)
        cookie = browser.cookies.get(SESSION_COOKIE)
    assert cookie
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:setup"
        firm_id, firm_code = s.execute(
            text(
                "SELECT e.id, e.credit_code FROM sites s JOIN enterprises e ON e.id = s.enterprise_id "
                "WHERE s.region_adcode = :c ORDER BY s.code LIMIT 1"
            ),
            {"c": PANSHI},
        ).one()
        county = _token(s, "leak-panshi-admin", Role.admin, PANSHI)
        firm = _token(s, "leak-panshi-firm", Role.enterprise, firm_code)

        def own(where: str, **p: Any) -> tuple[int, int]:
            sites = s.scalar(text(f"SELECT count(*) FROM sites s WHERE {where}"), p)
            alarms = s.scalar(
                text(
                    "SELECT count(*) FROM alarms a JOIN sites s ON s.id = a.site_id "
                    f"WHERE a.state IN ('raised', 'acknowledged') AND {where}"
                ),
                p,
            )
            return sites, alarms

        return [
            Caller(
                "磐石市 admin",
                {"Authorization": f"Bearer {county}"},
                *own("s.region_adcode LIKE :r", r=PANSHI + "%"),
                actor="token:leak-panshi-admin",
            ),
            Caller(
                "磐石市 regulator (signed in)",
                {"Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf},
                *own("s.region_adcode LIKE :r", r=PANSHI + "%"),
                actor=f"user:{login}",
            ),
            Caller(
                "磐石市 enterprise",
                {"Authorization": f"Bearer {firm}"},
                *own("s.enterprise_id = :e", e=firm_id),
                actor="token:leak-panshi-firm",
            ),
            Caller("public", {}, 0, 0),
        ]


def _fingerprint(engine: Engine) -> dict[str, str]:
    """舒兰市's rows of every jurisdiction-bound table, as the owner reads them."""
    out = {}
    with engine.connect() as conn:
        for table, (key, owners) in (TABLES | LATER_TABLES).items():
            out[table] = conn.scalar(
                text(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t "
                    f"WHERE ({key}) IN (SELECT o.k FROM ({owners}) o(k, r, e) WHERE o.r LIKE :c)"
                ),
                {"c": SHULAN + "%"},
            )
    return out


def _fill(path: str, params: list[dict[str, Any]], shulan: Shulan) -> tuple[str, dict[str, Any]]:
    """The path with 舒兰市's ids in it, and the query parameters that take ids or codes."""
    query: dict[str, Any] = {}
    for p in params:
        name = p["name"]
        if p["in"] == "path":
            key = "sensor_code" if name == "code" and path.startswith("/api/v1/sensors/") else name
            key = "inspection_file_id" if name == "file_id" and path.startswith("/api/v1/inspections/") else key
            assert key in shulan.values, f"{path}: no 舒兰市 value for the path parameter {name!r}: add one"
            path = path.replace("{" + name + "}", str(shulan.values[key]))
        elif p["in"] == "query" and name in shulan.values:
            query[name] = shulan.values[name]
    return path, query


def _totals(body: Any) -> dict[str, int]:
    """The counts a list answer gives: `total`, and the sum of per-region `sites` / `site_count`."""
    out: dict[str, int] = {}
    if isinstance(body, dict):
        if isinstance(body.get("total"), int):
            out["total"] = body["total"]
        features = body.get("features")
        if isinstance(features, list) and features and isinstance(features[0], dict):
            for name in ("sites", "site_count"):
                values = [f.get("properties", {}).get(name) for f in features]
                if values and all(isinstance(v, int) for v in values):
                    out[name] = sum(values)
    return out


COUNTED = ("/api/v1/sites", "/api/v1/risk/sites", "/api/v1/regions", "/api/v1/risk/regions")


def _leaks(
    call: str, r: httpx.Response, caller: Caller, shulan: Shulan, names_a_row: bool, route: str, ours: set[str]
) -> list[str]:
    """What one answer gives away: a server error, a 舒兰市 row reached, a 舒兰市 value in the body,
    a count that is not the caller's own."""
    where = f"{call} -> {r.status_code}"
    if r.status_code >= 500:
        return [f"{where}: server error {r.text[:200]}"]
    if not 200 <= r.status_code < 300:
        return []  # 401 (no login), 403 (the caller's role, same for a row of its own), 404, 409, 422
    out = []
    if names_a_row and (r.request.method.lower(), route) not in PUBLISHED:
        out.append(f"{where}: a 舒兰市 row answered as if the caller could reach it")
    shown = r.text
    if r.request.url.path == "/api/v1/audit":  # the test callers' own actions' entries quote the ids they sent
        shown = json.dumps([e for e in r.json() if e.get("actor") not in ours], ensure_ascii=False)
    found = [] if (r.request.method.lower(), route) in PUBLISHED else sorted(s for s in shulan.secrets if s in shown)
    if found:
        out.append(f"{where}: carries {found[:5]}")
    path = r.request.url.path
    if r.request.method != "GET" or r.request.url.query or "json" not in r.headers.get("content-type", ""):
        return out
    body = r.json()
    if path == "/api/v1/alarms" and len(body) != caller.own_active_alarms:
        out.append(f"{where}: {len(body)} alarms, its own are {caller.own_active_alarms}")
    if path in COUNTED and not (path == "/api/v1/risk/regions" and caller.name == "public"):  # public: by design
        for name, value in _totals(body).items():
            if value != caller.own_sites:
                out.append(f"{where}: {name} = {value}, its own jurisdiction holds {caller.own_sites}")
    return out


def test_no_route_leaks_another_countys_rows(app: FastAPI, seeded: Engine, world: tuple[Made, Shulan], callers) -> None:
    _, shulan = world
    spec = app.openapi()
    routes = [(m, p, op) for p, item in spec["paths"].items() for m, op in item.items() if m in UNSAFE | {"get"}]
    assert {(m, p) for m, p, _ in routes} >= set(UNCALLABLE), "a route listed as uncallable is gone: update UNCALLABLE"
    before = _fingerprint(seeded)
    ours = {c.actor for c in callers if c.actor}
    calls, leaks, covered = 0, list[str](), set()
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path, op in routes:
            if (method, path) in UNCALLABLE:
                continue
            covered.add((method, path))
            filled, query = _fill(path, op.get("parameters", []), shulan)
            names_a_row = filled != path
            # Lists are called with the ids in their query and again plainly (for their totals).
            attempts = [(filled, query)] + ([(path, {})] if method == "get" and query and not names_a_row else [])
            for caller in callers:
                for url, params in attempts:
                    kwargs: dict[str, Any] = {"params": params, "headers": caller.headers}
                    if method in UNSAFE:
                        kwargs["json"] = BODIES.get((method, path), {})
                    r = client.request(method.upper(), url, **kwargs)
                    calls += 1
                    leaks += _leaks(
                        f"{caller.name}: {method.upper()} {url} {params}", r, caller, shulan, names_a_row, path, ours
                    )
    after = _fingerprint(seeded)
    changed = sorted(t for t in before if before[t] != after[t])
    if changed:
        leaks.append(f"舒兰市's rows changed in {changed}")
    print(
        f"\nleakage test: routes covered {len(covered)} of {len(routes)}, calls made {calls}, leaks found {len(leaks)}"
    )
    assert not leaks, "\n".join(leaks)


def test_the_public_county_map_gives_counts_and_nothing_else(anonymous: TestClient, seeded: Engine) -> None:
    """RISKMAP_PUBLIC_MAP = county (the default): per-county counts by colour for everyone, site
    details only after signing in."""
    with seeded.connect() as conn:
        graded = conn.scalar(text("SELECT count(*) FROM site_risk WHERE level IS NOT NULL"))
    fc = anonymous.get("/api/v1/risk/regions").json()
    assert sum(f["properties"]["sites"] for f in fc["features"]) == graded
    assert anonymous.get("/api/v1/risk/regions", params={"by": "grid"}).status_code == 401
    for url in (
        "/api/v1/sites",
        "/api/v1/risk/sites",
        "/api/v1/alarms",
        "/api/v1/broadcasts",
        "/api/v1/sites/JL-COAL-0001",
    ):
        assert anonymous.get(url).status_code == 401, url
    assert anonymous.get("/api/v1/regions").status_code == 200


def test_the_public_map_setting_opens_and_closes_reads(anonymous: TestClient, monkeypatch) -> None:
    from backend.core import config

    monkeypatch.setattr(config.api_settings(), "public_map", "sites")
    assert anonymous.get("/api/v1/sites", params={"limit": 1}).status_code == 200
    assert anonymous.get("/api/v1/risk/regions", params={"by": "grid"}).status_code == 200
    site = anonymous.get("/api/v1/sites/JL-COAL-0001")
    assert site.status_code == 200 and "password" not in site.text
    # The bureaus' own work stays theirs, whatever the public map opens (and the database role of
    # the anonymous reader could not read it anyway: test_row_level_security).
    for url in (
        "/api/v1/broadcasts",
        "/api/v1/broadcasts/feed.atom",
        "/api/v1/people",
        "/api/v1/hidden-hazards",
        "/api/v1/inspectors",
        "/api/v1/inspection-plans",
        "/api/v1/inspections",
        "/api/v1/enforcement-actions",
    ):
        assert anonymous.get(url).status_code == 401, url
    monkeypatch.setattr(config.api_settings(), "public_map", "none")
    assert anonymous.get("/api/v1/risk/regions").status_code == 401
    assert anonymous.get("/api/v1/regions").status_code == 401
    monkeypatch.setattr(config.api_settings(), "public_map", "county")
    monkeypatch.setattr(config.api_settings(), "require_auth_for_read", True)  # the older setting: none
    assert anonymous.get("/api/v1/risk/regions").status_code == 401


def test_the_alarm_stream_sends_nothing_of_another_county(
    live_server: str, seeded: Engine, world: tuple[Made, Shulan], callers
) -> None:
    made, _ = world
    county = callers[0]
    got: list[str] = []
    connected = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(timeout=20) as c,
            c.stream("GET", live_server + "/api/v1/alarms/stream", headers=county.headers) as r,
        ):
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith(": connected"):
                    connected.set()
                if line.startswith("data: "):
                    got.append(line)
                    if f'"id": {made.alarms[PANSHI]}' in line:
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert connected.wait(10)
    time.sleep(0.5)  # the channel's LISTEN is open once the first subscriber is in
    with seeded.begin() as conn:
        for county_code in (SHULAN, PANSHI):  # 舒兰市's first: the stream must skip it
            conn.execute(
                text("SELECT pg_notify('riskmap_alarms', :n)"),
                {"n": json.dumps({"id": made.alarms[county_code], "event": "raised"})},
            )
    t.join(15)
    assert got, "the listener received nothing, not even its own county's alarm"
    assert any(f'"id": {made.alarms[PANSHI]}' in g for g in got)
    assert not any(f'"id": {made.alarms[SHULAN]}' in g or SHULAN in g for g in got), got
