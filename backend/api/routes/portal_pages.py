"""The pages people use day to day, beyond signing in: an enterprise's home page (its sites and
levels, open alarms, 叫应 to answer, open hidden hazards), the people register for regulators, and
one site's page.

Each page reads as the signed-in user (backend.core.jurisdiction.bind): row-level security in
PostgreSQL limits every query to the caller's jurisdiction, so a site of another county is simply
not found (a 404 page in Chinese), never shown.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import aliased

from backend.api.deps import SessionDep
from backend.api.routes.pages import local_time, page_caller, render
from backend.core.principal import Scope
from backend.domain.kinds import SITE_KIND_ZH, SiteKind
from backend.domain.rules_models import risk_levels
from backend.domain.states import OPEN_ALARM_STATES, BroadcastState, RecipientStatus
from backend.hazards.lifecycle import OPEN_STATES as OPEN_HAZARD_STATES
from backend.hazards.lifecycle import STATE_ZH as HAZARD_STATE_ZH
from backend.hazards.lifecycle import State as HazardState
from backend.models import (
    Alarm,
    Broadcast,
    DutyShift,
    Enterprise,
    HazardUnit,
    HiddenHazard,
    Person,
    Recipient,
    Site,
    SiteRisk,
)
from backend.people.register import DUTY_ZH, Duty, may_see_phones, shown

router = APIRouter(tags=["pages"], include_in_schema=False)

COLOR_ZH = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}
ACTION_ZH = {"evacuate": "停产撤人", "prepare": "做好防范准备", "allclear": "解除"}
RECIPIENT_ZH = {
    RecipientStatus.waiting: "待叫应",
    RecipientStatus.overdue: "已逾期",
    RecipientStatus.acknowledged: "已叫应",
    RecipientStatus.evacuated: "已撤人",
}
UNGRADED = {"name_zh": "无法定级", "colour_zh": "灰", "hex": "#bdbdbd", "color": "none"}


def _level(level: int | None) -> dict[str, Any]:
    """A level as the pages show it: its name and colour (an ungraded site is grey)."""
    for lv in risk_levels().levels:
        if lv.level == level:
            return {"name_zh": lv.name_zh, "colour_zh": lv.colour_zh, "hex": lv.hex, "color": lv.color}
    return UNGRADED


def _kind_zh(kind: str) -> str:
    try:
        return SITE_KIND_ZH[SiteKind(kind)]
    except ValueError:
        return kind


def _open_alarms(session: SessionDep, *where: Any) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Alarm, Site.code, Site.name)
        .join(Site, Site.id == Alarm.site_id)
        .where(Alarm.state.in_([s.value for s in OPEN_ALARM_STATES]), *where)
        .order_by(Alarm.raised_at.desc())
        .limit(200)
    ).all()
    return [
        {
            "id": a.id,
            "site_code": code,
            "site_name": name,
            "colour_zh": COLOR_ZH.get(a.color, a.color),
            "color": a.color,
            "message": a.message,
            "acknowledged": a.state == "acknowledged",
            "raised": local_time(a.raised_at),
        }
        for a, code, name in rows
    ]


def _open_hazards(session: SessionDep, *where: Any) -> list[dict[str, Any]]:
    rows = session.execute(
        select(HiddenHazard, Site.code, Site.name)
        .join(Site, Site.id == HiddenHazard.site_id)
        .where(HiddenHazard.state.in_(OPEN_HAZARD_STATES), *where)
        .order_by(HiddenHazard.major.desc(), HiddenHazard.found_at.desc())
        .limit(200)
    ).all()
    return [
        {
            "id": h.id,
            "title": h.title,
            "major": h.major,
            "state_zh": HAZARD_STATE_ZH[HazardState(h.state)],
            "site_code": code,
            "site_name": name,
            "deadline": local_time(h.deadline),
            "overdue": h.overdue_at is not None,
        }
        for h, code, name in rows
    ]


# --- an enterprise's home page ---------------------------------------------------------------


@router.get("/enterprise", response_class=HTMLResponse)
def enterprise_home(request: Request, session: SessionDep) -> Response:
    """What an enterprise's duty staff need on their phone: their sites' levels, open alarms, the
    叫应 waiting for their answer (answered in place, through the API), and open hidden hazards."""
    signed = page_caller(request, session)
    if isinstance(signed, Response):
        return signed
    caller = signed.principal
    if caller.scope != Scope.enterprise or caller.enterprise_id is None:
        return render("error.html", "无权访问", signed, 403, detail="企业首页仅对企业用户开放。")
    mine = Site.enterprise_id == caller.enterprise_id
    enterprise = session.get(Enterprise, caller.enterprise_id)
    sites = [
        {"code": s.code, "name": s.name, "kind_zh": _kind_zh(s.kind), "level": _level(level)}
        for s, level in session.execute(
            select(Site, SiteRisk.level)
            .outerjoin(SiteRisk, SiteRisk.site_id == Site.id)
            .where(mine)
            .order_by(Site.code)
        ).all()
    ]
    now = datetime.now(UTC)
    pending = session.execute(
        select(Recipient, Broadcast, Site.code, Site.name)
        .join(Broadcast, Broadcast.id == Recipient.broadcast_id)
        .join(Site, Site.id == Recipient.site_id)
        .where(
            mine,
            Broadcast.state == BroadcastState.active,
            Broadcast.expires > now,
            Recipient.status.in_([RecipientStatus.waiting, RecipientStatus.overdue]),
        )
        .order_by(Recipient.deadline)
    ).all()
    to_answer = [
        {
            "broadcast": b.id,
            "site_code": code,
            "site_name": name,
            "headline": b.headline,
            "colour_zh": COLOR_ZH.get(b.color, b.color),
            "color": b.color,
            "action": b.action,
            "action_zh": ACTION_ZH.get(b.action, b.action),
            "exercise": b.status == "Exercise",
            "instruction": b.instruction,
            "status_zh": RECIPIENT_ZH[RecipientStatus(r.status)],
            "overdue": r.status == RecipientStatus.overdue,
            "deadline": local_time(r.deadline),
        }
        for r, b, code, name in pending
    ]
    return render(
        "enterprise.html",
        "企业首页",
        signed,
        enterprise_name=enterprise.name if enterprise else signed.org.name,
        sites=sites,
        alarms=_open_alarms(session, mine),
        to_answer=to_answer,
        hazards=_open_hazards(session, mine),
    )


# --- the people register ---------------------------------------------------------------------

CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
SITE_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,48}$")
PEOPLE_SHOWN = 500


@router.get("/people", response_class=HTMLResponse)
def people_page(
    request: Request,
    session: SessionDep,
    enterprise: Annotated[str, Query(max_length=64)] = "",
    site: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The people of the jurisdiction (主要负责人, 安全负责人, 包保责任人), phones masked by the same
    rule as the API (backend.people.register.may_see_phones), filtered by enterprise or site; and
    the duty roster of the user's own bureau for the coming week."""
    signed = page_caller(request, session)
    if isinstance(signed, Response):
        return signed
    caller = signed.principal
    if caller.scope == Scope.enterprise:
        return render("error.html", "无权访问", signed, 403, detail="人员名册仅对监管部门开放。")
    enterprise, site = enterprise.strip(), site.strip()
    if (enterprise and not CREDIT_CODE.match(enterprise)) or (site and not SITE_CODE.match(site)):
        return render(
            "error.html",
            "查询条件有误",
            signed,
            422,
            detail="企业须为 18 位统一社会信用代码，场所编码只能包含字母、数字和 -_.",
        )
    unit = aliased(HazardUnit)
    query = (
        select(Person, Enterprise.credit_code, Enterprise.name, Site.code, Site.name, unit.name)
        .join(Enterprise, Enterprise.id == Person.enterprise_id)
        .outerjoin(Site, Site.id == Person.site_id)
        .outerjoin(unit, unit.id == Person.hazard_unit_id)
        .order_by(Enterprise.credit_code, Site.code.nulls_first(), unit.code.nulls_first(), Person.duty, Person.id)
        .limit(PEOPLE_SHOWN + 1)
    )
    if enterprise:
        query = query.where(Enterprise.credit_code == enterprise)
    if site:
        query = query.where(Site.code == site)
    people = []
    for p, credit, enterprise_name, site_code, site_name, unit_name in session.execute(query):
        full = may_see_phones(caller, p.enterprise_id, p.region_adcode)
        people.append(
            {
                "name": p.name,
                "duty_zh": DUTY_ZH[Duty(p.duty)],
                "enterprise": credit,
                "enterprise_name": enterprise_name,
                "site": site_code,
                "site_name": site_name,
                "unit_name": unit_name,
                "mobile": shown(p.mobile, full),
                "landline": shown(p.landline, full),
                "masked": not full,
            }
        )
    enterprises = session.execute(
        select(Enterprise.credit_code, Enterprise.name)
        .where(select(Person.id).where(Person.enterprise_id == Enterprise.id).exists())
        .order_by(Enterprise.name)
        .limit(2000)
    ).all()
    now = datetime.now(UTC)
    roster = [
        {
            "name": s.name,
            "mobile": shown(s.mobile, may_see_phones(caller, None, s.region_adcode)),
            "starts": local_time(s.starts_at),
            "ends": local_time(s.ends_at),
            "now": s.starts_at <= now < s.ends_at,
        }
        for s in session.scalars(
            select(DutyShift)
            .where(
                DutyShift.org_id == signed.org.id,
                DutyShift.starts_at < now + timedelta(days=7),
                DutyShift.ends_at > now,
            )
            .order_by(DutyShift.starts_at)
            .limit(200)
        )
    ]
    return render(
        "people.html",
        "人员名册",
        signed,
        people=people[:PEOPLE_SHOWN],
        more=len(people) > PEOPLE_SHOWN,
        enterprises=[{"code": c, "name": n} for c, n in enterprises],
        chosen={"enterprise": enterprise, "site": site},
        roster=roster,
        bureau=signed.org.name,
    )


# --- one site --------------------------------------------------------------------------------

SitePath = Annotated[str, Path(max_length=64)]


@router.get("/sites/{code}", response_class=HTMLResponse)
def site_page(request: Request, session: SessionDep, code: SitePath) -> Response:
    """A site's level and its reasons (what would lower them), open alarms and open hidden hazards.
    A site outside the user's jurisdiction reads as missing (row-level security): 未找到, like a
    code that does not exist, so that the page tells nothing about it."""
    signed = page_caller(request, session)
    if isinstance(signed, Response):
        return signed
    found = session.execute(
        select(Site, Enterprise.name, SiteRisk)
        .join(Enterprise, Enterprise.id == Site.enterprise_id)
        .outerjoin(SiteRisk, SiteRisk.site_id == Site.id)
        .where(Site.code == code)
    ).one_or_none()
    if found is None:
        return render("error.html", "未找到", signed, 404, detail=f"未找到场所 {code}，或您无权查看。")
    site, enterprise_name, risk = found
    reasons = [
        {
            "summary": r.get("summary", ""),
            "basis": r.get("basis", ""),
            "level": _level(r.get("level")),
            "lower": [c.get("text", "") for c in r.get("lower") or []],
        }
        for r in (risk.reasons if risk else []) or []
    ]
    return render(
        "site.html",
        site.name,
        signed,
        site={"code": site.code, "name": site.name, "kind_zh": _kind_zh(site.kind), "enterprise": enterprise_name},
        level=_level(risk.level if risk else None),
        inherent=_level(risk.inherent_level if risk else None),
        graded=local_time(risk.graded_at) if risk else None,
        grading_error=risk.grading_error if risk else None,
        reasons=reasons,
        alarms=_open_alarms(session, Site.id == site.id),
        hazards=_open_hazards(session, Site.id == site.id),
    )
