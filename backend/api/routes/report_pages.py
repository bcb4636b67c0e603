"""The supervision pages for regulators: the dashboard of a jurisdiction (/supervision) and the
report a bureau prints and sends upward (/supervision/report), both from report.py's figures.

Each reads as the signed-in user: a regulator sees its own jurisdiction by default and may pick a
region inside it and a year or a month; another jurisdiction reads as missing (404 page), as it
does for the JSON, the workbook and the PDF (report.check_jurisdiction). Enterprise users have no
supervision figures (403 page).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from backend.accounts.users import SignedIn
from backend.api.deps import SessionDep
from backend.api.errors import status_of
from backend.api.report_print import report_html
from backend.api.routes.pages import NO_STORE, page_caller, render
from backend.core.clock import china_day
from backend.core.principal import Scope
from backend.domain.errors import DomainError, NotFound
from backend.domain.rules_models import risk_levels
from backend.models import Region
from backend.supervision import report, service

router = APIRouter(tags=["pages"], include_in_schema=False)

ADCODE = re.compile(r"^\d{6}$")
PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]))?$")
YEAR = re.compile(r"^\d{4}$")
MONTH = re.compile(r"^(|[1-9]|1[0-2]|0[1-9])$")
PROVINCE = "220000"
UNGRADED_HEX = "#bdbdbd"
LEVEL_INDENT = {"province": "", "prefecture": "\u3000", "county": "\u3000\u3000"}


CLOSED = "监管统计仅对监管部门开放。"


def _choice(
    signed: SignedIn,
    jurisdiction: str | None,
    period: str | None,
    year: str | None,
    month: str | None,
) -> tuple[str, str] | Response:
    """The jurisdiction (the user's own by default) and the period (`period`, or the form's year
    and month; this year by default), or a 422 page saying which is wrong."""
    jurisdiction = (jurisdiction or "").strip() or signed.org.region_adcode or PROVINCE
    if not ADCODE.match(jurisdiction):
        return render("error.html", "参数错误", signed, 422, detail="地区代码应为 6 位数字（如 220283）。")
    if not period:
        year = (year or "").strip() or str(china_day().year)
        month = (month or "").strip()
        if not YEAR.match(year) or not MONTH.match(month):
            return render("error.html", "参数错误", signed, 422, detail="年份应为 4 位数字，月份应为 1 至 12。")
        period = f"{year}-{int(month):02d}" if month else year
    if not PERIOD.match(period):
        return render("error.html", "参数错误", signed, 422, detail="统计期间应为年份（如 2026）或年月（如 2026-07）。")
    return jurisdiction, period


def _report(session: SessionDep, signed: SignedIn, jurisdiction: str, period: str) -> dict[str, Any] | Response:
    """report.py's figures for the page, or the page saying why not (404: not the user's region)."""
    try:
        return report.supervision_report(session, jurisdiction, period, china_day())
    except DomainError as exc:
        code = status_of(exc)
        if isinstance(exc, NotFound):
            detail = f"未找到地区 {jurisdiction}，或不在您的管辖范围内。"
            return render("error.html", "未找到", signed, code, detail=detail)
        return render(
            "error.html",
            "参数错误",
            signed,
            code,
            detail=f"统计期间应为 {report.MIN_YEAR} 至 {report.MAX_YEAR} 年之间的年份或年月。",
        )


def _regions(session: SessionDep, signed: SignedIn) -> list[dict[str, str]]:
    """The regions the user may pick: its own and those inside it, indented by level."""
    caller = signed.principal
    q = select(Region.adcode, Region.name, Region.level).order_by(Region.adcode)
    if caller.scope == Scope.region:
        q = q.where(Region.adcode.like(f"{caller.region}%"))
    return [
        {"adcode": code, "label": LEVEL_INDENT.get(level, "") + name} for code, name, level in session.execute(q).all()
    ]


def month_chart(by_month: list[dict[str, int]], width: int = 640, height: int = 220) -> dict[str, Any]:
    """Planned against done by month as the geometry of an SVG bar chart (drawn by the template,
    no script): two bars per month on a scale rounded up to four whole ticks."""
    left, right, top, bottom = 36, 8, 10, 26
    top_value = max([1, *(m["planned"] for m in by_month), *(m["done"] for m in by_month)])
    step = math.ceil(top_value / 4)
    scale = step * 4
    inner_h = height - top - bottom
    group = (width - left - right) / max(len(by_month), 1)
    bar = min(group * 0.36, 40)

    def y(v: int) -> float:
        return round(top + inner_h * (1 - v / scale), 1)

    def box(x: float, v: int) -> tuple[float, float, float, float]:
        """x, y, width, height of a bar of value v."""
        return (round(x, 1), y(v), round(bar, 1), round(top + inner_h - y(v), 1))

    bars = []
    for i, m in enumerate(by_month):
        x0 = left + i * group + (group - 2 * bar - 2) / 2
        bars.append(
            {
                **m,
                "label_x": round(left + (i + 0.5) * group, 1),
                "planned_box": box(x0, m["planned"]),
                "done_box": box(x0 + bar + 2, m["done"]),
            }
        )
    ticks = [{"value": step * k, "y": y(step * k)} for k in range(5)]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "base": top + inner_h,
        "bars": bars,
        "ticks": ticks,
    }


def _links(jurisdiction: str, period: str) -> dict[str, str]:
    q = urlencode({"jurisdiction": jurisdiction, "period": period})
    return {
        "back": f"/supervision?{q}",
        "report": f"/supervision/report?{q}",
        "pdf": f"/api/v1/reports/supervision.pdf?{q}",
        "xlsx": f"/api/v1/reports/supervision.xlsx?{q}",
    }


@router.get("/supervision", response_class=HTMLResponse)
def dashboard(
    request: Request,
    session: SessionDep,
    jurisdiction: str | None = None,
    period: str | None = None,
    year: str | None = None,
    month: str | None = None,
) -> Response:
    """监管统计: planned against done by month, sites overdue by colour (each linked to its page),
    hazards found per inspection, fines, enforcement actions by kind, and inspectors' workload."""
    signed = page_caller(request, session, regulators_only=True, closed=CLOSED)
    if isinstance(signed, Response):
        return signed
    chosen = _choice(signed, jurisdiction, period, year, month)
    if isinstance(chosen, Response):
        return chosen
    jurisdiction, period = chosen
    data = _report(session, signed, jurisdiction, period)
    if isinstance(data, Response):
        return data
    hexes = {lv.color: lv.hex for lv in risk_levels().levels}
    overdue = [
        {**o, "hex": hexes.get(o["colour"], UNGRADED_HEX)}
        for o in data["overdue"]
        if o["colour"] != "none" or o["sites"]  # the four colours always, 未定级 only when it has sites
    ]
    sites, _ = service.site_facts(session, jurisdiction, datetime.now(UTC))  # once, for both lists below
    this_year = china_day().year
    chosen_year = int(period[:4])
    years = sorted({*range(this_year - 3, this_year + 2), chosen_year})
    return render(
        "supervision.html",
        f"监管统计 · {data['name']}",
        signed,
        r=data,
        chart=month_chart(data["by_month"]),
        overdue=overdue,
        overdue_total=sum(len(o["sites"]) for o in data["overdue"]),
        rate=f"{data['done'] / data['planned']:.1%}" if data["planned"] else "—",
        regions=_regions(session, signed),
        years=years,
        chosen_year=chosen_year,
        chosen_month=int(period[5:]) if len(period) > 4 else None,
        links=_links(jurisdiction, period),
        key=[
            {"site": k.facts, "per_year": k.per_year, "reasons": k.reasons, "hex": hexes.get(k.facts.colour or "")}
            for k in service.key_sites(sites)
        ],
        region_names=service.region_names(session),
        team=service.team_strength(session, jurisdiction, chosen_year, sites),
        colour_hex={**hexes, "none": UNGRADED_HEX},
        colour_zh=report.COLOUR_NAME,
    )


@router.get("/supervision/report", response_class=HTMLResponse)
def printable_report(
    request: Request, session: SessionDep, jurisdiction: str | None = None, period: str | None = None
) -> Response:
    """The monthly or annual report as a printable page (the PDF's template, with a toolbar that
    the print leaves out)."""
    signed = page_caller(request, session, regulators_only=True, closed=CLOSED)
    if isinstance(signed, Response):
        return signed
    chosen = _choice(signed, jurisdiction, period, None, None)
    if isinstance(chosen, Response):
        return chosen
    data = _report(session, signed, *chosen)
    if isinstance(data, Response):
        return data
    html = report_html(data, for_pdf=False, links=_links(*chosen))
    return HTMLResponse(html, headers=NO_STORE)
