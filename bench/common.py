"""Shared by the benchmarks: a private PostGIS/Mosquitto stack under .riskmap-bench/, a fresh
database with the sample register, the web app served on a loopback port, and timing."""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".riskmap-bench"
for var in ("RISKMAP_DATABASE_URL", "RISKMAP_MQTT_URL"):
    os.environ.pop(var, None)
os.environ["RISKMAP_DATA_DIR"] = str(DATA_DIR)

from sqlalchemy import Engine, create_engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from backend.core.db import sqlalchemy_url  # noqa: E402
from backend.core.migrate import upgrade  # noqa: E402
from backend.embedded.stack import Stack, sync_broker_auth  # noqa: E402
from backend.registry.seed import seed  # noqa: E402

DATABASE = "riskmap_bench"


@contextmanager
def bench_stack() -> Iterator[tuple[Stack, Engine]]:
    stack = Stack(DATA_DIR, database=DATABASE)
    stack.postgres.up("postgres")
    stack.postgres.drop_database(DATABASE)
    stack.mosquitto.stop()
    # A fresh broker store too: a session left by an earlier run's ingester would take its share.
    for leftover in (DATA_DIR / "mqtt" / "data").glob("mosquitto.db*"):
        leftover.unlink()
    stack.up()
    url = stack.postgres.url(DATABASE)
    upgrade(url)
    engine = create_engine(sqlalchemy_url(url))
    with Session(engine) as s:
        s.info["actor"] = "bench"
        seed(s, DATA_DIR)
        sync_broker_auth(s, stack)
        s.commit()
    try:
        yield stack, engine
    finally:
        engine.dispose()
        stack.down()


def timed(fn: Callable[[], object], runs: int = 5) -> tuple[float, float]:
    """Median and best wall time in seconds over `runs` calls."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@contextmanager
def served_app() -> Iterator[str]:
    import uvicorn

    from backend.api.main import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
