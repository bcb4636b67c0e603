"""Geometry checks for anything entering the register: pure, shapely only."""

from __future__ import annotations

from shapely import Geometry
from shapely.validation import explain_validity

# China's extent (73.5–135.1° E, 18.1–53.6° N); coarse, but catches swapped or wrong coordinates.
CHINA_BBOX = (73.4, 18.0, 135.1, 53.6)

ALLOWED = {
    "point": {"Point"},
    "polygon": {"Polygon"},
    "multipolygon": {"Polygon", "MultiPolygon"},
    "any": {"Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon"},
}


class GeometryError(ValueError):
    pass


def check_geometry(geom: Geometry | None, expected: str) -> Geometry:
    """The geometry if it is usable as `expected` (point, polygon, multipolygon, any)."""
    if geom is None or geom.is_empty:
        raise GeometryError("empty geometry")
    if geom.geom_type not in ALLOWED[expected]:
        raise GeometryError(f"expected {expected}, got {geom.geom_type}")
    if not geom.is_valid:
        raise GeometryError(f"invalid geometry: {explain_validity(geom)}")
    minx, miny, maxx, maxy = geom.bounds
    lo_x, lo_y, hi_x, hi_y = CHINA_BBOX
    if minx < lo_x or maxx > hi_x or miny < lo_y or maxy > hi_y:
        raise GeometryError(
            f"coordinates outside China (lon {minx:.4f}..{maxx:.4f}, lat {miny:.4f}..{maxy:.4f});"
            " expected WGS 84 longitude, latitude"
        )
    return geom
