"""Replaying dead letters after an operator fixed their cause (a gateway registered late, a
sensor's unit corrected): each goes through the same validation and storage as live traffic,
in one transaction with the marks that it was replayed, so a reading is stored exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.core.audit import record
from backend.core.config import IngestSettings
from backend.models import DeadLetter
from ingest.batch import BatchWriter, Message, describe_error, refuses_data
from ingest.payload import Reason

REPLAYABLE = tuple(sorted(Reason.REPLAYABLE))
log = logging.getLogger("riskmap.ingest.replay")


@dataclass(frozen=True)
class ReplayFilter:
    reason: str | None = None
    gateway_id: str | None = None
    since: datetime | None = None
    ids: tuple[int, ...] = ()
    limit: int = 1000


@dataclass
class ReplayReport:
    selected: int = 0
    stored: int = 0  # dead letters now stored (each with its readings, acks or status)
    still_rejected: dict[str, int] = field(default_factory=dict)
    not_replayable: int = 0  # cut short when kept: the whole message is no longer there


def _message(dl: DeadLetter) -> Message:
    # A reading refused on its own was kept alone: put it back in a message of the contract.
    payload = b'{"readings": [' + dl.payload + b"]}" if dl.reading_index is not None else dl.payload
    return Message(dl.topic, payload, mid=dl.id)


def replay(session: Session, flt: ReplayFilter, now: datetime, settings: IngestSettings | None = None) -> ReplayReport:
    """Replay the matching dead letters not yet replayed, in the caller's transaction."""
    query = (
        select(DeadLetter)
        .where(
            DeadLetter.replayed_at.is_(None),
            DeadLetter.reason.in_(REPLAYABLE),
            DeadLetter.replay_result.is_distinct_from("truncated"),
        )
        .order_by(DeadLetter.id)
        .limit(flt.limit)
        .with_for_update(skip_locked=True)
    )
    if flt.reason:
        query = query.where(DeadLetter.reason == flt.reason)
    if flt.gateway_id:
        query = query.where(DeadLetter.gateway_id == flt.gateway_id)
    if flt.since:
        query = query.where(DeadLetter.received_at >= flt.since)
    if flt.ids:
        query = query.where(DeadLetter.id.in_(flt.ids))
    letters = list(session.scalars(query))
    report = ReplayReport(selected=len(letters))
    complete = [d for d in letters if d.payload_size is None or len(d.payload) >= d.payload_size]
    report.not_replayable = len(letters) - len(complete)
    for d in letters:
        if d not in complete:
            d.replay_result = "truncated"
    writer = BatchWriter(session.get_bind(), settings or IngestSettings(), "replay")  # type: ignore[arg-type]
    stored_ids: list[int] = []
    for d in complete:
        # One at a time, each in a savepoint: a letter the database still refuses costs only itself.
        try:
            with session.begin_nested():
                prep = writer.validate([_message(d)], now)
                outcome = writer.write(session, prep, now, keep_rejects=False)
        except Exception as exc:
            if not refuses_data(exc):
                raise
            log.warning("dead letter %d still refused: %s", d.id, describe_error(exc))
            outcome = None
        if outcome is None:
            result = Reason.POISON
        elif outcome.rejected:
            result = outcome.rejected[0][1].reason
        else:
            stored_ids.append(d.id)
            report.stored += 1
            continue
        d.replay_result = result
        report.still_rejected[result] = report.still_rejected.get(result, 0) + 1
    if stored_ids:
        session.execute(
            update(DeadLetter).where(DeadLetter.id.in_(stored_ids)).values(replayed_at=now, replay_result="stored")
        )
    record(
        session,
        "replay",
        "dead_letters",
        ",".join(map(str, stored_ids))[:200] or "-",
        {
            "filter": {k: (str(v) if v is not None else None) for k, v in vars(flt).items() if k != "ids"},
            "ids": [d.id for d in letters],
            "stored": report.stored,
            "still_rejected": report.still_rejected,
            "not_replayable": report.not_replayable,
        },
    )
    return report
