"""A weather warning's Cancel (backend/warnings/intake.py): its broadcasts cancelled with a CAP
Cancel each, the warning marked, the area regraded. Rolls back."""

from datetime import UTC, datetime, timedelta

from shapely.geometry import MultiPolygon, box
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.models import Broadcast, WeatherWarning
from backend.warnings import intake

SUMMER = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)


def warning(identifier: str, area: MultiPolygon, msg_type: str = "Alert", references: list[str] | None = None):
    return intake.WarningIn(identifier, "orange", area, [], SUMMER, SUMMER + timedelta(hours=12), msg_type, references)


def test_a_weather_warning_cancel_cancels_its_broadcasts(session: Session) -> None:
    x, y = session.execute(text("SELECT ST_X(location), ST_Y(location) FROM sites WHERE code = 'JL-TSF-0034'")).one()
    area = MultiPolygon([box(x - 0.02, y - 0.02, x + 0.02, y + 0.02)])
    try:
        issued = intake.receive_warning(session, warning("TEST-CANCEL-1", area), SUMMER, "test")
        assert issued["rule"] and len(issued["broadcasts"]) == 1
        later = SUMMER + timedelta(hours=1)
        out = intake.receive_warning(
            session, warning("TEST-CANCEL-2", area, "Cancel", ["TEST-CANCEL-1"]), later, "test"
        )
        assert out["cancelled"] is True and out["warning"] == "TEST-CANCEL-1" and len(out["broadcasts"]) == 1
        original = session.get(Broadcast, issued["broadcasts"][0])
        cancel = session.get(Broadcast, out["broadcasts"][0])
        assert original is not None and original.state == "cancelled"
        assert cancel is not None and (cancel.msg_type, cancel.references_id) == ("Cancel", original.id)
        assert f"<identifier>{original.identifier}" not in cancel.cap_xml and original.identifier in cancel.cap_xml
        cancelled_at = session.scalar(
            select(WeatherWarning.cancelled_at).where(WeatherWarning.identifier == "TEST-CANCEL-1")
        )
        assert cancelled_at == later
    finally:
        session.rollback()
