"""What would lower the level: each change, applied, really lowers the level by the rules, and a
smaller change does not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.domain.counterfactual import Term, hazard_changes
from backend.domain.dynamic import ActiveAlarm, HiddenHazard, RainWarning, SiteNow, dynamic_level
from backend.domain.inherent import Place, PondFacts, mine_level, tailings_level
from backend.domain.levels import BLUE, ORANGE, YELLOW
from backend.domain.major_hazard import Held, grade
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
    deciding = [r for r in body["reasons"] if r["level"] == body["level"] and r["rule"] != "rainstorm_warning"]
    assert all(c["lowers_site"] == (deciding == [inherent]) for c in inherent["lower"])
    assert client.get("/api/v1/sites/JL-NONE-0001/risk").status_code == 404


UNIT_CASES = [
    # (what the unit holds (name, t), residents within 500 m, whether a single change can lower it)
    ([("氯", 30.0), ("氨", 30.0)], 120, True),  # 二级: R = 60
    ([("氯", 60.0), ("氨", 30.0)], 120, True),  # 一级: R = 108
    ([("氯", 12.0), ("氨", 30.0)], 120, False),  # 三级 at R = 31.2: no single change reaches R < 10 or S < 1
    ([("光气", 0.33)], 120, True),  # 三级; S < 1 is the smaller reduction: no longer a major hazard
]


def _graded(held: list[tuple[str, float]], population: int):
    return grade([Held(q, name) for name, q in held], population)


@pytest.mark.parametrize(("held", "population", "offered"), UNIT_CASES)
def test_major_hazard_changes_lower_the_unit_by_the_standard_and_a_smaller_change_does_not(
    held: list[tuple[str, float]], population: int, offered: bool
) -> None:
    """Each change is checked by grading again with GB 18218 (not by the counterfactual's own
    arithmetic): just below the quantity offered the unit is lower; 2 % above it, it is not."""
    table = load("gb18218")
    before = _graded(held, population)
    terms = [Term(t.name, t.quantity_t, t.critical_quantity_t, t.beta) for t in before.substances]
    changes = hazard_changes(
        "2号罐区", terms, before.alpha, population, table["grades"], table["alpha_bands"], before.grade
    )
    assert bool(changes) == offered
    for c in changes:
        assert c.text.startswith("若2号罐区")
        if c.fact.startswith("quantity:"):
            # The change names the substance as Table 1 does (光气 is 碳酰氯): find it by position.
            i = [t.name for t in before.substances].index(c.fact.split(":", 1)[1])

            def with_quantity(q: float, i: int = i):
                return _graded([(n, q if j == i else v) for j, (n, v) in enumerate(held)], population)

            lowered = with_quantity(c.proposed * (1 - 1e-9))
            assert lowered.level > before.level or not lowered.is_major_hazard, c
            if "不再构成重大危险源" in c.text:
                assert not lowered.is_major_hazard
            else:
                assert lowered.grade == before.grade + 1
            assert with_quantity(c.proposed * 1.02).level == before.level, "a smaller reduction would do"
        else:
            assert _graded(held, int(c.proposed) - 1).grade == before.grade + 1
            assert _graded(held, int(c.proposed)).grade == before.grade


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


def _site(**kw) -> SiteNow:
    return SiteNow(site_kind="coal_mine", status="operating", now=datetime(2026, 7, 20, tzinfo=UTC), **kw)


def test_a_raising_reason_says_what_ends_it_and_grading_without_it_agrees() -> None:
    alarm = ActiveAlarm(1, "orange", "threshold", "S1", 1.2, 1.0)
    level, reasons = dynamic_level(BLUE, _site(alarms=[alarm]))
    change = next(r for r in reasons if r.rule == "active_alarm").lower[0]
    assert change["text"] == "若上述报警全部处置消除，降为低风险"
    assert dynamic_level(BLUE, _site())[0] == change["level_after"] > level


def test_a_reason_another_one_holds_offers_nothing() -> None:
    hazard = HiddenHazard(1, "主通风机无备用", "2026-07-01")
    alarm = ActiveAlarm(1, "red", "threshold")
    _, reasons = dynamic_level(BLUE, _site(alarms=[alarm], hidden_hazards=[hazard]))
    assert all(r.lower == [] for r in reasons)  # either gone alone, the other keeps it red


def test_a_rainstorm_raise_is_undone_when_the_warning_ends() -> None:
    site = _site(warnings=[RainWarning("CMA-1", "orange")], in_flood_season=True)
    level, reasons = dynamic_level(YELLOW, site)
    rain = next(r for r in reasons if r.rule == "rainstorm_warning")
    assert level == ORANGE and rain.lower[0]["text"] == "若暴雨预警解除，降为一般风险"
    assert dynamic_level(YELLOW, _site(in_flood_season=True))[0] == rain.lower[0]["level_after"]
