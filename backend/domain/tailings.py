"""Tailings pond class (等别) from capacity and dam height: pure, rules from tailings.yaml."""

from __future__ import annotations

from typing import Any

from backend.domain.standards import load


def _band(value: float, bands: list[dict[str, Any]], key: str) -> int:
    for band in bands:
        if value >= band[key]:
            return int(band["pond_class"])
    raise ValueError(f"{value} is below every band of {key}")


def pond_class(capacity_10k_m3: float, dam_height_m: float, rules: dict[str, Any] | None = None) -> int:
    """1 (largest) … 5. Raises ValueError for negative inputs."""
    if capacity_10k_m3 < 0 or dam_height_m < 0:
        raise ValueError("capacity and dam height must not be negative")
    rules = rules or load("tailings")
    by_capacity = _band(capacity_10k_m3, rules["capacity_classes"], "min_capacity_10k_m3")
    by_height = _band(dam_height_m, rules["height_classes"], "min_height_m")
    higher, lower = min(by_capacity, by_height), max(by_capacity, by_height)
    return higher if lower - higher <= 1 else higher + 1
