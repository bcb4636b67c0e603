"""Liveness of what the platform depends on: the database (with PostGIS) and the broker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend.api.deps import SessionDep
from backend.core.config import ServiceNotConfigured
from ingest.mqtt import check_broker

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: SessionDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        checks["database"] = {
            "ok": True,
            "postgis": session.scalar(text("SELECT postgis_lib_version()")),
        }
    except Exception as exc:
        checks["database"] = {"ok": False, "error": str(exc).splitlines()[0]}
    try:
        check_broker()
        checks["broker"] = {"ok": True}
    except (OSError, ServiceNotConfigured, ConnectionError) as exc:
        checks["broker"] = {"ok": False, "error": str(exc)}
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503)
