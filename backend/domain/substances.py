"""GB 18218-2018's tables as typed data, and looking a substance up in them: pure.

The YAML (packaged, or an administrator's override) is validated into `GB18218` once; a bad file
fails with its path and the field, at start-up rather than in the middle of a regrade.
A substance is found in Table 1 by CAS number or by name/alias; one not in Table 1 needs its
hazard class (Table 2), which then gives Q and β (Table 4).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from backend.core.config import paths
from backend.domain.standards import PACKAGED

CasNumber = Annotated[str, Field(pattern=r"^\d{2,7}-\d{2}-\d$")]


class UnknownSubstance(LookupError):
    """A substance (or hazard class) the tables cannot grade: the reason is in Chinese."""

    def __init__(self, message: str, substance: str | None = None) -> None:
        super().__init__(message)
        self.substance = substance


class UnknownHazardClass(UnknownSubstance):
    pass


class AmbiguousSubstance(UnknownSubstance):
    pass


class StandardsError(ValueError):
    """A standards file that does not validate: names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HazardClass(_Strict):
    name: str
    q_t: float = Field(gt=0)
    beta: float = Field(gt=0)


class Table1Row(_Strict):
    seq: int = Field(ge=1)
    name: str = Field(min_length=1)
    standard_name: str | None = None
    aliases: list[str] = []
    cas: list[CasNumber] = []
    q_t: float = Field(gt=0)
    hazard_class: str | None = None
    beta: float | None = Field(None, gt=0)  # only for a row with no Table 2 class
    verify: bool = False
    note: str | None = None

    @field_validator("cas", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value or []

    @model_validator(mode="after")
    def _beta_source(self) -> Self:
        if self.hazard_class is None and self.beta is None:
            raise ValueError("a row without hazard_class needs beta")
        return self


class UnlistedSubstance(_Strict):
    name: str = Field(min_length=1)
    cas: CasNumber | None = None
    hazard_class: str
    note: str | None = None


class AlphaBand(_Strict):
    min_population: int = Field(ge=0)
    alpha: float = Field(gt=0)


class GradeBand(_Strict):
    grade: int = Field(ge=1, le=4)
    min_r: float = Field(ge=0)
    color: str


class Clauses(_Strict):
    identification: str
    grading: str
    verify: bool = False


def normalise(name: str) -> str:
    """Full-width and ASCII punctuation, spaces and letter case do not distinguish names."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


class GB18218(_Strict):
    source: str
    sources: list[str] = Field(min_length=1)
    clauses: Clauses
    alpha_bands: list[AlphaBand] = Field(min_length=1)
    exposure_radius_m: float = Field(gt=0)
    grades: list[GradeBand] = Field(min_length=4, max_length=4)
    hazard_classes: dict[str, HazardClass]
    toxic_gas_beta: dict[str, float]
    substances: list[Table1Row] = Field(min_length=1)
    unlisted_substances: list[UnlistedSubstance] = []
    _by_name: dict[str, Table1Row] = PrivateAttr(default_factory=dict)
    _by_cas: dict[str, list[Table1Row]] = PrivateAttr(default_factory=dict)
    _table3: dict[int, float] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if [b.min_population for b in self.alpha_bands] != sorted(
            (b.min_population for b in self.alpha_bands), reverse=True
        ):
            raise ValueError("alpha_bands: order by min_population, largest first")
        if self.alpha_bands[-1].min_population != 0:
            raise ValueError("alpha_bands: the last band must start at 0")
        if [g.min_r for g in self.grades] != sorted((g.min_r for g in self.grades), reverse=True):
            raise ValueError("grades: order by min_r, largest first")
        names: dict[str, int] = {}
        for row in self.substances:
            if row.hazard_class is not None and row.hazard_class not in self.hazard_classes:
                raise ValueError(
                    f"substances: row {row.seq}: hazard_class {row.hazard_class!r} is not in hazard_classes"
                )
            for n in {normalise(x) for x in (row.name, row.standard_name, *row.aliases) if x}:
                if n in names:
                    raise ValueError(f"substances: the name {n!r} of row {row.seq} is also row {names[n]}'s")
                names[n] = row.seq
        for name in self.toxic_gas_beta:
            if normalise(name) not in names:
                raise ValueError(f"toxic_gas_beta: {name!r} is no Table 1 name or alias")
        for u in self.unlisted_substances:
            if u.hazard_class not in self.hazard_classes:
                raise ValueError(
                    f"unlisted_substances: {u.name}: hazard_class {u.hazard_class!r} is not in hazard_classes"
                )
            if normalise(u.name) in names:
                raise ValueError(f"unlisted_substances: {u.name!r} is in Table 1 (row {names[normalise(u.name)]})")
        return self

    def hazard_class(self, code: str) -> HazardClass:
        try:
            return self.hazard_classes[code]
        except KeyError:
            raise UnknownHazardClass(
                f"危险性类别「{code}」不在 GB 18218-2018 表2 中（应为 {', '.join(self.hazard_classes)} 之一）", code
            ) from None

    def model_post_init(self, context: Any) -> None:
        """Indexes by name and CAS number: a regrade looks up every inventory row."""
        for row in self.substances:
            for n in {normalise(x) for x in (row.name, row.standard_name, *row.aliases) if x}:
                self._by_name[n] = row
            for c in row.cas:
                self._by_cas.setdefault(c, []).append(row)
        for name, beta in self.toxic_gas_beta.items():
            if row := self._by_name.get(normalise(name)):  # an unknown name is reported by _consistent
                self._table3[row.seq] = beta

    def table3_beta(self, row: Table1Row) -> float | None:
        return self._table3.get(row.seq)

    def named(self, name: str) -> Table1Row | None:
        return self._by_name.get(normalise(name)) if name else None

    def with_cas(self, cas: str) -> list[Table1Row]:
        return self._by_cas.get(cas, []) if cas else []


def _source(name: str) -> Path:
    override = paths().data_dir / "standards" / f"{name}.yaml"
    return override if override.exists() else PACKAGED / f"{name}.yaml"


def parse_gb18218(data: Any, source: str) -> GB18218:
    try:
        return GB18218.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(top level)"
        raise StandardsError(f"{source}: {where}: {first['msg']}") from None


@cache
def gb18218() -> GB18218:
    """The validated tables; called at start-up so that a bad override stops the start."""
    path = _source("gb18218")
    with path.open(encoding="utf-8") as f:
        return parse_gb18218(yaml.safe_load(f), str(path))


@dataclass(frozen=True)
class Resolved:
    """What GB 18218-2018 says of one substance: its Q, its β and which table gave each."""

    name: str
    cas: str | None
    q_t: float
    beta: float
    hazard_class: str | None
    q_table: str  # 表1 or 表2
    beta_table: str  # 表3, 表4, or 表1注 (a Table 1 row with no Table 2 class)
    seq: int | None = None  # Table 1 row
    verify: bool = False


def _from_row(row: Table1Row, table: GB18218) -> Resolved:
    beta, beta_table = table.table3_beta(row), "表3"
    if beta is None and row.hazard_class is not None:
        beta, beta_table = table.hazard_class(row.hazard_class).beta, "表4"
    if beta is None:
        beta, beta_table = row.beta, "表1注"
    assert beta is not None  # the model requires a class or a beta
    return Resolved(
        row.name,
        row.cas[0] if row.cas else None,
        row.q_t,
        beta,
        row.hazard_class,
        "表1",
        beta_table,
        row.seq,
        row.verify,
    )


def resolve(
    name: str | None = None, cas: str | None = None, hazard_class: str | None = None, table: GB18218 | None = None
) -> Resolved:
    """Table 1 by CAS number or name (a given class is then ignored: Table 1's Q applies);
    otherwise Tables 2 and 4 by the class given, or by the class configured for an unlisted substance."""
    table = table or gb18218()
    name, cas, hazard_class = (name or "").strip(), (cas or "").strip(), (hazard_class or "").strip()
    key = normalise(name) if name else ""
    row = table.named(name)
    named = [row] if row else []
    by_cas = table.with_cas(cas)
    if len(by_cas) == 1:
        if named and named[0] is not by_cas[0]:
            raise AmbiguousSubstance(
                f"名称「{name}」（表1 第{named[0].seq}行）与 CAS 号 {cas}"
                f"（表1 第{by_cas[0].seq}行「{by_cas[0].name}」）不符，请核对",
                name or cas,
            )
        return _from_row(by_cas[0], table)
    if by_cas:
        chosen = [r for r in by_cas if r in named]
        if len(chosen) == 1:
            return _from_row(chosen[0], table)
        rows = "、".join(f"{r.seq}「{r.name}」" for r in by_cas)
        raise AmbiguousSubstance(
            f"CAS 号 {cas} 对应 GB 18218-2018 表1 中的多行（{rows}），请给出该行的名称", name or cas
        )
    if named:
        return _from_row(named[0], table)
    if key == normalise("硝酸铵"):
        # Table 1 splits it by combustible content (rows 43 and 44); a class given says which row,
        # and Table 1's Q applies, never Table 2's.
        by_class = {"W1.1": 43, "W9.2": 44}
        if hazard_class not in by_class:
            raise AmbiguousSubstance(
                "「硝酸铵」在 GB 18218-2018 表1 中按可燃物含量分为第43行（>0.2%，W1.1）、第44行（≤0.2%，W9.2），"
                "请写明含量或给出其中一类",
                name,
            )
        return _from_row(next(r for r in table.substances if r.seq == by_class[hazard_class]), table)
    unlisted = next(
        (u for u in table.unlisted_substances if (key and normalise(u.name) == key) or (cas and u.cas == cas)), None
    )
    klass = hazard_class or (unlisted.hazard_class if unlisted else "")
    if not klass:
        raise UnknownSubstance(
            f"物质「{name or cas}」不在 GB 18218-2018 表1 中，且未给出危险性类别（表2），无法确定临界量", name or cas
        )
    hc = table.hazard_class(klass)
    return Resolved(
        unlisted.name if unlisted else name or cas,
        (unlisted.cas if unlisted else None) or cas or None,
        hc.q_t,
        hc.beta,
        klass,
        "表2",
        "表4",
    )


def find_substance(name: str | None = None, cas: str | None = None, table: GB18218 | None = None) -> dict[str, Any]:
    """The Table 1 row (or the configured unlisted substance) as a dict; raises UnknownSubstance."""
    r = resolve(name, cas, None, table)
    return {"name": r.name, "cas": r.cas, "q_t": r.q_t if r.q_table == "表1" else None, "hazard_class": r.hazard_class}
