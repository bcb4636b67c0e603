"""The map page."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from backend.core.config import api_settings
from maps.build import render_page

router = APIRouter(tags=["map"])


@cache
def _page() -> str:
    s = api_settings()
    return render_page(basemap_url=s.basemap_url, basemap_attribution=s.basemap_attribution)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def map_page() -> HTMLResponse:
    return HTMLResponse(_page())


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return Response(status_code=204)
