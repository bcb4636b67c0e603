"""The sample inspections agree with the sample hazards and the sample plan: each hazard a regulator
found has the inspection it came from (same site, same day, finding linked), every inspector is of
the site's county team or an enclosing one with the speciality, the report counts what the rows say,
and loading twice changes nothing. The sample rosters cover every bureau."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from backend.core.clock import CHINA_TZ
from backend.core.jurisdiction import bind
from backend.core.principal import Principal, Role, Scope, platform
from backend.domain.kinds import SiteKind
from backend.domain.rules_models import Supervision, rules
from backend.hazards import sample as sample_hazards
from backend.models import (
    AuditEntry,
    EnforcementAction,
    Enterprise,
    HiddenHazard,
    Inspection,
    InspectionPlan,
    PlanVersion,
    PlanVisit,
    Region,
    Site,
)
from backend.models import Inspector as InspectorRow
from backend.risk.engine import regrade
from backend.supervision import sample
from backend.supervision.plan import SiteFacts, supervising_region
from backend.supervision.report import supervision_report
from sample_data import inspectors as roster_generator

RULES: Supervision = rules("supervision")  # type: ignore[assignment]
DATA = roster_generator.HERE


@pytest.fixture(scope="module")
def loaded(seeded: Engine) -> Iterator[tuple[Session, datetime, int]]:
    """The sample hazards, the regrade, the plan and the inspections in one transaction, rolled back."""
    now = datetime.now(UTC)
    with Session(seeded) as s:
        s.info["actor"] = "test:sample"
        sample_hazards.load(s, now)
        regrade(s)
        written = sample.load(s, now)
        yield s, now, written
        s.rollback()


def _count(s: Session, model: type) -> int:
    return s.scalar(select(func.count()).select_from(model)) or 0


def test_loading_twice_changes_nothing(loaded: tuple[Session, datetime, int]) -> None:
    s, now, written = loaded
    assert written > 100 and sample.loaded(s)
    before = [_count(s, m) for m in (Inspection, EnforcementAction, AuditEntry, PlanVisit)]
    assert sample.load(s, now) == 0
    assert [_count(s, m) for m in (Inspection, EnforcementAction, AuditEntry, PlanVisit)] == before
    # other tests' inspections may be in the database too: the sample's own are those it wrote
    assert s.scalar(select(func.count()).where(Inspection.note.startswith(sample.MARK))) == written


def test_every_regulator_found_hazard_has_its_inspection(loaded: tuple[Session, datetime, int]) -> None:
    s, _, _ = loaded
    hazards = s.scalars(
        select(HiddenHazard).where(
            HiddenHazard.reported_by == sample_hazards.ACTOR, HiddenHazard.found_by == "inspection"
        )
    ).all()
    assert len(hazards) > 50 and any(h.major for h in hazards)
    linked: dict[int, Inspection] = {}
    for i in s.scalars(select(Inspection).where(Inspection.note.startswith(sample.MARK))):
        for f in i.findings:
            if f["hazard_id"]:
                assert f["hazard_id"] not in linked
                linked[f["hazard_id"]] = i
    assert set(linked) == {h.id for h in hazards}  # and no finding links a hazard found otherwise
    for h in hazards:
        i = linked[h.id]
        assert i.site_id == h.site_id and i.day == h.found_at.astimezone(CHINA_TZ).date()
        assert i.state == "completed" and i.origin == "other"
        finding = next(f for f in i.findings if f["hazard_id"] == h.id)
        assert finding["major"] == h.major and finding["title"] == h.title
        assert next(c for c in i.checklist if c["id"] == finding["item"])["result"] == "finding"
        kinds = {a.kind for a in s.scalars(select(EnforcementAction).where(EnforcementAction.inspection_id == i.id))}
        assert "rectify_by_deadline" in kinds


def test_enforcement_follows_the_hazards(loaded: tuple[Session, datetime, int]) -> None:
    s, _, _ = loaded
    actions = s.execute(
        select(EnforcementAction, Inspection, Enterprise.status)
        .join(Inspection, Inspection.id == EnforcementAction.inspection_id)
        .join(Site, Site.id == Inspection.site_id)
        .join(Enterprise, Enterprise.id == Site.enterprise_id)
        .where(Inspection.note.startswith(sample.MARK))
    ).all()
    fines = [a for a, _, _ in actions if a.kind == "fine"]
    assert fines and all(a.amount_yuan and a.amount_yuan > 0 for a in fines)
    for a, i, _ in actions:
        assert a.site_id == i.site_id and a.region_adcode == i.region_adcode
        assert a.decided_at.astimezone(CHINA_TZ).date() == i.day
    majors = {i.id for _, i, _ in actions if any(f["major"] for f in i.findings)}
    assert {a.inspection_id for a in fines} <= majors
    suspended = [(a, status) for a, _, status in actions if a.kind == "suspend_for_rectification"]
    assert suspended and all(status == "suspended" for _, status in suspended)
    # every suspended enterprise where a regulator found a hazard has its order, once
    orders = {a.site_id for a, _ in suspended}
    found_at_suspended = set(
        s.scalars(
            select(Enterprise.id)
            .join(Site, Site.enterprise_id == Enterprise.id)
            .join(HiddenHazard, HiddenHazard.site_id == Site.id)
            .where(
                HiddenHazard.reported_by == sample_hazards.ACTOR,
                HiddenHazard.found_by == "inspection",
                Enterprise.status == "suspended",
            )
        )
    )
    ordered = set(s.scalars(select(Site.enterprise_id).where(Site.id.in_(orders))))
    assert ordered == found_at_suspended and len(suspended) == len(found_at_suspended)
    numbers = [a.document_no for a, _, _ in actions]
    assert len(set(numbers)) == len(numbers)


def test_inspectors_are_of_the_sites_team_or_an_enclosing_one_with_the_speciality(
    loaded: tuple[Session, datetime, int],
) -> None:
    s, now, _ = loaded
    roster = {i.certificate_no: i for i in s.scalars(select(InspectorRow))}
    rows = s.execute(
        select(Inspection, Site.region_adcode, Site.kind, Enterprise.credit_code)
        .join(Site, Site.id == Inspection.site_id)
        .join(Enterprise, Enterprise.id == Site.enterprise_id)
        .where(Inspection.note.startswith(sample.MARK))
    ).all()
    origins = {i.origin for i, _, _, _ in rows}
    assert origins == {"plan", "other", "report_12350"}
    today = now.astimezone(CHINA_TZ).date()
    for i, county, kind, credit in rows:
        spec = RULES.team.specialities_by_kind[kind]
        assert len(set(i.inspectors)) == RULES.team.inspectors_per_visit
        assert i.region_adcode in (county, county[:4] + "00", county[:2] + "0000")
        for c in i.inspectors:
            who = roster[c]
            assert who.region_adcode in (county, county[:4] + "00", county[:2] + "0000"), (i.id, c)
            assert spec in who.specialities and credit not in (who.conflicts or []), (i.id, c)
        if i.origin == "plan":
            visit = s.get(PlanVisit, i.plan_visit_id)
            assert visit is not None and visit.site_id == i.site_id and visit.day == i.day
            assert list(visit.inspectors) == list(i.inspectors)
            assert all(f["hazard_id"] is None and not f["major"] for f in i.findings)  # closed on site
        assert (i.state == "completed") == (i.day < today)
        assert i.state in ("completed", "planned")
        assert not set(i.inspectors) & {c for c in roster if i.day in (roster[c].unavailable or [])}
    load = Counter((c, i.day) for i, _, _, _ in rows for c in i.inspectors)
    assert max(load.values()) <= RULES.capacity.inspections_per_day  # nobody at two sites on one day


def test_the_supervision_report_of_a_sample_county_counts_the_rows(loaded: tuple[Session, datetime, int]) -> None:
    s, now, _ = loaded
    today = now.astimezone(CHINA_TZ).date()
    fine = s.execute(
        select(EnforcementAction.region_adcode, EnforcementAction.decided_at)
        .join(Region, Region.adcode == EnforcementAction.region_adcode)
        .where(EnforcementAction.kind == "fine", Region.level == "county")
        .order_by(EnforcementAction.decided_at.desc())
        .limit(1)
    ).one()
    county, year = fine.region_adcode, fine.decided_at.astimezone(CHINA_TZ).year
    report = supervision_report(s, county, str(year), today)
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    done = (
        s.scalar(
            select(func.count())
            .select_from(Inspection)
            .join(Site, Site.id == Inspection.site_id)
            .where(
                Site.region_adcode == county,  # the county's sites, whoever supervises them
                Inspection.state == "completed",
                Inspection.day >= start,
                Inspection.day < end,
            )
        )
        or 0
    )
    fines = s.execute(
        select(EnforcementAction.amount_yuan)
        .join(Site, Site.id == EnforcementAction.site_id)
        .where(
            Site.region_adcode == county,
            EnforcementAction.kind == "fine",
            EnforcementAction.decided_at >= datetime(year, 1, 1, tzinfo=CHINA_TZ),
            EnforcementAction.decided_at < datetime(year + 1, 1, 1, tzinfo=CHINA_TZ),
        )
    ).all()
    assert report["done"] == done > 0 and sum(m["done"] for m in report["by_month"]) == done
    assert report["fines"] == len(fines) > 0 and report["fines_yuan"] == sum(a for (a,) in fines)
    assert report["hazards_reported"] > 0
    assert next(a for a in report["actions"] if a["kind"] == "rectify_by_deadline")["count"] > 0
    # Planned: the province's sample plan plans the county's sites; the county's own regulator, who
    # may not read the province's plan, still gets its visits to the county's sites counted.
    planned = s.scalar(
        select(func.count())
        .select_from(PlanVisit)
        .join(PlanVersion, PlanVersion.id == PlanVisit.version_id)
        .join(InspectionPlan, InspectionPlan.id == PlanVersion.plan_id)
        .join(Site, Site.id == PlanVisit.site_id)
        .where(
            InspectionPlan.region_adcode == "220000",
            InspectionPlan.period == str(year),
            PlanVersion.version == InspectionPlan.current_version,
            Site.region_adcode == county,
        )
    )
    regulator = Principal(
        actor="user:t", name="t", roles=frozenset({Role.regulator}), scope=Scope.region, region=county
    )
    bind(s, regulator)
    try:
        assert (
            s.scalar(select(func.count()).select_from(InspectionPlan).where(InspectionPlan.region_adcode == "220000"))
            == 0
        )
        as_county = supervision_report(s, county, str(year), today)
    finally:
        bind(s, platform("test"))
    assert as_county["planned"] == report["planned"] == planned > 0


def test_the_sample_rosters_cover_every_bureau_with_the_specialities_its_sites_need() -> None:
    regions = json.loads((DATA / "regions.geojson").read_text(encoding="utf-8"))["features"]
    with (DATA / "inspectors.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    teams: dict[str, set[str]] = {}
    for r in rows:
        teams.setdefault(r["region_adcode"], set()).update(r["specialities"].split(";"))
    bureaus = {f["properties"]["adcode"] for f in regions}
    assert len(bureaus) == 70 and set(teams) == bureaus
    assert roster_generator.rows() == [{k: v for k, v in r.items()} for r in rows]  # the generator's output
    counts = {a: sum(1 for r in rows if r["region_adcode"] == a) for a in bureaus}
    assert min(counts.values()) >= 2 * RULES.team.inspectors_per_visit  # two disjoint pairs, for the rotation
    # every sample site's supervising team, or an enclosing one, has the speciality its kind needs
    sites = json.loads((DATA / "sites.geojson").read_text(encoding="utf-8"))["features"]
    for site in sites:
        p = site["properties"]
        facts = SiteFacts(
            p["code"],
            p["name"],
            SiteKind(p["kind"]),
            p["enterprise_credit_code"],
            p["region_adcode"],
            None,
            capacity_10k_t=p.get("capacity_10k_t"),
            capacity_10k_m3=p.get("capacity_10k_m3"),
        )
        team = supervising_region(facts, RULES)
        chain = {team, team[:4] + "00", team[:2] + "0000"}
        assert RULES.team.specialities_by_kind[facts.kind] in set().union(*(teams[a] for a in chain)), p["code"]
