"""A year of sample hidden hazards across the sample sites, so that the demo shows the loop: most
一般 and closed on time, some overdue, a few 重大 under 挂牌督办 (some accepted on site, some open).

Reproducible (a fixed seed) and relative to the day it is loaded; written straight to the tables
with their events (the lifecycle's rules, without regrading each step: the caller regrades once).
Loading twice changes nothing.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from backend.hazards import criteria
from backend.hazards.lifecycle import State, bureau
from backend.models import HazardEvent, HiddenHazard, NoncoalMine, Site

ACTOR = "sample:seed"
GENERAL = {
    "coal_mine": [
        "局部通风机未挂牌管理",
        "采区消防管路阀门缺失",
        "井下避难硐室压风自救装置压力不足",
        "皮带巷防灭火器材过期",
    ],
    "noncoal_mine": [
        "中段巷道照明不足",
        "提升机钢丝绳检查记录不全",
        "采场顶板浮石未及时处理",
        "爆破器材库警示标志缺失",
    ],
    "tailings_pond": ["坝面排水沟局部淤堵", "浸润线观测孔读数记录缺失", "库区警示标志损坏", "排洪井周边杂物未清理"],
    "hazchem": ["储罐区防火堤伸缩缝破损", "可燃气体报警器未按期检定", "装卸区静电接地夹失效", "应急物资柜防毒面具过期"],
}
MEASURES = ["立即整改并加强日常巡检", "更换损坏设施并建立台账", "组织专项检查并落实责任人", "维修恢复并开展员工培训"]
PEOPLE = ["张伟", "王芳", "李强", "刘洋", "陈静", "杨磊", "赵敏", "孙涛"]
INSPECTORS = ["周建国、吴海燕", "郑立新、冯晓东", "何志刚、高丽"]


def loaded(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(HiddenHazard.reported_by == ACTOR))))


def load(session: Session, now: datetime, count: int = 320) -> int:
    """Write the sample hazards (none if they are already there); returns how many were written."""
    if loaded(session):
        return 0
    rng = random.Random(2026)
    sites = session.execute(
        select(Site.id, Site.kind, Site.region_adcode, NoncoalMine.mining_method)
        .outerjoin(NoncoalMine, NoncoalMine.site_id == Site.id)
        .order_by(Site.id)
    ).all()
    if not sites:
        return 0
    # 8 重大: two recent and open, one overdue (escalated by the sweep), five accepted on site
    majors = sorted(rng.sample(range(count), 8))
    ages = dict(zip(majors, [20, 45, 130, 120, 180, 240, 300, 350], strict=True))
    written = 0
    for n in range(count):
        site = rng.choice(sites)
        found = now - timedelta(days=ages.get(n, rng.uniform(3, 365)), hours=rng.uniform(0, 10))
        if n in ages:
            _major(session, rng, n, site, found, now, accepted=ages[n] not in (20, 45, 130))
        else:
            _general(session, rng, site, found, now)
        written += 1
    session.flush()
    return written


def _new(site: Any, title: str, found: datetime, rng: random.Random, **values: Any) -> HiddenHazard:
    return HiddenHazard(
        site_id=site.id,
        title=title,
        found_by=rng.choice(["self_check", "self_check", "self_check", "inspection", "inspection", "public"]),
        reported_by=ACTOR,
        found_at=found,
        updated_at=found,
        **values,
    )


def _walk(session: Session, h: HiddenHazard, steps: list[tuple[str, str, datetime, dict[str, Any]]]) -> None:
    """The hazard's events: its report, then each (event, state reached, when, detail)."""
    session.add(h)
    session.flush()
    previous: str | None = None
    for event, state, at, detail in [("reported", State.reported, h.found_at, {}), *steps]:
        session.add(
            HazardEvent(
                hazard_id=h.id,
                site_id=h.site_id,
                event=event,
                from_state=previous,
                to_state=state,
                actor=ACTOR,
                at=at,
                detail=detail,
            )
        )
        previous = state


def _rectification(h: HiddenHazard, rng: random.Random, found: datetime, deadline: datetime) -> dict[str, Any]:
    h.measures = rng.choice(MEASURES)
    h.funds_yuan = float(rng.choice([2000, 5000, 12000, 30000, 80000]))
    h.responsible = rng.choice(PEOPLE)
    h.deadline = deadline
    return {"measures": h.measures, "funds_yuan": h.funds_yuan, "responsible": h.responsible}


def _general(session: Session, rng: random.Random, site: Any, found: datetime, now: datetime) -> None:
    h = _new(site, rng.choice(GENERAL[site.kind]), found, rng, major=False)
    deadline = found + timedelta(days=rng.choice([7, 15, 30]))
    plan = _rectification(h, rng, found, deadline)
    t = [found + (deadline - found) * f for f in (0.05, 0.1, 0.15, 0.7, 0.8)]
    steps = ["confirmed", "planned", "started", "submitted", "accepted"]
    if deadline < now and rng.random() < 0.88:  # closed on time
        h.rectified_at, h.submitted_at = t[4], t[3]
    elif deadline < now:  # overdue, stuck before its submission
        steps = steps[: rng.choice([2, 3])]
        h.overdue_at = deadline + timedelta(minutes=1)
    else:  # still within its deadline
        steps = steps[: rng.choice([0, 1, 2, 3])]
    states = {"confirmed": State.confirmed, "planned": State.planned, "started": State.rectifying}
    states |= {"submitted": State.submitted, "accepted": State.closed}
    done = [(e, states[e], t[i], plan if e == "planned" else {}) for i, e in enumerate(steps) if t[i] <= now]
    h.state = done[-1][1] if done else State.reported
    _walk(session, h, done)
    if h.overdue_at is not None:
        session.add(
            HazardEvent(
                hazard_id=h.id,
                site_id=h.site_id,
                event="overdue",
                from_state=h.state,
                to_state=h.state,
                actor="platform:hazards",
                at=h.overdue_at,
                detail={"deadline": deadline.isoformat()},
            )
        )


def _major(
    session: Session, rng: random.Random, n: int, site: Any, found: datetime, now: datetime, accepted: bool
) -> None:
    item = rng.choice(criteria.for_site(site.kind, site.mining_method))
    h = _new(site, item.text[:120], found, rng, major=True, criterion=item.key)
    h.found_by = "inspection"
    level = criteria.supervision_level(site.kind, site.region_adcode, None)
    org = bureau(session, site.region_adcode, level)
    supervised = found + timedelta(days=2)
    deadline = found + timedelta(days=90)
    h.supervised_at, h.supervising_org_id = supervised, org.id
    h.order_no = f"{org.name[:2]}安督〔{found.year}〕{n % 97 + 1}号"
    plan = _rectification(h, rng, found, deadline)
    order = {"order_no": h.order_no, "supervising_org": org.name, "level": level, "deadline": deadline.isoformat()}
    steps = [
        ("confirmed", State.confirmed, found + timedelta(days=1), {"major": True, "criterion": item.key}),
        ("supervised", State.confirmed, supervised, order),
        ("planned", State.planned, found + timedelta(days=5), plan),
        ("started", State.rectifying, found + timedelta(days=6), {}),
    ]
    submitted = found + timedelta(days=70)
    if accepted:  # accepted on site by the supervising authority
        h.submitted_at, h.review_deadline = submitted, submitted + timedelta(days=10)
        h.inspectors, h.accepted_on = rng.choice(INSPECTORS), submitted + timedelta(days=4)
        h.rectified_at, h.state = h.accepted_on, State.closed
        steps += [
            ("submitted", State.submitted, submitted, {"review_deadline": h.review_deadline.isoformat()}),
            ("accepted", State.closed, h.accepted_on, {"inspectors": h.inspectors}),
        ]
    else:
        h.state = State.rectifying
    _walk(session, h, [s for s in steps if s[2] <= now])
