"""The site register: list and filter as GeoJSON, one site in full, create and amend."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, status
from geoalchemy2.shape import from_shape
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from backend.api.deps import Operator, ReadAccess, SessionDep
from backend.api.edge import StrictJSONRoute
from backend.api.geojson import GeoJSONResponse, collection, feature
from backend.api.register import import_one
from backend.api.responses import Feature, FeatureCollection, Out, geojson
from backend.core.config import api_settings
from backend.domain.geo import ALLOWED, GeometryError, check_geometry
from backend.domain.geojson import parse_geometry
from backend.domain.kinds import SITE_KIND_ZH, EnterpriseStatus, SiteKind, region_prefix
from backend.domain.major_hazard import UNIT_KIND_ZH, UnitGradingError, grade_unit
from backend.models import Enterprise, Gateway, InventoryItem, Region, Sensor, Site
from backend.models.base import SRID
from backend.registry.importer import Layer
from backend.risk.engine import hazard_units, regrade

router = APIRouter(prefix="/api/v1", tags=["sites"], route_class=StrictJSONRoute)

AdcodeParam = Annotated[
    str,
    Query(
        pattern=r"^\d{6}$",
        description="GB/T 2260 code; a prefecture or province includes its counties",
    ),
]
CodePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,46}$")]


def parse_bbox(bbox: str) -> tuple[float, float, float, float]:
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox.split(","))
    except ValueError:
        raise HTTPException(422, "bbox: expected four numbers minLon,minLat,maxLon,maxLat") from None
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise HTTPException(422, "bbox: expected minLon < maxLon within ±180 and minLat < maxLat within ±90")
    return minx, miny, maxx, maxy


def site_filters(
    query: Select[Any],
    kind: list[SiteKind] | None = None,
    region: str | None = None,
    status_: list[EnterpriseStatus] | None = None,
    bbox: str | None = None,
) -> Select[Any]:
    """The filters every site listing shares (the register here, the risk layer later)."""
    if kind:
        query = query.where(Site.kind.in_([str(k) for k in kind]))
    if region:
        query = query.where(Site.region_adcode.startswith(region_prefix(region)))
    if status_:
        query = query.where(Enterprise.status.in_([str(s) for s in status_]))
    if bbox:
        minx, miny, maxx, maxy = parse_bbox(bbox)
        query = query.where(func.ST_Intersects(Site.location, func.ST_MakeEnvelope(minx, miny, maxx, maxy, SRID)))
    return query


class SiteProperties(Out):
    """A site in the list; one site's answer adds its footprint, kind-specific facts (tailings
    pond, mine), inventory, units, gateways and sensors."""

    code: str
    name: str
    kind: str
    kind_zh: str
    enterprise: str
    enterprise_credit_code: str
    status: str = Field(description="the enterprise's status")
    credit_list: str
    region_adcode: str
    region_name: str


def _site_properties(site: Site, enterprise: Enterprise, region_name: str) -> dict[str, Any]:
    return {
        "code": site.code,
        "name": site.name,
        "kind": site.kind,
        "kind_zh": SITE_KIND_ZH[SiteKind(site.kind)],
        "enterprise": enterprise.name,
        "enterprise_credit_code": enterprise.credit_code,
        "status": enterprise.status,
        "credit_list": enterprise.credit_list,
        "region_adcode": site.region_adcode,
        "region_name": region_name,
    }


@router.get(
    "/sites",
    response_class=GeoJSONResponse,
    dependencies=[ReadAccess],
    responses=geojson(FeatureCollection[SiteProperties]),
)
def list_sites(
    session: SessionDep,
    kind: Annotated[list[SiteKind] | None, Query()] = None,
    region: AdcodeParam | None = None,
    status_: Annotated[list[EnterpriseStatus] | None, Query(alias="status")] = None,
    bbox: Annotated[str | None, Query(max_length=100, description="minLon,minLat,maxLon,maxLat")] = None,
    limit: Annotated[int, Query(ge=1)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> GeoJSONResponse:
    """Sites as a GeoJSON FeatureCollection, with the total that match for paging."""
    if limit > api_settings().max_page_size:
        raise HTTPException(422, f"limit: at most {api_settings().max_page_size}")
    base = site_filters(
        select(Site.id).join(Enterprise, Site.enterprise_id == Enterprise.id),
        kind,
        region,
        status_,
        bbox,
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        site_filters(
            select(Site, Enterprise, Region.name, func.ST_AsGeoJSON(Site.location, 6))
            .join(Enterprise, Site.enterprise_id == Enterprise.id)
            .join(Region, Site.region_adcode == Region.adcode),
            kind,
            region,
            status_,
            bbox,
        )
        .order_by(Site.code)
        .limit(limit)
        .offset(offset)
    ).all()
    features = [feature(geom, _site_properties(s, e, rn), s.code) for s, e, rn, geom in rows]
    return GeoJSONResponse(
        collection(
            features,
            total=total,
            numberMatched=total,
            numberReturned=len(features),
            limit=limit,
            offset=offset,
        )
    )


def site_or_404(session: Session, code: str, *options: Any) -> Site:
    site = session.scalar(select(Site).where(Site.code == code).options(*options))
    if site is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site with code {code!r}")
    return site


def _load_site(session: Session, code: str) -> Site:
    return site_or_404(
        session,
        code,
        selectinload(Site.inventory).selectinload(InventoryItem.unit),
        selectinload(Site.enterprise),
        selectinload(Site.tailings_pond),
        selectinload(Site.coal_mine),
        selectinload(Site.noncoal_mine),
    )


def _geojson(session: Session, geom: Any) -> Any:
    return None if geom is None else session.scalar(func.ST_AsGeoJSON(geom, 6))


@router.get(
    "/sites/{code}",
    response_class=GeoJSONResponse,
    dependencies=[ReadAccess],
    responses=geojson(Feature[SiteProperties]),
)
def get_site(code: CodePath, session: SessionDep) -> GeoJSONResponse:
    """One site as a GeoJSON Feature: attributes, inventory, gateways and sensors."""
    site = _load_site(session, code)
    region_name = session.scalar(select(Region.name).where(Region.adcode == site.region_adcode)) or ""
    props = _site_properties(site, site.enterprise, region_name)
    props["footprint"] = _json_or_none(_geojson(session, site.footprint))
    if site.tailings_pond:
        t = site.tailings_pond
        props["tailings_pond"] = {
            "capacity_10k_m3": t.capacity_10k_m3,
            "dam_height_m": t.dam_height_m,
            "dam_type": t.dam_type,
            "wet": t.wet,
            "downstream_bearing_deg": t.downstream_bearing_deg,
            "downstream_zone": _json_or_none(_geojson(session, t.downstream_zone)),
        }
    if site.coal_mine:
        c = site.coal_mine
        props["coal_mine"] = {
            "gas_class": c.gas_class,
            "hydrogeology": c.hydrogeology,
            "capacity_10k_t": c.capacity_10k_t,
        }
    if site.noncoal_mine:
        n = site.noncoal_mine
        props["noncoal_mine"] = {
            "mining_method": n.mining_method,
            "mineral": n.mineral,
            "capacity_10k_t": n.capacity_10k_t,
        }
    props["inventory"] = [
        {
            "unit_code": i.unit.code,
            "substance": i.substance,
            "cas": i.cas,
            "hazard_class": i.hazard_class,
            "max_quantity_t": i.max_quantity_t,
        }
        for i in site.inventory
    ]
    if site.kind == SiteKind.hazchem:
        props["units"] = [u.model_dump() for u in site_units(session, site.id)]
    props["gateways"] = [
        {"id": gid, "name": name}
        for gid, name in session.execute(
            select(Gateway.id, Gateway.name).where(Gateway.site_id == site.id).order_by(Gateway.id)
        )
    ]
    props["sensors"] = [
        {
            "code": s.code,
            "kind": s.kind,
            "unit": s.unit,
            "location_label": s.location_label,
            "substance": s.substance,
            "gateway_id": s.gateway_id,
            "interval_s": s.interval_s,
            "thresholds": s.thresholds,
        }
        for s in session.scalars(select(Sensor).where(Sensor.site_id == site.id).order_by(Sensor.code))
    ]
    return GeoJSONResponse(feature(_geojson(session, site.location), props, site.code))


class UnitSubstanceOut(BaseModel):
    """A substance in a unit: its quantity, its Q and β (null when the tables cannot give them)."""

    name: str
    cas: str | None
    hazard_class: str | None
    quantity_t: float
    q_t: float | None
    beta: float | None
    table: str | None = None


class UnitOut(BaseModel):
    """A major-hazard unit (GB 18218-2018 单元) graded on its own: S, α from the residents within
    500 m of its footprint (else the plant's), R, grade and colour; `error` when it cannot be graded."""

    code: str
    name: str
    kind: Literal["production", "storage"] | None
    kind_zh: str
    substances: list[UnitSubstanceOut]
    s: float | None
    is_major_hazard: bool | None
    alpha: float | None
    exposed_population: int
    exposure_measured_from: Literal["unit", "plant"]
    r: float | None
    grade: int | None
    color: str | None
    summary: str
    error: str | None = None


def site_units(session: Session, site_id: int) -> list[UnitOut]:
    """The site's units graded now from the register (the same facts and rules as the regrade)."""
    out = []
    for unit in hazard_units(session, [site_id]).get(site_id, []):
        try:
            out.append(UnitOut.model_validate(grade_unit(unit).as_dict()))
        except UnitGradingError as exc:
            out.append(
                UnitOut(
                    code=unit.code,
                    name=unit.name,
                    kind=unit.kind,  # type: ignore[arg-type]
                    kind_zh=UNIT_KIND_ZH[unit.kind],
                    substances=[
                        UnitSubstanceOut(
                            name=h.name or h.cas or "",
                            cas=h.cas,
                            hazard_class=h.hazard_class,
                            quantity_t=h.quantity_t,
                            q_t=None,
                            beta=None,
                        )
                        for h in unit.held
                    ],
                    s=None,
                    is_major_hazard=None,
                    alpha=None,
                    exposed_population=unit.population,
                    exposure_measured_from="unit" if unit.own_footprint else "plant",
                    r=None,
                    grade=None,
                    color=None,
                    summary=f"无法辨识：{exc.cause}",
                    error=str(exc),
                )
            )
    return out


def _json_or_none(text: str | None) -> Any:
    return json.loads(text) if text else None


class SiteFeature(BaseModel):
    """A GeoJSON Feature: a Point geometry and the site's fields as properties."""

    type: str = Field("Feature", pattern="^Feature$")
    geometry: dict[str, Any]
    properties: dict[str, Any]


@router.post("/sites", status_code=201, response_class=GeoJSONResponse, responses=geojson(Feature[SiteProperties], 201))
def create_site(body: SiteFeature, session: SessionDep, caller: Operator) -> GeoJSONResponse:
    """Register a site (operator). The same validation as `riskmap import`."""
    import_one(session, Layer.sites, body.properties, body.geometry)
    regrade(session, [session.scalar(select(Site.id).where(Site.code == body.properties["code"]))])
    session.commit()
    code = body.properties["code"]
    created = get_site(code, session)
    created.status_code = 201
    created.headers["Location"] = f"/api/v1/sites/{code}"
    return created


class SitePatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=128)
    geometry: dict[str, Any] | None = Field(None, description="a new location (GeoJSON Point)")


@router.patch("/sites/{code}", response_class=GeoJSONResponse, responses=geojson(Feature[SiteProperties]))
def amend_site(
    code: CodePath, body: Annotated[SitePatch, Body()], session: SessionDep, caller: Operator
) -> GeoJSONResponse:
    """Rename or move a site (operator); the change and its before/after go to the audit log."""
    site = _load_site(session, code)
    if body.name is not None:
        site.name = body.name
    if body.geometry is not None:
        try:
            geom = check_geometry(parse_geometry(body.geometry, ALLOWED["point"]), "point")
        except GeometryError as exc:
            raise HTTPException(422, f"geometry: {exc}") from None
        site.location = from_shape(geom, SRID)
    session.flush()
    regrade(session, [site.id])
    session.commit()
    return get_site(code, session)
