"""The inherent (static) level of a site from its kind's rules: pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.domain.counterfactual import first_match_changes
from backend.domain.levels import Reason, first_match, level_name_zh
from backend.domain.major_hazard import Held, grade
from backend.domain.standards import load
from backend.domain.tailings import pond_class


@dataclass(frozen=True)
class Place:
    """Something found near a site, with its distance from it."""

    name: str
    kind: str
    distance_m: float
    population: int | None = None
    geometry: str | None = field(default=None, compare=False)  # GeoJSON, for drawing it

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "distance_m": round(self.distance_m, 1),
            "population": self.population,
        }


@dataclass(frozen=True)
class PondFacts:
    capacity_10k_m3: float
    dam_height_m: float
    wet: bool
    downstream: list[Place] = field(default_factory=list)  # within the downstream zone
    waters: list[Place] = field(default_factory=list)  # rivers, lakes, reservoirs nearby
    water_sources_downstream: list[Place] = field(default_factory=list)


def tailings_level(f: PondFacts, rules: dict[str, Any] | None = None) -> Reason:
    rules = rules or load("risk_rules")["tailings"]
    klass = pond_class(f.capacity_10k_m3, f.dam_height_m)
    head_top = bool(f.downstream)
    three_side = bool(f.waters or f.water_sources_downstream)
    facts = {"pond_class": klass, "head_top": head_top, "three_side": three_side, "wet": f.wet}
    rule = first_match(rules["levels"], facts)
    tags = [f"{'一二三四五'[klass - 1]}等库"] + (["头顶库"] if head_top else []) + (["三边库"] if three_side else [])
    return Reason(
        rule="tailings_pond",
        level=int(rule["level"]),
        summary="、".join([*tags, "湿式" if f.wet else "干式"]),
        basis=rules["source"],
        evidence=facts
        | {
            "capacity_10k_m3": f.capacity_10k_m3,
            "dam_height_m": f.dam_height_m,
            "downstream_within_m": rules["head_top_distance_m"],
            "downstream": [p.as_dict() for p in f.downstream],
            "waters": [p.as_dict() for p in f.waters],
            "water_sources_downstream": [p.as_dict() for p in f.water_sources_downstream],
        },
    )


def fact_zh(key: str, value: Any, labels: dict[str, Any]) -> str:
    """A fact as a person writes it, from the rules' labels; never a raw key."""
    label = labels.get(key)
    if isinstance(label, dict) and value in label:
        return str(label[value])
    if isinstance(label, str):
        return label.format(value)
    raise ValueError(f"no label for {key}={value!r} in the rules")


def mine_level(kind: str, attrs: dict[str, Any], rules: dict[str, Any] | None = None) -> Reason:
    """Coal mines by gas class, hydrogeology and capacity; non-coal by method and size."""
    rules = rules or load("risk_rules")[kind]
    rule = first_match(rules["levels"], attrs)
    level = int(rule["level"])
    labels = rules.get("labels", {})
    conditions = [fact_zh(k, v, labels) for k, v in rule["when"].items()]
    if conditions:
        summary = f"{'、'.join(conditions)} → {level_name_zh(level)}"
    else:
        known = [fact_zh(k, v, labels) for k, v in attrs.items() if isinstance(labels.get(k), dict) and v in labels[k]]
        summary = f"未达到更高等级的条件（{'、'.join(known) or '无登记属性'}）→ {level_name_zh(level)}"
    lower = first_match_changes(
        kind, rules["levels"], attrs, labels, lambda facts: int(first_match(rules["levels"], facts)["level"])
    )
    return Reason(
        rule=kind,
        level=level,
        summary=summary,
        basis=f"来源：{rules['source']}",
        evidence=dict(attrs),
        lower=[c.as_dict() for c in lower],
    )


def hazchem_level(held: list[Held], population: int, places: list[Place] | None = None) -> Reason:
    result = grade(held, population)
    if result.is_major_hazard:
        summary = f"{result.grade}级重大危险源 (R={result.r:.3g})"
    else:
        summary = f"非重大危险源 (S={result.s:.3g})"
    evidence = {k: v for k, v in result.as_dict().items() if k not in {"basis", "level", "color"}} | {
        "radius_m": load("gb18218")["exposure_radius_m"],
        "residents": [p.as_dict() for p in places or []],
    }
    return Reason(rule="gb18218", level=result.level, summary=summary, basis=result.basis, evidence=evidence)
