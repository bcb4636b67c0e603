"""Working days know the State Council's holidays (holidays.yaml): the days off are not working days,
the weekend days worked (调休上班) are, a plan places no visit on a day off, and a year the file lacks
falls back to Monday to Friday with a warning in the plan."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from backend.domain.kinds import SiteKind
from backend.domain.rules_models import Holidays, Supervision, holidays, parse, rules
from backend.domain.standards import PACKAGED
from backend.domain.states import Colour
from backend.domain.substances import StandardsError
from backend.domain.unconfirmed import unconfirmed
from backend.supervision import service
from backend.supervision.plan import Inspector, Period, SiteFacts, generate, working_days

RULES: Supervision = rules("supervision")  # type: ignore[assignment]
HOLIDAYS = holidays()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def test_national_day_2026_is_off_and_its_saturday_is_worked() -> None:
    october = working_days(2026, 10)
    # 国庆节 2026: 10月1日（周四）至7日（周三）放假调休，10月10日（周六）上班; 10月8日（周四）is a working day
    assert not set(_days(date(2026, 10, 1), date(2026, 10, 7))) & set(october)
    assert date(2026, 10, 8) in october and date(2026, 10, 10) in october
    assert date(2026, 10, 10).weekday() == 5 and date(2026, 10, 11) not in october  # the Sunday after stays off
    assert date(2026, 9, 20) in working_days(2026, 9)  # the Sunday worked before it
    assert date(2026, 9, 25) not in working_days(2026, 9)  # 中秋节, a Friday
    weekdays = [d for d in _days(date(2026, 10, 1), date(2026, 10, 31)) if d.weekday() < 5]
    assert len(october) == len(weekdays) - 5 + 1  # five weekdays off, one Saturday worked


def test_2025_holidays_and_worked_weekends() -> None:
    assert not set(_days(date(2025, 10, 1), date(2025, 10, 8))) & set(working_days(2025, 10))
    assert {date(2025, 9, 28)} <= set(working_days(2025, 9)) and date(2025, 10, 11) in working_days(2025, 10)
    february = working_days(2025, 2)
    assert date(2025, 2, 4) not in february and date(2025, 2, 8) in february and date(2025, 2, 5) in february
    assert date(2025, 1, 26) in working_days(2025, 1) and date(2025, 1, 28) not in working_days(2025, 1)
    assert HOLIDAYS.years[0].document == "国办发明电〔2024〕12号"


def test_a_month_plan_for_october_2026_places_no_visit_on_a_holiday() -> None:
    sites = [
        SiteFacts(f"JL-H-{i:03d}", f"红色单位{i}", SiteKind.hazchem, f"E{i}", "220581", Colour.red) for i in range(60)
    ]
    roster = [Inspector(f"A{k:02d}", f"检查员{k}", "220581", frozenset({"危化"})) for k in range(8)]
    plan = generate(sites, roster, Period(2026, 10), RULES, seed="节假日")
    days = {v.day for v in plan.visits}
    assert plan.visits and not plan.warnings
    assert not days & set(_days(date(2026, 10, 1), date(2026, 10, 7)))
    assert days <= set(working_days(2026, 10))
    assert date(2026, 10, 10) in days  # the Saturday worked is a day like any other
    assert all(d.weekday() < 5 or d == date(2026, 10, 10) for d in days)


def test_a_year_without_data_falls_back_to_monday_to_friday_and_says_so() -> None:
    assert not HOLIDAYS.covers(2031)
    assert working_days(2031, 10) == [d for d in _days(date(2031, 10, 1), date(2031, 10, 31)) if d.weekday() < 5]
    sites = [SiteFacts("JL-H-001", "红色单位", SiteKind.hazchem, "E1", "220581", Colour.red)]
    roster = [Inspector(f"A{k}", f"检查员{k}", "220581", frozenset({"危化"})) for k in range(4)]
    plan = generate(sites, roster, Period(2031), RULES, seed="s")
    assert len(plan.warnings) == 1 and "2031年" in plan.warnings[0] and "周一至周五" in plan.warnings[0]
    assert not generate(sites, roster, Period(2026), RULES, seed="s").warnings


def test_a_stored_plan_says_so_first_in_its_summary(session: Session) -> None:
    now = datetime(2026, 11, 25, 3, tzinfo=UTC)
    _, version, _ = service.generate_plan(session, "220581", "2031", "s", "测试", now.date(), now)
    assert version.summary[0]["kind"] == "warning"
    assert "2031年" in version.summary[0]["text"] and "周一至周五" in version.summary[0]["text"]
    _, version, _ = service.generate_plan(session, "220581", "2026-12", "s", "测试", now.date(), now)
    assert not any("节假日" in line["text"] for line in version.summary)
    session.rollback()


def test_holidays_file_is_checked_and_its_unconfirmed_number_listed() -> None:
    text = (PACKAGED / "holidays.yaml").read_text(encoding="utf-8")
    bad = text.replace("work: [2026-01-04]", "work: [2026-01-05]")  # a Monday is no weekend day worked
    with pytest.raises(StandardsError, match=r"work: 2026-01-05 is a weekday"):
        parse("holidays", bad, "x.yaml")
    clash = text.replace(
        "{name: 清明节, start: 2026-04-04, end: 2026-04-06}", "{name: 清明节, start: 2026-04-01, end: 2026-05-02}"
    )
    with pytest.raises(StandardsError, match=r"end: the last day off"):
        parse("holidays", clash, "x.yaml")
    one = '{name: a, year: 2030, document: "", source: s, holidays: [{name: 元旦, start: 2030-01-01, end: 2030-01-01}]}'
    with pytest.raises(StandardsError, match=r"years: each year once"):
        parse("holidays", f"source: x\nyears:\n  - {one}\n  - {one}\n", "x.yaml")
    assert isinstance(parse("holidays", "source: x\nyears: []\n", "x.yaml"), Holidays)
    pending = [u for u in unconfirmed(("holidays",)) if u.file == "holidays"]
    assert [(u.path, u.fields) for u in pending] == [("years › 2026年", ("document",))]
