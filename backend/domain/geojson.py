"""Untrusted GeoJSON geometries, checked before shapely or PostGIS sees them: pure.

shapely's `shape()` raises whatever its input provokes (KeyError, TypeError, IndexError, GEOS
errors) and happily builds a polygon of 400,000 vertices or one at latitude 1000, which PostGIS
then stores. Here the structure, the size and every coordinate are checked first, and an invalid
polygon is refused with shapely's own explanation (e.g. "Self-intersection[126.5 43.9]").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from backend.domain.geo import GeometryError

# How deep each type's coordinates nest above a position.
NESTING = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
DEFAULT_MAX_VERTICES = 10_000


class TooManyVertices(GeometryError):
    pass


def check_position(lon: Any, lat: Any) -> None:
    """A WGS 84 longitude and latitude: finite numbers within ±180 and ±90."""
    for v in (lon, lat):
        if isinstance(v, bool) or not isinstance(v, int | float) or (isinstance(v, float) and not math.isfinite(v)):
            raise GeometryError("coordinates must be finite numbers")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GeometryError(
            f"coordinates out of range (lon {str(lon)[:12]}, lat {str(lat)[:12]}): lon -180..180, lat -90..90"
        )


def _count_positions(coordinates: Any, depth: int, max_vertices: int) -> int:
    """Walk the nested arrays without recursion, checking every position; stop at the limit."""
    count = 0
    stack: list[tuple[Any, int]] = [(coordinates, depth)]
    while stack:
        node, d = stack.pop()
        if not isinstance(node, list):
            raise GeometryError("coordinates: expected nested arrays of [lon, lat]")
        if d == 0:
            if len(node) not in (2, 3):
                raise GeometryError("a position is [lon, lat] (or [lon, lat, height])")
            check_position(node[0], node[1])
            count += 1
            if count > max_vertices:
                raise TooManyVertices(f"more than {max_vertices} vertices")
        else:
            stack.extend((child, d - 1) for child in node)
    return count


def parse_geometry(obj: Any, allowed: Iterable[str], max_vertices: int = DEFAULT_MAX_VERTICES) -> BaseGeometry:
    """A valid, non-empty, two-dimensional shapely geometry of one of the `allowed` GeoJSON types;
    raises GeometryError (TooManyVertices past `max_vertices`) saying what is wrong."""
    allowed = set(allowed)
    if not isinstance(obj, dict):
        raise GeometryError("expected a GeoJSON geometry object")
    kind = obj.get("type")
    if kind not in allowed or kind not in NESTING:
        raise GeometryError(f"expected {' or '.join(sorted(allowed))}, got {str(kind)[:40]!r}")
    if "coordinates" not in obj:
        raise GeometryError("a geometry needs coordinates")
    _count_positions(obj["coordinates"], NESTING[kind], max_vertices)
    try:
        geom = shapely.force_2d(shape({"type": kind, "coordinates": obj["coordinates"]}))
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise GeometryError(f"not a valid {kind}: {str(exc)[:120]}") from None
    if geom.is_empty:
        raise GeometryError("empty geometry")
    if not geom.is_valid:
        raise GeometryError(f"invalid {kind}: {explain_validity(geom)}")
    return geom
