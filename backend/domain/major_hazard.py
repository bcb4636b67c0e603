"""GB 18218-2018: is a unit a major hazard installation, and of which grade: pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.domain.levels import BLUE, color_of
from backend.domain.standards import load
from backend.domain.substances import find_substance


@dataclass(frozen=True)
class Held:
    quantity_t: float
    name: str | None = None
    cas: str | None = None


@dataclass(frozen=True)
class SubstanceTerm:
    cas: str | None
    name: str
    quantity_t: float
    critical_quantity_t: float
    beta: float
    ratio: float  # q / Q
    table: str  # which table gave Q


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
            "substances": [t.__dict__ for t in self.substances],
            "basis": self.basis,
        }


def alpha_for(population: int, table: dict[str, Any] | None = None) -> float:
    """Table 5: alpha from the resident population within 500 m."""
    if population < 0:
        raise ValueError("population must not be negative")
    table = table or load("gb18218")
    for band in table["alpha_bands"]:
        if population >= band["min_population"]:
            return float(band["alpha"])
    raise ValueError(f"no alpha band for {population}")


def term_for(held: Held, table: dict[str, Any]) -> SubstanceTerm:
    if held.quantity_t < 0:
        raise ValueError(f"quantity of {held.name or held.cas} must not be negative")
    entry = find_substance(held.name, held.cas, table)
    klass = entry["hazard_class"]
    if entry.get("q_t"):
        q, source = float(entry["q_t"]), "Table 1"
    else:
        q, source = float(table["class_critical_quantity_t"][klass]), f"Table 2 ({klass})"
    beta = entry.get("beta") or table["class_beta"].get(klass, table["class_beta"]["default"])
    return SubstanceTerm(entry.get("cas"), entry["name"], held.quantity_t, q, float(beta), held.quantity_t / q, source)


def grade(held: list[Held], population: int, table: dict[str, Any] | None = None) -> MajorHazardResult:
    """S = Σ q/Q; R = α · Σ β·q/Q; grade 1–4 by R when S ≥ 1 (GB 18218-2018 §4, Annex B)."""
    table = table or load("gb18218")
    terms = [term_for(h, table) for h in held]
    s = sum(t.ratio for t in terms)
    alpha = alpha_for(population, table)
    r = alpha * sum(t.beta * t.ratio for t in terms)
    major = s >= 1
    band = next(g for g in table["grades"] if r >= g["min_r"]) if major else None
    level = int(band["grade"]) if band else BLUE
    basis = f"{table['source']}: S = Σq/Q = {s:.3g}" + (
        f" ≥ 1, R = α·Σβq/Q = {alpha}×{r / alpha:.3g} = {r:.3g} → {band['grade']}级"
        if band
        else " < 1: not a major hazard installation"
    )
    return MajorHazardResult(
        round(s, 6),
        major,
        alpha,
        population,
        round(r, 6),
        int(band["grade"]) if band else None,
        level,
        color_of(level),
        terms,
        basis,
    )
