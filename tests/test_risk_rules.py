"""Golden tests of the pure grading rules against the standards' numbers."""

from datetime import UTC, date, datetime, timedelta

import pytest

from backend.domain.dynamic import ActiveAlarm, Activity, HiddenHazard, RainWarning, SiteNow, dynamic_level
from backend.domain.inherent import Place, PondFacts, mine_level, tailings_level
from backend.domain.levels import BLUE, ORANGE, RED, YELLOW
from backend.domain.major_hazard import Held, alpha_for, grade
from backend.domain.rules_models import FloodSeason
from backend.domain.season import in_flood_season, in_main_flood_season
from backend.domain.substances import UnknownSubstance


def test_worked_example_chlorine_and_ammonia() -> None:
    r = grade([Held(10, "氯"), Held(30, cas="7664-41-7")], 120)
    assert r.s == pytest.approx(5) and r.is_major_hazard
    assert r.alpha == 2.0 and r.r == pytest.approx(28)
    assert (r.grade, r.color) == (3, "yellow")
    assert [(t.name, t.critical_quantity_t, t.beta) for t in r.substances] == [("氯", 5, 4), ("氨", 10, 2)]


@pytest.mark.parametrize(
    ("population", "alpha"),
    [(0, 0.5), (1, 1.0), (29, 1.0), (30, 1.2), (49, 1.2), (50, 1.5), (99, 1.5), (100, 2.0), (5000, 2.0)],
)
def test_alpha_bands(population: int, alpha: float) -> None:
    assert alpha_for(population) == alpha


@pytest.mark.parametrize(
    ("chlorine_t", "expected_grade"),
    # 1 resident: alpha 1, R = 4 * q / 5
    [(12.49, 4), (12.5, 3), (62.49, 3), (62.5, 2), (124.9, 2), (125, 1)],
)
def test_grade_boundaries(chlorine_t: float, expected_grade: int) -> None:
    assert grade([Held(chlorine_t, "氯")], 1).grade == expected_grade


def test_table2_substance_takes_q_and_beta_from_its_class() -> None:
    r = grade([Held(20, "丙烯")], 0)
    term = r.substances[0]
    assert (term.critical_quantity_t, term.beta, term.table) == (10, 1.5, "Table 2 (W2)")
    assert r.s == pytest.approx(2) and r.r == pytest.approx(0.5 * 1.5 * 2) and r.grade == 4


def test_below_critical_quantity_is_not_a_major_hazard() -> None:
    r = grade([Held(1, "氯"), Held(2, "氨")], 500)
    assert r.s == pytest.approx(0.4) and not r.is_major_hazard
    assert r.grade is None and r.level == BLUE


def test_unknown_substance_is_named() -> None:
    with pytest.raises(UnknownSubstance, match="二噁英"):
        grade([Held(1, "二噁英")], 0)


def test_negative_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        grade([Held(-1, "氯")], 0)


VILLAGE = Place("下游村", "village", 600, 300)
RIVER = Place("大沙河", "river", 800)


@pytest.mark.parametrize(
    ("capacity", "height", "down", "waters", "wet", "level"),
    [
        (1500, 70, [VILLAGE], [], True, RED),  # class 3 头顶库
        (50, 20, [VILLAGE], [], True, ORANGE),  # class 5 头顶库
        (1500, 70, [], [RIVER], True, ORANGE),  # class 3 三边库
        (50, 20, [], [RIVER], True, YELLOW),  # class 5 三边库
        (500, 40, [], [], True, YELLOW),  # class 4 wet
        (500, 40, [], [], False, BLUE),  # class 4 dry
        (50, 20, [], [], True, BLUE),
    ],
)
def test_tailings_table(capacity, height, down, waters, wet, level) -> None:
    reason = tailings_level(PondFacts(capacity, height, wet, down, waters))
    assert reason.level == level
    assert reason.evidence["head_top"] == bool(down) and reason.evidence["three_side"] == bool(waters)
    if down:
        assert "头顶库" in reason.summary and reason.evidence["downstream"][0]["distance_m"] == 600


def test_mine_tables() -> None:
    assert mine_level("coal_mine", {"gas_class": "outburst", "hydrogeology": "simple"}).level == RED
    assert mine_level("coal_mine", {"gas_class": "high_gas", "hydrogeology": "simple"}).level == ORANGE
    assert (
        mine_level("coal_mine", {"gas_class": "low_gas", "hydrogeology": "simple", "capacity_10k_t": 90}).level
        == YELLOW
    )
    assert (
        mine_level("coal_mine", {"gas_class": "low_gas", "hydrogeology": "simple", "capacity_10k_t": 9}).level == BLUE
    )
    assert mine_level("noncoal_mine", {"mining_method": "underground", "capacity_10k_t": 60}).level == ORANGE
    assert mine_level("noncoal_mine", {"mining_method": "open_pit", "capacity_10k_t": 5}).level == BLUE


NOW = datetime(2026, 7, 20, 4, 0, tzinfo=UTC)


def site(**kw) -> SiteNow:
    base = dict(
        site_kind="tailings_pond",
        status="operating",
        now=NOW,
        sensor_count=5,
        last_reading_at=NOW - timedelta(minutes=5),
        max_interval_s=3600,
    )
    return SiteNow(**(base | kw))


def rules_of(reasons) -> list[str]:
    return [r.rule for r in reasons]


def test_quiet_site_keeps_its_inherent_level() -> None:
    assert dynamic_level(BLUE, site()) == (BLUE, [])


def test_an_active_alarm_raises_to_its_colour_at_least() -> None:
    level, reasons = dynamic_level(BLUE, site(alarms=[ActiveAlarm(1, "orange", "threshold", "S1", 1.2, 1.0)]))
    assert level == ORANGE and rules_of(reasons) == ["active_alarm"]
    assert reasons[0].evidence["alarms"][0]["value"] == 1.2
    assert dynamic_level(RED, site(alarms=[ActiveAlarm(1, "yellow", "threshold")]))[0] == RED


def test_major_hidden_hazard_is_red() -> None:
    level, reasons = dynamic_level(BLUE, site(hidden_hazards=[HiddenHazard(3, "坝体裂缝", "2026-07-01")]))
    assert level == RED and reasons[0].rule == "major_hidden_hazard"


def test_silent_site_is_at_least_yellow() -> None:
    level, reasons = dynamic_level(BLUE, site(last_reading_at=NOW - timedelta(hours=3, seconds=1)))
    assert level == YELLOW and reasons[0].rule == "silent_site"
    assert dynamic_level(BLUE, site(last_reading_at=NOW - timedelta(hours=2, minutes=59)))[0] == BLUE
    assert dynamic_level(BLUE, site(last_reading_at=None))[0] == YELLOW
    assert dynamic_level(BLUE, site(sensor_count=0, last_reading_at=None))[0] == BLUE
    assert dynamic_level(ORANGE, site(last_reading_at=None))[0] == ORANGE


def test_covert_production_at_a_suspended_site_is_red() -> None:
    work = [Activity("S9", "power_draw", 180.0, "2026-07-20T03:59:00+00:00")]
    level, reasons = dynamic_level(BLUE, site(site_kind="coal_mine", status="suspended", activity=work))
    assert level == RED and reasons[0].rule == "covert_production"
    assert dynamic_level(BLUE, site(site_kind="coal_mine", status="operating", activity=work))[0] == BLUE


def test_rainstorm_warning_in_flood_season_raises_one_level() -> None:
    warn = [RainWarning("22000020260720", "orange")]
    level, reasons = dynamic_level(YELLOW, site(warnings=warn, in_flood_season=True))
    assert level == ORANGE and reasons[-1].rule == "rainstorm_warning"
    assert dynamic_level(YELLOW, site(warnings=warn, in_flood_season=False))[0] == YELLOW
    assert dynamic_level(YELLOW, site(site_kind="hazchem", warnings=warn, in_flood_season=True))[0] == YELLOW
    assert dynamic_level(RED, site(warnings=warn, in_flood_season=True))[0] == RED
    # On top of an alarm: orange from the alarm, then one level up.
    both = dynamic_level(BLUE, site(warnings=warn, in_flood_season=True, alarms=[ActiveAlarm(1, "orange", "x")]))
    assert both[0] == RED and rules_of(both[1]) == ["active_alarm", "rainstorm_warning"]


def test_flood_season_calendar_by_region() -> None:
    assert in_flood_season(date(2026, 6, 1)) and in_flood_season(date(2026, 9, 30))
    assert not in_flood_season(date(2026, 5, 31)) and not in_flood_season(date(2026, 10, 1))
    assert in_main_flood_season(date(2026, 7, 15)) and not in_main_flood_season(date(2026, 8, 16))
    rules = FloodSeason(
        source="test",
        default={"start": "06-01", "end": "09-30", "main_start": "07-15", "main_end": "08-15"},
        by_region={"222400": {"start": "05-15", "end": "09-30", "main_start": "07-01", "main_end": "08-31"}},
    )
    assert in_flood_season(date(2026, 5, 20), "222404", rules)  # 珲春 takes 延边州's dates
    assert not in_flood_season(date(2026, 5, 20), "220102", rules)
