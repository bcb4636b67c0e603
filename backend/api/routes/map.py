"""The map page."""

from __future__ import annotations

from functools import cache
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from backend.accounts.users import SignedIn
from backend.api.deps import SESSION_COOKIE, SessionDep, signed_in_user
from backend.core.config import api_settings
from backend.core.principal import Perm
from maps.build import render_page

router = APIRouter(tags=["map"])


@cache
def _page() -> str:
    s = api_settings()
    return render_page(basemap_url=s.basemap_url, basemap_attribution=s.basemap_attribution)


def _signed_in_head(signed: SignedIn | None) -> str:
    """What the page's scripts need to know of the browser's session: the CSRF token they send
    with every change (X-CSRF-Token), who is signed in, and whether they may acknowledge alarms."""
    if signed is None:
        return '<meta name="riskmap-signed-in" content="0">'
    caller = signed.principal
    return (
        f'<meta name="csrf-token" content="{escape(signed.csrf_token)}">'
        '<meta name="riskmap-signed-in" content="1">'
        f'<meta name="riskmap-user" content="{escape(signed.user.name)}">'
        f'<meta name="riskmap-org" content="{escape(signed.org.name)}">'
        f'<meta name="riskmap-can-ack" content="{int(caller.can(Perm.duty))}">'
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def map_page(request: Request, session: SessionDep) -> HTMLResponse:
    signed = signed_in_user(session, request.cookies.get(SESSION_COOKIE))
    html = _page().replace("<head>", "<head>" + _signed_in_head(signed), 1)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return Response(status_code=204)
