"""Ingestion benchmark, in one run:

1. the broker's ceiling: QoS 1 messages/s to a bare paho subscriber on the same broker;
2. end to end with the real ingester (its own process, ack after commit): committed messages/s
   and readings/s for 1-reading and 50-reading payloads, and their ratio to the ceiling;
3. alarm latency at a background load of 5,000 messages/s: publish -> alarm committed (the
   NOTIFY arrives at commit) and publish -> SSE event received, p50 and p99.

    python -m bench.ingest [--messages 60000]

Publishers are separate processes using the platform's broker account (any gateway topic).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import text

from bench.common import bench_stack, percentile, served_app
from ingest.mqtt import BrokerAddress

PUBLISHERS = 2  # rate-limited Python publishers, for the background load
FAST_TOPICS = 8  # C publishers (mosquitto_pub), one per gateway topic, for the throughput runs


def _publisher(url: str, jobs: list[tuple[str, bytes]], rate: float, done: mp.Queue) -> None:
    address = BrokerAddress.parse(url)
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}", protocol=MQTTProtocolVersion.MQTTv311
    )
    c.username_pw_set(address.username, address.password)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    acked = threading.Semaphore(0)
    c.on_publish = lambda *a: acked.release()
    c.connect(address.host, address.port)
    c.loop_start()
    start = time.monotonic()
    for i, (topic, payload) in enumerate(jobs):
        if rate and i % 50 == 0:
            ahead = i / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        c.publish(topic, payload, qos=1)
    for _ in jobs:
        acked.acquire(timeout=60)
    done.put(time.monotonic() - start)
    c.disconnect()
    c.loop_stop()


def publish(url: str, jobs: list[tuple[str, bytes]], rate: float = 0) -> float:
    """Publish `jobs` from PUBLISHERS processes at `rate` msg/s in total (0: as fast as possible);
    returns the seconds until the broker acknowledged the last one."""
    done: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=_publisher, args=(url, jobs[i::PUBLISHERS], rate / PUBLISHERS, done))
        for i in range(PUBLISHERS)
    ]
    for p in procs:
        p.start()
    times = [done.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return max(times)


def safe_value(thresholds: dict) -> float:
    """A normal reading for the sensor: well inside its first alarm level."""
    levels = [lv for lv in thresholds.get("levels", []) if "window_h" not in lv]
    if not levels:
        return 0.0
    first = levels[0]["value"]
    if thresholds["direction"] == "below":
        return round(first * 1.5, 3)
    return round(first - abs(first) * 0.7 - 0.5, 3) if first <= 0 else round(first * 0.3, 3)


def publish_fast(url: str, jobs: list[tuple[str, bytes]]) -> float:
    """As fast as the broker takes them: one C client (mosquitto_pub -l, QoS 1, 2000 in flight)
    per topic, all at once; returns the seconds until every client finished."""
    address = BrokerAddress.parse(url)
    by_topic: dict[str, list[bytes]] = {}
    for topic, payload in jobs:
        by_topic.setdefault(topic, []).append(payload)
    start = time.monotonic()
    procs = []
    for topic, payloads in by_topic.items():
        p = subprocess.Popen(
            [
                "mosquitto_pub",
                "-h",
                address.host,
                "-p",
                str(address.port),
                "-u",
                str(address.username),
                "-P",
                str(address.password),
                "-t",
                topic,
                "-q",
                "1",
                "-M",
                "2000",
                "-l",
            ],
            stdin=subprocess.PIPE,
        )
        procs.append((p, b"\n".join(payloads) + b"\n"))
    threads = [threading.Thread(target=p.communicate, args=(data,)) for p, data in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start


def make_jobs(sensors: list[tuple], messages: int, per_message: int, t0: datetime) -> list[tuple[str, bytes]]:
    jobs = []
    for m in range(messages):
        code, site, gw, thresholds = sensors[m % len(sensors)]
        value = safe_value(thresholds)
        base = t0 + timedelta(milliseconds=m)
        readings = [
            {"sensor": code, "ts": (base + timedelta(microseconds=k)).isoformat(), "value": value}
            for k in range(per_message)
        ]
        jobs.append(
            (
                f"riskmap/v1/{site}/{gw}/readings",
                json.dumps({"readings": readings} if per_message > 1 else readings[0]).encode(),
            )
        )
    return jobs


def ceiling(url: str, messages: int, topic_sensors: list[tuple[str, str, str]]) -> float:
    address = BrokerAddress.parse(url)
    got, first, last = [0], [0.0], [0.0]
    ready = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=MQTTProtocolVersion.MQTTv5)
    c.username_pw_set(address.username, address.password)

    def on_message(cl: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if got[0] == 0:
            first[0] = now
        got[0] += 1
        last[0] = now

    c.on_message = on_message
    c.on_subscribe = lambda *a: ready.set()
    c.on_connect = lambda cl, *a: cl.subscribe("bench-bare/#", qos=1)
    c.connect(address.host, address.port)
    c.loop_start()
    ready.wait(10)
    jobs = [
        (f"bench-bare/{i % 64}", b'{"sensor":"x","ts":"2026-01-01T00:00:00+08:00","value":1}') for i in range(messages)
    ]
    publish(url, jobs)
    deadline = time.monotonic() + 60
    while got[0] < messages and time.monotonic() < deadline:
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    return got[0] / max(last[0] - first[0], 1e-9)


def wait_stored(engine, t0: datetime, expected: int, timeout: float = 900) -> float:
    start = time.monotonic()
    with engine.connect() as c:
        while time.monotonic() - start < timeout:
            n = c.execute(
                text("SELECT count(*) FROM readings WHERE ts >= :a AND ts < :b"),
                {"a": t0, "b": t0 + timedelta(hours=1)},
            ).scalar_one()
            c.commit()
            if n >= expected:
                return time.monotonic() - start
            time.sleep(0.1)
    raise TimeoutError(f"only {n} of {expected} readings stored")


def start_ingester(name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RISKMAP_INGEST_OFFLINE_SWEEP_S": "1000000"}
    p = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "ingest", "--name", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(3)
    return p


def end_to_end(url: str, engine, sensors, messages: int, per_message: int, label: str) -> tuple[float, float]:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2, minutes=per_message)
    jobs = make_jobs(sensors, messages, per_message, t0)
    started = time.monotonic()
    publish_s = publish_fast(url, jobs)
    committed_s = wait_stored(engine, t0, messages * per_message)
    total = time.monotonic() - started
    rate = messages / total
    print(
        f"  {label:<28} {rate:9,.0f} msg/s   {rate * per_message:10,.0f} readings/s   "
        f"(publish {publish_s:.1f} s, all committed {total:.1f} s)"
    )
    del committed_s
    return rate, rate * per_message


def alarm_latency(url: str, engine, sensors, load_rate: float, samples: int, db_url: str, base: str) -> None:
    """Background readings at load_rate; every 0.2 s a methane reading over its alarm level."""
    with engine.connect() as c:
        methane = c.execute(
            text(
                "SELECT se.code, s.code, se.gateway_id FROM sensors se JOIN sites s ON s.id = se.site_id "
                "WHERE se.kind = 'methane' ORDER BY se.code LIMIT :n"
            ),
            {"n": samples},
        ).all()
    sent: dict[str, float] = {}
    committed: dict[str, float] = {}
    streamed: dict[str, float] = {}
    stop = threading.Event()

    def listen_db() -> None:
        with contextlib.suppress(psycopg.OperationalError), psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("LISTEN riskmap_alarms")
            for note in conn.notifies(timeout=120, stop_after=None):
                p = json.loads(note.payload)
                if p.get("event") == "raised" and p.get("kind") == "threshold":
                    committed[str(p["sensor_id"])] = time.monotonic()
                if stop.is_set():
                    return

    def listen_sse() -> None:
        with httpx.Client(timeout=None) as client, client.stream("GET", base + "/api/v1/alarms/stream") as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    a = json.loads(line[5:])
                    if a.get("event") == "raised" and a.get("kind") == "threshold":
                        streamed[a["sensor"]] = time.monotonic()
                if stop.is_set():
                    return

    with engine.connect() as c:
        ids = dict(
            c.execute(text("SELECT code, id FROM sensors WHERE code = ANY(:c)"), {"c": [m[0] for m in methane]}).all()
        )
    threading.Thread(target=listen_db, daemon=True).start()
    threading.Thread(target=listen_sse, daemon=True).start()
    time.sleep(1)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    background = make_jobs(sensors, int(load_rate * (samples * 0.2 + 5)), 1, t0)
    loader = threading.Thread(target=publish, args=(url, background, load_rate), daemon=True)
    loader.start()
    address = BrokerAddress.parse(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-alarm", protocol=MQTTProtocolVersion.MQTTv311)
    c.username_pw_set(address.username, address.password)
    c.connect(address.host, address.port)
    c.loop_start()
    time.sleep(2)
    for code, site, gw in methane:
        now = datetime.now(UTC).isoformat()
        sent[code] = time.monotonic()
        c.publish(f"riskmap/v1/{site}/{gw}/readings", json.dumps({"sensor": code, "ts": now, "value": 3.0}), qos=1)
        time.sleep(0.2)
    time.sleep(5)
    stop.set()
    loader.join(120)
    c.loop_stop()
    db_lat = [committed[str(ids[k])] - t for k, t in sent.items() if str(ids[k]) in committed]
    sse_lat = [streamed[k] - t for k, t in sent.items() if k in streamed]
    print(f"  alarm latency at {load_rate:,.0f} msg/s background ({len(sent)} alarms):")
    for name, lat in (("publish -> committed", db_lat), ("publish -> SSE event", sse_lat)):
        if lat:
            print(
                f"    {name:<22} p50 {percentile(lat, 50) * 1000:6.0f} ms   p99 {percentile(lat, 99) * 1000:6.0f} ms"
                f"   ({len(lat)} of {len(sent)} seen)"
            )
        else:
            print(f"    {name:<22} none seen")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--alarms", type=int, default=100)
    args = parser.parse_args()
    with bench_stack() as (stack, engine):
        url = stack.mosquitto.url()
        with engine.connect() as c:
            sensors = c.execute(
                text(
                    "SELECT se.code, s.code, se.gateway_id, se.thresholds FROM sensors se "
                    "JOIN sites s ON s.id = se.site_id WHERE se.kind <> 'rainfall' ORDER BY se.id"
                )
            ).all()
        print(
            f"broker: Mosquitto 2 (private), QoS 1; publishers: {FAST_TOPICS} mosquitto_pub for throughput, "
            f"{PUBLISHERS} paho processes for the background load; {os.cpu_count()} cores"
        )
        with engine.connect() as c:
            busiest = [
                g
                for (g,) in c.execute(
                    text(
                        "SELECT gateway_id FROM sensors WHERE kind <> 'rainfall' GROUP BY gateway_id "
                        "ORDER BY count(*) DESC, gateway_id LIMIT :n"
                    ),
                    {"n": FAST_TOPICS},
                )
            ]
        fast_sensors = [s for s in sensors if s[2] in busiest]
        top = ceiling(url, args.messages, sensors)
        print(f"  raw broker ceiling (bare paho subscriber)  {top:9,.0f} msg/s")
        ingester = start_ingester("bench-1")
        try:
            one, _ = end_to_end(url, engine, fast_sensors, args.messages, 1, "1 reading per message")
            _, fifty = end_to_end(
                url, engine, fast_sensors, max(args.messages // 10, 2000), 50, "50 readings per message"
            )
            print(f"  ratio to the ceiling: {one / top:.0%} (1-reading messages)")
            with served_app() as base:
                alarm_latency(url, engine, sensors, 5000, args.alarms, stack.postgres.url("riskmap_bench"), base)
        finally:
            ingester.send_signal(signal.SIGTERM)
            ingester.wait(30)
        del fifty


if __name__ == "__main__":
    main()
