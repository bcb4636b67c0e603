"""All tables, imported here so that the metadata is complete."""

from backend.models.admin import ApiToken, AuditEntry, Organisation
from backend.models.base import Base
from backend.models.broadcast import Broadcast, BroadcastEvent, Recipient, SmsOutbox, Webhook
from backend.models.monitoring import AlarmEvent, DeadLetter, Gateway, IngesterStatus, Reading, Sensor
from backend.models.outbox import OutboxAttempt, OutboxMessage
from backend.models.ponds import PondClassOverride
from backend.models.registry import (
    CoalMine,
    Enterprise,
    ExposedFeature,
    ExposedPlace,
    HazardUnit,
    InventoryItem,
    NoncoalMine,
    Region,
    Site,
    TailingsPond,
)
from backend.models.risk import (
    Alarm,
    HazardEvent,
    HazardFile,
    HiddenHazard,
    SiteRisk,
    SiteRiskChange,
    WeatherWarning,
)

__all__ = [
    "Alarm",
    "AlarmEvent",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Broadcast",
    "BroadcastEvent",
    "CoalMine",
    "DeadLetter",
    "Enterprise",
    "ExposedFeature",
    "ExposedPlace",
    "Gateway",
    "HazardEvent",
    "HazardFile",
    "HazardUnit",
    "HiddenHazard",
    "IngesterStatus",
    "InventoryItem",
    "NoncoalMine",
    "Organisation",
    "OutboxAttempt",
    "OutboxMessage",
    "PondClassOverride",
    "Reading",
    "Recipient",
    "Region",
    "Sensor",
    "Site",
    "SiteRisk",
    "SiteRiskChange",
    "SmsOutbox",
    "TailingsPond",
    "WeatherWarning",
    "Webhook",
]
