"""Looking up a hazardous chemical in GB 18218 by CAS number or Chinese name: pure."""

from __future__ import annotations

from typing import Any

from backend.domain.standards import load


class UnknownSubstance(LookupError):
    pass


def find_substance(
    name: str | None = None, cas: str | None = None, table: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The GB 18218 entry matching the CAS number (preferred) or the name or an alias."""
    table = table or load("gb18218")
    name = (name or "").strip()
    cas = (cas or "").strip()
    for entry in table["substances"]:
        if cas and entry.get("cas") == cas:
            return entry
    for entry in table["substances"]:
        if name and (entry["name"] == name or name in entry.get("aliases", [])):
            return entry
    raise UnknownSubstance(f"substance {name or cas!r} is in neither GB 18218 Table 1 nor the configured table")
