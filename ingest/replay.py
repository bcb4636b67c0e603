"""Replaying dead letters after an operator fixed their cause (a gateway registered late, a
sensor's unit corrected): each goes through the same validation and storage as live traffic,
in one transaction with the marks that it was replayed, so a reading is stored exactly once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.core.audit import record
from backend.core.config import IngestSettings
from backend.models import DeadLetter
from ingest.batch import BatchWriter, Message

# Rejections that a change of the register or of a setting can cure; malformed input cannot be.
REPLAYABLE = (
    "unknown_gateway",
    "unknown_sensor",
    "foreign_sensor",
    "unit_mismatch",
    "ts_too_old",
    "ts_in_future",
    "bad_ack",
    "ingest_error",
)


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
        .where(DeadLetter.replayed_at.is_(None), DeadLetter.reason.in_(REPLAYABLE))
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
    messages = [_message(d) for d in complete]
    prep = writer.validate(messages, now)
    prep.dead.clear()  # the originals stay; they are marked below instead of copied
    outcome = writer.write(session, prep, now)
    refused = {m.mid: r.reason for m, r in outcome.rejected}
    for d in complete:
        if d.id in refused:
            d.replay_result = refused[d.id]
            report.still_rejected[refused[d.id]] = report.still_rejected.get(refused[d.id], 0) + 1
        else:
            report.stored += 1
    stored_ids = [d.id for d in complete if d.id not in refused]
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
