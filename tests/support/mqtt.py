"""A gateway as the platform sees one: a real MQTT client logged in with its own credentials."""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from backend.core.mqtt import BrokerAddress


class GatewayClient:
    """A real MQTT client logged in as a gateway; publish() waits for the broker's PUBACK."""

    def __init__(
        self,
        address: BrokerAddress,
        gateway_id: str,
        site_code: str,
        password: str,
        protocol: MQTTProtocolVersion | None = None,
    ) -> None:
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

    def publish(self, payload: Any, channel: str = "readings", retain: bool = False) -> None:
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        info = self.client.publish(self.topic(channel), body, qos=1, retain=retain)
        info.wait_for_publish(5)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
