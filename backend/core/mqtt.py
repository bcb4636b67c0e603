"""Connecting to the broker named by RISKMAP_MQTT_URL (mqtt://user:password@host:port)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from backend.core.config import mqtt_url


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "tcp"}:
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} (use mqtt://)")
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or 1883,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
        )


def client(
    address: BrokerAddress | None = None,
    client_id: str | None = None,
    username: str | None = None,
    password: str | None = None,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
) -> mqtt.Client:
    """A paho 2 client with credentials set; the caller connects it."""
    address = address or BrokerAddress.parse(mqtt_url())
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"riskmap-{uuid.uuid4().hex[:12]}",
        protocol=protocol,
    )
    user = username or address.username
    if user:
        c.username_pw_set(user, password if username else address.password)
    return c


def check_broker(timeout_s: float = 3.0) -> None:
    """Connect with the platform's credentials and wait for the broker to accept."""
    address = BrokerAddress.parse(mqtt_url())
    c = client(address)
    accepted = threading.Event()
    outcome: dict[str, str] = {}

    def on_connect(cl: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        outcome["reason"] = str(reason)
        accepted.set()

    c.on_connect = on_connect
    c.connect(address.host, address.port, keepalive=10)
    c.loop_start()
    try:
        if not accepted.wait(timeout_s):
            raise ConnectionError(f"no CONNACK from {address.host}:{address.port} in {timeout_s} s")
        if outcome["reason"] != "Success":
            raise ConnectionError(f"broker refused the connection: {outcome['reason']}")
    finally:
        c.disconnect()
        c.loop_stop()
