"""The hidden-hazard pages: the list with its filters, one hazard with its timeline and the forms
of its next transitions, and the report form with the criteria picker. The server renders each
page in Chinese; its script fills it from the API with the caller's token."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from backend.api.edge import IdPath
from backend.domain.kinds import SITE_KIND_ZH
from backend.hazards.lifecycle import FOUND_BY_ZH, STATE_ZH
from maps.build import STATIC

router = APIRouter(tags=["pages"])
TEMPLATES = STATIC.parent / "templates"


@cache
def _templates() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _render(name: str, **values: Any) -> HTMLResponse:
    common = {
        "kinds": {str(k): v for k, v in SITE_KIND_ZH.items()},
        "states": {str(k): v for k, v in STATE_ZH.items()},
        "found_by": {str(k): v for k, v in FOUND_BY_ZH.items()},
        "config": {},
    }
    return HTMLResponse(_templates().get_template(name).render(**common, **values))


@router.get("/hazards", response_class=HTMLResponse, include_in_schema=False)
def hazards_page() -> HTMLResponse:
    return _render("hazards_list.html")


@router.get("/hazards/new", response_class=HTMLResponse, include_in_schema=False)
def report_page() -> HTMLResponse:
    return _render("hazard_new.html")


@router.get("/hazards/{hazard_id}", response_class=HTMLResponse, include_in_schema=False)
def hazard_page(hazard_id: IdPath) -> HTMLResponse:
    return _render("hazard.html", hazard_id=hazard_id)
