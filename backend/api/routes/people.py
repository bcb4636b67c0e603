"""The people a warning must reach over HTTP: the people register and the regulators' duty rosters
(值班表), listed with phone numbers masked for those who may not see them in full, and imported
from CSV with the same validation as `riskmap import --layer people|duty_roster`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from backend.api.deps import Operator, SessionDep, Viewer
from backend.api.edge import Instant, StrictJSONRoute
from backend.api.responses import Out
from backend.core.clock import CHINA_TZ
from backend.core.principal import Principal
from backend.models import DutyShift, Enterprise, HazardUnit, Organisation, Person, Site
from backend.people.register import DUTY_ZH, Duty, may_see_phones, on_duty, shown
from backend.registry.importer import ImportReport, Layer, csv_rows, import_rows

router = APIRouter(prefix="/api/v1", tags=["people"], route_class=StrictJSONRoute)
CSV_BODY = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}}


class PersonOut(Out):
    """A responsible person; phones masked (138****1234) unless the caller may see them in full."""

    id: int
    enterprise: str = Field(description="统一社会信用代码")
    enterprise_name: str
    site: str | None = Field(description="site code; none for the enterprise's own people")
    unit: str | None = Field(description="major-hazard unit code, for a 包保责任人")
    duty: str = Field(description="principal | safety | unit_principal | unit_technical | unit_operator")
    duty_zh: str
    name: str
    mobile: str
    landline: str | None
    email: str | None
    masked: bool = Field(description="the phone numbers are masked for this caller")


class ShiftOut(Out):
    """One shift of a regulator's duty roster; times in China time (+08:00)."""

    id: int
    org: str = Field(description="the organisation's code (a bureau: its region's adcode)")
    org_name: str
    name: str
    mobile: str
    landline: str | None
    starts_at: str
    ends_at: str
    masked: bool


class OnDutyOut(Out):
    org: str
    org_name: str
    at: str
    on_duty: ShiftOut | None = Field(description="none when the roster has nobody at that instant")


class RowErrorOut(Out):
    row: int = Field(description="1-based data row (the header is row 0)")
    key: str | None
    reason: str


class ImportOut(Out):
    """What an import did: rows loaded and each rejected row with its reason."""

    layer: str
    loaded: int
    skipped: int
    errors: list[RowErrorOut]
    notes: list[str]


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _import(session: Session, layer: Layer, body: bytes, source: str) -> dict[str, Any]:
    """A CSV body through the importer; the good rows load, each bad one is reported by its row."""
    try:
        text_ = body.decode("utf-8-sig")
        header = next(csv.reader(io.StringIO(text_)), None)
        if not header:
            raise ValueError("empty")
        rows = csv_rows(io.BytesIO(text_.encode("utf-8")))
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:  # pandas' parser errors are ValueErrors
        msg = f"not a UTF-8 CSV file with a header row ({type(exc).__name__})"
        raise HTTPException(422, [{"loc": ["body"], "msg": msg}]) from None
    report: ImportReport = import_rows(session, layer, rows, source=source)
    session.commit()
    return {
        "layer": str(report.layer),
        "loaded": report.loaded,
        "skipped": report.skipped,
        "errors": [{"row": e.row, "key": e.key, "reason": e.reason} for e in report.errors],
        "notes": report.notes,
    }


def _china(t: datetime) -> str:
    return t.astimezone(CHINA_TZ).isoformat()


@router.get("/people", response_model=list[PersonOut])
def list_people(
    session: SessionDep,
    caller: Viewer,
    enterprise: Annotated[str | None, Query(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")] = None,
    site: Annotated[str | None, Query(max_length=48)] = None,
    duty: Duty | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[dict[str, Any]]:
    """The people register within the caller's jurisdiction: an enterprise's people, a site's, and
    the 包保责任人 of its major-hazard units. Phones in full for the jurisdiction's regulators, duty
    officers and administrators and for the person's own enterprise; masked for everyone else."""
    unit = aliased(HazardUnit)
    query = (
        select(Person, Enterprise.credit_code, Enterprise.name, Site.code, unit.code)
        .join(Enterprise, Enterprise.id == Person.enterprise_id)
        .outerjoin(Site, Site.id == Person.site_id)
        .outerjoin(unit, unit.id == Person.hazard_unit_id)
        .order_by(Enterprise.credit_code, Site.code.nulls_first(), unit.code.nulls_first(), Person.duty, Person.id)
        .limit(limit)
        .offset(offset)
    )
    if enterprise is not None:
        query = query.where(Enterprise.credit_code == enterprise)
    if site is not None:
        query = query.where(Site.code == site)
    if duty is not None:
        query = query.where(Person.duty == duty)
    return [_person_out(caller, *row) for row in session.execute(query)]


def _person_out(
    caller: Principal, p: Person, credit: str, enterprise_name: str, site: str | None, unit: str | None
) -> dict[str, Any]:
    full = may_see_phones(caller, p.enterprise_id, p.region_adcode)
    return {
        "id": p.id,
        "enterprise": credit,
        "enterprise_name": enterprise_name,
        "site": site,
        "unit": unit,
        "duty": p.duty,
        "duty_zh": DUTY_ZH[Duty(p.duty)],
        "name": p.name,
        "mobile": shown(p.mobile, full),
        "landline": shown(p.landline, full),
        "email": p.email if full else None,
        "masked": not full,
    }


@router.post("/people/import", response_model=ImportOut, openapi_extra=CSV_BODY)
def import_people(session: SessionDep, caller: Operator, body: Annotated[bytes, Depends(_raw_body)]) -> dict[str, Any]:
    """Import people from CSV (columns: enterprise_credit_code, site_code, unit_code, duty, name,
    mobile, landline, email). Mobiles are normalised (+86, spaces); each bad row is reported with
    its row number and reason (a bad mobile, an unknown enterprise, site or unit, a duplicate)."""
    return _import(session, Layer.people, body, "api:people")


def _shift_out(caller: Principal, s: DutyShift, org: Organisation) -> dict[str, Any]:
    full = may_see_phones(caller, None, s.region_adcode)
    return {
        "id": s.id,
        "org": org.code,
        "org_name": org.name,
        "name": s.name,
        "mobile": shown(s.mobile, full),
        "landline": shown(s.landline, full),
        "starts_at": _china(s.starts_at),
        "ends_at": _china(s.ends_at),
        "masked": not full,
    }


def _org(session: Session, code: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.code == code, Organisation.kind != "enterprise"))
    if org is None:
        raise HTTPException(404, f"no regulator organisation {code!r}")
    return org


OrgCode = Annotated[str, Query(min_length=1, max_length=32, description="a bureau: its region's adcode")]


@router.get("/duty-roster", response_model=list[ShiftOut])
def list_roster(
    session: SessionDep,
    caller: Viewer,
    org: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict[str, Any]]:
    """Shifts overlapping [from, to) (default: from now for 7 days), by organisation and start."""
    now = datetime.now(UTC)
    start = start or now
    end = end or start + timedelta(days=7)
    if end <= start:
        raise HTTPException(422, [{"loc": ["query", "to"], "msg": "to must be after from"}])
    query = (
        select(DutyShift, Organisation)
        .join(Organisation, Organisation.id == DutyShift.org_id)
        .where(DutyShift.starts_at < end, DutyShift.ends_at > start)
        .order_by(Organisation.code, DutyShift.starts_at)
        .limit(limit)
    )
    if org is not None:
        query = query.where(Organisation.id == _org(session, org).id)
    return [_shift_out(caller, s, o) for s, o in session.execute(query)]


@router.get("/duty-roster/on-duty", response_model=OnDutyOut)
def who_is_on_duty(session: SessionDep, caller: Viewer, org: OrgCode, at: Instant | None = None) -> dict[str, Any]:
    """Who is on duty for the organisation at instant `at` (default: now)."""
    o = _org(session, org)
    at = at or datetime.now(UTC)
    shift = on_duty(session, o.id, at)
    return {
        "org": o.code,
        "org_name": o.name,
        "at": _china(at),
        "on_duty": _shift_out(caller, shift, o) if shift else None,
    }


@router.post("/duty-roster/import", response_model=ImportOut, openapi_extra=CSV_BODY)
def import_roster(session: SessionDep, caller: Operator, body: Annotated[bytes, Depends(_raw_body)]) -> dict[str, Any]:
    """Import duty shifts from CSV (columns: org_code, name, mobile, landline, starts_at, ends_at;
    times without an offset are China time). A shift overlapping another of the same organisation,
    in the roster or earlier in the file, is rejected with its row number."""
    return _import(session, Layer.duty_roster, body, "api:duty_roster")
