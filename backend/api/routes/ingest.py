"""Operating the ingester: its dead letters, and replaying them once their cause is fixed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from backend.api.deps import Operator, SessionDep
from backend.api.edge import Instant, StrictJSONRoute
from backend.core.limits import INT8_MAX
from backend.models import DeadLetter
from ingest.replay import REPLAYABLE, ReplayFilter, replay

router = APIRouter(prefix="/api/v1/ingest", tags=["monitoring"], route_class=StrictJSONRoute)


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    gateway_id: str | None
    reading_index: int | None
    reason: str
    detail: str
    ingester: str
    payload: str  # as received (UTF-8, undecodable bytes replaced), at most 2,000 characters
    payload_size: int | None  # bytes received; the stored payload may be cut short
    replayable: bool
    replayed_at: datetime | None
    replay_result: str | None


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def dead_letters(
    session: SessionDep,
    caller: Operator,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    gateway: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterOut]:
    """Rejected messages and readings, newest first, with why and whether replayed (operator)."""
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if reason:
        query = query.where(DeadLetter.reason == reason)
    if gateway:
        query = query.where(DeadLetter.gateway_id == gateway)
    return [
        DeadLetterOut(
            id=d.id,
            received_at=d.received_at,
            topic=d.topic,
            gateway_id=d.gateway_id,
            reading_index=d.reading_index,
            reason=d.reason,
            detail=d.detail,
            ingester=d.ingester,
            payload=bytes(d.payload[:2000]).decode("utf-8", "replace"),
            payload_size=d.payload_size,
            replayable=d.reason in REPLAYABLE,
            replayed_at=d.replayed_at,
            replay_result=d.replay_result,
        )
        for d in session.scalars(query)
    ]


class ReplayOut(BaseModel):
    selected: int
    stored: int
    still_rejected: dict[str, int]
    not_replayable: int


@router.post("/dead-letters/replay", response_model=ReplayOut)
def replay_dead_letters(
    session: SessionDep,
    caller: Operator,
    reason: Annotated[str | None, Query(max_length=32, description=f"one of {', '.join(REPLAYABLE)}")] = None,
    gateway: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] = None,
    since: Instant | None = None,
    ids: Annotated[list[Annotated[int, Field(ge=1, le=INT8_MAX)]] | None, Query(max_length=1000)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> ReplayOut:
    """Run matching dead letters through validation and storage again (operator). Each is
    replayed at most once: readings are stored exactly once, and the replay is in the audit log."""
    report = replay(session, ReplayFilter(reason, gateway, since, tuple(ids or ()), limit), datetime.now(UTC))
    session.commit()
    return ReplayOut(**vars(report))
