"""The HTTP edge: what every request meets before a route sees it.

Hostile input gets a short 4xx saying what is wrong — never a 500, never its own bytes echoed back:

- bodies are counted as they arrive (FastAPI's `max_body_size`, chunked bodies too); a route that
  needs a token or a signed-in session refuses a request without a valid one (or, for a session,
  without its CSRF token) *before* a byte of its body is read (`AuthBeforeBody`), and an open
  route accepts a smaller body;
- a NUL byte in the path or query string is refused (PostgreSQL cannot store one);
- JSON bodies are parsed strictly: no NaN or Infinity, no NUL in a string (`StrictJSONRoute`);
- validation errors list what is wrong without the input (`validation_failed`);
- ids are bounded to PostgreSQL's integer (`IdPath`), instants to a plausible range (`Instant`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import psycopg
from fastapi import HTTPException, Path, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime
from sqlalchemy.exc import OperationalError
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.deps import CSRF_HEADER, FORM_TYPES, SESSION_COOKIE, authorise, required_perm
from backend.core.config import api_settings
from backend.core.limits import INT4_MAX
from backend.core.principal import Perm

# An open route that takes a body declares `max_body_size=OPEN_BODY_LIMIT` (FastAPI counts the
# bytes as they arrive); the app-wide RISKMAP_MAX_UPLOAD_BYTES holds for the others.
OPEN_BODY_LIMIT = api_settings().max_open_upload_bytes
MAX_ERRORS = 10  # a 5 MB body of bad items is answered in a few hundred bytes
RETRY = {"Retry-After": "2"}
IdPath = Annotated[int, Path(ge=1, le=INT4_MAX, description="a positive 32-bit id")]


def _plausible(t: datetime) -> datetime:
    """Far-off instants overflow date arithmetic (and mean a typo): refuse them here."""
    if not datetime(1970, 1, 1, tzinfo=UTC) <= t <= datetime(2200, 1, 1, tzinfo=UTC):
        raise ValueError("between 1970 and 2200")
    return t


Instant = Annotated[AwareDatetime, AfterValidator(_plausible)]


# --- strict JSON -----------------------------------------------------------------------------


def _not_json(name: str) -> NoReturn:
    raise json.JSONDecodeError(f"{name} is not a JSON number", "", 0)


def _refuse_nul(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise json.JSONDecodeError("NUL character (\\u0000) in a string", "", 0)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def strict_loads(body: bytes | str) -> Any:
    """JSON as RFC 8259 has it: NaN, Infinity and -Infinity refused (Python accepts them), and no
    NUL in a string (PostgreSQL refuses those). Raises json.JSONDecodeError."""
    value = json.loads(body, parse_constant=_not_json)
    if (b"\\u0000" if isinstance(body, bytes) else "\\u0000") in body:
        _refuse_nul(value)
    return value


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed by `strict_loads`: FastAPI turns its refusal into a 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


# --- errors without the input ----------------------------------------------------------------


def public_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors as a client may see them: type, where and why, never the input itself."""
    out = []
    for e in list(errors)[:MAX_ERRORS]:
        msg = str(e.get("msg", ""))
        if e.get("type") == "json_invalid" and "error" in (e.get("ctx") or {}):
            msg = f"{msg}: {e['ctx']['error']}"
        out.append(
            {
                "type": str(e.get("type", ""))[:40],
                "loc": [x if isinstance(x, int) else str(x)[:40] for x in list(e.get("loc", ()))[:8]],
                "msg": msg[:160],
            }
        )
    return out


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's default answer repeats each bad input in full (37 MB once): list the errors only."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    body: dict[str, Any] = {"detail": public_errors(errors)}
    if len(errors) > MAX_ERRORS:
        body["errors"] = len(errors)
    return JSONResponse(body, status_code=422)


# --- before the route: NUL bytes, authentication before the body, closing on early answers ---


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str, **headers: str) -> None:
    await JSONResponse({"detail": detail}, status_code=status, headers=headers or None)(scope, receive, send)


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


def _perm_of(route: APIRoute) -> Perm | None:
    """The permission a route's dependencies demand (`require(perm)`), if any; of several, the
    last in Perm's order (the route itself checks them all; this is the gate before the body)."""
    perms: list[Perm] = []
    stack: list[Dependant] = [route.dependant]
    while stack:
        d = stack.pop()
        if (perm := required_perm(d.call)) is not None:
            perms.append(perm)
        stack.extend(d.dependencies)
    return max(perms, key=list(Perm).index) if perms else None


class AuthBeforeBody:
    """Pure ASGI middleware, outside the routes: decides on a request from its head alone.

    A body sent to a route that needs a token is not read until the token is checked (FastAPI
    reads a body before it solves the dependencies that check the token). A request answered
    before its body was read to the end (refused, or over its limit) has its connection closed,
    so the server stops receiving the rest.
    """

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        """`routes`: the API's routes (those of the routers the app includes)."""
        self.app = app
        self.routes = [(r, _perm_of(r)) for r in routes if isinstance(r, APIRoute)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
            await _refuse(scope, receive, send, 400, "NUL bytes are not allowed in the path or query")
            return
        headers = Headers(scope=scope)
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        read_all = False

        async def receive_counted() -> Message:
            nonlocal read_all
            message = await receive()
            read_all = read_all or message["type"] == "http.disconnect" or not message.get("more_body", False)
            return message

        async def send_closing(message: Message) -> None:
            # Answered before the body was read to its end (refused, too large): close the
            # connection, or the server would go on receiving — and discarding — the rest.
            if message["type"] == "http.response.start" and not read_all:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        perm = self._perm_for(scope)
        if perm is None:
            await self.app(scope, receive_counted, send_closing)
            return
        try:
            await asyncio.to_thread(
                authorise,
                headers.get("authorization"),
                perm,
                cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE),
                method=scope["method"],
                csrf=headers.get(CSRF_HEADER),
                form=headers.get("content-type", "").split(";")[0].strip().lower() in FORM_TYPES,
            )
        except HTTPException as exc:
            await _refuse(scope, receive_counted, send_closing, exc.status_code, str(exc.detail), **(exc.headers or {}))
            return
        except (OperationalError, psycopg.OperationalError):  # outside the app's handlers: say it here
            await _refuse(scope, receive_counted, send_closing, 503, "database unavailable, retry shortly", **RETRY)
            return
        await self.app(scope, receive_counted, send_closing)

    def _perm_for(self, scope: Scope) -> Perm | None:
        for route, perm in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return perm
        return None
