"""What lies around a site, counted in PostGIS: residents within 500 m of a plant, places and
transport lines in a tailings pond's downstream zone, waters beside it.

Every query runs over a *source* of shapes: the stored sites (all, or some ids), or one
proposed project given as GeoJSON (the siting pre-checks), so both are measured the same way.
Distances are on the ellipsoid (geography); a bounding-box test on the geometry first lets the
GiST indexes do the searching.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.domain.inherent import Place
from backend.domain.rules_models import TailingsRules, risk_rules
from backend.domain.substances import gb18218

# Degrees per metre, generous for any latitude up to 57° (a degree of longitude is ≥ 60 km).
DEG_PER_M = 1 / 60_000


@dataclass(frozen=True)
class Source:
    """A SQL row source with columns key, location, shape, bearing, zone."""

    sql: str
    params: dict[str, Any]

    @classmethod
    def sites(cls, ids: list[int] | None = None, kind: str | None = None) -> Source:
        return cls(
            "SELECT s.id AS key, s.location, COALESCE(s.footprint, s.location) AS shape, "
            "tp.downstream_bearing_deg AS bearing, tp.downstream_zone AS zone "
            "FROM sites s LEFT JOIN tailings_ponds tp ON tp.site_id = s.id "
            "WHERE (CAST(:ids AS int[]) IS NULL OR s.id = ANY(:ids)) "
            "AND (CAST(:kind AS text) IS NULL OR s.kind = :kind)",
            {"ids": ids, "kind": kind},
        )

    @classmethod
    def units(cls, ids: list[int] | None = None) -> Source:
        """Major-hazard units (GB 18218 单元) of the sites: each measured from its own footprint where
        it has one, else from its plant's."""
        return cls(
            "SELECT u.id AS key, s.location, COALESCE(u.footprint, s.footprint, s.location) AS shape, "
            "CAST(NULL AS float8) AS bearing, CAST(NULL AS geometry) AS zone "
            "FROM hazard_units u JOIN sites s ON s.id = u.site_id "
            "WHERE (CAST(:ids AS int[]) IS NULL OR s.id = ANY(:ids))",
            {"ids": ids},
        )

    @classmethod
    def proposal(
        cls,
        location: dict[str, Any] | None,
        shape: dict[str, Any] | None = None,
        bearing: float | None = None,
        zone: dict[str, Any] | None = None,
    ) -> Source:
        """One proposed project; `location` or `shape` (GeoJSON) must be given."""

        def geo(name: str) -> str:
            return f"ST_SetSRID(ST_GeomFromGeoJSON(CAST(:{name} AS text)), 4326)"

        return cls(
            f"SELECT 0 AS key, COALESCE({geo('loc')}, ST_PointOnSurface({geo('shape')})) AS location, "
            f"COALESCE({geo('shape')}, {geo('loc')}) AS shape, CAST(:bearing AS float8) AS bearing, "
            f"{geo('zone')} AS zone",
            {"loc": _dump(location), "shape": _dump(shape), "bearing": bearing, "zone": _dump(zone)},
        )


def _dump(geojson: dict[str, Any] | None) -> str | None:
    return json.dumps(geojson) if geojson else None


def _grouped(session: Session, sql: str, params: dict[str, Any]) -> dict[int, list[Place]]:
    out: dict[int, list[Place]] = defaultdict(list)
    for r in session.execute(text(sql), params):
        out[r.key].append(Place(r.name, r.kind, float(r.distance_m), r.population, r.geometry))
    for places in out.values():
        places.sort(key=lambda p: p.distance_m)
    return out


def tailings_rules() -> TailingsRules:
    """The 头顶库 and 三边库 distances and kinds (risk_rules.yaml, tailings)."""
    return risk_rules().tailings


def residents_near(session: Session, source: Source, radius_m: float | None = None) -> dict[int, list[Place]]:
    """Residential places within radius_m outward of each shape (GB 18218 Table 5: 500 m), for
    every key of the source in one query (sites, or all their units)."""
    radius_m = radius_m or gb18218().exposure_radius_m
    kinds = [str(k) for k in risk_rules().hazchem.resident_place_kinds]
    sql = f"""
        WITH src AS ({source.sql})
        SELECT src.key, p.name, p.kind, p.population,
               ST_Distance(src.shape::geography, p.geom::geography) AS distance_m, ST_AsGeoJSON(p.geom, 6) AS geometry
        FROM src JOIN exposed_places p
          ON p.geom && ST_Expand(src.shape, :radius * {DEG_PER_M})
         AND ST_DWithin(src.shape::geography, p.geom::geography, :radius)
        WHERE p.kind = ANY(:kinds)"""
    return _grouped(session, sql, {**source.params, "radius": radius_m, "kinds": kinds})


def _zone_sql(radius_param: str) -> str:
    """A pond's downstream zone: the surveyed polygon, else the sector around its bearing."""
    return f"COALESCE(src.zone, riskmap_sector(src.location, src.bearing, :{radius_param}, :half))"


def _downstream(session: Session, source: Source, within_m: float | None) -> dict[int, list[Place]]:
    """Places and transport lines in each pond's downstream zone, within `within_m` of the dam
    (inclusive) when given, else anywhere in the zone."""
    rules = tailings_rules()
    near = "AND (CAST(:within AS float8) IS NULL OR ST_DWithin(z.location::geography, {}::geography, :within))"
    sql = f"""
        WITH src AS ({source.sql}), z AS MATERIALIZED (
            -- MATERIALIZED: build each zone once, not once per candidate place
            SELECT src.key, src.location, {_zone_sql("dist")} AS zone
            FROM src WHERE src.bearing IS NOT NULL OR src.zone IS NOT NULL)
        SELECT z.key, p.name, p.kind, p.population,
               ST_Distance(z.location::geography, p.geom::geography) AS distance_m, ST_AsGeoJSON(p.geom, 6) AS geometry
        FROM z JOIN exposed_places p ON p.geom && z.zone AND ST_Intersects(z.zone, p.geom)
        WHERE p.kind = ANY(:place_kinds) {near.format("p.geom")}
        UNION ALL
        SELECT z.key, f.name, f.kind, NULL,
               ST_Distance(z.location::geography, f.geom::geography) AS distance_m, ST_AsGeoJSON(f.geom, 6) AS geometry
        FROM z JOIN exposed_features f ON f.geom && z.zone AND ST_Intersects(z.zone, f.geom)
        WHERE f.kind = ANY(:feature_kinds) {near.format("f.geom")}"""
    return _grouped(
        session,
        sql,
        {
            **source.params,
            "dist": rules.head_top_distance_m,
            "within": within_m,
            "half": rules.downstream_half_angle_deg,
            "place_kinds": [str(k) for k in rules.head_top_place_kinds],
            "feature_kinds": [str(k) for k in rules.head_top_feature_kinds],
        },
    )


def downstream(session: Session, source: Source) -> dict[int, list[Place]]:
    """头顶库 evidence: residents, schools, hospitals, railways and highways downstream of the dam and
    within `head_top_distance_m` (1 km, inclusive) of it — every kind, inside a surveyed zone too."""
    return _downstream(session, source, float(tailings_rules().head_top_distance_m))


def downstream_targets(session: Session, source: Source) -> dict[int, list[Place]]:
    """Everything in each pond's downstream zone, however far down a surveyed zone it lies: the
    villages and facilities a warning must reach (not evidence of 头顶库 beyond 1 km)."""
    return _downstream(session, source, None)


def waters_near(session: Session, source: Source) -> dict[int, list[Place]]:
    """Rivers, lakes and reservoirs within the 三边库 distance of each shape."""
    rules = tailings_rules()
    sql = f"""
        WITH src AS ({source.sql})
        SELECT src.key, f.name, f.kind, NULL AS population,
               ST_Distance(src.shape::geography, f.geom::geography) AS distance_m, ST_AsGeoJSON(f.geom, 6) AS geometry
        FROM src JOIN exposed_features f
          ON f.geom && ST_Expand(src.shape, :dist * {DEG_PER_M})
         AND ST_DWithin(src.shape::geography, f.geom::geography, :dist)
        WHERE f.kind = ANY(:kinds)"""
    return _grouped(
        session,
        sql,
        {
            **source.params,
            "dist": rules.three_side_distance_m,
            "kinds": [str(k) for k in rules.three_side_feature_kinds],
        },
    )


def water_sources_downstream(session: Session, source: Source) -> dict[int, list[Place]]:
    """Drinking-water sources downstream of each pond (三边库: upstream of a water source)."""
    rules = tailings_rules()
    sql = f"""
        WITH src AS ({source.sql}), z AS MATERIALIZED (
            SELECT src.key, src.location, riskmap_sector(src.location, src.bearing, :dist, :half) AS zone
            FROM src WHERE src.bearing IS NOT NULL)
        SELECT z.key, p.name, p.kind, p.population,
               ST_Distance(z.location::geography, p.geom::geography) AS distance_m, ST_AsGeoJSON(p.geom, 6) AS geometry
        FROM z JOIN exposed_places p ON p.geom && z.zone AND ST_Intersects(z.zone, p.geom)
        WHERE p.kind = 'water_source'"""
    return _grouped(
        session,
        sql,
        {
            **source.params,
            "dist": rules.water_source_upstream_m,
            "half": rules.downstream_half_angle_deg,
        },
    )


def exposure_shape(session: Session, site_id: int, kind: str) -> dict[str, Any] | None:
    """The area a site's level was measured over, as GeoJSON: the 500 m ring of a plant or the
    downstream zone of a pond."""
    if kind == "tailings_pond":
        rules = tailings_rules()
        src = Source.sites([site_id]).sql
        sql = f"WITH src AS ({src}) SELECT ST_AsGeoJSON({_zone_sql('dist')}, 6) FROM src"
        params = {
            "ids": [site_id],
            "kind": None,
            "dist": rules.head_top_distance_m,
            "half": rules.downstream_half_angle_deg,
        }
    else:
        sql = (
            "SELECT ST_AsGeoJSON(ST_Buffer(COALESCE(footprint, location)::geography, :r)::geometry, 6) "
            "FROM sites WHERE id = :id"
        )
        params = {"id": site_id, "r": gb18218().exposure_radius_m}
    value = session.scalar(text(sql), params)
    return json.loads(value) if value else None
