"""Pure domain rules: no database, no broker."""

import pytest
from shapely.geometry import LineString, Point, Polygon

from backend.domain.geo import GeometryError, check_geometry
from backend.domain.kinds import region_prefix
from backend.domain.substances import UnknownSubstance, find_substance
from backend.domain.tailings import pond_class
from backend.domain.thresholds import UnknownSensorKind, default_thresholds


@pytest.mark.parametrize(
    ("capacity", "height", "expected"),
    [
        (50, 20, 5),  # both class 5
        (100, 29.9, 4),  # capacity 4, height 5: one apart -> the higher
        (1000, 60, 3),
        (10000, 100, 2),
        (5000, 20, 4),  # capacity 3, height 5: two apart -> higher one less severe
        (20000, 10, 3),  # 2 vs 5 -> 3
        (99.9, 100, 3),  # 5 vs 2 -> 3
    ],
)
def test_pond_class_combines_capacity_and_height(capacity: float, height: float, expected: int) -> None:
    assert pond_class(capacity, height) == expected


def test_pond_class_refuses_negative_input() -> None:
    with pytest.raises(ValueError, match="negative"):
        pond_class(-1, 10)


def test_methane_thresholds_follow_the_location_table() -> None:
    t = default_thresholds("methane", "上隅角T0")
    assert t["direction"] == "above"
    assert [(lv["color"], lv["value"]) for lv in t["levels"]] == [("orange", 1.0), ("red", 1.5)]
    assert t["restore"] == 1.5
    inlet = default_thresholds("methane", "进风巷")
    assert [lv["value"] for lv in inlet["levels"]] == [0.5, 0.5]


def test_toxic_gas_thresholds_by_substance_and_unknown_substance() -> None:
    t = default_thresholds("toxic_gas", substance="硫化氢")
    assert [lv["value"] for lv in t["levels"]] == [10, 20]
    with pytest.raises(ValueError, match="光气"):
        default_thresholds("toxic_gas", substance="光气")


def test_tailings_thresholds_are_relative_to_the_design_value() -> None:
    t = default_thresholds("phreatic_line", design_value=5.0)
    assert t["direction"] == "below"
    assert {lv["color"]: lv["value"] for lv in t["levels"]} == {
        "red": 5.0,
        "orange": 5.5,
        "yellow": 6.0,
        "blue": 6.5,
    }


def test_rainfall_thresholds_are_the_rainstorm_signals() -> None:
    t = default_thresholds("rainfall")
    assert {(lv["color"], lv["value"], lv["window_h"]) for lv in t["levels"]} == {
        ("blue", 50, 12),
        ("yellow", 50, 6),
        ("orange", 50, 3),
        ("red", 100, 3),
    }


def test_unknown_sensor_kind() -> None:
    with pytest.raises(UnknownSensorKind):
        default_thresholds("radon")


def test_substance_lookup_by_cas_name_and_alias() -> None:
    assert find_substance(cas="7782-50-5")["name"] == "氯"
    assert find_substance("液氨")["q_t"] == 10
    assert find_substance("丙烯")["hazard_class"] == "W2"
    with pytest.raises(UnknownSubstance, match="钚"):
        find_substance("钚")


@pytest.mark.parametrize(
    ("geom", "expected", "message"),
    [
        (None, "point", "empty"),
        (Point(), "point", "empty"),
        (Point(2.35, 48.85), "point", "outside China"),
        (Point(43.8, 125.3), "point", "outside China"),  # latitude and longitude swapped
        (LineString([(125, 43), (126, 44)]), "point", "expected point"),
        (Polygon([(125, 43), (126, 44), (126, 43), (125, 44)]), "polygon", "invalid geometry"),
    ],
)
def test_geometry_checks(geom, expected: str, message: str) -> None:
    with pytest.raises(GeometryError, match=message):
        check_geometry(geom, expected)


def test_region_prefix() -> None:
    assert region_prefix("220000") == "22"
    assert region_prefix("220200") == "2202"
    assert region_prefix("220203") == "220203"
