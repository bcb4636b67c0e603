"""The four-colour risk: site levels with reasons, regional distribution, level history, the
exposure behind a level, hidden hazards, and the siting pre-checks for proposed projects."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import h3
from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator
from shapely.geometry import mapping
from sqlalchemy import JSON, Text, case, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from backend.api.deps import LOGIN_REQUIRED, Operator, PublicReader, ReadAccess, SessionDep
from backend.api.edge import OPEN_BODY_LIMIT, Instant, StrictJSONRoute
from backend.api.geojson import GeoJSONResponse, collection, feature
from backend.api.responses import FeatureCollection, Number, Out, geojson
from backend.api.routes.sites import AdcodeParam, CodePath, site_filters, site_or_404
from backend.core.config import api_settings
from backend.core.principal import Scope
from backend.domain.geo import ALLOWED, GeometryError, check_geometry
from backend.domain.geojson import parse_geometry
from backend.domain.inherent import PondFacts, tailings_level
from backend.domain.kinds import SITE_KIND_ZH, EnterpriseStatus, SiteKind
from backend.domain.levels import color_of
from backend.domain.major_hazard import Held, grade
from backend.domain.rules_models import risk_rules
from backend.domain.substances import UnknownSubstance
from backend.domain.tailings import pond_class
from backend.hazards import lifecycle
from backend.models import Enterprise, Region, Site, SiteRisk, SiteRiskChange
from backend.risk import exposure
from backend.risk.engine import regrade

router = APIRouter(prefix="/api/v1", tags=["risk"], route_class=StrictJSONRoute)
Color = Literal["red", "orange", "yellow", "blue"]


WITHOUT_EVIDENCE = literal_column(
    "(SELECT jsonb_agg(r - 'evidence') FROM jsonb_array_elements(site_risk.reasons) AS r)"
)


def _key(name: str) -> Any:
    """A constant JSON key (an identifier, so safe to inline; bound parameters have no type)."""
    return literal_column(f"'{name}'")


class SiteRiskProperties(Out):
    """A graded site: level 1 red … 4 blue (null: never graded), its reasons and, when the last
    grading failed, why (the level kept is the last good one)."""

    code: str
    name: str
    kind: str
    kind_zh: str
    region_adcode: str
    enterprise: str
    status: str
    level: int | None
    inherent_level: int | None
    color: str | None
    reasons: list[dict[str, Any]] | None
    graded_at: str | None
    grading_error: str | None


@router.get(
    "/risk/sites",
    response_class=GeoJSONResponse,
    dependencies=[ReadAccess],
    responses=geojson(FeatureCollection[SiteRiskProperties]),
)
def risk_sites(
    session: SessionDep,
    kind: Annotated[list[SiteKind] | None, Query()] = None,
    region: AdcodeParam | None = None,
    status_: Annotated[list[EnterpriseStatus] | None, Query(alias="status")] = None,
    bbox: Annotated[str | None, Query(max_length=100)] = None,
    color: Annotated[list[Color] | None, Query()] = None,
    evidence: Annotated[bool, Query(description="include each reason's evidence (large)")] = False,
) -> Response:
    """Every graded site with its level (1 red … 4 blue), colour and reasons. A site that could not
    be graded this time keeps its last level and carries `grading_error` (why); one never graded
    has level and colour null.

    The collection is assembled as JSON by PostgreSQL, so 10,000 sites cost one query.
    """
    kind_zh = case(SITE_KIND_ZH, value=Site.kind)
    rows = site_filters(
        select(
            Site.code,
            Site.name,
            Site.kind,
            kind_zh.label("kind_zh"),
            Site.region_adcode,
            Enterprise.name.label("enterprise"),
            Enterprise.status,
            SiteRisk.level,
            SiteRisk.inherent_level,
            SiteRisk.color,
            (SiteRisk.reasons if evidence else WITHOUT_EVIDENCE).label("reasons"),
            SiteRisk.graded_at,
            SiteRisk.grading_error,
            func.ST_AsGeoJSON(Site.location, 6).label("geometry"),
        )
        .join(Enterprise, Site.enterprise_id == Enterprise.id)
        .join(SiteRisk, SiteRisk.site_id == Site.id),
        kind,
        region,
        status_,
        bbox,
    )
    if color:
        rows = rows.where(SiteRisk.color.in_(color))
    r = rows.subquery()
    props = [x for c in r.c if c.name != "geometry" for x in (_key(c.name), c)]
    one = func.json_build_object(
        _key("type"),
        _key("Feature"),
        _key("id"),
        r.c.code,
        _key("geometry"),
        cast(r.c.geometry, JSON),
        _key("properties"),
        func.json_build_object(*props),
    )
    features = func.coalesce(func.json_agg(aggregate_order_by(one, r.c.code)), literal_column("'[]'::json"))
    body = session.scalar(
        select(
            cast(
                func.json_build_object(
                    _key("type"),
                    _key("FeatureCollection"),
                    _key("total"),
                    func.count(),
                    _key("features"),
                    features,
                ),
                Text,
            )
        )
    )
    return Response(body, media_type="application/geo+json")


class ExposureProperties(Out):
    """The site's zone (role "zone") or a place found in it (role "found", with its facts)."""

    role: str = Field(description="zone | found")


class RegionRiskProperties(Out):
    """A region (or, when asked, an H3 cell) with its sites counted by colour and its worst level."""

    level: int | None
    color: str | None
    counts: dict[str, int] = Field(description="sites by colour")
    sites: int


def _counts(levels: list[int]) -> dict[str, Any]:
    counts = {color_of(lv): levels.count(lv) for lv in (1, 2, 3, 4)}
    level = min(levels) if levels else None
    return {
        "level": level,
        "color": color_of(level) if level else None,
        "counts": counts,
        "sites": len(levels),
    }


@router.get(
    "/risk/regions",
    response_class=GeoJSONResponse,
    responses=geojson(FeatureCollection[RegionRiskProperties]),
)
def risk_regions(
    session: SessionDep,
    caller: PublicReader,
    by: Literal["county", "prefecture", "grid"] = "county",
    resolution: Annotated[int | None, Query(ge=3, le=9, description="H3 resolution for by=grid")] = None,
    simplify_m: Annotated[float, Query(ge=0, le=5000)] = 100,
) -> GeoJSONResponse:
    """Each region coloured by the most severe site level inside it, with counts per colour: of the
    caller's jurisdiction; for the public (RISKMAP_PUBLIC_MAP = county), the whole province's
    counts per county or prefecture (公众可监督), and no grid (it would place sites)."""
    if caller.scope is Scope.public and by == "grid":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, LOGIN_REQUIRED, {"WWW-Authenticate": "Bearer"})
    if by == "grid":
        return GeoJSONResponse(_grid(session, resolution or risk_rules().grid.h3_resolution))
    prefix = 6 if by == "county" else 4
    levels: dict[str, list[int]] = defaultdict(list)
    query = (
        select(Site.region_adcode, SiteRisk.level)
        .join(SiteRisk, SiteRisk.site_id == Site.id)
        .where(SiteRisk.level.is_not(None))
    )
    if caller.scope is Scope.public:
        # Counts only, read as the platform: the published distribution, nothing of a site.
        with Session(session.get_bind()) as platform_view:
            found = platform_view.execute(query).all()
    else:
        found = session.execute(query).all()
    for adcode, level in found:
        levels[adcode[:prefix]].append(level)
    rows = session.execute(
        select(
            Region.adcode,
            Region.name,
            func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(Region.boundary, simplify_m / 111_000), 5),
        )
        .where(Region.level == by)
        .order_by(Region.adcode)
    )
    return GeoJSONResponse(
        collection(
            feature(geom, {"adcode": a, "name": n, **_counts(levels.get(a[:prefix], []))}, a) for a, n, geom in rows
        )
    )


def _grid(session: Session, resolution: int) -> dict[str, Any]:
    """网格化监管: H3 cells holding at least one site."""
    cells: dict[str, list[int]] = defaultdict(list)
    for lon, lat, level in session.execute(
        select(func.ST_X(Site.location), func.ST_Y(Site.location), SiteRisk.level)
        .join(SiteRisk, SiteRisk.site_id == Site.id)
        .where(SiteRisk.level.is_not(None))
    ):
        cells[h3.latlng_to_cell(lat, lon, resolution)].append(level)
    features = []
    for cell, levels in sorted(cells.items()):
        ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(cell)]
        geometry = json.dumps({"type": "Polygon", "coordinates": [[*ring, ring[0]]]})
        features.append(feature(geometry, {"cell": cell, "resolution": resolution, **_counts(levels)}, cell))
    return collection(features, resolution=resolution)


class RiskChangeOut(Out):
    at: str
    previous_level: int | None
    previous_color: str | None
    level: int
    color: str
    reasons: list[dict[str, Any]] = Field(description="the reasons at the time, as /sites/{code}/risk gives them")


@router.get("/sites/{code}/risk-history", dependencies=[ReadAccess], response_model=list[RiskChangeOut])
def risk_history(code: CodePath, session: SessionDep) -> list[dict[str, Any]]:
    """Every change of the site's level, newest first, with the reasons at the time."""
    site = site_or_404(session, code)
    return [
        {
            "at": c.at.isoformat(),
            "previous_level": c.previous_level,
            "previous_color": color_of(c.previous_level) if c.previous_level else None,
            "level": c.level,
            "color": color_of(c.level),
            "reasons": c.reasons,
        }
        for c in session.scalars(
            select(SiteRiskChange)
            .where(SiteRiskChange.site_id == site.id)
            .order_by(SiteRiskChange.at.desc(), SiteRiskChange.id.desc())
        )
    ]


@router.get(
    "/sites/{code}/exposure",
    response_class=GeoJSONResponse,
    dependencies=[ReadAccess],
    responses=geojson(FeatureCollection[ExposureProperties]),
)
def site_exposure(code: CodePath, session: SessionDep) -> GeoJSONResponse:
    """The area a site's level was measured over (500 m ring, or 1 km downstream zone) and the
    places found in it, with their distances."""
    site = site_or_404(session, code)
    zone = exposure.exposure_shape(session, site.id, site.kind)
    source = exposure.Source.sites([site.id])
    found = (
        exposure.downstream(session, source)
        if site.kind == "tailings_pond"
        else exposure.residents_near(session, source)
    ).get(site.id, [])
    features = [feature(json.dumps(zone), {"role": "zone", "kind": site.kind})] if zone else []
    features += [feature(p.geometry, {"role": "found", **p.as_dict()}) for p in found]
    return GeoJSONResponse(collection(features, site=code))


class ChangeOut(BaseModel):
    rule: str
    fact: str
    current: Any
    proposed: Any
    level_after: int
    text: str
    lowers_site: bool = False  # the site's own level goes down too (no other reason or unit holds it)


class ReasonOut(BaseModel):
    rule: str
    level: int
    color: str
    summary: str  # what a regulator reads, in Chinese
    basis: str  # the standard and clause
    evidence: dict[str, Any]  # the facts, machine-readable
    lower: list[ChangeOut] = []  # the smallest single changes that would lower this reason's level


class SiteRiskOut(BaseModel):
    code: str
    level: int | None
    color: str | None
    inherent_level: int | None
    graded_at: datetime | None
    grading_error: str | None
    reasons: list[ReasonOut]
    lower: list[ChangeOut]  # every reason's, the ones that would lower the site's own level first


@router.get("/sites/{code}/risk", response_model=SiteRiskOut, dependencies=[ReadAccess])
def site_risk(code: CodePath, session: SessionDep) -> SiteRiskOut:
    """A site's level with every reason (its facts and clause) and what would lower it."""
    site = site_or_404(session, code)
    risk = session.get(SiteRisk, site.id)
    if risk is None:
        raise HTTPException(404, f"site {code!r} has not been graded yet")
    reasons = [ReasonOut(**r) for r in risk.reasons]
    # A change lowers the site only when its reason alone sets the site's level (a rainstorm
    # warning raises whatever the rest gives, so it does not hold the level by itself), and, for
    # a major-hazard unit, when no other unit has the same grade.
    deciding = [r for r in reasons if r.level == risk.level and r.rule != "rainstorm_warning"]
    for r in reasons:
        alone = deciding == [r]
        if r.rule == "gb18218":
            grades = [u.get("grade") for u in r.evidence.get("units", [])]
            alone = alone and grades.count(min((g for g in grades if g), default=None)) == 1
        for c in r.lower:
            c.lowers_site = alone
    lower = sorted((c for r in reasons for c in r.lower), key=lambda c: not c.lowers_site)
    return SiteRiskOut(
        code=site.code,
        level=risk.level,
        color=risk.color,
        inherent_level=risk.inherent_level,
        graded_at=risk.graded_at,
        grading_error=risk.grading_error,
        reasons=reasons,
        lower=lower,
    )


class GradingErrorOut(BaseModel):
    code: str
    name: str
    kind: str
    error: str
    since: datetime
    level: int | None  # the level kept from the last successful grading; None: never graded
    graded_at: datetime | None


@router.get("/risk/grading-errors", response_model=list[GradingErrorOut])
def grading_errors(session: SessionDep, caller: Operator) -> list[GradingErrorOut]:
    """Sites the last regrade could not grade, with why, oldest first (operator): each keeps its
    last level until the cause is fixed."""
    rows = session.execute(
        select(
            Site.code,
            Site.name,
            Site.kind,
            SiteRisk.grading_error,
            SiteRisk.grading_error_at,
            SiteRisk.level,
            SiteRisk.graded_at,
        )
        .join(SiteRisk, SiteRisk.site_id == Site.id)
        .where(SiteRisk.grading_error.is_not(None))
        .order_by(SiteRisk.grading_error_at, Site.code)
    )
    return [
        GradingErrorOut(code=c, name=n, kind=k, error=e, since=at, level=lv, graded_at=g)
        for c, n, k, e, at, lv, g in rows
    ]


class RegradeOut(Out):
    graded: int
    changed: int
    errors: dict[str, str] = Field(description="site code → why it could not be graded")


@router.post("/risk/regrade", response_model=RegradeOut)
def regrade_now(session: SessionDep, caller: Operator) -> dict[str, Any]:
    """Regrade every site now (operator)."""
    report = regrade(session)
    session.commit()
    return {"graded": report.graded, "changed": report.changed, "errors": report.errors}


class HazardIn(BaseModel):
    title: str = Field(min_length=1, max_length=256)
    major: bool = False
    criterion: str | None = Field(None, max_length=48, description="判定依据, e.g. coal:五")
    major_reason: str | None = Field(None, max_length=2000, description="a regulator's reasoned decision")
    deadline: Instant | None = None


class HazardOut(Out):
    id: int
    site: str
    title: str
    major: bool


@router.post("/sites/{code}/hidden-hazards", status_code=201, response_model=HazardOut)
def report_hazard(code: CodePath, body: HazardIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """A regulator registers a hidden hazard found at the site (the short form of
    POST /api/v1/hidden-hazards); a major one (重大隐患) makes the site red until 销号."""
    site = site_or_404(session, code)
    hazard = lifecycle.report(
        session,
        caller,
        lifecycle.Report(
            site_id=site.id,
            title=body.title,
            major=body.major,
            criterion=body.criterion,
            major_reason=body.major_reason,
            deadline=body.deadline,
        ),
        datetime.now(UTC),
    )
    session.commit()
    return {"id": hazard.id, "site": code, "title": hazard.title, "major": hazard.major}


# --- siting pre-checks (项目审批安全红线): graded as the register's sites are, not stored ---

Point = dict[str, Any]


def _checked(geojson: dict[str, Any] | None, expected: str, field: str) -> dict[str, Any] | None:
    if geojson is None:
        return None
    try:
        geom = parse_geometry(geojson, ALLOWED[expected], api_settings().max_geometry_vertices)
        geom = check_geometry(geom, expected)
    except GeometryError as exc:
        raise HTTPException(422, [{"loc": ["body", field], "msg": f"{field}: {exc}"}]) from None
    return dict(mapping(geom))  # rebuilt from the checked shape: no stray members reach PostGIS


class SubstanceIn(BaseModel):
    cas: str | None = Field(None, max_length=16)
    name: str | None = Field(None, max_length=64)
    hazard_class: str | None = Field(
        None, max_length=8, description="GB 18218 表2 危险性类别（如 W7.1），表1 未列的物质必填", examples=["W7.1"]
    )
    quantity_t: float = Field(ge=0, le=1e9, allow_inf_nan=False)

    @model_validator(mode="after")
    def _named(self) -> SubstanceIn:
        if not self.cas and not self.name:
            raise ValueError("give the substance's cas or name")
        return self


class MajorHazardIn(BaseModel):
    substances: list[SubstanceIn] = Field(min_length=1, max_length=200)
    exposed_population: int | None = Field(None, ge=0, le=100_000_000)
    location: Point | None = None
    footprint: Point | None = None

    @model_validator(mode="after")
    def _exposure(self) -> MajorHazardIn:
        if self.exposed_population is None and self.location is None and self.footprint is None:
            raise ValueError("give exposed_population, or a location or footprint to count it from")
        return self


class SubstanceTermOut(Out):
    """One substance's share of S: q / Q with β, and the tables that gave Q and β."""

    cas: str | None
    name: str
    quantity_t: Number
    critical_quantity_t: Number
    beta: Number
    ratio: Number
    hazard_class: str | None
    beta_table: str
    table: str


class MajorHazardOut(Out):
    """GB 18218-2018 for one unit: S, major hazard or not, α, R and the grade (1 … 4, or none)."""

    s: Number
    is_major_hazard: bool
    alpha: Number
    exposed_population: int
    r: Number
    grade: int | None
    color: str
    substances: list[SubstanceTermOut]
    basis: str
    summary: str


class TailingsOut(Out):
    pond_class: int = Field(description="1 (largest) … 5")
    head_top: bool = Field(description="头顶库: people live downstream within the rule's distance")
    head_top_evidence: list[dict[str, Any]]
    three_side: bool = Field(description="三边库: near rivers, lakes or drinking-water sources")
    three_side_evidence: list[dict[str, Any]]
    level: int
    color: str
    summary: str
    class_reason: str = Field(description="how the class follows from V and H, with the clause")
    basis: str


@router.post("/assessments/major-hazard", max_body_size=OPEN_BODY_LIMIT, response_model=MajorHazardOut)
def assess_major_hazard(body: MajorHazardIn, session: SessionDep) -> dict[str, Any]:
    """GB 18218-2018 for one proposed unit (单元): S, whether it is a major hazard, α, R and the grade.
    A substance not in Table 1 is given with its hazard class (Table 2), e.g.
    `{"name": "某有机过氧化物", "hazard_class": "W7.1", "quantity_t": 3}`."""
    population = body.exposed_population
    if population is None:
        source = exposure.Source.proposal(
            _checked(body.location, "point", "location"), _checked(body.footprint, "polygon", "footprint")
        )
        population = sum(p.population or 0 for p in exposure.residents_near(session, source).get(0, []))
    try:
        result = grade([Held(s.quantity_t, s.name, s.cas, s.hazard_class) for s in body.substances], population)
    except UnknownSubstance as exc:
        raise HTTPException(422, [{"loc": ["body", "substances"], "msg": str(exc)}]) from None
    out = result.as_dict()
    out.pop("level")
    out["substances"] = [
        {k: v for k, v in t.items() if k != "table"} | {"table": t["table"]} for t in out["substances"]
    ]
    return out


class TailingsIn(BaseModel):
    capacity_10k_m3: float = Field(ge=0, le=1e7, allow_inf_nan=False)
    dam_height_m: float = Field(ge=0, le=1000, allow_inf_nan=False)
    location: Point
    downstream_bearing_deg: float | None = Field(None, ge=0, lt=360)
    downstream_zone: Point | None = None
    wet: bool = True

    @model_validator(mode="after")
    def _direction(self) -> TailingsIn:
        if self.downstream_bearing_deg is None and self.downstream_zone is None:
            raise ValueError("give downstream_bearing_deg or downstream_zone")
        return self


@router.post("/assessments/tailings-pond", max_body_size=OPEN_BODY_LIMIT, response_model=TailingsOut)
def assess_tailings_pond(body: TailingsIn, session: SessionDep) -> dict[str, Any]:
    """Class, 头顶库 and 三边库 findings and the level of a proposed tailings pond."""
    source = exposure.Source.proposal(
        _checked(body.location, "point", "location"),
        None,
        body.downstream_bearing_deg,
        _checked(body.downstream_zone, "polygon", "downstream_zone"),
    )
    down = exposure.downstream(session, source).get(0, [])
    waters = exposure.waters_near(session, source).get(0, [])
    sources = exposure.water_sources_downstream(session, source).get(0, [])
    reason = tailings_level(PondFacts(body.capacity_10k_m3, body.dam_height_m, body.wet, down, waters, sources))
    return {
        "pond_class": pond_class(body.capacity_10k_m3, body.dam_height_m),
        "head_top": bool(down),
        "head_top_evidence": [p.as_dict() for p in down],
        "three_side": bool(waters or sources),
        "three_side_evidence": [p.as_dict() for p in waters + sources],
        "level": reason.level,
        "color": color_of(reason.level),
        "summary": reason.summary,
        "class_reason": reason.evidence["class_reason"],
        "basis": reason.basis,
    }
