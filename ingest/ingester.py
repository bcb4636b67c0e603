"""The MQTT ingester: readings and gateway status from the broker into PostGIS.

Messages arrive with QoS 1 on a persistent MQTT 5 session through a shared subscription, so
several ingesters share the work. They are acknowledged only after the batch holding them is
committed: a crash loses nothing (the broker redelivers), and a redelivered message is stored
once. The broker never has more than `max_inflight` unacknowledged messages out to us
(Receive Maximum), which bounds the memory we hold. While the database is down the batch is
retried, and nothing is acknowledged.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from backend.core.config import IngestSettings, mqtt_url
from ingest.alarms import AlarmWriter
from ingest.batch import BatchWriter, Message, Outcome
from ingest.mqtt import BrokerAddress

log = logging.getLogger("riskmap.ingest")


class Ingester:
    def __init__(
        self,
        engine: Engine,
        name: str | None = None,
        settings: IngestSettings | None = None,
        address: BrokerAddress | None = None,
    ) -> None:
        self.settings = settings or IngestSettings()
        self.name = name or f"ingest-{socket.gethostname()}"
        self.address = address or BrokerAddress.parse(mqtt_url())
        self.writer = BatchWriter(engine, self.settings, self.name)
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.generation = 0  # bumped on every (re)connect: acks belong to one connection
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.stats = {"messages": 0, "stored": 0, "duplicates": 0, "rejected": 0, "batches": 0}
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"riskmap-{self.name}",
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if self.address.username:
            c.username_pw_set(self.address.username, self.address.password)
        c.max_inflight_messages_set(1000)  # our own publishes: error reports
        c.reconnect_delay_set(min_delay=1, max_delay=5)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        return c

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if str(reason) != "Success":
            log.error("broker refused the ingester: %s", reason)
            return
        self.generation += 1
        root, group = self.settings.topic_root, self.settings.share_group
        options = SubscribeOptions(qos=1)
        client.subscribe(
            [(f"$share/{group}/{root}/+/+/{channel}", options) for channel in ("readings", "status", "ack")]
        )
        self.connected.set()
        log.info(
            "connected to %s:%s (session present: %s)",
            self.address.host,
            self.address.port,
            getattr(flags, "session_present", None),
        )

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: list[object], props: object
    ) -> None:
        granted = [str(r) for r in reasons]
        if all(r.startswith("Granted") for r in granted):
            self.subscribed.set()
            log.info("subscribed: %s", ", ".join(granted))
        else:
            log.error("subscription refused: %s", granted)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self.connected.clear()
        log.warning("disconnected from the broker: %s", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Message(msg.topic, msg.payload, msg.mid, self.generation))

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = self.settings.max_inflight
        self.client.connect(self.address.host, self.address.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self, discard_session: bool = False) -> None:
        """Disconnect; with discard_session the broker forgets our queue (an ingester leaving
        the group for good), else it keeps queuing for our return."""
        props = None
        if discard_session:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
        self.client.disconnect(properties=props)
        self.client.loop_stop()

    def _take_batch(self, timeout: float) -> list[Message]:
        try:
            batch = [self.inbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < self.settings.batch_max_messages:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self.inbox.get(timeout=max(remaining, 0)) if remaining > 0 else self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _commit(self, batch: list[Message], stop: threading.Event) -> Outcome | None:
        """Process the batch, retrying while the database is unreachable. A batch that fails for
        any other reason is kept whole in dead_letters (reason ingest_error), so that neither the
        messages nor the ingester are lost to one bug."""
        delay = 0.5
        while not stop.is_set():
            try:
                try:
                    return self.writer.process(batch)
                except (DBAPIError, psycopg.Error):
                    raise
                except Exception as exc:
                    log.exception("batch of %d failed; keeping it in dead_letters", len(batch))
                    return self.writer.keep_failed(batch, exc)
            except (DBAPIError, psycopg.Error) as exc:
                log.warning(
                    "database unavailable, batch of %d kept for retry: %s",
                    len(batch),
                    str(exc).splitlines()[0],
                )
                stop.wait(delay)
                delay = min(delay * 2, 5)
        return None

    def _acknowledge(self, batch: list[Message]) -> None:
        for m in batch:
            if m.generation == self.generation:  # an older connection's message is redelivered anyway
                self.client.ack(m.mid, 1)

    def _report(self, outcome: Outcome) -> None:
        root = self.settings.topic_root
        for m, r in outcome.rejected:
            parts = m.topic.split("/")
            if len(parts) == 5 and m.topic.startswith(root + "/"):
                body = {"reason": r.reason, "detail": r.detail, "reading": r.index, "topic": m.topic}
                self.client.publish(f"{root}/{parts[2]}/{parts[3]}/errors", json.dumps(body, ensure_ascii=False), qos=1)

    def _sweep(self) -> None:
        try:
            with Session(self.writer.engine) as session, session.begin():
                session.info["actor"] = f"ingest:{self.name}"
                alarms = AlarmWriter(session, datetime.now(UTC))
                alarms.sweep_offline()
                alarms.finish()
        except SQLAlchemyError as exc:  # the next sweep tries again; ingestion goes on
            log.warning("offline sweep skipped: %s", str(exc).splitlines()[0])

    def run(self, stop: threading.Event, discard_session: bool = False) -> None:
        self.start()
        next_sweep = time.monotonic() + self.settings.offline_sweep_s
        try:
            while not stop.is_set():
                batch = self._take_batch(timeout=0.5)
                if batch:
                    outcome = self._commit(batch, stop)
                    if outcome is None:
                        break
                    self._acknowledge(batch)
                    self._report(outcome)
                    for k, v in (
                        ("messages", len(batch)),
                        ("stored", outcome.stored),
                        ("duplicates", outcome.duplicates),
                        ("rejected", len(outcome.rejected)),
                        ("batches", 1),
                    ):
                        self.stats[k] += v
                if time.monotonic() >= next_sweep:
                    self._sweep()
                    next_sweep = time.monotonic() + self.settings.offline_sweep_s
        finally:
            self.stop(discard_session)
