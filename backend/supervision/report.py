"""The supervision report of a jurisdiction for a year or a month: planned against done by month,
sites overdue for a visit by colour, hazards found per inspection, fines and enforcement actions,
and each inspector's workload; as JSON and as an .xlsx workbook in the layout sent upward.

Planned visits are those of each plan's current version (a yearly plan where the region has one,
else its monthly plans), so a regenerated plan is counted once.

This is the one source of the figures: the JSON, the workbook, the dashboard page, the printable page
and the PDF all read this dict. It also decides who may have it: a caller bound to a region (a
county's or a prefecture's user) gets the report of its own region or of one inside it, and any other
jurisdiction reads as missing (404), as a row of another county does.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import date, datetime, time
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.core.clock import CHINA_TZ
from backend.core.jurisdiction import as_platform, bound
from backend.core.principal import Scope
from backend.domain.errors import Invalid, NotFound
from backend.domain.kinds import region_prefix
from backend.models import (
    EnforcementAction,
    Inspection,
    InspectionPlan,
    Inspector,
    Organisation,
    PlanVersion,
    PlanVisit,
    Region,
    Site,
    SiteRisk,
)
from backend.supervision.inspections import ACTION_ZH
from backend.supervision.plan import COLOUR_ZH, Period
from backend.supervision.service import region

MIN_YEAR, MAX_YEAR = 2000, 2100  # a report's period: a year 0000 or 9999 is a typing error, not a date
COLOURS = ["red", "orange", "yellow", "blue", "none"]
COLOUR_NAME = {**{c.value: f"{z}色" for c, z in COLOUR_ZH.items()}, "none": "未定级"}


def _enclosing(jurisdiction: str) -> set[str]:
    """The adcodes of the province and prefecture over `jurisdiction` (and itself)."""
    return {jurisdiction[:2] + "0000", jurisdiction[:4] + "00", jurisdiction}


def _planned(session: Session, jurisdiction: str, period: Period) -> list[tuple[int, date, list[str]]]:
    """The planned visits to the sites of `jurisdiction`: from the plans of its own region, of the
    regions inside it, and of the prefecture and province over it (a province-wide plan plans a
    county's sites too). A site planned by several is counted from the most local one, and a region
    with a yearly plan is counted from that, not from its monthly plans."""
    prefix = region_prefix(jurisdiction)
    plans = session.scalars(
        select(InspectionPlan).where(
            or_(
                InspectionPlan.region_adcode.like(f"{prefix}%"),
                InspectionPlan.region_adcode.in_(_enclosing(jurisdiction)),
            ),
            InspectionPlan.period.like(f"{period.year}%"),
            InspectionPlan.current_version > 0,
        )
    ).all()
    yearly = {p.region_adcode for p in plans if len(p.period) == 4}
    chosen = [p for p in plans if len(p.period) == 4 or p.region_adcode not in yearly]
    if not chosen:
        return []
    current = {(p.id, p.current_version): p for p in chosen}
    depth = {
        vid: len(region_prefix(current[(pid, n)].region_adcode))
        for vid, pid, n in session.execute(
            select(PlanVersion.id, PlanVersion.plan_id, PlanVersion.version).where(
                PlanVersion.plan_id.in_([p.id for p in chosen])
            )
        )
        if (pid, n) in current
    }
    rows = session.execute(
        select(PlanVisit.site_id, PlanVisit.day, PlanVisit.inspectors, PlanVisit.version_id)
        .join(Site, Site.id == PlanVisit.site_id)
        .where(PlanVisit.version_id.in_(list(depth)), Site.region_adcode.like(f"{prefix}%"))
    ).all()
    nearest: dict[int, int] = {}
    for sid, _, _, vid in rows:
        nearest[sid] = max(nearest.get(sid, 0), depth[vid])
    return [
        (sid, day, list(insp))
        for sid, day, insp, vid in rows
        if depth[vid] == nearest[sid] and day.month in period.months
    ]


def check_jurisdiction(session: Session, jurisdiction: str) -> None:
    """NotFound unless the caller bound to `session` may have `jurisdiction`'s report: the platform
    (or an unbound session: the CLI, the benchmark) any region, a regulator its own region and those
    inside it, nobody else. Row-level security would only empty another county's figures; a report
    titled with that county's bureau must not be made at all."""
    caller = bound(session)
    if caller is None or caller.scope == Scope.all:
        return
    if caller.scope == Scope.region and caller.region and region_prefix(jurisdiction).startswith(caller.region):
        return
    raise NotFound(f"no region {jurisdiction!r} in your jurisdiction")


def bureau_name(session: Session, jurisdiction: str, region_name: str) -> str:
    """The jurisdiction's 应急管理 bureau as registered (吉林省应急管理厅, 舒兰市应急管理局 …)."""
    name = session.scalar(
        select(Organisation.name)
        .where(Organisation.kind == "bureau", Organisation.region_adcode == jurisdiction)
        .order_by(Organisation.id)
        .limit(1)
    )
    return name or f"{region_name}应急管理{'厅' if jurisdiction.endswith('0000') else '局'}"


def period_zh(period: Period) -> str:
    return f"{period.year}年{period.month}月" if period.month else f"{period.year}年"


def supervision_report(session: Session, jurisdiction: str, period_text: str, today: date) -> dict[str, Any]:
    try:
        period = Period.parse(period_text)
    except ValueError as exc:
        raise Invalid(str(exc), "period") from None
    if not MIN_YEAR <= period.year <= MAX_YEAR:
        raise Invalid(f"period: a year from {MIN_YEAR} to {MAX_YEAR}", "period")
    check_jurisdiction(session, jurisdiction)
    name = region(session, jurisdiction).name
    prefix = region_prefix(jurisdiction)
    # The plans over the jurisdiction (a province-wide one) are not the caller's rows; their visits
    # to the jurisdiction's own sites are its figures: read as the platform, for those sites only.
    with as_platform(session, "supervision-report"):
        planned = _planned(session, jurisdiction, period)
    start = date(period.year, period.months[0], 1)
    end = date(period.year + (period.months[-1] == 12), period.months[-1] % 12 + 1, 1)
    # the period in China time: a decision at 00:30 on 1 January (CST) is the new year's
    start_at, end_at = (datetime.combine(d, time(), CHINA_TZ) for d in (start, end))
    # Done and decided at the jurisdiction's sites, whoever supervises them (a prefecture's coal mine
    # in a county counts in the county's report, as its planned visits do): by the site's region.
    done = session.execute(
        select(Inspection.site_id, Inspection.day, Inspection.inspectors, Inspection.findings)
        .join(Site, Site.id == Inspection.site_id)
        .where(
            Site.region_adcode.like(f"{prefix}%"),
            Inspection.state == "completed",
            Inspection.day >= start,
            Inspection.day < end,
        )
    ).all()
    actions = session.execute(
        select(EnforcementAction.kind, EnforcementAction.amount_yuan)
        .join(Site, Site.id == EnforcementAction.site_id)
        .where(
            Site.region_adcode.like(f"{prefix}%"),
            EnforcementAction.decided_at >= start_at,
            EnforcementAction.decided_at < end_at,
        )
    ).all()

    by_month = {m: {"month": m, "planned": 0, "done": 0} for m in period.months}
    for _, day, _ in planned:
        by_month[day.month]["planned"] += 1
    for _, day, _, _ in done:
        by_month[day.month]["done"] += 1

    due = Counter(sid for sid, day, _ in planned if day < today)
    visited = Counter(sid for sid, _, _, _ in done)
    overdue_ids = [sid for sid, n in due.items() if visited[sid] < n]
    colours = dict(
        session.execute(select(SiteRisk.site_id, SiteRisk.color).where(SiteRisk.site_id.in_(overdue_ids))).all()
    )
    sites = {
        sid: (code, site_name, county)
        for sid, code, site_name, county in session.execute(
            select(Site.id, Site.code, Site.name, Region.name)
            .join(Region, Region.adcode == Site.region_adcode)
            .where(Site.id.in_(overdue_ids))
        )
    }
    overdue: dict[str, list[dict[str, str]]] = defaultdict(list)
    for sid in overdue_ids:
        code, site_name, county = sites[sid]
        overdue[colours.get(sid) or "none"].append({"code": code, "name": site_name, "region": county})

    findings = [f for _, _, _, fs in done for f in fs]
    workload: dict[str, dict[str, Any]] = defaultdict(lambda: {"planned": 0, "done": 0})
    for _, _, inspectors in planned:
        for i in inspectors:
            workload[i]["planned"] += 1
    for _, _, inspectors, _ in done:
        for i in inspectors:
            workload[i]["done"] += 1
    names = dict(
        session.execute(
            select(Inspector.certificate_no, Inspector.name).where(Inspector.certificate_no.in_(list(workload)))
        ).all()
    )
    kinds = Counter(k for k, _ in actions)
    fines = [a for k, a in actions if k == "fine" and a]
    return {
        "jurisdiction": jurisdiction,
        "name": name,
        "bureau": bureau_name(session, jurisdiction, name),
        "period": period.label,
        "period_zh": period_zh(period),
        "as_of": today,
        "by_month": list(by_month.values()),
        "planned": len(planned),
        "done": len(done),
        "overdue": [
            {
                "colour": c,
                "colour_zh": COLOUR_NAME[c],
                "sites": sorted(o["code"] for o in overdue[c]),
                "site_details": sorted(overdue[c], key=lambda o: o["code"]),
            }
            for c in COLOURS
        ],
        "findings": len(findings),
        "major_findings": sum(1 for f in findings if f.get("major")),
        "hazards_reported": sum(1 for f in findings if f.get("hazard_id")),
        "findings_per_inspection": round(len(findings) / len(done), 2) if done else 0.0,
        "fines": len(fines),
        "fines_yuan": float(sum(fines)),
        "actions": [{"kind": k, "kind_zh": ACTION_ZH[k], "count": kinds[k]} for k in ACTION_ZH],
        "workload": [{"inspector": i, "name": names.get(i, ""), **w} for i, w in sorted(workload.items())],
    }


def xlsx(report: dict[str, Any]) -> bytes:
    """The report as a workbook: one sheet per table, titles and headers in Chinese."""
    wb = Workbook()
    title = f"{report['name']}安全生产监督检查情况统计表（{report['period']}）"

    def sheet(name: str, headers: list[str], rows: list[list[Any]], first: bool = False) -> None:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        ws.title = name
        ws.append([title])
        ws["A1"].font = Font(bold=True, size=14)
        ws.append([f"统计截至 {report['as_of'].isoformat()}"])
        ws.append(headers)
        for cell in ws[3]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="center")
        for row in rows:
            ws.append(row)
        for i, _ in enumerate(headers):
            ws.column_dimensions[chr(ord("A") + i)].width = 18

    months = report["by_month"]
    sheet(
        "按月完成情况",
        ["月份", "计划检查（次）", "完成检查（次）", "完成率"],
        [
            [f"{m['month']}月", m["planned"], m["done"], (m["done"] / m["planned"]) if m["planned"] else None]
            for m in months
        ]
        + [
            [
                "合计",
                report["planned"],
                report["done"],
                (report["done"] / report["planned"]) if report["planned"] else None,
            ]
        ],
        first=True,
    )
    for row in wb["按月完成情况"].iter_rows(min_row=4, min_col=4, max_col=4):
        row[0].number_format = "0.0%"
    sheet(
        "逾期未检查",
        ["风险等级", "逾期单位数", "单位编码"],
        [[o["colour_zh"], len(o["sites"]), "、".join(o["sites"])] for o in report["overdue"]],
    )
    sheet(
        "隐患与执法",
        ["项目", "数量"],
        [
            ["发现问题（项）", report["findings"]],
            ["其中重大事故隐患（项）", report["major_findings"]],
            ["转为隐患整改（项）", report["hazards_reported"]],
            ["每次检查发现问题（项）", report["findings_per_inspection"]],
            ["罚款（次）", report["fines"]],
            ["罚款金额（元）", report["fines_yuan"]],
            *[[a["kind_zh"] + "（次）", a["count"]] for a in report["actions"]],
        ],
    )
    sheet(
        "检查人员工作量",
        ["执法证号", "计划检查（次）", "完成检查（次）"],
        [[w["inspector"], w["planned"], w["done"]] for w in report["workload"]],
    )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
