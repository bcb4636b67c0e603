"""Gateway simulator: every sample gateway connects with its own credentials and publishes its
sensors' readings as the MQTT contract says — daily cycles, noise, occasional excursions past
the thresholds, drop-outs — so that a demo shows alarms coming and going.

Time runs `speed` times faster for the reporting intervals and cycles; timestamps stay real
(the ingester refuses readings from the future). `rate` caps the messages per second.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine, text

from backend.core.config import MqttSettings
from backend.core.mqtt import BrokerAddress

log = logging.getLogger("riskmap.simulate")


@dataclass
class SimSensor:
    code: str
    kind: str
    interval_s: float
    thresholds: dict[str, Any]
    active_site: bool
    phase: float
    base: float = 0.0
    excursion_left: int = 0
    excursion_value: float = 0.0
    next_due: float = 0.0
    cumulative: float = 0.0

    def normal(self, day_fraction: float, rng: random.Random) -> float:
        t = self.thresholds
        cycle = math.sin(2 * math.pi * (day_fraction + self.phase))
        levels = [lv for lv in t.get("levels", []) if "window_h" not in lv]
        if self.kind == "power_draw":
            return max(0.0, (450 + 250 * cycle + rng.gauss(0, 20)) if self.active_site else rng.uniform(0, 2))
        if self.kind == "personnel_count":
            return float(max(0, round(80 + 60 * cycle + rng.gauss(0, 5)))) if self.active_site else 0.0
        if self.kind == "rainfall":
            return max(0.0, rng.gauss(-2, 1.5))  # mostly dry: mm per reporting interval
        if self.kind == "dam_displacement":
            self.cumulative += abs(rng.gauss(0, 0.02))
            return round(self.base + self.cumulative, 2)
        if not levels:
            return 0.0
        first = levels[0]["value"]
        if t["direction"] == "below":
            return round(first * (1.35 + 0.05 * cycle) + rng.gauss(0, first * 0.01), 3)
        if self.kind == "pond_level":
            return round(first - 1.2 + 0.3 * cycle + rng.gauss(0, 0.05), 3)
        return round(max(0.0, first * (0.3 + 0.1 * cycle) + rng.gauss(0, first * 0.03)), 3)

    def excursion(self, rng: random.Random) -> float:
        t = self.thresholds
        if self.kind == "rainfall":
            return round(rng.uniform(6, 14), 1)
        if self.kind == "power_draw":
            return round(rng.uniform(120, 300), 1)  # a suspended mine drawing power: 明停暗采
        if self.kind == "personnel_count":
            return float(rng.randint(8, 30))
        levels = [lv for lv in t.get("levels", []) if "window_h" not in lv]
        level = rng.choices(levels, weights=[8, 4, 2, 1][: len(levels)])[0]
        v = level["value"]
        if t["direction"] == "below":
            return round(v * rng.uniform(0.9, 0.99), 3)
        return round(v + abs(v) * rng.uniform(0.02, 0.15) + (0.05 if v == 0 else 0), 3)

    def value(self, day_fraction: float, rng: random.Random, excursion_chance: float) -> float:
        if self.excursion_left > 0:
            self.excursion_left -= 1
            return self.excursion_value
        if rng.random() < excursion_chance and (
            self.thresholds.get("levels") or (self.kind in {"power_draw", "personnel_count"} and not self.active_site)
        ):
            self.excursion_left = rng.randint(2, 8)
            self.excursion_value = self.excursion(rng)
            return self.excursion_value
        return self.normal(day_fraction, rng)


@dataclass
class SimGateway:
    id: str
    site_code: str
    password: str
    sensors: list[SimSensor]
    client: mqtt.Client | None = None
    silent_until: float = 0.0
    connected: threading.Event = field(default_factory=threading.Event)


def load_gateways(
    engine: Engine,
    secrets_file: Path,
    sites: list[str] | None = None,
    limit: int | None = None,
    seed: int = 7,
) -> list[SimGateway]:
    secrets = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    rng = random.Random(seed)
    with engine.connect() as c:
        rows = c.execute(
            text("""
            SELECT g.id, s.code, se.code, se.kind, se.interval_s, se.thresholds, e.status = 'operating'
            FROM gateways g JOIN sites s ON s.id = g.site_id JOIN enterprises e ON e.id = s.enterprise_id
            JOIN sensors se ON se.gateway_id = g.id
            WHERE (CAST(:sites AS text[]) IS NULL OR s.code = ANY(:sites)) ORDER BY g.id, se.code"""),
            {"sites": sites},
        ).all()
    gateways: dict[str, SimGateway] = {}
    for gid, site, code, kind, interval, thresholds, active in rows:
        if gid not in secrets:
            continue
        gw = gateways.setdefault(gid, SimGateway(gid, site, secrets[gid], []))
        base = rng.uniform(2, 12) if kind == "dam_displacement" else 0.0
        gw.sensors.append(SimSensor(code, kind, float(interval), thresholds, active, rng.random(), base))
    return list(gateways.values())[:limit] if limit else list(gateways.values())


class Simulator:
    def __init__(
        self,
        gateways: list[SimGateway],
        address: BrokerAddress,
        speed: float = 1.0,
        rate: float = 200.0,
        excursion_chance: float = 0.004,
        dropout_chance: float = 0.0005,
        seed: int = 11,
    ) -> None:
        self.gateways, self.address = gateways, address
        self.speed, self.rate = speed, rate
        self.excursion_chance, self.dropout_chance = excursion_chance, dropout_chance
        self.rng = random.Random(seed)
        self.root = MqttSettings().topic_root
        self.published = 0

    def _connect(self, gw: SimGateway) -> None:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gw.id, protocol=MQTTProtocolVersion.MQTTv311)
        c.username_pw_set(gw.id, gw.password)
        status = f"{self.root}/{gw.site_code}/{gw.id}/status"
        c.will_set(status, "offline", qos=1, retain=True)

        def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
            if str(reason) == "Success":
                client.publish(status, "online", qos=1, retain=True)
                gw.connected.set()
            else:
                log.error("gateway %s refused: %s", gw.id, reason)

        c.on_connect = on_connect
        c.connect_async(self.address.host, self.address.port, keepalive=20)
        c.loop_start()
        gw.client = c

    def run(self, stop: threading.Event, duration_s: float | None = None) -> int:
        for gw in self.gateways:
            if stop.is_set():
                break
            self._connect(gw)
            for s in gw.sensors:
                s.next_due = time.monotonic() + self.rng.uniform(0, s.interval_s / self.speed)
        start = time.monotonic()
        budget, last = self.rate, start
        try:
            while not stop.is_set() and (duration_s is None or time.monotonic() - start < duration_s):
                now = time.monotonic()
                budget = min(self.rate, budget + (now - last) * self.rate)
                last = now
                day_fraction = ((time.time() * self.speed) % 86_400) / 86_400
                # Start where the last tick stopped, so that a tight rate starves no gateway.
                start_at = self.published % max(len(self.gateways), 1)
                for gw in self.gateways[start_at:] + self.gateways[:start_at]:
                    if budget < 1:
                        break
                    due = [s for s in gw.sensors if s.next_due <= now]
                    if not due or not gw.connected.is_set() or gw.client is None:
                        continue
                    for s in due:
                        s.next_due = now + s.interval_s / self.speed
                    if now < gw.silent_until:
                        continue  # a drop-out: the gateway says nothing for a while
                    if self.rng.random() < self.dropout_chance:
                        gw.silent_until = now + self.rng.uniform(3, 10) * max(s.interval_s for s in due) / self.speed
                        continue
                    ts = datetime.now(UTC).isoformat(timespec="milliseconds")
                    readings = [
                        {
                            "sensor": s.code,
                            "ts": ts,
                            "value": s.value(day_fraction, self.rng, self.excursion_chance),
                        }
                        for s in due
                    ]
                    gw.client.publish(
                        f"{self.root}/{gw.site_code}/{gw.id}/readings",
                        json.dumps({"readings": readings}),
                        qos=1,
                    )
                    budget -= 1
                    self.published += 1
                stop.wait(0.05)
        finally:
            self._leave()
        return self.published

    def _leave(self, timeout_s: float = 3.0) -> None:
        """Say "offline" (retained) for every connected gateway, wait for the broker's acks all
        together for at most timeout_s, and disconnect: stopping takes seconds, not one wait per
        gateway, and a broker already gone costs nothing (its Last Will says the same)."""
        sent = []
        for gw in self.gateways:
            if gw.client and gw.client.is_connected():
                status = f"{self.root}/{gw.site_code}/{gw.id}/status"
                sent.append(gw.client.publish(status, "offline", qos=1, retain=True))
        deadline = time.monotonic() + timeout_s
        for info in sent:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(RuntimeError, ValueError):  # not queued: the connection is gone
                info.wait_for_publish(remaining)
        clients = [gw.client for gw in self.gateways if gw.client]
        for c in clients:
            c.disconnect()
        with ThreadPoolExecutor(max_workers=32) as pool:  # each may sleep up to 1 s in a reconnect wait
            list(pool.map(lambda c: c.loop_stop(), clients))
