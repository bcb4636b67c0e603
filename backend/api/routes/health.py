"""Liveness of what the platform depends on: the database (with PostGIS), the broker, and the
ingesters (alive, connected, keeping up), from the heartbeats they write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.api.deps import SessionDep
from backend.api.responses import Out
from backend.core.config import IngestSettings, ServiceNotConfigured
from backend.core.jurisdiction import bind
from backend.core.mqtt import check_broker
from backend.core.principal import platform
from backend.models import IngesterStatus

router = APIRouter(tags=["health"])


def ingest_health(session: Session, now: datetime, settings: IngestSettings) -> dict[str, Any]:
    """OK when at least one ingester reported recently, and none that is alive is disconnected
    or behind by more than the allowed lag (a wedged ingester shows as growing lag)."""
    ingesters = []
    for s in session.scalars(select(IngesterStatus).order_by(IngesterStatus.name)):
        age = (now - s.heartbeat_at).total_seconds()
        alive = age <= settings.health_stale_s
        ingesters.append(
            {
                "name": s.name,
                "host": s.host,
                "pid": s.pid,
                "alive": alive,
                "connected": s.connected,
                "lag_s": s.lag_s,
                "heartbeat_age_s": round(age, 1),
                "batches_retried": s.stats.get("batches_retried", 0),
                "poison": s.stats.get("poison", 0),
                "dead_letters_suppressed": s.stats.get("dead_letters_suppressed", 0),
                "stats": s.stats,
            }
        )
    live = [i for i in ingesters if i["alive"]]
    problems = [
        f"{i['name']}: " + ("not connected to the broker" if not i["connected"] else f"{i['lag_s']:.0f} s behind")
        for i in live
        if not i["connected"] or i["lag_s"] > settings.health_max_lag_s
    ]
    if not live:
        problems.append(f"no ingester has reported in the last {settings.health_stale_s:g} s")
    return {"ok": not problems, "problems": problems, "ingesters": ingesters}


class CheckOut(Out):
    """One dependency: ok, or the error that says why not; other fields as the check gives them."""

    ok: bool
    error: str | None = None


class HealthOut(Out):
    ok: bool = Field(description="every required check passed (else the status is 503)")
    database: CheckOut = Field(description="with the PostGIS version")
    ingest: CheckOut | None = Field(None, description="with problems and each ingester's heartbeat, lag and counters")
    broker: CheckOut


HEALTH_SCHEMA = {"model": HealthOut, "description": "every dependency healthy"}


@router.get("/healthz", responses={200: HEALTH_SCHEMA, 503: HEALTH_SCHEMA | {"description": "a dependency is down"}})
def healthz(session: SessionDep) -> JSONResponse:
    """The platform's own state (services, ingesters, dead letters counted): read as the platform,
    as it is about no jurisdiction's rows."""
    bind(session, platform("healthz"))
    checks: dict[str, Any] = {}
    try:
        checks["database"] = {
            "ok": True,
            "postgis": session.scalar(text("SELECT postgis_lib_version()")),
        }
        checks["ingest"] = ingest_health(session, datetime.now(UTC), IngestSettings())
    except Exception as exc:
        checks["database"] = {"ok": False, "error": str(exc).splitlines()[0]}
    try:
        check_broker()
        checks["broker"] = {"ok": True}
    except (OSError, ServiceNotConfigured, ConnectionError) as exc:
        checks["broker"] = {"ok": False, "error": str(exc)}
    required = IngestSettings().health_required
    ok = all(c["ok"] for name, c in checks.items() if required or name != "ingest")
    return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503)
