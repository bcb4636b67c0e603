"""A browser's access to the live stream when reads need a token.

A page sends its token in the Authorization header on every fetch, but EventSource cannot send
headers. POST /api/v1/session, with the token in the header, sets it in an HttpOnly cookie that
the browser returns only to the stream route; the token never appears in a URL (where access
logs would keep it). The cookie lives an hour; the page posts again when the stream is refused.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from backend.api.deps import STREAM_COOKIE, STREAM_PATH, Viewer
from backend.api.edge import StrictJSONRoute

router = APIRouter(prefix="/api/v1", tags=["access"], route_class=StrictJSONRoute)
COOKIE_MAX_AGE_S = 3600


@router.post("/session", status_code=204)
def open_session(request: Request, caller: Viewer) -> Response:
    """Set the stream cookie from the (valid) token in the Authorization header."""
    token = request.headers["authorization"].partition(" ")[2].strip()
    response = Response(status_code=204)
    response.set_cookie(
        STREAM_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE_S,
        path=STREAM_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.delete("/session", status_code=204)
def close_session() -> Response:
    """Forget the stream cookie (signing out of the page)."""
    response = Response(status_code=204)
    response.delete_cookie(STREAM_COOKIE, path=STREAM_PATH, httponly=True, samesite="strict")
    return response
