"""The private Mosquitto: authentication and the ACL generated from the gateway registry."""

import threading
import time
import uuid
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion
from sqlalchemy.orm import Session

from backend.core.mqtt import BrokerAddress, client
from backend.embedded.stack import Stack, sync_broker_auth
from backend.registry.gateways import add_gateway


@dataclass
class Probe:
    """A connected client that records what the broker answered."""

    c: mqtt.Client
    connected: threading.Event = field(default_factory=threading.Event)
    connack: str = ""
    acks: dict[int, str] = field(default_factory=dict)
    subacks: list[str] = field(default_factory=list)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    done: threading.Condition = field(default_factory=threading.Condition)


def connect(
    address: BrokerAddress,
    username: str | None = None,
    password: str | None = None,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    client_id: str | None = None,
) -> Probe:
    # A gateway must connect with its own id as client id (the broker guard binds them).
    p = Probe(client(address, client_id or username or f"test-{uuid.uuid4().hex[:8]}", username, password, protocol))

    def on_connect(c, u, flags, reason, props) -> None:
        p.connack = str(reason)
        p.connected.set()

    def on_publish(c, u, mid, reason, props) -> None:
        with p.done:
            p.acks[mid] = str(reason)
            p.done.notify_all()

    def on_subscribe(c, u, mid, reasons, props) -> None:
        with p.done:
            p.subacks.extend(str(r) for r in reasons)
            p.done.notify_all()

    def on_message(c, u, msg) -> None:
        with p.done:
            p.messages.append((msg.topic, msg.payload))
            p.done.notify_all()

    p.c.on_connect, p.c.on_publish, p.c.on_subscribe, p.c.on_message = (
        on_connect,
        on_publish,
        on_subscribe,
        on_message,
    )
    p.c.connect(address.host, address.port)
    p.c.loop_start()
    assert p.connected.wait(5), "no CONNACK"
    return p


def wait_for(p: Probe, predicate, timeout: float = 5) -> bool:
    with p.done:
        return p.done.wait_for(predicate, timeout)


def close(*probes: Probe) -> None:
    for p in probes:
        p.c.disconnect()
        p.c.loop_stop()


def _new_gateway(session: Session, stack: Stack, site: str) -> tuple[str, str]:
    gateway, password = add_gateway(session, site)
    gid = gateway.id
    sync_broker_auth(session, stack)
    session.commit()
    time.sleep(0.3)  # the broker reloads its password file and ACL on SIGHUP
    return gid, password


def test_gateway_publishes_only_under_its_own_site(session: Session, stack: Stack) -> None:
    gid, password = _new_gateway(session, stack, "JL-TSF-0010")
    address = BrokerAddress.parse(stack.mosquitto.url())
    watcher = connect(address)  # the platform's own user
    watcher.c.subscribe("riskmap/v1/+/+/readings", qos=1)
    assert wait_for(watcher, lambda: watcher.subacks)
    gw = connect(address, gid, password)
    assert gw.connack == "Success"
    own = gw.c.publish(f"riskmap/v1/JL-TSF-0010/{gid}/readings", b'{"readings": []}', qos=1).mid
    other_site = gw.c.publish(f"riskmap/v1/JL-TSF-0011/{gid}/readings", b"{}", qos=1).mid
    other_gateway = gw.c.publish("riskmap/v1/JL-TSF-0010/JL-TSF-0010-GW01/readings", b"{}", qos=1).mid
    assert wait_for(gw, lambda: len(gw.acks) == 3)
    assert gw.acks[own] in {"Success", "No matching subscribers"}
    assert gw.acks[other_site] == "Not authorized"
    assert gw.acks[other_gateway] == "Not authorized"
    assert wait_for(watcher, lambda: watcher.messages)
    time.sleep(0.3)
    assert [t for t, _ in watcher.messages] == [f"riskmap/v1/JL-TSF-0010/{gid}/readings"]
    close(gw, watcher)


def test_mqtt311_gateway_is_confined_too(session: Session, stack: Stack) -> None:
    gid, password = _new_gateway(session, stack, "JL-COAL-0010")
    address = BrokerAddress.parse(stack.mosquitto.url())
    watcher = connect(address)
    watcher.c.subscribe("riskmap/v1/+/+/readings", qos=1)
    assert wait_for(watcher, lambda: watcher.subacks)
    gw = connect(address, gid, password, MQTTProtocolVersion.MQTTv311)
    assert gw.connack == "Success"
    gw.c.publish(f"riskmap/v1/JL-COAL-0011/{gid}/readings", b"foreign", qos=1)
    gw.c.publish(f"riskmap/v1/JL-COAL-0010/{gid}/readings", b"own", qos=1)
    assert wait_for(watcher, lambda: watcher.messages)
    time.sleep(0.3)
    assert watcher.messages == [(f"riskmap/v1/JL-COAL-0010/{gid}/readings", b"own")]
    close(gw, watcher)


def test_gateway_cannot_read_another_sites_topics(session: Session, stack: Stack) -> None:
    """The broker guard refuses the foreign subscription at once; the ACL would not deliver anyway."""
    gid, password = _new_gateway(session, stack, "JL-HAZ-0020")
    address = BrokerAddress.parse(stack.mosquitto.url())
    gw = connect(address, gid, password)
    gw.c.subscribe([("riskmap/v1/JL-HAZ-0021/broadcast", 1), ("riskmap/v1/JL-HAZ-0020/broadcast", 1)])
    assert wait_for(gw, lambda: len(gw.subacks) == 2)
    assert gw.subacks == ["Not authorized", "Granted QoS 1"]
    platform = connect(address)
    platform.c.publish("riskmap/v1/JL-HAZ-0021/broadcast", b"not yours", qos=1)
    platform.c.publish("riskmap/v1/JL-HAZ-0020/broadcast", b"yours", qos=1)
    assert wait_for(gw, lambda: gw.messages)
    time.sleep(0.3)
    assert gw.messages == [("riskmap/v1/JL-HAZ-0020/broadcast", b"yours")]
    close(gw, platform)


def test_wrong_password_and_unknown_user_are_refused(session: Session, stack: Stack) -> None:
    gid, _ = _new_gateway(session, stack, "JL-MINE-0010")
    address = BrokerAddress.parse(stack.mosquitto.url())
    for user, password in ((gid, "wrong"), ("nobody", "x")):
        p = connect(address, user, password)
        assert p.connack in {"Not authorized", "Bad user name or password"}
        close(p)
