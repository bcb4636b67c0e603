"""双随机一公开: the random part of a plan, drawn so that anyone can re-run it from the published
inputs and get the same result (docs/draws.md).

Algorithm `sha256-rank/v1`: every candidate gets the key SHA-256(seed || "|" || candidate id), as
lowercase hex of the UTF-8 bytes; candidates are sorted by (key, id) and the first k are drawn. The
seed is published before the draw, the candidates are published with it, so no one (the platform
included) can steer the result without the change being visible. Pure: no clock, no database.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ALGORITHM = "sha256-rank/v1"


def rank_key(seed: str, candidate: str) -> str:
    """The candidate's sort key: hex SHA-256 of `seed|candidate` (UTF-8)."""
    return hashlib.sha256(f"{seed}|{candidate}".encode()).hexdigest()


def ranked(seed: str, candidates: Iterable[str]) -> list[str]:
    """Every distinct candidate in draw order (ties, which SHA-256 makes improbable, by id)."""
    return sorted(set(candidates), key=lambda c: (rank_key(seed, c), c))


def sample_size(n: int, ratio: float | Decimal) -> int:
    """How many of n candidates a sampling ratio draws: rounded up, so a non-empty pool with a
    positive ratio always has at least one drawn (decimal arithmetic: 0.1 × 30 is 3, not 4)."""
    return min(n, math.ceil(Decimal(str(ratio)) * n))


def draw_sample(seed: str, candidates: Sequence[str], k: int) -> list[str]:
    """The first k candidates in draw order."""
    return ranked(seed, candidates)[: max(0, k)]


def draw_inspectors(seed: str, visit_key: str, eligible: Sequence[str], k: int) -> list[str]:
    """The k inspectors drawn for one visit from those eligible on its day: the candidate id of an
    inspector is `visit_key|inspector id`, so each visit has its own order."""
    order = sorted(set(eligible), key=lambda i: (rank_key(seed, f"{visit_key}|{i}"), i))
    return order[:k]


@dataclass(frozen=True)
class DrawInputs:
    """What is published with a draw: enough to re-run it."""

    seed: str
    ratio: float
    # blue-site candidates per supervising jurisdiction (adcode -> site codes)
    candidates: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # sample size per jurisdiction; None: sample_size(len(candidates), ratio)
    sizes: Mapping[str, int] | None = None
    # every visit whose inspectors were drawn: (visit key, the inspectors eligible on its day, how many)
    visits: Sequence[tuple[str, Sequence[str], int]] = ()
    algorithm: str = ALGORITHM

    def as_json(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "seed": self.seed,
            "ratio": self.ratio,
            "candidates": {j: sorted(c) for j, c in sorted(self.candidates.items())},
            "sizes": dict(sorted(self.sizes.items())) if self.sizes is not None else None,
            "visits": [{"key": k, "eligible": sorted(e), "draw": n} for k, e, n in self.visits],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DrawInputs:
        return cls(
            seed=str(data["seed"]),
            ratio=float(data["ratio"]),
            candidates={j: list(c) for j, c in data.get("candidates", {}).items()},
            sizes=data.get("sizes"),
            visits=[(v["key"], list(v["eligible"]), int(v["draw"])) for v in data.get("visits", [])],
            algorithm=str(data.get("algorithm", ALGORITHM)),
        )


@dataclass(frozen=True)
class DrawResult:
    sites: dict[str, list[str]]  # jurisdiction -> drawn site codes, in draw order
    inspectors: dict[str, list[str]]  # visit key -> drawn inspectors

    def as_json(self) -> dict[str, Any]:
        return {"sites": dict(sorted(self.sites.items())), "inspectors": dict(self.inspectors)}


class UnknownAlgorithm(ValueError):
    pass


def run(inputs: DrawInputs) -> DrawResult:
    """The draw from its published inputs: the same inputs always give the same result."""
    if inputs.algorithm != ALGORITHM:
        raise UnknownAlgorithm(f"algorithm {inputs.algorithm!r} is not {ALGORITHM!r}")
    sites = {}
    for jurisdiction, pool in sorted(inputs.candidates.items()):
        k = inputs.sizes[jurisdiction] if inputs.sizes is not None else sample_size(len(pool), inputs.ratio)
        sites[jurisdiction] = draw_sample(inputs.seed, pool, k)
    picks = {key: draw_inspectors(inputs.seed, key, eligible, k) for key, eligible, k in inputs.visits}
    return DrawResult(sites, picks)
