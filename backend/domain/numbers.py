"""Numbers as people write them, never shown on the wrong side of the threshold they are judged
against ("S = 1 < 1" must not happen): pure."""

from __future__ import annotations

from math import floor, isfinite, log10


def _plain(value: float, significant: int) -> str:
    """`significant` digits, no exponent, no trailing zeros (but 56.0 stays 56.0)."""
    if value == 0 or not isfinite(value):
        return f"{value:g}"
    decimals = max(0, significant - 1 - floor(log10(abs(value))))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0")
        text = text + "0" if text.endswith(".") else text
    return text


def shown(value: float, *edges: float, significant: int = 3) -> str:
    """`value` with `significant` digits, or as many more as it takes for the text to stay on the
    same side of every edge as the value itself."""
    for digits in (significant, 4, 5, 6, 8, 10, 12, 15):
        text = _plain(value, max(digits, significant))
        if all((float(text) < e) == (value < e) for e in edges):
            return text
    return repr(value)
