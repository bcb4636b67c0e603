"""Default alarm thresholds of a sensor, resolved from sensor_thresholds.yaml: pure.

A resolved threshold set is what each sensor stores and the alarm engine reads:
{"direction": "above"|"below", "levels": [{"color", "value", "name"?, "window_h"?}, ...],
 "restore": number | None, "source": str, ...}; levels run from least to most severe.
"""

from __future__ import annotations

from typing import Any

from backend.domain.kinds import SensorKind
from backend.domain.standards import load


class UnknownSensorKind(ValueError):
    pass


class NoDefaultThresholds(ValueError):
    """No row of the location table fits the sensor: give it explicit thresholds instead."""


def default_unit(kind: str) -> str:
    return str(_spec(kind)["unit"])


def default_interval_s(kind: str) -> int:
    return int(_spec(kind)["interval_s"])


def _spec(kind: str) -> dict[str, Any]:
    table = load("sensor_thresholds")
    if kind not in table or kind not in SensorKind.__members__:
        raise UnknownSensorKind(f"unknown sensor kind {kind!r}")
    return table[kind]


def location_row(kind: str, location_label: str) -> tuple[str, dict[str, Any]]:
    """The enabled row of `kind`'s location table named `location_label`; NoDefaultThresholds with
    the reason otherwise (never the first row by default: a main return airway alarms at 0.75 %,
    below the working face's 1.0 %)."""
    spec = _spec(kind)
    rows = spec["by_location"]
    enabled = "、".join(k for k, v in rows.items() if v.get("enabled", True))
    row = rows.get(location_label)
    if row is None:
        raise NoDefaultThresholds(
            f"{spec.get('name_zh', kind)}安装地点“{location_label or '（未填写）'}”不在默认阈值表中（{enabled}）："
            f"请给出明确阈值 thresholds，不套用采煤工作面的阈值（{spec['source']}）"
        )
    if not row.get("enabled", True):
        raise NoDefaultThresholds(
            f"“{location_label}”一行默认不启用（{row.get('source', spec['source'])}）：请给出明确阈值 thresholds，"
            "或由管理员在 sensor_thresholds.yaml 中启用该行（enabled: true）"
        )
    return location_label, row


def _named(values: dict[str, float], colors: dict[str, str]) -> list[dict[str, Any]]:
    """The levels a row sets; a row may set only some (e.g. an alarm and no power-off value)."""
    return [{"name": n, "color": colors[n], "value": values[n]} for n in colors if n in values]


def default_thresholds(
    kind: str,
    location_label: str = "",
    substance: str | None = None,
    design_value: float | None = None,
) -> dict[str, Any]:
    """Thresholds for a sensor of `kind` at `location_label` measuring `substance`.

    `design_value` is the pond's design minimum (phreatic burial depth or dry beach length)
    for the tailings sensors whose thresholds are relative to it.
    """
    spec = _spec(kind)
    out: dict[str, Any] = {"source": spec["source"], "unit": spec["unit"]}
    if "by_location" in spec:
        key, row = location_row(kind, location_label)
        out |= {
            "direction": "above",
            "levels": _named(row, spec["colors"]),
            "restore": row["restore"],
        }
        out["location"] = key
        if "source" in row:
            out["source"] = row["source"]
    elif "by_substance" in spec:
        if substance not in spec["by_substance"]:
            raise ValueError(f"no default {kind} threshold for substance {substance!r}")
        row = spec["by_substance"][substance]
        out |= {
            "direction": "above",
            "levels": _named(row, spec["colors"]),
            "restore": row["first_level"],
        }
    elif "design_multipliers" in spec:
        base = design_value if design_value is not None else spec.get("design_default_m")
        if base is None:
            raise ValueError(f"{kind} thresholds need the pond's design value")
        mult = spec["design_multipliers"]
        levels = [{"color": c, "value": round(base * mult[c], 2)} for c in ("blue", "yellow", "orange", "red")]
        out |= {
            "direction": "below",
            "levels": levels,
            "restore": levels[0]["value"],
            "design_value": base,
        }
    elif "accumulation" in spec:
        out |= {
            "direction": "above",
            "levels": [dict(x) for x in spec["accumulation"]],
            "restore": None,
        }
    elif "idle_max" in spec:
        out |= {"direction": "above", "levels": [], "restore": None, "idle_max": spec["idle_max"]}
    else:
        levels = [{k: v for k, v in x.items() if k != "verify"} for x in spec["levels"]]
        restore = spec.get("restore", levels[0]["value"])
        out |= {"direction": spec["direction"], "levels": levels, "restore": restore}
    if "rate_of_change" in spec:
        out["rate_of_change"] = dict(spec["rate_of_change"])
    return out
