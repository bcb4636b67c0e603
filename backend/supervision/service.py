"""Plans and draws against the database: gather the facts of a jurisdiction, generate (or
regenerate) its plan with plan.py, and keep every version and every draw, audited.

A regeneration (after a colour change, a new 黑名单 entry, a new roster) keeps the visits before
today as they were, plans the rest of the period again with the same rules, and records per site
what changed. Each generation is a draw: it is kept with its seed, inputs, algorithm and result,
never replaced, so a draw repeated until a preferred result comes out is there for all to see.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, exists, func, insert, select
from sqlalchemy.orm import Session

from backend.core.audit import record
from backend.domain.errors import Conflict, Invalid, NotFound
from backend.domain.kinds import CreditList, EnterpriseStatus, SiteKind, region_prefix
from backend.domain.rules_models import Supervision, rules
from backend.domain.states import Colour
from backend.models import (
    Alarm,
    CoalMine,
    Draw,
    Enterprise,
    HiddenHazard,
    InspectionPlan,
    NoncoalMine,
    Organisation,
    PlanVersion,
    PlanVisit,
    Region,
    Site,
    SiteRisk,
    TailingsPond,
    User,
)
from backend.models import Inspector as InspectorRow
from backend.registry.importer import ImportReport, Layer, Row, import_file, import_rows
from backend.supervision import draw as drawing
from backend.supervision.plan import (
    Inspector,
    Period,
    Plan,
    SiteFacts,
    TeamSizing,
    Visit,
    changes,
    generate,
    key_reasons,
    required_visits,
    supervising_region,
    team_sizing,
)


def supervision_rules() -> Supervision:
    return rules("supervision")  # type: ignore[return-value]


def region(session: Session, adcode: str) -> Region:
    found = session.get(Region, adcode)
    if found is None:
        raise NotFound(f"no region {adcode!r}")
    return found


def region_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Region.adcode, Region.name)).all())


def site_facts(session: Session, jurisdiction: str, now: datetime) -> tuple[list[SiteFacts], dict[str, int]]:
    """The sites the jurisdiction (or a team inside it) supervises, with what their frequency
    depends on; and their ids by code. Closed enterprises are not planned."""
    r = supervision_rules()
    prefix = region_prefix(jurisdiction)
    window = now - timedelta(days=r.raises.repeated_alarms.window_days)
    alarms = select(func.count()).where(Alarm.site_id == Site.id, Alarm.raised_at >= window).scalar_subquery()
    hazard = exists().where(HiddenHazard.site_id == Site.id, HiddenHazard.major, HiddenHazard.rectified_at.is_(None))
    query: Select[Any] = (
        select(
            Site.id,
            Site.code,
            Site.name,
            Site.kind,
            Site.region_adcode,
            Enterprise.credit_code,
            Enterprise.credit_list,
            SiteRisk.color,
            func.coalesce(CoalMine.capacity_10k_t, NoncoalMine.capacity_10k_t),
            TailingsPond.capacity_10k_m3,
            alarms,
            hazard,
        )
        .join(Enterprise, Enterprise.id == Site.enterprise_id)
        .outerjoin(SiteRisk, SiteRisk.site_id == Site.id)
        .outerjoin(CoalMine, CoalMine.site_id == Site.id)
        .outerjoin(NoncoalMine, NoncoalMine.site_id == Site.id)
        .outerjoin(TailingsPond, TailingsPond.site_id == Site.id)
        .where(Site.region_adcode.like(f"{prefix}%"), Enterprise.status != EnterpriseStatus.closed)
        .order_by(Site.code)
    )
    out, ids = [], {}
    for (
        sid,
        code,
        name,
        kind,
        county,
        credit,
        credit_list,
        colour,
        cap_t,
        cap_m3,
        n_alarms,
        open_major,
    ) in session.execute(query):
        facts = SiteFacts(
            code=code,
            name=name,
            kind=SiteKind(kind),
            enterprise=credit,
            region_adcode=county,
            colour=Colour(colour) if colour else None,
            credit_list=CreditList(credit_list),
            open_major_hazard=bool(open_major),
            recent_alarms=int(n_alarms or 0),
            capacity_10k_t=cap_t,
            capacity_10k_m3=cap_m3,
        )
        if supervising_region(facts, r).startswith(prefix):
            out.append(facts)
            ids[code] = sid
    return out, ids


@dataclass(frozen=True)
class KeySite:
    """A 重点检查企业 of a jurisdiction: the site, its visits a year by rule, and why it is on the list."""

    facts: SiteFacts
    per_year: int
    reasons: tuple[str, ...]


def key_sites(sites: Sequence[SiteFacts]) -> list[KeySite]:
    """The 重点检查企业名单 among a jurisdiction's sites (`site_facts`): those red, on the 黑名单, with
    an open 重大事故隐患 or repeated alarms, most visits a year first."""
    r = supervision_rules()
    out = [KeySite(s, required_visits(s, r)[0], reasons) for s in sites if (reasons := key_reasons(s, r))]
    return sorted(out, key=lambda k: (-k.per_year, k.facts.region_adcode, k.facts.code))


@dataclass(frozen=True)
class Outdated:
    """A site whose visits a year by rule are no longer what a plan's version planned for it."""

    code: str
    name: str
    before: int
    after: int
    reasons: tuple[str, ...]


def outdated(session: Session, version: PlanVersion, jurisdiction: str, now: datetime) -> list[Outdated]:
    """What changed since `version` was made (a colour regraded, a 黑名单 entry, an open 重大隐患, a run
    of alarms): the sites whose visits a year by rule differ now from what it planned, so the plan
    page says so and a regulator regenerates (a new, published draw) rather than a silent change."""
    planned = {q["site"]: q for q in version.requirements}
    r = supervision_rules()
    sites, _ = site_facts(session, jurisdiction, now)
    out = []
    for site in sites:
        after, reasons = required_visits(site, r)
        q = planned.get(site.code)
        before = q["per_year"] if q is not None and not q.get("sampled") else 0
        if before != after:
            out.append(Outdated(site.code, site.name, before, after, reasons))
    return out


def team_strength(session: Session, jurisdiction: str, year: int, sites: Sequence[SiteFacts]) -> TeamSizing:
    """The jurisdiction's enforcement strength (its sites from `site_facts`, its rosters) against the
    year's visits by colour (通化 三十三)."""
    return team_sizing(sites, roster(session, jurisdiction), year, supervision_rules())


# --- rosters (the API and the pages) ----------------------------------------------------------


def inspectors(session: Session, region: str | None = None) -> list[InspectorRow]:
    """The rosters the caller may read (row-level security), of one regulator and those under it
    when `region` is given."""
    q = select(InspectorRow).order_by(InspectorRow.region_adcode, InspectorRow.certificate_no)
    if region:
        q = q.where(InspectorRow.region_adcode.like(f"{region_prefix(region)}%"))
    return list(session.scalars(q))


def add_inspector(session: Session, props: Mapping[str, Any]) -> InspectorRow:
    """One inspector from the cells of a roster row (lists as `a;b`), validated and written as a
    row of the roster CSV is (audited); Conflict for a taken certificate number, Invalid otherwise.
    The caller commits."""
    report = import_rows(session, Layer.inspectors, [Row(1, dict(props), None)], source="api")
    if report.errors:
        error = report.errors[0]
        raise (Conflict if error.duplicate else Invalid)(error.reason)
    row = session.scalar(select(InspectorRow).where(InspectorRow.certificate_no == props["certificate_no"]))
    assert row is not None
    return row


def import_roster(session: Session, body: bytes) -> ImportReport:
    """A roster CSV (the columns of sample_data/inspectors.csv), row by row like `riskmap import
    --layer inspectors`: the good rows load, each bad one is reported with its row number and
    reason. Invalid when the file is not UTF-8 or not a roster at all. The caller commits."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the CSV must be UTF-8") from None
    if b"\x00" in body:
        raise Invalid("the CSV must be UTF-8 text: it has a NUL byte")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inspectors.csv"
        path.write_bytes(body)
        try:
            return import_file(session, path, Layer.inspectors)
        except (ValueError, KeyError) as exc:
            raise Invalid(f"not a roster CSV: {str(exc)[:120]}") from None


def bureau_names(session: Session) -> dict[str, str]:
    """The regulators' names by their region's code (舒兰市应急管理局 for 220283)."""
    bureaus = select(Organisation.region_adcode, Organisation.name).where(Organisation.kind == "bureau")
    return dict(session.execute(bureaus).all())


def regions_within(session: Session, prefix: str) -> list[tuple[str, str]]:
    """(adcode, name) of the regions whose code starts with `prefix` ("" for all): the
    jurisdictions a caller of that region may plan for or keep rosters of."""
    return [
        (code, name)
        for code, name in session.execute(
            select(Region.adcode, Region.name).where(Region.adcode.like(f"{prefix}%")).order_by(Region.adcode)
        ).all()
    ]


def enterprise_names(session: Session, credit_codes: set[str]) -> dict[str, str]:
    """Names of the enterprises (by credit code) the caller may see; the others stay unnamed."""
    if not credit_codes:
        return {}
    q = select(Enterprise.credit_code, Enterprise.name).where(Enterprise.credit_code.in_(sorted(credit_codes)))
    return dict(session.execute(q).all())


def actor_names(session: Session, actors: set[str]) -> dict[str, str]:
    """The people behind audit actors `user:<login>` (the generated-by of a version)."""
    logins = {a.removeprefix("user:") for a in actors if a.startswith("user:")}
    if not logins:
        return {}
    rows = session.execute(select(User.login, User.name).where(User.login.in_(sorted(logins)))).all()
    return {f"user:{login}": name for login, name in rows}


def roster(session: Session, jurisdiction: str) -> list[Inspector]:
    rows = session.scalars(
        select(InspectorRow).where(InspectorRow.region_adcode.like(f"{region_prefix(jurisdiction)}%"))
    )
    return [
        Inspector(
            id=i.certificate_no,
            name=i.name,
            region_adcode=i.region_adcode,
            specialities=frozenset(i.specialities),
            conflicts=frozenset(i.conflicts or ()),
            unavailable=frozenset(i.unavailable or ()),
            active=i.active,
        )
        for i in rows
    ]


def _period_end(period: Period) -> date:
    if period.month is None:
        return date(period.year, 12, 31)
    nxt = date(period.year + (period.month == 12), period.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _visits_of(session: Session, version_id: int) -> list[tuple[PlanVisit, str, str]]:
    return list(
        session.execute(
            select(PlanVisit, Site.code, Enterprise.credit_code)
            .join(Site, Site.id == PlanVisit.site_id)
            .join(Enterprise, Enterprise.id == Site.enterprise_id)
            .where(PlanVisit.version_id == version_id)
            .order_by(PlanVisit.day, PlanVisit.seq)
        ).all()
    )


def _as_visit(v: PlanVisit, code: str, enterprise: str) -> Visit:
    return Visit(v.key, code, enterprise, v.region_adcode, v.day, tuple(v.inspectors), (), v.seq, v.sampled)


def generate_plan(
    session: Session, jurisdiction: str, period_text: str, seed: str, reason: str, today: date, now: datetime
) -> tuple[InspectionPlan, PlanVersion, Draw]:
    """A new version of the jurisdiction's plan for the period (the first, or a regeneration that
    keeps what lies before `today`), with its draw; the caller commits."""
    try:
        period = Period.parse(period_text)
    except ValueError as exc:
        raise Invalid(str(exc), "period") from None
    region(session, jurisdiction)
    if today > _period_end(period):
        raise Conflict(f"the period {period.label} is over: its plan can no longer be regenerated")
    actor = session.info["actor"]
    plan_row = session.scalar(
        select(InspectionPlan).where(
            InspectionPlan.region_adcode == jurisdiction, InspectionPlan.period == period.label
        )
    )
    if plan_row is None:
        plan_row = InspectionPlan(region_adcode=jurisdiction, period=period.label, current_version=0)
        session.add(plan_row)
        session.flush()
    previous = (
        session.scalar(
            select(PlanVersion).where(
                PlanVersion.plan_id == plan_row.id, PlanVersion.version == plan_row.current_version
            )
        )
        if plan_row.current_version
        else None
    )
    sites, ids = site_facts(session, jurisdiction, now)
    names = region_names(session)
    r = supervision_rules()
    as_of = today if previous is not None and today > period.first_day else None
    old = [_as_visit(*row) for row in _visits_of(session, previous.id)] if previous is not None else []
    fixed = [v for v in old if as_of is not None and v.day < as_of]
    result: Plan = generate(sites, roster(session, jurisdiction), period, r, seed, names, start=as_of, fixed=fixed)
    by_code = {s.code: s for s in sites}
    changed = changes(old, result, by_code, since=as_of) if previous is not None else []

    version = PlanVersion(
        plan_id=plan_row.id,
        region_adcode=jurisdiction,
        version=plan_row.current_version + 1,
        created_by=actor,
        reason=reason,
        seed=seed,
        as_of=as_of,
        requirements=[
            {
                "site": q.site,
                "jurisdiction": q.jurisdiction,
                "per_year": q.per_year,
                "reasons": list(q.reasons),
                "sampled": q.sampled,
            }
            for q in result.requirements.values()
        ],
        shortfalls=[s.__dict__ for s in result.shortfalls],
        # a calendar warning first, marked: it is not a shortfall
        summary=[{"text": line, "kind": "warning"} for line in result.warnings]
        + [{"text": line} for line in result.summary],
        changes=[c.__dict__ for c in changed],
    )
    session.add(version)
    session.flush()
    rows = [
        {
            "version_id": version.id,
            "site_id": ids.get(v.site) or session.scalar(select(Site.id).where(Site.code == v.site)),
            "region_adcode": v.jurisdiction,
            "key": v.key,
            "day": v.day,
            "inspectors": list(v.inspectors),
            "sampled": v.sampled,
            "seq": v.seq,
        }
        for v in [*fixed, *result.visits]
    ]
    if rows:
        session.execute(insert(PlanVisit), rows)
    plan_row.current_version = version.version

    inputs = result.draw.as_json()
    draw_row = Draw(
        plan_id=plan_row.id,
        version_id=version.id,
        region_adcode=jurisdiction,
        period=period.label,
        seed=seed,
        algorithm=drawing.ALGORITHM,
        inputs=inputs,
        result=drawing.run(drawing.DrawInputs.from_json(inputs)).as_json(),
        drawn_by=actor,
    )
    session.add(draw_row)
    session.flush()
    key = f"{jurisdiction}/{period.label}"
    record(
        session,
        "generate",
        "inspection_plans",
        key,
        {
            "version": version.version,
            "seed": seed,
            "reason": reason,
            "as_of": as_of.isoformat() if as_of else None,
            "visits": len(rows),
            "shortfalls": len(result.shortfalls),
            "changes": len(changed),
        },
    )
    earlier = session.scalar(select(func.count()).select_from(Draw).where(Draw.plan_id == plan_row.id)) or 0
    record(
        session,
        "draw",
        "draws",
        str(draw_row.id),
        {
            "plan": key,
            "version": version.version,
            "seed": seed,
            "algorithm": drawing.ALGORITHM,
            "draws_for_this_plan": earlier,
        },
    )
    return plan_row, version, draw_row


def plans(session: Session, jurisdiction: str | None = None, period: str | None = None) -> list[InspectionPlan]:
    """The plans the caller may read, newest period first; of a region and those under it."""
    q = select(InspectionPlan).order_by(InspectionPlan.period.desc(), InspectionPlan.region_adcode)
    if jurisdiction:
        q = q.where(InspectionPlan.region_adcode.like(f"{region_prefix(jurisdiction)}%"))
    if period:
        q = q.where(InspectionPlan.period == period)
    return list(session.scalars(q))


def versions(session: Session, plan: InspectionPlan) -> list[PlanVersion]:
    """Every version of the plan, oldest first."""
    return list(
        session.scalars(select(PlanVersion).where(PlanVersion.plan_id == plan.id).order_by(PlanVersion.version))
    )


def visit_count(session: Session, version_id: int) -> int:
    return session.scalar(select(func.count()).select_from(PlanVisit).where(PlanVisit.version_id == version_id)) or 0


def draw_of(session: Session, version_id: int) -> int | None:
    """The id of the draw a version was generated with."""
    return session.scalar(select(Draw.id).where(Draw.version_id == version_id))


def plan_by_id(session: Session, plan_id: int) -> InspectionPlan:
    found = session.get(InspectionPlan, plan_id)
    if found is None:
        raise NotFound(f"no inspection plan {plan_id}")
    return found


def version_of(session: Session, plan: InspectionPlan, number: int | None = None) -> PlanVersion:
    n = plan.current_version if number is None else number
    found = session.scalar(select(PlanVersion).where(PlanVersion.plan_id == plan.id, PlanVersion.version == n))
    if found is None:
        raise NotFound(f"plan {plan.id} has no version {n}")
    return found


def visits_out(session: Session, version: PlanVersion) -> list[dict[str, Any]]:
    return [
        {
            "site": code,
            "day": v.day,
            "inspectors": list(v.inspectors),
            "sampled": v.sampled,
            "key": v.key,
            "jurisdiction": v.region_adcode,
        }
        for v, code, _ in _visits_of(session, version.id)
    ]


def site_labels(session: Session, codes: set[str]) -> dict[str, dict[str, str | None]]:
    """Each site's name and current colour (None: not graded), for the pages."""
    if not codes:
        return {}
    rows = session.execute(
        select(Site.code, Site.name, SiteRisk.color)
        .outerjoin(SiteRisk, SiteRisk.site_id == Site.id)
        .where(Site.code.in_(sorted(codes)))
    ).all()
    return {code: {"name": name, "colour": colour} for code, name, colour in rows}


def _days_by_site(session: Session, version_id: int) -> dict[str, list[date]]:
    days: dict[str, list[date]] = defaultdict(list)
    for v, code, _ in _visits_of(session, version_id):
        days[code].append(v.day)
    return days


SAMPLED_REASON = "双随机抽中"


SHORT_ZH = {
    "capacity": "检查力量不足，部分检查未能安排",
    "speciality": "缺少相应专业的检查人员，部分检查未能安排",
    "conflicts": "回避和轮换后检查人员不足，部分检查未能安排",
}


def _why(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, kind: str, short: set[str]) -> str:
    """Why a site's visits changed between two versions, from what each version recorded: a
    colour that changed (a requirement's first reason names it), reasons gained or lost, and the
    new version's shortfalls at the site (`short`: their reasons)."""
    if (new is None or not new["per_year"]) and not short:
        if old is not None and old.get("sampled") and new is not None and not new.get("sampled"):
            return "本次随机抽取未抽中"
        return "不再列入计划"
    if new is None:
        return "；".join(SHORT_ZH.get(r, r) for r in sorted(short))
    if old is None:
        return "新列入计划：" + "；".join(new["reasons"])
    parts = []
    was, now = old["reasons"][0][:1] if old["reasons"] else "", new["reasons"][0][:1] if new["reasons"] else ""
    if was and now and was != now:
        parts.append(f"风险颜色由{was}色变为{now}色")
    if new.get("sampled") and not old.get("sampled"):
        parts.append("本次随机抽取抽中")
    elif old.get("sampled") and not new.get("sampled"):
        parts.append("本次随机抽取未抽中")
    rest_old = [r for r in old["reasons"][1:] if not r.startswith(SAMPLED_REASON)]
    rest_new = [r for r in new["reasons"][1:] if not r.startswith(SAMPLED_REASON)]
    parts += [f"新增：{r}" for r in rest_new if r not in rest_old]
    parts += [f"不再适用：{r}" for r in rest_old if r not in rest_new]
    parts += [SHORT_ZH[r] for r in sorted(short) if r in SHORT_ZH]
    if not parts and kind in ("moved", "more", "fewer"):
        parts.append("检查日程随人员和其他检查调整")
    return "；".join(parts) or "；".join(new["reasons"])


def version_changes(session: Session, old: PlanVersion, new: PlanVersion) -> list[dict[str, Any]]:
    """What `new` changed against `old`, per site: added to the plan, removed from it, moved to
    other days, or given more or fewer visits; each with why (see `_why`). Visits a regeneration
    kept (before its as_of) are the same in both and never listed."""
    before, after = _days_by_site(session, old.id), _days_by_site(session, new.id)
    required_before = {q["site"]: q for q in old.requirements}
    required_after = {q["site"]: q for q in new.requirements}
    short: dict[str, set[str]] = defaultdict(set)
    for gap in new.shortfalls:
        short[gap["site"]].add(gap["reason"])
    out = []
    for code in sorted(set(before) | set(after)):
        a, b = before.get(code, []), after.get(code, [])
        if a == b:
            continue
        if not a:
            kind = "added"
        elif not b:
            kind = "removed"
        elif len(a) == len(b):
            kind = "moved"
        else:
            kind = "more" if len(b) > len(a) else "fewer"
        why = _why(required_before.get(code), required_after.get(code), kind, short.get(code, set()))
        out.append({"site": code, "kind": kind, "before": a, "after": b, "why": why})
    return out


def verify_draw(d: Draw) -> bool:
    """The kept result equals a re-run of the kept inputs."""
    return drawing.run(drawing.DrawInputs.from_json(d.inputs)).as_json() == d.result


def draws_query(jurisdiction: str | None, period: str | None) -> Select[tuple[Draw]]:
    q = select(Draw).order_by(Draw.drawn_at.desc(), Draw.id.desc())
    conds = []
    if jurisdiction:
        conds.append(Draw.region_adcode.like(f"{region_prefix(jurisdiction)}%"))
    if period:
        conds.append(Draw.period == period)
    return q.where(and_(*conds)) if conds else q


DEMO_JURISDICTION = "220000"


def ensure_demo_plan(session: Session, today: date, now: datetime) -> PlanVersion | None:
    """The sample province's plan for this year, generated once (for `riskmap up` with the sample
    data), so that the plan, its draw and the public page have something to show."""
    exists_ = session.scalar(
        select(InspectionPlan.id).where(
            InspectionPlan.region_adcode == DEMO_JURISDICTION, InspectionPlan.period == str(today.year)
        )
    )
    if exists_ is not None or session.get(Region, DEMO_JURISDICTION) is None:
        return None
    _, version, _ = generate_plan(
        session, DEMO_JURISDICTION, str(today.year), f"示例-{today.year}", "示例数据：全省年度检查计划", today, now
    )
    return version
