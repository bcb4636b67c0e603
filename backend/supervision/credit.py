"""Credit lists (吉政发〔2018〕26号 九): every 黑名单 / 红名单 transition in one place.

An enterprise is listed (with reason, decision document, deciding bureau, listed-on and optional
valid-until dates), removed (移出, with a reason) or expires at the end of its period (the sweep,
run with the other sweeps). An entry is never deleted; its rows and the enterprise's change go to
the audit log (the session's actor). `Enterprise.credit_list` is derived from the entries in force
after each transition: 黑名单 wins over 红名单 when both are.

The list changes the inspection frequency (supervision.yaml: raises.blacklist, lowering.redlist).
A plan is not regenerated here: a regeneration is a new published draw (双随机一公开), made by a
regulator with its seed, so the answer to a transition says which sites change and which plans in
force a regeneration would update (backend/supervision/service.py generate_plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core.audit import record
from backend.core.clock import china_day
from backend.core.principal import Principal, Scope
from backend.domain.errors import Conflict, Invalid, NotFound
from backend.domain.kinds import CreditList, region_prefix
from backend.domain.rules_models import Supervision
from backend.models import CreditListEntry, Enterprise, InspectionPlan, Organisation, Region, Site
from backend.supervision.plan import required_visits
from backend.supervision.service import region_names, site_facts, supervision_rules

LIST_ZH = {CreditList.black: "黑名单", CreditList.red: "红名单", CreditList.none: "未列入"}
ENDED_ZH = {"removed": "移出", "expired": "期满移出"}
EXPIRED_REASON = "有效期届满，自动移出"
EXPIRY_ACTOR = "platform:credit-expiry"  # who ends an entry at the end of its period
OUTSIDE = "no such enterprise (or outside your jurisdiction)"


def today_of(now: datetime) -> date:
    """The regulators' day (China Standard Time)."""
    return china_day(now)


@dataclass(frozen=True)
class Listing:
    """What a listing decision says."""

    credit_code: str
    list: CreditList
    reason: str
    document_no: str
    listed_on: date
    valid_until: date | None = None
    basis: str = ""


@dataclass(frozen=True)
class SiteEffect:
    code: str
    name: str
    before: int  # visits a year by rule, before the change
    after: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PlanEffect:
    """How the change reaches the inspection plans: per site, and the plans in force to regenerate."""

    before: CreditList
    after: CreditList
    sites: list[SiteEffect] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def in_force(entry: CreditListEntry, today: date) -> bool:
    return entry.removed_on is None and (entry.valid_until is None or entry.valid_until >= today)


def _writable(p: Principal, adcode: str) -> bool:
    """Within the caller's jurisdiction: the county itself or an enclosing prefecture or province."""
    if p.scope is Scope.all:
        return True
    return p.scope is Scope.region and bool(p.region) and adcode.startswith(p.region)


def enterprise_of(session: Session, p: Principal, credit_code: str) -> Enterprise:
    """The enterprise, if the caller may list it (its county is within the jurisdiction); else 404."""
    e = session.scalar(select(Enterprise).where(Enterprise.credit_code == credit_code))
    if e is None or not _writable(p, e.region_adcode):
        raise NotFound(OUTSIDE)
    return e


def entry_of(session: Session, entry_id: int, p: Principal | None = None, lock: bool = False) -> CreditListEntry:
    """An entry (public); with `p`, only one the caller may change (404 otherwise)."""
    query = select(CreditListEntry).where(CreditListEntry.id == entry_id)
    entry = session.scalar(query.with_for_update() if lock else query)
    if entry is None or (p is not None and not _writable(p, entry.region_adcode)):
        raise NotFound(f"no credit-list entry {entry_id} (or outside your jurisdiction)")
    return entry


def _deciding_org(session: Session, p: Principal, county: str) -> Organisation:
    """The caller's bureau; for a province-wide caller without one, the province's."""
    org = session.get(Organisation, p.org_id) if p.org_id is not None else None
    if org is None or org.kind == "enterprise":
        org = session.scalar(
            select(Organisation).where(Organisation.kind == "bureau", Organisation.code == county[:2] + "0000")
        )
    if org is None:
        raise Invalid(f"找不到 {county} 的应急管理部门", "decided_by")
    return org


def _text(value: str, name: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise Invalid(f"{name} is required", name)
    if len(value) > limit:
        raise Invalid(f"{name}: at most {limit} characters", name)
    return value


def list_enterprise(session: Session, p: Principal, listing: Listing, now: datetime) -> CreditListEntry:
    """Put an enterprise on a list. 404 outside the jurisdiction, 409 when it is on that list
    already, 422 for a missing reason or document number or reversed dates. The caller commits."""
    today = today_of(now)
    if listing.list not in (CreditList.black, CreditList.red):
        raise Invalid("list: black or red", "list")
    reason = _text(listing.reason, "reason", 1000)
    document_no = _text(listing.document_no, "document_no", 64)
    if listing.listed_on > today:
        raise Invalid("listed_on: not after today", "listed_on")
    if listing.valid_until is not None and listing.valid_until < listing.listed_on:
        raise Invalid("valid_until: not before listed_on", "valid_until")
    if listing.valid_until is not None and listing.valid_until < today:
        raise Invalid("valid_until: already past (the entry would never be in force)", "valid_until")
    e = enterprise_of(session, p, listing.credit_code)
    expire(session, now, enterprise_id=e.id)  # an entry past its period is off the list before the check
    taken = session.scalar(
        select(CreditListEntry.id).where(
            CreditListEntry.enterprise_id == e.id,
            CreditListEntry.list == listing.list.value,
            CreditListEntry.removed_on.is_(None),
        )
    )
    if taken is not None:
        raise Conflict(f"{e.credit_code} is on the {listing.list.value} list already (entry {taken})")
    org = _deciding_org(session, p, e.region_adcode)
    entry = CreditListEntry(
        enterprise_id=e.id,
        region_adcode=e.region_adcode,
        credit_code=e.credit_code,
        enterprise_name=e.name,
        list=listing.list.value,
        reason=reason,
        basis=listing.basis.strip()[:200],
        document_no=document_no,
        org_id=org.id,
        decided_by=org.name,
        listed_on=listing.listed_on,
        valid_until=listing.valid_until,
        created_by=p.actor,
    )
    session.add(entry)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # listed at the same moment by someone else
        raise Conflict(f"{e.credit_code} is on the {listing.list.value} list already") from None
    record(
        session,
        "credit_listed",
        "credit_list_entries",
        str(entry.id),
        {"enterprise": e.credit_code, "list": entry.list, "document_no": document_no, "reason": reason},
        enterprise=(entry.region_adcode, entry.enterprise_id),
    )
    derive(session, e.id, today)
    return entry


def remove(
    session: Session, p: Principal, entry_id: int, reason: str, now: datetime, removed_on: date | None = None
) -> CreditListEntry:
    """移出: the entry ends today (or on `removed_on`, not in the future) with its reason. 404
    outside the jurisdiction, 409 when it has ended already. The caller commits."""
    today = today_of(now)
    reason = _text(reason, "reason", 1000)
    entry = entry_of(session, entry_id, p, lock=True)
    if entry.removed_on is not None:
        raise Conflict(f"entry {entry_id} ended on {entry.removed_on.isoformat()} ({entry.ended})")
    day = removed_on or today
    if day > today:
        raise Invalid("removed_on: not after today", "removed_on")
    if day < entry.listed_on:
        raise Invalid("removed_on: not before the day it was listed", "removed_on")
    entry.removed_on, entry.removal_reason, entry.ended, entry.removed_by = day, reason, "removed", p.actor
    session.flush()
    record(
        session,
        "credit_removed",
        "credit_list_entries",
        str(entry.id),
        {"enterprise": entry.credit_code, "list": entry.list, "removed_on": day.isoformat(), "reason": reason},
        enterprise=(entry.region_adcode, entry.enterprise_id),
    )
    derive(session, entry.enterprise_id, today)
    return entry


def expire(session: Session, now: datetime, enterprise_id: int | None = None) -> list[CreditListEntry]:
    """End every entry past its valid-until day: it left the list the day after. The caller commits."""
    today = today_of(now)
    query = select(CreditListEntry).where(CreditListEntry.removed_on.is_(None), CreditListEntry.valid_until < today)
    if enterprise_id is not None:
        query = query.where(CreditListEntry.enterprise_id == enterprise_id)
    ended = list(session.scalars(query.order_by(CreditListEntry.id).with_for_update()))
    if not ended:
        return ended
    # The period ended the entry, not whoever's request found it ended: the audit log says so.
    caller, session.info["actor"] = session.info.get("actor"), EXPIRY_ACTOR
    try:
        for entry in ended:
            assert entry.valid_until is not None
            entry.removed_on = entry.valid_until + timedelta(days=1)
            entry.removal_reason, entry.ended, entry.removed_by = EXPIRED_REASON, "expired", EXPIRY_ACTOR
            record(
                session,
                "credit_expired",
                "credit_list_entries",
                str(entry.id),
                {"enterprise": entry.credit_code, "list": entry.list, "valid_until": entry.valid_until.isoformat()},
                enterprise=(entry.region_adcode, entry.enterprise_id),
            )
        session.flush()
        for e in sorted({entry.enterprise_id for entry in ended}):
            derive(session, e, today)
        session.flush()
    finally:
        session.info["actor"] = caller
    return ended


def sweep(session: Session, now: datetime) -> int:
    """The periodic step (with the other sweeps of `riskmap up`): entries past their period end."""
    return len(expire(session, now))


def derive(session: Session, enterprise_id: int, today: date) -> CreditList:
    """Set `Enterprise.credit_list` from the entries in force (black over red); audited when it changes."""
    lists = set(
        session.scalars(
            select(CreditListEntry.list).where(
                CreditListEntry.enterprise_id == enterprise_id,
                CreditListEntry.removed_on.is_(None),
                or_(CreditListEntry.valid_until.is_(None), CreditListEntry.valid_until >= today),
            )
        )
    )
    state = CreditList.black if "black" in lists else CreditList.red if "red" in lists else CreditList.none
    e = session.get(Enterprise, enterprise_id)
    if e is not None and e.credit_list != state.value:
        e.credit_list = state.value
        session.flush()
    return state


def plan_effect(session: Session, enterprise_id: int, before: CreditList, now: datetime) -> PlanEffect:
    """What the enterprise's change of list does to its sites' visits a year (by the rules the
    plans use), and which plans of this year in force would change at their next regeneration."""
    rules = supervision_rules()
    e = session.get(Enterprise, enterprise_id)
    assert e is not None
    after = CreditList(e.credit_list)
    codes = set(session.scalars(select(Site.code).where(Site.enterprise_id == enterprise_id)))
    facts, _ = site_facts(session, e.region_adcode[:2] + "0000", now) if codes else ([], {})
    sites = []
    for f in (f for f in facts if f.code in codes):
        old, _ = required_visits(replace(f, credit_list=before), rules)
        new, reasons = required_visits(f, rules)
        sites.append(SiteEffect(f.code, f.name, old, new, reasons))
    counties = {f.region_adcode for f in facts if f.code in codes}
    year = str(today_of(now).year)
    plans = [
        {"id": p.id, "jurisdiction": p.region_adcode, "period": p.period, "current_version": p.current_version}
        for p in session.scalars(
            select(InspectionPlan).where(InspectionPlan.period.like(f"{year}%")).order_by(InspectionPlan.id)
        )
        if any(c.startswith(region_prefix(p.region_adcode)) for c in counties)
    ]
    return PlanEffect(before, after, sites, plans, _effect_message(before, after, sites, plans, rules, session))


def _effect_message(
    before: CreditList,
    after: CreditList,
    sites: list[SiteEffect],
    plans: list[dict[str, Any]],
    rules: Supervision,
    session: Session,
) -> str:
    if before == after:
        return f"该企业名单状态仍为“{LIST_ZH[after]}”（黑名单优先于红名单），检查频次不变。"
    changed = [s for s in sites if s.before != s.after]
    head = f"名单状态由“{LIST_ZH[before]}”变为“{LIST_ZH[after]}”。"
    if not changed:
        return head + "该企业场所按规则的年检查次数不变。"
    per = "；".join(f"{s.name}（{s.code}）每年{s.before}次→{s.after}次" for s in changed[:10])
    if not plans:
        return head + per + "。下次生成检查计划时按新频次安排。"
    names = region_names(session)
    where = "、".join(f"{names.get(p['jurisdiction'], p['jurisdiction'])}{p['period']}年度计划" for p in plans)
    return head + per + f"。已生成的计划不自动重抽（每次抽取均须公开）：请重新生成{where}，剩余检查将按新频次安排。"


def frequency_effect(rules: Supervision | None = None) -> dict[str, Any]:
    """The numbers the public page states, from the rules the plans use (supervision.yaml)."""
    r = rules or supervision_rules()
    return {
        "black_add": r.raises.blacklist.add_per_year,
        "black_source": r.raises.blacklist.source,
        "red_subtract": r.lowering.redlist.subtract_per_year,
        "red_min": r.lowering.redlist.min_per_year,
        "red_source": r.lowering.redlist.source,
        "per_year": {str(k): v for k, v in r.frequency.per_year.items()},
    }


def public_query(
    list_: CreditList | None = None,
    current: bool | None = None,
    region: str | None = None,
    today: date | None = None,
) -> Any:
    """Entries with their county's name, newest first, filtered as the public list is."""
    q = select(CreditListEntry, Region.name).join(Region, Region.adcode == CreditListEntry.region_adcode)
    if list_ is not None:
        q = q.where(CreditListEntry.list == list_.value)
    if region:
        q = q.where(CreditListEntry.region_adcode.like(f"{region_prefix(region)}%"))
    if current is not None and today is not None:
        live = CreditListEntry.removed_on.is_(None) & (
            CreditListEntry.valid_until.is_(None) | (CreditListEntry.valid_until >= today)
        )
        q = q.where(live if current else ~live)
    return q.order_by(CreditListEntry.listed_on.desc(), CreditListEntry.id.desc())


def public_fields(entry: CreditListEntry, county: str, today: date) -> dict[str, Any]:
    """What is announced of an entry (定期公告): never who typed it in."""
    return {
        "id": entry.id,
        "list": entry.list,
        "list_zh": LIST_ZH[CreditList(entry.list)],
        "credit_code": entry.credit_code,
        "enterprise_name": entry.enterprise_name,
        "region_adcode": entry.region_adcode,
        "county": county,
        "reason": entry.reason,
        "basis": entry.basis,
        "document_no": entry.document_no,
        "decided_by": entry.decided_by,
        "listed_on": entry.listed_on,
        "valid_until": entry.valid_until,
        "removed_on": entry.removed_on,
        "removal_reason": entry.removal_reason,
        "ended": entry.ended,
        "current": in_force(entry, today),
    }
