"""Enterprises: read one, and change its name or status (operator). Its credit list (黑名单 / 红名单)
is derived from the entries of /api/v1/credit-lists (backend/supervision/credit.py), never set here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from backend.api.deps import Operator, ReadAccess, SessionDep
from backend.api.edge import StrictJSONRoute
from backend.api.responses import Out
from backend.domain.kinds import EnterpriseStatus
from backend.models import Enterprise, Site
from backend.risk.engine import regrade_enterprise

router = APIRouter(prefix="/api/v1/enterprises", tags=["enterprises"], route_class=StrictJSONRoute)
CreditCodePath = Annotated[str, Path(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")]


class EnterpriseOut(Out):
    credit_code: str = Field(description="统一社会信用代码")
    name: str
    industry: str
    status: str
    region_adcode: str
    credit_list: str = Field(description="none, black or red: derived from the credit-list entries in force")
    sites: list[str] = Field(description="its sites' codes")


def _out(session: Any, e: Enterprise) -> dict[str, Any]:
    sites = session.scalars(select(Site.code).where(Site.enterprise_id == e.id).order_by(Site.code)).all()
    return {
        "credit_code": e.credit_code,
        "name": e.name,
        "industry": e.industry,
        "status": e.status,
        "region_adcode": e.region_adcode,
        "credit_list": e.credit_list,
        "sites": list(sites),
    }


def _get(session: Any, credit_code: str) -> Enterprise:
    e = session.scalar(select(Enterprise).where(Enterprise.credit_code == credit_code))
    if e is None:
        raise HTTPException(404, f"no enterprise with credit code {credit_code!r}")
    return e


@router.get("/{credit_code}", dependencies=[ReadAccess], response_model=EnterpriseOut)
def get_enterprise(credit_code: CreditCodePath, session: SessionDep) -> dict[str, Any]:
    return _out(session, _get(session, credit_code))


class EnterprisePatch(BaseModel):
    # credit_list is refused (422): listing goes through /api/v1/credit-lists with reason and decision
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=128)
    status: EnterpriseStatus | None = None


@router.patch("/{credit_code}", response_model=EnterpriseOut)
def amend_enterprise(
    credit_code: CreditCodePath, body: EnterprisePatch, session: SessionDep, caller: Operator
) -> dict[str, Any]:
    """Rename, suspend, close or reopen an enterprise (operator; audited)."""
    e = _get(session, credit_code)
    for field, value in body.model_dump(exclude_none=True).items():
        setattr(e, field, str(value))
    session.flush()
    regrade_enterprise(session, e.id)
    session.commit()
    return _out(session, e)
