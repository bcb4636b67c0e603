"""The supervision report of a jurisdiction for a year or a month: planned against done by month,
sites overdue for a visit by colour, hazards found per inspection, fines and enforcement actions,
and each inspector's workload; as JSON and as an .xlsx workbook in the layout sent upward.

Planned visits are those of each plan's current version (a yearly plan where the region has one,
else its monthly plans), so a regenerated plan is counted once.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.domain.errors import Invalid
from backend.domain.kinds import region_prefix
from backend.models import EnforcementAction, Inspection, InspectionPlan, PlanVersion, PlanVisit, Site, SiteRisk
from backend.supervision.inspections import ACTION_ZH
from backend.supervision.plan import COLOUR_ZH, Period
from backend.supervision.service import region

COLOURS = ["red", "orange", "yellow", "blue", "none"]
COLOUR_NAME = {**{c.value: f"{z}色" for c, z in COLOUR_ZH.items()}, "none": "未定级"}


def _planned(session: Session, prefix: str, period: Period) -> list[tuple[int, date, list[str]]]:
    plans = session.scalars(
        select(InspectionPlan).where(
            InspectionPlan.region_adcode.like(f"{prefix}%"),
            InspectionPlan.period.like(f"{period.year}%"),
            InspectionPlan.current_version > 0,
        )
    ).all()
    yearly = {p.region_adcode for p in plans if len(p.period) == 4}
    chosen = [p for p in plans if len(p.period) == 4 or p.region_adcode not in yearly]
    if not chosen:
        return []
    versions = select(PlanVersion.id).where(
        PlanVersion.plan_id.in_([p.id for p in chosen]),
        PlanVersion.version.in_({p.current_version for p in chosen}),
    )
    current = {(p.id, p.current_version) for p in chosen}
    ids = [
        vid
        for vid, pid, n in session.execute(
            select(PlanVersion.id, PlanVersion.plan_id, PlanVersion.version).where(PlanVersion.id.in_(versions))
        )
        if (pid, n) in current
    ]
    rows = session.execute(
        select(PlanVisit.site_id, PlanVisit.day, PlanVisit.inspectors).where(PlanVisit.version_id.in_(ids))
    ).all()
    return [(sid, day, list(insp)) for sid, day, insp in rows if day.month in period.months]


def supervision_report(session: Session, jurisdiction: str, period_text: str, today: date) -> dict[str, Any]:
    try:
        period = Period.parse(period_text)
    except ValueError as exc:
        raise Invalid(str(exc), "period") from None
    name = region(session, jurisdiction).name
    prefix = region_prefix(jurisdiction)
    planned = _planned(session, prefix, period)
    start = date(period.year, period.months[0], 1)
    end = date(period.year + (period.months[-1] == 12), period.months[-1] % 12 + 1, 1)
    done = session.execute(
        select(Inspection.site_id, Inspection.day, Inspection.inspectors, Inspection.findings).where(
            Inspection.region_adcode.like(f"{prefix}%"),
            Inspection.state == "completed",
            Inspection.day >= start,
            Inspection.day < end,
        )
    ).all()
    actions = session.execute(
        select(EnforcementAction.kind, EnforcementAction.amount_yuan).where(
            EnforcementAction.region_adcode.like(f"{prefix}%"),
            EnforcementAction.decided_at >= start,
            EnforcementAction.decided_at < end,
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
    codes = dict(session.execute(select(Site.id, Site.code).where(Site.id.in_(overdue_ids))).all())
    overdue: dict[str, list[str]] = defaultdict(list)
    for sid in overdue_ids:
        overdue[colours.get(sid) or "none"].append(codes[sid])

    findings = [f for _, _, _, fs in done for f in fs]
    workload: dict[str, dict[str, Any]] = defaultdict(lambda: {"planned": 0, "done": 0})
    for _, _, inspectors in planned:
        for i in inspectors:
            workload[i]["planned"] += 1
    for _, _, inspectors, _ in done:
        for i in inspectors:
            workload[i]["done"] += 1
    kinds = Counter(k for k, _ in actions)
    fines = [a for k, a in actions if k == "fine" and a]
    return {
        "jurisdiction": jurisdiction,
        "name": name,
        "period": period.label,
        "as_of": today,
        "by_month": list(by_month.values()),
        "planned": len(planned),
        "done": len(done),
        "overdue": [{"colour": c, "colour_zh": COLOUR_NAME[c], "sites": sorted(overdue[c])} for c in COLOURS],
        "findings": len(findings),
        "major_findings": sum(1 for f in findings if f.get("major")),
        "hazards_reported": sum(1 for f in findings if f.get("hazard_id")),
        "findings_per_inspection": round(len(findings) / len(done), 2) if done else 0.0,
        "fines": len(fines),
        "fines_yuan": float(sum(fines)),
        "actions": [{"kind": k, "kind_zh": ACTION_ZH[k], "count": kinds[k]} for k in ACTION_ZH],
        "workload": [{"inspector": i, **w} for i, w in sorted(workload.items())],
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
