"""Alarms: list, acknowledge, close, and the map's live Server-Sent Events stream (alarm changes,
and the flood-season broadcasts' changes beside them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.alarms import lifecycle
from backend.api.deps import Duty, ReadAccess, SessionDep, stream_access
from backend.api.edge import IdPath, StrictJSONRoute
from backend.api.notifications import Addressed, Channel
from backend.api.responses import Number, Out
from backend.api.routes.broadcasts import broadcast_channel
from backend.core.db import session_factory
from backend.core.limits import INT4_MAX
from backend.core.principal import Principal
from backend.domain.levels import level_of
from backend.models import AlarmEvent

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"], route_class=StrictJSONRoute)

OPEN = lifecycle.OPEN
SELECT = """
    SELECT a.id, a.key, a.kind, a.color, a.state, a.value, a.threshold, a.message, a.raised_at, a.updated_at,
           a.acknowledged_at, a.acknowledged_by, a.ack_comment, a.cleared_at, a.closed_at, a.gateway_id,
           s.code AS site, s.name AS site_name, se.code AS sensor, se.kind AS sensor_kind, se.unit,
           se.location_label
    FROM alarms a JOIN sites s ON s.id = a.site_id LEFT JOIN sensors se ON se.id = a.sensor_id"""


class AlarmOut(Out):
    """An alarm as the list, the detail, the transitions and the SSE stream give it."""

    id: int
    key: str
    kind: str
    color: str
    state: str
    value: Number | None
    threshold: Number | None
    message: str
    raised_at: str = Field(description="ISO 8601, like every instant here")
    updated_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    ack_comment: str | None
    cleared_at: str | None
    closed_at: str | None
    gateway_id: str | None
    site: str
    site_name: str
    sensor: str | None
    sensor_kind: str | None
    unit: str | None
    location_label: str | None
    level: int = Field(description="1 red … 4 blue")


class AlarmEventOut(Out):
    at: str
    event: str
    state: str
    color: str | None
    value: Number | None
    actor: str | None
    comment: str | None


class AlarmDetailOut(AlarmOut):
    events: list[AlarmEventOut] = Field(description="its history, oldest first")


def alarm_out(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    for k in ("raised_at", "updated_at", "acknowledged_at", "cleared_at", "closed_at"):
        d[k] = d[k].isoformat() if d[k] else None
    d["level"] = level_of(d["color"])
    return d


def fetch_alarm(session: Session, alarm_id: int) -> dict[str, Any] | None:
    row = session.execute(text(SELECT + " WHERE a.id = :id"), {"id": alarm_id}).first()
    return alarm_out(row) if row else None


@router.get("", dependencies=[ReadAccess], response_model=list[AlarmOut])
def list_alarms(
    session: SessionDep,
    state: Literal["active", "raised", "acknowledged", "cleared", "closed", "all"] = "active",
    site: Annotated[str | None, Query(max_length=48)] = None,
    color: Annotated[list[Literal["red", "orange", "yellow", "blue"]] | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Alarms, newest first; `active` means raised or acknowledged."""
    where, params = [], {"limit": limit}
    if state != "all":
        where.append("a.state = ANY(:states)")
        params["states"] = list(OPEN) if state == "active" else [state]
    if site:
        where.append("s.code = :site")
        params["site"] = site
    if color:
        where.append("a.color = ANY(:colors)")
        params["colors"] = list(color)
    if kind:
        where.append("a.kind = :kind")
        params["kind"] = kind
    sql = (
        SELECT
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY a.updated_at DESC, a.id DESC LIMIT :limit"
    )
    return [alarm_out(r) for r in session.execute(text(sql), params)]


def alarm_events(notes: list[dict[str, Any]]) -> list[str | Addressed]:
    """The SSE text for a batch of alarm notifications: one query for the batch, run once by the
    shared listener whatever the number of streams (as the platform: each text is addressed to its
    site's region and enterprise, and the channel sends it only to listeners whose jurisdiction
    holds it)."""
    ids = sorted({n["id"] for n in notes if isinstance(n.get("id"), int) and 0 < n["id"] <= INT4_MAX})
    if not ids:
        return []
    query = text(
        "SELECT q.*, s.region_adcode AS _region, s.enterprise_id AS _enterprise FROM ("
        + SELECT
        + " WHERE a.id = ANY(:ids)) q JOIN sites s ON s.code = q.site"
    )
    with session_factory()() as session:
        rows = {r.id: r for r in session.execute(query, {"ids": ids})}
    out: list[str | Addressed] = []
    for note in notes:
        row = rows.get(note.get("id"))  # type: ignore[arg-type]
        if row:
            alarm = {k: v for k, v in alarm_out(row).items() if not k.startswith("_")}
            data = json.dumps(alarm | {"event": note.get("event")}, ensure_ascii=False)
            out.append(Addressed(f"id: {alarm['id']}\nevent: alarm\ndata: {data}\n\n", row._region, row._enterprise))
    return out


@cache
def alarm_channel() -> Channel:
    return Channel("riskmap_alarms", alarm_events)


@router.get("/stream")
async def stream(request: Request, listener: Annotated[Principal, Depends(stream_access)]) -> StreamingResponse:
    """Server-Sent Events: one `alarm` event per alarm change and one `broadcast` event per
    broadcast changed (issued, answered, escalated, superseded, cancelled, expired …), as each is
    committed (LISTEN/NOTIFY). A `broadcast` event carries the broadcast as
    GET /api/v1/broadcasts/{id} gives it to the listener (its recipients within the listener's
    jurisdiction; without its events and deliveries), with `events`, its steps since the last
    push, and `event`, the latest.

    A stream holds no database connection and runs no query: the process's one listener renders
    each change once and hands it to the streams whose listener's jurisdiction holds its site. The
    caller is the signed-in user (the session cookie, which EventSource sends) or a token in the
    Authorization header; without either, the stream is open only when RISKMAP_PUBLIC_MAP = sites."""

    async def events() -> AsyncIterator[str]:
        queue = alarm_channel().subscribe(listener)
        broadcast_channel().subscribe(listener, queue)
        try:
            yield "retry: 2000\n: connected\n\n"
            while not await request.is_disconnected():
                try:
                    yield await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            alarm_channel().unsubscribe(queue)
            broadcast_channel().unsubscribe(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{alarm_id}", dependencies=[ReadAccess], response_model=AlarmDetailOut)
def get_alarm(alarm_id: IdPath, session: SessionDep) -> dict[str, Any]:
    alarm = fetch_alarm(session, alarm_id)
    if alarm is None:
        raise HTTPException(404, f"no alarm {alarm_id}")
    alarm["events"] = [
        {
            "at": e.at.isoformat(),
            "event": e.event,
            "state": e.state,
            "color": e.color,
            "value": e.value,
            "actor": e.actor,
            "comment": e.comment,
        }
        for e in session.scalars(
            select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.at, AlarmEvent.id)
        )
    ]
    return alarm


class AlarmAction(BaseModel):
    comment: str = Field("", max_length=500)


def _transition(session: Session, alarm_id: int, move: Callable[[], object]) -> dict[str, Any]:
    """One operator transition (backend/alarms/lifecycle.py), then the alarm; its refusals
    (AlarmNotFound, AlarmStateError) reach the client through backend/api/errors.py."""
    move()
    session.commit()
    alarm = fetch_alarm(session, alarm_id)
    assert alarm is not None
    return alarm


@router.post("/{alarm_id}/ack", response_model=AlarmOut)
def acknowledge(alarm_id: IdPath, session: SessionDep, caller: Duty, body: AlarmAction | None = None) -> dict[str, Any]:
    """Acknowledge a raised alarm (operator): who, when and why are kept."""
    comment = (body or AlarmAction()).comment
    return _transition(
        session, alarm_id, lambda: lifecycle.acknowledge(session, alarm_id, caller.actor, caller.name, comment)
    )


@router.post("/{alarm_id}/close", response_model=AlarmOut)
def close(alarm_id: IdPath, session: SessionDep, caller: Duty, body: AlarmAction | None = None) -> dict[str, Any]:
    """Close a cleared alarm (operator), ending its life."""
    comment = (body or AlarmAction()).comment
    return _transition(session, alarm_id, lambda: lifecycle.close(session, alarm_id, caller.actor, comment))
