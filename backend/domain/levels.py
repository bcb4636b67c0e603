"""Four-colour risk levels and the reasons that set them: pure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from backend.domain.rules_models import LevelRule, RiskLevel, risk_levels

RED, ORANGE, YELLOW, BLUE = 1, 2, 3, 4


def _levels() -> list[RiskLevel]:
    return risk_levels().levels


def color_of(level: int) -> str:
    return next(str(lv.color) for lv in _levels() if lv.level == level)


def level_name_zh(level: int) -> str:
    """重大风险 / 较大风险 / 一般风险 / 低风险."""
    return next(lv.name_zh for lv in _levels() if lv.level == level)


def colour_zh(color: str) -> str:
    """红 / 橙 / 黄 / 蓝 for a colour's English name."""
    return next(lv.colour_zh for lv in _levels() if lv.color == color)


def level_of(color: str) -> int:
    for lv in _levels():
        if lv.color == color:
            return lv.level
    raise ValueError(f"unknown colour {color!r}")


def more_severe(level: int, steps: int = 1) -> int:
    return max(RED, level - steps)


@dataclass(frozen=True)
class Reason:
    """Why a level is what it is: the rule, the numbers, and the standard behind it."""

    rule: str
    level: int
    summary: str
    basis: str
    evidence: dict[str, Any] = field(default_factory=dict)
    lower: list[dict[str, Any]] = field(default_factory=list)  # what would lower it (counterfactual.Change)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"color": color_of(self.level)}


def first_match(rules: list[LevelRule], facts: dict[str, Any]) -> LevelRule:
    """The first rule whose every condition holds for the facts (a list means any of)."""
    for rule in rules:
        if all(_holds(key, want, facts) for key, want in rule.when.items()):
            return rule
    raise ValueError(f"no rule matches {facts}")


def _holds(key: str, want: Any, facts: dict[str, Any]) -> bool:
    if key.endswith("_at_least_10k_t"):
        value = facts.get("capacity_10k_t")
        return value is not None and value >= want
    value = facts.get(key)
    return value in want if isinstance(want, list) else value == want
