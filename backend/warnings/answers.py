"""叫应: a recipient answers a broadcast (acknowledges, confirms 停产撤人), and the evidence of
its sensors is checked against the confirmation (假停产假撤人)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.core.principal import Principal, Scope
from backend.core.security import token_digest
from backend.domain.states import BroadcastState, RecipientStatus
from backend.models import Broadcast, Recipient, RecipientPerson, Site
from backend.warnings import events
from backend.warnings.events import Event
from backend.warnings.rules import WarningConflict, WarningInvalid, WarningNotFound


def acknowledge(
    session: Session,
    broadcast_id: int,
    token: str | None,
    site_code: str | None,
    evacuated: bool,
    via: str,
    now: datetime,
) -> Recipient:
    """A recipient answers: by its site's token or one of its people's tokens (HTTP), or by its
    site's gateway (MQTT). The site is answered when one of its people answers."""
    query = select(Recipient).where(Recipient.broadcast_id == broadcast_id)
    person: RecipientPerson | None = None
    if token is not None:
        digest = token_digest(token)
        person = session.scalar(
            select(RecipientPerson).where(
                RecipientPerson.broadcast_id == broadcast_id, RecipientPerson.token_hash == digest
            )
        )
        query = (
            query.where(Recipient.id == person.recipient_id)
            if person is not None
            else query.where(Recipient.token_hash == digest)
        )
    else:
        site_id = session.scalar(text("SELECT id FROM sites WHERE code = :c"), {"c": site_code})
        query = query.where(Recipient.site_id == site_id)
    rec = session.scalar(query)
    if rec is None:
        raise WarningNotFound("no such recipient for this broadcast (token or site)")
    actor = f"person:{person.id}" if person is not None else f"site:{rec.site_id}"
    if person is not None and person.answered_at is None:
        person.answered_at, person.answered_via = now, via
    return _answer(session, rec, actor, via, evacuated, now, {"person": person.name} if person else {})


def answer_as_enterprise(
    session: Session, broadcast_id: int, caller: Principal, site_code: str | None, evacuated: bool, now: datetime
) -> Recipient:
    """An enterprise user (signed in, or its token) answers for one of its own targeted sites; with
    no site named, its only targeted site."""
    if caller.scope != Scope.enterprise or caller.enterprise_id is None:
        raise WarningConflict("only an enterprise's own user answers 叫应 for its sites")
    query = (
        select(Recipient, Site.code)
        .join(Site, Site.id == Recipient.site_id)
        .where(Recipient.broadcast_id == broadcast_id, Site.enterprise_id == caller.enterprise_id)
    )
    if site_code is not None:
        query = query.where(Site.code == site_code)
    found = session.execute(query.order_by(Site.code)).all()
    if not found:
        raise WarningNotFound("this broadcast is not addressed to your enterprise (or to that site)")
    if len(found) > 1:
        codes = "、".join(code for _, code in found)
        raise WarningInvalid(f"site: the broadcast reaches several of your sites ({codes}); name one", "site")
    return _answer(session, found[0][0], caller.actor[:64], "http", evacuated, now, {"user": caller.name})


def _answer(
    session: Session, rec: Recipient, actor: str, via: str, evacuated: bool, now: datetime, who: dict[str, str]
) -> Recipient:
    broadcast_id = rec.broadcast_id
    b = session.get(Broadcast, broadcast_id)
    assert b is not None
    if b.state != BroadcastState.active:
        raise WarningConflict(f"broadcast {broadcast_id} is {b.state}")
    if rec.acknowledged_at is None:
        rec.acknowledged_at, rec.acknowledged_via = now, via
        events.record(session, Event(broadcast_id, "acknowledged", actor, rec.id, via, detail=who))
    if rec.status in {RecipientStatus.waiting, RecipientStatus.overdue}:
        rec.status = RecipientStatus.acknowledged
    if evacuated and b.action == "evacuate" and rec.evacuated_at is None:
        # Once: a gateway repeating its confirmation must not flood the events (the sweep
        # keeps checking the evidence).
        rec.evacuated_at = now
        rec.status = RecipientStatus.evacuated
        events.record(session, Event(broadcast_id, "evacuation_confirmed", actor, rec.id, via, detail=who))
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
