"""Inspections on site, their photos and documents, and the enforcement decided there; the
transitions are backend/supervision/inspections.py's, the file checks backend/hazards/files.py's."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from backend.api.deps import InternalAccess, Operator, ReadAccess, SessionDep
from backend.api.edge import IdPath, Instant, StrictJSONRoute
from backend.api.responses import Out
from backend.domain.errors import NotFound
from backend.domain.kinds import SiteKind, region_prefix
from backend.hazards import files
from backend.models import EnforcementAction, Inspection, InspectionFile, Site
from backend.supervision import inspections as flow

router = APIRouter(prefix="/api/v1", tags=["inspections"], route_class=StrictJSONRoute)
Adcode = Annotated[str, Query(pattern=r"^\d{6}$", description="a prefecture or the province includes its counties")]
SiteCode = Annotated[str, Query(max_length=48)]


class ChecklistItemOut(Out):
    id: str
    text: str
    result: str | None = Field(None, description="ok | finding | na; null until answered")
    note: str = ""


class FindingOut(Out):
    title: str
    major: bool = Field(description="重大事故隐患")
    item: str | None
    hazard_id: int | None = Field(description="the hidden hazard it became, if it did")


class InspectionOut(Out):
    id: int
    site: str
    jurisdiction: str
    origin: str
    origin_ref: str | None
    plan_visit_id: int | None
    day: date
    inspectors: list[str]
    state: str
    state_zh: str
    checklist: list[ChecklistItemOut]
    findings: list[FindingOut]
    note: str
    completed_at: datetime | None


class ActionOut(Out):
    id: int
    inspection_id: int
    site: str
    jurisdiction: str
    kind: str
    kind_zh: str
    document_no: str = Field(description="文书编号")
    amount_yuan: float | None
    deadline: date | None
    note: str
    decided_at: datetime


def _inspection_out(session: Any, i: Inspection) -> dict[str, Any]:
    code = session.scalar(select(Site.code).where(Site.id == i.site_id))
    return {
        "id": i.id,
        "site": code,
        "jurisdiction": i.region_adcode,
        "origin": i.origin,
        "origin_ref": i.origin_ref,
        "plan_visit_id": i.plan_visit_id,
        "day": i.day,
        "inspectors": list(i.inspectors),
        "state": i.state,
        "state_zh": flow.STATE_ZH[i.state],
        "checklist": i.checklist,
        "findings": i.findings,
        "note": i.note,
        "completed_at": i.completed_at,
    }


def _action_out(session: Any, a: EnforcementAction) -> dict[str, Any]:
    return {
        "id": a.id,
        "inspection_id": a.inspection_id,
        "site": session.scalar(select(Site.code).where(Site.id == a.site_id)),
        "jurisdiction": a.region_adcode,
        "kind": a.kind,
        "kind_zh": flow.ACTION_ZH[a.kind],
        "document_no": a.document_no,
        "amount_yuan": a.amount_yuan,
        "deadline": a.deadline,
        "note": a.note,
        "decided_at": a.decided_at,
    }


class ChecklistOut(Out):
    kind: str
    items: list[ChecklistItemOut]


@router.get("/checklists/{kind}", dependencies=[ReadAccess], response_model=ChecklistOut)
def get_checklist(kind: SiteKind) -> dict[str, Any]:
    """The checklist an inspection of this site kind follows (inspection_checklists.yaml)."""
    return {"kind": kind.value, "items": flow.checklist_for(kind)}


class InspectionIn(BaseModel):
    site: str = Field(max_length=48)
    day: date
    origin: Literal["plan", "report_12350", "alarm", "other"]
    inspectors: list[Annotated[str, Field(max_length=32)]] = Field([], max_length=20)
    plan_visit_id: int | None = Field(None, ge=1, le=2**31 - 1)
    origin_ref: str | None = Field(None, max_length=64, description="the 12350 report's number or the alarm's id")
    note: str = Field("", max_length=2000)


@router.post("/inspections", response_model=InspectionOut, status_code=201)
def create_inspection(body: InspectionIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """A planned inspection (from a plan visit) or an unscheduled one (operator; audited)."""
    i = flow.create(
        session, body.site, body.day, body.origin, body.inspectors, body.plan_visit_id, body.origin_ref, body.note
    )
    session.commit()
    return _inspection_out(session, i)


@router.get("/inspections", dependencies=[InternalAccess], response_model=list[InspectionOut])
def list_inspections(
    session: SessionDep,
    jurisdiction: Adcode | None = None,
    site: SiteCode | None = None,
    state: Literal["planned", "in_progress", "completed", "cancelled"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    q = select(Inspection).order_by(Inspection.day.desc(), Inspection.id.desc()).limit(limit)
    if jurisdiction:
        q = q.where(Inspection.region_adcode.like(f"{region_prefix(jurisdiction)}%"))
    if site:
        q = q.join(Site, Site.id == Inspection.site_id).where(Site.code == site)
    if state:
        q = q.where(Inspection.state == state)
    return [_inspection_out(session, i) for i in session.scalars(q)]


@router.get("/inspections/{inspection_id}", dependencies=[InternalAccess], response_model=InspectionOut)
def get_inspection(inspection_id: IdPath, session: SessionDep) -> dict[str, Any]:
    return _inspection_out(session, flow.get(session, inspection_id))


@router.post("/inspections/{inspection_id}/start", response_model=InspectionOut)
def start_inspection(inspection_id: IdPath, session: SessionDep, caller: Operator) -> dict[str, Any]:
    i = flow.get(session, inspection_id)
    flow.start(session, i)
    session.commit()
    return _inspection_out(session, i)


class Answer(BaseModel):
    result: Literal["ok", "finding", "na"]
    note: str = Field("", max_length=1000)


class FindingIn(BaseModel):
    title: str = Field(min_length=1, max_length=256)
    major: bool = False
    item: str | None = Field(None, max_length=32)


class FillIn(BaseModel):
    answers: dict[Annotated[str, Field(max_length=32)], Answer] = Field({}, max_length=100)
    findings: list[FindingIn] = Field([], max_length=100)


@router.post("/inspections/{inspection_id}/record", response_model=InspectionOut)
def record_inspection(inspection_id: IdPath, body: FillIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """Answer checklist items and add findings (in progress only; audited)."""
    i = flow.get(session, inspection_id)
    flow.fill(
        session,
        i,
        {k: (a.result, a.note) for k, a in body.answers.items()},
        [f.model_dump() for f in body.findings],
    )
    session.commit()
    return _inspection_out(session, i)


@router.post("/inspections/{inspection_id}/complete", response_model=InspectionOut)
def complete_inspection(inspection_id: IdPath, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """Complete: every checklist item must be answered (409 naming those that are not)."""
    i = flow.get(session, inspection_id)
    flow.complete(session, i)
    session.commit()
    return _inspection_out(session, i)


class CancelIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/inspections/{inspection_id}/cancel", response_model=InspectionOut)
def cancel_inspection(inspection_id: IdPath, body: CancelIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    i = flow.get(session, inspection_id)
    flow.cancel(session, i, body.reason)
    session.commit()
    return _inspection_out(session, i)


class HazardIn(BaseModel):
    deadline: Instant | None = None


class HazardFromFindingOut(Out):
    hazard_id: int
    inspection: InspectionOut


@router.post("/inspections/{inspection_id}/findings/{index}/hazard", response_model=HazardFromFindingOut)
def finding_to_hazard(
    inspection_id: IdPath,
    index: Annotated[int, Path(ge=0, le=99)],
    session: SessionDep,
    caller: Operator,
    body: HazardIn | None = None,
) -> dict[str, Any]:
    """The finding becomes a hidden hazard of the site in one step (a major one makes it red)."""
    i = flow.get(session, inspection_id)
    hazard = flow.finding_to_hazard(session, i, index, body.deadline if body else None)
    session.commit()
    return {"hazard_id": hazard.id, "inspection": _inspection_out(session, i)}


class ActionIn(BaseModel):
    inspection_id: int = Field(ge=1, le=2**31 - 1)
    kind: Literal[
        "rectify_by_deadline", "suspend_for_rectification", "fine", "suspend_licence", "revoke_licence", "transfer"
    ]
    document_no: str = Field(min_length=1, max_length=64, description="文书编号")
    amount_yuan: float | None = Field(None, gt=0, le=1e10)
    deadline: date | None = None
    note: str = Field("", max_length=2000)


@router.post("/enforcement-actions", response_model=ActionOut, status_code=201)
def decide(body: ActionIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """An enforcement decision with its document number; 责令停产整顿 suspends the enterprise
    (operator; audited)."""
    i = flow.get(session, body.inspection_id)
    a = flow.decide(session, i, body.kind, body.document_no, body.amount_yuan, body.deadline, body.note)
    session.commit()
    return _action_out(session, a)


@router.get("/enforcement-actions", dependencies=[InternalAccess], response_model=list[ActionOut])
def list_actions(
    session: SessionDep,
    jurisdiction: Adcode | None = None,
    site: SiteCode | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    q = select(EnforcementAction).order_by(EnforcementAction.decided_at.desc()).limit(limit)
    if jurisdiction:
        q = q.where(EnforcementAction.region_adcode.like(f"{region_prefix(jurisdiction)}%"))
    if site:
        q = q.join(Site, Site.id == EnforcementAction.site_id).where(Site.code == site)
    return [_action_out(session, a) for a in session.scalars(q)]


@router.get("/enforcement-actions/{action_id}", dependencies=[InternalAccess], response_model=ActionOut)
def get_action(action_id: IdPath, session: SessionDep) -> dict[str, Any]:
    a = session.get(EnforcementAction, action_id)
    if a is None:
        raise NotFound(f"no enforcement action {action_id}")
    return _action_out(session, a)


class InspectionFileOut(Out):
    id: int
    inspection_id: int
    finding: int | None = Field(description="the finding's index, or null for the inspection as a whole")
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    url: str


def file_out(f: InspectionFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "inspection_id": f.inspection_id,
        "finding": f.finding_index,
        "name": f.name,
        "content_type": f.content_type,
        "size": f.size,
        "sha256": f.sha256,
        "uploaded_by": f.uploaded_by,
        "uploaded_at": f.uploaded_at,
        "url": f"/api/v1/inspections/{f.inspection_id}/files/{f.id}",
    }


@router.post("/inspections/{inspection_id}/files", status_code=201, response_model=InspectionFileOut)
def upload_inspection_file(
    inspection_id: IdPath,
    session: SessionDep,
    caller: Operator,
    file: Annotated[UploadFile, File(description="a photo (from the phone's camera), PDF or office document")],
    finding: Annotated[int | None, Form(ge=0, le=99, description="the finding it shows, if one")] = None,
    name: Annotated[str, Form(max_length=200)] = "",
) -> dict[str, Any]:
    """Attach a photo or document to an inspection or one of its findings (inspectors and regulators
    of the jurisdiction; checked by content, stored once per content; audited). A finding turned
    into a hidden hazard passes its files to the hazard."""
    i = flow.get(session, inspection_id)
    stored = flow.attach(session, i, file.file, name or file.filename, finding, caller.actor)
    session.commit()
    return file_out(stored)


@router.get("/inspections/{inspection_id}/files", dependencies=[InternalAccess], response_model=list[InspectionFileOut])
def list_inspection_files(inspection_id: IdPath, session: SessionDep) -> list[dict[str, Any]]:
    return [file_out(f) for f in flow.files_of(session, flow.get(session, inspection_id))]


@router.get(
    "/inspections/{inspection_id}/files/{file_id}",
    dependencies=[InternalAccess],
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the file's bytes, with its sniffed type",
        }
    },
)
def download_inspection_file(inspection_id: IdPath, file_id: IdPath, session: SessionDep) -> Response:
    """An inspection's file, only to callers who may see the inspection (else 404)."""
    stored = flow.file_of(session, flow.get(session, inspection_id), file_id)
    digest, content_type, name = stored.sha256, stored.content_type, stored.name
    session.rollback()  # the read transaction ends before the fetch from the store
    return Response(
        files.storage().get(digest), media_type=content_type, headers=files.served_headers(content_type, name)
    )
