"""Credit lists (黑名单 / 红名单, 吉政发〔2018〕26号 九 定期公告): the public list and page, and the
listing and removal by a regulator within its jurisdiction. The transitions are in
backend/supervision/credit.py; these routes read their input and answer."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from backend.accounts.users import SignedIn
from backend.api.deps import Operator, SessionDep
from backend.api.edge import IdPath, StrictJSONRoute
from backend.api.errors import status_of
from backend.api.responses import Out
from backend.api.routes.pages import page_caller, render, signed_in
from backend.core.jurisdiction import bind
from backend.core.principal import Perm, Principal, Scope
from backend.domain.errors import DomainError, Invalid
from backend.domain.kinds import CreditList
from backend.models import Enterprise, Region
from backend.supervision import credit

router = APIRouter(tags=["credit lists"], route_class=StrictJSONRoute)
ListName = Literal["black", "red"]
Adcode = Annotated[
    str | None,
    Query(pattern=r"^\d{6}$", description="GB/T 2260 code; a prefecture or the province includes its counties"),
]


class CreditEntryOut(Out):
    id: int
    list: ListName = Field(description="black (黑名单) or red (红名单)")
    list_zh: str
    credit_code: str = Field(description="统一社会信用代码, as announced")
    enterprise_name: str = Field(description="as announced")
    region_adcode: str = Field(description="the enterprise's county")
    county: str
    reason: str
    basis: str = Field(description="the rule applied (依据)")
    document_no: str = Field(description="文号 of the decision")
    decided_by: str = Field(description="the deciding bureau")
    listed_on: date
    valid_until: date | None = Field(description="the last day on the list; open-ended when null")
    removed_on: date | None = Field(description="the first day off the list (移出 or the end of the period)")
    removal_reason: str | None
    ended: Literal["removed", "expired"] | None
    current: bool = Field(description="in force today")


class SiteEffectOut(Out):
    code: str
    name: str
    before: int = Field(description="visits a year by rule before the change")
    after: int
    reasons: list[str]


class PlanRefOut(Out):
    id: int
    jurisdiction: str
    period: str
    current_version: int


class PlanEffectOut(Out):
    before: str = Field(description="the enterprise's list before: none, black or red")
    after: str
    sites: list[SiteEffectOut]
    plans: list[PlanRefOut] = Field(description="this year's plans that change at their next regeneration")
    message: str


class CreditChangeOut(CreditEntryOut):
    enterprise_list: str = Field(description="the enterprise's current list (black wins over red)")
    plan_effect: PlanEffectOut


class ListingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credit_code: str = Field(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")
    list: ListName
    reason: str = Field(min_length=1, max_length=1000)
    document_no: str = Field(min_length=1, max_length=64, description="文号 of the decision")
    basis: str = Field("", max_length=200)
    listed_on: date | None = Field(None, description="default: today")
    valid_until: date | None = None


class RemovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)
    removed_on: date | None = Field(None, description="default: today")


def _now() -> datetime:
    return datetime.now(UTC)


def _change_out(session: SessionDep, entry: Any, before: CreditList, now: datetime) -> dict[str, Any]:
    county = session.scalar(select(Region.name).where(Region.adcode == entry.region_adcode)) or entry.region_adcode
    effect = credit.plan_effect(session, entry.enterprise_id, before, now)
    return {
        **credit.public_fields(entry, county, credit.today_of(now)),
        "enterprise_list": effect.after.value,
        "plan_effect": {
            "before": effect.before.value,
            "after": effect.after.value,
            "sites": [s.__dict__ | {"reasons": list(s.reasons)} for s in effect.sites],
            "plans": effect.plans,
            "message": effect.message,
        },
    }


def _list_state(session: SessionDep, credit_code: str) -> CreditList:
    value = session.scalar(select(Enterprise.credit_list).where(Enterprise.credit_code == credit_code))
    return CreditList(value or "none")


def _do_list(session: SessionDep, caller: Principal, body: ListingIn, now: datetime) -> dict[str, Any]:
    before = _list_state(session, body.credit_code)
    listing = credit.Listing(
        credit_code=body.credit_code,
        list=CreditList(body.list),
        reason=body.reason,
        document_no=body.document_no,
        listed_on=body.listed_on or credit.today_of(now),
        valid_until=body.valid_until,
        basis=body.basis,
    )
    entry = credit.list_enterprise(session, caller, listing, now)
    out = _change_out(session, entry, before, now)
    session.commit()
    return out


def _do_remove(session: SessionDep, caller: Principal, entry_id: int, body: RemovalIn, now: datetime) -> dict[str, Any]:
    entry = credit.entry_of(session, entry_id, caller)
    before = _list_state(session, entry.credit_code)
    entry = credit.remove(session, caller, entry_id, body.reason, now, body.removed_on)
    out = _change_out(session, entry, before, now)
    session.commit()
    return out


@router.get("/api/v1/credit-lists", response_model=list[CreditEntryOut])
def list_entries(
    session: SessionDep,
    list_: Annotated[ListName | None, Query(alias="list", description="black or red")] = None,
    current: Annotated[bool | None, Query(description="true: in force today; false: ended (历史)")] = None,
    region: Adcode = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict[str, Any]]:
    """The published entries (open to all: 定期公告), newest first: the enterprise as announced,
    reason, decision, dates and removal."""
    today = credit.today_of(_now())
    q = credit.public_query(CreditList(list_) if list_ else None, current, region, today).limit(limit)
    return [credit.public_fields(e, county, today) for e, county in session.execute(q)]


@router.get("/api/v1/credit-lists/{entry_id}", response_model=CreditEntryOut)
def get_entry(entry_id: IdPath, session: SessionDep) -> dict[str, Any]:
    """One published entry (open to all)."""
    entry = credit.entry_of(session, entry_id)
    county = session.scalar(select(Region.name).where(Region.adcode == entry.region_adcode)) or ""
    return credit.public_fields(entry, county, credit.today_of(_now()))


@router.post("/api/v1/credit-lists", response_model=CreditChangeOut, status_code=201)
def add_entry(body: ListingIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """List an enterprise of the caller's jurisdiction black or red (write; audited). 404 for an
    enterprise outside it, 409 when it is on that list already; the answer says how its sites'
    inspection frequency changes and which plans to regenerate."""
    return _do_list(session, caller, body, _now())


@router.post("/api/v1/credit-lists/{entry_id}/remove", response_model=CreditChangeOut)
def remove_entry(entry_id: IdPath, body: RemovalIn, session: SessionDep, caller: Operator) -> dict[str, Any]:
    """移出: end an entry with its reason (write, within the jurisdiction; audited; 409 if ended)."""
    return _do_remove(session, caller, entry_id, body, _now())


# --- the public page -------------------------------------------------------------------------


def _may_change(signed: SignedIn | None) -> Principal | None:
    """A regulator (write permission, a region or the province) sees the forms."""
    if signed is None:
        return None
    p = signed.principal
    return p if p.can(Perm.write) and p.scope in (Scope.all, Scope.region) else None


def _page(
    request: Request,
    session: SessionDep,
    signed: SignedIn | None,
    region: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    today = credit.today_of(_now())
    if region and not re.fullmatch(r"[0-9]{6}", region):
        region = None
    query = credit.public_query(None, None, region, today)
    rows = [credit.public_fields(e, county, today) for e, county in session.execute(query)]
    editor = _may_change(signed)
    for r in rows:
        r["changeable"] = editor is not None and (
            editor.scope is Scope.all or r["region_adcode"].startswith(editor.region)
        )
    enterprises: list[dict[str, str]] = []
    if editor is not None:
        bind(session, editor)
        firms = select(Enterprise.credit_code, Enterprise.name).order_by(Enterprise.region_adcode, Enterprise.name)
        if editor.scope is Scope.region:
            firms = firms.where(Enterprise.region_adcode.like(f"{editor.region}%"))
        enterprises = [{"code": c, "name": n} for c, n in session.execute(firms.limit(3000))]
    counties = session.execute(
        select(Region.adcode, Region.name).where(Region.level == "county").order_by(Region.adcode)
    ).all()
    return render(
        "credit_lists.html",
        "安全生产黑名单和红名单公告",
        signed,
        status_code,
        black=[r for r in rows if r["current"] and r["list"] == "black"],
        red=[r for r in rows if r["current"] and r["list"] == "red"],
        history=[r for r in rows if not r["current"]],
        counties=[{"code": c, "name": n} for c, n in counties],
        region=region or "",
        effect=credit.frequency_effect(),
        editor=editor is not None,
        enterprises=enterprises,
        today=today.isoformat(),
        form=form or {},
        **context,
    )


@router.get("/credit-lists", response_class=HTMLResponse, include_in_schema=False)
def credit_lists_page(request: Request, session: SessionDep, region: str | None = None) -> Response:
    """定期公告: anyone reads the lists; a regulator signed in also sees the forms."""
    return _page(request, session, signed_in(request, session), region)


Field_ = Annotated[str, Form(max_length=1000)]


WRITE_REFUSAL = "只有监管部门的执法人员可以列入或移出名单。"


def _date(value: str, name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{name}: 日期格式应为 2026-01-31", name) from None


@router.post("/credit-lists", response_class=HTMLResponse, include_in_schema=False)
def credit_list_submit(
    request: Request,
    session: SessionDep,
    credit_code: Annotated[str, Form(max_length=18)] = "",
    list_: Annotated[str, Form(alias="list", max_length=8)] = "",
    reason: Field_ = "",
    document_no: Annotated[str, Form(max_length=64)] = "",
    basis: Annotated[str, Form(max_length=200)] = "",
    listed_on: Annotated[str, Form(max_length=10)] = "",
    valid_until: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """The page's form: list an enterprise, then the page again with what happened."""
    signed = page_caller(
        request, session, regulators_only=True, closed=WRITE_REFUSAL, write=WRITE_REFUSAL, csrf=csrf_token
    )
    if isinstance(signed, Response):
        return signed
    form = {
        "credit_code": credit_code,
        "list": list_,
        "reason": reason,
        "document_no": document_no,
        "basis": basis,
        "listed_on": listed_on,
        "valid_until": valid_until,
    }
    now = _now()
    try:
        if list_ not in ("black", "red"):
            raise Invalid("请选择黑名单或红名单", "list")
        body = ListingIn.model_construct(
            credit_code=credit_code.strip().upper(),
            list=list_,  # type: ignore[arg-type]
            reason=reason,
            document_no=document_no,
            basis=basis,
            listed_on=_date(listed_on, "listed_on"),
            valid_until=_date(valid_until, "valid_until"),
        )
        out = _do_list(session, signed.principal, body, now)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, signed, None, status_of(exc), form=form, error=_zh(exc))
    message = f"已将{out['enterprise_name']}列入{out['list_zh']}。{out['plan_effect']['message']}"
    return _page(request, session, signed, None, message=message)


@router.post("/credit-lists/{entry_id}/remove", response_class=HTMLResponse, include_in_schema=False)
def credit_list_remove(
    request: Request,
    session: SessionDep,
    entry_id: IdPath,
    reason: Field_ = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    signed = page_caller(
        request, session, regulators_only=True, closed=WRITE_REFUSAL, write=WRITE_REFUSAL, csrf=csrf_token
    )
    if isinstance(signed, Response):
        return signed
    try:
        out = _do_remove(session, signed.principal, entry_id, RemovalIn.model_construct(reason=reason), _now())
    except DomainError as exc:
        session.rollback()
        return _page(request, session, signed, None, status_of(exc), error=_zh(exc))
    message = f"已将{out['enterprise_name']}移出{out['list_zh']}。{out['plan_effect']['message']}"
    return _page(request, session, signed, None, message=message)


ERRORS_ZH = {
    "reason": "请填写理由",
    "document_no": "请填写决定文号",
    "listed_on": "列入日期不能晚于今天",
    "valid_until": "有效期至不能早于列入日期或今天",
    "removed_on": "移出日期不能晚于今天或早于列入日期",
    "list": "请选择黑名单或红名单",
}


def _zh(exc: DomainError) -> str:
    """The refusal in Chinese for the page."""
    code = status_of(exc)
    if code == 404:
        return "未找到该企业或名单记录（或不在本辖区）。"
    if code == 409:
        return "该企业已在此名单中，或该记录已移出。"
    if exc.field and exc.field in ERRORS_ZH:
        return ERRORS_ZH[exc.field] + "。"
    return "输入有误，请检查后重试。"
