"""The shape of each kind of register record as it arrives from a file or the API."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from backend.core.clock import CHINA_TZ
from backend.domain.kinds import (
    CreditList,
    DamType,
    EnterpriseStatus,
    FeatureKind,
    GasClass,
    HydrogeologyType,
    MiningMethod,
    PlaceKind,
    RegionLevel,
    SensorKind,
    SiteKind,
)
from backend.domain.phones import normalise_landline, normalise_mobile
from backend.domain.rules_models import rules

Adcode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,46}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
# 统一社会信用代码 (GB 32100): 18 characters of the code's alphabet (no I, O, S, V, Z).
CreditCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")]
NonNegative = Annotated[float, Field(ge=0)]


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class RegionRecord(Record):
    adcode: Adcode
    name: Name
    level: RegionLevel
    parent_adcode: Adcode | None = None


class EnterpriseRecord(Record):
    credit_code: CreditCode
    name: Name
    industry: Name
    status: EnterpriseStatus = EnterpriseStatus.operating
    region_adcode: Adcode
    credit_list: CreditList = CreditList.none


KIND_FIELDS: dict[SiteKind, tuple[str, ...]] = {
    SiteKind.coal_mine: ("gas_class", "hydrogeology", "capacity_10k_t"),
    SiteKind.noncoal_mine: ("mining_method", "mineral", "capacity_10k_t"),
    SiteKind.tailings_pond: (
        "capacity_10k_m3",
        "dam_height_m",
        "dam_type",
        "wet",
        "downstream_bearing_deg",
    ),
    SiteKind.hazchem: (),
}


class SiteRecord(Record):
    code: Code
    name: Name
    kind: SiteKind
    enterprise_credit_code: CreditCode
    region_adcode: Adcode | None = None  # found from the location when not given
    gas_class: GasClass | None = None
    hydrogeology: HydrogeologyType | None = None
    capacity_10k_t: NonNegative | None = None
    mining_method: MiningMethod | None = None
    mineral: str | None = None
    capacity_10k_m3: NonNegative | None = None
    dam_height_m: NonNegative | None = None
    dam_type: DamType | None = None
    wet: bool | None = None
    downstream_bearing_deg: Annotated[float, Field(ge=0, lt=360)] | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        missing = [f for f in KIND_FIELDS[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"missing required field(s) for a {self.kind}: {', '.join(missing)}")
        return self


class SiteShapeRecord(Record):
    """A footprint or a surveyed downstream zone, attached to a site by its code."""

    code: Code


UnitKind = Literal["production", "storage"]
HazardClassCode = Annotated[str, StringConstraints(min_length=1, max_length=8)]  # checked against Table 2


class InventoryRecord(Record):
    """A substance in one unit (GB 18218-2018 单元) of a chemical site. Without unit_code the row
    goes to the site's default unit (the whole site), and the import report says so."""

    site_code: Code
    unit_code: Code | None = None
    unit_name: Name | None = None
    unit_kind: UnitKind | None = None
    substance: Name
    cas: Annotated[str, StringConstraints(pattern=r"^\d{2,7}-\d{2}-\d$")] | None = None
    hazard_class: HazardClassCode | None = None  # GB 18218 Table 2, for a substance not in Table 1
    max_quantity_t: Annotated[float, Field(gt=0)]


class UnitRecord(Record):
    """A unit's footprint (a polygon): α is then counted around the unit rather than the plant."""

    site_code: Code
    code: Code
    name: Name
    kind: UnitKind

    @property
    def key(self) -> str:
        return f"{self.site_code}/{self.code}"


class PlaceRecord(Record):
    code: Code
    name: Name
    kind: PlaceKind
    population: Annotated[int, Field(ge=0)] = 0
    region_adcode: Adcode | None = None


class FeatureRecord(Record):
    code: Code
    name: Name
    kind: FeatureKind


class GatewayRecord(Record):
    id: Code
    site_code: Code
    name: str = ""


class SensorRecord(Record):
    code: Code
    site_code: Code
    gateway_id: Code
    kind: SensorKind
    unit: str | None = None
    location_label: str = ""
    substance: str | None = None
    interval_s: Annotated[int, Field(gt=0, le=86_400)] | None = None
    thresholds: dict[str, Any] | None = None

    @field_validator("thresholds", mode="before")
    @classmethod
    def _parse_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else None
        return value


# --- people a warning must reach (backend/people) ---------------------------------------------

PersonDuty = Literal["principal", "safety", "unit_principal", "unit_technical", "unit_operator"]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=128)]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PersonRecord(Record):
    """A responsible person: of the enterprise (no site), of one site, or — with `unit_code` — one
    of the three 包保责任人 of a major-hazard unit of that site."""

    enterprise_credit_code: CreditCode
    site_code: Code | None = None
    unit_code: Code | None = None
    duty: PersonDuty
    name: PersonName
    mobile: str
    landline: str | None = None
    email: Email | None = None

    @field_validator("mobile", mode="before")
    @classmethod
    def _mobile(cls, value: Any) -> Any:
        return normalise_mobile(value) if isinstance(value, str) else value

    @field_validator("landline", mode="before")
    @classmethod
    def _landline(cls, value: Any) -> Any:
        return normalise_landline(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _place(self) -> Self:
        unit_duty = self.duty.startswith("unit_")
        if unit_duty and (self.unit_code is None or self.site_code is None):
            raise ValueError(f"duty {self.duty}: a 包保责任人 needs site_code and unit_code")
        if not unit_duty and self.unit_code is not None:
            raise ValueError(f"duty {self.duty}: unit_code is only for the three 包保责任人 (unit_*)")
        return self

    @property
    def key(self) -> str:
        return f"{self.enterprise_credit_code}/{self.site_code or ''}/{self.unit_code or ''}/{self.duty}/{self.mobile}"


MAX_SHIFT = timedelta(days=7)


class DutyShiftRecord(Record):
    """One shift of a regulator's duty roster (值班表); times without an offset are China time."""

    org_code: Annotated[str, StringConstraints(min_length=1, max_length=32)]  # a bureau: its region's adcode
    name: PersonName
    mobile: str
    landline: str | None = None
    starts_at: datetime
    ends_at: datetime

    @field_validator("mobile", mode="before")
    @classmethod
    def _mobile(cls, value: Any) -> Any:
        return normalise_mobile(value) if isinstance(value, str) else value

    @field_validator("landline", mode="before")
    @classmethod
    def _landline(cls, value: Any) -> Any:
        return normalise_landline(value) if isinstance(value, str) else value

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _china_time(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=CHINA_TZ) if value.tzinfo is None else value

    @model_validator(mode="after")
    def _span(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at: a shift must end after it starts")
        if self.ends_at - self.starts_at > MAX_SHIFT:
            raise ValueError("ends_at: a shift lasts at most 7 days")
        return self

    @property
    def key(self) -> str:
        return f"{self.org_code}/{self.starts_at.astimezone(CHINA_TZ):%Y-%m-%d %H:%M}"


def _listed(value: Any) -> Any:
    """A list cell of a CSV: items separated by `;`, `、` or `,`."""
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[;；、,，]", value) if v.strip()]
    return value


MAX_UNAVAILABLE_DAYS = 366


def _dates(value: Any) -> Any:
    """`2026-07-01/2026-07-10;2026-08-03`: single days and inclusive ranges."""
    items = _listed(value)
    if not isinstance(items, list):
        return items
    out: list[date] = []
    for item in items:
        if isinstance(item, date):
            out.append(item)
            continue
        first, _, last = str(item).partition("/")
        start, end = date.fromisoformat(first.strip()), date.fromisoformat((last or first).strip())
        if end < start or (end - start).days >= MAX_UNAVAILABLE_DAYS:
            raise ValueError(f"{item}: give a range of at most {MAX_UNAVAILABLE_DAYS} days, start first")
        out.extend(start + timedelta(days=d) for d in range((end - start).days + 1))
    return sorted(set(out))


class InspectorRecord(Record):
    """A law-enforcement inspector on a regulator's roster (`inspectors` layer, CSV)."""

    certificate_no: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{3,31}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    region_adcode: Adcode
    specialities: Annotated[list[Annotated[str, StringConstraints(max_length=8)]], Field(min_length=1, max_length=8)]
    conflicts: Annotated[list[CreditCode], Field(max_length=200)] = []
    unavailable: Annotated[list[date], Field(max_length=MAX_UNAVAILABLE_DAYS)] = []
    active: bool = True

    _split = field_validator("specialities", "conflicts", mode="before")(_listed)
    _days = field_validator("unavailable", mode="before")(_dates)

    @field_validator("specialities")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        """The specialities supervision.yaml names (煤矿, 非煤, 危化 by default)."""
        known = rules("supervision").team.specialities  # type: ignore[attr-defined]
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown speciality {unknown[0]!r}: give one of {', '.join(known)}")
        return sorted(set(value), key=known.index)
