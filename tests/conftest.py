"""Fixtures: a private PostGIS and Mosquitto started for the test session (never mocks).

The services live under .riskmap-test/; the database is dropped and made anew each session,
migrated and seeded with the sample register. If a service cannot start, every test that
needs it errors with the reason: nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".riskmap-test"
ARTIFACTS = ROOT / "test-artifacts"

# Tests always run on their own private services, whatever the shell has configured.
for var in (
    "RISKMAP_DATABASE_URL",
    "RISKMAP_MQTT_URL",
    "RISKMAP_REQUIRE_AUTH_FOR_READ",
    "RISKMAP_BASEMAP_URL",
):
    os.environ.pop(var, None)
os.environ["RISKMAP_DATA_DIR"] = str(DATA_DIR)
# Most tests run without an ingester; the ones about ingest health turn this back on.
os.environ["RISKMAP_INGEST_HEALTH_REQUIRED"] = "false"

from backend.core import config  # noqa: E402
from backend.core.db import sqlalchemy_url  # noqa: E402
from backend.core.migrate import upgrade  # noqa: E402
from backend.domain.kinds import Role  # noqa: E402
from backend.embedded.stack import Stack, sync_broker_auth  # noqa: E402
from backend.registry.seed import seed  # noqa: E402
from backend.registry.tokens import create_token  # noqa: E402
from backend.risk.engine import regrade  # noqa: E402

TEST_DATABASE = "riskmap_test"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    config.paths.cache_clear()
    config.api_settings.cache_clear()
    s = Stack(DATA_DIR, database=TEST_DATABASE)
    s.postgres.up("postgres")
    s.postgres.drop_database(TEST_DATABASE)
    s.mosquitto.stop()
    # A fresh broker store too: no session or queue left over from an earlier run.
    for leftover in (DATA_DIR / "mqtt" / "data").glob("mosquitto.db*"):
        leftover.unlink()
    s.up()
    yield s
    s.down()


@pytest.fixture(scope="session")
def db_url(stack: Stack) -> str:
    url = stack.postgres.url(TEST_DATABASE)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(sqlalchemy_url(db_url))
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def seeded(engine: Engine, stack: Stack) -> Engine:
    with Session(engine) as session, session.begin():
        session.info["actor"] = "test:seed"
        reports = seed(session, DATA_DIR)
        sync_broker_auth(session, stack)
        regrade(session)
    rejected = [(r.layer, e) for r in reports for e in r.errors]
    assert not rejected, rejected
    return engine


@pytest.fixture
def session(seeded: Engine) -> Iterator[Session]:
    with Session(seeded) as s:
        s.info["actor"] = "test"
        yield s


@pytest.fixture(scope="session")
def tokens(seeded: Engine) -> dict[Role, str]:
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:setup"
        return {role: create_token(s, f"test-{role}", role) for role in Role}


@pytest.fixture(scope="session")
def app(seeded: Engine):
    from backend.api.main import create_app

    return create_app()


@pytest.fixture(scope="session")
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The app served by uvicorn on a loopback port, for the browser."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test web server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(chromium):
    """The browser for one test: its log drained first, its page left blank after (an open map
    keeps polling the API)."""
    chromium.get("about:blank")
    chromium.get_log("browser")
    yield chromium
    chromium.get("about:blank")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory):
    """Debian's headless Chromium, unable to resolve any host but the loopback address."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            raise RuntimeError(f"{path} is missing: install Debian's chromium and chromium-driver (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- MQTT: gateways publishing with their own credentials, and an ingester to receive them ---


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll until predicate() is truthy; returns its value, or fails with the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            assert value, f"not reached within {timeout} s (last: {value!r})"
            return value
        time.sleep(interval)


class GatewayClient:
    """A real MQTT client logged in as a gateway; publish() waits for the broker's PUBACK."""

    def __init__(self, address, gateway_id: str, site_code: str, password: str, protocol=None) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

        self.gateway_id, self.site_code = gateway_id, site_code
        self.received: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=gateway_id,  # the broker binds a gateway's client id to its user name
            protocol=protocol or MQTTProtocolVersion.MQTTv311,
        )
        self.client.username_pw_set(gateway_id, password)
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: connected.set()
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        assert connected.wait(5), "gateway could not connect"

    def topic(self, channel: str) -> str:
        return f"riskmap/v1/{self.site_code}/{self.gateway_id}/{channel}"

    def publish(self, payload, channel: str = "readings", retain: bool = False) -> None:
        import json as _json

        body = payload if isinstance(payload, bytes | str) else _json.dumps(payload)
        info = self.client.publish(self.topic(channel), body, qos=1, retain=retain)
        info.wait_for_publish(5)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="session")
def gateway_secrets(seeded: Engine) -> dict[str, str]:
    import json as _json

    from backend.registry.seed import DEMO_SECRETS

    return _json.loads((DATA_DIR / DEMO_SECRETS).read_text())


@pytest.fixture(scope="session")
def gateway(stack: Stack, gateway_secrets: dict[str, str]):
    """gateway(site_code, n=1) -> a connected GatewayClient for that site's n-th gateway."""
    from ingest.mqtt import BrokerAddress

    address = BrokerAddress.parse(stack.mosquitto.url())
    opened: dict[str, tuple[object, GatewayClient]] = {}

    def connect(site_code: str, n: int = 1, protocol=None) -> GatewayClient:
        """One connection per gateway: its client id is its own id, so a second connection would
        take the first one's session over."""
        gid = f"{site_code}-GW{n:02d}"
        if gid in opened:
            was, client = opened.pop(gid)
            if was == protocol and client.client.is_connected():
                opened[gid] = (was, client)
                return client
            client.close()
        client = GatewayClient(address, gid, site_code, gateway_secrets[gid], protocol)
        opened[gid] = (protocol, client)
        return client

    yield connect
    for _, c in opened.values():
        c.close()


@pytest.fixture(scope="module")
def ingester(seeded: Engine, stack: Stack):
    """The real ingester in a thread, for the module; its session is discarded at the end."""
    from backend.core.config import IngestSettings
    from ingest.ingester import Ingester
    from ingest.mqtt import BrokerAddress

    settings = IngestSettings(offline_sweep_s=10**9, batch_wait_ms=20)
    ing = Ingester(seeded, f"test-{os.urandom(3).hex()}", settings, BrokerAddress.parse(stack.mosquitto.url()))
    stop = threading.Event()
    thread = threading.Thread(target=ing.run, args=(stop, True), daemon=True)
    thread.start()
    assert ing.subscribed.wait(10), "the ingester did not connect and subscribe"
    yield ing
    stop.set()
    thread.join(15)


MAP_READY = """
const done = arguments[arguments.length - 1];
const wait = () => window.riskmap && window.riskmap.ready
    ? window.riskmap.ready.then(() => done(true), e => done(String(e)))
    : setTimeout(wait, 50);
wait();
"""


def open_map(browser, url: str) -> None:
    """Load the map page and wait until every layer has been drawn."""
    browser.get(url)
    assert browser.execute_async_script(MAP_READY) is True


# --- delivery: the outbox worker, for modules that expect what they issue to go out ---


@pytest.fixture(scope="module")
def delivery_worker(seeded: Engine, stack: Stack):
    """The real delivery worker in a thread, for the module (module scope, so that tests that
    run their own workers, e.g. to kill them, have the outbox to themselves)."""
    from backend.core.config import DeliverySettings
    from backend.warnings.delivery import Worker
    from ingest.mqtt import BrokerAddress

    settings = DeliverySettings(poll_s=0.2, backoff_base_s=0.5, backoff_cap_s=5, lease_s=30)
    worker = Worker(seeded, f"test-deliver-{os.urandom(3).hex()}", settings, BrokerAddress.parse(stack.mosquitto.url()))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert worker.ready.wait(10), "the delivery worker did not start"
    yield worker
    stop.set()
    thread.join(30)


def wait_delivered(engine: Engine, broadcast_id: int, timeout: float = 15.0) -> None:
    """Until the outbox holds nothing pending for the broadcast."""
    from sqlalchemy import text as _text

    def done() -> bool:
        with engine.connect() as c:
            return not c.scalar(
                _text("SELECT count(*) FROM outbox WHERE broadcast_id = :b AND delivered_at IS NULL"),
                {"b": broadcast_id},
            )

    wait_until(done, timeout)
