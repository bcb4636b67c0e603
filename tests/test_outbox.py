"""Delivery outside transactions, against the real PostGIS, Mosquitto and a real HTTP receiver:
retries with backoff, every attempt recorded, a worker SIGKILLed mid-batch and restarted
(nothing lost; a repeat only where the key lets the receiver drop it), the broker down at issue
time, and webhook targets restricted to public addresses unless allowed."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.core.config import DeliverySettings
from backend.core.mqtt import BrokerAddress
from backend.core.principal import Role
from backend.embedded.stack import Stack
from backend.models import Webhook
from backend.warnings import delivery
from backend.warnings.delivery import TargetRefused, Worker, resolve_target
from tests.support.delivery import wait_delivered
from tests.support.paths import ROOT
from tests.support.wait import wait_until


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def running_worker(engine: Engine, stack: Stack, **settings: Any) -> Iterator[Worker]:
    """A delivery worker in a thread for the block (fast polling and short backoff)."""
    s = DeliverySettings(**({"poll_s": 0.1, "backoff_base_s": 0.3, "backoff_cap_s": 2, "lease_s": 10} | settings))
    worker = Worker(engine, f"test-{os.urandom(3).hex()}", s, BrokerAddress.parse(stack.mosquitto.url()))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert worker.ready.wait(10)
    try:
        yield worker
    finally:
        stop.set()
        thread.join(30)


class Receiver:
    """A real HTTP server on the loopback answering with the given statuses in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = statuses[min(len(receiver.requests), len(statuses) - 1)]
                receiver.requests.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/cap"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _square(engine: Engine, site: str) -> dict[str, Any]:
    with engine.connect() as c:
        x, y = c.execute(text("SELECT ST_X(location), ST_Y(location) FROM sites WHERE code = :c"), {"c": site}).one()
    d = 0.01
    return {
        "type": "Polygon",
        "coordinates": [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]],
    }


def _issue(client: TestClient, tokens: dict[Role, str], engine: Engine, site: str) -> dict[str, Any]:
    r = client.post(
        "/api/v1/broadcasts",
        headers=_auth(tokens[Role.operator]),
        json={"sites": [site], "polygon": _square(engine, site), "color": "red", "exercise": True},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _outbox(engine: Engine, broadcast_id: int, kind: str) -> list[Any]:
    with engine.connect() as c:
        return c.execute(
            text("SELECT * FROM outbox WHERE broadcast_id = :b AND kind = :k ORDER BY id"),
            {"b": broadcast_id, "k": kind},
        ).all()


def test_a_webhook_failing_twice_is_delivered_once_after_three_attempts_with_backoff(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKMAP_WEBHOOK_ALLOW_PRIVATE", "true")  # the receiver is on the loopback
    receiver = Receiver([500, 503, 204])
    hook = client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=_auth(tokens[Role.admin])).json()
    try:
        with running_worker(seeded, stack, backoff_base_s=0.4):
            b = _issue(client, tokens, seeded, "JL-COAL-0040")
            wait_until(lambda: _outbox(seeded, b["id"], "webhook")[0].delivered_at, timeout=20)
    finally:
        with seeded.begin() as c:
            c.execute(text("UPDATE webhooks SET active = false WHERE id = :i"), {"i": hook["id"]})
        receiver.close()
    (row,) = _outbox(seeded, b["id"], "webhook")
    assert [status for _, _, status in receiver.requests] == [500, 503, 204]  # one successful delivery
    assert {h["X-Riskmap-Delivery"] for h, _, _ in receiver.requests} == {row.key}  # the same key each time
    for headers, body, _ in receiver.requests:
        expected = "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Riskmap-Signature"] == expected and json.loads(body)["broadcast"] == b["id"]
    assert row.attempts == 3 and row.dead_at is None and row.last_error is None
    with seeded.connect() as c:
        attempts = c.execute(
            text("SELECT attempt, ok, status, error, at FROM outbox_attempts WHERE outbox_id = :i ORDER BY attempt"),
            {"i": row.id},
        ).all()
        events = c.execute(
            text("SELECT detail FROM broadcast_events WHERE broadcast_id = :b AND event = 'webhook'"), {"b": b["id"]}
        ).all()
    assert [(a.attempt, a.ok, a.status, a.error) for a in attempts] == [
        (1, False, 500, "HTTP 500"),
        (2, False, 503, "HTTP 503"),
        (3, True, 204, None),
    ]
    first_wait = (attempts[1].at - attempts[0].at).total_seconds()
    second_wait = (attempts[2].at - attempts[1].at).total_seconds()
    assert first_wait >= 0.4 and second_wait >= 0.8  # exponential: base, then twice the base
    assert [e.detail for e in events] == [{"delivery": row.key, "attempts": 3, "webhook": hook["id"], "status": 204}]


def _subscriber(stack: Stack, topic: str) -> tuple[mqtt.Client, list[bytes]]:
    address = BrokerAddress.parse(stack.mosquitto.url())
    got: list[bytes] = []
    subscribed = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-sub-{os.urandom(3).hex()}")
    c.username_pw_set(address.username, address.password)
    c.on_message = lambda cl, u, m: got.append(m.payload)
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(topic, qos=1)
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect(address.host, address.port)
    c.loop_start()
    assert subscribed.wait(5)
    return c, got


def _deliver_process(name: str, db_url: str, stack: Stack, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "RISKMAP_DATABASE_URL": db_url,
        "RISKMAP_MQTT_URL": stack.mosquitto.url(),
        "RISKMAP_DELIVERY_BATCH": "100",
        "RISKMAP_DELIVERY_LEASE_S": "2",
        "RISKMAP_DELIVERY_POLL_S": "0.2",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "deliver", "--name", name], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def test_a_worker_killed_mid_batch_and_restarted_delivers_everything_once(
    seeded: Engine, db_url: str, stack: Stack, tmp_path: Path
) -> None:
    n = 3000
    run = os.urandom(3).hex()
    sub, got = _subscriber(stack, f"riskmap/v1/KILL-{run}/#")
    keys = [delivery.new_key() for _ in range(n)]
    with Session(seeded) as s, s.begin():
        delivery.enqueue(
            s,
            [
                {
                    "kind": "mqtt",
                    "target": f"riskmap/v1/KILL-{run}/{i % 50}/broadcast",
                    "payload": json.dumps({"delivery": k, "i": i}).encode(),
                    "headers": {"qos": 1, "retain": False},
                    "key": k,
                }
                for i, k in enumerate(keys)
            ],
        )

    def delivered() -> int:
        with seeded.connect() as c:
            return c.scalar(
                text("SELECT count(*) FROM outbox WHERE key = ANY(:k) AND delivered_at IS NOT NULL"), {"k": keys}
            )

    # Kill the worker while it holds a claimed batch it has sent but not recorded: once messages
    # flow, the broker is paused (SIGSTOP), so the worker sits waiting for PUBACKs mid-batch.
    name = f"kill-{run}"
    proc = _deliver_process(name, db_url, stack, tmp_path / "deliver.log")
    wait_until(lambda: len(got) > 0, timeout=30)
    broker = stack.mosquitto._pid()
    assert broker
    os.kill(broker, signal.SIGSTOP)
    try:
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        os.kill(broker, signal.SIGCONT)
    with seeded.connect() as c:
        in_flight_at_kills = c.scalar(
            text("SELECT count(*) FROM outbox WHERE claimed_by = :w AND delivered_at IS NULL"), {"w": name}
        )
    assert in_flight_at_kills > 0, "the worker was never killed mid-batch"
    assert delivered() < n, "the worker finished before it was killed"
    restarted = _deliver_process(f"restarted-{run}", db_url, stack, tmp_path / "deliver.log")
    try:
        wait_until(lambda: delivered() == n, timeout=60)
        wait_until(lambda: {json.loads(p)["delivery"] for p in got} >= set(keys), timeout=10)
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(20) == 0
        sub.disconnect()
        sub.loop_stop()
    received = [json.loads(p)["delivery"] for p in got]
    assert set(received) == set(keys)  # nothing lost, nothing else
    # At least once: a repeat only for a message the broker confirmed to a worker killed before it recorded it.
    assert len(received) - n <= in_flight_at_kills
    with seeded.connect() as c:
        ok_attempts, dead = c.execute(
            text(
                "SELECT (SELECT count(*) FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id "
                "WHERE o.key = ANY(:k) AND a.ok), (SELECT count(*) FROM outbox WHERE key = ANY(:k) AND dead_at IS NOT NULL)"
            ),
            {"k": keys},
        ).one()
    assert ok_attempts == n and dead == 0  # each recorded delivered exactly once
    assert "delivery worker stopped" in (tmp_path / "deliver.log").read_text()


def test_issued_with_the_broker_down_it_commits_and_goes_out_when_the_broker_returns(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, stack: Stack, gateway
) -> None:
    site = "JL-COAL-0041"
    with running_worker(seeded, stack, backoff_base_s=0.3, backoff_cap_s=1):
        stack.mosquitto.stop()
        try:
            b = _issue(client, tokens, seeded, site)  # committed: the broker plays no part in issuing
            wait_until(lambda: _outbox(seeded, b["id"], "mqtt")[0].attempts >= 2, timeout=15)
            (row,) = _outbox(seeded, b["id"], "mqtt")
            assert row.delivered_at is None and row.dead_at is None and "broker unreachable" in row.last_error
        finally:
            stack.mosquitto.start()
        wait_delivered(seeded, b["id"], timeout=20)
    gw = gateway(site)
    gw.client.subscribe(f"riskmap/v1/{site}/broadcast", qos=1)
    msg = wait_until(lambda: [json.loads(p) for _, p in gw.received if p and json.loads(p)["broadcast"] == b["id"]])[0]
    (row,) = _outbox(seeded, b["id"], "mqtt")
    assert msg["delivery"] == row.key and msg["ack_token"] and row.attempts >= 3
    detail = client.get(f"/api/v1/broadcasts/{b['id']}").json()
    assert ("delivered", "mqtt") in [(e["event"], e["channel"]) for e in detail["events"]]
    assert detail["deliveries"][0] | {"max_attempts": 0} == {
        "channel": "mqtt",
        "delivered": 1,
        "pending": 0,
        "failed": 0,
        "max_attempts": 0,
        "last_error": None,
    }
    with seeded.connect() as c:
        assert c.scalar(text("SELECT delivered_at FROM broadcast_recipients WHERE broadcast_id = :b"), {"b": b["id"]})


REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/hook",
    "http://192.168.1.10/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
]


def test_private_webhook_targets_are_refused_by_default_and_not_delivered(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RISKMAP_WEBHOOK_ALLOW_PRIVATE", raising=False)
    monkeypatch.delenv("RISKMAP_WEBHOOK_ALLOW_CIDRS", raising=False)
    with seeded.connect() as c:
        before = c.scalar(text("SELECT count(*) FROM webhooks"))
    for url in REFUSED:
        r = client.post("/api/v1/webhooks", json={"url": url}, headers=_auth(tokens[Role.admin]))
        assert r.status_code == 422, (url, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", "url"] and "address" in r.json()["detail"][0]["msg"]
    with seeded.connect() as c:
        assert c.scalar(text("SELECT count(*) FROM webhooks")) == before
    with pytest.raises(TargetRefused):
        resolve_target("http://203.0.113.9/x")
    assert [str(ip) for ip in resolve_target("https://1.1.1.1/hook")] == ["1.1.1.1"]
    monkeypatch.setenv("RISKMAP_WEBHOOK_ALLOW_CIDRS", "10.1.0.0/16, 127.0.0.0/8")
    assert [str(ip) for ip in resolve_target("http://10.1.2.3/hook")] == ["10.1.2.3"]
    with pytest.raises(TargetRefused):
        resolve_target("http://10.2.0.1/hook")
    monkeypatch.delenv("RISKMAP_WEBHOOK_ALLOW_CIDRS")

    # A hook that got past registration (registered when allowed, or its name now resolves to a
    # private address) is refused again at delivery: nothing reaches it, the row is dead at once.
    receiver = Receiver([204])
    with Session(seeded) as s, s.begin():
        hook = Webhook(url=receiver.url, secret="s" * 32)
        s.add(hook)
        s.flush()
        hook_id = hook.id
    try:
        with running_worker(seeded, stack):
            b = _issue(client, tokens, seeded, "JL-COAL-0042")
            wait_until(lambda: _outbox(seeded, b["id"], "webhook")[0].dead_at, timeout=15)
    finally:
        with seeded.begin() as c:
            c.execute(text("UPDATE webhooks SET active = false WHERE id = :i"), {"i": hook_id})
        receiver.close()
    assert receiver.requests == []
    (row,) = _outbox(seeded, b["id"], "webhook")
    assert row.attempts == 1 and row.delivered_at is None and "loopback" in row.last_error

    # The error text is for operators only.
    anonymous = client.get(f"/api/v1/broadcasts/{b['id']}").json()
    failed = [e for e in anonymous["events"] if e["event"] == "delivery_failed"]
    assert len(failed) == 1 and "error" not in failed[0]["detail"] and failed[0]["detail"]["webhook"] == hook_id
    hooks = next(d for d in anonymous["deliveries"] if d["channel"] == "webhook")
    assert hooks["failed"] == 1 and hooks["last_error"] is None
    assert "loopback" not in json.dumps(anonymous) and "127.0.0.1" not in json.dumps(anonymous)
    viewer = client.get(f"/api/v1/broadcasts/{b['id']}", headers=_auth(tokens[Role.viewer])).json()
    assert "loopback" not in json.dumps(viewer)
    operator = client.get(f"/api/v1/broadcasts/{b['id']}", headers=_auth(tokens[Role.operator])).json()
    failed = [e for e in operator["events"] if e["event"] == "delivery_failed"]
    assert "loopback" in failed[0]["detail"]["error"]
    assert "loopback" in next(d for d in operator["deliveries"] if d["channel"] == "webhook")["last_error"]


def test_the_migration_matches_the_models_for_the_delivery_tables(seeded: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from backend.models import Base

    mine = {"outbox", "outbox_attempts", "api_tokens", "gateways"}

    def ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is not None and table.name in mine

    with seeded.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"include_object": ours}), Base.metadata)
    assert diff == []


def test_messages_to_one_topic_go_out_in_order_and_a_bad_topic_is_dead_at_once(seeded: Engine, stack: Stack) -> None:
    run = os.urandom(3).hex()
    topic = f"riskmap/v1/ORDER-{run}/broadcast"
    alert, clear, bad = delivery.new_key(), delivery.new_key(), delivery.new_key()
    with Session(seeded) as s, s.begin():
        delivery.enqueue(
            s,
            [
                {
                    "kind": "mqtt",
                    "target": topic,
                    "payload": b"alert",
                    "headers": {"qos": 1, "retain": True},
                    "key": alert,
                },
                {"kind": "mqtt", "target": topic, "payload": b"", "headers": {"qos": 1, "retain": True}, "key": clear},
                {"kind": "mqtt", "target": "riskmap/v1/+/broadcast", "payload": b"x", "headers": {}, "key": bad},
            ],
        )
    address = BrokerAddress.parse(stack.mosquitto.url())
    settings = DeliverySettings(batch=10_000, lease_s=1, backoff_base_s=0.5)
    first, second = Worker(seeded, f"a-{run}", settings, address), Worker(seeded, f"b-{run}", settings, address)
    claimed = {c.key: c for c in first.claim()}
    assert alert in claimed and clear not in claimed  # the clear waits for the alert
    assert clear not in {c.key for c in second.claim()}
    first.record([claimed[alert]], {claimed[alert].id: delivery.Outcome(False, "broker away")})
    assert clear not in {c.key for c in second.claim()}  # still behind the alert, now backing off
    with running_worker(seeded, stack):
        wait_until(lambda: _state(seeded, [alert, clear, bad]) == ["delivered", "delivered", "dead"], timeout=20)
    with seeded.connect() as c:
        order = c.scalars(
            text(
                "SELECT o.key FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id "
                "WHERE a.ok AND o.key = ANY(:k) ORDER BY a.id"
            ),
            {"k": [alert, clear]},
        ).all()
        error = c.scalar(text("SELECT last_error FROM outbox WHERE key = :k"), {"k": bad})
    assert order == [alert, clear] and "cannot publish" in error
    sub, got = _subscriber(stack, topic)  # what a gateway connecting now finds: no retained alert
    time.sleep(0.5)  # a retained message arrives right after the SUBACK
    sub.disconnect()
    sub.loop_stop()
    assert got == []


def _state(engine: Engine, keys: list[str]) -> list[str]:
    with engine.connect() as c:
        rows = dict(
            c.execute(
                text(
                    "SELECT key, CASE WHEN delivered_at IS NOT NULL THEN 'delivered' WHEN dead_at IS NOT NULL "
                    "THEN 'dead' ELSE 'pending' END FROM outbox WHERE key = ANY(:k)"
                ),
                {"k": keys},
            ).all()
        )
    return [rows[k] for k in keys]


def test_a_notify_wakes_the_worker_long_before_its_poll(seeded: Engine, stack: Stack) -> None:
    run = os.urandom(3).hex()
    sub, got = _subscriber(stack, f"riskmap/v1/WAKE-{run}/#")
    with running_worker(seeded, stack, poll_s=60) as worker:
        time.sleep(0.5)  # idle, waiting on LISTEN
        key = delivery.new_key()
        started = time.monotonic()
        with Session(seeded) as s, s.begin():
            delivery.enqueue(
                s, [{"kind": "mqtt", "target": f"riskmap/v1/WAKE-{run}/x", "payload": key.encode(), "key": key}]
            )
        wait_until(lambda: key.encode() in got, timeout=5)
        assert time.monotonic() - started < 5 and worker.delivered >= 1
    sub.disconnect()
    sub.loop_stop()


def test_a_webhook_that_keeps_failing_is_dead_after_max_attempts(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKMAP_WEBHOOK_ALLOW_PRIVATE", "true")
    receiver = Receiver([502])
    hook = client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=_auth(tokens[Role.admin])).json()
    try:
        with running_worker(seeded, stack, backoff_base_s=0.2, max_attempts=3):
            b = _issue(client, tokens, seeded, "JL-COAL-0043")
            wait_until(lambda: _outbox(seeded, b["id"], "webhook")[0].dead_at, timeout=20)
    finally:
        with seeded.begin() as c:
            c.execute(text("UPDATE webhooks SET active = false WHERE id = :i"), {"i": hook["id"]})
        receiver.close()
    (row,) = _outbox(seeded, b["id"], "webhook")
    assert len(receiver.requests) == 3 and row.attempts == 3 and row.delivered_at is None
    events = client.get(f"/api/v1/broadcasts/{b['id']}", headers=_auth(tokens[Role.operator])).json()["events"]
    failed = [e["detail"] for e in events if e["event"] == "delivery_failed"]
    assert failed == [{"delivery": row.key, "attempts": 3, "webhook": hook["id"], "status": 502, "error": "HTTP 502"}]
