"""All tables, imported here so that the metadata is complete."""

from backend.models.accounts import User, UserSession
from backend.models.admin import ApiToken, AuditEntry, Organisation
from backend.models.base import Base
from backend.models.broadcast import Broadcast, BroadcastEvent, Recipient, SmsOutbox, Webhook
from backend.models.credit import CreditListEntry
from backend.models.monitoring import AlarmEvent, DeadLetter, Gateway, IngesterStatus, Reading, Sensor
from backend.models.outbox import FACT_KIND, OutboxAttempt, OutboxMessage
from backend.models.people import DutyShift, Person, RecipientPerson
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
from backend.models.supervision import (
    Draw,
    EnforcementAction,
    Inspection,
    InspectionFile,
    InspectionPlan,
    Inspector,
    PlanVersion,
    PlanVisit,
)

__all__ = [
    "FACT_KIND",
    "Alarm",
    "AlarmEvent",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Broadcast",
    "BroadcastEvent",
    "CoalMine",
    "CreditListEntry",
    "DeadLetter",
    "Draw",
    "DutyShift",
    "EnforcementAction",
    "Enterprise",
    "ExposedFeature",
    "ExposedPlace",
    "Gateway",
    "HazardEvent",
    "HazardFile",
    "HazardUnit",
    "HiddenHazard",
    "IngesterStatus",
    "Inspection",
    "InspectionFile",
    "InspectionPlan",
    "Inspector",
    "InventoryItem",
    "NoncoalMine",
    "Organisation",
    "OutboxAttempt",
    "OutboxMessage",
    "Person",
    "PlanVersion",
    "PlanVisit",
    "PondClassOverride",
    "Reading",
    "Recipient",
    "RecipientPerson",
    "Region",
    "Sensor",
    "Site",
    "SiteRisk",
    "SiteRiskChange",
    "SmsOutbox",
    "TailingsPond",
    "User",
    "UserSession",
    "WeatherWarning",
    "Webhook",
]
