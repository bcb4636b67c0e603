"""Delivery outside transactions: the outbox and the worker that empties it.

Whatever the platform sends out — a broadcast's retained message on a site's MQTT topic, its
clearing, a webhook POST — is written as a row of `outbox` in the transaction that decides it,
so it goes out if and only if that transaction commits, and nothing is sent while row locks are
held. `riskmap deliver` (started by `riskmap up`) claims due rows with FOR UPDATE SKIP LOCKED
and a lease, delivers them after the claim has committed, and records every attempt. A failure
is retried with exponential backoff up to a cap; after `max_attempts` the row is dead.

The contract is **at least once**: a worker killed after the broker or the receiver accepted a
message but before it recorded that, leaves the row to be sent again when its lease runs out.
Every delivery carries its key — `X-Riskmap-Delivery` on a webhook, `"delivery"` in an MQTT
broadcast payload — so a receiver drops the repeat. Messages to one MQTT topic go out in the
order they were written (a clear never overtakes the alert it clears).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy import Boolean, Engine, Interval, bindparam, case, func, insert, null, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backend.core.config import DeliverySettings, MqttSettings, WebhookSettings
from backend.core.mqtt import BrokerAddress
from backend.core.mqtt import client as mqtt_client
from backend.models import FACT_KIND, Broadcast, OutboxAttempt, OutboxMessage, Recipient, Webhook
from backend.warnings import events
from backend.warnings.events import Event

log = logging.getLogger("riskmap.delivery")
CHANNEL = "riskmap_outbox"  # NOTIFY channel of the insert trigger (migration 0005)
ACTOR = "system:deliver"


# --- webhook targets ------------------------------------------------------------------------


class TargetRefused(ValueError):
    pass


class TargetUnresolved(TargetRefused):
    """The name does not resolve (now): refused at registration, retried at delivery."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _why_not(ip: IPAddress) -> str | None:
    """Why an address is not a public unicast one (None when it is)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for label, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not public", not ip.is_global),
    ):
        if flag:
            return label
    return None


def resolve_target(url: str, settings: WebhookSettings | None = None) -> list[IPAddress]:
    """The addresses a webhook URL resolves to, all of them allowed, or TargetRefused.

    Checked at registration and again before each delivery (DNS may have changed); the POST
    then goes to the checked address, so a second lookup cannot point it elsewhere.
    """
    settings = settings or WebhookSettings()
    parsed = httpx.URL(url)
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise TargetRefused("url: only http and https URLs with a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetUnresolved(f"url: cannot resolve {parsed.host!r} ({exc})") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if settings.allow_private:
        return addresses
    allowed = settings.networks()
    for ip in addresses:
        reason = _why_not(ip)
        if reason and not any(ip in net for net in allowed):
            raise TargetRefused(
                f"url: {parsed.host} resolves to {ip}, a {reason} address; "
                "allow it with RISKMAP_WEBHOOK_ALLOW_CIDRS or RISKMAP_WEBHOOK_ALLOW_PRIVATE"
            )
    return addresses


# --- writing to the outbox (inside the caller's transaction) ---------------------------------


def new_key() -> str:
    return uuid.uuid4().hex


def enqueue(session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue deliveries in the session's transaction; each row: kind, target, payload and
    optionally key, headers, broadcast_id, recipient_id, webhook_id, event."""
    if not rows:
        return
    defaults = {"headers": {}, "broadcast_id": None, "recipient_id": None, "webhook_id": None, "event": "delivered"}
    # Inline (no RETURNING of the new ids): row-level security would check a returned row against
    # what the caller may read, and a hazard's notice to another bureau is queued, not read.
    session.execute(insert(OutboxMessage).inline(), [defaults | {"key": new_key()} | r for r in rows])


# --- what a broadcast sends (queued in the caller's transaction) ------------------------------


def site_message(b: Broadcast, code: str, token: str | None) -> dict[str, Any]:
    """The message a site's gateway receives on its broadcast topic."""
    return {
        "broadcast": b.id,
        "identifier": b.identifier,
        "status": b.status,
        "msg_type": b.msg_type,
        "action": b.action,
        "color": b.color,
        "headline": b.headline,
        "instruction": b.instruction,
        "expires": b.expires.isoformat(),
        "site": code,
        "cap": f"/api/v1/broadcasts/{b.id}.xml",
        "ack_token": token,
        "ack": f"/api/v1/broadcasts/{b.id}/ack",
    }


RECIPIENT_SITES = text(
    "SELECT r.id, s.code FROM broadcast_recipients r JOIN sites s ON s.id = r.site_id "
    "WHERE r.broadcast_id = :b ORDER BY r.id"
)


def queue_site_messages(session: Session, b: Broadcast, tokens: dict[int, str] | None, clear: bool = False) -> int:
    """Each targeted site's broadcast topic: retained while active, cleared when it ends.

    Queued in the outbox in this transaction (the worker sends them once it commits, in order
    per topic); each message carries its delivery key for de-duplication.
    """
    rows = session.execute(RECIPIENT_SITES, {"b": b.id}).all()
    root = MqttSettings().topic_root
    out: list[dict[str, Any]] = []
    for row in rows:
        rid, code = row.id, row.code
        topic = f"{root}/{code}/broadcast"
        refs = {"kind": "mqtt", "target": topic, "broadcast_id": b.id, "recipient_id": rid}
        if clear:
            out.append(refs | {"payload": b"", "headers": {"qos": 1, "retain": True}, "event": "cleared"})
            key = new_key()
            body = {"broadcast": b.id, "msg_type": "Cancel", "site": code, "delivery": key}
            out.append(
                refs
                | {"key": key, "payload": json.dumps(body, ensure_ascii=False).encode(), "headers": {"qos": 1}}
                | {"event": "cancel_sent"}
            )
        else:
            key = new_key()
            body = site_message(b, code, (tokens or {}).get(rid)) | {"delivery": key}
            out.append(
                refs
                | {"key": key, "payload": json.dumps(body, ensure_ascii=False).encode()}
                | {"headers": {"qos": 1, "retain": True}, "event": "delivered"}
            )
    enqueue(session, out)
    return len(rows)


def deliver(session: Session, b: Broadcast, tokens: dict[int, str], sms: int | None = None) -> None:
    """Queue the broadcast for every channel: site topics, webhooks; the SMS rows are already
    in sms_outbox for the SMS gateway adapter (`sms` of them; one per site when not given). The
    worker records each delivery."""
    sites = queue_site_messages(session, b, tokens)
    hooks = [(h.id, h.url, h.secret) for h in session.scalars(select(Webhook).where(Webhook.active))]
    events.record(
        session,
        Event(b.id, "queued", "system", channel="mqtt", detail={"sites": sites, "webhooks": len(hooks)}),
        Event(b.id, "queued", "system", channel="sms", detail={"messages": len(tokens) if sms is None else sms}),
    )
    if hooks:
        body = json.dumps(
            {
                "broadcast": b.id,
                "identifier": b.identifier,
                "msg_type": b.msg_type,
                "status": b.status,
                "action": b.action,
                "color": b.color,
                "headline": b.headline,
                "cap": b.cap_xml,
            },
            ensure_ascii=False,
        ).encode()
        enqueue(session, webhook_rows(hooks, body, b.id))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_rows(hooks: list[tuple[int, str, str]], body: bytes, broadcast_id: int | None) -> list[dict[str, Any]]:
    """Outbox rows POSTing the body to each webhook, signed (X-Riskmap-Signature); the worker
    adds X-Riskmap-Delivery, the key a receiver uses to drop a repeat."""
    return [
        {
            "kind": "webhook",
            "target": url,
            "payload": body,
            "headers": {"X-Riskmap-Signature": sign(secret, body)},
            "broadcast_id": broadcast_id,
            "webhook_id": hook_id,
            "event": "webhook",
        }
        for hook_id, url, secret in hooks
    ]


# --- the worker -----------------------------------------------------------------------------


@dataclass
class Claimed:
    id: int
    key: str
    kind: str
    target: str
    payload: bytes
    headers: dict[str, Any]
    attempts: int
    broadcast_id: int | None
    recipient_id: int | None
    webhook_id: int | None
    event: str


@dataclass
class Outcome:
    ok: bool
    error: str | None = None
    status: int | None = None
    duration_ms: int = 0
    permanent: bool = False  # no retry can succeed (a refused target): dead at once


CLAIM = text("""
WITH due AS (
    SELECT o.id FROM outbox o
    WHERE o.delivered_at IS NULL AND o.dead_at IS NULL AND o.next_attempt_at <= now()
      AND (o.claimed_until IS NULL OR o.claimed_until < now())
      AND NOT (o.kind = 'mqtt' AND EXISTS (
          SELECT 1 FROM outbox p WHERE p.target = o.target AND p.id < o.id AND p.kind = 'mqtt'
            AND p.delivered_at IS NULL AND p.dead_at IS NULL))
    ORDER BY o.id LIMIT :n
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE outbox SET claimed_by = :me, claimed_until = now() + make_interval(secs => :lease)
FROM due WHERE outbox.id = due.id
RETURNING outbox.id, outbox.key, outbox.kind, outbox.target, outbox.payload, outbox.headers, outbox.attempts,
          outbox.broadcast_id, outbox.recipient_id, outbox.webhook_id, outbox.event
""")


_OUTBOX = OutboxMessage.__table__
_DEAD = bindparam("dead", type_=Boolean)
# A failed attempt, one row each (executemany): rescheduled after its backoff, or dead (its
# payload, which may hold a 叫应 token, then dropped); only while this worker still holds it.
RESCHEDULE = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("i"), _OUTBOX.c.claimed_by == bindparam("me"), _OUTBOX.c.delivered_at.is_(None))
    .values(
        attempts=_OUTBOX.c.attempts + 1,
        last_error=bindparam("err"),
        claimed_until=null(),
        dead_at=case((_DEAD, func.now())),
        payload=case((_DEAD, b""), else_=_OUTBOX.c.payload),
        next_attempt_at=func.now() + bindparam("wait", type_=Interval),
    )
)


def backoff_s(attempt: int, settings: DeliverySettings) -> float:
    """The wait after the attempt-th failure: base, 2·base, 4·base, ... at most the cap."""
    return min(settings.backoff_cap_s, settings.backoff_base_s * 2 ** max(0, attempt - 1))


class _Done(Exception):
    """A fact already reacted to."""


class Worker:
    """Claims due outbox rows, delivers them, records the outcome. Several may run at once."""

    def __init__(
        self,
        engine: Engine,
        name: str | None = None,
        settings: DeliverySettings | None = None,
        address: BrokerAddress | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or DeliverySettings()
        self.name = name or f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._address = address
        self.delivered = 0
        self.failed = 0
        self.ready = threading.Event()  # set once it listens for NOTIFY

    @property
    def address(self) -> BrokerAddress:
        if self._address is None:
            from backend.core.config import mqtt_url

            self._address = BrokerAddress.parse(mqtt_url())
        return self._address

    # one round

    def claim(self) -> list[Claimed]:
        with self.engine.begin() as conn:
            rows = conn.execute(CLAIM, {"n": self.settings.batch, "me": self.name, "lease": self.settings.lease_s})
            claimed = [Claimed(*r) for r in rows]
        claimed.sort(key=lambda c: c.id)
        return claimed

    def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many rows were claimed."""
        claimed = self.claim()
        if not claimed:
            return 0
        hooks = [c for c in claimed if c.kind == "webhook"]
        # All webhooks of a batch at once, so that a batch ends well within its lease.
        with ThreadPoolExecutor(max_workers=max(1, min(32, len(hooks)))) as pool:
            posting: dict[int, Future[Outcome]] = {c.id: pool.submit(self._post, c) for c in hooks}
            mqtt = [c for c in claimed if c.kind == "mqtt"]
            if mqtt:  # recorded as soon as the broker confirmed, not after the slowest webhook
                self.record(mqtt, self._publish(mqtt))
            if hooks:
                self.record(hooks, {i: f.result() for i, f in posting.items()})
        facts = [c for c in claimed if c.kind == FACT_KIND]
        if facts:
            self.react(facts)
        other = [c for c in claimed if c.kind not in {"mqtt", "webhook", FACT_KIND}]
        if other:
            self.record(other, {c.id: Outcome(False, f"unknown kind {c.kind!r}", permanent=True) for c in other})
        return len(claimed)

    def _publish(self, rows: list[Claimed]) -> dict[int, Outcome]:
        """Publish at QoS 1 over one connection; a row succeeds when the broker's PUBACK came."""
        started = time.monotonic()
        timeout = self.settings.mqtt_timeout_s
        address = self.address

        def fail(error: str) -> dict[int, Outcome]:
            ms = int((time.monotonic() - started) * 1000)
            return {r.id: Outcome(False, error, duration_ms=ms) for r in rows}

        c = mqtt_client(address, client_id=f"riskmap-deliver-{uuid.uuid4().hex[:12]}")
        c.max_inflight_messages_set(100)
        connack: dict[str, Any] = {}
        connected = threading.Event()

        def on_connect(cl: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            connack["reason"] = reason
            connected.set()

        c.on_connect = on_connect
        try:
            c.connect(address.host, address.port, keepalive=30)
        except OSError as exc:
            return fail(f"broker unreachable: {exc}")
        c.loop_start()
        try:
            if not connected.wait(timeout):
                return fail(f"no CONNACK from the broker in {timeout} s")
            if connack["reason"].is_failure:
                return fail(f"broker refused the connection: {connack['reason']}")
            infos = []
            out: dict[int, Outcome] = {}
            for r in rows:
                h = r.headers or {}
                try:
                    infos.append(
                        (r, c.publish(r.target, r.payload, qos=int(h.get("qos", 1)), retain=bool(h.get("retain"))))
                    )
                except (ValueError, TypeError) as exc:  # a topic or payload no broker can take
                    out[r.id] = Outcome(False, f"cannot publish: {exc}", permanent=True)
            deadline = time.monotonic() + timeout
            for r, info in infos:
                try:
                    info.wait_for_publish(max(0.05, deadline - time.monotonic()))
                except (RuntimeError, ValueError) as exc:
                    out[r.id] = Outcome(False, f"publish failed: {exc}")
                    continue
                ms = int((time.monotonic() - started) * 1000)
                out[r.id] = (
                    Outcome(True, duration_ms=ms)
                    if info.is_published()
                    else Outcome(False, f"no PUBACK in {timeout} s", duration_ms=ms)
                )
            return out
        finally:
            c.disconnect()
            c.loop_stop()

    def _post(self, row: Claimed) -> Outcome:
        """POST to the checked address (pinned: no second DNS lookup), signed, with the key."""
        started = time.monotonic()

        def done(ok: bool, error: str | None = None, status: int | None = None, permanent: bool = False) -> Outcome:
            return Outcome(ok, error, status, int((time.monotonic() - started) * 1000), permanent)

        try:
            ip = resolve_target(row.target)[0]
        except TargetUnresolved as exc:
            return done(False, str(exc).removeprefix("url: "))
        except TargetRefused as exc:
            return done(False, f"refused: {str(exc).removeprefix('url: ')}", permanent=True)
        url = httpx.URL(row.target)
        headers = {"Content-Type": "application/json", **(row.headers or {}), "X-Riskmap-Delivery": row.key}
        headers["Host"] = url.netloc.decode("ascii")
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        try:
            with httpx.Client(timeout=self.settings.webhook_timeout_s, follow_redirects=False) as client:
                r = client.post(
                    url.copy_with(host=str(ip)), content=row.payload, headers=headers, extensions=extensions
                )
        except httpx.HTTPError as exc:
            return done(False, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= r.status_code < 300:
            return done(True, status=r.status_code)
        return done(False, f"HTTP {r.status_code}", r.status_code)

    def record(self, rows: Iterable[Claimed], outcomes: dict[int, Outcome]) -> None:
        """Every attempt, the rows delivered or rescheduled (or dead), and the broadcast events."""
        with Session(self.engine) as session, session.begin():
            session.info["actor"] = ACTOR
            self._record_in(session, list(rows), outcomes)

    def _record_in(self, session: Session, rows: list[Claimed], outcomes: dict[int, Outcome]) -> set[int]:
        """`record` in the caller's transaction (a fact's reaction is committed with its row);
        returns the rows this call marked delivered."""
        ok = [r for r in rows if outcomes[r.id].ok]
        failed = [r for r in rows if not outcomes[r.id].ok]
        newly: set[int] = set()
        if ok:
            newly = set(
                session.scalars(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([r.id for r in ok]), OutboxMessage.delivered_at.is_(None))
                    # The payload (a site's 叫应 token is in it) is not kept once sent.
                    .values(
                        delivered_at=func.now(),
                        attempts=OutboxMessage.attempts + 1,
                        claimed_until=null(),
                        last_error=null(),
                        payload=b"",
                    )
                    .returning(OutboxMessage.id)
                    .execution_options(synchronize_session=False)
                )
            )
            recipients = [r.recipient_id for r in ok if r.id in newly and r.recipient_id and r.event == "delivered"]
            if recipients:
                session.execute(
                    update(Recipient)
                    .where(Recipient.id.in_(recipients))
                    .values(delivered_at=func.now())
                    .execution_options(synchronize_session=False)
                )
        dead: list[Claimed] = []
        if failed:
            params = []
            for r in failed:
                attempt = r.attempts + 1
                is_dead = attempt >= self.settings.max_attempts or outcomes[r.id].permanent
                params.append(
                    {
                        "i": r.id,
                        "me": self.name,
                        "err": outcomes[r.id].error,
                        "dead": is_dead,
                        "wait": timedelta(seconds=backoff_s(attempt, self.settings)),
                    }
                )
                if is_dead:
                    dead.append(r)
            session.execute(RESCHEDULE, params)
        session.execute(
            insert(OutboxAttempt),
            [
                {
                    "outbox_id": r.id,
                    "attempt": r.attempts + 1,
                    "worker": self.name,
                    "ok": outcomes[r.id].ok,
                    "status": outcomes[r.id].status,
                    "error": outcomes[r.id].error,
                    "duration_ms": outcomes[r.id].duration_ms,
                }
                for r in rows
            ],
        )
        done = [self._event(r, outcomes[r.id]) for r in ok if r.id in newly and r.broadcast_id]
        done += [self._event(r, outcomes[r.id], dead=True) for r in dead if r.broadcast_id]
        events.record(session, *done)
        self.delivered += len(newly)
        self.failed += len(failed)
        for r in failed:
            log.warning(
                "delivery %s to %s failed (attempt %d): %s", r.key, r.target, r.attempts + 1, outcomes[r.id].error
            )
        return newly

    def react(self, facts: list[Claimed]) -> None:
        """The warning side's reaction to facts other work recorded (a rain gauge's alarm from an
        ingest batch: backend/alarms/lifecycle.py), each in a transaction of its own that also
        marks its row done, so it happens once; a failure is retried like a delivery, and never
        reached back into the transaction that recorded the fact."""
        # Imported here: intake issues broadcasts, which queue their deliveries in this module.
        from backend.warnings import intake

        for c in facts:
            started = time.monotonic()
            try:
                with Session(self.engine) as session, session.begin():
                    session.info["actor"] = intake.GAUGE_ACTOR
                    fact = json.loads(c.payload)
                    intake.on_alarm_changes(session, [fact], datetime.fromisoformat(fact["at"]))
                    elapsed = int((time.monotonic() - started) * 1000)
                    if c.id not in self._record_in(session, [c], {c.id: Outcome(True, duration_ms=elapsed)}):
                        raise _Done  # another worker reacted first (its lease ran out): undo this one
            except _Done:
                continue
            except Exception as exc:  # the next attempt after its backoff; the others go on
                log.exception("reaction to %s failed", c.target)
                elapsed = int((time.monotonic() - started) * 1000)
                self.record([c], {c.id: Outcome(False, f"{type(exc).__name__}: {exc}"[:500], duration_ms=elapsed)})

    def _event(self, r: Claimed, outcome: Outcome, dead: bool = False) -> Event:
        detail: dict[str, Any] = {"delivery": r.key, "attempts": r.attempts + 1}
        if r.kind == "webhook":
            detail["webhook"] = r.webhook_id
            if outcome.status is not None:
                detail["status"] = outcome.status
        else:
            detail["topic"] = r.target
        if dead:
            detail["error"] = outcome.error
        assert r.broadcast_id is not None
        return Event(
            r.broadcast_id,
            "delivery_failed" if dead else r.event,
            ACTOR,
            recipient_id=r.recipient_id,
            channel=r.kind,
            detail=detail,
        )

    # the loop

    def _listen(self) -> psycopg.Connection[Any] | None:
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            conn = psycopg.connect(url, autocommit=True)
            conn.execute(f"LISTEN {CHANNEL}")
            return conn
        except psycopg.Error as exc:
            log.warning("cannot LISTEN for new deliveries, polling only: %s", str(exc).splitlines()[0])
            return None

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set: woken by NOTIFY on insert, and every poll_s anyway."""
        listener = self._listen()
        self.ready.set()
        log.info("delivery worker %s running", self.name)
        try:
            while not stop.is_set():
                try:
                    if self.run_once():
                        continue
                except DBAPIError as exc:  # the database is away: claims wait for their lease
                    log.warning("delivery round failed, retrying: %s", str(exc).splitlines()[0])
                    stop.wait(self.settings.poll_s)
                except Exception:  # never let one bad row stop every delivery
                    log.exception("delivery round failed, retrying")
                    stop.wait(self.settings.poll_s)
                if listener is None or listener.closed:
                    listener = self._listen()
                if listener is None:
                    stop.wait(self.settings.poll_s)
                    continue
                try:
                    self._wait(listener, stop)
                except psycopg.Error:
                    listener.close()
                    listener = None
                    stop.wait(self.settings.poll_s)
        finally:
            if listener is not None:
                listener.close()

    def _wait(self, listener: psycopg.Connection[Any], stop: threading.Event) -> None:
        """Until a NOTIFY, poll_s, or stop: in short slices, so that stopping is prompt."""
        deadline = time.monotonic() + self.settings.poll_s
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            for _ in listener.notifies(timeout=min(0.5, left), stop_after=1):
                return

    def drain(self, timeout_s: float = 30.0) -> int:
        """Deliver until nothing is due (for benchmarks and one-off runs); returns rows claimed."""
        deadline = time.monotonic() + timeout_s
        total = 0
        while time.monotonic() < deadline:
            n = self.run_once()
            if not n:
                break
            total += n
        return total
