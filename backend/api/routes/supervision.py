"""Supervision driven by risk: the inspectors' rosters, inspection plans (generate, read, versions)
and the 双随机 draws, with the public page that lists every draw (一公开)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from backend.api.deps import InternalAccess, Operator, SessionDep, Viewer
from backend.api.edge import IdPath, StrictJSONRoute
from backend.api.report_print import PdfUnavailable, report_pdf
from backend.api.responses import Out
from backend.api.templating import templates
from backend.core.clock import CHINA_TZ, china_day
from backend.domain.errors import NotFound
from backend.models import Draw, InspectionPlan, PlanVersion
from backend.models import Inspector as InspectorRow
from backend.supervision import report, service
from backend.supervision.draw import ALGORITHM

router = APIRouter(tags=["supervision"], route_class=StrictJSONRoute)
Adcode = Annotated[
    str, Query(pattern=r"^\d{6}$", description="GB/T 2260 code; a prefecture or the province includes its counties")
]
PeriodText = Annotated[str, Query(pattern=r"^\d{4}(-(0[1-9]|1[0-2]))?$", description="2026 or 2026-07")]


# --- inspectors -------------------------------------------------------------------------------


class InspectorOut(Out):
    certificate_no: str = Field(description="执法证号")
    name: str
    region_adcode: str = Field(description="the regulator whose roster the inspector is on")
    specialities: list[str]
    conflicts: list[str] = Field(description="credit codes of enterprises the inspector declared a conflict with")
    unavailable: list[date]
    active: bool


class InspectorIn(BaseModel):
    certificate_no: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{3,31}$")
    name: str = Field(min_length=1, max_length=64)
    region_adcode: str = Field(pattern=r"^\d{6}$")
    specialities: list[str] = Field(min_length=1, max_length=8)
    conflicts: list[str] = Field([], max_length=200)
    unavailable: list[str] = Field([], max_length=400, description="days or ranges: 2026-07-01/2026-07-10")
    active: bool = True


class ImportRowError(Out):
    row: int
    key: str | None
    reason: str


class ImportOut(Out):
    loaded: int
    skipped: int
    errors: list[ImportRowError]


def _inspector_out(i: InspectorRow) -> dict[str, Any]:
    return {
        "certificate_no": i.certificate_no,
        "name": i.name,
        "region_adcode": i.region_adcode,
        "specialities": list(i.specialities),
        "conflicts": list(i.conflicts or []),
        "unavailable": sorted(i.unavailable or []),
        "active": i.active,
    }


@router.get("/api/v1/inspectors", dependencies=[InternalAccess], response_model=list[InspectorOut])
def list_inspectors(session: SessionDep, region: Adcode | None = None) -> list[dict[str, Any]]:
    """The rosters, of one regulator and those under it when `region` is given."""
    return [_inspector_out(i) for i in service.inspectors(session, region)]


class KeySiteOut(Out):
    """A 重点检查企业 (通化 三十) of the jurisdiction, with why it is on the list."""

    code: str
    name: str
    kind: str
    region_adcode: str
    region_name: str
    colour: str | None
    credit_list: str
    per_year: int = Field(description="visits a year by rule, before the random draw")
    reasons: list[str]


@router.get("/api/v1/key-sites", response_model=list[KeySiteOut])
def list_key_sites(session: SessionDep, caller: Viewer, jurisdiction: Adcode) -> list[dict[str, Any]]:
    """The 重点检查企业名单 of a jurisdiction the caller holds: the sites it supervises that are red,
    on the 黑名单, with an open 重大事故隐患 or repeated alarms (the rules data's raises)."""
    report.check_jurisdiction(session, jurisdiction)
    service.region(session, jurisdiction)  # 404 for a code that is no region
    names = service.region_names(session)
    return [
        {
            "code": k.facts.code,
            "name": k.facts.name,
            "kind": k.facts.kind,
            "region_adcode": k.facts.region_adcode,
            "region_name": names.get(k.facts.region_adcode, k.facts.region_adcode),
            "colour": k.facts.colour,
            "credit_list": k.facts.credit_list,
            "per_year": k.per_year,
            "reasons": list(k.reasons),
        }
        for k in service.key_sites(service.site_facts(session, jurisdiction, datetime.now(UTC))[0])
    ]


class TeamSizingOut(Out):
    """Enforcement strength against the year's visits by colour (通化 三十三)."""

    jurisdiction: str
    year: int
    sites_by_colour: dict[str, int]
    visits_by_colour: dict[str, int] = Field(description="visits a year by rule; blue: by the sampling ratio")
    inspector_days_needed: int
    inspectors_needed: int = Field(description="inspectors working every working day of the year")
    inspectors: int
    working_days: int
    inspector_days_available: int
    short_by: int = Field(description="inspector-days missing, 0 when the roster suffices")


@router.get("/api/v1/reports/team-sizing", response_model=TeamSizingOut)
def team_sizing(
    session: SessionDep,
    caller: Viewer,
    jurisdiction: Adcode,
    year: Annotated[int, Query(ge=report.MIN_YEAR, le=report.MAX_YEAR)],
) -> dict[str, Any]:
    """How many inspector-days the jurisdiction's sites need a year by their colours, against what
    its rosters (and those inside it) can give, less declared days away (viewer, own jurisdiction)."""
    report.check_jurisdiction(session, jurisdiction)
    service.region(session, jurisdiction)
    sites, _ = service.site_facts(session, jurisdiction, datetime.now(UTC))
    t = service.team_strength(session, jurisdiction, year, sites)
    return {
        "jurisdiction": jurisdiction,
        **{k: getattr(t, k) for k in TeamSizingOut.model_fields if k != "jurisdiction"},
    }


def _report(report: Any) -> dict[str, Any]:
    return {
        "loaded": report.loaded,
        "skipped": report.skipped,
        "errors": [{"row": e.row, "key": e.key, "reason": e.reason} for e in report.errors],
    }


@router.post("/api/v1/inspectors", response_model=InspectorOut, status_code=201)
def add_inspector(body: InspectorIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """One inspector, validated as a row of the roster CSV is (operator; audited)."""
    props = body.model_dump()
    props.update({k: ";".join(props[k]) for k in ("specialities", "conflicts", "unavailable")})
    row = service.add_inspector(session, props)
    session.commit()
    return _inspector_out(row)


@router.post(
    "/api/v1/inspectors/import",
    response_model=ImportOut,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def import_inspectors(request: Request, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """A roster CSV (the columns of sample_data/inspectors.csv), row by row like `riskmap import
    --layer inspectors`: the good rows load, each bad one is reported with its reason."""
    report = service.import_roster(session, await request.body())
    session.commit()
    return _report(report)


# --- plans ------------------------------------------------------------------------------------


class GenerateIn(BaseModel):
    jurisdiction: str = Field(pattern=r"^\d{6}$", description="the supervising region's GB/T 2260 code")
    period: str = Field(pattern=r"^\d{4}(-(0[1-9]|1[0-2]))?$", description="2026 or 2026-07")
    seed: str = Field(min_length=1, max_length=128, description="the published seed of the draw")
    reason: str = Field("", max_length=500)


class PlanVisitOut(Out):
    site: str
    day: date
    inspectors: list[str]
    sampled: bool = Field(description="drawn at random (双随机)")
    key: str
    jurisdiction: str


class RequirementOut(Out):
    site: str
    jurisdiction: str
    per_year: int
    reasons: list[str]
    sampled: bool


class ShortfallOut(Out):
    site: str
    jurisdiction: str
    month: int
    reason: str
    message: str
    inspector_days: float


class ChangeOut(Out):
    site: str
    before: int
    after: int
    message: str


class VersionOut(Out):
    plan_id: int
    jurisdiction: str
    period: str
    version: int
    created_at: datetime
    created_by: str
    reason: str
    seed: str
    as_of: date | None = Field(description="a regeneration kept the visits before this day")
    visits: int
    shortfalls: list[ShortfallOut]
    summary: list[str]
    changes: list[ChangeOut]
    draw_id: int | None


class PlanOut(VersionOut):
    requirements: list[RequirementOut]
    planned_visits: list[PlanVisitOut]


class PlanListOut(Out):
    id: int
    jurisdiction: str
    period: str
    current_version: int


def _version_out(session: Any, plan: InspectionPlan, v: PlanVersion) -> dict[str, Any]:
    return {
        "plan_id": plan.id,
        "jurisdiction": plan.region_adcode,
        "period": plan.period,
        "version": v.version,
        "created_at": v.created_at,
        "created_by": v.created_by,
        "reason": v.reason,
        "seed": v.seed,
        "as_of": v.as_of,
        "visits": service.visit_count(session, v.id),
        "shortfalls": v.shortfalls,
        "summary": [s["text"] for s in v.summary],
        "changes": v.changes,
        "draw_id": service.draw_of(session, v.id),
    }


def _plan_out(session: Any, plan: InspectionPlan, v: PlanVersion) -> dict[str, Any]:
    return {
        **_version_out(session, plan, v),
        "requirements": v.requirements,
        "planned_visits": service.visits_out(session, v),
    }


@router.post("/api/v1/inspection-plans", response_model=PlanOut, status_code=201)
def generate_plan(body: GenerateIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """Generate the jurisdiction's plan for a year or a month, or regenerate it: the visits before
    today stay, the rest follows the sites' colours now, and what changed is listed (operator;
    the generation and its draw are audited; every draw is kept and public)."""
    now = datetime.now(UTC)
    plan, version, _ = service.generate_plan(
        session, body.jurisdiction, body.period, body.seed, body.reason, now.astimezone(CHINA_TZ).date(), now
    )
    session.commit()
    return _plan_out(session, plan, version)


@router.get("/api/v1/inspection-plans", dependencies=[InternalAccess], response_model=list[PlanListOut])
def list_plans(
    session: SessionDep, jurisdiction: Adcode | None = None, period: PeriodText | None = None
) -> list[dict[str, Any]]:
    return [
        {"id": p.id, "jurisdiction": p.region_adcode, "period": p.period, "current_version": p.current_version}
        for p in service.plans(session, jurisdiction, period)
    ]


@router.get("/api/v1/inspection-plans/{plan_id}", dependencies=[InternalAccess], response_model=PlanOut)
def get_plan(plan_id: IdPath, session: SessionDep) -> dict[str, Any]:
    plan = service.plan_by_id(session, plan_id)
    return _plan_out(session, plan, service.version_of(session, plan))


@router.get(
    "/api/v1/inspection-plans/{plan_id}/versions", dependencies=[InternalAccess], response_model=list[VersionOut]
)
def plan_versions(plan_id: IdPath, session: SessionDep) -> list[dict[str, Any]]:
    """Every version, oldest first, each with what it changed."""
    plan = service.plan_by_id(session, plan_id)
    return [_version_out(session, plan, v) for v in service.versions(session, plan)]


@router.get(
    "/api/v1/inspection-plans/{plan_id}/versions/{version}", dependencies=[InternalAccess], response_model=PlanOut
)
def plan_version(plan_id: IdPath, version: IdPath, session: SessionDep) -> dict[str, Any]:
    plan = service.plan_by_id(session, plan_id)
    return _plan_out(session, plan, service.version_of(session, plan, version))


# --- draws (一公开: open to all) ---------------------------------------------------------------


class DrawSummaryOut(Out):
    id: int
    plan_id: int
    jurisdiction: str
    period: str
    seed: str
    algorithm: str
    drawn_at: datetime
    drawn_by: str
    sites_drawn: int
    candidates: int


class DrawOut(DrawSummaryOut):
    inputs: dict[str, Any] = Field(description="the published inputs: re-run them with the algorithm in docs/draws.md")
    result: dict[str, Any]
    verified: bool = Field(description="a re-run of the inputs gives the kept result")


def _draw_summary(d: Draw) -> dict[str, Any]:
    return {
        "id": d.id,
        "plan_id": d.plan_id,
        "jurisdiction": d.region_adcode,
        "period": d.period,
        "seed": d.seed,
        "algorithm": d.algorithm,
        "drawn_at": d.drawn_at,
        "drawn_by": d.drawn_by,
        "sites_drawn": sum(len(v) for v in d.result.get("sites", {}).values()),
        "candidates": sum(len(v) for v in d.inputs.get("candidates", {}).values()),
    }


@router.get("/api/v1/draws", response_model=list[DrawSummaryOut])
def list_draws(
    session: SessionDep,
    jurisdiction: Adcode | None = None,
    period: PeriodText | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Every draw, newest first, re-draws included (open: 一公开)."""
    return [_draw_summary(d) for d in session.scalars(service.draws_query(jurisdiction, period).limit(limit))]


@router.get("/api/v1/draws/{draw_id}", response_model=DrawOut)
def get_draw(draw_id: IdPath, session: SessionDep) -> dict[str, Any]:
    """One draw with its seed, inputs and result, and whether a re-run reproduces it (open)."""
    d = session.get(Draw, draw_id)
    if d is None:
        raise NotFound(f"no draw {draw_id}")
    return {**_draw_summary(d), "inputs": d.inputs, "result": d.result, "verified": service.verify_draw(d)}


@router.get("/draws", response_class=HTMLResponse, include_in_schema=False)
def draws_page(session: SessionDep) -> HTMLResponse:
    """双随机抽查结果公开: each draw, its seed, inputs and result, in Chinese."""
    names = service.region_names(session)
    draws = list(session.scalars(service.draws_query(None, None).limit(200)))
    per_plan: dict[int, int] = {}
    for d in sorted(draws, key=lambda d: d.id):
        per_plan[d.plan_id] = per_plan.get(d.plan_id, 0) + 1
    html = (
        templates()
        .get_template("draws.html")
        .render(
            draws=[
                {
                    **_draw_summary(d),
                    "region": names.get(d.region_adcode, d.region_adcode),
                    "sites": {names.get(j, j): codes for j, codes in d.result.get("sites", {}).items() if codes},
                    "drawn_at_local": d.drawn_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M"),
                    "redraws": per_plan[d.plan_id],
                }
                for d in draws
            ],
            algorithm=ALGORITHM,
        )
    )
    return HTMLResponse(html)


# --- reports ----------------------------------------------------------------------------------


class MonthOut(Out):
    month: int
    planned: int
    done: int


class OverdueSiteOut(Out):
    code: str
    name: str
    region: str = Field(description="the county's name")


class OverdueOut(Out):
    colour: str
    colour_zh: str
    sites: list[str]
    site_details: list[OverdueSiteOut]


class ActionCountOut(Out):
    kind: str
    kind_zh: str
    count: int


class WorkloadOut(Out):
    inspector: str = Field(description="certificate number")
    name: str = Field(description="the inspector's name, empty when not on a roster the caller may read")
    planned: int
    done: int


class ReportOut(Out):
    jurisdiction: str
    name: str
    bureau: str = Field(description="the jurisdiction's 应急管理 bureau, named in the report's title")
    period: str
    period_zh: str = Field(description="2026年11月 or 2026年")
    as_of: date
    by_month: list[MonthOut]
    planned: int
    done: int
    overdue: list[OverdueOut] = Field(description="sites with fewer completed inspections than visits due, by colour")
    findings: int
    major_findings: int
    hazards_reported: int
    findings_per_inspection: float
    fines: int
    fines_yuan: float
    actions: list[ActionCountOut]
    workload: list[WorkloadOut]


@router.get("/api/v1/reports/supervision", response_model=ReportOut)
def supervision_report(session: SessionDep, caller: Viewer, jurisdiction: Adcode, period: PeriodText) -> dict[str, Any]:
    """Planned against done by month, overdue sites by colour, findings, fines and enforcement
    actions, and inspectors' workload (viewer)."""
    return report.supervision_report(session, jurisdiction, period, china_day())


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/api/v1/reports/supervision.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
)
def supervision_report_xlsx(session: SessionDep, caller: Viewer, jurisdiction: Adcode, period: PeriodText) -> Response:
    """The same report as an .xlsx workbook, one sheet per table (viewer)."""
    data = report.supervision_report(session, jurisdiction, period, china_day())
    filename = f"supervision-{jurisdiction}-{data['period']}.xlsx"
    return Response(
        report.xlsx(data), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


PDF = "application/pdf"


@router.get(
    "/api/v1/reports/supervision.pdf",
    response_class=Response,
    responses={
        200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}},
        503: {"description": "no CJK font file or no pango on this machine: the detail says what to install"},
    },
)
def supervision_report_pdf(session: SessionDep, caller: Viewer, jurisdiction: Adcode, period: PeriodText) -> Response:
    """The same report as a PDF for the bureau to send upward: the printable page's template, A4,
    its Chinese font embedded (viewer). A plain `def`: FastAPI runs it in a worker thread, so the
    rendering (a second or so) never holds up the event loop."""
    data = report.supervision_report(session, jurisdiction, period, china_day())
    session.close()  # its connection back to the pool while the PDF renders
    try:
        pdf = report_pdf(data)
    except PdfUnavailable as exc:
        raise HTTPException(503, str(exc), {"Retry-After": "30"}) from None
    filename = f"supervision-{jurisdiction}-{data['period']}.pdf"
    return Response(pdf, media_type=PDF, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
