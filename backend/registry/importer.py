"""Loading register records from GeoJSON, CSV or GeoPackage, row by row.

Each row is validated (fields, geometry, references, duplicates) and written in its own
savepoint, so a bad row is reported with its reason and leaves nothing behind, while the
good rows load. The whole import is one transaction. `riskmap seed` is this same path over
the sample files, with rows that already exist skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyogrio
from geoalchemy2.shape import from_shape
from pydantic import ValidationError
from shapely import Geometry
from shapely.geometry import MultiPolygon, Point
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core.audit import record
from backend.core.clock import CHINA_TZ
from backend.domain.geo import GeometryError, check_geometry
from backend.domain.kinds import SiteKind
from backend.domain.major_hazard import DEFAULT_UNIT_CODE, DEFAULT_UNIT_NAME, UNIT_KIND_ZH
from backend.domain.substances import UnknownSubstance, resolve
from backend.domain.thresholds import default_interval_s, default_thresholds, default_unit
from backend.models import (
    CoalMine,
    DutyShift,
    Enterprise,
    ExposedFeature,
    ExposedPlace,
    Gateway,
    HazardUnit,
    Inspector,
    InventoryItem,
    NoncoalMine,
    Organisation,
    Person,
    Region,
    Sensor,
    Site,
    TailingsPond,
)
from backend.models.base import SRID
from backend.registry import records as rec


class Layer(StrEnum):
    regions = "regions"
    enterprises = "enterprises"
    sites = "sites"
    footprints = "footprints"
    downstream_zones = "downstream_zones"
    inventory = "inventory"
    hazard_units = "hazard_units"
    places = "places"
    features = "features"
    gateways = "gateways"
    sensors = "sensors"
    people = "people"
    duty_roster = "duty_roster"
    inspectors = "inspectors"


class RowRejected(ValueError):
    pass


class AlreadyExists(RowRejected):
    pass


class DuplicateKey(RowRejected):
    """The row's key is taken, in the register or earlier in the same file."""


class DuplicateInRegister(DuplicateKey, AlreadyExists):
    pass


@dataclass
class Row:
    number: int  # 1-based data row (CSV: the header is row 0); feature number in a GeoJSON
    props: dict[str, Any]
    geom: Geometry | None


@dataclass
class RowError:
    row: int
    key: str | None
    reason: str
    duplicate: bool = False  # the key is taken (in the register or earlier in the file): a conflict, not bad input


@dataclass
class ImportReport:
    layer: Layer
    loaded: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the import assumed, for the person importing


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def csv_rows(source: Path | BinaryIO) -> list[Row]:
    """Rows of a CSV file or upload (UTF-8), with lon and lat columns made a point when present."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8")
    rows = []
    for i, values in enumerate(frame.to_dict("records"), start=1):
        props = {str(k): _clean(v) for k, v in values.items()}
        geom = None
        if "lon" in props or "lat" in props:
            try:
                geom = Point(float(props.pop("lon")), float(props.pop("lat")))
            except (TypeError, ValueError):
                geom = None
        rows.append(Row(i, props, geom))
    return rows


def read_rows(path: Path) -> list[Row]:
    """Rows of a CSV (with lon and lat columns for points) or of any vector file GDAL reads."""
    if path.suffix.lower() == ".csv":
        return csv_rows(path)
    frame = pyogrio.read_dataframe(path)
    return [
        Row(i, {k: _clean(v) for k, v in values.items() if k != "geometry"}, values.get("geometry"))
        for i, values in enumerate(frame.to_dict("records"), start=1)
    ]


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if where else msg)
        return "; ".join(parts)
    return str(exc)


@dataclass
class Context:
    """What the register holds already, looked up once per import."""

    session: Session
    skip_existing: bool
    regions: set[str] = field(default_factory=set)
    enterprises: dict[str, int] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    gateways: dict[str, int] = field(default_factory=dict)  # id -> site id
    inspectors: set[str] = field(default_factory=set)  # certificate numbers
    existing: set[str] = field(default_factory=set)  # keys of places, features, sensors, inventory
    seen: set[str] = field(default_factory=set)
    default_unit_sites: set[str] = field(default_factory=set)  # inventory rows given without a unit
    _people: PeopleLookup | None = None

    @property
    def people(self) -> PeopleLookup:
        """What the people and duty-roster layers look up, loaded on first use."""
        if self._people is None:
            self._people = PeopleLookup.load(self.session)
        return self._people

    def load(self) -> Context:
        s = self.session
        self.regions = set(s.scalars(select(Region.adcode)))
        self.enterprises = dict(s.execute(select(Enterprise.credit_code, Enterprise.id)).all())
        self.sites = dict(s.execute(select(Site.code, Site.id)).all())
        self.gateways = dict(s.execute(select(Gateway.id, Gateway.site_id)).all())
        self.inspectors = set(s.scalars(select(Inspector.certificate_no)))
        self.existing = {
            *s.scalars(select(ExposedPlace.code)),
            *s.scalars(select(ExposedFeature.code)),
            *s.scalars(select(Sensor.code)),
            *(
                f"{c}/{u}/{n}"
                for c, u, n in s.execute(
                    select(Site.code, HazardUnit.code, InventoryItem.substance)
                    .join(InventoryItem.site)
                    .join(InventoryItem.unit)
                )
            ),
        }
        return self

    def fresh(self, key: str, exists: bool, what: str) -> None:
        """Refuse a duplicate key, in the register or earlier in the same file."""
        if key in self.seen:
            raise DuplicateKey(f"duplicate {what} {key!r} in this file")
        if exists:
            raise DuplicateInRegister(f"duplicate {what} {key!r}: already in the register")
        self.seen.add(key)

    def region(self, adcode: str | None, geom: Geometry | None) -> str:
        if adcode is None and geom is not None:
            adcode = self.session.scalar(
                select(Region.adcode).where(
                    Region.level == "county",
                    func.ST_Contains(Region.boundary, from_shape(geom.centroid, SRID)),
                )
            )
            if adcode is None:
                raise RowRejected("unknown region: the location is in no county of the register")
        if adcode not in self.regions:
            raise RowRejected(f"unknown region {adcode!r}")
        return adcode

    def site(self, code: str) -> int:
        if code not in self.sites:
            raise RowRejected(f"unknown site {code!r}")
        return self.sites[code]


def _wkb(geom: Geometry) -> Any:
    return from_shape(geom, srid=SRID)


def _region(ctx: Context, r: rec.RegionRecord, geom: Geometry) -> None:
    ctx.fresh(r.adcode, r.adcode in ctx.regions, "region")
    if r.parent_adcode and r.parent_adcode not in ctx.regions:
        raise RowRejected(f"unknown parent region {r.parent_adcode!r}")
    multi = geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])
    ctx.session.add(
        Region(
            adcode=r.adcode,
            name=r.name,
            level=r.level,
            parent_adcode=r.parent_adcode,
            boundary=_wkb(multi),
        )
    )
    ctx.regions.add(r.adcode)  # a county may name a prefecture from the same file


def _enterprise(ctx: Context, r: rec.EnterpriseRecord, geom: Geometry | None) -> None:
    ctx.fresh(r.credit_code, r.credit_code in ctx.enterprises, "enterprise")
    ctx.session.add(
        Enterprise(
            **r.model_dump(exclude={"region_adcode"}),
            region_adcode=ctx.region(r.region_adcode, None),
        )
    )


def _site(ctx: Context, r: rec.SiteRecord, geom: Geometry) -> None:
    ctx.fresh(r.code, r.code in ctx.sites, "site code")
    if r.enterprise_credit_code not in ctx.enterprises:
        raise RowRejected(f"unknown enterprise {r.enterprise_credit_code!r}")
    site = Site(
        code=r.code,
        name=r.name,
        kind=r.kind,
        enterprise_id=ctx.enterprises[r.enterprise_credit_code],
        region_adcode=ctx.region(r.region_adcode, geom),
        location=_wkb(geom),
    )
    attrs = r.model_dump(include=set(rec.KIND_FIELDS[r.kind]))
    if r.kind == SiteKind.coal_mine:
        site.coal_mine = CoalMine(**attrs)
    elif r.kind == SiteKind.noncoal_mine:
        site.noncoal_mine = NoncoalMine(**attrs)
    elif r.kind == SiteKind.tailings_pond:
        site.tailings_pond = TailingsPond(**attrs)
    ctx.session.add(site)


def _footprint(ctx: Context, r: rec.SiteShapeRecord, geom: Geometry) -> None:
    site = ctx.session.get(Site, ctx.site(r.code))
    assert site is not None
    if site.footprint is not None and ctx.skip_existing:
        raise AlreadyExists(f"site {r.code!r} has a footprint already")
    site.footprint = _wkb(geom)


def _downstream_zone(ctx: Context, r: rec.SiteShapeRecord, geom: Geometry) -> None:
    pond = ctx.session.get(TailingsPond, ctx.site(r.code))
    if pond is None:
        raise RowRejected(f"site {r.code!r} is not a tailings pond")
    if pond.downstream_zone is not None and ctx.skip_existing:
        raise AlreadyExists(f"pond {r.code!r} has a downstream zone already")
    pond.downstream_zone = _wkb(geom)


def _unit(ctx: Context, site_id: int, code: str, name: str | None, kind: str | None) -> HazardUnit:
    """The site's unit of that code, made when new; a row that describes it otherwise is refused."""
    unit = ctx.session.scalar(select(HazardUnit).where(HazardUnit.site_id == site_id, HazardUnit.code == code))
    if unit is None:
        if code != DEFAULT_UNIT_CODE and (name is None or kind is None):
            raise RowRejected(
                f"新单元 {code!r} 需给出 unit_name 和 unit_kind（production 生产单元 或 storage 储存单元）"
            )
        unit = HazardUnit(site_id=site_id, code=code, name=name or DEFAULT_UNIT_NAME, kind=kind)
        ctx.session.add(unit)
        return unit
    if (name is not None and name != unit.name) or (kind is not None and kind != unit.kind):
        raise RowRejected(
            f"单元 {code!r} 已登记为「{unit.name}」（{UNIT_KIND_ZH[unit.kind]}），"
            f"与本行的「{name}」（{UNIT_KIND_ZH[kind]}）不符"
        )
    return unit


def _inventory(ctx: Context, r: rec.InventoryRecord, geom: Geometry | None) -> None:
    site_id = ctx.site(r.site_code)
    try:
        entry = resolve(r.substance, r.cas, r.hazard_class)
    except UnknownSubstance as exc:
        raise RowRejected(str(exc)) from exc
    code = r.unit_code or DEFAULT_UNIT_CODE
    key = f"{r.site_code}/{code}/{entry.name}"
    ctx.fresh(key, key in ctx.existing, "inventory item")
    if r.unit_code is None:
        ctx.default_unit_sites.add(r.site_code)
    unit = _unit(ctx, site_id, code, r.unit_name, r.unit_kind)
    ctx.session.add(
        InventoryItem(
            site_id=site_id,
            unit=unit,
            substance=entry.name,
            cas=entry.cas,
            hazard_class=entry.hazard_class if entry.q_table == "表2" else None,
            max_quantity_t=r.max_quantity_t,
        )
    )


def _hazard_unit(ctx: Context, r: rec.UnitRecord, geom: Geometry) -> None:
    unit = _unit(ctx, ctx.site(r.site_code), r.code, r.name, r.kind)
    if unit.footprint is not None and ctx.skip_existing:
        raise AlreadyExists(f"unit {r.key!r} has a footprint already")
    unit.footprint = _wkb(geom)


def _place(ctx: Context, r: rec.PlaceRecord, geom: Geometry) -> None:
    ctx.fresh(r.code, r.code in ctx.existing, "place code")
    region = r.region_adcode if r.region_adcode in ctx.regions else None
    ctx.session.add(
        ExposedPlace(
            code=r.code,
            name=r.name,
            kind=r.kind,
            population=r.population,
            region_adcode=region,
            geom=_wkb(geom),
        )
    )


def _feature(ctx: Context, r: rec.FeatureRecord, geom: Geometry) -> None:
    ctx.fresh(r.code, r.code in ctx.existing, "feature code")
    ctx.session.add(ExposedFeature(code=r.code, name=r.name, kind=r.kind, geom=_wkb(geom)))


def _gateway(ctx: Context, r: rec.GatewayRecord, geom: Geometry | None) -> None:
    ctx.fresh(r.id, r.id in ctx.gateways, "gateway id")
    site_id = ctx.site(r.site_code)
    # No usable password until one is set (`riskmap gateway add`, or the seed's demo secrets).
    ctx.session.add(Gateway(id=r.id, site_id=site_id, name=r.name, password_hash="!"))


def _sensor(ctx: Context, r: rec.SensorRecord, geom: Geometry | None) -> None:
    ctx.fresh(r.code, r.code in ctx.existing, "sensor code")
    site_id = ctx.site(r.site_code)
    if ctx.gateways.get(r.gateway_id) != site_id:
        raise RowRejected(f"unknown gateway {r.gateway_id!r} at site {r.site_code!r}")
    unit = r.unit or default_unit(r.kind)
    if unit != default_unit(r.kind):
        raise RowRejected(f"unit {unit!r} does not fit a {r.kind} sensor (expected {default_unit(r.kind)!r})")
    try:
        thresholds = r.thresholds or default_thresholds(r.kind, r.location_label, r.substance)
    except ValueError as exc:
        raise RowRejected(str(exc)) from exc
    ctx.session.add(
        Sensor(
            code=r.code,
            site_id=site_id,
            gateway_id=r.gateway_id,
            kind=r.kind,
            unit=unit,
            location_label=r.location_label,
            substance=r.substance,
            interval_s=r.interval_s or default_interval_s(r.kind),
            thresholds=thresholds,
            geom=_wkb(geom) if geom is not None else None,
        )
    )


@dataclass
class PeopleLookup:
    """The register as the people and duty-roster layers need it."""

    enterprise_regions: dict[int, str]
    sites: dict[str, tuple[int, int, str]]  # code -> id, enterprise id, region
    units: dict[tuple[int, str], int]  # (site id, unit code) -> unit id
    orgs: dict[str, tuple[int, str, str]]  # code -> id, kind, region
    people: set[str]  # PersonRecord.key of the registered people
    shifts: dict[int, list[tuple[datetime, datetime, str]]]  # org id -> (start, end, mobile) in the register
    file_shifts: dict[str, tuple[int, datetime, datetime]] = field(default_factory=dict)  # this file's, by key

    @classmethod
    def load(cls, s: Session) -> PeopleLookup:
        shifts: dict[int, list[tuple[datetime, datetime, str]]] = {}
        for org, start, end, mobile in s.execute(
            select(DutyShift.org_id, DutyShift.starts_at, DutyShift.ends_at, DutyShift.mobile)
        ):
            shifts.setdefault(org, []).append((start, end, mobile))
        return cls(
            dict(s.execute(select(Enterprise.id, Enterprise.region_adcode)).all()),
            {
                c: (i, e, r)
                for c, i, e, r in s.execute(select(Site.code, Site.id, Site.enterprise_id, Site.region_adcode))
            },
            {
                (site, code): i
                for site, code, i in s.execute(select(HazardUnit.site_id, HazardUnit.code, HazardUnit.id))
            },
            {
                c: (i, k, r)
                for c, i, k, r in s.execute(
                    select(Organisation.code, Organisation.id, Organisation.kind, Organisation.region_adcode)
                )
            },
            {
                f"{credit}/{site or ''}/{unit or ''}/{duty}/{mobile}"
                for credit, site, unit, duty, mobile in s.execute(
                    select(Enterprise.credit_code, Site.code, HazardUnit.code, Person.duty, Person.mobile)
                    .join(Enterprise, Enterprise.id == Person.enterprise_id)
                    .outerjoin(Site, Site.id == Person.site_id)
                    .outerjoin(HazardUnit, HazardUnit.id == Person.hazard_unit_id)
                )
            },
            shifts,
        )


def _person(ctx: Context, r: rec.PersonRecord, geom: Geometry | None) -> None:
    look = ctx.people
    enterprise_id = ctx.enterprises.get(r.enterprise_credit_code)
    if enterprise_id is None:
        raise RowRejected(f"unknown enterprise {r.enterprise_credit_code!r}")
    site_id, unit_id, region = None, None, look.enterprise_regions[enterprise_id]
    if r.site_code is not None:
        if r.site_code not in look.sites:
            raise RowRejected(f"unknown site {r.site_code!r}")
        site_id, owner, region = look.sites[r.site_code]
        if owner != enterprise_id:
            raise RowRejected(f"site {r.site_code!r} is not a site of enterprise {r.enterprise_credit_code!r}")
    if r.unit_code is not None:
        assert site_id is not None  # the record requires site_code with unit_code
        unit_id = look.units.get((site_id, r.unit_code))
        if unit_id is None:
            raise RowRejected(f"unknown unit {r.unit_code!r} at site {r.site_code!r}")
    ctx.fresh(r.key, r.key in look.people, "person")
    ctx.session.add(
        Person(
            enterprise_id=enterprise_id,
            site_id=site_id,
            hazard_unit_id=unit_id,
            region_adcode=region,
            duty=r.duty,
            name=r.name,
            mobile=r.mobile,
            landline=r.landline,
            email=r.email,
        )
    )


def _duty_shift(ctx: Context, r: rec.DutyShiftRecord, geom: Geometry | None) -> None:
    look = ctx.people
    if r.org_code not in look.orgs:
        raise RowRejected(f"unknown organisation {r.org_code!r}")
    org_id, kind, region = look.orgs[r.org_code]
    if kind == "enterprise":
        raise RowRejected(f"organisation {r.org_code!r} is an enterprise: duty rosters are for regulators")
    registered = look.shifts.get(org_id, [])
    if (r.starts_at, r.ends_at, r.mobile) in registered and ctx.skip_existing:
        raise AlreadyExists(f"shift {r.key!r} is in the roster already")
    ctx.fresh(r.key, False, "shift")
    earlier = [(a, b) for k, (o, a, b) in look.file_shifts.items() if o == org_id and k != r.key]
    for start, end in [(a, b) for a, b, _ in registered] + earlier:
        if start < r.ends_at and r.starts_at < end:
            raise RowRejected(
                f"shift overlaps another shift of {r.org_code} "
                f"({start.astimezone(CHINA_TZ):%Y-%m-%d %H:%M} – {end.astimezone(CHINA_TZ):%Y-%m-%d %H:%M})"
            )
    look.file_shifts[r.key] = (org_id, r.starts_at, r.ends_at)
    ctx.session.add(
        DutyShift(
            org_id=org_id,
            region_adcode=region,
            name=r.name,
            mobile=r.mobile,
            landline=r.landline,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
        )
    )


def _inspector(ctx: Context, r: rec.InspectorRecord, geom: Geometry | None) -> None:
    ctx.fresh(r.certificate_no, r.certificate_no in ctx.inspectors, "certificate number")
    unknown = [c for c in r.conflicts if c not in ctx.enterprises]
    if unknown:
        raise RowRejected(f"unknown enterprise {unknown[0]!r} in conflicts")
    ctx.session.add(
        Inspector(**r.model_dump(exclude={"region_adcode"}), region_adcode=ctx.region(r.region_adcode, None))
    )


@dataclass(frozen=True)
class LayerSpec:
    record: type[rec.Record]
    geometry: str | None  # what check_geometry expects; None: no geometry
    geometry_required: bool
    write: Callable[[Context, Any, Any], None]
    key: str


LAYERS: dict[Layer, LayerSpec] = {
    Layer.regions: LayerSpec(rec.RegionRecord, "multipolygon", True, _region, "adcode"),
    Layer.enterprises: LayerSpec(rec.EnterpriseRecord, None, False, _enterprise, "credit_code"),
    Layer.sites: LayerSpec(rec.SiteRecord, "point", True, _site, "code"),
    Layer.footprints: LayerSpec(rec.SiteShapeRecord, "polygon", True, _footprint, "code"),
    Layer.downstream_zones: LayerSpec(rec.SiteShapeRecord, "polygon", True, _downstream_zone, "code"),
    Layer.inventory: LayerSpec(rec.InventoryRecord, None, False, _inventory, "site_code"),
    Layer.hazard_units: LayerSpec(rec.UnitRecord, "polygon", True, _hazard_unit, "key"),
    Layer.places: LayerSpec(rec.PlaceRecord, "point", True, _place, "code"),
    Layer.features: LayerSpec(rec.FeatureRecord, "any", True, _feature, "code"),
    Layer.gateways: LayerSpec(rec.GatewayRecord, None, False, _gateway, "id"),
    Layer.sensors: LayerSpec(rec.SensorRecord, "point", False, _sensor, "code"),
    Layer.people: LayerSpec(rec.PersonRecord, None, False, _person, "key"),
    Layer.duty_roster: LayerSpec(rec.DutyShiftRecord, None, False, _duty_shift, "key"),
    Layer.inspectors: LayerSpec(rec.InspectorRecord, None, False, _inspector, "certificate_no"),
}


BATCH_ROWS = 500


@dataclass
class _Valid:
    row: Row
    key: str | None
    record: rec.Record
    geom: Geometry | None


def import_rows(
    session: Session,
    layer: Layer,
    rows: Iterable[Row],
    skip_existing: bool = False,
    source: str = "",
) -> ImportReport:
    """Validate every row, then write them in batches; the caller commits.

    A batch goes in one savepoint; if the database refuses it, the batch is replayed row by
    row so that only the offending rows are rejected, each with the database's reason.
    """
    spec = LAYERS[layer]
    ctx = Context(session, skip_existing).load()
    report = ImportReport(layer)

    def refuse(item: _Valid, exc: Exception) -> None:
        if isinstance(exc, AlreadyExists) and skip_existing:
            report.skipped += 1
        else:
            report.errors.append(RowError(item.row.number, item.key, _reason(exc), isinstance(exc, DuplicateKey)))

    def write(batch: list[_Valid]) -> None:
        accepted: list[_Valid] = []
        try:
            with session.begin_nested():
                for item in batch:
                    try:
                        spec.write(ctx, item.record, item.geom)
                        accepted.append(item)
                    except RowRejected as exc:
                        refuse(item, exc)
                session.flush()
            report.loaded += len(accepted)
            return
        except IntegrityError:
            pass
        for item in accepted:
            ctx.seen.discard(str(getattr(item.record, spec.key)))
            try:
                with session.begin_nested():
                    spec.write(ctx, item.record, item.geom)
                    session.flush()
                report.loaded += 1
            except (RowRejected, IntegrityError) as exc:
                refuse(item, exc)

    batch: list[_Valid] = []
    for row in rows:
        item = _Valid(row, row.props.get(spec.key), rec.Record(), None)
        try:
            # An empty cell is a missing field, so the reason says "Field required".
            item.record = spec.record.model_validate({k: v for k, v in row.props.items() if v is not None})
            item.geom = row.geom
            if spec.geometry and (row.geom is not None or spec.geometry_required):
                item.geom = check_geometry(row.geom, spec.geometry)
        except (ValidationError, GeometryError) as exc:
            refuse(item, exc)
            continue
        batch.append(item)
        if len(batch) >= BATCH_ROWS:
            write(batch)
            batch = []
    if batch:
        write(batch)
    report.errors.sort(key=lambda e: e.row)
    if ctx.default_unit_sites:
        sites = sorted(ctx.default_unit_sites)
        report.notes.append(
            f"{len(sites)} 个厂区的储量未给出单元（unit_code、unit_name、unit_kind 列），每厂按一个默认单元"
            f"「{DEFAULT_UNIT_NAME}」辨识重大危险源：{'、'.join(sites[:20])}{' 等' if len(sites) > 20 else ''}"
        )
    if report.loaded:
        record(
            session,
            "import",
            layer,
            source or layer,
            {"loaded": report.loaded, "skipped": report.skipped, "rejected": len(report.errors)},
        )
    return report


def import_file(session: Session, path: Path, layer: Layer, skip_existing: bool = False) -> ImportReport:
    return import_rows(session, layer, read_rows(path), skip_existing, source=path.name)
