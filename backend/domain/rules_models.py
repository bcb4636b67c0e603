"""The standards' rules files as typed models, validated once at start-up.

`rules(name)` validates a file (packaged, or an administrator's override in
`$RISKMAP_DATA_DIR/standards/`) into its model, and `check_rules()` runs every one from
`create_app`, so that a bad override stops the start with its path, line and field instead of a
KeyError in the middle of a regrade or an ingest batch. The readers take the typed model through
one accessor per file (`risk_rules()`, `sensor_thresholds()`, `tailings_classes()`,
`flood_warning()`, `risk_levels()`) and read it by attribute.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Self, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from backend.domain.kinds import EnterpriseStatus, FeatureKind, MiningMethod, PlaceKind, SiteKind
from backend.domain.standards import source_of
from backend.domain.states import Colour
from backend.domain.substances import StandardsError

Level = Annotated[int, Field(ge=1, le=4)]
Positive = Annotated[float, Field(gt=0)]
MonthDay = Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")]
Adcode = Annotated[str, Field(pattern=r"^\d{6}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# risk_levels.yaml


class RiskLevel(_Strict):
    level: Level
    color: Colour
    name_zh: str = Field(min_length=1)
    colour_zh: str = Field(min_length=1)
    hex: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")


class RiskLevels(_Strict):
    source: str
    levels: list[RiskLevel] = Field(min_length=4, max_length=4)

    @model_validator(mode="after")
    def _one_each(self) -> Self:
        if [lv.level for lv in self.levels] != [1, 2, 3, 4]:
            raise ValueError("levels: give levels 1, 2, 3, 4 in that order")
        if len({lv.color for lv in self.levels}) != 4:
            raise ValueError("levels: each level needs its own color")
        return self


# tailings.yaml


class CapacityBand(_Strict):
    pond_class: int = Field(ge=1, le=5)
    min_capacity_10k_m3: float = Field(ge=0)


class HeightBand(_Strict):
    pond_class: int = Field(ge=1, le=5)
    min_height_m: float = Field(ge=0)


def _descending(values: list[float], field: str) -> None:
    if values != sorted(values, reverse=True) or values[-1] != 0:
        raise ValueError(f"{field}: order by the minimum, largest first, ending at 0")


class TailingsClasses(_Strict):
    source: str
    clause: str
    capacity_classes: list[CapacityBand] = Field(min_length=1)
    height_classes: list[HeightBand] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _descending([b.min_capacity_10k_m3 for b in self.capacity_classes], "capacity_classes")
        _descending([b.min_height_m for b in self.height_classes], "height_classes")
        return self


# risk_rules.yaml


class LevelRule(_Strict):
    """Read top-down, the first whose `when` matches wins; a list value matches any of its items."""

    when: dict[str, Any]
    level: Level


def _ends_with_catch_all(levels: list[LevelRule]) -> list[LevelRule]:
    if not levels or levels[-1].when:
        raise ValueError(
            f"levels.{len(levels) - 1}.when: the last rule must be `when: {{}}` so that every site gets a level"
        )
    return levels


class Parameters(_Strict):
    source: str
    verify: bool = False
    values: list[str] = []


class TailingsRules(_Strict):
    source: str
    head_top_source: str
    three_side_source: str
    head_top_distance_m: Positive
    downstream_half_angle_deg: float = Field(gt=0, le=180)
    head_top_place_kinds: list[PlaceKind]
    head_top_feature_kinds: list[FeatureKind]
    three_side_distance_m: Positive
    three_side_feature_kinds: list[FeatureKind]
    water_source_upstream_m: Positive
    three_side_distances: Parameters | None = None
    levels: list[LevelRule]
    levels_source: str | None = None
    levels_verify: bool = False

    @model_validator(mode="after")
    def _catch_all(self) -> Self:
        _ends_with_catch_all(self.levels)
        return self


class MineRules(_Strict):
    source: str
    verify: bool = False
    labels: dict[str, dict[str, str] | str] = {}
    levels: list[LevelRule]

    @model_validator(mode="after")
    def _catch_all(self) -> Self:
        _ends_with_catch_all(self.levels)
        return self


class HazchemRules(_Strict):
    source: str
    resident_place_kinds: list[PlaceKind] = Field(min_length=1)


class Cite(_Strict):
    notice: str
    item: str
    words: str


class DynamicRule(_Strict):
    source: str
    cites: list[Cite] = []


class ActiveAlarmRule(DynamicRule):
    at_least: Literal["alarm_color"]


class AtLeastRule(DynamicRule):
    at_least: Level


class SilentSiteRule(AtLeastRule):
    intervals: Positive


class CovertProductionRule(AtLeastRule):
    statuses: list[EnterpriseStatus] = Field(min_length=1)


class RainstormRule(DynamicRule):
    raise_by: int = Field(ge=1, le=3)
    site_kinds: list[SiteKind]
    colors: list[Colour]


class RaiseByRule(DynamicRule):
    verify: bool = False
    raise_by: int = Field(ge=1, le=3)


class DynamicRules(_Strict):
    active_alarm: ActiveAlarmRule
    major_hidden_hazard: AtLeastRule
    overdue_hidden_hazard: RaiseByRule
    silent_site: SilentSiteRule
    covert_production: CovertProductionRule
    rainstorm_warning: RainstormRule


class SeasonDates(_Strict):
    start: MonthDay
    end: MonthDay
    main_start: MonthDay
    main_end: MonthDay


class FloodSeason(_Strict):
    source: str
    verify: bool = False
    default: SeasonDates
    by_region: dict[Adcode, SeasonDates] | None = None


class Grid(_Strict):
    h3_resolution: int = Field(ge=0, le=15)


class RiskRules(_Strict):
    tailings: TailingsRules
    coal_mine: MineRules
    noncoal_mine: MineRules
    hazchem: HazchemRules
    dynamic: DynamicRules
    flood_season: FloodSeason
    grid: Grid


# sensor_thresholds.yaml


class ThresholdLevel(_Strict):
    color: Colour
    value: float
    name: str | None = None
    verify: bool = False


class AccumulationLevel(_Strict):
    color: Colour
    value: Positive
    window_h: Positive


class Debounce(_Strict):
    readings: int = Field(1, ge=1)
    seconds: float | None = Field(None, ge=0)


class RateOfChange(_Strict):
    rise: Positive
    window_s: Positive
    color: Colour


class LocationRow(_Strict):
    alarm: float
    power_off: float | None = None
    restore: float
    enabled: bool = True
    source: str | None = None
    verify: list[str] = []


class SensorSpec(_Strict):
    """One sensor kind's defaults: fixed levels, levels per location or substance, levels relative
    to a pond's design value, rain accumulations, or an idle limit (明停暗采 evidence)."""

    unit: str = Field(min_length=1)
    interval_s: int = Field(gt=0)
    source: str
    name_zh: str | None = None
    direction: Literal["above", "below"] | None = None
    debounce: Debounce | None = None
    levels: list[ThresholdLevel] | None = None
    restore: float | None = None
    restore_verify: bool = False
    rate_of_change: RateOfChange | None = None
    by_location: dict[str, LocationRow] | None = None
    by_substance: dict[str, dict[str, float]] | None = None
    colors: dict[str, Colour] | None = None
    design_multipliers: dict[Colour, Positive] | None = None
    design_default_m: Positive | None = None
    minimum_by_pond_class: dict[int, Positive] | None = None
    accumulation: list[AccumulationLevel] | None = None
    idle_max: float | None = None
    verify: bool = False

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        """The shapes thresholds.default_thresholds resolves, tried in its order."""
        if self.by_location is not None or self.by_substance is not None:
            if not self.colors:
                raise ValueError("colors: a table by location or substance needs the colour of each named level")
            rows = self.by_location or self.by_substance or {}
            for key, row in rows.items():
                names = row.model_dump(exclude_none=True) if isinstance(row, LocationRow) else row
                if not any(n in names for n in self.colors):
                    table = "by_location" if self.by_location is not None else "by_substance"
                    raise ValueError(f"{table}.{key}: sets none of the levels {', '.join(self.colors)}")
        elif self.design_multipliers is not None:
            missing = [c.value for c in Colour if c not in self.design_multipliers]
            if missing:
                raise ValueError(f"design_multipliers: no multiplier for {', '.join(missing)}")
        elif self.accumulation is None and self.idle_max is None and (not self.levels or self.direction is None):
            raise ValueError("levels and direction: a sensor kind without a table needs both")
        return self


class RollupRule(_Strict):
    points: Colour
    count: int = Field(ge=1)
    item: Colour


class Rollup(_Strict):
    source: str
    rules: list[RollupRule] = Field(min_length=1)


class Offline(_Strict):
    intervals: Positive
    sensor_color: Colour
    gateway_color: Colour


class CovertProductionAlarm(_Strict):
    color: Colour
    statuses: list[EnterpriseStatus] = Field(min_length=1)


class SensorThresholds(_Strict):
    """One entry per sensor kind (see kinds.SensorKind), and the roll-up, offline and 明停暗采 rules."""

    methane: SensorSpec
    carbon_monoxide: SensorSpec
    phreatic_line: SensorSpec
    pond_level: SensorSpec
    dry_beach: SensorSpec
    dam_displacement: SensorSpec
    rainfall: SensorSpec
    combustible_gas: SensorSpec
    toxic_gas: SensorSpec
    tank_level: SensorSpec
    temperature: SensorSpec
    pressure: SensorSpec
    power_draw: SensorSpec
    personnel_count: SensorSpec
    rollup: Rollup
    offline: Offline
    covert_production: CovertProductionAlarm


# flood_warning.yaml


class FloodRule(_Strict):
    name: str = Field(min_length=1)
    trigger: Literal["weather_warning", "rain_gauge"]
    colors: list[Colour] = Field(min_length=1)
    in_season: bool = False
    action: str
    site_kinds: list[SiteKind] | None = None
    noncoal_methods: list[MiningMethod] | None = None


class FloodAction(_Strict):
    response_type: str
    event: str
    headline: str
    instruction: str


class FloodWarning(_Strict):
    source: str
    sender: str = Field(min_length=1)
    sender_name: str = Field(min_length=1)
    issuing_adcode: Adcode
    severity: dict[Colour, Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]]
    severity_verify: bool = False
    color_zh: dict[Colour, str]
    deadlines_min: dict[Colour, Positive]
    escalation: list[Literal["county", "prefecture", "province"]]
    escalation_step_min: Positive
    expires_h: Positive
    cap_simplify_deg: float = Field(ge=0)
    rules: list[FloodRule]
    actions: dict[str, FloodAction]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for field in ("severity", "color_zh", "deadlines_min"):
            missing = [c.value for c in Colour if c not in getattr(self, field)]
            if missing:
                raise ValueError(f"{field}: no entry for {', '.join(missing)}")
        for i, rule in enumerate(self.rules):
            if rule.action not in self.actions:
                raise ValueError(f"rules.{i}.action: {rule.action!r} is not in actions")
        return self


# alarm_escalation.yaml


class AlarmEscalationStep(_Strict):
    notify: list[Literal["site_people", "county_duty", "prefecture_duty", "province_duty"]] = Field(min_length=1)


class AlarmEscalation(_Strict):
    source: str
    verify: bool = False
    deadlines_min: dict[Colour, Positive] = Field(min_length=1)  # the colours that escalate
    step_min: dict[Colour, Positive]
    steps: list[AlarmEscalationStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        missing = [c.value for c in self.deadlines_min if c not in self.step_min]
        if missing:
            raise ValueError(f"step_min: no entry for {', '.join(missing)}")
        return self


# supervision.yaml


class Frequency(_Strict):
    source: str
    verify: bool = False
    per_year: dict[Colour, Annotated[int, Field(ge=0, le=366)]]

    @model_validator(mode="after")
    def _every_colour(self) -> Self:
        missing = [c.value for c in Colour if c not in self.per_year]
        if missing:
            raise ValueError(f"per_year: no entry for {', '.join(missing)}")
        return self


class RandomSampling(_Strict):
    source: str
    verify: bool = False
    colours: list[Colour] = Field(min_length=1)
    ratio: float = Field(ge=0, le=1)
    visits: int = Field(ge=1, le=12)


class AddRaise(_Strict):
    source: str
    verify: bool = False
    add_per_year: int = Field(ge=0, le=52)


class AtLeastRaise(_Strict):
    source: str
    verify: bool = False
    at_least_per_year: int = Field(ge=0, le=52)


class AlarmRaise(AddRaise):
    count: int = Field(ge=1)
    window_days: int = Field(ge=1, le=366)


class Raises(_Strict):
    blacklist: AddRaise
    open_major_hazard: AtLeastRaise
    repeated_alarms: AlarmRaise


class RedlistLowering(_Strict):
    source: str
    verify: bool = False
    subtract_per_year: int = Field(ge=0, le=52)
    min_per_year: int = Field(ge=0, le=52)


class Lowering(_Strict):
    redlist: RedlistLowering


SupervisingLevel = Literal["county", "prefecture", "province"]


class JurisdictionWhen(_Strict):
    kind: SiteKind
    min_capacity_10k_t: float | None = Field(None, ge=0)
    min_capacity_10k_m3: float | None = Field(None, ge=0)


class JurisdictionRule(_Strict):
    when: JurisdictionWhen
    level: SupervisingLevel


class Jurisdiction(_Strict):
    source: str
    verify: bool = False
    default: SupervisingLevel
    rules: list[JurisdictionRule] = []


class Team(_Strict):
    inspectors_per_visit: int = Field(ge=1, le=10)
    inspectors_per_visit_source: str
    specialities: list[str] = Field(min_length=1)
    specialities_by_kind: dict[SiteKind, str]

    @model_validator(mode="after")
    def _known(self) -> Self:
        missing = [k.value for k in SiteKind if k not in self.specialities_by_kind]
        if missing:
            raise ValueError(f"specialities_by_kind: no speciality for {', '.join(missing)}")
        for kind, spec in self.specialities_by_kind.items():
            if spec not in self.specialities:
                raise ValueError(f"specialities_by_kind.{kind.value}: {spec!r} is not in specialities")
        return self


class Capacity(_Strict):
    source: str
    verify: bool = False
    inspections_per_day: int = Field(ge=1, le=10)


class Supervision(_Strict):
    source: str
    frequency: Frequency
    random_sampling: RandomSampling
    raises: Raises
    lowering: Lowering
    jurisdiction: Jurisdiction
    team: Team
    capacity: Capacity


# inspection_checklists.yaml


class ChecklistItem(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    text: str = Field(min_length=1)


class KindChecklist(_Strict):
    source: str
    verify: bool = False
    items: list[ChecklistItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [i.id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("items: each item needs its own id")
        return self


class Checklists(_Strict):
    source: str
    kinds: dict[SiteKind, KindChecklist]

    @model_validator(mode="after")
    def _every_kind(self) -> Self:
        missing = [k.value for k in SiteKind if k not in self.kinds]
        if missing:
            raise ValueError(f"kinds: no checklist for {', '.join(missing)}")
        return self


# holidays.yaml


class Holiday(_Strict):
    """One holiday of a year's notice: its days off, and the weekend days worked for it (调休上班)."""

    name: str = Field(min_length=1)
    start: date
    end: date
    work: list[date] = []

    @model_validator(mode="after")
    def _days(self) -> Self:
        if self.end < self.start or (self.end - self.start).days > 14:
            raise ValueError("end: the last day off is on or after the first, at most two weeks later")
        for d in self.work:
            if d.weekday() < 5:
                raise ValueError(f"work: {d.isoformat()} is a weekday; list only the Saturdays and Sundays worked")
            if self.start <= d <= self.end:
                raise ValueError(f"work: {d.isoformat()} is one of the days off")
        return self

    def off(self) -> list[date]:
        return [self.start + timedelta(days=k) for k in range((self.end - self.start).days + 1)]


class HolidayYear(_Strict):
    name: str = Field(min_length=1)
    year: int = Field(ge=2000, le=2100)
    document: str  # the notice's number, e.g. 国办发明电〔2024〕12号; "" when not confirmed
    document_verify: bool = False
    source: str
    verify: bool = False
    holidays: list[Holiday] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_year(self) -> Self:
        for h in self.holidays:
            if self.year not in (h.start.year, h.end.year):
                raise ValueError(f"holidays: {h.name} ({h.start.isoformat()}) is not in {self.year}")
        days = [d for h in self.holidays for d in h.off()]
        if len(set(days)) != len(days):
            raise ValueError("holidays: two holidays share a day off")
        return self


class Holidays(_Strict):
    """The State Council's holiday arrangements by year: which days a plan may use."""

    source: str
    years: list[HolidayYear] = []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        numbers = [y.year for y in self.years]
        if len(set(numbers)) != len(numbers):
            raise ValueError("years: each year once")
        off = {d for y in self.years for h in y.holidays for d in h.off()}
        worked = [d for y in self.years for h in y.holidays for d in h.work if d in off]
        if worked:
            raise ValueError(f"years: {worked[0].isoformat()} is both a day off and a day worked")
        return self

    def covers(self, year: int) -> bool:
        return any(y.year == year for y in self.years)

    @cached_property
    def _days(self) -> tuple[frozenset[date], frozenset[date]]:
        off = frozenset(d for y in self.years for h in y.holidays for d in h.off())
        return off, frozenset(d for y in self.years for h in y.holidays for d in h.work)

    def calendar(self) -> tuple[frozenset[date], frozenset[date]]:
        """(days off, weekend days worked) over every year given; computed once per rules object."""
        return self._days

    def is_working_day(self, day: date) -> bool:
        """Monday to Friday less the days off, plus the weekend days worked (调休上班)."""
        off, worked = self.calendar()
        return day in worked or (day.weekday() < 5 and day not in off)


# hidden_hazard_criteria.yaml


class CriterionItem(_Strict):
    number: str = Field(min_length=1, max_length=8)  # the item's number as printed: 一, 二十一 …
    text: str = Field(min_length=1)
    unconfirmed: bool = False  # wording not yet checked against a published copy


class CriteriaStandard(_Strict):
    code: str = Field(pattern=r"^[a-z_]+$")
    title: str
    document: str
    year: int = Field(ge=1990, le=2100)
    source: str
    site_kinds: list[SiteKind] = Field(min_length=1)
    mining_methods: list[MiningMethod] | None = None
    items: list[CriterionItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        numbers = [i.number for i in self.items]
        if len(set(numbers)) != len(numbers):
            raise ValueError("items: each number once")
        return self


SupervisionLevel = Literal["county", "prefecture", "province"]


class SupervisionWhen(_Strict):
    site_kind: SiteKind | None = None
    region: str | None = Field(None, pattern=r"^\d{2,6}$")  # a GB/T 2260 prefix
    ordered_by: Literal["city_safety_committee"] | None = None


class SupervisionRule(_Strict):
    when: SupervisionWhen
    level: SupervisionLevel


class HazardSupervision(_Strict):
    source: str
    verify: bool = False
    rules: list[SupervisionRule] = Field(min_length=1)
    review_days: int = Field(ge=1, le=365)
    review_days_source: str | None = None  # the clause that sets the review deadline
    review_days_verify: bool = False
    escalation: list[SupervisionLevel] = Field(min_length=2)

    @model_validator(mode="after")
    def _catch_all(self) -> Self:
        if self.rules[-1].when != SupervisionWhen():
            raise ValueError("rules: end with a rule whose `when` is {} (the default level)")
        return self


class HiddenHazardCriteria(_Strict):
    standards: list[CriteriaStandard] = Field(min_length=1)
    supervision: HazardSupervision

    @model_validator(mode="after")
    def _covered(self) -> Self:
        codes = [s.code for s in self.standards]
        if len(set(codes)) != len(codes):
            raise ValueError("standards: each code once")
        missing = set(SiteKind) - {k for s in self.standards for k in s.site_kinds}
        if missing:
            raise ValueError(f"standards: no standard for {', '.join(sorted(missing))}")
        return self


MODELS: dict[str, type[_Strict]] = {
    "risk_rules": RiskRules,
    "risk_levels": RiskLevels,
    "sensor_thresholds": SensorThresholds,
    "tailings": TailingsClasses,
    "flood_warning": FloodWarning,
    "alarm_escalation": AlarmEscalation,
    "supervision": Supervision,
    "inspection_checklists": Checklists,
    "hidden_hazard_criteria": HiddenHazardCriteria,
    "holidays": Holidays,
}


def _line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest YAML node on the error's path (the field, or its parent
    when the field is missing)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def parse(name: str, text: str, source: str) -> BaseModel:
    """`text` (the YAML of rules file `name`) as its model; StandardsError names the file, line and field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StandardsError(f"{source}: not valid YAML: {exc}") from None
    try:
        return MODELS[name].model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        # pydantic's own steps in the path (a validator, a union member such as dict[str,str]) are no field
        loc = tuple(x for x in first["loc"] if not (isinstance(x, str) and (x.startswith("function-") or "[" in x)))
        msg = first["msg"].removeprefix("Value error, ")
        if named := re.match(r"^([\w.]+): (.*)$", msg):  # a model validator names the field it faults
            loc += tuple(int(x) if x.isdigit() else x for x in named[1].split("."))
            msg = named[2]
        where = ".".join(str(x) for x in loc) or "(top level)"
        line = _line(yaml.compose(text), loc)
        at = f", line {line}" if line else ""
        raise StandardsError(f"{source}{at}: {where}: {msg}") from None


@cache
def rules(name: str) -> BaseModel:
    """The validated rules file `name` (one of MODELS)."""
    path: Path = source_of(name)
    return parse(name, path.read_text(encoding="utf-8"), str(path))


def check_rules() -> None:
    """Validate every rules file now: called by create_app so that a bad override stops the start."""
    for name in MODELS:
        rules(name)


def risk_rules() -> RiskRules:
    """risk_rules.yaml: inherent and dynamic grading, the flood season, the grid."""
    return cast(RiskRules, rules("risk_rules"))


def risk_levels() -> RiskLevels:
    """risk_levels.yaml: the four colours."""
    return cast(RiskLevels, rules("risk_levels"))


def sensor_thresholds() -> SensorThresholds:
    """sensor_thresholds.yaml: default thresholds by sensor kind, roll-up, offline, 明停暗采."""
    return cast(SensorThresholds, rules("sensor_thresholds"))


def tailings_classes() -> TailingsClasses:
    """tailings.yaml: a pond's class by capacity and dam height."""
    return cast(TailingsClasses, rules("tailings"))


def flood_warning() -> FloodWarning:
    """flood_warning.yaml: the flood-season warning rules, words, deadlines and escalation."""
    return cast(FloodWarning, rules("flood_warning"))


def holidays() -> Holidays:
    """holidays.yaml: the State Council's days off and weekend days worked, by year."""
    return cast(Holidays, rules("holidays"))
