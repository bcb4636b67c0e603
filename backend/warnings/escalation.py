"""Deadlines, escalation and expiry: the sweep, run every minute (and on demand).

A recipient that has not answered by its deadline is overdue and escalated to its county
bureau, then its prefecture, one step per `escalation_step_min`: each step texts the bureau's duty
officer on the roster at that time (backend/people); an evacuated site's sensors
are checked again; a broadcast past its expiry ends and its sites' retained messages are cleared.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from backend.domain.phones import mask
from backend.domain.states import BroadcastState, RecipientStatus
from backend.models import Broadcast, Recipient, SmsOutbox
from backend.people.register import duty_officer
from backend.warnings import delivery, events
from backend.warnings.answers import check_evidence
from backend.warnings.events import Event
from backend.warnings.rules import rules


def sweep(session: Session, now: datetime) -> dict[str, int]:
    """Deadlines and escalation, the evidence of evacuated sites, and expiry."""
    r = rules()
    step = timedelta(minutes=r.escalation_step_min)
    counts = {"overdue": 0, "escalated": 0, "expired": 0, "fake": 0}
    for b in session.scalars(
        select(Broadcast).where(Broadcast.state == BroadcastState.active, Broadcast.expires <= now)
    ):
        b.state = BroadcastState.expired
        counts["expired"] += 1
        events.record(session, Event(b.id, "expired"))
        delivery.queue_site_messages(session, b, None, clear=True)
    pending = session.execute(
        select(Recipient, Broadcast)
        .join(Broadcast, Broadcast.id == Recipient.broadcast_id)
        .where(Broadcast.state == BroadcastState.active, Broadcast.msg_type != "Cancel")
    ).all()
    for rec, b in pending:
        done = rec.status == RecipientStatus.evacuated if b.action == "evacuate" else rec.acknowledged_at is not None
        if not done and now > rec.deadline:
            if rec.status != RecipientStatus.overdue:
                rec.status = RecipientStatus.overdue
                counts["overdue"] += 1
            level = min(len(r.escalation), 1 + int((now - rec.deadline) / step))
            if level > rec.escalation:
                region = session.scalar(text("SELECT region_adcode FROM sites WHERE id = :i"), {"i": rec.site_id})
                for n in range(rec.escalation + 1, level + 1):  # a late sweep still takes every step
                    _escalate(session, b, rec, n, r.escalation[n - 1], region, now)
                    counts["escalated"] += 1
                rec.escalation, rec.escalated_at = level, now
        if (
            rec.status == RecipientStatus.evacuated
            and not rec.fake_evacuation
            and not check_evidence(session, rec, now)
        ):
            counts["fake"] += 1
    return counts


def _escalate(session: Session, b: Broadcast, rec: Recipient, level: int, to: str, region: str, now: datetime) -> None:
    """One step: the bureau of the site's county (or prefecture, or province) and its duty officer
    on the roster at `now`, who gets an SMS; the step is an event (the phone shown masked)."""
    adcode = {"county": region, "prefecture": region[:4] + "00", "province": region[:2] + "0000"}[to]
    org, officer = duty_officer(session, adcode, now)
    detail: dict[str, object] = {"to": to, "region": adcode, "level": level}
    detail |= {"bureau": org.name if org else None, "duty_officer": officer.name if officer else None}
    if officer is not None:
        site, enterprise = session.execute(
            text("SELECT s.name, e.name FROM sites s JOIN enterprises e ON e.id = s.enterprise_id WHERE s.id = :i"),
            {"i": rec.site_id},
        ).one()
        assert org is not None
        session.execute(
            insert(SmsOutbox).values(
                broadcast_id=b.id,
                recipient_id=rec.id,
                kind="escalation",
                to_phone=officer.mobile,
                to_name=officer.name,
                duty_shift_id=officer.duty_shift_id,
                text=(
                    f"【{rules().sender_name}】叫应逾期：{site}（{enterprise}）未在时限内回复"
                    f"「{b.headline}」，请{org.name}值班人员立即电话督促并核实停产撤人情况。"
                )[:500],
            )
        )
        detail |= {"phone": mask(officer.mobile), "shift": officer.duty_shift_id}
    events.record(session, Event(b.id, "escalated", "system", rec.id, detail=detail))
