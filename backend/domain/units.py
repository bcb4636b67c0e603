"""Converting a reading's unit to its sensor's: pure (pint, affine conversions only).

Units that are not physical quantities pint knows (%LEL, persons) convert only to themselves;
mass concentration (mg/m3) never converts to a volume fraction (ppm, %), which needs the gas's
molar mass and conditions, so such a reading is refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pint

PINT_NAMES = {
    "%": "percent",
    "ppm": "ppm",
    "ppb": "ppb",
    "mg/m3": "mg/m**3",
    "g/m3": "g/m**3",
    "m": "m",
    "cm": "cm",
    "mm": "mm",
    "km": "km",
    "kW": "kW",
    "W": "W",
    "MW": "MW",
    "MPa": "MPa",
    "kPa": "kPa",
    "Pa": "Pa",
    "bar": "bar",
    "degC": "degC",
    "℃": "degC",
    "K": "kelvin",
    "degF": "degF",
}
OPAQUE = {"%LEL", "persons"}

# Units as people write them: what every page shows for a stored unit.
DISPLAY = {"degC": "℃", "degF": "℉", "mg/m3": "mg/m³", "g/m3": "g/m³", "m3": "m³", "persons": "人", "K": "K"}


def display_unit(unit: str | None) -> str:
    return DISPLAY.get(unit or "", unit or "")


class UnitMismatch(ValueError):
    pass


@cache
def _registry() -> pint.UnitRegistry:
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


@cache
def converter(source: str, target: str) -> Callable[[float], float]:
    """f(value in `source`) = value in `target`; raises UnitMismatch when there is none."""
    if source == target:
        return lambda v: v
    if source in OPAQUE or target in OPAQUE or source not in PINT_NAMES or target not in PINT_NAMES:
        raise UnitMismatch(f"cannot convert {source!r} to {target!r}")
    q = _registry().Quantity
    try:
        zero = q(0.0, PINT_NAMES[source]).to(PINT_NAMES[target]).magnitude
        one = q(1.0, PINT_NAMES[source]).to(PINT_NAMES[target]).magnitude
    except pint.errors.DimensionalityError:
        raise UnitMismatch(f"cannot convert {source!r} to {target!r}") from None
    scale = one - zero
    return lambda v: v * scale + zero
