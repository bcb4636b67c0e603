"""Sample inspections for the demo: the sample province plan's visits of the past weeks carried out
(checklists answered, a few findings, one turned into a hidden hazard, a 责令限期整改), one under way
today and one still to do, so that /inspections shows the workflow at every stage.

Reproducible (a fixed seed), relative to the day it is loaded, and written through the inspection
workflow (backend/supervision/inspections.py: audited like any inspector's work). Loading twice
changes nothing.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from backend.core.clock import CHINA_TZ
from backend.domain.errors import DomainError
from backend.models import Inspection, InspectionPlan, PlanVersion, PlanVisit, Site
from backend.supervision import inspections as flow
from backend.supervision.service import DEMO_JURISDICTION

NOTE = "示例数据：按年度检查计划开展的现场检查"
FINDINGS = {
    "coal_mine": "局部通风机未实现“三专两闭锁”",
    "noncoal_mine": "采场顶板浮石未及时处理",
    "tailings_pond": "坝面排水沟局部淤堵",
    "hazchem": "可燃气体报警器未按期检定",
}


def loaded(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(Inspection.note == NOTE))))


def _visits(session: Session, today: date, days: int) -> list[PlanVisit]:
    plan = session.execute(
        select(InspectionPlan.id, InspectionPlan.current_version).where(
            InspectionPlan.region_adcode == DEMO_JURISDICTION, InspectionPlan.period == str(today.year)
        )
    ).first()
    if plan is None:
        return []
    version = session.scalar(
        select(PlanVersion.id).where(PlanVersion.plan_id == plan.id, PlanVersion.version == plan.current_version)
    )
    return list(
        session.scalars(
            select(PlanVisit)
            .where(
                PlanVisit.version_id == version,
                PlanVisit.day >= today - timedelta(days=days),
                PlanVisit.day <= today + timedelta(days=7),
            )
            .order_by(PlanVisit.day, PlanVisit.id)
        )
    )


def load(session: Session, today: date, count: int = 24) -> int:
    """Carry out up to `count` past visits of the sample plan (none if already done); returns how
    many inspections were written."""
    if loaded(session):
        return 0
    rng = random.Random(2026)
    visits = _visits(session, today, 60)
    past = [v for v in visits if v.day < today]
    coming = [v for v in visits if v.day >= today]
    chosen = rng.sample(past, min(count, len(past))) if past else []
    written = 0
    for n, visit in enumerate(sorted(chosen, key=lambda v: (v.day, v.id))):
        try:
            with session.begin_nested():
                _carry_out(session, visit, rng, with_hazard=n == 0, with_order=n == 1)
            written += 1
        except DomainError:  # a visit the rules no longer allow (e.g. an inspector since in conflict)
            continue
    for visit, started in zip(coming[:2], (True, False), strict=False):
        try:
            with session.begin_nested():
                i = _create(session, visit)
                if started:
                    flow.start(session, i)
            written += 1
        except DomainError:
            continue
    return written


def _create(session: Session, visit: PlanVisit) -> Inspection:
    code = session.scalar(select(Site.code).where(Site.id == visit.site_id))
    assert code is not None
    return flow.create(session, code, visit.day, "plan", list(visit.inspectors), visit.id, None, NOTE)


def _carry_out(session: Session, visit: PlanVisit, rng: random.Random, with_hazard: bool, with_order: bool) -> None:
    i = _create(session, visit)
    flow.start(session, i)
    items = [c["id"] for c in i.checklist]
    failed = items[0] if (with_hazard or with_order or rng.random() < 0.25) else None
    answers = {k: ("finding" if k == failed else "ok", "现场抽查发现问题" if k == failed else "") for k in items}
    findings = []
    if failed:
        kind = session.scalar(select(Site.kind).where(Site.id == visit.site_id))
        findings = [{"title": FINDINGS.get(str(kind), "安全管理制度落实不到位"), "major": False, "item": failed}]
    flow.fill(session, i, answers, findings)
    if with_hazard and findings:
        due = datetime.combine(visit.day + timedelta(days=30), time(23, 59), CHINA_TZ).astimezone(UTC)
        flow.finding_to_hazard(session, i, 0, due)
    if with_order and findings:
        flow.decide(
            session,
            i,
            "rectify_by_deadline",
            f"（示例）应急责改〔{visit.day.year}〕{visit.id}号",
            deadline=visit.day + timedelta(days=15),
        )
    flow.complete(session, i)
    i.completed_at = datetime.combine(visit.day, time(16, 0), CHINA_TZ).astimezone(UTC)
