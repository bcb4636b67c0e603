"""The one home of broadcast events: every step of a broadcast's life (issued, queued,
delivered, acknowledged, escalated, expired, cancelled …) is written here and nowhere else.

No NOTIFY goes with them today (the map polls the broadcasts); when one is wanted, it is added
in `record` and every step gets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from backend.models import BroadcastEvent


@dataclass(frozen=True)
class Event:
    """One step of a broadcast (or of one recipient of it)."""

    broadcast_id: int
    event: str
    actor: str = "system"
    recipient_id: int | None = None
    channel: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def record(session: Session, *events: Event) -> None:
    """Write the events in the session's transaction, in order, in one statement."""
    if not events:
        return
    session.execute(
        insert(BroadcastEvent),
        [
            {
                "broadcast_id": e.broadcast_id,
                "recipient_id": e.recipient_id,
                "event": e.event,
                "channel": e.channel,
                "actor": e.actor,
                "detail": e.detail,
            }
            for e in events
        ],
    )
