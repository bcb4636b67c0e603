"""GeoJSON responses assembled from rows whose geometry PostGIS already encoded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi.responses import JSONResponse


class GeoJSONResponse(JSONResponse):
    """JSON with the GeoJSON media type; a JSONResponse so that OpenAPI takes the model a route
    documents in `responses=` as its schema (not a plain string)."""

    media_type = "application/geo+json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def feature(geometry: str | None, properties: dict[str, Any], fid: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "Feature",
        "geometry": json.loads(geometry) if geometry else None,
        "properties": properties,
    }
    if fid is not None:
        out["id"] = fid
    return out


def collection(features: Iterable[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **members}
