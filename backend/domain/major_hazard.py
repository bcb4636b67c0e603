"""GB 18218-2018: is a unit a major hazard installation, and of which grade: pure.

Identification and grading are per unit (单元: one production unit or one storage unit, GB 18218-2018
§3): S and R are summed over one unit's substances only, and an enterprise is as severe as its worst
unit. Every reason a person reads is Chinese; the numbers stay beside it for machines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from backend.domain.levels import BLUE, color_of
from backend.domain.numbers import shown
from backend.domain.substances import GB18218, UnknownSubstance, gb18218, resolve

GRADE_ZH = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
UNIT_KIND_ZH = {"production": "生产单元", "storage": "储存单元", None: "未划分单元"}
# The unit an inventory given without units is put in: the whole site, one per site.
DEFAULT_UNIT_CODE = "SITE"
DEFAULT_UNIT_NAME = "全厂（未划分单元）"


@dataclass(frozen=True)
class Held:
    """A substance held in a unit at its design maximum quantity (t)."""

    quantity_t: float
    name: str | None = None
    cas: str | None = None
    hazard_class: str | None = None  # needed for a substance not in Table 1


@dataclass(frozen=True)
class SubstanceTerm:
    cas: str | None
    name: str
    quantity_t: float
    critical_quantity_t: float
    beta: float
    ratio: float  # q / Q
    table: str  # which table gave Q (machine-readable): "Table 1", or "Table 2 (W2)" by class
    hazard_class: str | None = None
    beta_table: str = "表4"  # which table gave β: 表3, 表4, or 表1注


@dataclass(frozen=True)
class MajorHazardResult:
    s: float
    is_major_hazard: bool
    alpha: float
    exposed_population: int
    r: float
    grade: int | None
    level: int
    color: str
    substances: list[SubstanceTerm]
    basis: str
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "s": self.s,
            "is_major_hazard": self.is_major_hazard,
            "alpha": self.alpha,
            "exposed_population": self.exposed_population,
            "r": self.r,
            "grade": self.grade,
            "level": self.level,
            "color": self.color,
            "substances": [asdict(t) for t in self.substances],
            "basis": self.basis,
            "summary": self.summary,
        }


class UnitGradingError(UnknownSubstance):
    """One unit cannot be graded (a substance or class the tables lack): names the unit."""

    def __init__(self, unit_code: str, unit_name: str, cause: UnknownSubstance) -> None:
        super().__init__(f"单元「{unit_name}」（{unit_code}）无法辨识：{cause}", cause.substance)
        self.unit_code = unit_code
        self.cause = cause


def alpha_for(population: int, table: GB18218 | None = None) -> float:
    """Table 5: α from the resident population within 500 m."""
    if population < 0:
        raise ValueError("population must not be negative")
    table = table or gb18218()
    for band in table.alpha_bands:
        if population >= band.min_population:
            return band.alpha
    raise ValueError(f"no alpha band for {population}")


def term_for(held: Held, table: GB18218 | None = None) -> SubstanceTerm:
    if held.quantity_t < 0:
        raise ValueError(f"quantity of {held.name or held.cas} must not be negative")
    r = resolve(held.name, held.cas, held.hazard_class, table)
    table_label = "Table 1" if r.q_table == "表1" else f"Table 2 ({r.hazard_class})"
    return SubstanceTerm(
        r.cas,
        r.name,
        held.quantity_t,
        r.q_t,
        r.beta,
        held.quantity_t / r.q_t,
        table_label,
        r.hazard_class,
        r.beta_table,
    )


def _n(x: float, *edges: float) -> str:
    """A number as a person writes it (56.0, 0.75, 1.4), never across the edge it is judged by."""
    return shown(x, *edges)


def grade(held: list[Held], population: int, table: GB18218 | None = None) -> MajorHazardResult:
    """One unit: S = Σ q/Q; R = α · Σ β·q/Q; grade 1–4 by R when S ≥ 1 (GB 18218-2018 §4, Tables 5–6)."""
    table = table or gb18218()
    terms = [term_for(h, table) for h in held]
    s = sum(t.ratio for t in terms)
    alpha = alpha_for(population, table)
    r = alpha * sum(t.beta * t.ratio for t in terms)
    major = s >= 1
    band = next(g for g in table.grades if r >= g.min_r) if major else None
    level = band.grade if band else BLUE
    edges = [g.min_r for g in table.grades if g.min_r > 0]
    where = f"α = {_n(alpha)}，{table.exposure_radius_m:g} m 内常住人口 {population} 人"
    if band:
        bound = f"≥ {band.min_r:g}" if band.min_r > 0 else f"< {min(g.min_r for g in table.grades if g.min_r > 0):g}"
        summary = (
            f"{GRADE_ZH[band.grade]}重大危险源：R = {_n(r, *edges)} {bound}"
            f"（GB 18218-2018 {table.clauses.grading}；{where}）"
        )
        basis = (
            f"{table.source} {table.clauses.identification}：S = Σq/Q = {_n(s, 1)} ≥ 1，构成重大危险源；"
            f"{table.clauses.grading}：R = α·Σβq/Q = {_n(alpha)} × {_n(r / alpha)} = {_n(r, *edges)}"
        )
    else:
        summary = f"非重大危险源：S = Σq/Q = {_n(s, 1)} < 1（GB 18218-2018 {table.clauses.identification}）"
        basis = f"{table.source} {table.clauses.identification}：单元内 S = Σq/Q = {_n(s, 1)} < 1，不构成重大危险源"
    return MajorHazardResult(
        round(s, 6),
        major,
        alpha,
        population,
        round(r, 6),
        band.grade if band else None,
        level,
        color_of(level),
        terms,
        basis,
        summary,
    )


@dataclass(frozen=True)
class Unit:
    """A production or storage unit with what it holds and the residents near its footprint."""

    code: str
    name: str
    kind: str | None  # production | storage; None: the site's default unit (no units given)
    held: list[Held]
    population: int = 0
    own_footprint: bool = False  # α measured around the unit's own footprint, not the plant's


@dataclass(frozen=True)
class UnitResult:
    unit: Unit
    result: MajorHazardResult

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "code": self.unit.code,
            "name": self.unit.name,
            "kind": self.unit.kind,
            "kind_zh": UNIT_KIND_ZH[self.unit.kind],
            "substances": [
                {
                    "name": t.name,
                    "cas": t.cas,
                    "quantity_t": t.quantity_t,
                    "q_t": t.critical_quantity_t,
                    "beta": t.beta,
                    "hazard_class": t.hazard_class,
                    "table": t.table,
                    "beta_table": t.beta_table,
                }
                for t in r.substances
            ],
            "s": r.s,
            "is_major_hazard": r.is_major_hazard,
            "alpha": r.alpha,
            "exposed_population": r.exposed_population,
            "exposure_measured_from": "unit" if self.unit.own_footprint else "plant",
            "r": r.r,
            "grade": r.grade,
            "level": r.level,
            "color": r.color,
            "summary": r.summary,
        }


def grade_unit(unit: Unit, table: GB18218 | None = None) -> UnitResult:
    """One unit graded on its own; a substance the tables lack raises UnitGradingError naming the unit."""
    try:
        return UnitResult(unit, grade(unit.held, unit.population, table))
    except UnitGradingError:
        raise
    except UnknownSubstance as exc:
        raise UnitGradingError(unit.code, unit.name, exc) from exc


def worst(results: list[UnitResult]) -> UnitResult | None:
    """The most severe major-hazard unit (highest R among the lowest grade number), if any."""
    major = [u for u in results if u.result.is_major_hazard]
    return min(major, key=lambda u: (u.result.level, -u.result.r)) if major else None
