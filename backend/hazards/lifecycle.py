"""Every hidden-hazard transition, its event, audit and notification, in one place.

reported → confirmed → planned → rectifying → submitted → closed (销号), or submitted → rectifying
(rejected); 挂牌督办 (supervise) is an event on an open 重大隐患 that changes no state. Who may do
what follows the issue: an enterprise (Perm.answer, its own sites only) self-reports, confirms its
own self-reports (its safety lead), plans, starts and submits; a regulator (Perm.write) registers,
confirms, supervises, accepts and rejects; an enterprise never accepts its own hazard. A 重大 grade
names a criteria item (hidden_hazard_criteria.yaml) or carries a regulator's reasoned decision.

Each transition updates `hidden_hazards`, appends to `hazard_events` (who, when, why, attachments),
writes the audit log, regrades the site at once and queues notifications in the outbox.
`sweep(session, now)` finds overdue hazards (notifying the enterprise and the supervising bureau)
and escalates an overdue 重大隐患 one jurisdiction level up; it runs with the broadcasts' sweep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import any_, func, literal, select
from sqlalchemy.orm import Session, object_session

from backend.core.audit import record
from backend.core.config import MqttSettings
from backend.core.principal import Perm, Principal, Scope
from backend.domain.errors import Conflict, Forbidden, Invalid, NotFound
from backend.hazards import criteria
from backend.models import Enterprise, HazardEvent, HazardFile, HiddenHazard, NoncoalMine, Organisation, Site
from backend.risk.engine import regrade, regrade_enterprise
from backend.warnings.delivery import enqueue


class State(StrEnum):
    reported = "reported"
    confirmed = "confirmed"
    planned = "planned"
    rectifying = "rectifying"
    submitted = "submitted"
    closed = "closed"


STATE_ZH = {
    State.reported: "已上报",
    State.confirmed: "已确认",
    State.planned: "已制定整改方案",
    State.rectifying: "整改中",
    State.submitted: "待验收",
    State.closed: "已销号",
}
OPEN_STATES = tuple(s.value for s in State if s != State.closed)
# Past its deadline in one of these states, a hazard is overdue (submitted: the work is done).
OVERDUE_STATES = (State.reported, State.confirmed, State.planned, State.rectifying)


class FoundBy(StrEnum):
    self_check = "self_check"  # 企业自查
    inspection = "inspection"  # 监管检查
    public = "public"  # 群众举报
    sensor = "sensor"  # 监测报警


FOUND_BY_ZH = {
    FoundBy.self_check: "企业自查",
    FoundBy.inspection: "监管检查",
    FoundBy.public: "群众举报",
    FoundBy.sensor: "监测报警",
}
INTERIM_MEASURES = {"suspend": "停产停业", "evacuate": "撤出人员"}
EVENT_ZH = {
    "reported": "上报",
    "confirmed": "确认",
    "planned": "制定整改方案",
    "started": "开始整改",
    "submitted": "申请验收",
    "accepted": "验收通过（销号）",
    "rejected": "验收不通过",
    "supervised": "挂牌督办",
    "overdue": "逾期未整改",
    "escalated": "逾期升级督办",
}


class HazardNotFound(NotFound):
    pass


class HazardStateError(Conflict):
    """The transition is not allowed from the hazard's current state."""


class HazardForbidden(Forbidden):
    """The caller may not make this transition (e.g. an enterprise accepting its own hazard)."""


@dataclass(frozen=True)
class Transition:
    name: str
    to: State | None  # None: the state stays (挂牌督办)
    sources: tuple[State, ...]
    enterprise: bool  # an enterprise of the site may make it
    regulator: bool  # a regulator may make it
    event: str


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("confirm", State.confirmed, (State.reported,), True, True, "confirmed"),
        Transition("plan", State.planned, (State.confirmed, State.planned), True, True, "planned"),
        Transition("start", State.rectifying, (State.planned,), True, True, "started"),
        Transition("submit", State.submitted, (State.rectifying,), True, True, "submitted"),
        Transition("accept", State.closed, (State.submitted,), False, True, "accepted"),
        Transition("reject", State.rectifying, (State.submitted,), False, True, "rejected"),
        Transition("supervise", None, tuple(State(s) for s in OPEN_STATES), False, True, "supervised"),
    )
}


@dataclass
class Report:
    """What a new hazard is reported with."""

    site_id: int
    title: str
    description: str = ""
    major: bool = False
    criterion: str | None = None
    major_reason: str | None = None
    found_by: FoundBy = FoundBy.inspection
    found_at: datetime | None = None
    deadline: datetime | None = None
    lon: float | None = None
    lat: float | None = None
    unit_id: int | None = None
    sensor_id: int | None = None
    attachments: list[int] = field(default_factory=list)


@dataclass
class Step:
    """What a transition is made with; each transition reads the fields it needs."""

    reason: str = ""
    attachments: list[int] = field(default_factory=list)
    # confirm: the grade may be settled on confirmation
    major: bool | None = None
    criterion: str | None = None
    major_reason: str | None = None
    # plan
    measures: str | None = None
    funds_yuan: float | None = None
    responsible: str | None = None
    deadline: datetime | None = None
    # supervise
    order_no: str | None = None
    ordered_by: str | None = None  # "city_safety_committee": 市安委会挂牌督办
    interim_measures: list[str] = field(default_factory=list)
    # accept (a supervised hazard: the supervising authority's on-site acceptance)
    inspectors: str | None = None
    accepted_on: datetime | None = None


def is_regulator(p: Principal) -> bool:
    return p.can(Perm.write)


def is_enterprise_of(p: Principal, enterprise_id: int) -> bool:
    """An enterprise principal acting for its own enterprise (never a regulator's token)."""
    return p.scope == Scope.enterprise and p.enterprise_id == enterprise_id and p.can(Perm.answer)


def _site(session: Session, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(f"没有编号为 {site_id} 的站点", "site")
    return site


def _may_see(session: Session, p: Principal, site: Site) -> bool:
    """The caller's jurisdiction covers the site (checked here as well as by row-level security,
    which binds only the API's restricted role)."""
    if p.scope == Scope.all:
        return True
    if p.scope == Scope.region:
        return bool(p.region) and site.region_adcode.startswith(p.region)
    if p.scope == Scope.enterprise:
        return p.enterprise_id == site.enterprise_id
    return False


def _check_grade(major: bool, criterion: str | None, reason: str | None, site: Site, p: Principal) -> None:
    if not major:
        return
    if criterion:
        if criteria.item(criterion) is None:
            raise Invalid(f"判定依据 {criterion} 不在重大事故隐患判定标准中", "criterion")
        if criterion not in {c.key for c in criteria.for_site(site.kind, _method(site))}:
            raise Invalid(f"判定依据 {criterion} 不适用于该类站点", "criterion")
        return
    if reason and reason.strip():
        if not is_regulator(p):
            raise HazardForbidden("不依据判定标准认定重大隐患，须由监管部门作出并说明理由")
        return
    raise Invalid("重大隐患须选择判定标准条目，或由监管部门说明认定理由", "criterion")


def _method(site: Site) -> str | None:
    """A non-coal mine's mining method (underground | open_pit), which decides its criteria."""
    if site.kind != "noncoal_mine":
        return None
    session = object_session(site)
    mine = session.get(NoncoalMine, site.id) if session is not None else None
    return mine.mining_method if mine is not None else None


def _files_of(session: Session, hazard: HiddenHazard, ids: list[int]) -> list[int]:
    """The attachments named, each a file of this hazard."""
    if not ids:
        return []
    found = set(session.scalars(select(HazardFile.id).where(HazardFile.id.in_(ids), HazardFile.hazard_id == hazard.id)))
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(f"附件 {missing[0]} 不是该隐患的文件", "attachments")
    return list(dict.fromkeys(ids))


def _event(
    session: Session,
    hazard: HiddenHazard,
    event: str,
    previous: str | None,
    actor: str,
    now: datetime,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    attachments: list[int] | None = None,
) -> None:
    session.add(
        HazardEvent(
            hazard_id=hazard.id,
            site_id=hazard.site_id,
            event=event,
            from_state=previous,
            to_state=hazard.state,
            actor=actor,
            at=now,
            reason=reason,
            detail=detail or {},
            attachments=attachments or [],
        )
    )
    record(
        session,
        event,
        "hidden_hazards",
        str(hazard.id),
        {"state": hazard.state, "from": previous, "reason": reason, **(detail or {})},
    )


def report(session: Session, p: Principal, r: Report, now: datetime) -> HiddenHazard:
    """A new hazard: self-reported by the site's enterprise (自查自报) or registered by a regulator."""
    site = _site(session, r.site_id)
    if not _may_see(session, p, site):
        raise NotFound(f"没有编号为 {r.site_id} 的站点", "site")
    if is_enterprise_of(p, site.enterprise_id):
        found_by = FoundBy.self_check
    elif is_regulator(p):
        found_by = r.found_by
    else:
        raise HazardForbidden("只有本企业或监管部门可以上报该站点的隐患")
    _check_grade(r.major, r.criterion, r.major_reason, site, p)
    if r.deadline is not None and r.deadline <= (r.found_at or now):
        raise Invalid("整改期限须晚于发现时间", "deadline")
    hazard = HiddenHazard(
        site_id=site.id,
        title=r.title,
        description=r.description,
        major=r.major,
        criterion=r.criterion if r.major else None,
        major_reason=r.major_reason if r.major and not r.criterion else None,
        state=State.reported,
        found_by=found_by,
        reported_by=p.actor,
        found_at=r.found_at or now,
        deadline=r.deadline,
        unit_id=r.unit_id,
        sensor_id=r.sensor_id,
        location=from_shape(Point(r.lon, r.lat), srid=4326) if r.lon is not None and r.lat is not None else None,
        updated_at=now,
    )
    session.add(hazard)
    session.flush()
    _event(session, hazard, "reported", None, p.actor, now, detail={"found_by": found_by, "major": r.major})
    _settle(session, hazard, now)
    return hazard


def get(session: Session, hazard_id: int, p: Principal | None = None, lock: bool = False) -> HiddenHazard:
    query = select(HiddenHazard).where(HiddenHazard.id == hazard_id)
    hazard = session.scalar(query.with_for_update() if lock else query)
    if hazard is None or (p is not None and not _may_see(session, p, _site(session, hazard.site_id))):
        raise HazardNotFound(f"没有编号为 {hazard_id} 的隐患")
    return hazard


def transition(session: Session, p: Principal, hazard_id: int, name: str, step: Step, now: datetime) -> HiddenHazard:
    """Make transition `name` on the hazard, or refuse it: HazardStateError (409) from a state it
    does not leave, HazardForbidden (403) for a caller who may not make it, Invalid (422) for a
    missing or wrong field."""
    t = TRANSITIONS.get(name)
    if t is None:
        raise NotFound(f"没有名为 {name} 的隐患流程操作")
    hazard = get(session, hazard_id, p, lock=True)
    site = _site(session, hazard.site_id)
    own = is_enterprise_of(p, site.enterprise_id)
    if hazard.state not in t.sources:
        raise HazardStateError(f"隐患 {hazard.id} 当前为「{STATE_ZH[State(hazard.state)]}」，不能{EVENT_ZH[t.event]}")
    allowed = (own and t.enterprise) or (is_regulator(p) and t.regulator and not own)
    if name == "confirm" and hazard.found_by != FoundBy.self_check and not is_regulator(p):
        allowed = False  # only a self-report is confirmed by the enterprise's safety lead
    if not allowed:
        if own and name == "accept":
            raise HazardForbidden("企业不能验收本企业的隐患，须由监管部门验收销号")
        raise HazardForbidden(f"无权对该隐患执行「{EVENT_ZH[t.event]}」")
    attachments = _files_of(session, hazard, step.attachments)
    previous = hazard.state
    detail: dict[str, Any] = {}
    handler = _HANDLERS[name]
    handler(session, p, hazard, site, step, now, detail, attachments)
    if t.to is not None:
        hazard.state = t.to
    hazard.updated_at = now
    session.flush()
    _event(session, hazard, t.event, previous, p.actor, now, step.reason, detail, attachments)
    _settle(session, hazard, now)
    return hazard


def _confirm(
    s: Session, p: Principal, h: HiddenHazard, site: Site, step: Step, now: datetime, d: dict, a: list
) -> None:
    if step.major is not None:
        _check_grade(step.major, step.criterion, step.major_reason, site, p)
        h.major = step.major
        h.criterion = step.criterion if step.major else None
        h.major_reason = step.major_reason if step.major and not step.criterion else None
    d.update(major=h.major, criterion=h.criterion)


def _plan(s: Session, p: Principal, h: HiddenHazard, site: Site, step: Step, now: datetime, d: dict, a: list) -> None:
    for name, value in (("measures", step.measures), ("responsible", step.responsible)):
        if not value or not value.strip():
            raise Invalid("整改方案须写明整改措施和责任人", name)
    if step.funds_yuan is None or step.funds_yuan < 0:
        raise Invalid("整改方案须写明整改资金（元）", "funds_yuan")
    deadline = step.deadline or h.deadline
    if deadline is None:
        raise Invalid("整改方案须写明整改期限", "deadline")
    if h.supervised_at is not None and h.deadline is not None and deadline > h.deadline:
        raise Invalid("挂牌督办隐患的整改期限不能晚于督办期限", "deadline")
    h.measures, h.funds_yuan, h.responsible, h.deadline = step.measures, step.funds_yuan, step.responsible, deadline
    if deadline > now:
        h.overdue_at = None
    d.update(
        measures=step.measures, funds_yuan=step.funds_yuan, responsible=step.responsible, deadline=deadline.isoformat()
    )


def _start(s: Session, p: Principal, h: HiddenHazard, site: Site, step: Step, now: datetime, d: dict, a: list) -> None:
    return None


def _submit(s: Session, p: Principal, h: HiddenHazard, site: Site, step: Step, now: datetime, d: dict, a: list) -> None:
    if not a:
        raise Invalid("申请验收须附整改证明材料（照片或文件）", "attachments")
    h.submitted_at = now
    if h.supervised_at is not None:
        days = criteria.rules().supervision.review_days
        h.review_deadline = now + timedelta(days=days)
        d["review_deadline"] = h.review_deadline.isoformat()
        _notify(s, [h.supervising_org_id], h, "submitted", f"挂牌督办隐患申请验收，请于{days}日内现场核查")


def _accept(s: Session, p: Principal, h: HiddenHazard, site: Site, step: Step, now: datetime, d: dict, a: list) -> None:
    if h.supervised_at is not None:
        org = s.get(Organisation, h.supervising_org_id) if h.supervising_org_id else None
        if p.scope != Scope.all and (org is None or not org.region_adcode.startswith(p.region or "-")):
            raise HazardForbidden("挂牌督办隐患须由督办单位现场核查验收后销号")
        if not step.inspectors or not step.inspectors.strip() or step.accepted_on is None:
            raise Invalid("挂牌督办隐患销号须记录现场核查人员和核查日期", "inspectors")
        h.inspectors, h.accepted_on = step.inspectors.strip(), step.accepted_on
        d.update(inspectors=h.inspectors, accepted_on=step.accepted_on.isoformat())
    h.rectified_at = now
    _restore_status(s, h, site)
    _notify(s, [_enterprise_org(s, site)], h, "accepted", "隐患已验收销号")


def _reject(s: Session, p: Principal, h: HiddenHazard, site: Site, step: Step, now: datetime, d: dict, a: list) -> None:
    if not step.reason.strip():
        raise Invalid("验收不通过须说明理由", "reason")
    h.submitted_at = None
    h.review_deadline = None
    _notify(s, [_enterprise_org(s, site)], h, "rejected", f"隐患验收不通过：{step.reason}")


def _supervise(
    s: Session, p: Principal, h: HiddenHazard, site: Site, step: Step, now: datetime, d: dict, a: list
) -> None:
    if not h.major:
        raise HazardStateError(f"隐患 {h.id} 为一般隐患，挂牌督办只适用于重大隐患")
    if h.supervised_at is not None:
        raise HazardStateError(f"隐患 {h.id} 已于 {h.supervised_at:%Y-%m-%d} 挂牌督办")
    if not step.order_no or not step.order_no.strip():
        raise Invalid("挂牌督办须填写督办文号", "order_no")
    if step.deadline is None or step.deadline <= now:
        raise Invalid("挂牌督办须规定晚于今天的整改期限", "deadline")
    unknown = [m for m in step.interim_measures if m not in INTERIM_MEASURES]
    if unknown:
        raise Invalid(f"未知的临时措施 {unknown[0]}（可选 suspend 停产停业、evacuate 撤出人员）", "interim_measures")
    level = criteria.supervision_level(site.kind, site.region_adcode, step.ordered_by)
    org = bureau(s, site.region_adcode, level)
    h.supervised_at, h.order_no, h.supervising_org_id = now, step.order_no.strip(), org.id
    h.deadline = step.deadline
    h.interim_measures = list(dict.fromkeys(step.interim_measures))
    if "suspend" in h.interim_measures:
        enterprise = s.get(Enterprise, site.enterprise_id)
        assert enterprise is not None
        if enterprise.status == "operating":
            h.status_before = enterprise.status
            enterprise.status = "suspended"
    d.update(
        order_no=h.order_no,
        supervising_org=org.name,
        level=level,
        deadline=step.deadline.isoformat(),
        interim_measures=[INTERIM_MEASURES[m] for m in h.interim_measures],
    )
    _notify(
        s,
        [_enterprise_org(s, site)],
        h,
        "supervised",
        f"重大隐患已由{org.name}挂牌督办（{h.order_no}），整改期限 {step.deadline:%Y-%m-%d}",
    )


_HANDLERS = {
    "confirm": _confirm,
    "plan": _plan,
    "start": _start,
    "submit": _submit,
    "accept": _accept,
    "reject": _reject,
    "supervise": _supervise,
}


def _restore_status(s: Session, h: HiddenHazard, site: Site) -> None:
    """The enterprise resumes the status it had before 停产停业 once no supervised hazard of it
    still orders one."""
    if h.status_before is None:
        return
    still = s.scalar(
        select(func.count())
        .select_from(HiddenHazard)
        .join(Site, Site.id == HiddenHazard.site_id)
        .where(
            Site.enterprise_id == site.enterprise_id,
            HiddenHazard.id != h.id,
            HiddenHazard.state != State.closed,
            literal("suspend") == any_(HiddenHazard.interim_measures),
        )
    )
    enterprise = s.get(Enterprise, site.enterprise_id)
    if not still and enterprise is not None and enterprise.status == "suspended":
        enterprise.status = h.status_before


LEVEL_CODE = {"county": lambda a: a, "prefecture": lambda a: a[:4] + "00", "province": lambda a: a[:2] + "0000"}


def bureau(session: Session, adcode: str, level: str) -> Organisation:
    """The 应急管理局 of `level` over the region `adcode`."""
    code = LEVEL_CODE[level](adcode)
    org = session.scalar(select(Organisation).where(Organisation.kind == "bureau", Organisation.code == code))
    if org is None:  # a region without its own bureau row: the next level up
        code = LEVEL_CODE["prefecture" if level == "county" else "province"](adcode)
        org = session.scalar(select(Organisation).where(Organisation.kind == "bureau", Organisation.code == code))
    if org is None:
        raise Invalid(f"找不到 {adcode} 的应急管理部门", "site")
    return org


def _enterprise_org(session: Session, site: Site) -> int | None:
    return session.scalar(select(Organisation.id).where(Organisation.enterprise_id == site.enterprise_id))


def notice_topic(org_code: str) -> str:
    """An organisation's notice topic, where its duty officers' clients listen."""
    return f"{MqttSettings().topic_root}/orgs/{org_code}/notices"


def _notify(session: Session, org_ids: list[int | None], h: HiddenHazard, event: str, text_zh: str) -> None:
    """Queue a notice to each organisation's notice topic (the delivery worker sends it after commit)."""
    rows = []
    for org_id in dict.fromkeys(o for o in org_ids if o is not None):
        code = session.scalar(select(Organisation.code).where(Organisation.id == org_id))
        body = {"hazard": h.id, "event": event, "text": text_zh, "link": f"/hazards/{h.id}"}
        rows.append(
            {
                "kind": "mqtt",
                "target": notice_topic(str(code)),
                "payload": json.dumps(body, ensure_ascii=False).encode(),
                "headers": {"qos": 1, "retain": False},
                "event": f"hazard_{event}"[:24],
            }
        )
    enqueue(session, rows)


def supervisor_of(session: Session, h: HiddenHazard, site: Site) -> int:
    """The bureau answerable for the hazard: its supervising authority, else the site's county."""
    if h.supervising_org_id is not None:
        return h.supervising_org_id
    return bureau(session, site.region_adcode, "county").id


def _settle(session: Session, hazard: HiddenHazard, now: datetime) -> None:
    """The site is regraded at once (an open 重大 keeps it red; an overdue 一般 raises it). A hazard
    that ordered 停产停业 changes the enterprise's status, which every site of the enterprise reads:
    those are all regraded, in every county."""
    session.flush()
    if hazard.status_before is not None:
        enterprise_id = session.scalar(select(Site.enterprise_id).where(Site.id == hazard.site_id))
        if enterprise_id is not None:
            regrade_enterprise(session, enterprise_id, now)
            return
    regrade(session, [hazard.site_id], now)


def overdue(h: HiddenHazard, now: datetime) -> bool:
    return h.state in OVERDUE_STATES and h.deadline is not None and h.deadline < now


def sweep(session: Session, now: datetime) -> dict[str, int]:
    """Deadlines: a hazard newly overdue is marked, and its enterprise and supervising bureau are
    notified; an overdue 重大隐患 escalates one jurisdiction level up per sweep that finds it still
    overdue after a further review period (county → prefecture → province). Sites whose
    overdue status changed are regraded."""
    counts = {"overdue": 0, "escalated": 0}
    levels = criteria.rules().supervision.escalation
    step_days = criteria.rules().supervision.review_days
    touched: set[int] = set()
    for h in session.scalars(
        select(HiddenHazard)
        .where(HiddenHazard.state.in_(OVERDUE_STATES), HiddenHazard.deadline < now)
        .order_by(HiddenHazard.id)
        .with_for_update(skip_locked=True)
    ):
        site = _site(session, h.site_id)
        if h.overdue_at is None:
            h.overdue_at = now
            counts["overdue"] += 1
            touched.add(h.site_id)
            _event(session, h, "overdue", h.state, "platform:hazards", now, detail={"deadline": h.deadline.isoformat()})
            _notify(
                session,
                [_enterprise_org(session, site), supervisor_of(session, h, site)],
                h,
                "overdue",
                f"隐患「{h.title}」已超过整改期限 {h.deadline:%Y-%m-%d}，请立即整改",
            )
        if not h.major:
            continue
        assert h.deadline is not None
        start = _level_index(session, h, site, levels)
        due = 1 + int((now - h.deadline) / timedelta(days=step_days))
        target = min(len(levels) - 1, start + due)
        if target > start + h.escalation:
            h.escalation = target - start
            org = bureau(session, site.region_adcode, levels[target])
            counts["escalated"] += 1
            _event(
                session,
                h,
                "escalated",
                h.state,
                "platform:hazards",
                now,
                detail={"to": org.name, "level": levels[target], "escalation": h.escalation},
            )
            _notify(session, [org.id], h, "escalated", f"重大隐患「{h.title}」逾期未整改，提级督办")
    if touched:
        regrade(session, sorted(touched), now)
    return counts


def _level_index(session: Session, h: HiddenHazard, site: Site, levels: list[str]) -> int:
    """Where the hazard's supervision sits on the escalation ladder."""
    if h.supervising_org_id is None:
        return 0
    org = session.get(Organisation, h.supervising_org_id)
    code = org.code if org is not None else site.region_adcode
    level = "province" if code.endswith("0000") else "prefecture" if code.endswith("00") else "county"
    return levels.index(level) if level in levels else 0


def next_transitions(h: HiddenHazard, p: Principal | None, enterprise_id: int) -> list[str]:
    """The transitions the caller may make now (for the hazard page's forms)."""
    if p is None:
        return []
    own = is_enterprise_of(p, enterprise_id)
    out = []
    for t in TRANSITIONS.values():
        if h.state not in t.sources:
            continue
        if t.name == "supervise" and (not h.major or h.supervised_at is not None):
            continue
        if t.name == "confirm" and h.found_by != FoundBy.self_check and not is_regulator(p):
            continue
        if (own and t.enterprise) or (is_regulator(p) and t.regulator and not own):
            out.append(t.name)
    return out
