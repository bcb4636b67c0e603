"""A bureau's duty rotation repeated forward, so that a roster imported once (the sample's 31 days)
still has someone on duty next month: the shifts of one cycle are repeated, cycle after cycle,
until they reach a given instant. Written as the importer writes shifts (audited rows)."""

from __future__ import annotations

from datetime import datetime
from itertools import groupby

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.models import DutyShift


def repeat_rotation(session: Session, start: datetime, end: datetime, until: datetime) -> int:
    """Repeat each bureau's shifts of the cycle [start, end) every (end - start) until its roster
    reaches `until`; the number of shifts added. Only bureaus with shifts in that cycle are
    extended, each from where its roster now ends (a second call adds nothing, a later one only
    the cycles still missing): the cycle stays the one given, however far the roster reaches."""
    period = end - start
    if period.total_seconds() <= 0:
        raise ValueError("a rotation's cycle ends after it starts")
    cycle = session.scalars(
        select(DutyShift)
        .where(DutyShift.starts_at >= start, DutyShift.ends_at <= end)
        .order_by(DutyShift.org_id, DutyShift.starts_at)
    ).all()
    # where each bureau's roster ends now: one query, not one per bureau
    ends = dict(session.execute(select(DutyShift.org_id, func.max(DutyShift.ends_at)).group_by(DutyShift.org_id)).all())
    added = 0
    for org_id, group in groupby(cycle, key=lambda s: s.org_id):
        rotation = list(group)
        reached = ends[org_id]  # the bureau has shifts in the cycle, so it has an end
        k = 1 + (reached - end) // period if reached > end else 1
        while start + k * period < until:
            for s in rotation:
                session.add(
                    DutyShift(
                        org_id=s.org_id,
                        region_adcode=s.region_adcode,
                        name=s.name,
                        mobile=s.mobile,
                        landline=s.landline,
                        starts_at=s.starts_at + k * period,
                        ends_at=s.ends_at + k * period,
                    )
                )
                added += 1
            k += 1
    session.flush()
    return added
