"""The inspection pages, made for an inspector's phone on site: the jurisdiction's inspections with
filters, a new inspection (unscheduled, or from a plan visit), and one inspection as the form worked
through on site — start, the site kind's checklist item by item (each saved as it is answered, by
htmx), findings with photos from the phone's camera, a finding turned into a hidden hazard in one
step, enforcement decisions with their document numbers, and completion.

Every change goes through backend/supervision/inspections.py (the one owner of the transitions and
their audit) as the signed-in user, bound to the session, so row-level security keeps each user to
their jurisdiction: another county's inspection is 未找到 (404). A refusal (4xx) renders the same
form again with what was typed in and the reason, in Chinese, next to the field at fault. Users
without the write permission (viewers, enterprises) see the record read-only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import any_, literal, select

from backend.accounts.users import SignedIn
from backend.api.deps import SessionDep
from backend.api.edge import IdPath
from backend.api.errors import status_of
from backend.api.routes.pages import NO_STORE, local_time, page_caller, render
from backend.api.templating import templates
from backend.core.clock import CHINA_TZ, china_day
from backend.core.principal import Perm
from backend.domain.errors import DomainError, Invalid
from backend.domain.kinds import SITE_KIND_ZH, STATUS_ZH, SiteKind
from backend.models import EnforcementAction, Enterprise, Inspection, Inspector, PlanVisit, Site
from backend.supervision import inspections as flow

router = APIRouter(tags=["pages"], include_in_schema=False)

ORIGIN_ZH = {"plan": "计划检查", "report_12350": "12350 举报", "alarm": "报警处置", "other": "其他临时检查"}
RESULT_ZH = {"ok": "合格", "finding": "不合格", "na": "不适用"}
DONE_ZH = {
    "created": "检查记录已创建",
    "start": "检查已开始",
    "item": "已保存",
    "finding": "已记录问题",
    "files": "附件已上传",
    "hazard": "已转为隐患",
    "action": "执法决定已记录",
    "complete": "检查已完成",
    "cancel": "检查已取消",
}
SHOWN = 300
Text = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=64)]
ItemPath = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
IndexPath = Annotated[int, Path(ge=0, le=99)]
Photos = Annotated[list[UploadFile] | None, File()]

# The domain's refusals, in Chinese for the page, and the form field each belongs next to.
REFUSALS: list[tuple[re.Pattern[str], str, str | None]] = [
    (re.compile(r"an inspection needs at least (\d+) inspectors"), r"每次检查至少需要 \1 名执法人员", "inspectors"),
    (re.compile(r"no inspector with certificate '(.+)'"), r"没有执法证号为 \1 的执法人员", "inspectors"),
    (re.compile(r"inspector (.+) declared a conflict"), r"执法人员 \1 与该企业有利害关系，须回避", "inspectors"),
    (re.compile(r"no site '(.+)'"), r"未找到场所 \1，或您无权查看", "site"),
    (re.compile(r"a planned inspection needs a visit"), "计划检查须对应本场所检查计划中的一次检查", "site"),
    (re.compile(r"only a planned inspection has a plan visit"), "只有计划检查对应检查计划", "origin"),
    (re.compile(r"after an alarm names an alarm"), "报警处置检查须填写本场所的报警编号", "origin_ref"),
    (re.compile(r"after a 12350 report gives"), "举报核查须填写 12350 举报编号", "origin_ref"),
    (re.compile(r"cannot be filled in"), "检查须在“检查中”状态下填写", None),
    (re.compile(r"takes no files"), "检查开始后才能上传照片", "file"),
    (re.compile(r"no enforcement at an inspection"), "检查开始后才能作出执法决定", None),
    (re.compile(r"has no findings to report"), "检查开始后才能将问题转为隐患", None),
    (re.compile(r"checklist items not answered: (.+)"), r"以下检查项尚未填写：\1", "complete"),
    (re.compile(r"cannot become"), "当前状态下不能进行此操作，请刷新页面", None),
    (re.compile(r"no checklist item"), "没有这一检查项", None),
    (re.compile(r"is already hidden hazard (\d+)"), r"该问题已转为隐患（编号 \1）", None),
    (re.compile(r"has no finding"), "没有这一检查发现", "finding"),
    (re.compile(r"a fine needs its amount"), "罚款须填写金额（元）", "amount_yuan"),
    (re.compile(r"only a fine has an amount"), "只有罚款填写金额", "amount_yuan"),
    (re.compile(r"needs its deadline"), "责令限期整改须填写整改期限", "deadline"),
    (re.compile(r"document number '(.+)' is already used"), r"文书编号 \1 已被使用", "document_no"),
]


def refusal_zh(exc: DomainError, default_field: str | None = None) -> tuple[str | None, str]:
    """(the field, the reason in Chinese) for a domain refusal; a message already in Chinese as is."""
    text = str(exc)
    for pattern, zh, field_name in REFUSALS:
        found = pattern.search(text)
        if found:
            return field_name or exc.field or default_field, found.expand(zh)
    if re.search(r"[\u4e00-\u9fff]", text):
        return exc.field or default_field, text
    return exc.field or default_field, "操作未完成，请检查填写的内容后重试"


@dataclass
class Failed:
    """What a refused form gives back to its page: the status, reasons by field, what was typed."""

    status: int
    errors: dict[str, str]
    form: dict[str, Any] = field(default_factory=dict)


# --- who is asking ---------------------------------------------------------------------------


WRITE_REFUSAL = "只有监管执法人员可以填写检查记录。"


def _not_found(signed: SignedIn, inspection_id: int) -> HTMLResponse:
    return render("error.html", "未找到", signed, 404, detail=f"未找到检查记录 {inspection_id}，或您无权查看。")


def _roster(session: SessionDep) -> list[dict[str, str]]:
    rows = session.execute(
        select(Inspector.certificate_no, Inspector.name, Inspector.specialities)
        .where(Inspector.active)
        .order_by(Inspector.region_adcode, Inspector.name)
        .limit(500)
    ).all()
    return [{"cert": c, "name": n, "specialities": "、".join(s or [])} for c, n, s in rows]


def _names(session: SessionDep, certs: list[str]) -> list[str]:
    known = dict(
        session.execute(
            select(Inspector.certificate_no, Inspector.name).where(Inspector.certificate_no.in_(certs))
        ).all()
    )
    return [f"{known[c]}（{c}）" if c in known else c for c in certs]


# --- the list --------------------------------------------------------------------------------

PERIOD = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2]))?$")


def _period(text: str) -> tuple[date, date] | None:
    """A year (2026) or a month (2026-07) as [first day, first day after)."""
    found = PERIOD.match(text)
    if not found:
        return None
    year, month = int(found.group(1)), found.group(2)
    if month is None:
        return date(year, 1, 1), date(year + 1, 1, 1)
    m = int(month)
    return date(year, m, 1), date(year + (m == 12), m % 12 + 1, 1)


@router.get("/inspections", response_class=HTMLResponse)
def inspections_page(
    request: Request,
    session: SessionDep,
    state: Annotated[str, Query(max_length=16)] = "",
    site: Annotated[str, Query(max_length=64)] = "",
    period: Annotated[str, Query(max_length=16)] = "",
    inspector: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The inspections of the user's jurisdiction, newest first, filtered by state, site, period
    (a year or a month) and inspector; a filter that cannot be read is named, not ignored."""
    signed = page_caller(request, session)
    if isinstance(signed, Response):
        return signed
    chosen = {"state": state.strip(), "site": site.strip(), "period": period.strip(), "inspector": inspector.strip()}
    errors: dict[str, str] = {}
    q = (
        select(Inspection, Site.code, Site.name)
        .join(Site, Site.id == Inspection.site_id)
        .order_by(Inspection.day.desc(), Inspection.id.desc())
        .limit(SHOWN + 1)
    )
    if chosen["state"]:
        if chosen["state"] in flow.STATE_ZH:
            q = q.where(Inspection.state == chosen["state"])
        else:
            errors["state"] = "没有这一状态"
    if chosen["site"]:
        q = q.where(Site.code == chosen["site"])
    if chosen["period"]:
        span = _period(chosen["period"])
        if span is None:
            errors["period"] = "期间请填写年份（如 2026）或年月（如 2026-07）"
        else:
            q = q.where(Inspection.day >= span[0], Inspection.day < span[1])
    if chosen["inspector"]:
        q = q.where(literal(chosen["inspector"]) == any_(Inspection.inspectors))
    rows = session.execute(q).all()
    roster = _roster(session)
    names = {r["cert"]: r["name"] for r in roster}
    items = [
        {
            "id": i.id,
            "day": i.day.isoformat(),
            "site_code": code,
            "site_name": name,
            "state": i.state,
            "state_zh": flow.STATE_ZH[i.state],
            "origin_zh": ORIGIN_ZH.get(i.origin, i.origin),
            "inspectors": "、".join(names.get(c, c) for c in i.inspectors),
            "findings": len(i.findings),
        }
        for i, code, name in rows[:SHOWN]
    ]
    return render(
        "inspection_list.html",
        "检查记录",
        signed,
        422 if errors else 200,
        items=items,
        more=len(rows) > SHOWN,
        chosen=chosen,
        errors=errors,
        states=flow.STATE_ZH,
        roster=roster,
        can_write=signed.principal.can(Perm.write),
    )


# --- a new inspection ------------------------------------------------------------------------


def _sites(session: SessionDep) -> list[dict[str, str]]:
    rows = session.execute(select(Site.code, Site.name).order_by(Site.code).limit(3000)).all()
    return [{"code": c, "name": n} for c, n in rows]


def _new_page(signed: SignedIn, session: SessionDep, form: dict[str, Any], failed: Failed | None = None) -> Response:
    return render(
        "inspection_new.html",
        "新建检查",
        signed,
        failed.status if failed else 200,
        form=form,
        errors=failed.errors if failed else {},
        origins=ORIGIN_ZH,
        roster=_roster(session),
        sites=_sites(session),
    )


@router.get("/inspections/new", response_class=HTMLResponse)
def new_inspection_page(
    request: Request,
    session: SessionDep,
    visit: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    site: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The form for a new inspection: unscheduled (after a 12350 report, an alarm, or another
    reason), or from a plan visit (`visit`), whose site, day and inspectors it takes."""
    signed = page_caller(request, session)
    if isinstance(signed, Response):
        return signed
    if not signed.principal.can(Perm.write):
        return render("error.html", "无权操作", signed, 403, detail="只有监管执法人员可以新建检查。")
    form: dict[str, Any] = {"site": site, "day": china_day().isoformat(), "origin": "report_12350", "inspectors": []}
    if visit is not None:
        found = session.get(PlanVisit, visit)
        code = session.scalar(select(Site.code).where(Site.id == found.site_id)) if found else None
        if found is None or code is None:
            return render("error.html", "未找到", signed, 404, detail=f"未找到计划检查 {visit}，或您无权查看。")
        form = {
            "site": code,
            "day": found.day.isoformat(),
            "origin": "plan",
            "plan_visit_id": found.id,
            "inspectors": list(found.inspectors),
        }
    return _new_page(signed, session, form)


@router.post("/inspections/new", response_class=HTMLResponse)
def create_inspection_page(
    request: Request,
    session: SessionDep,
    site: Short = "",
    day: Annotated[str, Form(max_length=10)] = "",
    origin: Annotated[str, Form(max_length=16)] = "",
    origin_ref: Short = "",
    plan_visit_id: Annotated[str, Form(max_length=20)] = "",
    inspectors: Annotated[list[str] | None, Form(max_length=32)] = None,
    note: Text = "",
    csrf_token: Short = "",
) -> Response:
    signed = page_caller(request, session, write=WRITE_REFUSAL, csrf=csrf_token)
    if isinstance(signed, Response):
        return signed
    form = {
        "site": site.strip(),
        "day": day,
        "origin": origin,
        "origin_ref": origin_ref.strip(),
        "plan_visit_id": plan_visit_id,
        "inspectors": inspectors or [],
        "note": note.strip(),
    }
    try:
        when = _date(day, "day", "请选择检查日期")
        if origin not in ORIGIN_ZH:
            raise Invalid("请选择检查来源", "origin")
        visit = int(plan_visit_id) if re.fullmatch(r"[0-9]{1,9}", plan_visit_id) else None
        i = flow.create(
            session,
            form["site"],
            when,  # type: ignore[arg-type]  # required above
            origin,
            form["inspectors"],
            visit if origin == "plan" else None,
            form["origin_ref"] or None,
            form["note"],
        )
    except DomainError as exc:
        session.rollback()
        where, why = refusal_zh(exc, "site")
        return _new_page(signed, session, form, Failed(status_of(exc), {where or "form": why}))
    session.commit()
    return RedirectResponse(f"/inspections/{i.id}?done=created", status_code=303)


def _date(text: str, name: str, missing: str | None = None) -> date | None:
    """A form's yyyy-mm-dd, or None when empty and allowed; else Invalid (in Chinese)."""
    if not text:
        if missing:
            raise Invalid(missing, name)
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid("日期格式应为 年-月-日", name) from None


# --- one inspection --------------------------------------------------------------------------


def _item_view(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "result_zh": RESULT_ZH.get(item.get("result") or "", "未填写")}


def _detail(
    session: SessionDep, signed: SignedIn, i: Inspection, failed: Failed | None = None, done: str = ""
) -> HTMLResponse:
    site, enterprise = session.execute(
        select(Site, Enterprise).join(Enterprise, Enterprise.id == Site.enterprise_id).where(Site.id == i.site_id)
    ).one()
    stored = flow.files_of(session, i)
    photos: dict[int | None, list[dict[str, Any]]] = {}
    for f in stored:
        photos.setdefault(f.finding_index, []).append(
            {
                "id": f.id,
                "name": f.name,
                "image": f.content_type.startswith("image/"),
                "url": f"/api/v1/inspections/{i.id}/files/{f.id}",
                "size_kb": max(1, round(f.size / 1024)),
            }
        )
    actions = [
        {
            "kind_zh": flow.ACTION_ZH[a.kind],
            "document_no": a.document_no,
            "amount_yuan": f"{a.amount_yuan:,.2f}" if a.amount_yuan is not None else None,
            "deadline": a.deadline.isoformat() if a.deadline else None,
            "note": a.note,
            "decided": local_time(a.decided_at),
        }
        for a in session.scalars(
            select(EnforcementAction).where(EnforcementAction.inspection_id == i.id).order_by(EnforcementAction.id)
        )
    ]
    can_write = signed.principal.can(Perm.write)
    texts = {c["id"]: c["text"] for c in i.checklist}
    findings = [
        {
            **f,
            "index": n,
            "item_text": texts.get(f.get("item") or "", ""),
            "photos": photos.get(n, []),
        }
        for n, f in enumerate(i.findings)
    ]
    return render(
        "inspection_detail.html",
        f"检查记录 {i.id}",
        signed,
        failed.status if failed else 200,
        i={
            "id": i.id,
            "state": i.state,
            "state_zh": flow.STATE_ZH[i.state],
            "day": i.day.isoformat(),
            "origin_zh": ORIGIN_ZH.get(i.origin, i.origin),
            "origin_ref": i.origin_ref,
            "plan_visit_id": i.plan_visit_id,
            "inspectors": _names(session, list(i.inspectors)),
            "note": i.note,
            "completed": local_time(i.completed_at),
        },
        site={
            "code": site.code,
            "name": site.name,
            "kind_zh": SITE_KIND_ZH.get(SiteKind(site.kind), site.kind),
            "enterprise": enterprise.name,
            "status": enterprise.status,
            "status_zh": STATUS_ZH.get(enterprise.status, enterprise.status),
        },
        checklist=[_item_view(c) for c in i.checklist],
        answered=sum(1 for c in i.checklist if c.get("result")),
        findings=findings,
        general_photos=photos.get(None, []),
        actions=actions,
        action_kinds=flow.ACTION_ZH,
        results=RESULT_ZH,
        editing=can_write and i.state == flow.IN_PROGRESS,
        can_start=can_write and i.state == flow.PLANNED,
        can_act=can_write and i.state in (flow.IN_PROGRESS, flow.COMPLETED),
        can_cancel=can_write and i.state in (flow.PLANNED, flow.IN_PROGRESS),
        can_write=can_write,
        errors=failed.errors if failed else {},
        form=failed.form if failed else {},
        message=DONE_ZH.get(done),
        error="；".join(failed.errors.values()) if failed else None,
    )


def _inspection(session: SessionDep, inspection_id: int) -> Inspection | None:
    return session.get(Inspection, inspection_id)


@router.get("/inspections/{inspection_id}", response_class=HTMLResponse)
def inspection_page(
    inspection_id: IdPath,
    request: Request,
    session: SessionDep,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    signed = page_caller(request, session)
    if isinstance(signed, Response):
        return signed
    i = _inspection(session, inspection_id)
    return _not_found(signed, inspection_id) if i is None else _detail(session, signed, i, done=done)


def _act(
    request: Request,
    session: SessionDep,
    inspection_id: int,
    csrf_token: str,
    change: Any,
    done: str,
    form: dict[str, Any] | None = None,
    default_field: str | None = None,
) -> Response:
    """One change to one inspection as the signed-in user, then the page again (303: a reload
    does not post twice); refused, the page with the reason next to the field and the input kept."""
    signed = page_caller(request, session, write=WRITE_REFUSAL, csrf=csrf_token)
    if isinstance(signed, Response):
        return signed
    i = _inspection(session, inspection_id)
    if i is None:
        return _not_found(signed, inspection_id)
    try:
        change(signed, i)
    except DomainError as exc:
        session.rollback()
        where, why = refusal_zh(exc, default_field)
        i = _inspection(session, inspection_id)
        assert i is not None
        return _detail(session, signed, i, Failed(status_of(exc), {where or "form": why}, form or {}))
    session.commit()
    return RedirectResponse(f"/inspections/{inspection_id}?done={done}", status_code=303)


@router.post("/inspections/{inspection_id}/start", response_class=HTMLResponse)
def start_page(inspection_id: IdPath, request: Request, session: SessionDep, csrf_token: Short = "") -> Response:
    return _act(request, session, inspection_id, csrf_token, lambda s, i: flow.start(session, i), "start")


@router.post("/inspections/{inspection_id}/items/{item_id}", response_class=HTMLResponse)
def answer_item_page(
    inspection_id: IdPath,
    item_id: ItemPath,
    request: Request,
    session: SessionDep,
    result: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Short = "",
) -> Response:
    """One checklist item answered. From htmx, only the item comes back (saved, or refused with
    the answer kept); without it, the whole page."""
    if request.headers.get("hx-request") != "true":

        def change(_: SignedIn, i: Inspection) -> None:
            _answer(session, i, item_id, result, note)

        return _act(request, session, inspection_id, csrf_token, change, "item", {"item": item_id}, f"item:{item_id}")
    signed = page_caller(request, session, write=WRITE_REFUSAL, csrf=csrf_token)
    if isinstance(signed, Response):
        return signed
    i = _inspection(session, inspection_id)
    if i is None:
        return _not_found(signed, inspection_id)
    item = next((c for c in i.checklist if c["id"] == item_id), None)
    if item is None:
        return _not_found(signed, inspection_id)
    try:
        _answer(session, i, item_id, result, note)
    except DomainError as exc:
        session.rollback()
        _, why = refusal_zh(exc)
        shown = {**item, "result": result or None, "note": note}
        return _item_partial(inspection_id, shown, status_of(exc), signed.csrf_token, error=why)
    session.commit()
    saved = next(c for c in i.checklist if c["id"] == item_id)
    return _item_partial(inspection_id, saved, 200, signed.csrf_token, saved=True)


def _answer(session: SessionDep, i: Inspection, item_id: str, result: str, note: str) -> None:
    if result not in RESULT_ZH:
        raise Invalid("请选择合格、不合格或不适用", f"item:{item_id}")
    flow.fill(session, i, {item_id: (result, note.strip())}, [])


def _item_partial(inspection_id: int, item: dict[str, Any], status: int, csrf_token: str, **state: Any) -> HTMLResponse:
    html = (
        templates()
        .get_template("inspection_item.html")
        .render(
            inspection_id=inspection_id,
            c=_item_view(item),
            results=RESULT_ZH,
            editing=True,
            errors={},
            csrf_token=csrf_token,
            **state,
        )
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def _store(session: SessionDep, signed: SignedIn, i: Inspection, photos: list[UploadFile], index: int | None) -> int:
    """Each chosen photo attached (a file input left empty sends one nameless, empty part)."""
    chosen = [p for p in photos if p.filename]
    for p in chosen:
        flow.attach(session, i, p.file, p.filename, index, signed.principal.actor)
    return len(chosen)


@router.post("/inspections/{inspection_id}/findings", response_class=HTMLResponse)
def add_finding_page(
    inspection_id: IdPath,
    request: Request,
    session: SessionDep,
    title: Annotated[str, Form(max_length=256)] = "",
    item: Annotated[str, Form(max_length=32)] = "",
    major: Annotated[str, Form(max_length=8)] = "",
    photos: Photos = None,
    csrf_token: Short = "",
) -> Response:
    """A finding (问题) with its photos from the phone's camera, in one post."""
    form = {"title": title, "item": item, "major": bool(major)}

    def change(signed: SignedIn, i: Inspection) -> None:
        if not title.strip():
            raise Invalid("请填写发现的问题", "title")
        flow.fill(session, i, {}, [{"title": title.strip(), "major": bool(major), "item": item or None}])
        _store(session, signed, i, photos or [], len(i.findings) - 1)

    return _act(request, session, inspection_id, csrf_token, change, "finding", form, "title")


@router.post("/inspections/{inspection_id}/files", response_class=HTMLResponse)
def add_files_page(
    inspection_id: IdPath,
    request: Request,
    session: SessionDep,
    finding: Annotated[str, Form(max_length=3)] = "",
    photos: Photos = None,
    csrf_token: Short = "",
) -> Response:
    """More photos or documents, of one finding (`finding`) or of the inspection as a whole."""
    index = int(finding) if re.fullmatch(r"[0-9]{1,2}", finding) else None
    target = f"file:{index}" if index is not None else "file:all"

    def change(signed: SignedIn, i: Inspection) -> None:
        try:
            if not _store(session, signed, i, photos or [], index):
                raise Invalid("请选择要上传的照片或文件", target)
        except DomainError as exc:
            exc.field = target  # shown next to this form's file input, not the new finding's
            raise

    return _act(request, session, inspection_id, csrf_token, change, "files", {"finding": finding}, target)


@router.post("/inspections/{inspection_id}/findings/{index}/hazard", response_class=HTMLResponse)
def finding_to_hazard_page(
    inspection_id: IdPath,
    index: IndexPath,
    request: Request,
    session: SessionDep,
    deadline: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Short = "",
) -> Response:
    """The finding becomes a hidden hazard of the site, its photos with it (整改期限 optional)."""
    target = f"hazard:{index}"

    def change(_: SignedIn, i: Inspection) -> None:
        when = _date(deadline, target)
        due = datetime(when.year, when.month, when.day, 23, 59, tzinfo=CHINA_TZ).astimezone(UTC) if when else None
        flow.finding_to_hazard(session, i, index, due)

    return _act(request, session, inspection_id, csrf_token, change, "hazard", {"deadline": deadline}, target)


@router.post("/inspections/{inspection_id}/actions", response_class=HTMLResponse)
def decide_page(
    inspection_id: IdPath,
    request: Request,
    session: SessionDep,
    kind: Annotated[str, Form(max_length=32)] = "",
    document_no: Short = "",
    amount_yuan: Annotated[str, Form(max_length=16)] = "",
    deadline: Annotated[str, Form(max_length=10)] = "",
    note: Text = "",
    csrf_token: Short = "",
) -> Response:
    """An enforcement decision with its document number; 责令停产整顿 suspends the enterprise."""
    form = {"kind": kind, "document_no": document_no, "amount_yuan": amount_yuan, "deadline": deadline, "note": note}

    def change(_: SignedIn, i: Inspection) -> None:
        if kind not in flow.ACTION_ZH:
            raise Invalid("请选择执法决定", "kind")
        if not document_no.strip():
            raise Invalid("请填写文书编号", "document_no")
        amount = None
        if amount_yuan.strip():
            try:
                amount = float(amount_yuan.replace(",", ""))
            except ValueError:
                raise Invalid("金额须为数字（元）", "amount_yuan") from None
            if not 0 < amount <= 1e10:
                raise Invalid("金额须大于零", "amount_yuan")
        flow.decide(session, i, kind, document_no.strip(), amount, _date(deadline, "deadline"), note.strip())

    return _act(request, session, inspection_id, csrf_token, change, "action", form, "kind")


@router.post("/inspections/{inspection_id}/complete", response_class=HTMLResponse)
def complete_page(inspection_id: IdPath, request: Request, session: SessionDep, csrf_token: Short = "") -> Response:
    def change(_: SignedIn, i: Inspection) -> None:
        flow.complete(session, i)

    return _act(request, session, inspection_id, csrf_token, change, "complete", None, "complete")


@router.post("/inspections/{inspection_id}/cancel", response_class=HTMLResponse)
def cancel_page(
    inspection_id: IdPath,
    request: Request,
    session: SessionDep,
    reason: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Short = "",
) -> Response:
    def change(_: SignedIn, i: Inspection) -> None:
        if not reason.strip():
            raise Invalid("请填写取消原因", "reason")
        flow.cancel(session, i, reason.strip())

    return _act(request, session, inspection_id, csrf_token, change, "cancel", {"reason": reason}, "reason")
