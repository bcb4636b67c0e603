"""A weather service's rainstorm warning as CAP 1.2 XML, for the tests that feed one in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.domain import cap


def orange_rainstorm_cap(identifier: str, ring: list[tuple[float, float]], description: str = "测试") -> str:
    """An orange rainstorm Alert over one polygon, sent now, expiring in six hours."""
    now = datetime.now(UTC)
    return cap.build(
        cap.Alert(
            identifier=identifier,
            sender="weather.jl",
            sent=now,
            status="Actual",
            msg_type="Alert",
            event="暴雨橙色预警",
            response_type="Prepare",
            severity="Severe",
            headline="吉林省气象台发布暴雨橙色预警",
            description=description,
            instruction="注意防范",
            area_desc="测试区",
            rings=[ring],
            adcodes=[],
            expires=now + timedelta(hours=6),
        )
    )
