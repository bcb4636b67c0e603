"""The one Jinja2 environment every server-rendered page uses (templates in maps/templates)."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from maps.build import STATIC

TEMPLATES = STATIC.parent / "templates"


@cache
def templates() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
