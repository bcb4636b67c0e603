"""The flood-season warning rules (flood_warning.yaml) and which of them a warning meets.

Shared by intake (a weather warning or a rain gauge meets a rule), issuing (the rule's action,
words and deadlines) and escalation (its steps), so it lives apart from each of them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shapely.geometry import MultiPolygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.core.clock import CHINA_TZ
from backend.domain.errors import Conflict, DomainError, Invalid, NotFound
from backend.domain.rules_models import FloodRule, FloodWarning, flood_warning
from backend.domain.season import in_flood_season


class WarningError(DomainError):
    """A warning workflow refused its input; the subclass says how (see backend/domain/errors.py)."""


class WarningInvalid(WarningError, Invalid):
    """Bad input; `field` names it and the text starts with it."""


class WarningNotFound(WarningError, NotFound):
    pass


class WarningConflict(WarningError, Conflict):
    pass


def rules() -> FloodWarning:
    """flood_warning.yaml as its validated model."""
    return flood_warning()


def utcnow() -> datetime:
    return datetime.now(UTC)


def region_of(session: Session, area: MultiPolygon) -> tuple[str, str]:
    """The smallest region holding the area's centre: its code and name (for the text)."""
    row = session.execute(
        text(
            "SELECT adcode, name FROM regions WHERE ST_Contains(boundary, ST_SetSRID(ST_Point(:x, :y), 4326)) "
            "ORDER BY length(rtrim(adcode, '0')) DESC LIMIT 1"
        ),
        {"x": area.centroid.x, "y": area.centroid.y},
    ).first()
    return (row.adcode, row.name) if row else (rules().issuing_adcode, "吉林省")


def matching_rule(trigger: str, color: str, area: MultiPolygon, session: Session, now: datetime) -> FloodRule | None:
    """The first rule for this trigger and colour, in force at the area's place and season."""
    adcode, _ = region_of(session, area)
    season = in_flood_season(now.astimezone(CHINA_TZ).date(), adcode)
    for rule in rules().rules:
        if rule.trigger == trigger and color in rule.colors and (season or not rule.in_season):
            return rule
    return None


def rule_named(name: str) -> FloodRule | None:
    return next((x for x in rules().rules if x.name == name), None)
