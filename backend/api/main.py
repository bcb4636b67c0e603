"""The web application: the API under /api/v1, the map at /, its assets under /static."""

from __future__ import annotations

import psycopg
from fastapi import FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from backend.api.routes import (
    alarms,
    audit,
    broadcasts,
    enterprises,
    health,
    ingest,
    map,
    monitoring,
    regions,
    risk,
    sites,
)
from backend.core.config import api_settings
from maps.build import STATIC


class BodyLimit(BaseHTTPMiddleware):
    """Refuse oversized request bodies before reading them."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        limit = api_settings().max_upload_bytes
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return JSONResponse({"detail": f"request body over {limit} bytes"}, status_code=413)
        return await call_next(request)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database restarting is not a server bug: say so, and that a retry will do."""
    return JSONResponse(
        {"detail": "database unavailable, retry shortly"}, status_code=503, headers={"Retry-After": "2"}
    )


def create_app() -> FastAPI:
    app = FastAPI(
        title="riskmap",
        summary="Jilin work-safety risk map: register, four-colour risk, live alarms",
        version="0.1.0",
    )
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(psycopg.OperationalError, database_unavailable)
    app.add_middleware(BodyLimit)
    # Map layers are megabytes of repetitive JSON: a modest level halves the time on the wire.
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=4)
    for module in (health, ingest, sites, enterprises, regions, risk, alarms, monitoring, broadcasts, audit, map):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
