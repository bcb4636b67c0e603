"""The MQTT ingester: readings and gateway status from the broker into PostGIS.

Messages arrive with QoS 1 on a persistent MQTT 5 session through a shared subscription, so
several ingesters share the work. They are acknowledged only after the batch holding them is
committed: a crash loses nothing (the broker redelivers), and a redelivered message is stored
once. The broker never has more than `max_inflight` unacknowledged messages out to us
(Receive Maximum), which bounds the memory we hold.

While the database is unreachable the batch is retried and nothing is acknowledged. When the
database refuses the data instead, the batch is split in halves until the offending messages are
found: they go to dead_letters with the database's reason, the rest is committed, and all are
acknowledged; a poison message costs only itself. A heartbeat row tells /healthz whether we are
alive, connected and keeping up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.core.config import IngestSettings, mqtt_url
from backend.core.mqtt import BrokerAddress
from backend.models import IngesterStatus
from ingest.alarms import AlarmWriter
from ingest.batch import BatchWriter, Message, Outcome, describe_error, refuses_data

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
        self.stats = {
            "messages": 0,
            "stored": 0,
            "duplicates": 0,
            "rejected": 0,
            "batches": 0,
            "batches_retried": 0,
            "poison": 0,
            "unstorable": 0,
            "dead_letters_suppressed": 0,
        }
        self.beat_now = threading.Event()  # a change of connection state is reported at once
        self.in_flight_since: float | None = None  # when the batch being committed was received
        self.started_at = datetime.now(UTC)
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
            self.beat_now.set()
            log.info("subscribed: %s", ", ".join(granted))
        else:
            log.error("subscription refused: %s", granted)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self.beat_now.set()
        log.warning("disconnected from the broker: %s", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Message(msg.topic, msg.payload, msg.mid, self.generation, qos=msg.qos))

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
        """Commit the batch; None only when stopped while the database is unreachable.

        Chunks wait on a stack: one the database refuses for its data is split in halves, and a
        single refused message is dead-lettered with the reason. One it cannot reach is retried
        with backoff, and nothing is acknowledged until every chunk is done.
        """
        outcome = Outcome()
        pending = [batch]
        delay = 0.5
        while pending:
            if stop.is_set():
                return None
            chunk = pending.pop()
            try:
                try:
                    outcome.merge(self.writer.process(chunk))
                except Exception as exc:
                    if not refuses_data(exc):
                        raise
                    if len(chunk) > 1:
                        log.warning("batch of %d refused (%s); splitting it", len(chunk), describe_error(exc))
                        half = len(chunk) // 2
                        pending.extend((chunk[half:], chunk[:half]))
                    else:
                        log.error("message on %s refused: %s", chunk[0].topic[:200], describe_error(exc))
                        self.stats["poison"] += 1
                        outcome.merge(self._keep_failed(chunk[0], exc))
                delay = 0.5
            except Exception as exc:
                if refuses_data(exc):
                    raise
                pending.append(chunk)
                self.stats["batches_retried"] += 1
                log.warning("database unavailable, %d messages kept for retry: %s", len(chunk), describe_error(exc))
                stop.wait(delay)
                delay = min(delay * 2, 5)
        return outcome

    def _keep_failed(self, message: Message, exc: Exception) -> Outcome:
        """Dead-letter a refused message. Should even its dead letter be refused as data, it is
        logged and counted, never retried forever: one message must not wedge the ingester."""
        try:
            return self.writer.keep_failed(message, exc)
        except Exception as again:
            if not refuses_data(again):
                raise  # the database went away: the retry loop takes the chunk again
            log.error("could not even dead-letter a message on %s: %s", message.topic[:200], describe_error(again))
            self.stats["unstorable"] += 1
            return Outcome()

    def _acknowledge(self, batch: list[Message]) -> None:
        for m in batch:
            # QoS 0 has no acknowledgement; an older connection's message is redelivered anyway.
            if m.qos > 0 and m.generation == self.generation:
                self.client.ack(m.mid, m.qos)

    def lag_s(self) -> float:
        """Age of the oldest message received and not yet acknowledged."""
        oldest = [t for t in (self.in_flight_since,) if t is not None]
        with self.inbox.mutex:
            if self.inbox.queue:
                oldest.append(self.inbox.queue[0].received)
        return max(0.0, time.monotonic() - min(oldest)) if oldest else 0.0

    def _heartbeat(self, stop: threading.Event) -> None:
        """Report alive, connected, lag and counters for /healthz, from its own thread so that a
        stuck batch still shows (as growing lag)."""
        engine = self.writer.engine
        while not stop.is_set():
            row = {
                "name": self.name[:64],
                "host": socket.gethostname()[:128],
                "pid": os.getpid(),
                "started_at": self.started_at,
                "heartbeat_at": datetime.now(UTC),
                "connected": self.connected.is_set() and self.subscribed.is_set(),
                "lag_s": round(self.lag_s(), 3),
                "stats": dict(self.stats),
            }
            try:
                with engine.begin() as c:
                    c.execute(
                        pg_insert(IngesterStatus)
                        .values(row)
                        .on_conflict_do_update(
                            index_elements=["name"], set_={k: v for k, v in row.items() if k != "name"}
                        )
                    )
            except SQLAlchemyError as exc:
                log.debug("heartbeat not written: %s", describe_error(exc))
            self.beat_now.wait(self.settings.heartbeat_s)
            self.beat_now.clear()
        with contextlib.suppress(SQLAlchemyError), engine.begin() as c:
            c.execute(delete(IngesterStatus).where(IngesterStatus.name == self.name[:64]))

    def _report(self, outcome: Outcome) -> None:
        root = self.settings.topic_root
        for m, r in outcome.rejected:
            parts = m.topic.split("/")
            if len(parts) == 5 and m.topic.startswith(root + "/"):
                body = {"reason": r.reason, "detail": r.detail, "reading": r.index, "topic": m.topic}
                self.client.publish(f"{root}/{parts[2]}/{parts[3]}/errors", json.dumps(body, ensure_ascii=False), qos=1)

    def _summarise_suppressed(self) -> None:
        try:
            self.writer.write_suppressed_summary()
        except SQLAlchemyError as exc:  # the counts are kept for the next try
            log.warning("dead-letter summary skipped: %s", describe_error(exc))

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
        helpers_stop = threading.Event()
        helpers = [
            threading.Thread(target=self._heartbeat, args=(helpers_stop,), daemon=True, name="ingest-heartbeat"),
            threading.Thread(
                target=self.writer.register.listen,
                args=(self.writer.engine.url.set(drivername="postgresql").render_as_string(False), helpers_stop),
                daemon=True,
                name="ingest-register",
            ),
        ]
        for t in helpers:
            t.start()
        self.start()
        next_sweep = time.monotonic() + self.settings.offline_sweep_s
        next_summary = time.monotonic() + self.settings.heartbeat_s
        try:
            while not stop.is_set():
                batch = self._take_batch(timeout=0.5)
                if batch:
                    self.in_flight_since = batch[0].received
                    outcome = self._commit(batch, stop)
                    if outcome is None:
                        break
                    self._acknowledge(batch)
                    self.in_flight_since = None
                    self._report(outcome)
                    for k, v in (
                        ("messages", len(batch)),
                        ("stored", outcome.stored),
                        ("duplicates", outcome.duplicates),
                        ("rejected", len(outcome.rejected)),
                        ("batches", 1),
                        ("dead_letters_suppressed", outcome.suppressed),
                    ):
                        self.stats[k] += v
                if time.monotonic() >= next_summary:
                    self._summarise_suppressed()
                    next_summary = time.monotonic() + self.settings.heartbeat_s
                if time.monotonic() >= next_sweep:
                    self._sweep()
                    next_sweep = time.monotonic() + self.settings.offline_sweep_s
        finally:
            self.stop(discard_session)
            helpers_stop.set()
            self.beat_now.set()
            for t in helpers:
                t.join(10)
