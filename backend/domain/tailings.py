"""Tailings pond class (等别) from capacity and dam height: pure, rules from tailings.yaml.

GB 50863-2013 表3.2.1 / GB 39496-2020 §4.5 give each of V (总库容) and H (坝高) a class 1–5; the
pond's class is the higher of the two when they differ by one, and the higher lowered by one when
they differ by more (§3.2.1). The §3.2.1 upgrade by one class is never automatic: it is an
operator's recorded decision (`Upgrade`), applied here with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.domain.numbers import shown
from backend.domain.rules_models import CapacityBand, HeightBand, TailingsClasses, tailings_classes

CLASS_ZH = "一二三四五"


def class_zh(pond_class: int) -> str:
    """一等 … 五等."""
    return f"{CLASS_ZH[pond_class - 1]}等"


def number(value: float, *edges: float) -> str:
    """A quantity as a person writes it (no exponent), never across the edge it is judged by."""
    return shown(value, *edges, significant=6).removesuffix(".0")


@dataclass(frozen=True)
class Upgrade:
    """An operator's recorded §3.2.1 upgrade of a pond by one class."""

    from_class: int
    to_class: int
    reason: str
    by: str
    at: str  # ISO 8601


@dataclass(frozen=True)
class PondClass:
    """The class a pond is graded by, how it was reached, and the sentence that says so."""

    pond_class: int  # after any recorded upgrade
    computed: int  # from V and H alone
    by_capacity: int
    by_height: int
    rule: str  # same | one_apart | more_apart; "+upgrade" when an upgrade was applied
    reason: str  # Chinese, with the facts, the bands and the clause
    clause: str
    upgrade: Upgrade | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "pond_class": self.pond_class,
            "computed_pond_class": self.computed,
            "class_by_capacity": self.by_capacity,
            "class_by_height": self.by_height,
            "class_rule": self.rule,
            "class_reason": self.reason,
            "class_clause": self.clause,
            "upgrade": None
            if self.upgrade is None
            else {
                "from_class": self.upgrade.from_class,
                "to_class": self.upgrade.to_class,
                "reason": self.upgrade.reason,
                "by": self.upgrade.by,
                "at": self.upgrade.at,
            },
        }


def _band(value: float, bands: list[CapacityBand] | list[HeightBand], key: str) -> int:
    for band in bands:
        if value >= getattr(band, key):
            return band.pond_class
    raise ValueError(f"{value} is below every band of {key}")


def _band_text(klass: int, bands: list[CapacityBand] | list[HeightBand], key: str) -> str:
    """The band a class covers, e.g. 二等 10000–50000, 一等 ≥ 50000, 五等 < 100."""
    lows = {b.pond_class: getattr(b, key) for b in bands}
    low, high = lows[klass], lows.get(klass - 1)
    if high is None:
        return f"{class_zh(klass)} ≥ {number(low)}"
    if low <= 0:
        return f"{class_zh(klass)} < {number(high)}"
    return f"{class_zh(klass)} {number(low)}–{number(high)}"


def grade_pond(
    capacity_10k_m3: float,
    dam_height_m: float,
    upgrade: Upgrade | None = None,
    rules: TailingsClasses | None = None,
) -> PondClass:
    """The class with its reason. Raises ValueError for negative inputs."""
    if capacity_10k_m3 < 0 or dam_height_m < 0:
        raise ValueError("capacity and dam height must not be negative")
    rules = rules or tailings_classes()
    clause = rules.clause
    by_capacity = _band(capacity_10k_m3, rules.capacity_classes, "min_capacity_10k_m3")
    by_height = _band(dam_height_m, rules.height_classes, "min_height_m")
    higher, lower = min(by_capacity, by_height), max(by_capacity, by_height)
    if lower == higher:
        computed, rule, how = higher, "same", "两者同等"
    elif lower - higher == 1:
        computed, rule, how = higher, "one_apart", "相差一等取高者"
    else:
        computed, rule = higher + 1, "more_apart"
        how = f"相差{CLASS_ZH[lower - higher - 1]}等，取高者降一等"
    v_edges = [b.min_capacity_10k_m3 for b in rules.capacity_classes]
    h_edges = [b.min_height_m for b in rules.height_classes]
    facts = (
        f"总库容 {number(capacity_10k_m3, *v_edges)} 万m³"
        f"（{_band_text(by_capacity, rules.capacity_classes, 'min_capacity_10k_m3')}），"
        f"坝高 {number(dam_height_m, *h_edges)} m（{_band_text(by_height, rules.height_classes, 'min_height_m')}），"
        f"{how}（{clause}）"
    )
    klass, reason = computed, f"{class_zh(computed)}库：{facts}"
    if upgrade is not None and computed > 1 and upgrade.from_class == computed:
        klass, rule = computed - 1, f"{rule}+upgrade"
        reason = (
            f"{class_zh(klass)}库：依 {clause}提等（由{class_zh(computed)}提为{class_zh(klass)}），"
            f"理由：{upgrade.reason}（{upgrade.at[:10]} 记录）；"
            f"按库容与坝高为{class_zh(computed)}：{facts}"
        )
    elif upgrade is not None and computed == 1:
        reason += f"；已记录的提等不适用：一等库不再提等（{clause}）"
    elif upgrade is not None:
        # Recorded for a pond of another class: V or H changed since. Not applied until reviewed.
        reason += (
            f"；已记录的提等（由{class_zh(upgrade.from_class)}提为{class_zh(upgrade.to_class)}）"
            f"是按{class_zh(upgrade.from_class)}作出的，现按库容与坝高为{class_zh(computed)}，未予适用，请重新审核"
        )
    return PondClass(klass, computed, by_capacity, by_height, rule, reason, clause, upgrade)


def pond_class(capacity_10k_m3: float, dam_height_m: float, rules: dict[str, Any] | None = None) -> int:
    """1 (largest) … 5, from V and H alone. Raises ValueError for negative inputs."""
    return grade_pond(capacity_10k_m3, dam_height_m, None, rules).computed


# What people call the places and features that make a 头顶库 or 三边库.
PLACE_ZH = {
    "residential": "居民区",
    "village": "村庄",
    "school": "学校",
    "hospital": "医院",
    "water_source": "饮用水源地",
    "river": "河流",
    "lake": "湖泊",
    "reservoir": "水库",
    "railway": "铁路",
    "national_highway": "国道",
    "provincial_highway": "省道",
}
