"""Alarms over HTTP (list, acknowledge, close, SSE), time series, dead letters, one alarm per
condition under concurrency, and the live alert panel in the browser."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.domain import alarm_rules as rules
from ingest.alarms import AlarmWriter, Subject
from tests.support.accounts import browser_sign_in, browser_sign_out, make_user
from tests.support.browser import MAP_READY
from tests.support.sse import StreamListener
from tests.support.wait import wait_until

pytestmark = pytest.mark.usefixtures("ingester")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ts(seconds_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds")


def sensor(engine: Engine, site: str, kind: str) -> tuple[str, int]:
    with engine.connect() as c:
        return tuple(
            c.execute(
                text(
                    "SELECT se.code, se.id FROM sensors se JOIN sites s ON s.id = se.site_id WHERE s.code = :s "
                    "AND se.kind = :k ORDER BY se.code LIMIT 1"
                ),
                {"s": site, "k": kind},
            ).one()
        )


def raise_alarm(engine: Engine, gateway, site: str) -> tuple[str, int]:
    code, sid = sensor(engine, site, "methane")
    gateway(site).publish({"sensor": code, "ts": ts(5), "value": 1.8})
    return code, wait_until(lambda: _open_id(engine, sid))


def _open_id(engine: Engine, sensor_id: int) -> int | None:
    with engine.connect() as c:
        return c.scalar(
            text("SELECT id FROM alarms WHERE key = :k AND state IN ('raised', 'acknowledged')"),
            {"k": f"sensor:{sensor_id}:threshold"},
        )


def test_list_acknowledge_clear_close(client: TestClient, tokens: dict[Role, str], seeded: Engine, gateway) -> None:
    code, alarm_id = raise_alarm(seeded, gateway, "JL-COAL-0006")
    active = client.get("/api/v1/alarms", params={"site": "JL-COAL-0006"}).json()
    mine = next(a for a in active if a["id"] == alarm_id)
    assert (mine["sensor"], mine["color"], mine["level"], mine["state"]) == (code, "red", 1, "raised")
    assert mine["value"] == 1.8 and mine["threshold"] == 1.5 and mine["unit"] == "%"
    assert all(a["color"] == "red" for a in client.get("/api/v1/alarms", params={"color": "red"}).json())
    assert client.post(f"/api/v1/alarms/{alarm_id}/ack").status_code == 401
    assert client.post(f"/api/v1/alarms/{alarm_id}/ack", headers=_auth(tokens[Role.viewer])).status_code == 403
    r = client.post(
        f"/api/v1/alarms/{alarm_id}/ack", json={"comment": "已通知矿方撤人"}, headers=_auth(tokens[Role.operator])
    )
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert r.json()["acknowledged_by"] == "test-operator" and r.json()["ack_comment"] == "已通知矿方撤人"
    assert client.post(f"/api/v1/alarms/{alarm_id}/ack", headers=_auth(tokens[Role.operator])).status_code == 409
    assert client.post(f"/api/v1/alarms/{alarm_id}/close", headers=_auth(tokens[Role.operator])).status_code == 409
    gateway("JL-COAL-0006").publish({"sensor": code, "ts": ts(1), "value": 0.3})
    wait_until(lambda: client.get(f"/api/v1/alarms/{alarm_id}").json()["state"] == "cleared")
    closed = client.post(f"/api/v1/alarms/{alarm_id}/close", headers=_auth(tokens[Role.operator])).json()
    assert closed["state"] == "closed"
    history = client.get(f"/api/v1/alarms/{alarm_id}").json()["events"]
    assert [(e["event"], e["actor"]) for e in history] == [
        ("raised", "system"),
        ("acknowledged", "token:test-operator"),
        ("cleared", "system"),
        ("closed", "token:test-operator"),
    ]
    audit = client.get(
        "/api/v1/audit", params={"entity": "alarms", "key": str(alarm_id)}, headers=_auth(tokens[Role.admin])
    ).json()
    assert {e["action"] for e in audit} == {"acknowledged", "closed"}


def test_sse_stream_delivers_alarm_changes(live_server: str, seeded: Engine, gateway, tokens: dict[Role, str]) -> None:
    with StreamListener(live_server + "/api/v1/alarms/stream", tokens[Role.viewer]) as stream:
        code, alarm_id = raise_alarm(seeded, gateway, "JL-COAL-0007")
        alarm = wait_until(lambda: [a for a in stream.named("alarm") if a["id"] == alarm_id], timeout=15)[0]
    assert alarm["sensor"] == code and alarm["site"] == "JL-COAL-0007" and alarm["event"] == "raised"


def test_readings_are_downsampled_over_long_ranges(client: TestClient, seeded: Engine, gateway) -> None:
    code, _ = sensor(seeded, "JL-COAL-0008", "carbon_monoxide")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    gw = gateway("JL-COAL-0008")
    for batch in range(6):
        gw.publish(
            {
                "readings": [
                    {
                        "sensor": code,
                        "ts": (start + timedelta(seconds=10 * (batch * 100 + i))).isoformat(),
                        "value": 2.0 + (i % 10) / 10,
                    }
                    for i in range(100)
                ]
            }
        )
    frm, to = start.isoformat(), (start + timedelta(hours=2)).isoformat()
    full = wait_until(
        lambda: (
            (r := client.get(f"/api/v1/sensors/{code}/readings", params={"from": frm, "to": to}).json())["readings"]
            == 600
            and r
        )
    )
    assert full["every_s"] is not None and len(full["points"]) <= 500
    assert sum(p["n"] for p in full["points"]) == 600
    assert all(p["min"] <= p["value"] <= p["max"] for p in full["points"])
    hourly = client.get(f"/api/v1/sensors/{code}/readings", params={"from": frm, "to": to, "every": "1h"}).json()
    assert len(hourly["points"]) == 2 and hourly["every_s"] == 3600
    raw = client.get(
        f"/api/v1/sensors/{code}/readings",
        params={"from": start.isoformat(), "to": (start + timedelta(minutes=5)).isoformat()},
    ).json()
    assert raw["every_s"] is None and len(raw["points"]) == 30
    assert client.get(f"/api/v1/sensors/{code}/readings", params={"every": "soon"}).status_code == 422
    assert client.get(f"/api/v1/sensors/{code}/readings", params={"from": to, "to": frm}).status_code == 422
    assert client.get("/api/v1/sensors/NOPE/readings").status_code == 404


def test_dead_letters_need_an_operator(
    client: TestClient, anonymous: TestClient, tokens: dict[Role, str], gateway
) -> None:
    gateway("JL-COAL-0009").publish(b"{broken")
    assert anonymous.get("/api/v1/ingest/dead-letters").status_code == 401
    rows = wait_until(
        lambda: client.get(
            "/api/v1/ingest/dead-letters", params={"reason": "malformed_json"}, headers=_auth(tokens[Role.operator])
        ).json()
    )
    assert any(r["payload"] == "{broken" and r["topic"].endswith("/readings") for r in rows)


def test_concurrent_writers_never_open_two_alarms(seeded: Engine) -> None:
    with seeded.connect() as c:
        sensor_id, site_id = c.execute(text("SELECT id, site_id FROM sensors ORDER BY id DESC LIMIT 1")).one()
    barrier = threading.Barrier(8)
    errors: list[Exception] = []

    def write(value: float) -> None:
        try:
            with Session(seeded) as s, s.begin():
                writer = AlarmWriter(s, datetime.now(UTC))
                barrier.wait()
                writer.apply(
                    Subject(f"sensor:{sensor_id}", site_id, sensor_id),
                    "concurrency",
                    rules.Decision("orange", value, 1.0),
                )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(1.0 + i / 100,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    with seeded.connect() as c:
        assert (
            c.scalar(text("SELECT count(*) FROM alarms WHERE key = :k"), {"k": f"sensor:{sensor_id}:concurrency"}) == 1
        )


def test_alert_panel_shows_a_new_alarm_within_two_seconds(
    browser, live_server: str, seeded: Engine, gateway, artifacts
) -> None:
    """A duty officer signs in, sees the alarm arrive and acknowledges it from the panel: the
    session cookie and the page's CSRF token, no token pasted anywhere."""
    with seeded.connect() as c:
        county = c.scalar(text("SELECT region_adcode FROM sites WHERE code = 'JL-COAL-0010'"))
    login = make_user(seeded, county, ["duty"], name="孙值班")
    browser_sign_in(browser, live_server, login, "/")
    try:
        wait_until(lambda: browser.current_url.rstrip("/") == live_server)
        assert browser.execute_async_script(MAP_READY) is True
        who = browser.find_element(By.CSS_SELECTOR, ".riskmap-alerts .who").text
        assert "孙值班" in who and "应急管理局" in who
        assert not browser.find_elements(By.CSS_SELECTOR, ".riskmap-alerts input")  # the token box is gone
        wait_until(
            lambda: browser.execute_script(
                "return !!(window.riskmap.alerts.source && window.riskmap.alerts.source.readyState === 1)"
            )
        )
        code, _ = sensor(seeded, "JL-COAL-0010", "methane")
        gw = gateway("JL-COAL-0010")
        t0 = time.monotonic()
        gw.publish({"sensor": code, "ts": ts(1), "value": 2.2})
        item = wait_until(
            lambda: browser.execute_script(
                "const li = [...document.querySelectorAll('.riskmap-alerts li')].find(l => l.dataset.site === arguments[0]);"
                "return li ? li.innerText : null;",
                "JL-COAL-0010",
            ),
            timeout=5,
            interval=0.02,
        )
        elapsed = time.monotonic() - t0
        assert elapsed < 2.0, f"alarm took {elapsed:.2f} s to appear"
        assert "2.2" in item and "1.5" in item
        rings = browser.execute_script("return window.riskmap.alerts.rings.getLayers().length")
        assert rings >= 1
        browser.save_screenshot(str(artifacts / "alert-panel.png"))
        assert browser.execute_script("return sessionStorage.getItem('riskmapToken')") is None
        browser.execute_script(
            "const li = [...document.querySelectorAll('.riskmap-alerts li')].find(l => l.dataset.site === arguments[0]);"
            "li.querySelector('button.ack').click();",
            "JL-COAL-0010",
        )
        wait_until(
            lambda: browser.execute_script(
                "const li = [...document.querySelectorAll('.riskmap-alerts li')].find(l => l.dataset.site === arguments[0]);"
                "return li && li.classList.contains('acknowledged');",
                "JL-COAL-0010",
            )
        )
        with seeded.connect() as c:
            acked_by = c.scalar(
                text(
                    "SELECT a.acknowledged_by FROM alarms a JOIN sites s ON s.id = a.site_id "
                    "WHERE s.code = 'JL-COAL-0010' AND a.state = 'acknowledged' ORDER BY a.id DESC LIMIT 1"
                )
            )
            audited = c.scalar(
                text("SELECT count(*) FROM audit_log WHERE entity = 'alarms' AND actor = :a"), {"a": f"user:{login}"}
            )
        assert acked_by == "孙值班" and audited >= 1
        browser.save_screenshot(str(artifacts / "alert-panel-acknowledged.png"))
    finally:
        browser_sign_out(browser)


def test_rolling_rainfall_and_the_gauge_alarm(client: TestClient, seeded: Engine, gateway) -> None:
    code, _ = sensor(seeded, "JL-TSF-0040", "rainfall")
    gw = gateway("JL-TSF-0040")
    now = datetime.now(UTC).replace(microsecond=0)
    # 18 readings of 3 mm over the last 3 h: 54 mm in 3 h (orange), well inside 6 h and 12 h too.
    gw.publish(
        {
            "readings": [
                {"sensor": code, "ts": (now - timedelta(minutes=10 * i + 1)).isoformat(), "value": 3.0}
                for i in range(18)
            ]
        }
    )
    out = wait_until(lambda: (r := client.get(f"/api/v1/sensors/{code}/rainfall").json())["mm"]["3h"] == 54 and r)
    assert out["mm"]["1h"] == 18 and out["mm"]["24h"] == 54 and out["signal"] == "orange"
    alarm = wait_until(
        lambda: [a for a in client.get("/api/v1/alarms", params={"site": "JL-TSF-0040"}).json() if a["kind"] == "rain"]
    )
    assert alarm[0]["color"] == "orange"
    assert (
        client.get(f"/api/v1/sensors/{sensor(seeded, 'JL-TSF-0040', 'dam_displacement')[0]}/rainfall").status_code
        == 422
    )
