"""The inherent (static) level of a site from its kind's rules: pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.domain.counterfactual import Change, Term, first_match_changes, hazard_changes
from backend.domain.levels import BLUE, Reason, first_match, level_name_zh
from backend.domain.major_hazard import Unit, UnitResult, grade_unit, worst
from backend.domain.rules_models import MineRules, TailingsRules, risk_rules
from backend.domain.substances import GB18218, gb18218
from backend.domain.tailings import PLACE_ZH, Upgrade, grade_pond, number


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
    downstream: list[Place] = field(default_factory=list)  # 头顶库 evidence: within 1 km downstream
    waters: list[Place] = field(default_factory=list)  # rivers, lakes, reservoirs nearby
    water_sources_downstream: list[Place] = field(default_factory=list)
    upgrade: Upgrade | None = None  # an operator's recorded GB 50863-2013 §3.2.1 upgrade


def _listed(places: list[Place], limit: int = 3, from_: str = "距") -> str:
    """桦芸堡（村庄，距坝 700 m）、… 等 5 处."""
    shown = "、".join(
        f"{p.name}（{PLACE_ZH.get(p.kind, p.kind)}，{from_} {p.distance_m:.0f} m）" for p in places[:limit]
    )
    return shown + (f" 等 {len(places)} 处" if len(places) > limit else "")


def tailings_level(f: PondFacts, rules: TailingsRules | None = None) -> Reason:
    """The pond's level from its class, 头顶库, 三边库 and wet/dry, with a Chinese sentence that names
    each fact, its threshold and its source."""
    rules = rules or risk_rules().tailings
    graded = grade_pond(f.capacity_10k_m3, f.dam_height_m, f.upgrade)
    klass = graded.pond_class
    head_top = bool(f.downstream)
    three_side = bool(f.waters or f.water_sources_downstream)
    facts = {"pond_class": klass, "head_top": head_top, "three_side": three_side, "wet": f.wet}
    rule = first_match(rules.levels, facts)
    level = rule.level
    dist = number(rules.head_top_distance_m)
    parts = [graded.reason]
    if head_top:
        parts.append(f"头顶库：坝下游 {dist} m 内有{_listed(f.downstream, from_='距坝')}（{rules.head_top_source}）")
    else:
        parts.append(f"非头顶库：坝下游 {dist} m 内无居民点及重要设施（{rules.head_top_source}）")
    if f.waters:
        parts.append(
            f"三边库：{number(rules.three_side_distance_m)} m 内临江河湖库：{_listed(f.waters)}"
            f"（{rules.three_side_source}；距离为平台自定参数）"
        )
    if f.water_sources_downstream:
        parts.append(
            f"三边库：下游 {number(rules.water_source_upstream_m)} m 内有饮用水源地："
            f"{_listed(f.water_sources_downstream, from_='距坝')}（{rules.three_side_source}；距离为平台自定参数）"
        )
    names = {lv: level_name_zh(lv) for lv in (1, 2, 3, 4)}
    parts.append(
        f"{'湿式' if f.wet else '干式'}尾矿库；按等别、头顶库、三边库、湿式/干式 → {names[level]}"
        "（平台默认分级表，待确认）"
    )
    # What would lower it: the downstream evidence moved away, or dry stacking; each checked by
    # the same table.
    lower: list[Change] = []
    if head_top:
        after = first_match(rules.levels, {**facts, "head_top": False}).level
        if after > level:
            text = f"若坝下游 {dist} m 内的{_listed(f.downstream, from_='距坝')}搬迁，不再为头顶库，降为{names[after]}"
            lower.append(Change("tailings_pond", "head_top", True, False, after, text))
    if f.wet:
        after = first_match(rules.levels, {**facts, "wet": False}).level
        if after > level:
            lower.append(Change("tailings_pond", "wet", True, False, after, f"若改为干式堆存，降为{names[after]}"))
    one_step = [c for c in lower if c.level_after == level + 1]
    return Reason(
        rule="tailings_pond",
        level=level,
        summary="；".join(parts),
        basis=rules.source,
        evidence=facts
        | graded.as_dict()
        | {
            "clause": graded.clause,
            "capacity_10k_m3": f.capacity_10k_m3,
            "dam_height_m": f.dam_height_m,
            "downstream_within_m": rules.head_top_distance_m,
            "downstream": [p.as_dict() for p in f.downstream],
            "waters": [p.as_dict() for p in f.waters],
            "water_sources_downstream": [p.as_dict() for p in f.water_sources_downstream],
        },
        lower=[c.as_dict() for c in one_step or lower],
    )


def fact_zh(key: str, value: Any, labels: dict[str, Any]) -> str:
    """A fact as a person writes it, from the rules' labels; never a raw key."""
    label = labels.get(key)
    if isinstance(label, dict) and value in label:
        return str(label[value])
    if isinstance(label, str):
        return label.format(value)
    raise ValueError(f"no label for {key}={value!r} in the rules")


def mine_level(kind: str, attrs: dict[str, Any], rules: MineRules | None = None) -> Reason:
    """Coal mines by gas class, hydrogeology and capacity; non-coal by method and size."""
    mine = rules or (risk_rules().coal_mine if kind == "coal_mine" else risk_rules().noncoal_mine)
    rule = first_match(mine.levels, attrs)
    level = rule.level
    labels: dict[str, Any] = dict(mine.labels)
    conditions = [fact_zh(k, v, labels) for k, v in rule.when.items()]
    if conditions:
        summary = f"{'、'.join(conditions)} → {level_name_zh(level)}"
    else:
        known = [fact_zh(k, v, labels) for k, v in attrs.items() if isinstance(labels.get(k), dict) and v in labels[k]]
        summary = f"未达到更高等级的条件（{'、'.join(known) or '无登记属性'}）→ {level_name_zh(level)}"
    lower = first_match_changes(kind, mine.levels, attrs, labels, lambda facts: first_match(mine.levels, facts).level)
    return Reason(
        rule=kind,
        level=level,
        summary=summary,
        basis=f"来源：{mine.source}",
        evidence=dict(attrs),
        lower=[c.as_dict() for c in lower],
    )


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
    return Reason(
        rule="gb18218",
        level=level,
        summary=summary,
        basis=basis,
        evidence=evidence,
        lower=[c.as_dict() for c in _unit_changes(results, top, table)],
    )


def _unit_changes(results: list[UnitResult], top: UnitResult | None, table: GB18218) -> list[Change]:
    """What would lower the worst unit's grade: a smaller quantity of one substance, or fewer
    residents within 500 m (the next α band). Where several units share the worst grade, each is
    listed: the site goes down only when all of them do."""
    if top is None or top.result.grade is None:
        return []
    grades = [g.model_dump() for g in table.grades]
    bands = [b.model_dump() for b in table.alpha_bands]
    changes: list[Change] = []
    for u in results:
        r = u.result
        if r.grade != top.result.grade:
            continue
        terms = [Term(t.name, t.quantity_t, t.critical_quantity_t, t.beta) for t in r.substances]
        changes += hazard_changes(u.unit.name, terms, r.alpha, r.exposed_population, grades, bands, r.grade)
    return changes
