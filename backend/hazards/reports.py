"""Lists, statistics and the Excel list bureaus send upward, within the caller's jurisdiction."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from backend.core.clock import CHINA_TZ
from backend.core.principal import Principal, Scope
from backend.hazards import criteria
from backend.hazards.lifecycle import OVERDUE_STATES, STATE_ZH, State
from backend.models import Enterprise, HiddenHazard, Organisation, Region, Site


@dataclass
class Filters:
    region: str | None = None  # GB/T 2260 code; a prefecture or the province includes its counties
    kind: list[str] | None = None
    grade: str | None = None  # major | general
    state: list[str] | None = None
    overdue: bool | None = None
    found_by: list[str] | None = None
    since: datetime | None = None  # found at or after
    until: datetime | None = None  # found before
    site: str | None = None


def region_prefix(adcode: str) -> str:
    return adcode[:2] if adcode.endswith("0000") else adcode[:4] if adcode.endswith("00") else adcode


def visible(query: Select[Any], p: Principal) -> Select[Any]:
    """Only the caller's jurisdiction (as row-level security does for the API's restricted role)."""
    if p.scope == Scope.all:
        return query
    if p.scope == Scope.region and p.region:
        return query.where(Site.region_adcode.like(f"{p.region}%"))
    if p.scope == Scope.enterprise and p.enterprise_id is not None:
        return query.where(Site.enterprise_id == p.enterprise_id)
    return query.where(False)


def overdue_clause(now: datetime) -> Any:
    return and_(HiddenHazard.state.in_([s.value for s in OVERDUE_STATES]), HiddenHazard.deadline < now)


def _filtered(q: Select[Any], p: Principal, f: Filters, now: datetime) -> Select[Any]:
    q = visible(q.join(Site, Site.id == HiddenHazard.site_id), p)
    if f.region:
        q = q.where(Site.region_adcode.like(f"{region_prefix(f.region)}%"))
    if f.kind:
        q = q.where(Site.kind.in_(f.kind))
    if f.grade:
        q = q.where(HiddenHazard.major.is_(f.grade == "major"))
    if f.state:
        q = q.where(HiddenHazard.state.in_(f.state))
    if f.overdue is not None:
        late = overdue_clause(now)
        q = q.where(late if f.overdue else or_(~late, HiddenHazard.deadline.is_(None)))
    if f.found_by:
        q = q.where(HiddenHazard.found_by.in_(f.found_by))
    if f.since:
        q = q.where(HiddenHazard.found_at >= f.since)
    if f.until:
        q = q.where(HiddenHazard.found_at < f.until)
    if f.site:
        q = q.where(Site.code == f.site)
    return q


def hazards(session: Session, p: Principal, f: Filters, now: datetime) -> Select[Any]:
    """The hazards matching the filters, each with its site, enterprise and region name, oldest first."""
    q = _filtered(select(HiddenHazard, Site, Enterprise, Region.name.label("region_name")), p, f, now)
    q = q.join(Enterprise, Enterprise.id == Site.enterprise_id).join(Region, Region.adcode == Site.region_adcode)
    return q.order_by(HiddenHazard.found_at, HiddenHazard.id)


def basis(h: HiddenHazard) -> str:
    """判定依据: the criteria item, or the regulator's reasoned decision; 一般隐患 has none."""
    if not h.major:
        return ""
    c = criteria.item(h.criterion) if h.criterion else None
    if c is not None:
        return c.basis
    return f"监管部门认定：{h.major_reason or ''}"


def rectification(h: HiddenHazard, now: datetime) -> str:
    """整改情况 as a bureau reports it."""
    if h.state == State.closed:
        return "已整改销号"
    if h.state in OVERDUE_STATES and h.deadline is not None and h.deadline < now:
        return f"逾期未整改（{STATE_ZH[State(h.state)]}）"
    return STATE_ZH[State(h.state)]


COLUMNS = (
    "序号",
    "企业名称",
    "所在地区",
    "隐患内容",
    "隐患等级",
    "判定依据",
    "整改措施",
    "责任人",
    "整改时限",
    "整改情况",
    "督办单位",
    "销号日期",
)


def _day(t: datetime | None) -> str:
    return t.astimezone(CHINA_TZ).strftime("%Y-%m-%d") if t else ""


def rows(session: Session, p: Principal, f: Filters, now: datetime) -> list[list[Any]]:
    """The export's rows, in the bureaus' layout (COLUMNS)."""
    orgs = {i: n for i, n in session.execute(select(Organisation.id, Organisation.name))}
    out = []
    for n, (h, _site, enterprise, region_name) in enumerate(session.execute(hazards(session, p, f, now)), 1):
        out.append(
            [
                n,
                enterprise.name,
                region_name,
                h.title + (f"：{h.description}" if h.description else ""),
                "重大隐患" if h.major else "一般隐患",
                basis(h),
                h.measures or "",
                h.responsible or "",
                _day(h.deadline),
                rectification(h, now),
                orgs.get(h.supervising_org_id, "") if h.supervising_org_id else "",
                _day(h.rectified_at),
            ]
        )
    return out


def workbook(session: Session, p: Principal, f: Filters, now: datetime, title: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "隐患排查治理清单"
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for row in rows(session, p, f, now):
        ws.append(row)
    for letter, width in zip("ABCDEFGHIJKL", (6, 28, 14, 40, 10, 48, 36, 10, 12, 16, 22, 12), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    wb.properties.title = title
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def stats(session: Session, p: Principal, f: Filters, by: str, now: datetime) -> list[dict[str, Any]]:
    """Found, rectified, rate, overdue and 挂牌督办 open/closed per county or per month."""
    closed = HiddenHazard.state == State.closed
    supervised = HiddenHazard.supervised_at.is_not(None)
    late = overdue_clause(now)
    group: Any = (
        Site.region_adcode
        if by == "county"
        else func.to_char(func.timezone("Asia/Shanghai", HiddenHazard.found_at), "YYYY-MM")
    )
    q = _filtered(
        select(
            group.label("key"),
            func.count().label("found"),
            func.count().filter(closed).label("rectified"),
            func.count().filter(late).label("overdue"),
            func.count().filter(HiddenHazard.major).label("major"),
            func.count().filter(and_(supervised, ~closed)).label("supervised_open"),
            func.count().filter(and_(supervised, closed)).label("supervised_closed"),
        ).select_from(HiddenHazard),
        p,
        f,
        now,
    ).group_by(group)
    names = {a: n for a, n in session.execute(select(Region.adcode, Region.name))} if by == "county" else {}
    out = []
    for r in session.execute(q.order_by(group)):
        out.append(
            {
                "key": r.key,
                "name": names.get(r.key, r.key),
                "found": r.found,
                "rectified": r.rectified,
                "rate": round(r.rectified / r.found, 4) if r.found else 0.0,
                "overdue": r.overdue,
                "major": r.major,
                "supervised_open": r.supervised_open,
                "supervised_closed": r.supervised_closed,
            }
        )
    return out
