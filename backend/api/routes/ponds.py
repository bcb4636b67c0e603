"""Tailings pond class overrides: the GB 50863-2013 §3.2.1 upgrade by one class, recorded by an
operator with the reason and withdrawn the same way; both go to the audit log and regrade the pond."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from backend.api.deps import Operator, SessionDep
from backend.api.edge import StrictJSONRoute
from backend.api.responses import Out
from backend.api.routes.sites import CodePath, site_or_404
from backend.domain.kinds import SiteKind
from backend.domain.rules_models import tailings_classes
from backend.domain.tailings import class_zh, pond_class
from backend.models import PondClassOverride, Site, SiteRisk, TailingsPond
from backend.risk.engine import regrade

router = APIRouter(prefix="/api/v1", tags=["risk"], route_class=StrictJSONRoute)


class OverrideIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, description="提等理由：溃坝将严重危及下游的城镇、工矿或交通干线")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give the reason for the upgrade")
        return value.strip()


def _pond(session: Session, code: str) -> tuple[Site, TailingsPond]:
    site = site_or_404(session, code)
    pond = session.get(TailingsPond, site.id)
    if site.kind != SiteKind.tailings_pond or pond is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{code} 不是尾矿库，不能提等")
    return site, pond


class GradedOut(Out):
    """The site's level after the change (all null when it could not be graded)."""

    level: int | None
    color: str | None
    pond_class: int | None
    reason: str | None


class OverrideOut(Out):
    site: str
    from_class: int
    to_class: int
    summary: str
    reason: str
    by: str
    at: str
    graded: GradedOut


class WithdrawnOut(Out):
    site: str
    withdrawn: bool
    graded: GradedOut


def _graded(session: Session, site: Site) -> dict[str, Any]:
    regrade(session, [site.id])
    risk = session.get(SiteRisk, site.id, populate_existing=True)  # written by regrade's own SQL
    if risk is None:
        return {"level": None, "color": None, "pond_class": None, "reason": None}
    pond = next((r for r in risk.reasons if r["rule"] == "tailings_pond"), None)
    return {
        "level": risk.level,
        "color": risk.color,
        "pond_class": pond["evidence"]["pond_class"] if pond else None,
        "reason": pond["summary"] if pond else None,
    }


@router.post("/sites/{code}/pond-class-override", status_code=201, response_model=OverrideOut)
def record_override(code: CodePath, body: OverrideIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """Raise a pond one class (operator): 409 for a 一等 pond or when an override is already recorded."""
    clause = tailings_classes().clause
    site, pond = _pond(session, code)
    if session.get(PondClassOverride, site.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{code} 已记录提等；如需更改，先撤销（DELETE）")
    klass = pond_class(pond.capacity_10k_m3, pond.dam_height_m)
    if klass == 1:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{code} 已是一等库，一等库不再提等（{clause}）")
    override = PondClassOverride(
        site_id=site.id, from_class=klass, to_class=klass - 1, reason=body.reason, created_by=caller.actor
    )
    session.add(override)
    session.flush()
    session.refresh(override)
    out = {
        "site": code,
        "from_class": klass,
        "to_class": klass - 1,
        "summary": f"依 {clause}由{class_zh(klass)}提为{class_zh(klass - 1)}",
        "reason": override.reason,
        "by": override.created_by,
        "at": override.created_at.isoformat(),
        "graded": _graded(session, site),
    }
    session.commit()
    return out


@router.delete("/sites/{code}/pond-class-override", response_model=WithdrawnOut)
def withdraw_override(code: CodePath, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """Withdraw a recorded upgrade (operator); the pond is graded from V and H again."""
    site, _ = _pond(session, code)
    override = session.get(PondClassOverride, site.id)
    if override is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{code} 没有已记录的提等")
    session.delete(override)
    session.flush()
    out = {"site": code, "withdrawn": True, "graded": _graded(session, site)}
    session.commit()
    return out
