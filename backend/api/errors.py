"""Domain errors to HTTP, in one place: NotFound → 404, Forbidden → 403, Conflict → 409, Invalid →
422 (with the field at fault as a validation-style location when the error names one); an object
store that cannot be reached → 503."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from backend.domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unavailable
from backend.hazards.files import StorageUnavailable

STATUS: dict[type[DomainError], int] = {NotFound: 404, Forbidden: 403, Conflict: 409, Invalid: 422, Unavailable: 503}


def status_of(exc: DomainError) -> int:
    """The HTTP status for a domain error; an unclassified one is bad input (422)."""
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 422)


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer a refusal the way the routes always have: a text detail, or for a named bad field
    the same list shape as a request validation error."""
    assert isinstance(exc, DomainError)
    code = status_of(exc)
    if code == 422 and exc.field:
        return JSONResponse({"detail": [{"loc": ["body", exc.field], "msg": str(exc)}]}, status_code=code)
    return JSONResponse({"detail": str(exc)}, status_code=code)


log = logging.getLogger("riskmap.api")
OUTSIDE_JURISDICTION = "not found (or outside your jurisdiction)"


async def database_refused(request: Request, exc: Exception) -> JSONResponse:
    """A write row-level security refused (a row outside the caller's jurisdiction, SQLSTATE 42501)
    is answered like a row that does not exist: 404, never a 403 that would reveal it exists."""
    assert isinstance(exc, DBAPIError)
    if isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
        log.warning("row-level security refused %s %s: %s", request.method, request.url.path, exc.orig)
        return JSONResponse({"detail": OUTSIDE_JURISDICTION}, status_code=404)
    if isinstance(exc.orig, psycopg.errors.DataError):
        # SQLSTATE class 22, the value itself is wrong (a NUL in a text, a number out of range, a text
        # too long) wherever a form or a parameter let it through: the caller's input, never a 500.
        log.info("input refused by the database %s %s: %s", request.method, request.url.path, exc.orig)
        first = str(exc.orig).splitlines()[0] if str(exc.orig) else ""
        return JSONResponse({"detail": f"输入的值无效（{exc.orig.sqlstate}）：{first}"}, status_code=422)
    raise exc


async def storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The file store (S3-compatible object storage) is down or refuses us: not the caller's fault and
    not a server bug; the upload recorded nothing, so a retry is safe."""
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "30"})


def register(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(DBAPIError, database_refused)
    app.add_exception_handler(StorageUnavailable, storage_unavailable)
