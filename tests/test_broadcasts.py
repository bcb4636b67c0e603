"""Flood-season early warning end to end: weather warnings and gauges, rules, spatial targeting,
CAP 1.2 valid against the official schema, MQTT/Atom/webhook/SMS delivery, 叫应 over HTTP and
MQTT, deadlines and escalation on a controllable clock, 假停产假撤人, Update/Cancel, drills."""

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from capvalidator.validate import Validator
from fastapi.testclient import TestClient
from lxml import etree
from pyproj import Geod
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.core.security import token_digest
from backend.domain import cap
from backend.models import Broadcast, Recipient
from backend.warnings import answers, escalation, intake
from tests.support.browser import open_map
from tests.support.cap import orange_rainstorm_cap
from tests.support.delivery import wait_delivered
from tests.support.sse import StreamListener
from tests.support.wait import wait_until

pytestmark = pytest.mark.usefixtures("ingester", "delivery_worker")
SUMMER = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)  # in the flood season
NS = {"c": cap.NS}
GEOD = Geod(ellps="WGS84")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def site_point(engine: Engine, code: str) -> tuple[float, float]:
    with engine.connect() as c:
        return tuple(
            c.execute(text("SELECT ST_X(location), ST_Y(location) FROM sites WHERE code = :c"), {"c": code}).one()
        )


def square(x: float, y: float, d: float = 0.01) -> dict:
    """A GeoJSON square of half-side d degrees around (x, y)."""
    return {
        "type": "Polygon",
        "coordinates": [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]],
    }


def broadcast_to(client: TestClient, tokens: dict[Role, str], engine: Engine, site: str, **fields):
    """An operator's broadcast to one site, a small square around it as the area."""
    x, y = site_point(engine, site)
    return client.post(
        "/api/v1/broadcasts",
        headers=_auth(tokens[Role.operator]),
        json={"sites": [site], "polygon": square(x, y), **fields},
    )


def valid_cap(xml: str) -> etree._Element:
    ok, message = Validator(xml.encode()).schema()
    assert ok, message
    assert cap.validate(xml) == []
    return etree.fromstring(xml.encode())


def receive(
    session: Session,
    identifier: str,
    color: str,
    area: MultiPolygon,
    now: datetime = SUMMER,
    msg_type: str = "Alert",
    references: list[str] | None = None,
    status: str = "Actual",
) -> dict:
    result = intake.receive_warning(
        session,
        intake.WarningIn(
            identifier,
            color,
            area,
            [],
            now - timedelta(minutes=5),
            now + timedelta(hours=12),
            msg_type,
            references,
            status,
        ),
        now,
        "test",
    )
    session.commit()
    return result


def pond_area(engine: Engine, code: str, half_deg: float = 0.01) -> MultiPolygon:
    x, y = site_point(engine, code)
    return MultiPolygon([box(x - half_deg, y - half_deg, x + half_deg, y + half_deg)])


def head_top_pond(engine: Engine) -> str:
    with engine.connect() as c:
        return c.scalar(
            text(
                "SELECT s.code FROM site_risk r JOIN sites s ON s.id = r.site_id "
                "WHERE (r.reasons -> 0 -> 'evidence' ->> 'head_top')::boolean ORDER BY s.code LIMIT 1"
            )
        )


def test_orange_warning_in_season_orders_evacuation_of_the_ponds_inside(session: Session, seeded: Engine) -> None:
    pond = head_top_pond(seeded)
    x, y = site_point(seeded, pond)
    # The pond just inside the area's east edge; another pond just outside.
    area = MultiPolygon([box(x - 0.05, y - 0.05, x + 0.0005, y + 0.05)])
    result = receive(session, "W-ORANGE-1", "orange", area)
    assert result["rule"] == "rainstorm_evacuate" and len(result["broadcasts"]) == 1
    b = session.get(Broadcast, result["broadcasts"][0])
    codes = set(
        session.scalars(
            text(
                "SELECT s.code FROM broadcast_recipients r JOIN sites s ON s.id = r.site_id WHERE r.broadcast_id = :b"
            ),
            {"b": b.id},
        )
    )
    assert pond in codes
    inside = set(
        session.scalars(
            text(
                "SELECT code FROM sites WHERE kind IN ('coal_mine', 'tailings_pond') AND ST_Intersects(location, "
                "ST_GeomFromText(:w, 4326))"
            ),
            {"w": area.wkt},
        )
    )
    assert inside <= codes
    assert all(
        session.scalar(
            text("SELECT ST_Intersects(location, ST_GeomFromText(:w, 4326)) FROM sites WHERE code = :c"),
            {"w": area.wkt, "c": c},
        )
        for c in codes
    )
    assert {p["pond"] for p in b.places} >= {pond} and all(p["distance_m"] <= 1000 for p in b.places)
    root = valid_cap(b.cap_xml)
    assert root.findtext("c:info/c:responseType", namespaces=NS) == "Evacuate"
    assert root.findtext("c:info/c:severity", namespaces=NS) == "Severe"
    assert "停产撤人" in root.findtext("c:info/c:headline", namespaces=NS)
    lat, lon = map(float, root.findtext("c:info/c:area/c:polygon", namespaces=NS).split()[0].split(","))
    assert 40 < lat < 47 and 121 < lon < 132  # latitude first
    assert root.findtext("c:sent", namespaces=NS).endswith("+08:00")
    ident = root.findtext("c:identifier", namespaces=NS)
    assert ident[:6].isdigit() and ident[6:20] == b.sent.astimezone(cap.CHINA).strftime("%Y%m%d%H%M%S")
    # One SMS to each responsible person of each site (the people register), with their phone.
    people = session.execute(
        text(
            "SELECT count(DISTINCT p.site_id), count(*), count(DISTINCT m.id) FILTER (WHERE m.to_phone = p.mobile) "
            "FROM broadcast_recipient_people p JOIN sms_outbox m ON m.recipient_id = p.recipient_id "
            "WHERE p.broadcast_id = :b"
        ),
        {"b": b.id},
    ).one()
    sms = session.scalar(text("SELECT count(*) FROM sms_outbox WHERE broadcast_id = :b"), {"b": b.id})
    assert people[0] == len(codes) and sms == people[2] >= 2 * len(codes)
    # The pond's own level went up one step for the rainstorm.
    reasons = session.scalar(
        text("SELECT reasons FROM site_risk r JOIN sites s ON s.id = r.site_id WHERE s.code = :c"), {"c": pond}
    )
    assert "rainstorm_warning" in [r["rule"] for r in reasons]  # regraded on the warning's clock


def test_just_outside_the_polygon_is_not_targeted(session: Session, seeded: Engine) -> None:
    pond = "JL-TSF-0030"
    x, y = site_point(seeded, pond)
    area = MultiPolygon([box(x - 0.05, y - 0.05, x - 0.0005, y + 0.05)])  # ends 40 m west of the pond
    result = receive(session, "W-ORANGE-2", "orange", area)
    for bid in result["broadcasts"]:
        codes = set(
            session.scalars(
                text(
                    "SELECT s.code FROM broadcast_recipients r JOIN sites s ON s.id = r.site_id "
                    "WHERE r.broadcast_id = :b"
                ),
                {"b": bid},
            )
        )
        assert pond not in codes


def test_rules_by_colour_and_season(session: Session, seeded: Engine) -> None:
    area = pond_area(seeded, "JL-TSF-0031")
    assert receive(session, "W-YELLOW", "yellow", area)["rule"] == "rainstorm_prepare"
    yellow = session.scalar(
        text(
            "SELECT cap_xml FROM broadcasts b JOIN weather_warnings w ON w.id = "
            "b.weather_warning_id WHERE w.identifier = 'W-YELLOW'"
        )
    )
    assert valid_cap(yellow).findtext("c:info/c:responseType", namespaces=NS) == "Prepare"
    assert receive(session, "W-BLUE", "blue", area)["rule"] is None
    winter = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert receive(session, "W-RED-WINTER", "red", area, now=winter)["rule"] is None
    assert receive(session, "W-RED", "red", area)["rule"] == "rainstorm_evacuate"


def test_weather_warning_as_cap_xml_over_http(client: TestClient, tokens: dict[Role, str], seeded: Engine) -> None:
    x, y = site_point(seeded, "JL-TSF-0032")
    ring = [
        (x - 0.02, y - 0.02),
        (x + 0.02, y - 0.02),
        (x + 0.02, y + 0.02),
        (x - 0.02, y + 0.02),
        (x - 0.02, y - 0.02),
    ]
    xml = orange_rainstorm_cap("CMA-22000041600000-TEST", ring, "预计3小时内降雨量将达50毫米以上")
    r = client.post(
        "/api/v1/weather-warnings",
        content=xml,
        headers={**_auth(tokens[Role.operator]), "content-type": "application/cap+xml"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["warning"] == "CMA-22000041600000-TEST"
    with seeded.connect() as c:
        color, src = c.execute(
            text("SELECT color, source FROM weather_warnings WHERE identifier = :i"), {"i": "CMA-22000041600000-TEST"}
        ).one()
    assert color == "orange" and "暴雨橙色预警" in src
    bad = client.post(
        "/api/v1/weather-warnings",
        content=b"<alert>nope</alert>",
        headers={**_auth(tokens[Role.operator]), "content-type": "application/xml"},
    )
    assert bad.status_code == 422 and "CAP" in bad.text
    hostile = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert>&x;</alert>'
    assert (
        client.post(
            "/api/v1/weather-warnings",
            content=hostile,
            headers={**_auth(tokens[Role.operator]), "content-type": "application/xml"},
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/weather-warnings", json={"identifier": "X", "color": "red"}, headers=_auth(tokens[Role.operator])
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/weather-warnings",
            json={"identifier": "X", "color": "red", "adcodes": ["229999"]},
            headers=_auth(tokens[Role.operator]),
        ).status_code
        == 422
    )
    assert client.post("/api/v1/weather-warnings", content=xml).status_code == 401


def test_ack_over_http_with_the_token_the_site_received(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, gateway
) -> None:
    site = "JL-COAL-0011"
    gw = gateway(site)
    r = broadcast_to(client, tokens, seeded, site, action="evacuate", color="red")
    assert r.status_code == 201, r.text
    b = r.json()
    gw.client.subscribe(f"riskmap/v1/{site}/broadcast", qos=1)
    msg = wait_until(
        lambda: [
            json.loads(p)
            for t, p in gw.received
            if t.endswith("/broadcast") and p and json.loads(p)["broadcast"] == b["id"]
        ]
    )[0]
    assert msg["action"] == "evacuate" and msg["color"] == "red" and msg["ack_token"]
    assert client.post(f"/api/v1/broadcasts/{b['id']}/ack", json={"token": "x" * 20}).status_code == 404
    ack = client.post(f"/api/v1/broadcasts/{b['id']}/ack", json={"token": msg["ack_token"]}).json()
    assert ack["status"] == "acknowledged"
    done = client.post(f"/api/v1/broadcasts/{b['id']}/ack", json={"token": msg["ack_token"], "evacuated": True})
    assert done.json()["status"] == "evacuated"
    detail = client.get(f"/api/v1/broadcasts/{b['id']}").json()
    assert detail["recipients"][0]["acknowledged_via"] == "http"
    # Issued and queued in the issuing transaction; delivered by the outbox worker after it.
    assert [(e["event"], e["channel"]) for e in detail["events"]][:3] == [
        ("issued", None),
        ("queued", "mqtt"),
        ("queued", "sms"),
    ]
    assert ("delivered", "mqtt") in [(e["event"], e["channel"]) for e in detail["events"]]
    assert {"acknowledged", "evacuation_confirmed"} <= {e["event"] for e in detail["events"]}
    feed = client.get("/api/v1/broadcasts/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    assert f"/api/v1/broadcasts/{b['id']}.xml" in feed.text
    valid_cap(client.get(f"/api/v1/broadcasts/{b['id']}.xml").text)


def test_ack_over_mqtt_from_the_sites_gateway(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, gateway
) -> None:
    site = "JL-COAL-0012"
    b = broadcast_to(client, tokens, seeded, site, action="evacuate", color="orange").json()
    gateway(site).publish({"broadcast": b["id"], "evacuated": True}, channel="ack")
    rec = wait_until(
        lambda: (
            (d := client.get(f"/api/v1/broadcasts/{b['id']}").json()["recipients"][0])["status"] == "evacuated" and d
        )
    )
    assert rec["acknowledged_via"] == "mqtt"


def test_deadlines_escalate_to_county_then_prefecture(session: Session, seeded: Engine) -> None:
    area = pond_area(seeded, "JL-TSF-0033")
    result = receive(session, "W-RED-DEADLINE", "red", area)
    bid = result["broadcasts"][0]
    recipients = list(session.scalars(text("SELECT id FROM broadcast_recipients WHERE broadcast_id = :b"), {"b": bid}))
    b = session.get(Broadcast, bid)

    def states() -> set[tuple[str, int]]:
        return {(r.status, r.escalation) for r in (session.get(Recipient, i) for i in recipients)}

    escalation.sweep(session, b.sent + timedelta(minutes=14))  # red: 15 minutes
    assert states() == {("waiting", 0)}
    escalation.sweep(session, b.sent + timedelta(minutes=16))
    assert states() == {("overdue", 1)}
    escalation.sweep(session, b.sent + timedelta(minutes=32))
    assert states() == {("overdue", 2)}
    events = (
        session.execute(
            text(
                "SELECT detail FROM broadcast_events WHERE broadcast_id = :b AND event = "
                "'escalated' AND recipient_id = :r ORDER BY id"
            ),
            {"b": bid, "r": recipients[0]},
        )
        .scalars()
        .all()
    )
    assert [e["to"] for e in events] == ["county", "prefecture"]
    assert events[1]["region"].endswith("00") and events[0]["region"] != events[1]["region"]
    session.commit()


def test_evacuation_contradicted_by_sensors_is_flagged(session: Session, seeded: Engine) -> None:
    site = session.scalar(
        text(
            "SELECT s.code FROM sites s JOIN sensors se ON se.site_id = s.id "
            "WHERE se.kind = 'personnel_count' AND s.kind = 'coal_mine' ORDER BY s.code OFFSET 13 LIMIT 1"
        )
    )
    site_id = session.scalar(text("SELECT id FROM sites WHERE code = :c"), {"c": site})
    result = receive(session, "W-RED-FAKE", "red", pond_area(seeded, site, 0.001))
    bid = result["broadcasts"][0]
    rec = session.scalar(
        text("SELECT id FROM broadcast_recipients WHERE broadcast_id = :b AND site_id = :s"), {"b": bid, "s": site_id}
    )
    token = "t" * 32
    session.execute(
        text("UPDATE broadcast_recipients SET token_hash = :h WHERE id = :r"),
        {"h": token_digest(token), "r": rec},
    )
    now = datetime.now(UTC)
    session.execute(text("UPDATE broadcasts SET expires = :e WHERE id = :b"), {"e": now + timedelta(hours=2), "b": bid})
    answers.acknowledge(session, bid, token, None, True, "http", now)
    assert session.get(Recipient, rec).fake_evacuation is False
    session.execute(
        text(
            "UPDATE sensors SET last_value = 14, last_reading_at = :t WHERE site_id = :s AND kind = 'personnel_count'"
        ),
        {"t": now + timedelta(minutes=3), "s": site_id},
    )
    assert escalation.sweep(session, now + timedelta(minutes=4))["fake"] == 1
    r = session.get(Recipient, rec)
    assert r.fake_evacuation and r.evidence["activity"][0]["kind"] == "personnel_count"
    session.commit()


def test_update_and_cancel_reference_the_earlier_alert(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, gateway
) -> None:
    site = "JL-COAL-0013"
    first = broadcast_to(client, tokens, seeded, site, color="yellow", action="prepare").json()
    updated = client.post(
        f"/api/v1/broadcasts/{first['id']}/update",
        headers=_auth(tokens[Role.operator]),
        json={"color": "red", "action": "evacuate"},
    ).json()
    root = valid_cap(client.get(f"/api/v1/broadcasts/{updated['id']}.xml").text)
    assert root.findtext("c:msgType", namespaces=NS) == "Update"
    assert first["identifier"] in root.findtext("c:references", namespaces=NS)
    assert client.get(f"/api/v1/broadcasts/{first['id']}").json()["state"] == "superseded"
    cancelled = client.post(
        f"/api/v1/broadcasts/{updated['id']}/cancel", headers=_auth(tokens[Role.operator]), json={"reason": "降雨减弱"}
    ).json()
    root = valid_cap(client.get(f"/api/v1/broadcasts/{cancelled['id']}.xml").text)
    assert root.findtext("c:msgType", namespaces=NS) == "Cancel"
    assert root.findtext("c:info/c:responseType", namespaces=NS) == "AllClear"
    assert updated["identifier"] in root.findtext("c:references", namespaces=NS)
    assert (
        client.post(f"/api/v1/broadcasts/{updated['id']}/cancel", headers=_auth(tokens[Role.operator])).status_code
        == 409
    )
    # A gateway connecting now (the clearing delivered) finds no retained broadcast for its site.
    wait_delivered(seeded, updated["id"])
    late = gateway(site)
    late.client.subscribe(f"riskmap/v1/{site}/broadcast", qos=1)
    time.sleep(0.5)
    assert not [p for t, p in late.received if p]


def test_drill_runs_the_whole_flow_marked_exercise(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, gateway
) -> None:
    site = "JL-COAL-0014"
    b = broadcast_to(client, tokens, seeded, site, color="red", exercise=True).json()
    assert b["status"] == "Exercise"
    assert (
        valid_cap(client.get(f"/api/v1/broadcasts/{b['id']}.xml").text).findtext("c:status", namespaces=NS)
        == "Exercise"
    )
    gateway(site).publish({"broadcast": b["id"], "evacuated": False}, channel="ack")
    wait_until(lambda: client.get(f"/api/v1/broadcasts/{b['id']}").json()["recipients"][0]["status"] == "acknowledged")


def test_webhooks_are_signed(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKMAP_WEBHOOK_ALLOW_PRIVATE", "true")  # the receiver is on the loopback
    got: list[tuple[bytes, str]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((body, self.headers["X-Riskmap-Signature"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/cap"
    assert client.post("/api/v1/webhooks", json={"url": url}, headers=_auth(tokens[Role.operator])).status_code == 403
    secret = client.post("/api/v1/webhooks", json={"url": url}, headers=_auth(tokens[Role.admin])).json()["secret"]
    site = "JL-COAL-0015"
    b = broadcast_to(client, tokens, seeded, site, color="orange").json()
    wait_until(lambda: any(json.loads(bd)["broadcast"] == b["id"] for bd, _ in got))
    server.shutdown()
    with seeded.connect() as c:
        c.execute(text("UPDATE webhooks SET active = false"))
        c.commit()
    body, signature = next((bd, sg) for bd, sg in got if json.loads(bd)["broadcast"] == b["id"])
    assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert "<alert" in json.loads(body)["cap"]


def test_gauge_past_orange_in_season_broadcasts_to_its_site(session: Session, seeded: Engine) -> None:
    site_id = session.scalar(text("SELECT id FROM sites WHERE code = 'JL-TSF-0034'"))
    b = intake.gauge_alarm(session, site_id, "orange", SUMMER)
    assert b is not None and b.rule == "gauge_evacuate" and b.action == "evacuate"
    assert (
        session.scalar(text("SELECT site_id FROM broadcast_recipients WHERE broadcast_id = :b"), {"b": b.id}) == site_id
    )
    assert intake.gauge_alarm(session, site_id, "yellow", SUMMER) is None
    assert intake.gauge_alarm(session, site_id, "red", datetime(2026, 12, 1, tzinfo=UTC)) is None
    session.commit()
    valid_cap(b.cap_xml)


def test_map_shows_warning_areas_targets_and_the_broadcast_panel(
    logins: dict[Role, str],
    browser,
    live_server: str,
    client: TestClient,
    tokens: dict[Role, str],
    session: Session,
    seeded: Engine,
    artifacts,
) -> None:
    for b in client.get("/api/v1/broadcasts").json():  # start from a clean slate
        client.post(f"/api/v1/broadcasts/{b['id']}/cancel", headers=_auth(tokens[Role.operator]))
    sites = ["JL-COAL-0016", "JL-COAL-0017"]
    pts = [site_point(seeded, s) for s in sites]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    poly = {
        "type": "Polygon",
        "coordinates": [
            [
                [min(xs) - 0.05, min(ys) - 0.05],
                [max(xs) + 0.05, min(ys) - 0.05],
                [max(xs) + 0.05, max(ys) + 0.05],
                [min(xs) - 0.05, max(ys) + 0.05],
                [min(xs) - 0.05, min(ys) - 0.05],
            ]
        ],
    }
    b = client.post(
        "/api/v1/broadcasts",
        headers=_auth(tokens[Role.operator]),
        json={"color": "red", "sites": sites, "polygon": poly},
    ).json()
    token = "k" * 32
    first = next(r for r in b["recipients"] if r["site"] == sites[0])
    session.execute(
        text("UPDATE broadcast_recipients SET token_hash = :h WHERE id = :r"),
        {"h": token_digest(token), "r": first["id"]},
    )
    session.commit()
    assert client.post(f"/api/v1/broadcasts/{b['id']}/ack", json={"token": token, "evacuated": True}).status_code == 200
    escalation.sweep(session, datetime.now(UTC) + timedelta(minutes=16))  # the other one is now overdue
    session.commit()
    open_map(browser, live_server + "/", logins[Role.regulator])  # reads, and issues a drill below
    panel = wait_until(
        lambda: browser.execute_script(
            "const el = document.querySelector('.riskmap-broadcasts .bc[data-id=\"' + arguments[0] + '\"]');"
            "return el ? el.innerText : null;",
            b["id"],
        )
    )
    assert "已撤人 1" in panel and "超时未应 1" in panel and "超时:" in panel
    drawn = browser.execute_script(
        "return [window.riskmap.flood.warnings.getLayers().length, window.riskmap.flood.targets.getLayers().length]"
    )
    assert drawn[0] >= 1 and drawn[1] == 2
    browser.save_screenshot(str(artifacts / "flood-panel.png"))
    # The signed-in regulator issues a drill from the form (session cookie and CSRF token).
    browser.execute_script(
        "const f = document.querySelector('.riskmap-broadcasts form');"
        "f.adcode.value = '220600'; f.color.value = 'orange'; f.requestSubmit();"
    )
    wait_until(
        lambda: browser.execute_script(
            "return [...document.querySelectorAll('.riskmap-broadcasts .bc')].some(e => e.innerText.includes('演练'))"
        ),
        timeout=15,
    )
    drill = next(x for x in client.get("/api/v1/broadcasts").json() if x["status"] == "Exercise")
    assert drill["adcodes"] == ["220600"] and drill["color"] == "orange"
    assert drill["places"] and all(p["geometry"]["type"] == "Point" for p in drill["places"])
    wait_until(
        lambda: browser.execute_script(
            "return window.riskmap.flood.broadcasts.some(b => b.id === arguments[0])", drill["id"]
        )
    )
    browser.save_screenshot(str(artifacts / "flood-drill.png"))
    # ... and raises it to red from the panel: a CAP Update that supersedes it.
    browser.execute_script(
        "document.querySelector('button[data-raise=\"' + arguments[0] + '\"]').click();", drill["id"]
    )
    raised = wait_until(
        lambda: [
            x for x in client.get("/api/v1/broadcasts").json() if x["status"] == "Exercise" and x["color"] == "red"
        ],
        timeout=15,
    )
    assert raised[0]["references"] == drill["id"]
    assert client.get(f"/api/v1/broadcasts/{drill['id']}").json()["state"] == "superseded"


def _recipient_token(session: Session, recipient_id: int, token: str) -> None:
    """Give a recipient a known answer token (the real one only goes to its site)."""
    session.execute(
        text("UPDATE broadcast_recipients SET token_hash = :h WHERE id = :r"),
        {"h": token_digest(token), "r": recipient_id},
    )
    session.commit()


def test_the_live_stream_pushes_every_broadcast_change(
    live_server: str, client: TestClient, tokens: dict[Role, str], session: Session, seeded: Engine
) -> None:
    site = "JL-COAL-0018"
    with StreamListener(live_server + "/api/v1/alarms/stream", tokens[Role.viewer]) as stream:

        def pushed(broadcast_id: int, event: str) -> dict:
            return wait_until(
                lambda: [e for e in stream.named("broadcast") if e["id"] == broadcast_id and event in e["events"]]
            )[-1]

        b = broadcast_to(client, tokens, seeded, site, color="orange").json()
        issued = pushed(b["id"], "issued")
        assert issued["state"] == "active" and issued["counts"] == {"waiting": 1}
        assert [r["site"] for r in issued["recipients"]] == [site] and issued["area"]["type"] == "MultiPolygon"
        _recipient_token(session, b["recipients"][0]["id"], "s" * 32)
        assert client.post(f"/api/v1/broadcasts/{b['id']}/ack", json={"token": "s" * 32}).status_code == 200
        acked = pushed(b["id"], "acknowledged")
        assert acked["counts"] == {"acknowledged": 1} and acked["recipients"][0]["acknowledged_via"] == "http"
        # Raised to red: the new one is pushed, and the old one as superseded.
        red = client.post(
            f"/api/v1/broadcasts/{b['id']}/update", headers=_auth(tokens[Role.operator]), json={"color": "red"}
        )
        assert red.status_code == 200, red.text
        assert pushed(b["id"], "superseded")["state"] == "superseded"
        assert pushed(red.json()["id"], "issued")["references"] == b["id"]
        assert (
            client.post(
                f"/api/v1/broadcasts/{red.json()['id']}/cancel", headers=_auth(tokens[Role.operator])
            ).status_code
            == 200
        )
        assert pushed(red.json()["id"], "cancelled")["state"] == "cancelled"
    assert not stream.named("message")  # every event is named


def test_the_open_map_follows_broadcasts_from_the_stream_without_polling(
    logins: dict[Role, str],
    browser,
    live_server: str,
    client: TestClient,
    tokens: dict[Role, str],
    session: Session,
    seeded: Engine,
) -> None:
    b = broadcast_to(client, tokens, seeded, "JL-COAL-0019", color="orange").json()
    open_map(browser, live_server + "/", logins[Role.viewer])

    def panel(broadcast_id: int) -> str | None:
        return browser.execute_script(
            "const el = document.querySelector('.riskmap-broadcasts .bc[data-id=\"' + arguments[0] + '\"]');"
            "return el ? el.innerText : null;",
            broadcast_id,
        )

    assert "待叫应 1" in wait_until(lambda: panel(b["id"]))
    # From here on, count every request the page makes (the open stream is not one: it never ends).
    browser.execute_script("performance.setResourceTimingBufferSize(10000); performance.clearResourceTimings();")
    _recipient_token(session, b["recipients"][0]["id"], "p" * 32)
    answer = client.post(f"/api/v1/broadcasts/{b['id']}/ack", json={"token": "p" * 32, "evacuated": True})
    assert answer.status_code == 200
    wait_until(lambda: "已撤人 1" in (panel(b["id"]) or ""))
    assert browser.execute_script("return document.querySelectorAll('path.riskmap-target.evacuated').length") >= 1
    second = broadcast_to(client, tokens, seeded, "JL-COAL-0020", color="yellow", action="prepare").json()
    wait_until(lambda: panel(second["id"]))
    for x in (b, second):
        assert (
            client.post(f"/api/v1/broadcasts/{x['id']}/cancel", headers=_auth(tokens[Role.operator])).status_code == 200
        )
    wait_until(lambda: panel(b["id"]) is None and panel(second["id"]) is None)
    time.sleep(1.0)  # every change above was shown without a request; nor does one come late
    requests = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/api/'))"
    )
    assert requests == []
    assert browser.execute_script("return window.riskmap.flood.received") >= 4
