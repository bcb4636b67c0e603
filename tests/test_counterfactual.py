"""What would lower the level: each change, applied, really lowers the level by the rules, and a
smaller change does not."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.domain.counterfactual import Term, hazard_changes
from backend.domain.inherent import Place, PondFacts, mine_level, tailings_level
from backend.domain.standards import load

MINES = [
    ("coal_mine", {"gas_class": "outburst", "hydrogeology": "simple", "capacity_10k_t": 120}),
    ("coal_mine", {"gas_class": "high_gas", "hydrogeology": "medium", "capacity_10k_t": 60}),
    ("coal_mine", {"gas_class": "low_gas", "hydrogeology": "simple", "capacity_10k_t": 120}),
    ("noncoal_mine", {"mining_method": "underground", "capacity_10k_t": 45}),
    ("noncoal_mine", {"mining_method": "open_pit", "capacity_10k_t": 150}),
]


@pytest.mark.parametrize(("kind", "attrs"), MINES)
def test_each_change_applied_lowers_the_level_and_a_smaller_one_does_not(kind: str, attrs: dict) -> None:
    before = mine_level(kind, attrs)
    assert before.lower, f"no change offered for {attrs}"
    for c in before.lower:
        after = mine_level(
            kind, {**attrs, c["fact"]: c["proposed"] - 0.01 if c["fact"] == "capacity_10k_t" else c["proposed"]}
        )
        assert after.level == c["level_after"] > before.level, c
        assert c["text"].startswith("若") and "降为" in c["text"]
        if c["fact"] == "capacity_10k_t":  # exactly at the threshold is not enough
            assert mine_level(kind, {**attrs, "capacity_10k_t": c["proposed"]}).level == before.level


def test_a_blue_site_has_nothing_to_lower() -> None:
    assert mine_level("noncoal_mine", {"mining_method": "open_pit", "capacity_10k_t": 20}).lower == []


def test_site_risk_endpoint_lists_reasons_with_clauses_and_what_would_lower_it(
    client: TestClient, session: Session
) -> None:
    code = session.scalar(
        text(
            "SELECT s.code FROM sites s JOIN site_risk r ON r.site_id = s.id "
            "WHERE s.kind = 'coal_mine' AND r.inherent_level < 4 ORDER BY s.code LIMIT 1"
        )
    )
    body = client.get(f"/api/v1/sites/{code}/risk").json()
    inherent = next(r for r in body["reasons"] if r["rule"] == "coal_mine")
    assert inherent["basis"].startswith("来源：") and inherent["evidence"]
    assert inherent["lower"] and all(c["text"].startswith("若") for c in inherent["lower"])
    assert body["lower"][0] in [*inherent["lower"], *[c for r in body["reasons"] for c in r["lower"]]]
    assert client.get("/api/v1/sites/JL-NONE-0001/risk").status_code == 404


def _r(terms: list[Term], alpha: float) -> float:
    return alpha * sum(t.beta * t.q / t.big_q for t in terms)


@pytest.mark.parametrize(("chlorine_t", "offered"), [(30.0, True), (60.0, True), (12.0, False)])
def test_major_hazard_changes_lower_the_grade_and_a_smaller_change_does_not(chlorine_t: float, offered: bool) -> None:
    table = load("gb18218")
    terms = [Term("氯", chlorine_t, 5, 4), Term("氨", 30, 10, 2)]
    alpha, population = 2.0, 120
    r = _r(terms, alpha)
    grade = next(int(g["grade"]) for g in table["grades"] if r >= g["min_r"])
    changes = hazard_changes("2号罐区", terms, alpha, population, table["grades"], table["alpha_bands"], grade)
    # 三级 at R = 31.2 needs R < 10: no single substance or α band gets there alone.
    assert bool(changes) == offered
    floor_r = next(float(g["min_r"]) for g in table["grades"] if int(g["grade"]) == grade)
    for c in changes:
        assert c.text.startswith("若2号罐区") and c.level_after == grade + 1
        if c.fact.startswith("quantity:"):
            name = c.fact.split(":", 1)[1]
            below = c.proposed * (1 - 1e-9)  # "降至 X t 以下"
            applied = [Term(t.name, below if t.name == name else t.q, t.big_q, t.beta) for t in terms]
            assert _r(applied, alpha) < floor_r  # below the quantity shown, the grade is lower
            exact = (floor_r / alpha - sum(t.beta * t.q / t.big_q for t in terms if t.name != name)) * next(
                t.big_q / t.beta for t in terms if t.name == name
            )
            at_limit = [Term(t.name, exact if t.name == name else t.q, t.big_q, t.beta) for t in terms]
            assert _r(at_limit, alpha) == pytest.approx(floor_r)  # no less reduction would do
        else:
            fewer = next(float(b["alpha"]) for b in table["alpha_bands"] if c.proposed - 1 >= b["min_population"])
            same = next(float(b["alpha"]) for b in table["alpha_bands"] if c.proposed >= b["min_population"])
            assert _r(terms, fewer) < floor_r <= _r(terms, same)


def test_a_head_top_pond_is_told_which_places_to_move_and_that_really_lowers_it() -> None:
    village = Place("桦芸堡", "village", 700, 120)
    facts = PondFacts(capacity_10k_m3=1500, dam_height_m=70, wet=True, downstream=[village])
    before = tailings_level(facts)
    move = next(c for c in before.lower if c["fact"] == "head_top")
    assert "桦芸堡" in move["text"] and "700" in move["text"] and "不再为头顶库" in move["text"]
    after = tailings_level(PondFacts(capacity_10k_m3=1500, dam_height_m=70, wet=True, downstream=[]))
    assert after.level == move["level_after"] > before.level


def test_a_major_hazard_change_applied_to_the_register_lowers_that_unit(
    client: TestClient, session: Session, seeded
) -> None:
    """Through the whole path: the change offered at /sites/{code}/risk, applied to the inventory
    and regraded, lowers the unit's grade; the quantity exactly at the limit would not."""
    from backend.risk.engine import regrade

    rows = session.execute(
        text(
            "SELECT s.code FROM sites s JOIN site_risk r ON r.site_id = s.id "
            "WHERE s.kind = 'hazchem' AND r.inherent_level < 4 ORDER BY s.code"
        )
    ).all()
    offered = None
    for (code,) in rows:
        body = client.get(f"/api/v1/sites/{code}/risk").json()
        reason = next(r for r in body["reasons"] if r["rule"] == "gb18218")
        quantity = [c for c in reason["lower"] if c["fact"].startswith("quantity:")]
        if quantity:
            offered = (code, reason, quantity[0])
            break
    assert offered, "no chemical site with a major-hazard unit that one substance could lower"
    code, reason, change = offered
    unit = next(u for u in reason["evidence"]["units"] if u["name"] in change["text"] and u["grade"])
    substance = change["fact"].split(":", 1)[1]

    def set_quantity(q: float) -> int:
        with Session(seeded) as s, s.begin():
            s.info["actor"] = "test:counterfactual"
            s.execute(
                text(
                    "UPDATE inventory_items i SET max_quantity_t = :q FROM hazard_units u, sites s "
                    "WHERE i.unit_id = u.id AND u.site_id = s.id AND s.code = :c AND u.code = :u AND i.substance = :n"
                ),
                {"q": q, "c": code, "u": unit["code"], "n": substance},
            )
            regrade(s)
        after = client.get(f"/api/v1/sites/{code}/risk").json()
        gb = next(r for r in after["reasons"] if r["rule"] == "gb18218")
        return next(u for u in gb["evidence"]["units"] if u["code"] == unit["code"])["grade"]

    try:
        lowered = set_quantity(change["proposed"] * (1 - 1e-6))
        assert lowered is None or lowered == unit["grade"] + 1
    finally:
        set_quantity(change["current"])
