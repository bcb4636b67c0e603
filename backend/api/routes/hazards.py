"""Hidden hazards (隐患) over HTTP: the list and its filters, one hazard with its events, the
transitions (backend/hazards/lifecycle.py decides them), files, the Excel list and the statistics.

Every route needs a token (Perm.read); what a caller sees is its jurisdiction, and what it may do
is decided by the lifecycle (an enterprise acts on its own sites, a regulator in its region)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from backend.api.deps import SessionDep, Viewer
from backend.api.edge import IdPath, Instant, StrictJSONRoute
from backend.api.geojson import GeoJSONResponse, collection, feature
from backend.api.responses import FeatureCollection, Out, geojson
from backend.api.routes.sites import AdcodeParam
from backend.core.audit import record
from backend.domain.errors import Invalid, NotFound
from backend.domain.kinds import SiteKind
from backend.hazards import criteria, files, lifecycle, reports
from backend.hazards.lifecycle import EVENT_ZH, FOUND_BY_ZH, INTERIM_MEASURES, STATE_ZH, FoundBy, Report, State, Step
from backend.models import HazardEvent, HazardFile, HiddenHazard, NoncoalMine, Organisation, Site

router = APIRouter(prefix="/api/v1", tags=["hidden hazards"], route_class=StrictJSONRoute)

Transition = Literal["confirm", "plan", "start", "submit", "accept", "reject", "supervise"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class HazardIn(BaseModel):
    site: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,46}$", description="the site's code")
    title: str = Field(min_length=1, max_length=256, description="隐患内容")
    description: str = Field("", max_length=4000)
    major: bool = False
    criterion: str | None = Field(None, max_length=48, description="判定依据: e.g. coal:五 (see /criteria)")
    major_reason: str | None = Field(None, max_length=2000, description="a regulator's reasoned decision")
    found_by: FoundBy = FoundBy.inspection
    found_at: Instant | None = None
    deadline: Instant | None = None
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)


class StepIn(BaseModel):
    reason: str = Field("", max_length=2000)
    attachments: list[int] = Field([], max_length=50)
    major: bool | None = None
    criterion: str | None = Field(None, max_length=48)
    major_reason: str | None = Field(None, max_length=2000)
    measures: str | None = Field(None, max_length=4000)
    funds_yuan: float | None = Field(None, ge=0, le=1e12, allow_inf_nan=False)
    responsible: str | None = Field(None, max_length=64)
    deadline: Instant | None = None
    order_no: str | None = Field(None, max_length=64)
    ordered_by: Literal["city_safety_committee"] | None = None
    interim_measures: list[Literal["suspend", "evacuate"]] = Field([], max_length=2)
    inspectors: str | None = Field(None, max_length=256)
    accepted_on: Instant | None = None


class EventOut(Out):
    id: int
    event: str
    event_zh: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    reason: str
    detail: dict[str, Any]
    attachments: list[int]


class FileOut(Out):
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    url: str


class HazardOut(Out):
    id: int
    site: str
    site_name: str
    site_kind: str
    enterprise: str
    region_adcode: str
    region: str
    title: str
    description: str
    major: bool
    grade_zh: str
    criterion: str | None
    basis: str
    major_reason: str | None
    state: str
    state_zh: str
    found_by: str
    found_by_zh: str
    found_at: datetime
    deadline: datetime | None
    overdue: bool
    measures: str | None
    funds_yuan: float | None
    responsible: str | None
    supervised: bool
    order_no: str | None
    supervising_org: str | None
    interim_measures: list[str]
    review_deadline: datetime | None
    inspectors: str | None
    accepted_on: datetime | None
    escalation: int
    closed_at: datetime | None
    lon: float | None
    lat: float | None


class HazardDetailOut(HazardOut):
    events: list[EventOut]
    files: list[FileOut]
    next: list[str] = Field(description="the transitions the caller may make now")


class HazardListOut(Out):
    total: int
    items: list[HazardOut]


class CriterionOut(Out):
    key: str
    standard: str
    title: str
    document: str
    number: str
    text: str
    unconfirmed: bool


class StatsRowOut(Out):
    key: str
    name: str
    found: int
    rectified: int
    rate: float
    overdue: int
    major: int
    supervised_open: int
    supervised_closed: int


class HazardMapProperties(Out):
    id: int
    title: str
    major: bool
    overdue: bool
    state_zh: str
    site: str


def _out(session: SessionDep, h: HiddenHazard, site: Site, enterprise: str, region: str, now: datetime) -> dict:
    org = session.get(Organisation, h.supervising_org_id) if h.supervising_org_id else None
    lon = lat = None
    if h.location is not None:
        lon, lat = session.execute(select(func.ST_X(h.location), func.ST_Y(h.location))).one()
    return {
        "id": h.id,
        "site": site.code,
        "site_name": site.name,
        "site_kind": site.kind,
        "enterprise": enterprise,
        "region_adcode": site.region_adcode,
        "region": region,
        "title": h.title,
        "description": h.description,
        "major": h.major,
        "grade_zh": "重大隐患" if h.major else "一般隐患",
        "criterion": h.criterion,
        "basis": reports.basis(h),
        "major_reason": h.major_reason,
        "state": h.state,
        "state_zh": STATE_ZH[State(h.state)],
        "found_by": h.found_by,
        "found_by_zh": FOUND_BY_ZH.get(FoundBy(h.found_by), h.found_by),
        "found_at": h.found_at,
        "deadline": h.deadline,
        "overdue": lifecycle.overdue(h, now),
        "measures": h.measures,
        "funds_yuan": h.funds_yuan,
        "responsible": h.responsible,
        "supervised": h.supervised_at is not None,
        "order_no": h.order_no,
        "supervising_org": org.name if org else None,
        "interim_measures": [INTERIM_MEASURES[m] for m in h.interim_measures],
        "review_deadline": h.review_deadline,
        "inspectors": h.inspectors,
        "accepted_on": h.accepted_on,
        "escalation": h.escalation,
        "closed_at": h.rectified_at,
        "lon": lon,
        "lat": lat,
    }


def _file_out(f: HazardFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "content_type": f.content_type,
        "size": f.size,
        "sha256": f.sha256,
        "uploaded_by": f.uploaded_by,
        "uploaded_at": f.uploaded_at,
        "url": f"/api/v1/hidden-hazards/{f.hazard_id}/files/{f.id}",
    }


def _detail(session: SessionDep, caller: Any, hazard_id: int, now: datetime) -> dict[str, Any]:
    row = session.execute(
        reports.hazards(session, caller, reports.Filters(), now).where(HiddenHazard.id == hazard_id)
    ).first()
    if row is None:
        raise NotFound(f"没有编号为 {hazard_id} 的隐患")
    h, site, enterprise, region = row
    events = session.scalars(select(HazardEvent).where(HazardEvent.hazard_id == h.id).order_by(HazardEvent.id))
    stored = session.scalars(select(HazardFile).where(HazardFile.hazard_id == h.id).order_by(HazardFile.id))
    return _out(session, h, site, enterprise.name, region, now) | {
        "events": [
            {
                "id": e.id,
                "event": e.event,
                "event_zh": EVENT_ZH.get(e.event, e.event),
                "from_state": e.from_state,
                "to_state": e.to_state,
                "actor": e.actor,
                "at": e.at,
                "reason": e.reason,
                "detail": e.detail,
                "attachments": e.attachments,
            }
            for e in events
        ],
        "files": [_file_out(f) for f in stored],
        "next": lifecycle.next_transitions(h, caller, site.enterprise_id),
    }


Kinds = Annotated[list[SiteKind] | None, Query()]
States = Annotated[list[State] | None, Query()]
FoundBys = Annotated[list[FoundBy] | None, Query()]


def _filters(
    region: AdcodeParam | None = None,
    kind: Kinds = None,
    grade: Literal["major", "general"] | None = None,
    state: States = None,
    overdue: bool | None = None,
    found_by: FoundBys = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    site: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,46}$")] = None,
) -> reports.Filters:
    return reports.Filters(
        region=region,
        kind=[str(k) for k in kind] if kind else None,
        grade=grade,
        state=[str(s) for s in state] if state else None,
        overdue=overdue,
        found_by=[str(f) for f in found_by] if found_by else None,
        since=since,
        until=until,
        site=site,
    )


@router.get("/hidden-hazards", response_model=HazardListOut)
def list_hazards(
    session: SessionDep,
    caller: Viewer,
    f: Annotated[reports.Filters, Depends(_filters)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Hazards in the caller's jurisdiction, filtered (jurisdiction, kind, grade, state, overdue,
    who found them, period found, site), oldest first."""
    now = utcnow()
    q = reports.hazards(session, caller, f, now)
    total = session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
    items = [
        _out(session, h, s, e.name, region_name, now)
        for h, s, e, region_name in session.execute(q.limit(limit).offset(offset))
    ]
    return {"total": total, "items": items}


@router.post("/hidden-hazards", status_code=201, response_model=HazardDetailOut)
def create_hazard(body: HazardIn, session: SessionDep, caller: Viewer) -> dict[str, Any]:
    """Report a hazard: an enterprise's own (自查自报), or a regulator's finding. A 重大 one names its
    criteria item (`criterion`), or a regulator gives `major_reason`."""
    now = utcnow()
    site_id = session.scalar(select(Site.id).where(Site.code == body.site))
    if site_id is None:
        raise NotFound(f"没有编号为 {body.site} 的站点", "site")
    if (body.lon is None) != (body.lat is None):
        raise Invalid("位置须同时给出经度和纬度", "lon")
    hazard = lifecycle.report(
        session,
        caller,
        Report(
            site_id=site_id,
            title=body.title,
            description=body.description,
            major=body.major,
            criterion=body.criterion,
            major_reason=body.major_reason,
            found_by=body.found_by,
            found_at=body.found_at,
            deadline=body.deadline,
            lon=body.lon,
            lat=body.lat,
        ),
        now,
    )
    session.commit()
    return _detail(session, caller, hazard.id, now)


@router.get("/hidden-hazards/criteria", response_model=list[CriterionOut])
def list_criteria(
    session: SessionDep,
    caller: Viewer,
    site: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,46}$")] = None,
    kind: SiteKind | None = None,
) -> list[dict[str, Any]]:
    """The 重大事故隐患 criteria items: all, or those for a site (its kind, and a non-coal mine's method)."""
    method = None
    if site is not None:
        row = session.execute(
            select(Site.kind, NoncoalMine.mining_method)
            .outerjoin(NoncoalMine, NoncoalMine.site_id == Site.id)
            .where(Site.code == site)
        ).first()
        if row is None:
            raise NotFound(f"没有编号为 {site} 的站点", "site")
        kind, method = SiteKind(row.kind), row.mining_method
    items = criteria.for_site(kind, method) if kind is not None else list(criteria.all_items())
    return [
        {
            "key": c.key,
            "standard": c.standard,
            "title": c.title,
            "document": c.document,
            "number": c.no,
            "text": c.text,
            "unconfirmed": c.unconfirmed,
        }
        for c in items
    ]


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/hidden-hazards/export.xlsx",
    response_class=Response,
    responses={
        200: {
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
            "description": "the list in the bureaus' layout (.xlsx)",
        }
    },
)
def export_hazards(
    session: SessionDep,
    caller: Viewer,
    f: Annotated[reports.Filters, Depends(_filters)],
    year: Annotated[int | None, Query(ge=2000, le=2100, description="found in this year (China time)")] = None,
) -> Response:
    """The list bureaus send upward (序号 … 销号日期), as an Excel workbook; with `year` and a
    `region`, the annual 重大风险隐患清单及整改情况 for that jurisdiction."""
    now = utcnow()
    if year is not None:
        from backend.core.clock import CHINA_TZ

        f.since = datetime(year, 1, 1, tzinfo=CHINA_TZ)
        f.until = datetime(year + 1, 1, 1, tzinfo=CHINA_TZ)
    title = f"{year or ''}隐患排查治理清单及整改情况"
    body = reports.workbook(session, caller, f, now, title)
    name = "hidden-hazards.xlsx" if year is None else f"hidden-hazards-{year}.xlsx"
    return Response(body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/hidden-hazards/stats", response_model=list[StatsRowOut])
def hazard_stats(
    session: SessionDep,
    caller: Viewer,
    by: Literal["county", "month"] = "county",
    region: AdcodeParam | None = None,
    kind: Kinds = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
) -> list[dict[str, Any]]:
    """What a bureau reports, per county or per month found: found, rectified (销号), rate,
    overdue, 重大, 挂牌督办 open and closed."""
    f = _filters(region, kind, None, None, None, None, since, until)
    return reports.stats(session, caller, f, by, utcnow())


@router.get(
    "/hidden-hazards/map",
    response_class=GeoJSONResponse,
    responses=geojson(FeatureCollection[HazardMapProperties]),
)
def hazard_map(session: SessionDep, caller: Viewer) -> GeoJSONResponse:
    """Open hazards as points (their own location, else their site's), for the map layer."""
    now = utcnow()
    q = reports.hazards(session, caller, reports.Filters(state=list(lifecycle.OPEN_STATES)), now)
    q = q.add_columns(func.ST_AsGeoJSON(func.coalesce(HiddenHazard.location, Site.location), 6).label("geometry"))
    features = [
        feature(
            geom,
            {
                "id": h.id,
                "title": h.title,
                "major": h.major,
                "overdue": lifecycle.overdue(h, now),
                "state_zh": STATE_ZH[State(h.state)],
                "site": s.code,
            },
            h.id,
        )
        for h, s, _e, _r, geom in session.execute(q)
    ]
    return GeoJSONResponse(collection(features))


@router.get("/hidden-hazards/{hazard_id}", response_model=HazardDetailOut)
def get_hazard(hazard_id: IdPath, session: SessionDep, caller: Viewer) -> dict[str, Any]:
    """One hazard with its timeline (events), files, and the transitions the caller may make."""
    return _detail(session, caller, hazard_id, utcnow())


@router.post("/hidden-hazards/{hazard_id}/files", status_code=201, response_model=FileOut)
def upload_file(
    hazard_id: IdPath,
    session: SessionDep,
    caller: Viewer,
    file: Annotated[UploadFile, File(description="a photo, PDF or office document")],
    note: Annotated[str, Form(max_length=200)] = "",
) -> dict[str, Any]:
    """Attach a photo or document (checked by content; stored once per content). Whoever may act
    on the hazard may attach; the file is then named in a transition's `attachments`.

    The bytes are stored first, outside any database transaction (the read that checked the caller
    has ended), then the row is written and committed: a store that is down answers 503 and leaves
    no row; a failed commit leaves only orphan bytes, harmless since they are content-addressed."""
    hazard = lifecycle.get(session, hazard_id, caller)
    site = session.get(Site, hazard.site_id)
    assert site is not None
    if not (lifecycle.is_regulator(caller) or lifecycle.is_enterprise_of(caller, site.enterprise_id)):
        raise lifecycle.HazardForbidden("无权为该隐患上传附件")
    target, site_id = hazard.id, hazard.site_id
    session.rollback()  # only reads so far: hold no transaction (nor pooled connection) over the network call
    checked = files.keep(file.file)
    stored = HazardFile(
        hazard_id=target,
        site_id=site_id,
        sha256=checked.digest,
        name=files.safe_name(note or file.filename),
        content_type=checked.content_type,
        size=checked.size,
        uploaded_by=caller.actor,
    )
    session.add(stored)
    session.flush()
    record(
        session,
        "file_added",
        "hidden_hazards",
        str(target),
        {"file": stored.id, "sha256": stored.sha256, "name": stored.name, "size": stored.size},
    )
    session.commit()
    return _file_out(stored)


@router.get(
    "/hidden-hazards/{hazard_id}/files/{file_id}",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the file's bytes, with its sniffed type",
        }
    },
)
def download_file(hazard_id: IdPath, file_id: IdPath, session: SessionDep, caller: Viewer) -> Response:
    """A hazard's file, only to callers who may see the hazard. Bytes the store has lost answer 404
    (StoredFileMissing), a store that is down 503; the read transaction ends before the fetch."""
    lifecycle.get(session, hazard_id, caller)
    stored = session.scalar(select(HazardFile).where(HazardFile.id == file_id, HazardFile.hazard_id == hazard_id))
    if stored is None:
        raise HTTPException(404, f"隐患 {hazard_id} 没有编号为 {file_id} 的附件")
    digest, content_type, name = stored.sha256, stored.content_type, stored.name
    session.rollback()
    return Response(
        files.storage().get(digest), media_type=content_type, headers=files.served_headers(content_type, name)
    )


@router.post("/hidden-hazards/{hazard_id}/{transition}", response_model=HazardDetailOut)
def make_transition(
    hazard_id: IdPath, transition: Transition, body: StepIn, session: SessionDep, caller: Viewer
) -> dict[str, Any]:
    """A transition: confirm, plan (measures, funds, responsible, deadline), start, submit (with
    evidence attached), accept (销号; a supervised hazard needs the inspectors and the date),
    reject (with the reason), supervise (挂牌督办: order number, deadline, interim measures).
    An illegal one is refused: 409 from the wrong state, 403 for a caller who may not make it."""
    now = utcnow()
    lifecycle.transition(session, caller, hazard_id, transition, Step(**body.model_dump()), now)
    session.commit()
    return _detail(session, caller, hazard_id, now)
