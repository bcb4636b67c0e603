"""Attacks by one gateway holding its own (ordinary) credentials, against the real broker and
ingester: each must cost nothing that was valid. After every attack a valid reading from another
gateway must be stored within 2 s, and every reading the broker acknowledged stored exactly once.

`python -m bench.hostile` runs them all on a private stack and prints what was tried and what was
lost (must be 0); tests/test_hostile.py runs the same attacks one by one.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine, text

from backend.core.mqtt import BrokerAddress

ROOT = "riskmap/v1"


def now_ts(seconds_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds")


@dataclass
class Peer:
    """A gateway's MQTT connection that records what the broker answered."""

    gateway_id: str
    site_code: str
    client: mqtt.Client
    connack: str = ""
    connected: threading.Event = field(default_factory=threading.Event)
    disconnects: int = 0
    subacks: list[str] = field(default_factory=list)
    pubacks: dict[int, str] = field(default_factory=dict)
    lock: threading.Condition = field(default_factory=threading.Condition)

    def topic(self, channel: str) -> str:
        return f"{ROOT}/{self.site_code}/{self.gateway_id}/{channel}"

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False, wait: bool = True) -> str:
        """Publish; with QoS 1 wait for the PUBACK and return its reason ('' for QoS 0)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0 or not wait:
            return ""
        with self.lock:
            self.lock.wait_for(lambda: info.mid in self.pubacks or not self.client.is_connected(), 5)
        return self.pubacks.get(info.mid, "no PUBACK")

    def subscribe(self, topic: str) -> str:
        self.client.subscribe(topic, qos=1)
        with self.lock:
            self.lock.wait_for(lambda: self.subacks, 5)
            return self.subacks.pop(0) if self.subacks else "no SUBACK"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(
    address: BrokerAddress,
    gateway_id: str,
    site_code: str,
    password: str,
    client_id: str | None = None,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
) -> Peer:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or gateway_id, protocol=protocol)
    c.username_pw_set(gateway_id, password)
    peer = Peer(gateway_id, site_code, c)

    def on_connect(cl: mqtt.Client, u: object, flags: object, reason: object, props: object) -> None:
        peer.connack = str(reason)
        peer.connected.set()

    def on_disconnect(cl: mqtt.Client, u: object, flags: object, reason: object, props: object) -> None:
        peer.disconnects += 1
        with peer.lock:
            peer.lock.notify_all()

    def on_publish(cl: mqtt.Client, u: object, mid: int, reason: object, props: object) -> None:
        with peer.lock:
            peer.pubacks[mid] = str(reason)
            peer.lock.notify_all()

    def on_subscribe(cl: mqtt.Client, u: object, mid: int, reasons: list[object], props: object) -> None:
        with peer.lock:
            peer.subacks.extend(str(r) for r in reasons)
            peer.lock.notify_all()

    c.on_connect, c.on_disconnect, c.on_publish, c.on_subscribe = on_connect, on_disconnect, on_publish, on_subscribe
    c.reconnect_delay_set(1, 2)
    c.connect(address.host, address.port, keepalive=20)
    c.loop_start()
    peer.connected.wait(5)
    return peer


@dataclass
class Gateway:
    id: str
    site_code: str
    password: str
    sensor_code: str  # one of its sensors
    sensor_id: int
    sensor_unit: str


@dataclass
class Arena:
    """Who attacks, who is the bystander, and how to see what was stored."""

    address: BrokerAddress
    engine: Engine
    attacker: Gateway
    victim: Gateway
    ingester_client_id: str
    register_gateway: Callable[[str], tuple[str, str]]  # site code -> (new gateway id, password)
    victim_values: list[float] = field(default_factory=list)  # every value the broker acknowledged
    last_ts: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(seconds=60))

    def _next_ts(self) -> str:
        """A timestamp after every earlier one: two readings at one instant are one reading."""
        self.last_ts = max(datetime.now(UTC), self.last_ts + timedelta(milliseconds=1))
        return self.last_ts.isoformat(timespec="milliseconds")

    def count(self, sql: str, **params: object) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text(sql), params).scalar_one())

    def stored(self, sensor_id: int, value: float) -> int:
        return self.count("SELECT count(*) FROM readings WHERE sensor_id = :s AND value = :v", s=sensor_id, v=value)

    def victim_publishes(self, n: int = 1) -> list[float]:
        """Valid readings from the bystander gateway, each value unique, PUBACK awaited."""
        peer = connect(self.address, self.victim.id, self.victim.site_code, self.victim.password)
        values = []
        try:
            for _ in range(n):
                value = round(0.01 + (uuid.uuid4().int % 10**6) / 10**8, 8)  # a normal methane level
                body = json.dumps({"sensor": self.victim.sensor_code, "ts": self._next_ts(), "value": value})
                reason = peer.publish(peer.topic("readings"), body)
                assert reason in {"Success", "No matching subscribers"}, reason
                values.append(value)
        finally:
            peer.close()
        self.victim_values.extend(values)
        return values

    def wait_stored(self, sensor_id: int, values: list[float], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.stored(sensor_id, v) == 1 for v in values):
                return True
            time.sleep(0.05)
        return False

    def lost(self) -> int:
        """Acknowledged victim readings not stored exactly once."""
        return sum(1 for v in self.victim_values if self.stored(self.victim.sensor_id, v) != 1)


@dataclass
class Result:
    attack: str
    tried: str
    refused: str  # what the platform did about it
    ok: bool
    lost: int


def _attacker(
    arena: Arena, client_id: str | None = None, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5
) -> Peer:
    a = arena.attacker
    return connect(arena.address, a.id, a.site_code, a.password, client_id, protocol)


def poison_ack_overflow(arena: Arena) -> str:
    """An ack whose id overflows the column, among the bystander's readings."""
    peer = _attacker(arena)
    try:
        reason = peer.publish(peer.topic("ack"), json.dumps({"broadcast": 99999999999, "evacuated": True}))
        arena.victim_publishes(5)
        peer.publish(peer.topic("ack"), b'{"broadcast": Infinity}')
        arena.victim_publishes(5)
    finally:
        peer.close()
    return f"acks with broadcast 99999999999 and Infinity published ({reason})"


def infinite_after_conversion(arena: Arena) -> str:
    """1e308 in % on a ppm sensor: finite as sent, infinite once converted."""
    peer = _attacker(arena)
    a = arena.attacker
    try:
        body = {"readings": [{"sensor": a.sensor_code, "ts": now_ts(), "value": 1e308, "unit": "%"}]}
        peer.publish(peer.topic("readings"), json.dumps(body))
        arena.victim_publishes(5)
    finally:
        peer.close()
    return "1e308 % on a ppm sensor"


def share_group_hijack(arena: Arena) -> str:
    """Join the ingester's shared subscription to take a share of every gateway's readings."""
    peer = _attacker(arena)
    try:
        answers = [
            peer.subscribe(f"$share/riskmap-ingest/{ROOT}/+/+/readings"),
            peer.subscribe(f"$share/other/{ROOT}/+/+/readings"),
            peer.subscribe(f"{ROOT}/#"),
            peer.subscribe("#"),
        ]
        arena.victim_publishes(20)
    finally:
        peer.close()
    assert all(a != "Granted QoS 1" and not a.startswith("Granted") for a in answers), answers
    return f"subscribed to share groups and wildcards: {answers}"


def client_id_takeover(arena: Arena) -> str:
    """Connect with the ingester's client id, then with the bystander's gateway id."""
    answers = []
    for cid in (arena.ingester_client_id, arena.victim.id):
        peer = _attacker(arena, client_id=cid)
        answers.append(peer.connack or "no CONNACK")
        peer.close()
    arena.victim_publishes(20)
    assert all(a != "Success" for a in answers), answers
    return f"connected as {arena.ingester_client_id!r} and {arena.victim.id!r}: {answers}"


def qos0_flood(arena: Arena) -> str:
    """QoS 0 readings: nothing to acknowledge, and the ingester must not try."""
    peer = _attacker(arena)
    a = arena.attacker
    try:
        for _ in range(200):
            body = {"sensor": a.sensor_code, "ts": arena._next_ts(), "value": 1.0}
            peer.publish(peer.topic("readings"), json.dumps(body), qos=0)
        arena.victim_publishes(10)
    finally:
        peer.close()
    return "200 readings at QoS 0"


def oversized_and_retained(arena: Arena) -> str:
    """A 10 MB status (over MQTT 3.1.1, which is not told the broker's limit), and retained
    messages off the status topic."""
    peer = _attacker(arena, protocol=MQTTProtocolVersion.MQTTv311)
    try:
        big = peer.publish(peer.topic("status"), b"x" * (10 * 1024 * 1024))
        deadline = time.monotonic() + 5
        while not peer.disconnects and time.monotonic() < deadline:
            time.sleep(0.05)
        dropped = peer.disconnects > 0
    finally:
        peer.close()
    peer = _attacker(arena)
    try:
        retained = peer.publish(peer.topic("readings"), b'{"readings": []}', retain=True)
        retained_ack = peer.publish(peer.topic("ack"), b'{"broadcast": 1}', retain=True)
        arena.victim_publishes(5)
    finally:
        peer.close()
    assert big != "Success" and dropped, f"the broker took a 10 MB packet ({big})"
    assert retained != "Success" and retained_ack != "Success", (retained, retained_ack)
    return f"10 MB status: connection closed by the broker; retained readings: {retained}; retained ack: {retained_ack}"


def nan_among_good(arena: Arena) -> str:
    """A NaN token among good readings costs only that reading."""
    peer = _attacker(arena)
    a = arena.attacker
    good = round(1 + (uuid.uuid4().int % 10**6) / 10**7, 7)
    try:
        body = (
            '{"readings": ['
            f'{{"sensor": "{a.sensor_code}", "ts": "{arena._next_ts()}", "value": {good}}}, '
            f'{{"sensor": "{a.sensor_code}", "ts": "{arena._next_ts()}", "value": NaN}}]}}'
        )
        acked = peer.publish(peer.topic("readings"), body)
        arena.victim_publishes(2)
    finally:
        peer.close()
    assert acked in {"Success", "No matching subscribers"}, f"the broker did not take the message: {acked}"
    if not arena.wait_stored(a.sensor_id, [good], 5):
        with arena.engine.connect() as c:
            why = c.execute(
                text("SELECT ts, value FROM readings WHERE sensor_id = :s ORDER BY ts DESC LIMIT 4"),
                {"s": a.sensor_id},
            ).all()
        raise AssertionError(f"the good reading beside the NaN was lost; the attacker's last dead letters: {why}")
    return "NaN beside a good reading"


def just_registered_gateway(arena: Arena) -> str:
    """A gateway registered a moment ago publishes at once: it must be accepted, not dead-lettered."""
    gid, password = arena.register_gateway(arena.victim.site_code)
    peer = connect(arena.address, gid, arena.victim.site_code, password)
    value = round(0.02 + (uuid.uuid4().int % 10**6) / 10**8, 8)
    try:
        body = {"sensor": arena.victim.sensor_code, "ts": now_ts(), "value": value}
        # The sensor belongs to the site's first gateway: the new gateway's message is judged on
        # the gateway (known at once) and then the sensor (foreign), never 'unknown_gateway'.
        peer.publish(peer.topic("readings"), json.dumps(body))
    finally:
        peer.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        reasons = arena.count(
            "SELECT count(*) FROM dead_letters WHERE gateway_id = :g AND reason = 'foreign_sensor'", g=gid
        )
        if reasons:
            break
        time.sleep(0.05)
    unknown = arena.count(
        "SELECT count(*) FROM dead_letters WHERE gateway_id = :g AND reason = 'unknown_gateway'", g=gid
    )
    assert unknown == 0, f"{gid} was refused as unknown"
    arena.victim_publishes(2)
    return f"gateway {gid} registered and published at once"


ATTACKS: dict[str, Callable[[Arena], str]] = {
    f.__name__: f
    for f in (
        poison_ack_overflow,
        infinite_after_conversion,
        share_group_hijack,
        client_id_takeover,
        qos0_flood,
        oversized_and_retained,
        nan_among_good,
        just_registered_gateway,
    )
}


def run(arena: Arena, name: str) -> Result:
    """One attack, then the check every attack ends with."""
    tried = ATTACKS[name](arena)
    after = arena.victim_publishes(1)
    in_time = arena.wait_stored(arena.victim.sensor_id, after, 2.0)
    lost = 0 if arena.wait_stored(arena.victim.sensor_id, arena.victim_values, 10) else arena.lost()
    if lost:
        with arena.engine.connect() as c:
            why = c.execute(
                text("SELECT reason, detail FROM dead_letters WHERE gateway_id = :g ORDER BY id DESC LIMIT 5"),
                {"g": arena.victim.id},
            ).all()
        tried += f"; the bystander's dead letters: {why}"
    return Result(name, tried, "refused or dead-lettered", in_time and lost == 0, lost)


def main() -> None:
    from sqlalchemy.orm import Session

    from backend.core.config import IngestSettings
    from backend.embedded.stack import sync_broker_auth
    from backend.registry.gateways import add_gateway
    from backend.registry.seed import DEMO_SECRETS
    from bench.common import DATA_DIR, bench_stack
    from ingest.ingester import Ingester

    with bench_stack() as (stack, engine):
        secrets = json.loads((DATA_DIR / DEMO_SECRETS).read_text())
        address = BrokerAddress.parse(stack.mosquitto.url())
        ingester = Ingester(engine, "hostile-bench", IngestSettings(batch_wait_ms=20), address)
        stop = threading.Event()
        thread = threading.Thread(target=ingester.run, args=(stop, True), daemon=True)
        thread.start()
        assert ingester.subscribed.wait(10)

        def register(site: str) -> tuple[str, str]:
            with Session(engine) as s, s.begin():
                s.info["actor"] = "bench:hostile"
                gw, password = add_gateway(s, site)
                sync_broker_auth(s, stack)
                return gw.id, password

        arena = arena_from(engine, address, secrets, ingester.client._client_id.decode(), register)
        results = [run(arena, name) for name in ATTACKS]
        stop.set()
        thread.join(15)
    width = max(len(r.attack) for r in results)
    for r in results:
        print(f"{r.attack:<{width}}  {'ok ' if r.ok else 'FAIL'}  lost {r.lost}  {r.tried}")
    print(
        f"\n{len(results)} attacks, lost {sum(r.lost for r in results)} acknowledged readings (must be 0); "
        f"ingester: {ingester.stats}"
    )


def arena_from(
    engine: Engine,
    address: BrokerAddress,
    secrets: dict[str, str],
    ingester_client_id: str,
    register: Callable[[str], tuple[str, str]],
) -> Arena:
    def gateway(site: str, kind: str) -> Gateway:
        with engine.connect() as c:
            code, sid, unit, gid = c.execute(
                text(
                    "SELECT se.code, se.id, se.unit, se.gateway_id FROM sensors se JOIN sites s ON s.id = se.site_id "
                    "WHERE s.code = :s AND se.kind = :k ORDER BY se.code LIMIT 1"
                ),
                {"s": site, "k": kind},
            ).one()
        return Gateway(gid, site, secrets[gid], code, sid, unit)

    return Arena(
        address,
        engine,
        attacker=gateway("JL-COAL-0030", "carbon_monoxide"),
        victim=gateway("JL-COAL-0031", "methane"),
        ingester_client_id=ingester_client_id,
        register_gateway=register,
    )


if __name__ == "__main__":
    main()
