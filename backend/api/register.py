"""One register record through the API, with the same validation as `riskmap import`: the
geometry checked, the row imported in the caller's session, and the importer's refusal mapped to
a typed error (Conflict for a taken code, else Invalid) that backend/api/errors.py maps to a status."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy.orm import Session

from backend.core.config import api_settings
from backend.domain.errors import Conflict, Invalid
from backend.domain.geo import GeometryError
from backend.domain.geojson import NESTING, parse_geometry
from backend.registry.importer import Layer, Row, import_rows


def import_one(session: Session, layer: Layer, properties: dict[str, Any], geometry: dict[str, Any] | None) -> None:
    """Import one record or raise the domain error that says why not (rolling the session back)."""
    geom = None
    if geometry is not None:
        try:
            geom = parse_geometry(geometry, NESTING, api_settings().max_geometry_vertices)
        except GeometryError as exc:
            raise HTTPException(422, f"geometry: {exc}") from None
    report = import_rows(session, layer, [Row(1, properties, geom)], source="api")
    if report.errors:
        session.rollback()
        error = report.errors[0]
        raise (Conflict if error.duplicate else Invalid)(error.reason)
