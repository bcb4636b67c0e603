"""Which sites a warning reaches, found in PostGIS: the sites a broadcast addresses, and the
villages and facilities downstream of its tailings ponds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shapely.geometry import MultiPolygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.domain.rules_models import FloodRule
from backend.risk import exposure


def targets(session: Session, area: MultiPolygon, rule: FloodRule | None) -> list[int]:
    """Sites inside the area that the rule addresses (mines and ponds by default)."""
    kinds = rule.site_kinds if rule and rule.site_kinds is not None else ["coal_mine", "tailings_pond"]
    methods = rule.noncoal_methods if rule and rule.noncoal_methods is not None else ["underground"]
    return list(
        session.scalars(
            text("""
        SELECT s.id FROM sites s LEFT JOIN noncoal_mines n ON n.site_id = s.id
        WHERE s.location && ST_GeomFromText(:wkt, 4326) AND ST_Intersects(ST_GeomFromText(:wkt, 4326), s.location)
          AND (s.kind = ANY(:kinds) OR (s.kind = 'noncoal_mine' AND n.mining_method = ANY(:methods)))
        ORDER BY s.id"""),
            {"wkt": area.wkt, "kinds": [str(k) for k in kinds], "methods": [str(m) for m in methods]},
        )
    )


def sites_in(session: Session, area: MultiPolygon) -> list[int]:
    """Every site inside the area, whatever its kind (to regrade them)."""
    return list(
        session.scalars(
            text("SELECT id FROM sites WHERE ST_Intersects(location, ST_GeomFromText(:wkt, 4326))"), {"wkt": area.wkt}
        )
    )


@dataclass(frozen=True)
class Addressee:
    """A targeted site and the enterprise that must answer for it."""

    site_id: int
    code: str
    name: str
    credit_code: str
    enterprise: str


ADDRESSEES = text(
    "SELECT s.id AS site_id, s.code, s.name, e.credit_code, e.name AS enterprise FROM sites s "
    "JOIN enterprises e ON e.id = s.enterprise_id WHERE s.id = ANY(:ids) ORDER BY s.code"
)


def addressees(session: Session, site_ids: list[int]) -> list[Addressee]:
    """The sites with their enterprises, by site code."""
    return [
        Addressee(r.site_id, r.code, r.name, r.credit_code, r.enterprise)
        for r in session.execute(ADDRESSEES, {"ids": site_ids})
    ]


def downstream_places(session: Session, sites: list[Addressee]) -> list[dict[str, Any]]:
    """The villages and facilities in the downstream zones of the targeted tailings ponds."""
    ids = [s.site_id for s in sites]
    codes = {s.site_id: s.code for s in sites}
    ponds = list(session.scalars(text("SELECT site_id FROM tailings_ponds WHERE site_id = ANY(:ids)"), {"ids": ids}))
    downstream = exposure.downstream_targets(session, exposure.Source.sites(ponds)) if ponds else {}
    return [
        p.as_dict() | {"pond": codes[pid], "geometry": json.loads(p.geometry) if p.geometry else None}
        for pid in ponds
        for p in downstream.get(pid, [])
    ]
