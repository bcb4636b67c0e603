"""The supervision pages: the inspectors' roster of the signed-in user's jurisdiction (with the
add form and the roster CSV upload for regulators), the inspection plans (the list, the generate
form, one plan's visits by month, what it could not staff and why, its draw and its versions with
what each changed).

The pages read as the signed-in user (row-level security: another county's plan is simply not
found) and do nothing of their own: rosters, plans and draws come from backend.supervision.service,
the same functions the API's routes call. Forms post back with the session's CSRF token.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError

from backend.accounts.users import SignedIn
from backend.api.deps import SessionDep
from backend.api.edge import IdPath
from backend.api.errors import status_of
from backend.api.routes.pages import local_time, page_caller, render
from backend.core.clock import CHINA_TZ, china_day
from backend.core.principal import Perm, Scope
from backend.domain.errors import Conflict, DomainError, Invalid, NotFound
from backend.domain.states import Colour
from backend.models import InspectionPlan, PlanVersion
from backend.models import Inspector as InspectorRow
from backend.registry.importer import ImportReport, RowError
from backend.supervision import service

router = APIRouter(tags=["pages"], include_in_schema=False)

COLOUR_ZH = {Colour.red: "红色", Colour.orange: "橙色", Colour.yellow: "黄色", Colour.blue: "蓝色"}
WEEKDAY_ZH = "一二三四五六日"
CHANGE_ZH = {"added": "新增", "removed": "移出", "moved": "改期", "more": "增加", "fewer": "减少"}
STATUS_ZH = {"available": "今日可派", "unavailable": "今日不可派", "inactive": "停用"}
ROSTER_UPLOAD_LIMIT = 2 * 1024 * 1024
Text = Annotated[str, Form(max_length=256)]
LongText = Annotated[str, Form(max_length=4000)]


CLOSED = "监管页面仅对监管部门开放。"
WRITE_REFUSAL = "您的账户只能查看，不能修改名册或生成计划。"


def _may_write(signed: SignedIn) -> bool:
    return signed.principal.can(Perm.write)


def _outside(exc: DBAPIError) -> bool:
    """A write row-level security refused: a row of another jurisdiction."""
    return isinstance(exc.orig, psycopg.errors.InsufficientPrivilege)


def _has_nul(*values: Any) -> bool:
    """A NUL character, which PostgreSQL cannot store: refused before it gets there."""
    texts = [v for value in values for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return any("\x00" in v for v in texts)


NUL_REFUSED = "输入中含有不允许的控制字符。"


def _within(signed: SignedIn, adcode: str) -> bool:
    """Whether `adcode` is in the caller's jurisdiction (a province- or platform-wide caller: all)."""
    return signed.principal.scope == Scope.all or adcode.startswith(signed.principal.region)


def _jurisdictions(session: SessionDep, signed: SignedIn) -> list[dict[str, str]]:
    prefix = "" if signed.principal.scope == Scope.all else signed.principal.region
    return [{"code": c, "name": n} for c, n in service.regions_within(session, prefix)]


# --- the roster ------------------------------------------------------------------------------

FIELD_ZH = {
    "certificate_no": "执法证号",
    "name": "姓名",
    "region_adcode": "所属单位（行政区划代码）",
    "specialities": "专业",
    "conflicts": "回避企业",
    "unavailable": "不可派日期",
    "active": "在岗",
}


def _part_zh(part: str) -> str:
    """One reason of the importer (English, for the API and the CLI) said in Chinese."""
    field, _, msg = part.partition(": ")
    field = field.split(".")[0]
    if field not in FIELD_ZH:
        field, msg = "", part
    where = f"{FIELD_ZH[field]}：" if field else ""
    if found := re.match(r"duplicate certificate number '([^']*)' in this file", msg):
        return f"执法证号 {found[1]} 在文件中重复"
    if found := re.match(r"duplicate certificate number '([^']*)': already", msg):
        return f"执法证号 {found[1]} 已在名册中"
    if found := re.match(r"unknown enterprise '([^']*)'", msg):
        return f"回避企业 {found[1]} 不在企业名录中"
    if found := re.match(r"unknown region '([^']*)'", msg):
        return f"行政区划代码 {found[1]} 不存在"
    if found := re.match(r"unknown speciality '([^']*)'", msg):
        known = "、".join(service.supervision_rules().team.specialities)
        return f"{where}「{found[1]}」不是可选的专业（{known}）"
    if "start first" in msg:
        return f"{where}日期范围有误：开始日期在前，最长 366 天"
    if "Field required" in msg:
        return f"{where}必填"
    if "at least 1 item" in msg:
        return f"{where}至少填写一项"
    if "isoformat" in msg or "date" in msg.lower():
        return f"{where}日期应写作 2026-07-01 或 2026-07-01/2026-07-10"
    if "boolean" in msg:
        return f"{where}应为 true 或 false"
    if "pattern" in msg or "String should" in msg or "List should" in msg:
        return f"{where}格式不正确"
    return f"{where}内容不符合要求"


def reason_zh(reason: str) -> str:
    """An import row's reason in Chinese (the API gives it in English)."""
    return "；".join(_part_zh(p.strip()) for p in reason.split("; ") if p.strip())


def _row_errors(errors: list[RowError]) -> list[dict[str, Any]]:
    return [{"row": e.row, "key": e.key, "reason": reason_zh(e.reason)} for e in errors]


def _ranges(days: list[date], today: date) -> list[str]:
    """Upcoming unavailable days as ranges: 2026-07-01 至 07-03."""
    out: list[str] = []
    start = prev = None
    for d in sorted(x for x in days if x >= today):
        if prev is not None and d == prev + timedelta(days=1):
            prev = d
            continue
        if start is not None and prev is not None:
            out.append(_range(start, prev))
        start = prev = d
    if start is not None and prev is not None:
        out.append(_range(start, prev))
    return out


def _range(a: date, b: date) -> str:
    return a.isoformat() if a == b else f"{a.isoformat()} 至 {b:%m-%d}"


def _status(i: InspectorRow, today: date) -> str:
    if not i.active:
        return "inactive"
    return "unavailable" if today in (i.unavailable or []) else "available"


def _roster_page(
    session: SessionDep,
    signed: SignedIn,
    status_code: int = 200,
    filters: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    **context: Any,
) -> HTMLResponse:
    chosen = {"region": "", "speciality": "", "status": "", "q": "", **(filters or {})}
    today = china_day()
    rows = service.inspectors(session, chosen["region"] or None)
    bureaus = service.bureau_names(session)
    names = service.region_names(session)
    conflicted = service.enterprise_names(session, {c for i in rows for c in i.conflicts or []})
    teams = sorted({i.region_adcode for i in rows})
    q = chosen["q"].strip().lower()
    shown = [
        i
        for i in rows
        if (not chosen["speciality"] or chosen["speciality"] in i.specialities)
        and (not chosen["status"] or _status(i, today) == chosen["status"])
        and (not q or q in i.name.lower() or q in i.certificate_no.lower())
    ]
    inspectors = [
        {
            "certificate_no": i.certificate_no,
            "name": i.name,
            "org": bureaus.get(i.region_adcode) or names.get(i.region_adcode, i.region_adcode),
            "region": i.region_adcode,
            "specialities": list(i.specialities),
            "status": _status(i, today),
            "status_zh": STATUS_ZH[_status(i, today)],
            "away": _ranges(list(i.unavailable or []), today),
            "conflicts": [conflicted.get(c, c) for c in i.conflicts or []],
        }
        for i in shown
    ]
    return render(
        "supervision_inspectors.html",
        "执法人员名册",
        signed,
        status_code,
        inspectors=inspectors,
        total=len(rows),
        teams=[{"code": c, "name": bureaus.get(c) or names.get(c, c)} for c in teams],
        specialities=service.supervision_rules().team.specialities,
        statuses=STATUS_ZH,
        chosen=chosen,
        may_write=_may_write(signed),
        jurisdictions=_jurisdictions(session, signed),
        own_region=signed.org.region_adcode,
        form=form or {},
        **context,
    )


@router.get("/supervision/inspectors", response_class=HTMLResponse)
def inspectors_page(
    request: Request,
    session: SessionDep,
    region: Annotated[str, Query(max_length=16)] = "",
    speciality: Annotated[str, Query(max_length=16)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    q: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The roster of the user's jurisdiction, filtered by regulator, speciality, availability
    today, or a name or certificate number."""
    signed = page_caller(request, session, regulators_only=True, closed=CLOSED)
    if isinstance(signed, Response):
        return signed
    filters = {"region": region.strip(), "speciality": speciality.strip(), "status": status.strip(), "q": q}
    bad = (
        (filters["region"] and not re.fullmatch(r"\d{6}", filters["region"]))
        or (filters["speciality"] and filters["speciality"] not in service.supervision_rules().team.specialities)
        or (filters["status"] and filters["status"] not in STATUS_ZH)
    )
    if bad:
        return render(
            "error.html", "查询条件有误", signed, 422, detail="单位须为 6 位行政区划代码，专业和状态须从列表中选择。"
        )
    return _roster_page(session, signed, filters=filters)


@router.post("/supervision/inspectors", response_class=HTMLResponse)
def add_inspector(
    request: Request,
    session: SessionDep,
    certificate_no: Annotated[str, Form(max_length=32)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    region_adcode: Annotated[str, Form(max_length=16)] = "",
    specialities: Annotated[list[str] | None, Form(max_length=8)] = None,
    conflicts: LongText = "",
    unavailable: LongText = "",
    active: Text = "",
    csrf_token: Text = "",
) -> Response:
    """One inspector added to a roster of the user's jurisdiction, validated as a CSV row is."""
    signed = page_caller(request, session, regulators_only=True, closed=CLOSED, write=WRITE_REFUSAL, csrf=csrf_token)
    if isinstance(signed, Response):
        return signed
    form = {
        "certificate_no": certificate_no.strip(),
        "name": name.strip(),
        "region_adcode": region_adcode.strip(),
        "specialities": specialities or [],
        "conflicts": conflicts,
        "unavailable": unavailable,
        "active": bool(active),
    }
    if _has_nul(*form.values()):
        return _roster_page(session, signed, 422, form={}, error=NUL_REFUSED)
    if not _within(signed, form["region_adcode"]) or not re.fullmatch(r"\d{6}", form["region_adcode"]):
        return _roster_page(session, signed, 422, form=form, error="所属单位须在您的辖区内。")
    props = {**form, "specialities": ";".join(form["specialities"]), "active": "true" if active else "false"}
    try:
        row = service.add_inspector(session, props)
    except DomainError as exc:
        session.rollback()
        return _roster_page(session, signed, status_of(exc), form=form, error=f"未能添加：{reason_zh(str(exc))}")
    except DBAPIError as exc:
        session.rollback()
        if not _outside(exc):
            raise
        return _roster_page(session, signed, 404, form=form, error="所属单位不在您的辖区内。")
    session.commit()
    return _roster_page(session, signed, message=f"已添加执法人员 {row.name}（{row.certificate_no}）")


@router.post("/supervision/inspectors/import", response_class=HTMLResponse)
async def import_roster(
    request: Request,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
    csrf_token: Text = "",
) -> Response:
    """A roster CSV uploaded from the page: the good rows load, each bad one is listed with its
    row number and reason, as the API reports them."""
    signed = page_caller(request, session, regulators_only=True, closed=CLOSED, write=WRITE_REFUSAL, csrf=csrf_token)
    if isinstance(signed, Response):
        return signed
    if file is None or not file.filename:
        return _roster_page(session, signed, 422, error="请选择要上传的名册文件（CSV）。")
    body = await file.read(ROSTER_UPLOAD_LIMIT + 1)
    if len(body) > ROSTER_UPLOAD_LIMIT:
        return _roster_page(session, signed, 413, error="名册文件不能超过 2 MB。")
    if not body.strip():
        return _roster_page(session, signed, 422, error="名册文件是空的。")
    try:
        report: ImportReport = service.import_roster(session, body)
    except Invalid as exc:
        session.rollback()
        text = "名册须为 UTF-8 编码的 CSV" if "UTF-8" in str(exc) else "文件不是执法人员名册（列名应与示例一致）"
        return _roster_page(session, signed, 422, error=f"未能导入：{text}。")
    except DBAPIError as exc:
        session.rollback()
        if not _outside(exc):
            raise
        return _roster_page(session, signed, 404, error="未能导入：名册中有不属于您辖区的单位，整份名册未导入。")
    session.commit()
    summary = f"已导入 {report.loaded} 人" + (f"，{len(report.errors)} 行有误未导入" if report.errors else "")
    return _roster_page(
        session,
        signed,
        message=summary,
        import_errors=_row_errors(report.errors),
        filename=file.filename,
    )


# --- plans -----------------------------------------------------------------------------------


def _period_zh(period: str) -> str:
    year, _, month = period.partition("-")
    return f"{year}年{int(month)}月" if month else f"{year}年"


def _plans_page(
    session: SessionDep,
    signed: SignedIn,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    filters: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    chosen = {"jurisdiction": "", "period": "", **(filters or {})}
    names = service.region_names(session)
    plans = service.plans(session, chosen["jurisdiction"] or None, chosen["period"] or None)
    current = {p.id: service.version_of(session, p) for p in plans if p.current_version}
    people = service.actor_names(session, {v.created_by for v in current.values()})
    rows = []
    for p in plans:
        v = current.get(p.id)
        rows.append(
            {
                "id": p.id,
                "region": names.get(p.region_adcode, p.region_adcode),
                "period_zh": _period_zh(p.period),
                "version": p.current_version,
                "created": local_time(v.created_at) if v else None,
                "created_by": people.get(v.created_by, v.created_by) if v else None,
                "shortfalls": len(v.shortfalls) if v else 0,
            }
        )
    now = datetime.now(UTC).astimezone(CHINA_TZ)
    return render(
        "supervision_plans.html",
        "检查计划",
        signed,
        status_code,
        plans=rows,
        chosen=chosen,
        may_write=_may_write(signed),
        jurisdictions=_jurisdictions(session, signed),
        form={
            "jurisdiction": signed.org.region_adcode or "",
            "year": str(now.year),
            "month": "",
            "seed": f"{now:%Y%m%d-%H%M%S}",
            "reason": "",
            **(form or {}),
        },
        **context,
    )


@router.get("/supervision/plans", response_class=HTMLResponse)
def plans_page(
    request: Request,
    session: SessionDep,
    jurisdiction: Annotated[str, Query(max_length=16)] = "",
    period: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The plans of the user's jurisdiction (of one region and those under it, of one period),
    and the form that generates one (regulators)."""
    signed = page_caller(request, session, regulators_only=True, closed=CLOSED)
    if isinstance(signed, Response):
        return signed
    filters = {"jurisdiction": jurisdiction.strip(), "period": period.strip()}
    if (filters["jurisdiction"] and not re.fullmatch(r"\d{6}", filters["jurisdiction"])) or (
        filters["period"] and not re.fullmatch(r"\d{4}(-(0[1-9]|1[0-2]))?", filters["period"])
    ):
        return render(
            "error.html", "查询条件有误", signed, 422, detail="辖区须从列表中选择，期间写作 2026 或 2026-07。"
        )
    return _plans_page(session, signed, filters=filters)


GENERATE_REFUSED = {
    NotFound: "未找到该辖区。",
    Conflict: "该期间已经结束，计划不能再生成或重新生成。",
    Invalid: "期间应为年份或年份加月份。",
}


@router.post("/supervision/plans", response_class=HTMLResponse)
def generate_plan(
    request: Request,
    session: SessionDep,
    jurisdiction: Annotated[str, Form(max_length=16)] = "",
    year: Annotated[str, Form(max_length=8)] = "",
    month: Annotated[str, Form(max_length=4)] = "",
    seed: Annotated[str, Form(max_length=128)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Text = "",
) -> Response:
    """Generate (or regenerate) the plan of a jurisdiction for a year or a month, with the
    published seed of its draw; then the plan's page."""
    signed = page_caller(request, session, regulators_only=True, closed=CLOSED, write=WRITE_REFUSAL, csrf=csrf_token)
    if isinstance(signed, Response):
        return signed
    form = {
        "jurisdiction": jurisdiction.strip(),
        "year": year.strip(),
        "month": month.strip(),
        "seed": seed,
        "reason": reason,
    }
    error = None
    if _has_nul(*form.values()):
        return _plans_page(session, signed, 422, error=NUL_REFUSED)
    if not re.fullmatch(r"\d{6}", form["jurisdiction"]):
        error = "请选择辖区。"
    elif not _within(signed, form["jurisdiction"]):
        return _plans_page(session, signed, 404, form=form, error="未找到该辖区，或它不在您的辖区内。")
    elif not re.fullmatch(r"20\d\d", form["year"]):
        error = "年份应为四位数字，如 2026。"
    elif form["month"] and not (re.fullmatch(r"[0-9]{1,2}", form["month"]) and 1 <= int(form["month"]) <= 12):
        error = "月份应为 1 至 12。"
    elif not seed.strip():
        error = "请填写随机种子：它将与抽取结果一起公开，任何人可据此复核。"
    if error:
        return _plans_page(session, signed, 422, form=form, error=error)
    period = form["year"] + (f"-{int(form['month']):02d}" if form["month"] else "")
    now = datetime.now(UTC)
    try:
        plan, _, _ = service.generate_plan(
            session, form["jurisdiction"], period, seed.strip(), reason.strip(), now.astimezone(CHINA_TZ).date(), now
        )
    except DomainError as exc:
        session.rollback()
        text = next((t for kind, t in GENERATE_REFUSED.items() if isinstance(exc, kind)), "输入有误。")
        return _plans_page(session, signed, status_of(exc), form=form, error=f"未能生成计划：{text}")
    except DBAPIError as exc:
        session.rollback()
        if not _outside(exc):
            raise
        return _plans_page(session, signed, 404, form=form, error="未找到该辖区，或它不在您的辖区内。")
    session.commit()
    return RedirectResponse(f"/supervision/plans/{plan.id}", status_code=303)


def _colour(colour: str | None) -> dict[str, str]:
    try:
        c = Colour(colour)
    except ValueError:
        return {"color": "none", "colour_zh": "未定级"}
    return {"color": c.value, "colour_zh": COLOUR_ZH[c]}


def _day_zh(d: date) -> str:
    return f"{d.month}月{d.day}日（周{WEEKDAY_ZH[d.weekday()]}）"


def _version_row(session: SessionDep, plan: InspectionPlan, v: PlanVersion, people: dict[str, str]) -> dict[str, Any]:
    return {
        "version": v.version,
        "created": local_time(v.created_at),
        "created_by": people.get(v.created_by, v.created_by),
        "reason": v.reason,
        "seed": v.seed,
        "as_of": v.as_of.isoformat() if v.as_of else None,
        "visits": service.visit_count(session, v.id),
        "shortfalls": len(v.shortfalls),
        "current": v.version == plan.current_version,
    }


@router.get("/supervision/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(
    plan_id: IdPath,
    request: Request,
    session: SessionDep,
    version: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> Response:
    """One plan (its current version, or the one asked for): what it could not staff and why,
    its visits by month, the draw it used, and its versions with what each changed."""
    signed = page_caller(request, session, regulators_only=True, closed=CLOSED)
    if isinstance(signed, Response):
        return signed
    try:
        plan = service.plan_by_id(session, plan_id)
        shown = service.version_of(session, plan, version)
    except NotFound:
        return render("error.html", "未找到", signed, 404, detail=f"未找到检查计划 {plan_id}，或您无权查看。")
    names = service.region_names(session)
    visits = service.visits_out(session, shown)
    sites = service.site_labels(session, {v["site"] for v in visits} | {s["site"] for s in shown.shortfalls})
    crew = {i.certificate_no: i.name for i in service.inspectors(session, plan.region_adcode)}
    by_month: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for v in visits:
        site = sites.get(v["site"], {"name": v["site"], "colour": None})
        by_month[v["day"].month].append(
            {
                "site": v["site"],
                "name": site["name"],
                **_colour(site["colour"]),
                "day": v["day"].isoformat(),
                "day_zh": _day_zh(v["day"]),
                "inspectors": [crew.get(i, i) for i in v["inspectors"]],
                "sampled": v["sampled"],
                "region": names.get(v["jurisdiction"], v["jurisdiction"]),
            }
        )
    today = china_day()
    months = [
        {"month": m, "visits": by_month[m], "open": len(visits) <= 400 or m == today.month} for m in sorted(by_month)
    ]
    everything = service.versions(session, plan)
    people = service.actor_names(session, {v.created_by for v in everything})
    changed = [
        service.version_changes(session, earlier, v) if earlier is not None else []
        for earlier, v in zip([None, *everything], everything, strict=False)
    ]
    missing = {c["site"] for cs in changed for c in cs} - set(sites)
    sites.update(service.site_labels(session, missing))
    history = []
    for v, changes in zip(everything, changed, strict=True):
        row = _version_row(session, plan, v, people)
        row["changes"] = [
            {
                **c,
                "kind_zh": CHANGE_ZH[c["kind"]],
                "name": (sites.get(c["site"]) or {}).get("name") or c["site"],
                "before": "、".join(f"{d.month}月{d.day}日" for d in c["before"]) or "无",
                "after": "、".join(f"{d.month}月{d.day}日" for d in c["after"]) or "无",
            }
            for c in changes
        ]
        history.append(row)
    missing = {q["site"] for q in shown.requirements if q["per_year"]} - set(sites)
    sites.update(service.site_labels(session, missing))
    required = [
        {
            "site": q["site"],
            "name": (sites.get(q["site"]) or {}).get("name") or q["site"],
            "per_year": q["per_year"],
            "reasons": "；".join(q["reasons"]),
            **_colour((sites.get(q["site"]) or {}).get("colour")),
        }
        for q in sorted(shown.requirements, key=lambda q: (-q["per_year"], q["site"]))
        if q["per_year"]
    ]
    draw_id = service.draw_of(session, shown.id)
    # Only the version in force of a plan not yet over can be out of date with the sites.
    current = shown.version == plan.current_version and int(plan.period[:4]) >= china_day().year
    stale = service.outdated(session, shown, plan.region_adcode, datetime.now(UTC)) if current else []
    return render(
        "supervision_plan.html",
        f"{names.get(plan.region_adcode, plan.region_adcode)} {_period_zh(plan.period)}检查计划",
        signed,
        plan={
            "id": plan.id,
            "region": names.get(plan.region_adcode, plan.region_adcode),
            "period_zh": _period_zh(plan.period),
        },
        shown=_version_row(session, plan, shown, people),
        latest=plan.current_version,
        summary=[s["text"] for s in shown.summary if s.get("kind") != "warning"],
        warnings=[s["text"] for s in shown.summary if s.get("kind") == "warning"],
        shortfalls=[s["message"] for s in shown.shortfalls],
        months=months,
        required=required,
        total=len(visits),
        draw_id=draw_id,
        history=list(reversed(history)),
        may_write=_may_write(signed),
        stale=stale,
    )
