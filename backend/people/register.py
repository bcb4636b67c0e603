"""Who must be reached: the responsible people of a site, the duty officer of a regulator at an
instant, and who may see their phone numbers in full.

The register is read here and nowhere else, so 叫应 (backend/warnings) and alarm escalation
(backend/alarms/escalation.py) reach the same people the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.core.principal import Perm, Principal, Scope
from backend.domain.phones import mask
from backend.models import DutyShift, Organisation


class Duty(StrEnum):
    """What a person answers for: the enterprise's or the site's 主要负责人 / 安全负责人, or one of the
    three 包保责任人 of a major-hazard unit (《危险化学品企业重大危险源安全包保责任制办法》)."""

    principal = "principal"  # 主要负责人
    safety = "safety"  # 安全负责人
    unit_principal = "unit_principal"  # 包保 主要负责人
    unit_technical = "unit_technical"  # 包保 技术负责人
    unit_operator = "unit_operator"  # 包保 操作负责人


DUTY_ZH: dict[Duty, str] = {
    Duty.principal: "主要负责人",
    Duty.safety: "安全负责人",
    Duty.unit_principal: "包保主要负责人",
    Duty.unit_technical: "包保技术负责人",
    Duty.unit_operator: "包保操作负责人",
}
UNIT_DUTIES = frozenset({Duty.unit_principal, Duty.unit_technical, Duty.unit_operator})
# Whom a 叫应 reaches at a site: its (else its enterprise's) 主要负责人 and 安全负责人, and at a
# chemical site the 包保 主要负责人 of its units.
WARNED_DUTIES = (Duty.principal, Duty.safety, Duty.unit_principal)


@dataclass(frozen=True)
class Contact:
    """A person to reach, as a message needs them."""

    person_id: int | None
    duty_shift_id: int | None
    duty: str
    name: str
    mobile: str


def may_see_phones(caller: Principal | None, enterprise_id: int | None, region_adcode: str) -> bool:
    """Whether `caller` sees the phone numbers of a row of this enterprise (None: a regulator's roster)
    and region in full: regulators, duty officers and administrators of the jurisdiction, and the
    person's own enterprise. Viewers, other enterprises and the public see them masked."""
    if caller is None:
        return False
    if caller.scope == Scope.enterprise:
        return enterprise_id is not None and caller.enterprise_id == enterprise_id
    if not (caller.can(Perm.duty) or caller.can(Perm.admin)):
        return False
    if caller.scope == Scope.all:
        return True
    return caller.scope == Scope.region and bool(caller.region) and region_adcode.startswith(caller.region)


def shown(phone: str | None, full: bool) -> str | None:
    """The one place a phone number is masked for display (138****1234)."""
    return phone if full else mask(phone)


def responsible_people(session: Session, site_ids: list[int]) -> dict[int, list[Contact]]:
    """For each site, whom a 叫应 reaches: the site's own 主要负责人 / 安全负责人, or its enterprise's
    when the site has none of that duty, and the 包保 主要负责人 of each of its units; one contact per
    mobile number."""
    if not site_ids:
        return {}
    rows = session.execute(
        text(
            """
            SELECT s.id AS site_id, p.id, p.duty, p.name, p.mobile,
                   (p.site_id IS NOT NULL) AS own
              FROM sites s
              JOIN people p ON p.enterprise_id = s.enterprise_id
               AND (p.site_id = s.id OR p.site_id IS NULL)
             WHERE s.id = ANY(:ids) AND p.duty = ANY(:duties)
               AND (p.hazard_unit_id IS NULL OR p.duty = 'unit_principal')
             ORDER BY s.id, p.site_id NULLS LAST, p.id
            """
        ),
        {"ids": site_ids, "duties": [str(d) for d in WARNED_DUTIES]},
    ).all()
    out: dict[int, list[Contact]] = {i: [] for i in site_ids}
    own: dict[int, set[str]] = {}
    for r in rows:
        if not r.own and r.duty in own.get(r.site_id, set()):
            continue  # the site's own 主要负责人 stands in for the enterprise's
        if r.own:
            own.setdefault(r.site_id, set()).add(r.duty)
        if any(c.mobile == r.mobile for c in out[r.site_id]):
            continue
        out[r.site_id].append(Contact(r.id, None, r.duty, r.name, r.mobile))
    return out


def on_duty(session: Session, org_id: int, at: datetime) -> DutyShift | None:
    """Who is on duty for organisation `org_id` at instant `at` (a shift holds from its start,
    inclusive, to its end, exclusive; shifts of one organisation never overlap)."""
    return session.scalar(
        select(DutyShift)
        .where(DutyShift.org_id == org_id, DutyShift.starts_at <= at, DutyShift.ends_at > at)
        .order_by(DutyShift.starts_at.desc())
        .limit(1)
    )


def bureau(session: Session, adcode: str) -> Organisation | None:
    """The 应急管理局 of a region (one per region of the register, migration 0010)."""
    return session.scalar(select(Organisation).where(Organisation.kind == "bureau", Organisation.code == adcode))


def duty_officer(session: Session, adcode: str, at: datetime) -> tuple[Organisation | None, Contact | None]:
    """The bureau of region `adcode` and its duty officer at `at` (None when the roster has nobody)."""
    org = bureau(session, adcode)
    if org is None:
        return None, None
    shift = on_duty(session, org.id, at)
    if shift is None:
        return org, None
    return org, Contact(None, shift.id, "duty_officer", shift.name, shift.mobile)
