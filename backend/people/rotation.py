"""A bureau's duty rotation repeated forward, so that a roster imported once (the sample's 31 days)
still has someone on duty next month: each bureau's shifts are repeated, period after period,
until they reach a given instant. Written as the importer writes shifts (audited rows)."""

from __future__ import annotations

from datetime import datetime
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import DutyShift


def _rotation(shifts: list[DutyShift]) -> list[DutyShift]:
    """The roster's last unbroken run of shifts (each starting before the next one ends): an
    older shift separated by a gap (a one-off cover weeks ago) is not part of the rotation."""
    run = [shifts[-1]]
    start = shifts[-1].starts_at
    for s in reversed(shifts[:-1]):
        if s.ends_at < start:
            break
        run.append(s)
        start = min(start, s.starts_at)
    return sorted(run, key=lambda s: s.starts_at)


def repeat_rotation(session: Session, until: datetime) -> int:
    """Repeat each bureau's rotation (its last unbroken run of shifts, from the first one's start
    to the last one's end) until its roster reaches `until`; the number of shifts added."""
    shifts = session.scalars(select(DutyShift).order_by(DutyShift.org_id, DutyShift.ends_at)).all()
    added = 0
    for _, group in groupby(shifts, key=lambda s: s.org_id):
        rotation = _rotation(list(group))
        start, end = rotation[0].starts_at, max(s.ends_at for s in rotation)
        period = end - start
        if period.total_seconds() <= 0:
            continue
        offset = period
        while end < until:
            for s in rotation:
                session.add(
                    DutyShift(
                        org_id=s.org_id,
                        region_adcode=s.region_adcode,
                        name=s.name,
                        mobile=s.mobile,
                        landline=s.landline,
                        starts_at=s.starts_at + offset,
                        ends_at=s.ends_at + offset,
                    )
                )
                added += 1
            end += period
            offset += period
    session.flush()
    return added
