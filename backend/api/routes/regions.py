"""Administrative regions as GeoJSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import func, select

from backend.api.deps import PublicAccess, SessionDep
from backend.api.edge import StrictJSONRoute
from backend.api.geojson import GeoJSONResponse, collection, feature
from backend.api.responses import FeatureCollection, Out, geojson
from backend.domain.kinds import RegionLevel
from backend.models import Region, Site

router = APIRouter(prefix="/api/v1", tags=["regions"], route_class=StrictJSONRoute)


class RegionProperties(Out):
    adcode: str
    name: str
    level: str = Field(description="province | prefecture | county")
    parent_adcode: str | None
    site_count: int = Field(description="sites inside the region")


@router.get(
    "/regions",
    response_class=GeoJSONResponse,
    dependencies=[PublicAccess],
    responses=geojson(FeatureCollection[RegionProperties]),
)
def list_regions(
    session: SessionDep,
    level: RegionLevel = RegionLevel.county,
    simplify_m: Annotated[float, Query(ge=0, le=5000, description="simplify boundaries to about this many metres")] = 0,
) -> GeoJSONResponse:
    """Regions of one level with their boundaries (public geography) and how many sites of the
    caller's jurisdiction each holds."""
    tolerance = simplify_m / 111_000
    boundary = func.ST_SimplifyPreserveTopology(Region.boundary, tolerance) if tolerance else Region.boundary
    counts = (
        select(func.count())
        .select_from(Site)
        .where(Site.region_adcode.startswith(func.substr(Region.adcode, 1, _prefix_len(level))))
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Region.adcode,
            Region.name,
            Region.level,
            Region.parent_adcode,
            counts,
            func.ST_AsGeoJSON(boundary, 5),
        )
        .where(Region.level == str(level))
        .order_by(Region.adcode)
    )
    return GeoJSONResponse(
        collection(
            feature(geom, {"adcode": a, "name": n, "level": lv, "parent_adcode": p, "site_count": c}, a)
            for a, n, lv, p, c, geom in rows
        )
    )


def _prefix_len(level: RegionLevel) -> int:
    return {RegionLevel.province: 2, RegionLevel.prefecture: 4, RegionLevel.county: 6}[level]
