"""The audit log: who changed what in the register, and when (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import select

from backend.api.deps import Admin, SessionDep
from backend.api.edge import StrictJSONRoute
from backend.api.responses import Out
from backend.models import AuditEntry

router = APIRouter(prefix="/api/v1", tags=["audit"], route_class=StrictJSONRoute)


class AuditOut(Out):
    id: int
    at: str
    actor: str
    action: str = Field(description="insert | update | delete | or a verb")
    entity: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@router.get("/audit", response_model=list[AuditOut])
def list_audit(
    session: SessionDep,
    caller: Admin,
    entity: Annotated[str | None, Query(max_length=32)] = None,
    key: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if key:
        query = query.where(AuditEntry.entity_key == key)
    return [
        {
            "id": a.id,
            "at": a.at.isoformat(),
            "actor": a.actor,
            "action": a.action,
            "entity": a.entity,
            "key": a.entity_key,
            "before": a.before,
            "after": a.after,
        }
        for a in session.scalars(query)
    ]
