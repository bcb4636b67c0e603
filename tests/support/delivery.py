"""The outbox as a test waits on it (backend/warnings/delivery.py delivers it)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from tests.support.wait import wait_until


def wait_delivered(engine: Engine, broadcast_id: int, timeout: float = 15.0) -> None:
    """Until the outbox holds nothing pending for the broadcast."""

    def done() -> bool:
        with engine.connect() as c:
            return not c.scalar(
                text("SELECT count(*) FROM outbox WHERE broadcast_id = :b AND delivered_at IS NULL"),
                {"b": broadcast_id},
            )

    wait_until(done, timeout)
