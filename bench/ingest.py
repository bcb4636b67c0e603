"""Ingestion benchmark, in one run, every figure with the same publishers (FAST_TOPICS
mosquitto_pub processes, QoS 1) and the same 1-reading payloads:

1. the ceiling: the broker's delivery rate of QoS 1 messages to a C subscriber (mosquitto_sub,
   MQTT 5, shared subscription, Receive Maximum as the ingester's), from the first publish to
   the last delivery;
2. where the rest goes: the same delivery to a Python (paho) subscriber that only acknowledges,
   and the ingester's storage step alone (validation, COPY, alarms, commit: BatchWriter.process
   on batches in memory), with the share of it spent in Python;
3. end to end with the real ingester (its own process, ack after commit): committed messages/s
   and readings/s for 1-reading and 50-reading payloads, the ratio to the ceiling, and the same
   with a second ingester in the share group;
4. alarm latency at a background load of 5,000 messages/s: publish -> alarm committed (the
   NOTIFY arrives at commit) and publish -> SSE event received, p50 and p99.

    python -m bench.ingest [--messages 60000] [--alarms 100]

Publishers use the platform's broker account (any gateway topic).
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
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import text

from backend.core.config import IngestSettings
from backend.core.mqtt import BrokerAddress
from bench.common import bench_stack, percentile, served_app
from ingest.batch import BatchWriter, Message

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


CEILING_ROOT = "bench-ceiling"  # a prefix the ingester does not subscribe to


def _ceiling_jobs(jobs: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The same messages on the same number of topics, outside the ingester's subscription."""
    return [(CEILING_ROOT + topic.removeprefix("riskmap/v1"), payload) for topic, payload in jobs]


def _sub_argv(address: BrokerAddress, client_id: str, *extra: str) -> list[str]:
    return [
        "mosquitto_sub",
        "-h",
        address.host,
        "-p",
        str(address.port),
        "-u",
        str(address.username),
        "-P",
        str(address.password),
        "-V",
        "mqttv5",
        "-i",
        client_id,
        "-q",
        "1",
        "-t",
        f"$share/bench/{CEILING_ROOT}/+/+/readings",
        *extra,
    ]


def ceiling(url: str, jobs: list[tuple[str, bytes]], receive_maximum: int) -> float:
    """QoS 1 messages/s from the broker to `mosquitto_sub -q 1 -C N`, from the first publish to
    the last delivery. Its session and subscription are made first (-E), so that no message
    published before it is connected is lost and it counts exactly N."""
    address = BrokerAddress.parse(url)
    client_id = f"bench-ceiling-{os.getpid()}"
    subprocess.run([*_sub_argv(address, client_id, "-E"), "-c", "-x", "120"], check=True, timeout=30)
    with tempfile.TemporaryFile() as out:
        sub = subprocess.Popen(
            [
                *_sub_argv(address, client_id, "-C", str(len(jobs)), "-F", "%U"),
                *("-c", "-x", "120", "-D", "connect", "receive-maximum", str(receive_maximum)),
            ],
            stdout=out,
        )
        time.sleep(0.5)
        start = time.time()
        publish_fast(url, _ceiling_jobs(jobs))
        sub.wait(600)
        out.seek(0)
        stamps = [float(line) for line in out.read().split()]
    # A clean start drops the session, so that no copy is queued for it in the runs that follow.
    subprocess.run(_sub_argv(address, client_id, "-E"), check=True, timeout=30)
    if len(stamps) != len(jobs):
        raise RuntimeError(f"mosquitto_sub got {len(stamps)} of {len(jobs)} messages")
    return len(jobs) / (max(stamps) - start)


def python_client(url: str, jobs: list[tuple[str, bytes]], receive_maximum: int) -> float:
    """The same, to a paho subscriber configured as the ingester (MQTT 5, manual ack, Receive
    Maximum) that acknowledges each message at once and does nothing else."""
    address = BrokerAddress.parse(url)
    got, last = [0], [0.0]
    ready = threading.Event()
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-paho-{os.getpid()}",
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
    )
    c.username_pw_set(address.username, address.password)

    def on_message(cl: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        cl.ack(msg.mid, msg.qos)
        got[0] += 1
        last[0] = time.time()

    c.on_message = on_message
    c.on_subscribe = lambda *a: ready.set()
    c.on_connect = lambda cl, *a: cl.subscribe(f"$share/bench/{CEILING_ROOT}/+/+/readings", qos=1)
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = receive_maximum
    c.connect(address.host, address.port, properties=props)
    c.loop_start()
    if not ready.wait(10):
        raise RuntimeError("the paho subscriber did not subscribe")
    start = time.time()
    publish_fast(url, _ceiling_jobs(jobs))
    deadline = time.monotonic() + 120
    while got[0] < len(jobs) and time.monotonic() < deadline:
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    if got[0] < len(jobs):
        raise RuntimeError(f"the paho subscriber got {got[0]} of {len(jobs)} messages")
    return len(jobs) / (last[0] - start)


def storage_alone(engine, jobs: list[tuple[str, bytes]], batch: int) -> tuple[float, float]:
    """The ingester's storage step without MQTT: BatchWriter.process on batches of `batch`
    messages as the ingester takes them. Returns messages/s and the share of the time this
    process spent on the CPU (parsing, validation, building rows) rather than waiting for
    PostgreSQL (COPY, alarm queries, commit)."""
    writer = BatchWriter(engine, IngestSettings(), "bench-storage")
    writer.register.refresh(force=True)
    messages = [Message(topic, payload) for topic, payload in jobs]
    stored = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(messages), batch):
        outcome = writer.process(messages[i : i + batch])
        if outcome.rejected:
            raise RuntimeError(f"storage refused {len(outcome.rejected)} messages: {outcome.rejected[0][1]}")
        stored += outcome.stored
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if stored != len(messages):
        raise RuntimeError(f"storage kept {stored} of {len(messages)} readings")
    return len(messages) / wall, cpu / wall


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


def start_ingester(name: str, keep_session: bool = True) -> subprocess.Popen[bytes]:
    """An ingester process; without keep_session the broker forgets its session when it stops,
    so that it leaves the share group (an offline member would still be handed its share)."""
    env = {**os.environ, "RISKMAP_INGEST_OFFLINE_SWEEP_S": "1000000"}
    if not keep_session:
        env["RISKMAP_INGEST_SESSION_EXPIRY_S"] = "0"
    p = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "ingest", "--name", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(3)
    return p


def hours_ago(hours: int) -> datetime:
    """The start of a run's readings: each run its own hour of timestamps (a run spans at most
    a few minutes), so that counting one run's stored readings never counts another's."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)


def end_to_end(
    url: str, engine, sensors, messages: int, per_message: int, label: str, t0: datetime
) -> tuple[float, float]:
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
        settings = IngestSettings()
        probe = make_jobs(fast_sensors, args.messages, 1, hours_ago(7))
        top = ceiling(url, probe, settings.max_inflight)
        print(f"  ceiling: broker -> C subscriber (mosquitto_sub -q 1)   {top:9,.0f} msg/s")
        paho = python_client(url, probe, settings.max_inflight)
        print(f"  broker -> Python subscriber (paho, ack only)         {paho:9,.0f} msg/s   {paho / top:4.0%}")
        stored, cpu_share = storage_alone(
            engine, make_jobs(fast_sensors, args.messages, 1, hours_ago(6)), settings.batch_max_messages
        )
        print(
            f"  storage alone (validation, COPY, alarms, commit)     {stored:9,.0f} msg/s   {stored / top:4.0%}"
            f"   ({1e6 / stored:.0f} µs/msg, {cpu_share:.0%} of it Python on the CPU)"
        )
        ingesters = [start_ingester("bench-1")]
        try:
            one, _ = end_to_end(url, engine, fast_sensors, args.messages, 1, "1 reading per message", hours_ago(5))
            print(f"  ratio to the ceiling: {one / top:.0%} (1-reading messages, one ingester)")
            _, fifty = end_to_end(
                url, engine, fast_sensors, max(args.messages // 10, 2000), 50, "50 readings per message", hours_ago(4)
            )
            ingesters.append(start_ingester("bench-2", keep_session=False))
            two, _ = end_to_end(url, engine, fast_sensors, args.messages, 1, "1 reading, two ingesters", hours_ago(3))
            print(f"  ratio to the ceiling: {two / top:.0%} with two ingesters ({two / one - 1:+.0%} for the second)")
            _stop(ingesters.pop())
            with served_app() as base:
                alarm_latency(url, engine, sensors, 5000, args.alarms, stack.postgres.url("riskmap_bench"), base)
        finally:
            for ingester in ingesters:
                _stop(ingester)
        del fifty


def _stop(ingester: subprocess.Popen[bytes]) -> None:
    ingester.send_signal(signal.SIGTERM)
    ingester.wait(30)


if __name__ == "__main__":
    main()
