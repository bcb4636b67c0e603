"""The web application: the API under /api/v1, the map at /, its assets under /static."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from backend.api import errors
from backend.api.edge import AuthBeforeBody, validation_failed
from backend.api.report_print import check_font_at_start_up
from backend.api.routes import (
    admin,
    alarms,
    audit,
    broadcasts,
    credit,
    enterprises,
    hazard_pages,
    hazards,
    health,
    ingest,
    inspection_pages,
    inspections,
    map,
    monitoring,
    pages,
    people,
    ponds,
    portal_pages,
    regions,
    report_pages,
    risk,
    sensors,
    sites,
    supervision,
    supervision_pages,
    users,
)
from backend.core.config import ServiceNotConfigured, api_settings
from backend.core.db import session_factory
from backend.domain.rules_models import check_rules
from backend.domain.substances import gb18218
from backend.hazards import files
from maps.build import STATIC

SWAGGER = "/static/vendor/swagger-ui"


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database restarting is not a server bug: say so, and that a retry will do."""
    return JSONResponse(
        {"detail": "database unavailable, retry shortly"}, status_code=503, headers={"Retry-After": "2"}
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Resolve the database once, at start-up: requests take sessions from this factory. Without a
    configured database the app still starts (its pages and docs), and requests say so."""
    try:
        app.state.sessions = session_factory()
    except ServiceNotConfigured:
        app.state.sessions = None
    yield


def create_app() -> FastAPI:
    gb18218()  # the GB 18218 tables validate now: a bad override stops the start, naming its file and field
    check_rules()  # and so do the other rules files (risk, levels, thresholds, tailings, flood warning)
    files.settings()  # RISKMAP_FILES_BACKEND=s3 without a bucket (or with half a key pair) stops the start
    check_font_at_start_up()  # the PDF reports' CJK font: a clear error in the log when it is missing
    app = FastAPI(
        title="riskmap",
        summary="Jilin work-safety risk map: register, four-colour risk, live alarms",
        version="0.1.0",
        # Counted as the bytes arrive, chunked bodies too (Starlette's RequestBodyLimitMiddleware);
        # open routes get the smaller RISKMAP_MAX_OPEN_UPLOAD_BYTES from AuthBeforeBody.
        max_body_size=api_settings().max_upload_bytes,
        # Swagger UI from the platform's own copy (an isolated network reaches no CDN); no ReDoc.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(psycopg.OperationalError, database_unavailable)
    app.add_exception_handler(RequestValidationError, validation_failed)
    errors.register(app)  # NotFound → 404, Conflict → 409, Invalid → 422: the one map from domain to HTTP
    modules = (
        health,
        admin,
        ingest,
        sites,
        enterprises,
        regions,
        risk,
        ponds,
        sensors,
        alarms,
        monitoring,
        broadcasts,
        people,
        hazards,
        hazard_pages,
        audit,
        users,
        pages,
        portal_pages,
        supervision,
        supervision_pages,
        report_pages,
        inspections,
        credit,
        inspection_pages,
        map,
    )
    app.add_middleware(AuthBeforeBody, routes=[route for m in modules for route in m.router.routes])
    # Map layers are megabytes of repetitive JSON: a modest level halves the time on the wire.
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=4)
    for module in modules:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="riskmap API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # the default badge calls validator.swagger.io
        )

    return app
