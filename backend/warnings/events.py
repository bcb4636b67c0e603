"""The one home of broadcast events: every step of a broadcast's life (issued, queued,
delivered, acknowledged, escalated, expired, cancelled …) is written here and nowhere else.

Each call also announces the broadcasts it touched on PostgreSQL's `riskmap_broadcasts`
channel, in the same transaction (so delivered only if it commits): the map's live stream
pushes the broadcast to every open page instead of the page polling for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from backend.models import BroadcastEvent

CHANNEL = "riskmap_broadcasts"
# One notification per payload, however many; PostgreSQL folds identical ones in a transaction.
NOTIFY = text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p")


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
    """Write the events in the session's transaction, in order, in one statement, and announce
    each broadcast they touched once (with its steps, each named once)."""
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
    steps: dict[int, dict[str, None]] = {}  # each broadcast's steps, once each, in order
    for e in events:
        steps.setdefault(e.broadcast_id, {})[e.event] = None
    payloads = [json.dumps({"id": b, "events": list(evs)}) for b, evs in steps.items()]
    session.execute(NOTIFY, {"channel": CHANNEL, "payloads": payloads})
