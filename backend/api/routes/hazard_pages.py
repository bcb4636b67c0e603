"""The hidden-hazard pages: the list with its filters, one hazard with its timeline and the forms
of its next transitions, and the report form with the criteria picker. The server renders each
page in Chinese for the signed-in user (else to the login page); its script fills it from the API
with the session cookie and the page's CSRF token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from backend.api.deps import SessionDep
from backend.api.edge import IdPath
from backend.api.routes.pages import me_of, signed_in, to_login
from backend.api.templating import templates
from backend.domain.kinds import SITE_KIND_ZH
from backend.hazards.lifecycle import FOUND_BY_ZH, STATE_ZH

router = APIRouter(tags=["pages"])


def _render(request: Request, session: SessionDep, name: str, **values: Any) -> Response:
    signed = signed_in(request, session)
    if signed is None:
        return to_login(request)
    common = {
        "me": me_of(signed),
        "csrf_token": signed.csrf_token,
        "kinds": {str(k): v for k, v in SITE_KIND_ZH.items()},
        "states": {str(k): v for k, v in STATE_ZH.items()},
        "found_by": {str(k): v for k, v in FOUND_BY_ZH.items()},
        "config": {},
    }
    html = templates().get_template(name).render(**common, **values)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})  # it names the user


@router.get("/hazards", response_class=HTMLResponse, include_in_schema=False)
def hazards_page(request: Request, session: SessionDep) -> Response:
    return _render(request, session, "hazards_list.html")


@router.get("/hazards/new", response_class=HTMLResponse, include_in_schema=False)
def report_page(request: Request, session: SessionDep) -> Response:
    return _render(request, session, "hazard_new.html")


@router.get("/hazards/{hazard_id}", response_class=HTMLResponse, include_in_schema=False)
def hazard_page(hazard_id: IdPath, request: Request, session: SessionDep) -> Response:
    return _render(request, session, "hazard.html", hazard_id=hazard_id)
