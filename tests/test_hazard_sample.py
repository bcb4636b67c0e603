"""The sample hidden hazards: a year of them, most 一般 and closed on time, some overdue, a few 重大
under 挂牌督办; loading twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.hazards import criteria, lifecycle, sample
from backend.models import HazardEvent, HiddenHazard


def test_a_year_of_sample_hazards_shows_the_whole_loop(session: Session) -> None:
    now = datetime.now(UTC)
    written = sample.load(session, now)
    assert written == 320 and sample.load(session, now) == 0
    rows = session.scalars(select(HiddenHazard).where(HiddenHazard.reported_by == sample.ACTOR)).all()
    general = [h for h in rows if not h.major]
    closed = [h for h in general if h.state == "closed"]
    assert len(closed) > len(general) / 2
    assert all(h.rectified_at <= h.deadline for h in closed)  # type: ignore[operator]
    overdue = [h for h in rows if lifecycle.overdue(h, now)]
    assert 5 <= len(overdue) < len(rows) / 4
    majors = [h for h in rows if h.major]
    assert len(majors) == 8 and all(h.supervised_at and h.supervising_org_id for h in majors)
    assert all(criteria.item(h.criterion or "") for h in majors)
    assert 2 <= sum(h.state != "closed" for h in majors) <= 3
    assert all(h.inspectors and h.accepted_on for h in majors if h.state == "closed")
    assert min(h.found_at for h in rows) > now - timedelta(days=366)
    # every hazard's events end in its state
    grouped = select(HazardEvent.hazard_id, func.max(HazardEvent.id)).group_by(HazardEvent.hazard_id)
    last = {hazard: event for hazard, event in session.execute(grouped)}
    ends = {
        e.hazard_id: e.to_state for e in session.scalars(select(HazardEvent).where(HazardEvent.id.in_(last.values())))
    }
    assert all(ends[h.id] == h.state for h in rows)
    session.rollback()
