"""GB 18218-2018 against the values written out in the domain reference (shared/domain-reference.md
§2), not against the YAML under test: a wrong Q, β or class in the rules data fails here."""

from __future__ import annotations

import pytest

from backend.domain.substances import resolve

# Table 1 (selection the reference names): substance → critical quantity Q (t).
TABLE_1 = {
    "氯": 5, "氨": 10, "液化石油气": 50, "甲烷": 50, "天然气": 50, "氢": 5, "汽油": 200, "甲醇": 500,
    "乙醇": 500, "苯": 50, "甲苯": 500, "硫化氢": 5, "环氧乙烷": 10, "光气": 0.3, "碳酰氯": 0.3, "乙烯": 50,
    "乙炔": 1, "氯乙烯": 50, "1,3-丁二烯": 5, "丙烯腈": 50, "二氧化硫": 20, "氰化氢": 1, "氟化氢": 1,
    "二氧化氮": 1, "硝酸铵肥料": 200, "碳化钙": 100, "电石": 100, "异氰酸甲酯": 0.75, "二甲醚": 50,
    "苯乙烯": 500, "丙酮": 500, "1,2-环氧丙烷": 10, "钾": 1, "钠": 10,
}  # fmt: skip
# Table 3: β of the toxic gases.
TABLE_3 = {
    "一氧化碳": 2, "二氧化硫": 2, "氨": 2, "环氧乙烷": 2, "氯化氢": 3, "溴甲烷": 3, "氯": 4, "硫化氢": 5,
    "氟化氢": 5, "二氧化氮": 10, "氰化氢": 10, "碳酰氯": 20, "磷化氢": 20, "异氰酸甲酯": 20,
}  # fmt: skip
# Table 2 (Q by class) and Table 4 (β by class), complete.
TABLE_2 = {
    "J1": 5, "J2": 50, "J3": 50, "J4": 50, "J5": 500, "W1.1": 1, "W1.2": 10, "W1.3": 50, "W2": 10,
    "W3": 150, "W4": 50, "W5.1": 10, "W5.2": 50, "W5.3": 1000, "W5.4": 5000, "W6.1": 10, "W6.2": 50,
    "W7.1": 10, "W7.2": 50, "W8": 50, "W9.1": 50, "W9.2": 200, "W10": 200, "W11": 200,
}  # fmt: skip
TABLE_4 = {"J1": 4, "J3": 2, "J4": 2, "W1.1": 2, "W1.2": 2, "W1.3": 2, "W2": 1.5, "W5.1": 1.5, "W6.1": 1.5,
           "W7.1": 1.5}  # fmt: skip


@pytest.mark.parametrize(("name", "q_t"), sorted(TABLE_1.items()))
def test_table_1_critical_quantities(name: str, q_t: float) -> None:
    assert resolve(name).q_t == q_t


@pytest.mark.parametrize(("name", "beta"), sorted(TABLE_3.items()))
def test_table_3_beta_of_toxic_gases(name: str, beta: float) -> None:
    assert resolve(name, hazard_class="J2").beta == beta  # a listed gas keeps its Table 3 β


@pytest.mark.parametrize(("klass", "q_t"), sorted(TABLE_2.items()))
def test_table_2_and_4_by_class(klass: str, q_t: float) -> None:
    r = resolve("某未列明物质", hazard_class=klass)
    assert (r.q_t, r.beta) == (q_t, TABLE_4.get(klass, 1))


@pytest.mark.parametrize(
    ("name", "klass", "q_t", "beta"),
    [
        ("硝酸铵", "W1.1", 5, 2),  # 可燃物 > 0.2 %: an explosive
        ("硝酸铵", "W9.2", 50, 1),  # 可燃物 ≤ 0.2 %: an oxidising solid
        ("硝酸铵肥料", None, 200, 1),
        ("氧", None, 200, 1),  # W4
        ("电石", None, 100, 1),  # W11
    ],
)
def test_the_corrected_hazard_classes(name: str, klass: str | None, q_t: float, beta: float) -> None:
    r = resolve(name, hazard_class=klass)
    assert (r.q_t, r.beta) == (q_t, beta)
