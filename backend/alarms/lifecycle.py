"""Every alarm transition, its event and its notification, in one place.

raised → (escalated | deescalated)* → cleared → closed, with acknowledged possible while open:
the ingester raises, moves and clears alarms from readings; an operator acknowledges and closes
them over HTTP. Each transition updates `alarms`, appends to `alarm_events`, and is announced on
PostgreSQL's `riskmap_alarms` channel (delivered when the transaction commits); `settle` then
regrades the sites whose alarms changed and records a rain gauge's alarm changes as facts in the
outbox, to which the flood-season warnings react after the commit (`riskmap deliver`), never
inside the transaction that stores the readings.

One open alarm per key (sensor and condition, site and condition, or gateway) is guaranteed by
the partial unique index on alarms(key): an insert that meets an open alarm updates it instead,
so two readings at once, or two ingesters, never open two.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, String, any_, bindparam, case, func, insert, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from backend.core.audit import record
from backend.domain import alarm_rules as rules
from backend.domain.errors import Conflict, NotFound
from backend.domain.states import OPEN_ALARM_STATES, AlarmState
from backend.models import FACT_KIND, Alarm, AlarmEvent, OutboxMessage
from backend.risk.engine import regrade

CHANNEL = "riskmap_alarms"
OPEN = OPEN_ALARM_STATES
OPEN_PREDICATE = text("state IN ('raised', 'acknowledged')")
_RETURNED = (
    Alarm.id,
    Alarm.key,
    Alarm.site_id,
    Alarm.sensor_id,
    Alarm.gateway_id,
    Alarm.kind,
    Alarm.color,
    Alarm.state,
    Alarm.value,
    Alarm.threshold,
    Alarm.message,
)


class AlarmNotFound(NotFound):
    pass


class AlarmStateError(Conflict):
    """The transition is not allowed from the alarm's current state."""


@dataclass(frozen=True)
class Subject:
    """What an alarm is about."""

    key_prefix: str
    site_id: int
    sensor_id: int | None = None
    gateway_id: str | None = None


def _rank(color: Any) -> Any:
    return func.array_position(array(list(rules.ROLLUP_ORDER)), color)


# Built once: the ingester runs them for every transition it decides.
_excluded = pg_insert(Alarm).excluded
_RAISE = (
    pg_insert(Alarm)
    .values(
        key=bindparam("key"),
        site_id=bindparam("site"),
        sensor_id=bindparam("sensor"),
        gateway_id=bindparam("gateway"),
        kind=bindparam("kind"),
        color=bindparam("color"),
        state=AlarmState.raised,
        value=bindparam("value"),
        threshold=bindparam("threshold"),
        message=bindparam("message"),
        raised_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .on_conflict_do_update(
        index_elements=[Alarm.key],
        index_where=OPEN_PREDICATE,  # as written in the partial index, for PostgreSQL to match it
        set_={
            "color": _excluded.color,
            "value": _excluded.value,
            "threshold": _excluded.threshold,
            "message": _excluded.message,
            "updated_at": _excluded.updated_at,
            # an escalation needs acknowledging again
            "state": case((_rank(_excluded.color) > _rank(Alarm.color), AlarmState.raised), else_=Alarm.state),
        },
    )
    .returning(*_RETURNED, literal_column("(xmax = 0)").label("inserted"))
)
_CLEAR = (
    update(Alarm)
    .where(Alarm.key == bindparam("k"), Alarm.state.in_(OPEN))
    .values(state=AlarmState.cleared, cleared_at=bindparam("now"), updated_at=bindparam("now"), value=bindparam("v"))
    .returning(*_RETURNED)
)

_OPEN_COLORS = select(Alarm.key, Alarm.color).where(
    Alarm.state.in_(OPEN), Alarm.key == any_(bindparam("k", type_=ARRAY(String)))
)


def open_colors(session: Session, keys: Sequence[str]) -> dict[str, str]:
    """The colour of each open alarm among `keys`."""
    if not keys:
        return {}
    return {k: c for k, c in session.execute(_OPEN_COLORS, {"k": list(keys)})}


def raise_or_move(
    session: Session,
    subject: Subject,
    kind: str,
    decision: rules.Decision,
    message: str,
    now: datetime,
    previous: str | None,
) -> dict[str, Any]:
    """Raise the alarm, or move the open one to the decided colour (`previous`: its colour as
    the caller last knew it, None if it knew of none)."""
    assert decision.color is not None
    row = session.execute(
        _RAISE,
        {
            "key": f"{subject.key_prefix}:{kind}",
            "site": subject.site_id,
            "sensor": subject.sensor_id,
            "gateway": subject.gateway_id,
            "kind": kind,
            "color": decision.color,
            "value": decision.value,
            "threshold": decision.threshold,
            "message": message[:256],
            "now": now,
        },
    ).one()
    if row.inserted:
        event = "raised"
    elif previous is None or rules.ROLLUP_ORDER.index(decision.color) > rules.ROLLUP_ORDER.index(previous):
        event = "escalated"
    else:
        event = "deescalated"
    return _recorded(session, row, event, now)


def clear(session: Session, key: str, value: float | None, now: datetime) -> dict[str, Any] | None:
    """Clear the open alarm of this key; None when there is none."""
    row = session.execute(_CLEAR, {"k": key, "now": now, "v": value}).first()
    return _recorded(session, row, "cleared", now) if row is not None else None


def acknowledge(session: Session, alarm_id: int, actor: str, by: str, comment: str) -> dict[str, Any]:
    """An operator acknowledges a raised alarm: who, when and why are kept (and audited)."""
    return _operator(
        session,
        alarm_id,
        "acknowledged",
        (AlarmState.raised,),
        {
            "state": AlarmState.acknowledged,
            "acknowledged_at": func.now(),
            "acknowledged_by": by,
            "ack_comment": comment,
        },
        actor,
        comment,
    )


def close(session: Session, alarm_id: int, actor: str, comment: str) -> dict[str, Any]:
    """An operator closes a cleared alarm, ending its life (audited)."""
    return _operator(
        session,
        alarm_id,
        "closed",
        (AlarmState.cleared,),
        {"state": AlarmState.closed, "closed_at": func.now()},
        actor,
        comment,
    )


def _operator(
    session: Session,
    alarm_id: int,
    event: str,
    allowed: tuple[str, ...],
    values: dict[str, Any],
    actor: str,
    comment: str,
) -> dict[str, Any]:
    row = session.execute(
        update(Alarm)
        .where(Alarm.id == alarm_id, Alarm.state.in_(allowed))
        .values(**values, updated_at=func.now())
        .returning(*_RETURNED)
    ).first()
    if row is None:
        current = session.scalar(select(Alarm.state).where(Alarm.id == alarm_id))
        if current is None:
            raise AlarmNotFound(f"no alarm {alarm_id}")
        raise AlarmStateError(f"alarm {alarm_id} is {current}; cannot {event} it")
    change = _recorded(session, row, event, None, actor, comment or None)
    detail = {"key": row.key, "state": row.state, "comment": comment}
    record(session, event, "alarms", str(row.id), detail, site_id=row.site_id)
    settle(session, [change], datetime.now(UTC))
    return change


def _recorded(
    session: Session,
    row: Row[Any],
    event: str,
    at: datetime | None,
    actor: str | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    """The transition's event row and its notification; the change, as announced."""
    values: dict[str, Any] = {
        "alarm_id": row.id,
        "event": event,
        "state": row.state,
        "color": row.color,
        "value": row.value,
    }
    if at is not None:  # else the database's clock, as for the alarm row
        values["at"] = at
    if actor is not None:
        values |= {"actor": actor, "comment": comment}
    session.execute(insert(AlarmEvent).values(values))
    change = {
        "id": row.id,
        "key": row.key,
        "event": event,
        "site_id": row.site_id,
        "sensor_id": row.sensor_id,
        "gateway_id": row.gateway_id,
        "kind": row.kind,
        "color": row.color,
        "state": row.state,
        "value": row.value,
        "threshold": row.threshold,
        "message": row.message,
        "at": at.isoformat() if at else None,
    }
    session.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": json.dumps(change)})
    return change


def settle(session: Session, changes: Sequence[dict[str, Any]], now: datetime) -> None:
    """After a set of transitions, in their transaction: the sites whose alarms changed are
    regraded, and a rain gauge's changes are recorded as facts for the flood-season warnings."""
    sites = sorted({c["site_id"] for c in changes})
    if sites:
        regrade(session, sites, now)
    emit_facts(session, changes, now)


def emit_facts(session: Session, changes: Sequence[dict[str, Any]], now: datetime) -> None:
    """A rain gauge's alarm changes as outbox rows (kind FACT_KIND) in this transaction: the
    delivery worker hands each to the warning side once this commits (a broadcast to its site
    in the flood season), in a transaction of its own, so that a failure there can neither roll
    back nor delay the readings. `at` is the batch's clock, for the season."""
    facts = [c for c in changes if c["kind"] == "rain"]
    if facts:
        session.execute(
            insert(OutboxMessage),
            [
                {
                    "key": uuid.uuid4().hex,
                    "kind": FACT_KIND,
                    "target": f"alarm:{c['id']}",
                    "payload": json.dumps(c | {"at": now.isoformat()}).encode(),
                    "headers": {},
                    "event": c["event"],
                }
                for c in facts
            ],
        )
