"""Every inspection transition, and the enforcement decided at one, in one place.

planned → in_progress → completed, and planned | in_progress → cancelled. An inspection comes from a
plan visit or is unscheduled (a 12350 report, an alarm); it is carried out by at least the rules'
inspectors per visit (《行政处罚法》第四十二条: two), none with a declared conflict with the enterprise.
Its checklist is the site kind's (inspection_checklists.yaml); it completes only when every item is
answered. Photos and documents attach to the inspection or to one finding (stored by
backend/hazards/files.py); a finding becomes a hidden hazard in one step, its photos with it (the
same stored bytes, linked into hazard_files); an enforcement decision is kept with its
document number, and 责令停产整顿 suspends the enterprise, so that 明停暗采 monitoring applies to its
sites. Every change is audited (the models are audited, and each transition is recorded by name).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.audit import record
from backend.domain.errors import Conflict, Invalid, NotFound
from backend.domain.kinds import EnterpriseStatus, SiteKind
from backend.domain.rules_models import Checklists, rules
from backend.hazards import files
from backend.models import (
    Alarm,
    EnforcementAction,
    Enterprise,
    HazardFile,
    HiddenHazard,
    Inspection,
    InspectionFile,
    PlanVisit,
    Site,
)
from backend.models import Inspector as InspectorRow
from backend.risk.engine import regrade, regrade_enterprise
from backend.supervision.service import supervision_rules

PLANNED, IN_PROGRESS, COMPLETED, CANCELLED = "planned", "in_progress", "completed", "cancelled"
TRANSITIONS: dict[str, set[str]] = {
    PLANNED: {IN_PROGRESS, CANCELLED},
    IN_PROGRESS: {COMPLETED, CANCELLED},
    COMPLETED: set(),
    CANCELLED: set(),
}
ORIGINS = ("plan", "report_12350", "alarm", "other")
RESULTS = ("ok", "finding", "na")
ACTION_KINDS = (
    "rectify_by_deadline",  # 责令限期整改
    "suspend_for_rectification",  # 责令停产整顿
    "fine",  # 罚款
    "suspend_licence",  # 暂扣证照
    "revoke_licence",  # 吊销证照
    "transfer",  # 移送
)
ACTION_ZH = {
    "rectify_by_deadline": "责令限期整改",
    "suspend_for_rectification": "责令停产整顿",
    "fine": "罚款",
    "suspend_licence": "暂扣证照",
    "revoke_licence": "吊销证照",
    "transfer": "移送",
}
STATE_ZH = {PLANNED: "待检查", IN_PROGRESS: "检查中", COMPLETED: "已完成", CANCELLED: "已取消"}


class InspectionStateError(Conflict):
    """The transition is not allowed from the inspection's current state."""


def checklist_for(kind: str) -> list[dict[str, str]]:
    lists: Checklists = rules("inspection_checklists")  # type: ignore[assignment]
    return [{"id": i.id, "text": i.text} for i in lists.kinds[SiteKind(kind)].items]


def _site(session: Session, code: str) -> Site:
    site = session.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise NotFound(f"no site {code!r}")
    return site


def get(session: Session, inspection_id: int) -> Inspection:
    found = session.get(Inspection, inspection_id)
    if found is None:
        raise NotFound(f"no inspection {inspection_id}")
    return found


def _move(session: Session, inspection: Inspection, to: str, detail: dict[str, Any] | None = None) -> None:
    if to not in TRANSITIONS[inspection.state]:
        raise InspectionStateError(f"an inspection {inspection.state} cannot become {to}")
    before = inspection.state
    inspection.state = to
    session.flush()
    record(session, to, "inspections", str(inspection.id), {"from": before, **(detail or {})})


def _check_inspectors(session: Session, site: Site, certificates: list[str]) -> list[str]:
    need = supervision_rules().team.inspectors_per_visit
    unique = list(dict.fromkeys(certificates))
    if len(unique) < need:
        raise Invalid(f"an inspection needs at least {need} inspectors", "inspectors")
    rows = {
        i.certificate_no: i
        for i in session.scalars(select(InspectorRow).where(InspectorRow.certificate_no.in_(unique)))
    }
    missing = [c for c in unique if c not in rows]
    if missing:
        raise Invalid(f"no inspector with certificate {missing[0]!r}", "inspectors")
    credit = session.scalar(select(Enterprise.credit_code).where(Enterprise.id == site.enterprise_id))
    conflicted = [c for c in unique if credit in (rows[c].conflicts or [])]
    if conflicted:
        raise Invalid(f"inspector {conflicted[0]} declared a conflict with this enterprise", "inspectors")
    return unique


def create(
    session: Session,
    site_code: str,
    day: date,
    origin: str,
    inspectors: list[str] | None = None,
    plan_visit_id: int | None = None,
    origin_ref: str | None = None,
    note: str = "",
) -> Inspection:
    """A planned inspection, from a plan visit (its inspectors by default) or unscheduled."""
    site = _site(session, site_code)
    if origin not in ORIGINS:
        raise Invalid(f"origin: one of {', '.join(ORIGINS)}", "origin")
    region = site.region_adcode
    if origin == "plan":
        visit = session.get(PlanVisit, plan_visit_id) if plan_visit_id else None
        if visit is None or visit.site_id != site.id:
            raise Invalid("a planned inspection needs a visit of this site's plan", "plan_visit_id")
        inspectors = inspectors or list(visit.inspectors)
        region = visit.region_adcode
    elif plan_visit_id is not None:
        raise Invalid("only a planned inspection has a plan visit", "plan_visit_id")
    if origin == "alarm":
        alarm = session.get(Alarm, int(origin_ref)) if origin_ref and origin_ref.isdigit() else None
        if alarm is None or alarm.site_id != site.id:
            raise Invalid("an inspection after an alarm names an alarm of this site", "origin_ref")
    if origin == "report_12350" and not origin_ref:
        raise Invalid("an inspection after a 12350 report gives the report's number", "origin_ref")
    inspection = Inspection(
        site_id=site.id,
        region_adcode=region,
        plan_visit_id=plan_visit_id,
        origin=origin,
        origin_ref=origin_ref,
        day=day,
        inspectors=_check_inspectors(session, site, inspectors or []),
        state=PLANNED,
        checklist=[{**item, "result": None, "note": ""} for item in checklist_for(site.kind)],
        findings=[],
        note=note,
    )
    session.add(inspection)
    session.flush()
    record(session, "planned", "inspections", str(inspection.id), {"site": site.code, "origin": origin})
    return inspection


def start(session: Session, inspection: Inspection) -> None:
    _move(session, inspection, IN_PROGRESS)


def fill(
    session: Session, inspection: Inspection, answers: dict[str, tuple[str, str]], findings: list[dict[str, Any]]
) -> None:
    """Answer checklist items (ok | finding | na, with a note) and add findings, while in progress."""
    if inspection.state != IN_PROGRESS:
        raise InspectionStateError(f"an inspection {inspection.state} cannot be filled in; start it first")
    items = {i["id"]: i for i in inspection.checklist}
    unknown = [k for k in answers if k not in items]
    if unknown:
        raise Invalid(f"no checklist item {unknown[0]!r} for this site kind", "answers")
    for key, (result, note) in answers.items():
        if result not in RESULTS:
            raise Invalid(f"answers.{key}: one of {', '.join(RESULTS)}", "answers")
        items[key] = {**items[key], "result": result, "note": note}
    new_findings = []
    for f in findings:
        if f.get("item") is not None and f["item"] not in items:
            raise Invalid(f"no checklist item {f['item']!r} for this site kind", "findings")
        new_findings.append(
            {"title": f["title"], "major": bool(f.get("major")), "item": f.get("item"), "hazard_id": None}
        )
    inspection.checklist = [items[i["id"]] for i in inspection.checklist]
    inspection.findings = [*inspection.findings, *new_findings]
    session.flush()


def complete(session: Session, inspection: Inspection) -> None:
    open_items = [i["id"] for i in inspection.checklist if i.get("result") is None]
    if inspection.state == IN_PROGRESS and open_items:
        raise InspectionStateError(f"checklist items not answered: {', '.join(open_items)}")
    _move(session, inspection, COMPLETED, {"findings": len(inspection.findings)})
    inspection.completed_at = datetime.now(UTC)


def cancel(session: Session, inspection: Inspection, reason: str) -> None:
    _move(session, inspection, CANCELLED, {"reason": reason})


def finding_to_hazard(session: Session, inspection: Inspection, index: int, deadline: datetime | None) -> HiddenHazard:
    """The finding as a hidden hazard of the site, in one step (a major one makes the site red)."""
    if inspection.state not in (IN_PROGRESS, COMPLETED):
        raise InspectionStateError(f"an inspection {inspection.state} has no findings to report")
    if not 0 <= index < len(inspection.findings):
        raise NotFound(f"inspection {inspection.id} has no finding {index}")
    finding = inspection.findings[index]
    if finding.get("hazard_id"):
        raise Conflict(f"finding {index} is already hidden hazard {finding['hazard_id']}")
    hazard = HiddenHazard(
        site_id=inspection.site_id, title=finding["title"][:256], major=finding["major"], deadline=deadline
    )
    session.add(hazard)
    session.flush()
    findings = list(inspection.findings)
    findings[index] = {**finding, "hazard_id": hazard.id}
    inspection.findings = findings
    session.flush()
    photos = session.scalars(
        select(InspectionFile)
        .where(InspectionFile.inspection_id == inspection.id, InspectionFile.finding_index == index)
        .order_by(InspectionFile.id)
    ).all()
    carried = [_link(session, f, hazard) for f in photos]
    record(
        session,
        "to_hazard",
        "inspections",
        str(inspection.id),
        {"finding": index, "hazard": hazard.id, "files": [f.id for f in carried]},
        site_id=inspection.site_id,
    )
    regrade(session, [inspection.site_id])
    return hazard


def decide(
    session: Session,
    inspection: Inspection,
    kind: str,
    document_no: str,
    amount_yuan: float | None = None,
    deadline: date | None = None,
    note: str = "",
) -> EnforcementAction:
    """An enforcement decision at this inspection; 责令停产整顿 suspends the enterprise."""
    if inspection.state not in (IN_PROGRESS, COMPLETED):
        raise InspectionStateError(f"no enforcement at an inspection {inspection.state}")
    if kind not in ACTION_KINDS:
        raise Invalid(f"kind: one of {', '.join(ACTION_KINDS)}", "kind")
    if kind == "fine" and not (amount_yuan and amount_yuan > 0):
        raise Invalid("a fine needs its amount in yuan", "amount_yuan")
    if kind != "fine" and amount_yuan is not None:
        raise Invalid("only a fine has an amount", "amount_yuan")
    if kind == "rectify_by_deadline" and deadline is None:
        raise Invalid("责令限期整改 needs its deadline", "deadline")
    if session.scalar(select(EnforcementAction.id).where(EnforcementAction.document_no == document_no)):
        raise Conflict(f"document number {document_no!r} is already used")
    action = EnforcementAction(
        inspection_id=inspection.id,
        site_id=inspection.site_id,
        region_adcode=inspection.region_adcode,
        kind=kind,
        document_no=document_no,
        amount_yuan=amount_yuan,
        deadline=deadline,
        note=note,
    )
    session.add(action)
    session.flush()
    if kind == "suspend_for_rectification":
        site = session.get(Site, inspection.site_id)
        assert site is not None
        enterprise = session.get(Enterprise, site.enterprise_id)
        assert enterprise is not None
        if enterprise.status != EnterpriseStatus.suspended:
            enterprise.status = EnterpriseStatus.suspended  # audited as an update of the enterprise
            session.flush()
        regrade_enterprise(session, enterprise.id)
    return action


def _link(session: Session, f: InspectionFile, hazard: HiddenHazard) -> HazardFile:
    """The inspection's file as a file of the hazard: the same stored bytes (by digest), audited on
    the hazard."""
    linked = HazardFile(
        hazard_id=hazard.id,
        site_id=hazard.site_id,
        sha256=f.sha256,
        name=f.name,
        content_type=f.content_type,
        size=f.size,
        uploaded_by=f.uploaded_by,
    )
    session.add(linked)
    session.flush()
    record(
        session,
        "file_added",
        "hidden_hazards",
        str(hazard.id),
        {"file": linked.id, "sha256": f.sha256, "name": f.name, "size": f.size, "inspection_file": f.id},
        site_id=hazard.site_id,
    )
    return linked


def attach(
    session: Session, inspection: Inspection, stream: BinaryIO, name: str | None, finding: int | None, actor: str
) -> InspectionFile:
    """A photo or document of the inspection, or of its finding `finding`: checked by content and
    stored once per content (backend/hazards/files.py), while the inspection is under way or after
    it; audited. A finding that is already a hidden hazard passes the file on to it."""
    if inspection.state not in (IN_PROGRESS, COMPLETED):
        raise InspectionStateError(f"an inspection {inspection.state} takes no files; start it first")
    if finding is not None and not 0 <= finding < len(inspection.findings):
        raise Invalid(f"inspection {inspection.id} has no finding {finding}", "finding")
    checked = files.keep(stream)
    stored = InspectionFile(
        inspection_id=inspection.id,
        site_id=inspection.site_id,
        finding_index=finding,
        sha256=checked.digest,
        name=files.safe_name(name),
        content_type=checked.content_type,
        size=checked.size,
        uploaded_by=actor,
    )
    session.add(stored)
    session.flush()
    record(
        session,
        "file_added",
        "inspections",
        str(inspection.id),
        {"file": stored.id, "finding": finding, "sha256": stored.sha256, "name": stored.name, "size": stored.size},
        site_id=inspection.site_id,
    )
    hazard_id = inspection.findings[finding].get("hazard_id") if finding is not None else None
    hazard = session.get(HiddenHazard, hazard_id) if hazard_id else None
    if hazard is not None:
        _link(session, stored, hazard)
    return stored


def files_of(session: Session, inspection: Inspection) -> list[InspectionFile]:
    return list(
        session.scalars(
            select(InspectionFile).where(InspectionFile.inspection_id == inspection.id).order_by(InspectionFile.id)
        )
    )


def file_of(session: Session, inspection: Inspection, file_id: int) -> InspectionFile:
    found = session.scalar(
        select(InspectionFile).where(InspectionFile.id == file_id, InspectionFile.inspection_id == inspection.id)
    )
    if found is None:
        raise NotFound(f"inspection {inspection.id} has no file {file_id}")
    return found
