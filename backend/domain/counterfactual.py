"""What would lower a level: for a rule, the smallest single change of one fact that moves the
site down one level, with the numbers. Pure; each change is checked by grading again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import pairwise
from math import floor, log10
from typing import Any

from backend.domain.levels import first_match, level_name_zh
from backend.domain.major_hazard import GRADE_ZH
from backend.domain.numbers import shown
from backend.domain.rules_models import LevelRule


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
    levels: list[LevelRule],
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
    for key, want in matched.when.items():
        if key.endswith(NUMERIC_SUFFIX):  # capacity_at_least_10k_t: a threshold on capacity_10k_t
            fact = "capacity_10k_t"
            current = facts.get(fact)
            after = grade({**facts, fact: float(want) - 0.01})  # just under the threshold
            if after > level:
                below = labels["capacity_below_10k_t"].format(want)
                text = f"若{below}（现为 {shown(current, float(want))} 万t/a），降为{level_name_zh(after)}"
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


@dataclass(frozen=True)
class Term:
    """One substance of a major-hazard unit: q (t), its critical quantity Q (t) and β."""

    name: str
    q: float
    big_q: float
    beta: float


def hazard_changes(
    unit: str,
    terms: list[Term],
    alpha: float,
    population: int,
    grades: list[dict[str, Any]],
    alpha_bands: list[dict[str, Any]],
    grade_now: int,
) -> list[Change]:
    """GB 18218: for a major-hazard unit of grade g (1–3), the largest maximum quantity of each
    substance, and the population within 500 m, below which the unit becomes grade g + 1.
    A 四级 unit has no lower colour (a non-major unit is blue too): nothing is offered."""
    if grade_now >= 4:
        return []
    floor = next(float(g["min_r"]) for g in grades if int(g["grade"]) == grade_now)
    total = sum(t.beta * t.q / t.big_q for t in terms)
    changes: list[Change] = []
    s_total = sum(t.q / t.big_q for t in terms)
    for t in terms:
        # Two ways down: R below the grade's floor, or S below 1 (no longer a major hazard, blue).
        # The smallest reduction is the larger of the two limits.
        r_limit = (floor / alpha - (total - t.beta * t.q / t.big_q)) * t.big_q / t.beta  # R < floor ⇔ q < this
        s_limit = (1 - (s_total - t.q / t.big_q)) * t.big_q  # S < 1 ⇔ q < this
        limit, outcome, after = max(
            (r_limit, f"该单元降为{GRADE_ZH[grade_now + 1]}", grade_now + 1),
            (s_limit, "该单元不再构成重大危险源", 4),
            key=lambda x: x[0],
        )
        if 0 < limit < t.q:
            offered = _floor_to(limit)
            changes.append(
                Change(
                    "gb18218",
                    f"quantity:{t.name}",
                    t.q,
                    offered,
                    after,
                    f"若{unit}{t.name}的最大储量降至 {offered:g} t 以下（现为 {t.q:g} t），{outcome}",
                )
            )
    # Fewer residents: the next α band down, if it is enough on its own.
    bands = sorted(alpha_bands, key=lambda b: -int(b["min_population"]))
    for band, lower in pairwise(bands):
        if float(band["alpha"]) == alpha and float(lower["alpha"]) * total < floor:
            changes.append(
                Change(
                    "gb18218",
                    "population_500m",
                    population,
                    int(band["min_population"]),
                    grade_now + 1,
                    f"若{unit}周边 500 m 内常住人口减至 {int(band['min_population'])} 人以下（现为 {population} 人，"
                    f"α 由 {shown(alpha)} 降为 {shown(float(lower['alpha']))}），该单元降为{GRADE_ZH[grade_now + 1]}",
                )
            )
    return changes


def _floor_to(value: float) -> float:
    """Round down to three significant figures, so that the quantity shown really is below."""
    digits = 2 - floor(log10(abs(value)))
    scale = 10.0**digits
    return floor(value * scale) / scale
