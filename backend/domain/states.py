"""The closed sets of colours and workflow states, as stored: a StrEnum equals its string, so the
database values and the JSON answers stay what they were."""

from __future__ import annotations

from enum import StrEnum


class Colour(StrEnum):
    """The four warning colours, least severe first (risk levels 4..1, alarms, CAP signals)."""

    blue = "blue"
    yellow = "yellow"
    orange = "orange"
    red = "red"

    @property
    def rank(self) -> int:
        """0 for blue up to 3 for red: the order in which one colour is worse than another."""
        return list(Colour).index(self)


class AlarmState(StrEnum):
    """alarms.state: raised -> acknowledged -> cleared -> closed (a clear may come before an ack)."""

    raised = "raised"
    acknowledged = "acknowledged"
    cleared = "cleared"
    closed = "closed"


OPEN_ALARM_STATES: tuple[AlarmState, ...] = (AlarmState.raised, AlarmState.acknowledged)


class BroadcastState(StrEnum):
    """broadcasts.state."""

    active = "active"
    superseded = "superseded"
    cancelled = "cancelled"
    expired = "expired"


class RecipientStatus(StrEnum):
    """broadcast_recipients.status: the 叫应 answer of one site."""

    waiting = "waiting"
    acknowledged = "acknowledged"
    evacuated = "evacuated"
    overdue = "overdue"
