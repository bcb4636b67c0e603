"""What would lower a level: for a rule, the smallest single change of one fact that moves the
site down one level, with the numbers. Pure; each change is checked by grading again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from backend.domain.levels import first_match, level_name_zh


@dataclass(frozen=True)
class Change:
    rule: str  # the rule it concerns, e.g. coal_mine
    fact: str  # the fact to change, machine-readable
    current: Any
    proposed: Any  # for a threshold: the value it must go below
    level_after: int
    text: str  # what a regulator reads: 若…，…

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


NUMERIC_SUFFIX = "_at_least_10k_t"


def first_match_changes(
    rule: str,
    levels: list[dict[str, Any]],
    facts: dict[str, Any],
    labels: dict[str, Any],
    grade: Callable[[dict[str, Any]], int],
) -> list[Change]:
    """For rules read top-down (the first whose `when` holds wins): change one fact of the rule
    that matched, to each value the rules know, and keep the change that lowers the level by the
    fewest steps (one, where any change can). `grade(facts)` grades again with the changed facts."""
    level = grade(facts)
    matched = first_match(levels, facts)
    found: list[Change] = []
    for key, want in matched["when"].items():
        if key.endswith(NUMERIC_SUFFIX):  # capacity_at_least_10k_t: a threshold on capacity_10k_t
            fact = "capacity_10k_t"
            current = facts.get(fact)
            after = grade({**facts, fact: float(want) - 0.01})  # just under the threshold
            if after > level:
                below = labels["capacity_below_10k_t"].format(want)
                text = f"若{below}（现为 {current} 万t/a），降为{level_name_zh(after)}"
                found.append(Change(rule, fact, current, float(want), after, text))
            continue
        options = labels.get(key, {})
        best: Change | None = None
        for value, label in options.items():
            if value == facts.get(key):
                continue
            after = grade({**facts, key: value})
            if after > level and (best is None or after < best.level_after):
                now = options.get(facts.get(key), facts.get(key))
                best = Change(
                    rule, key, facts.get(key), value, after, f"若{now}改为{label}，降为{level_name_zh(after)}"
                )
        if best:
            found.append(best)
    one_step = [c for c in found if c.level_after == level + 1]
    return one_step or sorted(found, key=lambda c: c.level_after)
