"""Starting and stopping, with real processes: the private services come up again right after
a stop whatever holds their saved ports, `riskmap up` stops everything on SIGTERM or SIGINT sent
to it or to its whole process group (no survivor, no traceback), and restarts a dead ingester.

Most `up` runs use the session's PostGIS (a database of their own) and Mosquitto (a share group
of their own), so that they start no services and take seconds; one run starts private ones.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from backend.core.migrate import upgrade
from backend.core.mqtt import BrokerAddress
from backend.embedded.postgres import EmbeddedPostgres
from backend.embedded.stack import Stack
from backend.embedded.supervise import Supervised
from backend.embedded.system import pid_alive
from tests.support.net import free_port
from tests.support.paths import DATA_DIR
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[1]
# Under the worktree, not /tmp/pytest-of-root: the postgres user must reach its cluster.
WORK = DATA_DIR / "lifecycle"
LIFECYCLE_DB = "riskmap_lifecycle"
STOP_WITHIN_S = 20


def _fresh_dir(name: str) -> Path:
    path = WORK / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def survivors(data_dir: Path) -> list[str]:
    """Processes other than this one started for `data_dir`: its path on their command line
    (PostgreSQL, Mosquitto) or as their RISKMAP_DATA_DIR (the children of `up`)."""
    marker, env_entry = str(data_dir).encode(), b"RISKMAP_DATA_DIR=" + str(data_dir).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in cmdline or env_entry in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {command}")
    return found


class UpRun:
    """`riskmap up` in its own process group (as a shell runs a job), its output in a file."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.port = data_dir, free_port()
        self.log = data_dir / "up.out"
        environment = {**os.environ, "RISKMAP_DATA_DIR": str(data_dir), "RISKMAP_PORT": str(self.port), **(env or {})}
        self.started = time.monotonic()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backend.cli", "up", *args],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 90) -> float:
        """Seconds from the start until /healthz answers 200."""

        def healthy() -> bool:
            assert self.process.poll() is None, f"riskmap up exited early:\n{self.output}"
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout, 0.2)
        return time.monotonic() - self.started

    def wait_output(self, pattern: str, count: int = 1, timeout: float = 30) -> list[re.Match[str]]:
        return wait_until(lambda: (m := list(re.finditer(pattern, self.output))) and len(m) >= count and m, timeout)

    def signal(self, sig: signal.Signals, group: bool) -> None:
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)

    def assert_stops_cleanly(self) -> float:
        """Exit within STOP_WITHIN_S, code 0, no traceback, nothing left running; the seconds it took."""
        t = time.monotonic()
        try:
            code = self.process.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            pytest.fail(f"riskmap up did not stop within {STOP_WITHIN_S} s:\n{self.output}")
        took = time.monotonic() - t
        out = self.output
        assert code == 0, out
        assert "Traceback" not in out, out
        assert out.rstrip().splitlines()[-1].startswith("stopped"), out
        assert survivors(self.data_dir) == [], out
        return took


@pytest.fixture
def start_up() -> Iterator[Callable[..., UpRun]]:
    """start_up(name, *args, env=…) -> an UpRun in a fresh folder. A run a failed test left
    behind is killed with its group and its private services, so that it cannot disturb the
    next test."""
    runs: list[UpRun] = []

    def start(name: str, *args: str, env: dict[str, str] | None = None) -> UpRun:
        runs.append(UpRun(_fresh_dir(name), *args, env=env))
        return runs[-1]

    yield start
    for run in runs:
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()
        Stack(run.data_dir).down()


@pytest.fixture(scope="module")
def external(stack: Stack) -> dict[str, str]:
    """Environment pointing `up` at the session's services: its own database (migrated here
    once, so that `up` finds it current), its own share group, a session dropped at exit."""
    stack.postgres.drop_database(LIFECYCLE_DB)  # anew each session, like the test database
    url = stack.postgres.ensure_database(LIFECYCLE_DB)
    upgrade(url)
    return {
        "RISKMAP_DATABASE_URL": url,
        "RISKMAP_MQTT_URL": stack.mosquitto.url(),
        "RISKMAP_INGEST_SHARE_GROUP": f"lifecycle-{uuid.uuid4().hex[:8]}",
        "RISKMAP_INGEST_SESSION_EXPIRY_S": "0",
    }


def _services_answer(stack: Stack) -> None:
    """PostgreSQL runs a query and Mosquitto accepts the platform's login, at the URLs saved."""
    with psycopg.connect(stack.postgres.url("postgres"), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    address = BrokerAddress.parse(stack.mosquitto.url())
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"lifecycle-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(address.username, address.password)
    accepted: list[str] = []
    client.on_connect = lambda c, u, f, reason, p: accepted.append(str(reason))
    client.connect(address.host, address.port, keepalive=5)
    client.loop_start()
    try:
        assert wait_until(lambda: accepted, 5) == ["Success"]
    finally:
        client.disconnect()
        client.loop_stop()


def _time_wait_on_a_port() -> int:
    """A port in the ephemeral range left with a TIME-WAIT socket of an outgoing connection (no
    SO_REUSEADDR) whose local port it was: what kept PostgreSQL from starting again on the port
    saved by its previous run."""
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.bind(("127.0.0.1", 0))
        client.connect(server.getsockname())
        port = int(client.getsockname()[1])
        accepted, _ = server.accept()
        client.close()  # the side that closes first keeps the TIME-WAIT
        time.sleep(0.05)
        accepted.close()
    return port


def _listen_on(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


def test_private_services_restart_at_once_whatever_holds_their_ports(caplog: pytest.LogCaptureFixture) -> None:
    stack = Stack(_fresh_dir("restart"))
    caplog.set_level(logging.WARNING, logger="riskmap.services")
    try:
        stack.up()
        ports = (stack.postgres.port, stack.mosquitto.port)
        for _ in range(3):  # stopped with clients connected, started again at once: same ports
            conn = psycopg.connect(stack.postgres.url("postgres"))
            stack.down()
            conn.close()
            stack.up()
            _services_answer(stack)
            assert (stack.postgres.port, stack.mosquitto.port) == ports
        assert not caplog.records

        # The ports saved by the last run are now held by TIME-WAIT sockets of outgoing connections.
        stack.down()
        held = (_time_wait_on_a_port(), _time_wait_on_a_port())
        stack.postgres.port_file.write_text(str(held[0]))
        (stack.mosquitto.root / "port").write_text(str(held[1]))
        stack.up()
        _services_answer(stack)
        moved = (stack.postgres.port, stack.mosquitto.port)
        assert moved[0] != held[0] and moved[1] != held[1]
        saved = (stack.data_dir / "services.json").read_text()
        assert f"127.0.0.1:{moved[0]}/" in saved and f"127.0.0.1:{moved[1]}" in saved
        said = [r.getMessage() for r in caplog.records]
        assert said == [
            f"PostgreSQL: port {held[0]} is not free (a connection uses it as its local port (TIME_WAIT)); "
            f"using port {moved[0]}",
            f"Mosquitto: port {held[1]} is not free (a connection uses it as its local port (TIME_WAIT)); "
            f"using port {moved[1]}",
        ]

        # Another program listens on them.
        stack.down()
        caplog.clear()
        with _listen_on(moved[0]), _listen_on(moved[1]):
            stack.up()
            _services_answer(stack)
            assert stack.postgres.port != moved[0] and stack.mosquitto.port != moved[1]
            said = [r.getMessage() for r in caplog.records]
            assert f"PostgreSQL: port {moved[0]} is not free (another program listens on it)" in said[0]
            assert f"Mosquitto: port {moved[1]} is not free (another program listens on it)" in said[1]
            # A broker started on a port taken after the check tells the taker from itself.
            stack.mosquitto.stop()
            assert stack.mosquitto._launch(moved[1]) is False
    finally:
        stack.down()


def test_postgres_started_during_a_shutdown_waits_for_it_then_starts() -> None:
    """A start while the cluster is still stopping (a smart shutdown waiting for a client) must
    not take the dying server for a running one."""
    pg = EmbeddedPostgres(_fresh_dir("stopping") / "pg")
    try:
        pg.up("postgres")
        client = psycopg.connect(pg.url("postgres"))
        pg._pg_ctl("-m", "smart", "-W", "stop")
        wait_until(lambda: pg._postmaster_status() == "stopping", 10)
        closer = threading.Timer(1.0, client.close)
        closer.start()
        pg.start()
        closer.join()
        assert pg._postmaster_status() == "ready"
        with psycopg.connect(pg.url("postgres")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pg.stop()


def test_supervised_child_restarted_with_doubling_backoff_up_to_the_cap(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="riskmap.up")
    child = Supervised("crasher", [sys.executable, "-c", "import sys; sys.exit(3)"], 0.2, 0.5)
    child.start()
    pids = {child.process.pid}
    deadline = time.monotonic() + 15
    while child.restarts < 4 and time.monotonic() < deadline:
        child.check()
        if child.process:
            pids.add(child.process.pid)
        time.sleep(0.02)
    child.terminate()
    child.wait(time.monotonic() + 5)
    assert child.restarts == 4 and len(pids) == 5
    delays = re.findall(r"crasher \(pid \d+\) exited with code 3 after \d+ s; restarting it in ([\d.]+) s", caplog.text)
    assert delays[:4] == ["0.2", "0.4", "0.5", "0.5"]
    waits = [r.created for r in caplog.records if "restarting it in" in r.getMessage()]
    started = [r.created for r in caplog.records if "crasher started (pid" in r.getMessage()]
    for waited, restarted, delay in zip(waits, started[1:], (0.2, 0.4, 0.5, 0.5), strict=False):
        assert delay - 0.02 <= restarted - waited < delay + 1.0  # never early; late only under load


def test_child_interrupted_while_starting_leaves_without_traceback() -> None:
    """Ctrl-C to the group right after `up` started its children: they are still importing."""
    env = {**os.environ, "RISKMAP_SUPERVISOR_PID": str(os.getpid())}
    p = subprocess.Popen(
        [sys.executable, "-m", "backend.child", "ingest"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def handles_sigterm() -> bool:  # the launcher's first lines ran; the CLI is still being imported
        status = Path(f"/proc/{p.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        return bool(caught & (1 << (signal.SIGTERM - 1)))

    wait_until(handles_sigterm, 10, 0.005)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 128 + signal.SIGINT and b"Traceback" not in out, out
    assert b"ingester stopped" not in out  # it ended before the command ran


@pytest.mark.parametrize("group", [False, True], ids=["to-process", "to-group"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_up_stops_cleanly_on_signal(
    start_up: Callable[..., UpRun], external: dict[str, str], sig: signal.Signals, group: bool
) -> None:
    run = start_up(f"up-{sig.name}-{'group' if group else 'process'}", "--no-seed", "--simulate", env=external)
    run.wait_healthy()
    run.wait_output(r"riskmap\.ingest subscribed")
    run.signal(sig, group)
    run.assert_stops_cleanly()
    assert f"stopped ({sig.name})" in run.output


def test_up_restarts_a_killed_ingester(start_up: Callable[..., UpRun], external: dict[str, str]) -> None:
    run = start_up("up-restart", "--no-seed", env=external)
    run.wait_healthy()
    first = int(run.wait_output(r"ingester started \(pid (\d+)\)")[0].group(1))
    run.wait_output(r"riskmap\.ingest subscribed")
    os.kill(first, signal.SIGKILL)
    run.wait_output(rf"ingester \(pid {first}\) was killed by SIGKILL after \d+ s; restarting it in 1 s")
    second = int(run.wait_output(r"ingester started \(pid (\d+)\)", count=2)[1].group(1))
    assert second != first
    assert b"ingest" in Path(f"/proc/{second}/cmdline").read_bytes()
    run.wait_output(r"riskmap\.ingest subscribed", count=2)  # the new one is at work
    assert httpx.get(f"http://127.0.0.1:{run.port}/healthz", timeout=5).status_code == 200
    run.signal(signal.SIGTERM, group=False)
    run.assert_stops_cleanly()


def test_up_with_private_services_stops_them_all_on_sigterm_to_its_group(start_up: Callable[..., UpRun]) -> None:
    """The case of the report: SIGTERM to the group left the simulator, PostgreSQL and
    Mosquitto running. Here with the sample data, the simulator publishing and the ingester storing."""
    run = start_up("up-private", "--simulate")
    data_dir = run.data_dir
    took = run.wait_healthy(timeout=180)
    run.wait_output(r"simulating \d+ gateways")
    run.wait_output(r"riskmap\.ingest subscribed")
    pg_pid = int((data_dir / "pg" / "data" / "postmaster.pid").read_text().split()[0])
    mqtt_pid = int((data_dir / "mqtt" / "pid").read_text())
    assert survivors(data_dir)  # the check sees them while they run
    time.sleep(1)
    run.signal(signal.SIGTERM, group=True)
    stop_s = run.assert_stops_cleanly()
    for pid in (pg_pid, mqtt_pid):  # gone, or at most a zombie waiting for init to reap it
        wait_until(lambda pid=pid: not pid_alive(pid), 3)
    assert not (data_dir / "services.json").exists()
    print(
        f"riskmap up with private services and the sample data: healthy after {took:.1f} s, stopped in {stop_s:.1f} s"
    )


def test_up_interrupted_while_starting_stops_without_traceback(
    start_up: Callable[..., UpRun], stack: Stack, external: dict[str, str]
) -> None:
    """Ctrl-C while `up` migrates and seeds a new database: the step is rolled back, nothing
    is left running, and no KeyboardInterrupt traceback is printed."""
    database = f"{LIFECYCLE_DB}_start"
    stack.postgres.drop_database(database)
    url = stack.postgres.ensure_database(database)
    run = start_up("up-interrupted", env={**external, "RISKMAP_DATABASE_URL": url})

    def up_at_work() -> bool:
        assert run.process.poll() is None, run.output
        with psycopg.connect(stack.postgres.url("postgres"), autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)).fetchone()
        return bool(row and row[0])

    wait_until(up_at_work, 60, 0.02)
    run.signal(signal.SIGINT, group=True)
    run.assert_stops_cleanly()
    assert "stopped (SIGINT)" in run.output and "riskmap is running" not in run.output
