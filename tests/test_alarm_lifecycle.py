"""The alarm lifecycle in one module (backend/alarms/lifecycle.py): the ingester's transitions
and the operator's go through it, each with its event row; a rain gauge's alarm in the flood
season reaches the warnings as a fact the delivery worker reacts to after the batch commits (not
inside it). The gauge tests commit and clean up after themselves; the others roll back."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.alarms import lifecycle
from backend.domain import alarm_rules as rules
from backend.domain.states import BroadcastState
from backend.models import FACT_KIND, Alarm, AlarmEvent, AuditEntry, Broadcast, OutboxMessage, Recipient
from backend.warnings import intake
from backend.warnings.intake import GAUGE_ACTOR
from backend.warnings.issue import cancel
from ingest.alarms import AlarmWriter, Subject
from tests.support.wait import wait_until

SUMMER = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)  # in the flood season
WINTER = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def rain_gauge(session: Session, site: str) -> Subject:
    site_id, sensor_id = session.execute(
        text(
            "SELECT s.id, se.id FROM sensors se JOIN sites s ON s.id = se.site_id "
            "WHERE s.code = :c AND se.kind = 'rainfall' ORDER BY se.id LIMIT 1"
        ),
        {"c": site},
    ).one()
    return Subject(f"sensor:{sensor_id}", site_id, sensor_id)


def gauge_broadcasts(session: Session, site_id: int) -> list[Broadcast]:
    return list(
        session.scalars(
            select(Broadcast)
            .join(Recipient, Recipient.broadcast_id == Broadcast.id)
            .where(Recipient.site_id == site_id, Broadcast.issued_by == GAUGE_ACTOR)
            # This test's own instants: other tests' gauge broadcasts at the same site do not count.
            .where(
                Broadcast.sent.in_([SUMMER, SUMMER + timedelta(minutes=1), SUMMER + timedelta(minutes=5), WINTER]),
                Broadcast.msg_type != "Cancel",
                Broadcast.state == BroadcastState.active,  # earlier tests' are cancelled
            )
        )
    )


def events_of(session: Session, alarm_id: int) -> list[tuple[str, str, str, str]]:
    return [
        tuple(r)
        for r in session.execute(
            select(AlarmEvent.event, AlarmEvent.state, AlarmEvent.color, AlarmEvent.actor)
            .where(AlarmEvent.alarm_id == alarm_id)
            .order_by(AlarmEvent.id)
        )
    ]


def fact_of(session: Session, alarm_id: int) -> list[OutboxMessage]:
    """The facts the lifecycle recorded for the warning side about this alarm."""
    session.expire_all()
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == FACT_KIND, OutboxMessage.target == f"alarm:{alarm_id}")
            .order_by(OutboxMessage.id)
        )
    )


def committed_broadcasts(session: Session, site_id: int) -> list[Broadcast]:
    session.expire_all()
    return gauge_broadcasts(session, site_id)


def clean_up(session: Session, gauge: Subject, at: datetime) -> None:
    """This test's gauge alarm cleared and its broadcasts cancelled, for the tests after it."""
    session.rollback()
    writer = AlarmWriter(session, at)
    writer.load_open([f"{gauge.key_prefix}:rain"])
    writer.apply(gauge, "rain", rules.Decision(None, 0.0, None))
    session.commit()
    for b in committed_broadcasts(session, gauge.site_id):
        if b.state == BroadcastState.active:
            cancel(session, b, at, GAUGE_ACTOR)
    session.commit()


@pytest.mark.usefixtures("delivery_worker")
def test_a_rain_gauge_past_orange_in_season_broadcasts_after_the_batch_commits(session: Session) -> None:
    gauge = rain_gauge(session, "JL-TSF-0006")
    session.info["actor"] = "test:ingest"
    try:
        writer = AlarmWriter(session, SUMMER)
        writer.apply(gauge, "rain", rules.Decision("orange", 60.0, 50.0), "暴雨量")
        assert [(c["event"], c["color"], c["kind"]) for c in writer.events] == [("raised", "orange", "rain")]
        writer.finish()
        alarm_id = writer.events[0]["id"]
        # The batch records the fact; the warning side reacts only once it has committed.
        assert [(f.event, f.delivered_at) for f in fact_of(session, alarm_id)] == [("raised", None)]
        assert gauge_broadcasts(session, gauge.site_id) == []
        session.commit()
        [b] = wait_until(lambda: committed_broadcasts(session, gauge.site_id))
        assert (b.rule, b.action, b.color, b.sent) == ("gauge_evacuate", "evacuate", "orange", SUMMER)
        assert events_of(session, alarm_id) == [("raised", "raised", "orange", "system")]
        # Falling back to yellow moves the alarm but calls for no second broadcast.
        later = AlarmWriter(session, SUMMER + timedelta(minutes=5))
        later.load_open([f"{gauge.key_prefix}:rain"])
        later.apply(gauge, "rain", rules.Decision("yellow", 40.0, 30.0), "暴雨量")
        later.finish()
        session.commit()
        assert [c["event"] for c in later.events] == ["deescalated"]
        wait_until(lambda: all(f.delivered_at for f in fact_of(session, alarm_id)))
        assert len(committed_broadcasts(session, gauge.site_id)) == 1
    finally:
        clean_up(session, gauge, SUMMER + timedelta(minutes=10))


@pytest.mark.usefixtures("delivery_worker")
def test_a_rain_gauge_out_of_season_raises_the_alarm_and_broadcasts_nothing(session: Session) -> None:
    gauge = rain_gauge(session, "JL-TSF-0006")
    session.info["actor"] = "test:ingest"
    try:
        writer = AlarmWriter(session, WINTER)
        writer.apply(gauge, "rain", rules.Decision("red", 120.0, 100.0), "暴雨量")
        writer.finish()
        session.commit()
        assert [c["event"] for c in writer.events] == ["raised"]
        wait_until(lambda: all(f.delivered_at for f in fact_of(session, writer.events[0]["id"])))
        assert committed_broadcasts(session, gauge.site_id) == []
    finally:
        clean_up(session, gauge, WINTER + timedelta(minutes=10))


@pytest.mark.usefixtures("delivery_worker")
def test_a_failing_warning_side_never_rolls_back_the_batch_and_is_retried(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    gauge = rain_gauge(session, "JL-TSF-0006")
    session.info["actor"] = "test:ingest"

    def broken(*args: object) -> None:
        raise RuntimeError("warning side down")

    monkeypatch.setattr(intake, "on_alarm_changes", broken)
    try:
        writer = AlarmWriter(session, SUMMER + timedelta(minutes=1))
        writer.apply(gauge, "rain", rules.Decision("red", 120.0, 100.0), "暴雨量")
        writer.finish()
        session.commit()  # the batch commits whatever the warning side will do
        alarm_id = writer.events[0]["id"]
        [failed] = wait_until(lambda: [f for f in fact_of(session, alarm_id) if f.attempts >= 1])
        assert failed.delivered_at is None and "warning side down" in (failed.last_error or "")
        assert session.scalar(select(Alarm.state).where(Alarm.id == alarm_id)) == "raised"
        assert committed_broadcasts(session, gauge.site_id) == []
        monkeypatch.undo()  # back up: the next attempt reacts
        [b] = wait_until(lambda: committed_broadcasts(session, gauge.site_id), timeout=15)
        assert (b.color, b.sent) == ("red", SUMMER + timedelta(minutes=1))
    finally:
        clean_up(session, gauge, SUMMER + timedelta(minutes=10))


def test_operator_transitions_share_the_events_and_refuse_a_wrong_state(session: Session) -> None:
    gauge = rain_gauge(session, "JL-TSF-0040")
    session.info["actor"] = "test:operator"
    try:
        writer = AlarmWriter(session, WINTER)
        writer.apply(gauge, "threshold", rules.Decision("yellow", 1.0, 0.5), "test")
        alarm_id = writer.events[0]["id"]
        with pytest.raises(lifecycle.AlarmStateError, match="is raised; cannot closed it"):
            lifecycle.close(session, alarm_id, "test:operator", "")
        change = lifecycle.acknowledge(session, alarm_id, "test:operator", "operator", "已电话核实")
        assert (change["event"], change["state"]) == ("acknowledged", "acknowledged")
        cleared = AlarmWriter(session, WINTER + timedelta(minutes=1))
        cleared.apply(gauge, "threshold", rules.Decision(None, 0.1, None))
        lifecycle.close(session, alarm_id, "test:operator", "")
        assert [(e, s) for e, s, _, _ in events_of(session, alarm_id)] == [
            ("raised", "raised"),
            ("acknowledged", "acknowledged"),
            ("cleared", "cleared"),
            ("closed", "closed"),
        ]
        assert [a for _, _, _, a in events_of(session, alarm_id)] == [
            "system",
            "test:operator",
            "system",
            "test:operator",
        ]
        comment = session.scalar(
            select(AlarmEvent.comment).where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.event == "acknowledged")
        )
        assert comment == "已电话核实"
        audited = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "alarms", AuditEntry.entity_key == str(alarm_id))
        ).all()
        assert sorted(audited) == ["acknowledged", "closed"]
        with pytest.raises(lifecycle.AlarmNotFound):
            lifecycle.acknowledge(session, 2_000_000_000, "test:operator", "operator", "")
    finally:
        session.rollback()
