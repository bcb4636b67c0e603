"""Nothing is lost and nothing is stored twice: ingesters killed, PostgreSQL and Mosquitto
restarted mid-stream, two ingesters sharing one subscription. Ingesters run as real processes."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from backend.embedded.stack import Stack
from tests.support.paths import ARTIFACTS
from tests.support.wait import wait_until

SITE = "JL-HAZ-0010"
N = 3000


class IngesterProcess:
    def __init__(self, name: str, group: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.log = ARTIFACTS / f"ingester-{name}.log"
        self.log.unlink(missing_ok=True)
        env = {**os.environ, "RISKMAP_INGEST_SHARE_GROUP": group, "RISKMAP_INGEST_OFFLINE_SWEEP_S": "1000000"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "ingest", "--name", name],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
        )

    def ready(self, after: int = 0) -> None:
        """Wait until the ingester's subscriptions are granted (its `after`+1-th time)."""
        wait_until(lambda: self.log.read_text().count("subscribed:") > after, timeout=30)

    def stop(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(20)
        found = re.findall(r"ingester stopped: (\{.*\})", self.log.read_text())
        return eval(found[-1]) if found else {}

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


class Stream(threading.Thread):
    """Publishes N one-reading messages as a gateway, each retried until the broker accepts it."""

    def __init__(self, gateway, sensor_code: str, count: int = N, rate: float = 600) -> None:
        super().__init__(daemon=True)
        self.gateway, self.sensor_code, self.count, self.rate = gateway, sensor_code, count, rate
        # whole seconds: the published timestamps are the start plus whole milliseconds
        self.start_ts = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
        self.accepted = 0

    def run(self) -> None:
        import json

        for i in range(self.count):
            ts = (self.start_ts + timedelta(milliseconds=i)).isoformat(timespec="milliseconds")
            body = json.dumps({"sensor": self.sensor_code, "ts": ts, "value": 0.5})
            while True:
                info = self.gateway.client.publish(self.gateway.topic("readings"), body, qos=1)
                published = False
                with contextlib.suppress(RuntimeError, ValueError):  # raised while disconnected
                    info.wait_for_publish(2)
                    published = info.is_published()
                if published:
                    break
                time.sleep(0.2)  # the broker is away: publish the same reading again
            self.accepted += 1
            time.sleep(1 / self.rate)


def stored(engine: Engine, sensor_id: int, since: datetime) -> int:
    with engine.connect() as c:
        return c.execute(
            text("SELECT count(*) FROM readings WHERE sensor_id = :s AND ts >= :t AND ts < :u"),
            {"s": sensor_id, "t": since, "u": since + timedelta(minutes=10)},
        ).scalar_one()


@pytest.fixture
def target(seeded: Engine) -> tuple[str, int]:
    """A sensor of its own for each test, so counts are exact."""
    with seeded.connect() as c:
        rows = c.execute(
            text(
                "SELECT se.code, se.id FROM sensors se JOIN sites s ON s.id = se.site_id "
                "WHERE s.code = :s AND se.gateway_id = :g ORDER BY se.code"
            ),
            {"s": SITE, "g": f"{SITE}-GW01"},
        ).all()
    target.n = getattr(target, "n", -1) + 1
    return rows[target.n][0], rows[target.n][1]


@pytest.fixture
def ingesters():
    """Start ingester processes; whatever happens in the test, none outlives it."""
    started: list[IngesterProcess] = []

    run = uuid.uuid4().hex[:4]

    def start(name: str, group: str) -> IngesterProcess:
        p = IngesterProcess(f"{name}-{run}", group)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.kill()


def group() -> str:
    return f"durable-{uuid.uuid4().hex[:6]}"


def stream_through(seeded: Engine, gateway, target, ingester: IngesterProcess, disrupt, join_s: float = 120) -> Stream:
    """Stream N readings through the ingester, disrupt() a quarter of the way in, and wait
    until all N are stored."""
    code, sid = target
    stream = Stream(gateway(SITE), code)
    ingester.ready()
    stream.start()
    wait_until(lambda: stored(seeded, sid, stream.start_ts) >= N // 4, timeout=60)
    disrupt()
    stream.join(join_s)
    wait_until(lambda: stored(seeded, sid, stream.start_ts) == N, timeout=90)
    return stream


def test_sigkill_mid_stream_loses_nothing_and_stores_once(seeded: Engine, gateway, target, ingesters) -> None:
    g = group()
    running = [ingesters("kill-a", g)]

    def kill_and_restart() -> None:
        running[0].kill()
        time.sleep(1)
        running.append(ingesters("kill-a", g))  # same name: the same persistent session

    stream = stream_through(seeded, gateway, target, running[0], kill_and_restart)
    time.sleep(1)
    assert stored(seeded, target[1], stream.start_ts) == N
    running[-1].stop()


def test_postgres_restart_mid_stream_loses_nothing(seeded: Engine, gateway, target, stack: Stack, ingesters) -> None:
    ingester = ingesters("pg-restart", group())

    def restart() -> None:
        stack.postgres.stop()
        time.sleep(2)
        stack.postgres.start()
        seeded.dispose()

    stream_through(seeded, gateway, target, ingester, restart)
    assert "database unavailable" in Path(ingester.log).read_text()
    ingester.stop()


def test_mosquitto_restart_mid_stream_loses_nothing(seeded: Engine, gateway, target, stack: Stack, ingesters) -> None:
    ingester = ingesters("mqtt-restart", group())

    def restart() -> None:
        stack.mosquitto.stop()
        time.sleep(1)
        stack.mosquitto.start()

    stream = stream_through(seeded, gateway, target, ingester, restart, join_s=180)
    assert stream.accepted == N
    ingester.stop()


def test_two_ingesters_share_the_work_and_store_each_reading_once(seeded: Engine, gateway, target, ingesters) -> None:
    code, sid = target
    g = group()
    a, b = ingesters("share-a", g), ingesters("share-b", g)
    stream = Stream(gateway(SITE), code, rate=1500)
    a.ready()
    b.ready()
    stream.start()
    stream.join(120)
    wait_until(lambda: stored(seeded, sid, stream.start_ts) == N, timeout=90)
    time.sleep(1)
    stats_a, stats_b = a.stop(), b.stop()
    assert stats_a["messages"] > 0 and stats_b["messages"] > 0
    assert stats_a["stored"] + stats_b["stored"] == N
