"""The standards' rules files as models: a bad administrator's override stops the app start naming
its file, line and field; the packaged files validate; the state enums are the database's values."""

import re

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.alarms import lifecycle
from backend.core.config import paths
from backend.domain import alarm_rules
from backend.domain.rules_models import MODELS, check_rules, parse, rules
from backend.domain.standards import PACKAGED, load
from backend.domain.states import OPEN_ALARM_STATES, AlarmState, BroadcastState, Colour, RecipientStatus
from backend.domain.substances import StandardsError
from backend.models import Alarm, AlarmEvent, Recipient
from backend.models.risk import OPEN_ALARM_STATES as MODEL_OPEN_STATES
from backend.warnings import intake
from ingest.alarms import AlarmWriter
from tests.test_alarm_lifecycle import SUMMER, gauge_broadcasts, rain_gauge

# (file, text in the packaged file, its replacement, the field the error must name)
BAD = [
    ("risk_rules", "h3_resolution: 6 ", "h3_resolution: 66 ", "grid.h3_resolution"),
    (
        "risk_rules",
        "head_top_place_kinds: [residential,",
        "head_top_place_kinds: [residence,",
        "head_top_place_kinds.0",
    ),
    (
        "risk_rules",
        "- {when: {}, level: 4}\n  levels_source",
        "- {when: {wet: true}, level: 4}\n  levels_source",
        "levels.7.when",
    ),
    ("risk_levels", "color: orange", "color: purple", "levels.1.color"),
    ("sensor_thresholds", "gateway_color: orange", "gateway_color: purple", "offline.gateway_color"),
    ("sensor_thresholds", "restore: 2.5, enabled: false", "restore: 2.5, enabld: false", "专用排瓦斯巷.enabld"),
    ("sensor_thresholds", "window_h: 6}", "window_h: six}", "accumulation.1.window_h"),
    ("tailings", "min_height_m: 60}", "min_height_m: 高}", "height_classes.2.min_height_m"),
    ("flood_warning", "action: prepare\n", "action: flee\n", "rules.1.action"),
    ("flood_warning", "deadlines_min: {red: 15,", "deadlines_min: {red: -15,", "deadlines_min.red"),
    ("supervision", "ratio: 0.2", "ratio: 1.2", "random_sampling.ratio"),
    ("supervision", "per_year: {red: 4,", "per_year: {purple: 4,", "frequency.per_year.purple"),
    (
        "supervision",
        "tailings_pond: 非煤, hazchem: 危化}",
        "tailings_pond: 非煤, hazchem: 化工}",
        "team.specialities_by_kind.hazchem",
    ),
    (
        "supervision",
        "- {when: {kind: coal_mine}, level: prefecture}",
        "- {when: {kind: coal_mine}, level: city}",
        "jurisdiction.rules.1.level",
    ),
]


@pytest.fixture
def override_dir() -> object:
    folder = paths().data_dir / "standards"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _clear() -> None:
    rules.cache_clear()
    load.cache_clear()


@pytest.mark.parametrize(("name", "old", "new", "field"), BAD, ids=[f"{b[0]}:{b[3]}" for b in BAD])
def test_a_bad_override_stops_the_app_start_naming_file_line_and_field(
    override_dir, name: str, old: str, new: str, field: str
) -> None:
    from backend.api.main import create_app

    packaged = (PACKAGED / f"{name}.yaml").read_text(encoding="utf-8")
    assert packaged.count(old) == 1
    line = packaged[: packaged.index(old) + len(old.split("\n")[0]) - 1].count("\n") + 1
    override = override_dir / f"{name}.yaml"
    assert not override.exists()
    override.write_text(packaged.replace(old, new), encoding="utf-8")
    _clear()
    try:
        with pytest.raises(StandardsError) as failed:
            create_app()
        message = str(failed.value)
        assert message.startswith(f"{override}, line ")
        assert re.search(rf", line (\d+): [\w.]*{re.escape(field)}[\w.]*: ", message), message
        reported = int(re.search(r", line (\d+):", message)[1])
        assert reported == line, message
    finally:
        override.unlink()
        _clear()
    create_app()  # the packaged file in force again


def test_an_unknown_key_and_a_missing_one_are_named() -> None:
    text_ = (PACKAGED / "flood_warning.yaml").read_text(encoding="utf-8")
    assert text_.splitlines()[5].startswith("issuing_adcode:")
    typo = text_.replace("issuing_adcode:", 'issuing_adcod: "220000"\nissuing_adcode:')
    with pytest.raises(StandardsError, match=r"^x\.yaml, line 6: issuing_adcod: Extra inputs are not permitted$"):
        parse("flood_warning", typo, "x.yaml")
    # A missing field points at the mapping that lacks it (the first key of the file).
    with pytest.raises(StandardsError, match=r"^x\.yaml, line 3: issuing_adcode: Field required$"):
        parse("flood_warning", text_.replace("issuing_adcode:", "issuing_adcodes:"), "x.yaml")
    with pytest.raises(StandardsError, match=r"^x\.yaml: not valid YAML"):
        parse("tailings", "capacity_classes: [", "x.yaml")


def test_the_packaged_files_validate_and_agree_with_the_raw_mapping() -> None:
    check_rules()
    assert set(MODELS) == {p.stem for p in PACKAGED.glob("*.yaml")} - {"gb18218"}
    levels = rules("risk_levels").levels  # type: ignore[attr-defined]
    assert [(lv.level, lv.color) for lv in levels] == [
        (lv["level"], lv["color"]) for lv in load("risk_levels")["levels"]
    ]
    assert [lv.color for lv in levels] == list(reversed(Colour))


def test_rain_levels_are_read_only_when_they_have_a_window() -> None:
    """A fixed level in the same set is skipped, not a KeyError (the window was read before the check)."""
    thresholds = {
        "direction": "above",
        "levels": [{"color": "yellow", "value": 5}, {"color": "red", "value": 100, "window_h": 3}],
    }
    assert alarm_rules.accumulation_decision({3.0: 120.0}, thresholds, None) == alarm_rules.Decision("red", 120.0, 100)
    assert alarm_rules.accumulation_decision({3.0: 10.0}, thresholds, None) is None
    assert alarm_rules.rollup_color(["blue"] * 4) == "yellow"
    assert alarm_rules.debounce_of("tank_level", {}) == {"readings": 2}
    assert alarm_rules.debounce_of("methane", {}) == {"readings": 1}


def test_the_state_enums_are_what_the_database_holds(session: Session) -> None:
    assert [str(c) for c in Colour] == alarm_rules.ROLLUP_ORDER == ["blue", "yellow", "orange", "red"]
    assert tuple(OPEN_ALARM_STATES) == MODEL_OPEN_STATES == lifecycle.OPEN
    predicate = (
        session.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'alarms' AND indexdef LIKE '%WHERE%'"))
        .scalars()
        .all()
    )
    assert predicate and all(set(re.findall(r"'(\w+)'", d)) == set(OPEN_ALARM_STATES) for d in predicate)
    gauge = rain_gauge(session, "JL-TSF-0034")
    before = {b.id for b in gauge_broadcasts(session, gauge.site_id)}  # other tests' may be committed
    try:
        writer = AlarmWriter(session, SUMMER)
        writer.apply(gauge, "rain", alarm_rules.Decision("orange", 60.0, 50.0), "暴雨量")
        writer.finish()
        # The warning side's reaction, which riskmap deliver runs once a batch commits (see
        # test_alarm_lifecycle), here in this rolled-back transaction.
        intake.on_alarm_changes(session, writer.events, SUMMER)
        alarm_id = writer.events[0]["id"]
        [b] = [b for b in gauge_broadcasts(session, gauge.site_id) if b.id not in before]
        assert b.state == BroadcastState.active
        statuses = session.scalars(select(Recipient.status).where(Recipient.broadcast_id == b.id)).all()
        assert statuses and set(statuses) == {RecipientStatus.waiting}
        lifecycle.acknowledge(session, alarm_id, "admin", "admin", "已处置")
        clearing = AlarmWriter(session, SUMMER)
        clearing.load_open([f"{gauge.key_prefix}:rain"])
        clearing.apply(gauge, "rain", alarm_rules.Decision(None, 0.0, None), "暴雨量")
        clearing.finish()
        lifecycle.close(session, alarm_id, "admin", "已关闭")
        states = session.scalars(
            select(AlarmEvent.state).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
        )
        assert list(states) == list(AlarmState)
        assert session.get(Alarm, alarm_id).state == AlarmState.closed
    finally:
        session.rollback()
