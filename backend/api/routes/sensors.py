"""Registering a sensor through the API: the same validation as `riskmap import` (so a methane
sensor at a location with no row of the threshold table is refused unless it brings its own
thresholds)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from backend.api.deps import Operator, SessionDep
from backend.api.edge import StrictJSONRoute
from backend.api.register import import_one
from backend.api.responses import Out
from backend.models import Sensor
from backend.registry.importer import Layer

router = APIRouter(prefix="/api/v1", tags=["monitoring"], route_class=StrictJSONRoute)


class SensorFeature(BaseModel):
    """A GeoJSON Feature: where the sensor is (a Point, or null) and its fields as properties
    (code, site_code, gateway_id, kind, location_label, substance, unit, interval_s, thresholds)."""

    type: str = Field("Feature", pattern="^Feature$")
    geometry: dict[str, Any] | None = None
    properties: dict[str, Any]


class SensorOut(Out):
    code: str
    kind: str
    location_label: str
    unit: str
    interval_s: int
    thresholds: dict[str, Any] = Field(description="its alarm levels; by default those of its kind and location")


@router.post("/sensors", status_code=201, response_model=SensorOut)
def create_sensor(body: SensorFeature, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """Register a sensor (operator); 422 with the reason when it cannot be (e.g. no default
    thresholds for its location), 409 when its code is taken."""
    import_one(session, Layer.sensors, body.properties, body.geometry)
    sensor = session.scalar(select(Sensor).where(Sensor.code == body.properties["code"]))
    session.commit()
    assert sensor is not None
    return {
        "code": sensor.code,
        "kind": sensor.kind,
        "location_label": sensor.location_label,
        "unit": sensor.unit,
        "interval_s": sensor.interval_s,
        "thresholds": sensor.thresholds,
    }
