"""All tables, imported here so that the metadata is complete."""

from backend.models.admin import ApiToken, AuditEntry
from backend.models.base import Base
from backend.models.monitoring import Gateway, Reading, Sensor
from backend.models.registry import (
    CoalMine,
    Enterprise,
    ExposedFeature,
    ExposedPlace,
    InventoryItem,
    NoncoalMine,
    Region,
    Site,
    TailingsPond,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "CoalMine",
    "Enterprise",
    "ExposedFeature",
    "ExposedPlace",
    "Gateway",
    "InventoryItem",
    "NoncoalMine",
    "Reading",
    "Region",
    "Sensor",
    "Site",
    "TailingsPond",
]
