"""A year of sample inspections consistent with the sample hidden hazards (backend/hazards/sample.py)
and the sample plan, so that the demo's supervision pages and reports have something true to show:

- every sample hazard found by a regulator (found_by 监管检查) has the inspection it came from: the
  same site, the same day (China time), two inspectors of the site's supervising team (or an enclosing
  one when it lacks free hands with the speciality), the finding linked to the hazard, and a
  责令限期整改 with the hazards' deadline; some 重大 ones are also fined, and where the enterprise is
  suspended the inspection that found its hazard ordered the 责令停产整顿;
- most visits of the province's sample plan before the load day are done by the plan's inspectors,
  with no finding or a finding closed on site; the rest are overdue, and next week's are planned;
- a few unscheduled inspections after a 12350 report.

Written straight to the tables with the rows backend/supervision/inspections.py writes (the models
are audited; the transitions it records by name are recorded here too), without a regrade: no status
changes. Reproducible (a fixed seed), relative to the load day; loading twice changes nothing. Needs
graded sites (the plan follows the colours): call it after the regrade that follows the hazards.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, insert, select
from sqlalchemy.orm import Session

from backend.core.clock import CHINA_TZ
from backend.domain.kinds import EnterpriseStatus, SiteKind
from backend.domain.rules_models import holidays
from backend.hazards import sample as sample_hazards
from backend.models import (
    AuditEntry,
    CoalMine,
    EnforcementAction,
    Enterprise,
    HiddenHazard,
    Inspection,
    InspectionPlan,
    NoncoalMine,
    PlanVersion,
    PlanVisit,
    Region,
    Site,
    TailingsPond,
)
from backend.models import Inspector as InspectorRow
from backend.supervision.inspections import COMPLETED, IN_PROGRESS, PLANNED, checklist_for
from backend.supervision.plan import SiteFacts, supervising_region
from backend.supervision.service import DEMO_JURISDICTION, ensure_demo_plan, supervision_rules

SEED = 2027
MARK = "示例数据："  # every sample inspection's note starts with it: how a second load knows
DONE_SHARE = 0.9  # of the plan's visits before the load day; the rest are overdue
ON_SITE_SHARE = 0.25  # of the done visits: one finding, closed on site
UNSCHEDULED = 6  # after a 12350 report
FINED_MAJORS = 5  # of the 8 重大 hazards
ON_SITE = {
    SiteKind.coal_mine: ["井下个别灭火器压力不足", "巷道局部照明灯具损坏", "作业规程学习记录签字不全"],
    SiteKind.noncoal_mine: ["安全警示标志局部脱落", "值班记录填写不全", "个别作业人员未佩戴安全帽"],
    SiteKind.tailings_pond: ["坝顶警示牌字迹模糊", "巡坝记录未及时签字", "监测设施防护栏局部松动"],
    SiteKind.hazchem: ["罐区个别灭火器未按期检查", "操作规程未张贴上墙", "应急器材柜标识不清"],
}
FINES = [20000.0, 30000.0, 50000.0]
DOC = {"rectify_by_deadline": "责改", "fine": "罚", "suspend_for_rectification": "停整"}


@dataclass
class _Site:
    id: int
    code: str
    kind: SiteKind
    county: str
    enterprise_id: int
    credit: str
    suspended: bool
    facts: SiteFacts


@dataclass
class _Team:
    """The rosters and who is busy on which day (the plan's visits and the inspections written)."""

    by_region: dict[str, list[InspectorRow]]
    busy: Counter[tuple[str, date]] = field(default_factory=Counter)

    def pick(
        self, rng: random.Random, site: _Site, day: date, start: str, need: int, per_day: int, spec: str
    ) -> tuple[str, list[str]] | None:
        """`need` inspectors with the speciality, free that day and without a conflict with the
        enterprise, from the supervising team or the nearest enclosing one; (region, certificates).
        None when the rosters have no one (a register loaded without the sample rosters)."""
        chain = list(dict.fromkeys([start, start[:4] + "00", start[:2] + "0000"]))
        for loose in (False, True):  # at worst an inspector does two inspections that day
            for region in chain:
                free = [
                    i.certificate_no
                    for i in self.by_region.get(region, [])
                    if spec in i.specialities
                    and i.active
                    and site.credit not in (i.conflicts or [])
                    and day not in (i.unavailable or [])
                    and (loose or self.busy[(i.certificate_no, day)] < per_day)
                ]
                if len(free) >= need:
                    chosen = rng.sample(free, need)
                    for c in chosen:
                        self.busy[(c, day)] += 1
                    return region, chosen
        return None


def loaded(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(Inspection.note.startswith(MARK)))))


def load(session: Session, now: datetime) -> int:
    """Write the sample inspections (none if they are already there); returns how many were written."""
    if loaded(session):
        return 0
    today = now.astimezone(CHINA_TZ).date()
    ensure_demo_plan(session, today, now)
    rng = random.Random(SEED)
    rules = supervision_rules()
    need, per_day = rules.team.inspectors_per_visit, rules.capacity.inspections_per_day
    sites = _sites(session)
    if not sites:
        return 0
    rosters: dict[str, list[InspectorRow]] = defaultdict(list)
    for i in session.scalars(select(InspectorRow).order_by(InspectorRow.certificate_no)):
        rosters[i.region_adcode].append(i)
    team = _Team(rosters)
    names = dict(session.execute(select(Region.adcode, Region.name)).all())

    visits = _plan_visits(session)
    for v in visits:
        for c in v.inspectors:
            team.busy[(c, v.day)] += 1

    written: list[tuple[Inspection, list[dict[str, Any]]]] = []  # with its enforcement decisions

    # the inspections the regulator-found sample hazards came from: one per site and day
    found: dict[tuple[int, date], list[HiddenHazard]] = defaultdict(list)
    hazards = session.scalars(
        select(HiddenHazard)
        .where(HiddenHazard.reported_by == sample_hazards.ACTOR, HiddenHazard.found_by == "inspection")
        .order_by(HiddenHazard.found_at, HiddenHazard.id)
    )
    for h in hazards:
        found[(h.site_id, h.found_at.astimezone(CHINA_TZ).date())].append(h)
    suspensions = _last_per_enterprise(found, sites)
    majors_fined = 0
    for (site_id, day), group in sorted(found.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        site = sites[site_id]
        spec = rules.team.specialities_by_kind[site.kind]
        picked = team.pick(rng, site, day, supervising_region(site.facts, rules), need, per_day, spec)
        if picked is None:
            continue
        region, inspectors = picked
        items = checklist_for(site.kind)
        findings, answers = [], {i["id"]: ("ok", "") for i in items}
        for h in group:
            item = rng.choice(items)["id"]
            answers[item] = ("finding", h.title)
            findings.append({"title": h.title[:256], "major": h.major, "item": item, "hazard_id": h.id})
        first = min(h.found_at for h in group)
        inspection = _inspection(site, region, day, inspectors, items, answers, findings, "other", None, now)
        midnight = datetime.combine(day, time(0), CHINA_TZ)  # the inspection stays within its day
        inspection.created_at = max(first - timedelta(hours=1), midnight)
        inspection.completed_at = min(first + timedelta(hours=2), midnight + timedelta(hours=23, minutes=59), now)
        inspection.note = MARK + "执法检查发现隐患，已责令整改"
        deadlines = [h.deadline.astimezone(CHINA_TZ).date() for h in group if h.deadline is not None]
        decisions: list[dict[str, Any]] = [
            {"kind": "rectify_by_deadline", "deadline": max(deadlines) if deadlines else day + timedelta(days=30)}
        ]
        if any(h.major for h in group) and majors_fined < FINED_MAJORS:
            majors_fined += 1
            decisions.append(
                {"kind": "fine", "amount_yuan": rng.choice(FINES), "note": "存在重大事故隐患，依法处以罚款"}
            )
        if (site_id, day) in suspensions:
            decisions.append({"kind": "suspend_for_rectification", "note": "隐患排除前停产整顿"})
        written.append((inspection, decisions))

    # the plan's visits: most of those before today done, next week's planned
    for v in visits:
        site = sites.get(v.site_id)
        if site is None or v.day >= today + timedelta(days=7):
            continue
        items = checklist_for(site.kind)
        if v.day >= today:
            inspection = _inspection(site, v.region_adcode, v.day, list(v.inspectors), items, {}, [], "plan", None, now)
            inspection.plan_visit_id, inspection.state, inspection.completed_at = v.id, PLANNED, None
            inspection.note = MARK + "计划检查"
            written.append((inspection, []))
            continue
        if rng.random() >= DONE_SHARE:
            continue
        answers, findings = _routine(rng, site, items)
        inspection = _inspection(
            site, v.region_adcode, v.day, list(v.inspectors), items, answers, findings, "plan", None, now
        )
        inspection.plan_visit_id = v.id
        inspection.note = MARK + ("计划检查，发现问题已当场整改" if findings else "计划检查，未发现问题")
        written.append((inspection, []))

    # a few unscheduled inspections after a 12350 report, on working days of the past year
    calendar = holidays()
    open_sites = sorted((s for s in sites.values() if not s.suspended), key=lambda s: s.code)
    for n in range(UNSCHEDULED):
        site = rng.choice(open_sites)
        day = today - timedelta(days=rng.randint(10, 330))
        while not calendar.is_working_day(day):
            day -= timedelta(days=1)
        spec = rules.team.specialities_by_kind[site.kind]
        picked = team.pick(rng, site, day, supervising_region(site.facts, rules), need, per_day, spec)
        if picked is None:
            continue
        region, inspectors = picked
        items = checklist_for(site.kind)
        answers, findings = _routine(rng, site, items)
        ref = f"12350-{day:%Y%m%d}-{n + 1:03d}"
        inspection = _inspection(site, region, day, inspectors, items, answers, findings, "report_12350", ref, now)
        inspection.note = MARK + "12350举报核查" + ("，发现问题已当场整改" if findings else "，举报问题未查实")
        written.append((inspection, []))

    session.add_all([i for i, _ in written])
    session.flush()
    actions = _actions(written, names)
    session.add_all(actions)
    session.flush()
    _transitions(session, written, sites)
    return len(written)


def _sites(session: Session) -> dict[int, _Site]:
    rows = session.execute(
        select(
            Site.id,
            Site.code,
            Site.name,
            Site.kind,
            Site.region_adcode,
            Site.enterprise_id,
            Enterprise.credit_code,
            Enterprise.status,
            CoalMine.capacity_10k_t,
            NoncoalMine.capacity_10k_t,
            TailingsPond.capacity_10k_m3,
        )
        .join(Enterprise, Enterprise.id == Site.enterprise_id)
        .outerjoin(CoalMine, CoalMine.site_id == Site.id)
        .outerjoin(NoncoalMine, NoncoalMine.site_id == Site.id)
        .outerjoin(TailingsPond, TailingsPond.site_id == Site.id)
        .order_by(Site.id)
    ).all()
    out = {}
    for sid, code, name, kind, county, eid, credit, status, coal_t, mine_t, pond_m3 in rows:
        facts = SiteFacts(
            code, name, SiteKind(kind), credit, county, None, capacity_10k_t=coal_t or mine_t, capacity_10k_m3=pond_m3
        )
        out[sid] = _Site(sid, code, SiteKind(kind), county, eid, credit, status == EnterpriseStatus.suspended, facts)
    return out


def _plan_visits(session: Session) -> list[PlanVisit]:
    """The visits of the current version of the province's sample plans, in order."""
    versions = (
        select(PlanVersion.id)
        .join(InspectionPlan, InspectionPlan.id == PlanVersion.plan_id)
        .where(
            InspectionPlan.region_adcode == DEMO_JURISDICTION,
            PlanVersion.version == InspectionPlan.current_version,
        )
    )
    return list(
        session.scalars(
            select(PlanVisit).where(PlanVisit.version_id.in_(versions)).order_by(PlanVisit.day, PlanVisit.seq)
        )
    )


def _last_per_enterprise(
    found: dict[tuple[int, date], list[HiddenHazard]], sites: dict[int, _Site]
) -> set[tuple[int, date]]:
    """The inspection that ordered each suspended enterprise's 停产整顿: the last that found a hazard there."""
    last: dict[int, tuple[date, int]] = {}
    for site_id, day in found:
        site = sites[site_id]
        if site.suspended and (site.enterprise_id not in last or last[site.enterprise_id] < (day, site_id)):
            last[site.enterprise_id] = (day, site_id)
    return {(site_id, day) for day, site_id in last.values()}


def _routine(
    rng: random.Random, site: _Site, items: list[dict[str, str]]
) -> tuple[dict[str, tuple[str, str]], list[dict[str, Any]]]:
    """A visit's answers: every item in order, or one finding closed on site (no hazard)."""
    answers = {i["id"]: ("ok", "") for i in items}
    if rng.random() >= ON_SITE_SHARE:
        return answers, []
    item = rng.choice(items)["id"]
    title = rng.choice(ON_SITE[site.kind])
    answers[item] = ("finding", f"{title}，已当场整改")
    return answers, [{"title": f"{title}（已当场整改）", "major": False, "item": item, "hazard_id": None}]


def _inspection(
    site: _Site,
    region: str,
    day: date,
    inspectors: list[str],
    items: list[dict[str, str]],
    answers: dict[str, tuple[str, str]],
    findings: list[dict[str, Any]],
    origin: str,
    origin_ref: str | None,
    now: datetime,
) -> Inspection:
    """A completed inspection on `day` (09:00 to 11:00 China time), as inspections.py leaves it."""
    start = datetime.combine(day, time(9), CHINA_TZ)
    checklist = [
        {**i, "result": answers[i["id"]][0] if i["id"] in answers else None, "note": answers.get(i["id"], ("", ""))[1]}
        for i in items
    ]
    return Inspection(
        site_id=site.id,
        region_adcode=region,
        origin=origin,
        origin_ref=origin_ref,
        day=day,
        inspectors=inspectors,
        state=COMPLETED,
        checklist=checklist,
        findings=findings,
        created_at=min(start, now),
        completed_at=min(start + timedelta(hours=2), now),
    )


def _actions(written: list[tuple[Inspection, list[dict[str, Any]]]], names: dict[str, str]) -> list[EnforcementAction]:
    """The decisions, numbered per bureau, kind and year in the order they were taken."""
    counters: Counter[tuple[str, str, int]] = Counter()
    out = []
    for inspection, decisions in sorted(written, key=lambda w: (w[0].day, w[0].id)):
        for d in decisions:
            at = inspection.completed_at or datetime.combine(inspection.day, time(11), CHINA_TZ)
            year = at.astimezone(CHINA_TZ).year
            counters[(inspection.region_adcode, d["kind"], year)] += 1
            n = counters[(inspection.region_adcode, d["kind"], year)]
            name = names.get(inspection.region_adcode, inspection.region_adcode)
            out.append(
                EnforcementAction(
                    inspection_id=inspection.id,
                    site_id=inspection.site_id,
                    region_adcode=inspection.region_adcode,
                    kind=d["kind"],
                    document_no=f"（{name}）应急{DOC[d['kind']]}〔{year}〕{n}号",
                    amount_yuan=d.get("amount_yuan"),
                    deadline=d.get("deadline"),
                    note=d.get("note", ""),
                    decided_at=at.astimezone(UTC),
                )
            )
    return out


def _transitions(
    session: Session, written: list[tuple[Inspection, list[dict[str, Any]]]], sites: dict[int, _Site]
) -> None:
    """The transitions inspections.py records by name (planned, in_progress, completed, to_hazard),
    in one statement, about the site's jurisdiction."""
    actor = session.info["actor"]
    rows = []
    for inspection, _ in written:
        site = sites[inspection.site_id]
        steps: list[tuple[str, dict[str, Any]]] = [("planned", {"site": site.code, "origin": inspection.origin})]
        if inspection.state == COMPLETED:
            steps += [(IN_PROGRESS, {"from": PLANNED})]
            steps += [
                ("to_hazard", {"finding": k, "hazard": f["hazard_id"]})
                for k, f in enumerate(inspection.findings)
                if f["hazard_id"]
            ]
            steps += [(COMPLETED, {"from": IN_PROGRESS, "findings": len(inspection.findings)})]
        for action, detail in steps:
            rows.append(
                {
                    "actor": actor,
                    "action": action,
                    "entity": "inspections",
                    "entity_key": str(inspection.id),
                    "after": detail,
                    "region_adcode": site.county,
                    "enterprise_id": site.enterprise_id,
                }
            )
    if rows:
        session.execute(insert(AuditEntry).inline(), rows)
