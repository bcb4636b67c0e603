"""MQTT for the tests: gateways publishing with their own credentials, the ingester that receives
them, and the delivery worker that sends what is issued."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator

import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from sqlalchemy import Engine

from backend.core.config import DeliverySettings, IngestSettings
from backend.core.mqtt import BrokerAddress
from backend.embedded.stack import Stack
from backend.registry.seed import DEMO_SECRETS
from backend.warnings.delivery import Worker
from ingest.ingester import Ingester
from tests.support.mqtt import GatewayClient
from tests.support.paths import DATA_DIR

Connect = Callable[..., GatewayClient]


@pytest.fixture(scope="session")
def gateway_secrets(seeded: Engine) -> dict[str, str]:
    return json.loads((DATA_DIR / DEMO_SECRETS).read_text())


@pytest.fixture(scope="session")
def gateway(stack: Stack, gateway_secrets: dict[str, str]) -> Iterator[Connect]:
    """gateway(site_code, n=1) -> a connected GatewayClient for that site's n-th gateway."""
    address = BrokerAddress.parse(stack.mosquitto.url())
    opened: dict[str, tuple[MQTTProtocolVersion | None, GatewayClient]] = {}

    def connect(site_code: str, n: int = 1, protocol: MQTTProtocolVersion | None = None) -> GatewayClient:
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
def ingester(seeded: Engine, stack: Stack) -> Iterator[Ingester]:
    """The real ingester in a thread, for the module; its session is discarded at the end."""
    settings = IngestSettings(offline_sweep_s=10**9, batch_wait_ms=20)
    ing = Ingester(seeded, f"test-{os.urandom(3).hex()}", settings, BrokerAddress.parse(stack.mosquitto.url()))
    stop = threading.Event()
    thread = threading.Thread(target=ing.run, args=(stop, True), daemon=True)
    thread.start()
    assert ing.subscribed.wait(10), "the ingester did not connect and subscribe"
    yield ing
    stop.set()
    thread.join(15)


@pytest.fixture(scope="module")
def delivery_worker(seeded: Engine, stack: Stack) -> Iterator[Worker]:
    """The real delivery worker in a thread, for the module (module scope, so that tests that
    run their own workers, e.g. to kill them, have the outbox to themselves)."""
    settings = DeliverySettings(poll_s=0.2, backoff_base_s=0.5, backoff_cap_s=5, lease_s=30)
    worker = Worker(seeded, f"test-deliver-{os.urandom(3).hex()}", settings, BrokerAddress.parse(stack.mosquitto.url()))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert worker.ready.wait(10), "the delivery worker did not start"
    yield worker
    stop.set()
    thread.join(30)
