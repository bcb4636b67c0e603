"""Deadlines, escalation and expiry: the sweep, run every minute (and on demand).

A recipient that has not answered by its deadline is overdue and escalated to its county
bureau, then its prefecture, one step per `escalation_step_min`; an evacuated site's sensors
are checked again; a broadcast past its expiry ends and its sites' retained messages are cleared.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.domain.states import BroadcastState, RecipientStatus
from backend.models import Broadcast, Recipient
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
                rec.escalation, rec.escalated_at = level, now
                region = session.scalar(text("SELECT region_adcode FROM sites WHERE id = :i"), {"i": rec.site_id})
                to = region if r.escalation[level - 1] == "county" else region[:4] + "00"
                events.record(
                    session,
                    Event(
                        b.id,
                        "escalated",
                        "system",
                        rec.id,
                        detail={"to": r.escalation[level - 1], "region": to, "level": level},
                    ),
                )
                counts["escalated"] += 1
        if (
            rec.status == RecipientStatus.evacuated
            and not rec.fake_evacuation
            and not check_evidence(session, rec, now)
        ):
            counts["fake"] += 1
    return counts
