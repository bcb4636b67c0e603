"""A gateway holding its own password attacks the real broker and ingester (bench/hostile.py):
each attack must end with another gateway's reading stored within 2 s, every acknowledged
reading stored exactly once, and the ingester still connected on the same session."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from backend.core.config import IngestSettings
from backend.core.mqtt import BrokerAddress
from backend.core.principal import Role
from backend.embedded.stack import Stack, sync_broker_auth
from backend.registry.gateways import add_gateway
from bench.hostile import ATTACKS, Arena, arena_from, connect, now_ts, run
from ingest.batch import Message
from ingest.ingester import Ingester
from tests.support.wait import wait_until


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


def test_a_poison_ack_is_refused_by_validation_before_sql(arena: Arena, ingester) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    poison_before = ingester.stats["poison"]
    run(arena, "poison_ack_overflow")
    rows = wait_until(lambda: [r for r in _dead(arena.engine, arena.attacker.id, since) if r[0] == "bad_ack"])
    assert any("2147483647" in r[1] for r in rows)
    # Refused by validation before SQL: no batch had to be split.
    assert ingester.stats["poison"] == poison_before


def _batch(gw, values: list[float], start_s: float) -> list[Message]:
    return [
        Message(
            f"riskmap/v1/{gw.site_code}/{gw.id}/readings",
            json.dumps({"sensor": gw.sensor_code, "ts": now_ts(start_s - i * 0.01), "value": v}).encode(),
        )
        for i, v in enumerate(values)
    ]


def test_a_batch_the_database_refuses_is_split_and_only_the_offender_kept(
    arena: Arena, caplog: pytest.LogCaptureFixture
) -> None:
    """One batch holding a message that passes validation but that the database refuses (a check
    constraint it breaks stands in for any data error): the batch is split until that message is
    found; it is dead-lettered with the SQLSTATE and everything else is stored."""
    a = arena.attacker
    spare = Ingester(arena.engine, f"bisect-{os.urandom(3).hex()}", IngestSettings(), arena.address)
    good = [round(2 + i / 1000, 3) for i in range(20)]
    batch = _batch(a, [*good[:7], 777.0, *good[7:]], start_s=30)
    with arena.engine.begin() as c:
        c.execute(text("ALTER TABLE readings ADD CONSTRAINT hostile_test_no_777 CHECK (value <> 777.0) NOT VALID"))
    try:
        with caplog.at_level(logging.WARNING, logger="riskmap.ingest"):
            outcome = spare._commit(batch, threading.Event())
    finally:
        with arena.engine.begin() as c:
            c.execute(text("ALTER TABLE readings DROP CONSTRAINT hostile_test_no_777"))
    assert outcome is not None and outcome.stored == 20 and spare.stats["poison"] == 1
    assert any("splitting it" in r.message for r in caplog.records)
    assert [(m.payload, r.reason) for m, r in outcome.rejected] == [(batch[7].payload, "ingest_error")]
    assert all(arena.stored(a.sensor_id, v) == 1 for v in good) and arena.stored(a.sensor_id, 777.0) == 0
    kept = arena.count(
        "SELECT count(*) FROM dead_letters WHERE reason = 'ingest_error' AND detail LIKE '%23514%' "
        "AND convert_from(payload, 'UTF8') LIKE '%777.0%'"
    )
    assert kept == 1


def test_an_unreachable_database_is_retried_not_dead_lettered_and_shows_as_lag(arena: Arena) -> None:
    """With the database unreachable nothing is dead-lettered or acknowledged: the batch waits,
    the retries are counted and the lag grows, which /healthz reports."""
    dead_engine = create_engine("postgresql+psycopg://riskmap@127.0.0.1:1/none", pool_pre_ping=False)
    spare = Ingester(dead_engine, f"unreachable-{os.urandom(3).hex()}", IngestSettings(), arena.address)
    batch = _batch(arena.attacker, [4.321], start_s=20)
    stop = threading.Event()
    result: list[object] = []
    spare.in_flight_since = batch[0].received
    worker = threading.Thread(target=lambda: result.append(spare._commit(batch, stop)))
    worker.start()
    time.sleep(2.5)
    lag = spare.lag_s()
    stop.set()
    worker.join(10)
    assert result == [None]  # stopped while waiting: nothing to acknowledge
    assert spare.stats["batches_retried"] >= 2 and spare.stats["poison"] == 0
    assert lag >= 2.0
    assert arena.stored(arena.attacker.sensor_id, 4.321) == 0


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
