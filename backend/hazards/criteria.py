"""The 重大事故隐患 criteria (hidden_hazard_criteria.yaml) as items a form offers and a hazard names,
and the 挂牌督办 level rules: pure reads of the validated rules file."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import cast

from backend.domain.rules_models import HiddenHazardCriteria, SupervisionWhen
from backend.domain.rules_models import rules as validated

NAME = "hidden_hazard_criteria"


@dataclass(frozen=True)
class Criterion:
    key: str  # "coal:五"
    standard: str  # the standard's code
    title: str  # 《…》
    document: str  # 应急管理部令第4号
    no: str
    text: str
    unconfirmed: bool

    @property
    def basis(self) -> str:
        """判定依据 as a bureau writes it."""
        return f"{self.title}（{self.document}）第（{self.no}）项：{self.text}"


def rules() -> HiddenHazardCriteria:
    return cast(HiddenHazardCriteria, validated(NAME))


@cache
def all_items() -> tuple[Criterion, ...]:
    return tuple(
        Criterion(f"{s.code}:{i.number}", s.code, s.title, s.document, i.number, i.text, i.unconfirmed)
        for s in rules().standards
        for i in s.items
    )


def item(key: str) -> Criterion | None:
    return next((c for c in all_items() if c.key == key), None)


def for_site(site_kind: str, mining_method: str | None = None) -> list[Criterion]:
    """The items the picker offers for a site of this kind (a non-coal mine: of its method; one
    whose method is not recorded gets both underground and open-pit items)."""
    codes = {
        s.code
        for s in rules().standards
        if site_kind in s.site_kinds
        and (s.mining_methods is None or mining_method is None or mining_method in s.mining_methods)
    }
    return [c for c in all_items() if c.standard in codes]


def supervision_level(site_kind: str, adcode: str, ordered_by: str | None) -> str:
    """The level of the authority that supervises (挂牌督办) a 重大隐患 at this site."""
    for rule in rules().supervision.rules:
        w: SupervisionWhen = rule.when
        if w.site_kind is not None and w.site_kind != site_kind:
            continue
        if w.region is not None and not adcode.startswith(w.region):
            continue
        if w.ordered_by is not None and w.ordered_by != ordered_by:
            continue
        return rule.level
    return "county"
