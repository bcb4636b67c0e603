"""叫应: a recipient answers a broadcast (acknowledges, confirms 停产撤人), and the evidence of
its sensors is checked against the confirmation (假停产假撤人)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.core.security import token_digest
from backend.domain.states import BroadcastState, RecipientStatus
from backend.models import Broadcast, Recipient
from backend.warnings import events
from backend.warnings.events import Event
from backend.warnings.rules import WarningConflict, WarningNotFound


def acknowledge(
    session: Session,
    broadcast_id: int,
    token: str | None,
    site_code: str | None,
    evacuated: bool,
    via: str,
    now: datetime,
) -> Recipient:
    """A recipient answers: by its token (HTTP) or by its site's gateway (MQTT)."""
    query = select(Recipient).where(Recipient.broadcast_id == broadcast_id)
    if token is not None:
        query = query.where(Recipient.token_hash == token_digest(token))
    else:
        site_id = session.scalar(text("SELECT id FROM sites WHERE code = :c"), {"c": site_code})
        query = query.where(Recipient.site_id == site_id)
    rec = session.scalar(query)
    if rec is None:
        raise WarningNotFound("no such recipient for this broadcast (token or site)")
    b = session.get(Broadcast, broadcast_id)
    assert b is not None
    if b.state != BroadcastState.active:
        raise WarningConflict(f"broadcast {broadcast_id} is {b.state}")
    if rec.acknowledged_at is None:
        rec.acknowledged_at, rec.acknowledged_via = now, via
        events.record(session, Event(broadcast_id, "acknowledged", f"site:{rec.site_id}", rec.id, via))
    if rec.status in {RecipientStatus.waiting, RecipientStatus.overdue}:
        rec.status = RecipientStatus.acknowledged
    if evacuated and b.action == "evacuate" and rec.evacuated_at is None:
        # Once: a gateway repeating its confirmation must not flood the events (the sweep
        # keeps checking the evidence).
        rec.evacuated_at = now
        rec.status = RecipientStatus.evacuated
        events.record(session, Event(broadcast_id, "evacuation_confirmed", f"site:{rec.site_id}", rec.id, via))
        check_evidence(session, rec, now)
    return rec


# A site's personnel and power sensors, with their latest reading and idle limit.
ACTIVITY_SENSORS = text(
    "SELECT code, kind, last_value, last_reading_at, thresholds ->> 'idle_max' AS idle_max FROM sensors "
    "WHERE site_id = :s AND kind IN ('personnel_count', 'power_draw') AND last_reading_at IS NOT NULL"
)


def check_evidence(session: Session, rec: Recipient, now: datetime) -> bool:
    """假停产假撤人: a site that confirmed evacuation while its sensors still show people or power."""
    rows = session.execute(ACTIVITY_SENSORS, {"s": rec.site_id}).all()
    activity = [
        {"sensor": r.code, "kind": r.kind, "value": r.last_value, "at": r.last_reading_at.isoformat()}
        for r in rows
        if rec.evacuated_at
        and r.last_value is not None
        and r.last_reading_at >= rec.evacuated_at
        and r.last_value > float(r.idle_max or 0)
    ]
    rec.evidence = {"checked_at": now.isoformat(), "sensors": len(rows), "activity": activity}
    if activity and not rec.fake_evacuation:
        rec.fake_evacuation = True
        events.record(
            session, Event(rec.broadcast_id, "fake_evacuation", "system", rec.id, detail={"activity": activity})
        )
    return not activity
