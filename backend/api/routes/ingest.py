"""Operating the ingester: replay dead letters once their cause is fixed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from backend.api.deps import Operator, SessionDep
from ingest.replay import REPLAYABLE, ReplayFilter, replay

router = APIRouter(prefix="/api/v1/ingest", tags=["monitoring"])


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
    since: datetime | None = None,
    ids: Annotated[list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None, Query(max_length=1000)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> ReplayOut:
    """Run matching dead letters through validation and storage again (operator). Each is
    replayed at most once: readings are stored exactly once, and the replay is in the audit log."""
    session.info["actor"] = caller.actor
    report = replay(session, ReplayFilter(reason, gateway, since, tuple(ids or ()), limit), datetime.now(UTC))
    session.commit()
    return ReplayOut(**vars(report))
