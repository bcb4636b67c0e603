"""Alarm decisions for one sensor from its recent values: pure.

Thresholds are a sensor's resolved set (see thresholds.py): direction, levels from least to
most severe, restore. An alarm is raised when the debounce is met, follows the value up and
down between levels in place, and clears only when the value is back past both the first
level and the restore value (hysteresis).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from backend.domain.rules_models import RollupRule, SensorThresholds
from backend.domain.rules_models import rules as standard_rules
from backend.domain.states import Colour


@dataclass(frozen=True)
class Decision:
    """What the alarm for one condition should be: a colour (raise or move), or cleared."""

    color: str | None  # None: no alarm (clear any open one)
    value: float
    threshold: float | None


def _beyond(value: float, limit: float, direction: str) -> bool:
    return value >= limit if direction == "above" else value <= limit


def level_for(value: float, thresholds: dict[str, Any]) -> tuple[str, float] | None:
    """The most severe level the value has reached, with that level's limit."""
    reached = None
    for lv in thresholds.get("levels", []):
        if "window_h" not in lv and _beyond(value, lv["value"], thresholds["direction"]):
            reached = (lv["color"], lv["value"])
    return reached


def debounce_of(kind: str, thresholds: dict[str, Any]) -> dict[str, Any]:
    """The sensor's own debounce, else its kind's default, else none (one reading raises)."""
    if thresholds.get("debounce"):
        return dict(thresholds["debounce"])
    spec = getattr(cast(SensorThresholds, standard_rules("sensor_thresholds")), kind)
    return spec.debounce.model_dump(exclude_none=True) if spec.debounce else {"readings": 1}


def threshold_decision(
    recent: list[tuple[datetime, float]],
    thresholds: dict[str, Any],
    debounce: dict[str, Any],
    open_color: str | None,
) -> Decision | None:
    """`recent`: the sensor's latest readings, oldest first, ending with the newest.

    Returns None when nothing should change."""
    value = recent[-1][1]
    reached = level_for(value, thresholds)
    levels = [lv for lv in thresholds.get("levels", []) if "window_h" not in lv]
    if not levels:
        return None
    first = levels[0]["value"]
    direction = thresholds["direction"]
    if reached:
        if open_color is None and not _debounced(recent, first, direction, debounce):
            return None
        return None if reached[0] == open_color else Decision(reached[0], value, reached[1])
    if open_color is None:
        return None
    restore = thresholds.get("restore")
    limit = first if restore is None else (min(first, restore) if direction == "above" else max(first, restore))
    back = value < limit if direction == "above" else value > limit
    if back:
        return Decision(None, value, None)
    # Between the first level and the restore value: hold at the first level's colour.
    return None if levels[0]["color"] == open_color else Decision(levels[0]["color"], value, first)


def _debounced(recent: list[tuple[datetime, float]], first: float, direction: str, debounce: dict[str, Any]) -> bool:
    n = int(debounce.get("readings", 1))
    if n > 1 and (len(recent) < n or not all(_beyond(v, first, direction) for _, v in recent[-n:])):
        return False
    seconds = debounce.get("seconds")
    if seconds:
        newest = recent[-1][0]
        run_start = newest
        for ts, v in reversed(recent):
            if not _beyond(v, first, direction):
                break
            run_start = ts
        return (newest - run_start).total_seconds() >= seconds
    return True


def rate_decision(value: float, window_min: float, rule: dict[str, Any], open_color: str | None) -> Decision | None:
    """Rise of the newest value over the lowest within the window (CO rising > 5 ppm)."""
    rise = value - window_min
    if rise > rule["rise"]:
        return None if open_color == rule["color"] else Decision(rule["color"], value, rule["rise"])
    return Decision(None, value, None) if open_color else None


def rain_signal(totals: dict[float, float], thresholds: dict[str, Any]) -> tuple[str, float, float] | None:
    """The most severe rainstorm signal the rolling totals reach: (colour, mm, threshold mm)."""
    reached = None
    for lv in thresholds.get("levels", []):
        if "window_h" not in lv:  # a fixed level, not a rain window: checked before its window is read
            continue
        total = totals.get(float(lv["window_h"]), 0.0)
        if total >= lv["value"]:
            reached = (lv["color"], total, lv["value"])
    return reached


def accumulation_decision(
    totals: dict[float, float], thresholds: dict[str, Any], open_color: str | None
) -> Decision | None:
    """Rain over rolling windows (hours -> mm) against the rainstorm signals."""
    reached = rain_signal(totals, thresholds)
    if reached:
        return None if reached[0] == open_color else Decision(reached[0], reached[1], reached[2])
    return Decision(None, 0.0, None) if open_color else None


ROLLUP_ORDER = [c.value for c in Colour]  # least severe first


def rollup_color(open_colors: list[str], rules: list[dict[str, Any]] | None = None) -> str | None:
    """GB 39496: four blue points of one item make it yellow, three yellow orange, two orange red."""
    typed = (
        [RollupRule.model_validate(r) for r in rules]
        if rules
        else cast(SensorThresholds, standard_rules("sensor_thresholds")).rollup.rules
    )
    rank = {c.value: c.rank for c in Colour}
    result = None
    for rule in typed:
        at_least = sum(1 for c in open_colors if rank.get(c, -1) >= rule.points.rank)
        if at_least >= rule.count:
            result = rule.item
    return result


def is_active(value: float, thresholds: dict[str, Any]) -> bool:
    """Power drawn or people present beyond idle: evidence that a site is working."""
    return "idle_max" in thresholds and value > thresholds["idle_max"]
