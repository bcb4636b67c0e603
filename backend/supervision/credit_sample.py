"""Sample credit-list entries consistent with the sample register, so that the demo's public page
(/credit-lists) shows both lists and a history.

Every enterprise the register lists (enterprises.csv: credit_list black or red) gets the entry that
puts it there, with a reason, a decision document and dates; a few enterprises that are on no list
get a past entry (期满 or 移出) for the 历史 section. Reproducible (a fixed seed, dates relative to
the day it is loaded) and written once: loading twice changes nothing.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from backend.models import CreditListEntry, Enterprise, Organisation
from backend.supervision.credit import EXPIRED_REASON, derive, today_of

ACTOR = "sample:credit"
BASIS_BLACK = "吉政发〔2018〕26号 九；《安全生产严重失信主体名单管理办法》（应急管理部令第11号）"
BASIS_RED = "吉政发〔2018〕26号 九（守信激励）"
BLACK_REASONS = [
    "发生较大生产安全事故，负有责任",
    "重大事故隐患逾期未整改",
    "重大事故隐患逾期未整改，责令停产整顿后擅自恢复生产",
    "瞒报生产安全事故",
    "拒不执行安全监管指令，超能力组织生产",
]
RED_REASONS = [
    "安全生产标准化一级企业",
    "安全生产标准化一级企业，连续三年未发生生产安全事故",
    "安全生产标准化二级企业，连续五年未发生生产安全事故",
]
BLACK_YEARS = 3  # the period of a 黑名单 entry in the sample
RED_YEARS = 3


def loaded(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(CreditListEntry.created_by == ACTOR))))


def _bureau(session: Session, county: str) -> Organisation:
    for code in (county, county[:4] + "00", county[:2] + "0000"):
        org = session.scalar(select(Organisation).where(Organisation.kind == "bureau", Organisation.code == code))
        if org is not None:
            return org
    raise LookupError(f"no bureau over {county}")


def _years(day: date, years: int) -> date:
    return day + timedelta(days=365 * years)


def load(session: Session, now: datetime, history: int = 4) -> int:
    """Write the sample entries (none if they are already there); returns how many were written."""
    if loaded(session):
        return 0
    rng = random.Random(2026)
    today = today_of(now)
    firms = list(session.scalars(select(Enterprise).order_by(Enterprise.credit_code)))
    listed = [e for e in firms if e.credit_list in ("black", "red")]
    unlisted = [e for e in firms if e.credit_list == "none"]
    numbers: dict[tuple[str, int], int] = {}
    entries: list[CreditListEntry] = []

    def entry(e: Enterprise, list_: str, reason: str, listed_on: date, valid_until: date | None) -> CreditListEntry:
        org = _bureau(session, e.region_adcode)
        n = numbers[(org.code, listed_on.year)] = numbers.get((org.code, listed_on.year), 0) + 1
        kind = "失信" if list_ == "black" else "守信"
        made = CreditListEntry(
            enterprise_id=e.id,
            region_adcode=e.region_adcode,
            credit_code=e.credit_code,
            enterprise_name=e.name,
            list=list_,
            reason=reason,
            basis=BASIS_BLACK if list_ == "black" else BASIS_RED,
            document_no=f"{org.name}{kind}〔{listed_on.year}〕{n}号",
            org_id=org.id,
            decided_by=org.name,
            listed_on=listed_on,
            valid_until=valid_until,
            created_by=ACTOR,
        )
        entries.append(made)
        return made

    for e in listed:  # in force today: listed within the last 20 months, for three years
        listed_on = today - timedelta(days=rng.randint(20, 600))
        if e.credit_list == "black":
            entry(e, "black", rng.choice(BLACK_REASONS), listed_on, _years(listed_on, BLACK_YEARS))
        else:
            open_ended = rng.random() < 0.3
            entry(e, "red", rng.choice(RED_REASONS), listed_on, None if open_ended else _years(listed_on, RED_YEARS))

    past = rng.sample(unlisted, min(history, len(unlisted)))
    for k, e in enumerate(sorted(past, key=lambda e: e.credit_code)):
        if k % 4 in (0, 1):  # a 黑名单 period served in full
            listed_on = today - timedelta(days=rng.randint(1300, 1700))
            made = entry(e, "black", rng.choice(BLACK_REASONS), listed_on, _years(listed_on, BLACK_YEARS))
            assert made.valid_until is not None
            made.removed_on = made.valid_until + timedelta(days=1)
            made.removal_reason, made.ended = EXPIRED_REASON, "expired"
        elif k % 4 == 2:  # removed early after the hazards were rectified (信用修复)
            listed_on = today - timedelta(days=rng.randint(400, 700))
            made = entry(e, "black", "重大事故隐患逾期未整改", listed_on, _years(listed_on, BLACK_YEARS))
            made.removed_on = listed_on + timedelta(days=rng.randint(200, 360))
            made.removal_reason, made.ended = "隐患整改完成，经复查验收，准予信用修复，提前移出", "removed"
        else:  # a 红名单 entry withdrawn after an accident
            listed_on = today - timedelta(days=rng.randint(500, 900))
            made = entry(e, "red", RED_REASONS[0], listed_on, _years(listed_on, RED_YEARS))
            made.removed_on = listed_on + timedelta(days=rng.randint(100, 400))
            made.removal_reason, made.ended = "发生一般生产安全事故，撤销红名单", "removed"
        made.removed_by = ACTOR
    session.add_all(entries)
    session.flush()
    for e in listed + past:
        derive(session, e.id, today)
    return len(entries)
