"""A gateway holding its own password attacks the real broker and ingester (bench/hostile.py):
each attack must end with another gateway's reading stored within 2 s, every acknowledged
reading stored exactly once, and the ingester still connected on the same session."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.domain.kinds import Role
from backend.embedded.stack import Stack, sync_broker_auth
from backend.registry.gateways import add_gateway
from bench.hostile import ATTACKS, Arena, arena_from, connect, now_ts, run
from ingest.mqtt import BrokerAddress
from tests.conftest import wait_until


@pytest.fixture(scope="module")
def arena(seeded: Engine, stack: Stack, gateway_secrets: dict[str, str], ingester) -> Arena:
    def register(site: str) -> tuple[str, str]:
        with Session(seeded) as s, s.begin():
            s.info["actor"] = "test:hostile"
            gw, password = add_gateway(s, site)
            sync_broker_auth(s, stack)
            gid = gw.id
        time.sleep(0.3)  # the broker reloads its password file on SIGHUP
        return gid, password

    return arena_from(
        seeded,
        BrokerAddress.parse(stack.mosquitto.url()),
        gateway_secrets,
        ingester.client._client_id.decode(),
        register,
    )


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_costs_nothing_valid(arena: Arena, ingester, attack: str) -> None:
    generation = ingester.generation
    result = run(arena, attack)
    assert result.ok and result.lost == 0, result
    assert ingester.generation == generation and ingester.connected.is_set(), "the ingester was disconnected"


def _dead(engine: Engine, gateway_id: str, since: datetime) -> list:
    with engine.connect() as c:
        return c.execute(
            text(
                "SELECT reason, detail, length(payload), payload_size FROM dead_letters "
                "WHERE gateway_id = :g AND received_at >= :s ORDER BY id"
            ),
            {"g": gateway_id, "s": since},
        ).all()


def test_poison_is_dead_lettered_with_its_reason_and_costs_only_itself(arena: Arena, ingester) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    poison_before = ingester.stats["poison"]
    run(arena, "poison_ack_overflow")
    rows = wait_until(lambda: [r for r in _dead(arena.engine, arena.attacker.id, since) if r[0] == "bad_ack"])
    assert any("2147483647" in r[1] for r in rows)
    # Refused by validation before SQL: no batch had to be split.
    assert ingester.stats["poison"] == poison_before


def test_a_batch_the_database_refuses_is_split_and_only_the_offender_kept(
    arena: Arena, ingester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message that passes validation but that the database refuses (simulated by a check
    constraint the data violates) is found by bisection; the rest of its batch is stored."""
    a = arena.attacker
    with arena.engine.begin() as c:
        c.execute(text("ALTER TABLE readings ADD CONSTRAINT hostile_test_no_777 CHECK (value <> 777.0) NOT VALID"))
    try:
        since = datetime.now(UTC) - timedelta(seconds=1)
        peer = connect(arena.address, a.id, a.site_code, a.password)
        good = [round(2 + i / 1000, 3) for i in range(20)]
        bodies = [{"sensor": a.sensor_code, "ts": now_ts(5 - i * 0.01), "value": v} for i, v in enumerate(good)]
        bodies.insert(7, {"sensor": a.sensor_code, "ts": now_ts(6), "value": 777.0})
        for body in bodies:
            peer.publish(peer.topic("readings"), json.dumps(body), wait=False)
        peer.publish(peer.topic("status"), "online")
        peer.close()
        assert arena.wait_stored(a.sensor_id, good, 10)
        rows = wait_until(lambda: [r for r in _dead(arena.engine, a.id, since) if r[0] == "ingest_error"])
        assert len(rows) == 1 and "CheckViolation" in rows[0][1]
        assert arena.stored(a.sensor_id, 777.0) == 0
    finally:
        with arena.engine.begin() as c:
            c.execute(text("ALTER TABLE readings DROP CONSTRAINT hostile_test_no_777"))


def test_stored_rejects_are_cut_short_and_say_their_size(arena: Arena) -> None:
    a = arena.attacker
    since = datetime.now(UTC) - timedelta(seconds=1)
    peer = connect(arena.address, a.id, a.site_code, a.password)
    peer.publish(peer.topic("readings"), b"[" * 200_000)  # 200 kB of garbage: within the packet limit
    peer.close()
    rows = wait_until(lambda: [r for r in _dead(arena.engine, a.id, since) if r[0] == "malformed_json"])
    _, detail, kept, size = rows[-1]
    assert size == 200_000 and kept <= 4096 and "first 4096 kept" in detail


def test_replay_stores_dead_letters_once_after_the_register_is_fixed(
    arena: Arena, client: TestClient, tokens: dict, seeded: Engine
) -> None:
    """Readings for a sensor not yet registered are dead-lettered; once it is, a replay stores
    them, and a second replay stores nothing more."""
    a = arena.attacker
    code = f"{a.site_code}-LATE-{int(time.time() * 1000) % 10**6}"
    peer = connect(arena.address, a.id, a.site_code, a.password)
    values = [3.101, 3.102, 3.103]
    for i, v in enumerate(values):
        peer.publish(peer.topic("readings"), json.dumps({"sensor": code, "ts": now_ts(10 - i), "value": v}))
    peer.close()
    wait_until(lambda: arena.count("SELECT count(*) FROM dead_letters WHERE detail LIKE :c", c=f"%{code}%") == 3)
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:hostile"
        s.execute(
            text(
                "INSERT INTO sensors (code, site_id, gateway_id, kind, unit, location_label, interval_s, thresholds) "
                "SELECT :c, site_id, id, 'carbon_monoxide', 'ppm', '回风巷', 60, '{}'::jsonb FROM gateways WHERE id = :g"
            ),
            {"c": code, "g": a.id},
        )
    auth = {"Authorization": f"Bearer {tokens[Role.operator]}"}
    params = {"reason": "unknown_sensor", "gateway": a.id}
    assert client.post("/api/v1/ingest/dead-letters/replay", params=params).status_code == 401
    r = client.post("/api/v1/ingest/dead-letters/replay", params=params, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] >= 3
    sid = arena.count("SELECT id FROM sensors WHERE code = :c", c=code)
    assert all(arena.stored(sid, v) == 1 for v in values)
    again = client.post("/api/v1/ingest/dead-letters/replay", params=params, headers=auth).json()
    assert again["selected"] == 0 and all(arena.stored(sid, v) == 1 for v in values)
    assert arena.count("SELECT count(*) FROM audit_log WHERE action = 'replay' AND entity = 'dead_letters'") >= 1
    assert client.post("/api/v1/ingest/dead-letters/replay", params={"ids": 2**70}, headers=auth).status_code == 422


def test_healthz_reports_the_ingester_and_a_wedge(
    client: TestClient, ingester, seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKMAP_INGEST_HEALTH_REQUIRED", "true")
    body = wait_until(lambda: (r := client.get("/healthz")).status_code == 200 and r.json())
    mine = next(i for i in body["ingest"]["ingesters"] if i["name"] == ingester.name)
    assert mine["connected"] and "batches_retried" in mine
    # A heartbeat that says the ingester is far behind makes /healthz fail, with the reason.
    with seeded.begin() as c:
        c.execute(text("INSERT INTO ingester_status VALUES ('wedged', 'h', 1, now(), now(), true, 999, '{}')"))
    try:
        r = client.get("/healthz")
        assert r.status_code == 503 and any("wedged" in p for p in r.json()["ingest"]["problems"])
    finally:
        with seeded.begin() as c:
            c.execute(text("DELETE FROM ingester_status WHERE name = 'wedged'"))
