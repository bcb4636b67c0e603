"""Weather warnings in: their areas (GeoJSON, CAP polygons, region codes), an Alert, Update or
Cancel from the weather service, and a rain gauge past its threshold. Each goes through the
rules in flood_warning.yaml; a matching rule issues (updates, cancels) a broadcast, and the
sites in the area are regraded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely import wkt
from shapely.geometry import MultiPolygon, Polygon
from shapely.ops import unary_union
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.domain.geo import GeometryError, check_geometry
from backend.domain.geojson import DEFAULT_MAX_VERTICES, parse_geometry
from backend.domain.states import BroadcastState
from backend.models import Broadcast, WeatherWarning
from backend.models.base import SRID
from backend.risk.engine import regrade
from backend.warnings import targeting
from backend.warnings.issue import BroadcastOrder, cancel, issue, update
from backend.warnings.rules import WarningInvalid, matching_rule

GAUGE_ACTOR = "system:rain-gauge"


def area_from(
    session: Session,
    geojson: dict[str, Any] | None,
    adcodes: list[str],
    rings: list[list[tuple[float, float]]] | None = None,
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> MultiPolygon:
    """The union of a GeoJSON (Multi)Polygon, CAP polygon rings (lon, lat) and the regions named
    by GB/T 2260 codes. Untrusted geometry is checked first: structure, size, coordinates in
    range and inside China, and a valid (e.g. not self-intersecting) polygon."""
    parts: list[Polygon] = []
    try:
        if geojson:
            geom = check_geometry(parse_geometry(geojson, {"Polygon", "MultiPolygon"}, max_vertices), "multipolygon")
            parts += list(getattr(geom, "geoms", [geom]))
        for ring in rings or []:
            parts.append(check_geometry(Polygon(ring), "polygon"))
    except GeometryError as exc:
        raise WarningInvalid(f"area: {exc}", "area") from None
    for code in adcodes:
        boundary = session.scalar(text("SELECT ST_AsText(boundary) FROM regions WHERE adcode = :a"), {"a": code})
        if boundary is None:
            raise WarningInvalid(f"adcodes: unknown region {code!r}", "adcodes")
        parts += list(wkt.loads(boundary).geoms)
    if not parts:
        raise WarningInvalid("area: give a polygon or region codes", "area")
    merged = unary_union(parts)  # overlapping parts (CAP polygons, neighbouring regions) made one
    return merged if isinstance(merged, MultiPolygon) else MultiPolygon([merged])


@dataclass
class WarningIn:
    identifier: str
    color: str
    area: MultiPolygon
    adcodes: list[str]
    onset: datetime | None
    expires: datetime | None
    msg_type: str = "Alert"
    references: list[str] | None = None
    status: str = "Actual"
    sender: str = ""
    event: str = "暴雨"
    source: str | None = None


def receive_warning(session: Session, w: WarningIn, now: datetime, actor: str) -> dict[str, Any]:
    """Store (or update, or cancel) a weather warning and act on it: broadcasts, regrade."""
    if w.msg_type == "Cancel":
        target = _referenced(session, w)
        target.cancelled_at = now
        issued = [
            cancel(session, b, now, actor, reason=f"气象预警 {target.identifier} 已解除")
            for b in _active_for(session, target.id)
        ]
        _regrade_area(session, to_shape(target.area), now)  # the stored area, as a shape
        return {"warning": target.identifier, "cancelled": True, "broadcasts": [b.id for b in issued]}
    previous = _referenced(session, w) if w.msg_type == "Update" else None
    row = WeatherWarning(
        identifier=w.identifier,
        sender=w.sender,
        event=w.event,
        color=w.color,
        status=w.status,
        area=from_shape(w.area, SRID),
        adcodes=w.adcodes,
        onset=w.onset,
        expires=w.expires,
        source=w.source,
    )
    session.add(row)
    if previous:
        previous.cancelled_at = now  # superseded by this update
    session.flush()
    issued = []
    rule = matching_rule("weather_warning", w.color, w.area, session, now)
    old = _active_for(session, previous.id) if previous else []
    if rule:
        order = BroadcastOrder(
            rule.action,
            w.color,
            w.area,
            tuple(w.adcodes),
            rule=rule.name,
            status="Exercise" if w.status == "Exercise" else "Actual",
            expires=w.expires,
            weather_warning_id=row.id,
        )
        issued.append(update(session, old[0], order, now, actor) if old else issue(session, order, now, actor))
        old = old[1:]
    for b in old:  # the update no longer calls for a broadcast
        cancel(session, b, now, actor, reason="气象预警已降级")
    _regrade_area(session, w.area, now)
    return {"warning": w.identifier, "broadcasts": [b.id for b in issued], "rule": rule.name if rule else None}


def _referenced(session: Session, w: WarningIn) -> WeatherWarning:
    ref = (w.references or [None])[0]
    found = session.scalar(select(WeatherWarning).where(WeatherWarning.identifier == ref)) if ref else None
    if found is None:
        raise WarningInvalid(f"references: no earlier warning {ref!r} to {w.msg_type.lower()}", "references")
    return found


def _active_for(session: Session, warning_id: int) -> list[Broadcast]:
    return list(
        session.scalars(
            select(Broadcast).where(
                Broadcast.weather_warning_id == warning_id,
                Broadcast.state == BroadcastState.active,
                Broadcast.msg_type != "Cancel",
            )
        )
    )


def _regrade_area(session: Session, area: MultiPolygon, now: datetime) -> None:
    ids = targeting.sites_in(session, area)
    if ids:
        regrade(session, ids, now)


def gauge_alarm(session: Session, site_id: int, color: str, now: datetime) -> Broadcast | None:
    """A rain gauge at a site passed its threshold: broadcast to that site (rule gauge_*)."""
    location = session.scalar(
        text("SELECT ST_AsText(ST_Buffer(location::geography, 300)::geometry) FROM sites WHERE id = :i"), {"i": site_id}
    )
    area = MultiPolygon([wkt.loads(location)])
    rule = matching_rule("rain_gauge", color, area, session, now)
    if rule is None:
        return None
    order = BroadcastOrder(rule.action, color, area, rule=rule.name, site_ids=(site_id,))
    return issue(session, order, now, GAUGE_ACTOR)


def on_alarm_changes(session: Session, changes: Iterable[dict[str, Any]], now: datetime) -> None:
    """The warning side's reaction to alarm transitions (backend/alarms/lifecycle.py hands them
    over, in the transaction that made them): a rain gauge raised or escalated past its
    threshold may call for a broadcast to its site."""
    for change in changes:
        if change["kind"] == "rain" and change["event"] in {"raised", "escalated"} and change["color"]:
            gauge_alarm(session, change["site_id"], change["color"], now)
