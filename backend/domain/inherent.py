"""The inherent (static) level of a site from its kind's rules: pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.domain.levels import BLUE, Reason, first_match
from backend.domain.major_hazard import Unit, grade_unit, worst
from backend.domain.standards import load
from backend.domain.substances import gb18218
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


def mine_level(kind: str, attrs: dict[str, Any], rules: dict[str, Any] | None = None) -> Reason:
    """Coal mines by gas class, hydrogeology and capacity; non-coal by method and size."""
    rules = rules or load("risk_rules")[kind]
    rule = first_match(rules["levels"], attrs)
    summary = "，".join(f"{k}={v}" for k, v in rule["when"].items()) or "其他"
    return Reason(rule=kind, level=int(rule["level"]), summary=summary, basis=rules["source"], evidence=dict(attrs))


def hazchem_level(units: list[Unit], places: list[Place] | None = None) -> Reason:
    """A chemical site is as severe as its worst major-hazard unit (GB 18218-2018 §4); with none it
    is blue, 非重大危险源. A unit the tables cannot grade raises UnitGradingError (naming it)."""
    table = gb18218()
    results = [grade_unit(u, table) for u in units]
    top = worst(results)
    if top is not None:
        majors = sum(1 for u in results if u.result.is_major_hazard)
        level, summary, basis = (
            top.result.level,
            f"{top.unit.name}：{top.result.summary}" + (f"（共 {majors} 个重大危险源单元）" if majors > 1 else ""),
            top.result.basis,
        )
    elif results:
        biggest = max(results, key=lambda u: u.result.s)
        level = BLUE
        summary = (
            f"非重大危险源：各单元 S = Σq/Q 均 < 1（最大为{biggest.unit.name} S = {biggest.result.s:.2f}；"
            f"GB 18218-2018 {table.clauses.identification}）"
        )
        basis = f"{table.source} {table.clauses.identification}：按单元辨识，无单元构成重大危险源"
    else:
        level, summary = BLUE, "非重大危险源：未登记危险化学品储量"
        basis = f"{table.source} {table.clauses.identification}"
    evidence = {
        "units": [u.as_dict() for u in results],
        "worst_unit": top.unit.code if top else None,
        "is_major_hazard": top is not None,
        "radius_m": table.exposure_radius_m,
        "residents": [p.as_dict() for p in places or []],
    }
    if top is not None:
        evidence |= {k: top.as_dict()[k] for k in ("s", "alpha", "exposed_population", "r", "grade")}
    return Reason(rule="gb18218", level=level, summary=summary, basis=basis, evidence=evidence)
