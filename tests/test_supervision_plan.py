"""Plan generation and the 双随机 draw as properties: every site gets the visits its colour and
record call for (or a shortfall that names it and why), no inspector over capacity, in conflict,
twice in a row at one enterprise or outside his speciality; a draw re-run from its published inputs
gives the same result, and another seed another one."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.domain.kinds import CreditList, SiteKind
from backend.domain.rules_models import Supervision, holidays, rules
from backend.domain.states import Colour
from backend.supervision import draw
from backend.supervision.plan import (
    Inspector,
    Period,
    SiteFacts,
    Visit,
    changes,
    generate,
    key_reasons,
    required_visits,
    supervising_region,
    team_sizing,
    visit_months,
    working_days,
)

RULES: Supervision = rules("supervision")  # type: ignore[assignment]
HOLIDAYS = holidays()
COUNTIES = ["222401", "222402", "220581"]
SPECS = ["煤矿", "非煤", "危化"]
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def sites_st(draw_: st.DrawFn, max_size: int = 30) -> list[SiteFacts]:
    n = draw_(st.integers(1, max_size))
    out = []
    for i in range(n):
        out.append(
            SiteFacts(
                code=f"JL-T-{i:04d}",
                name=f"测试单位{i}",
                kind=draw_(st.sampled_from([SiteKind.noncoal_mine, SiteKind.hazchem, SiteKind.tailings_pond])),
                enterprise=f"E{draw_(st.integers(0, max(0, n // 2)))}",
                region_adcode=draw_(st.sampled_from(COUNTIES)),
                colour=draw_(st.sampled_from([*Colour, None])),
                credit_list=draw_(st.sampled_from(list(CreditList))),
                open_major_hazard=draw_(st.booleans()),
                recent_alarms=draw_(st.integers(0, 5)),
            )
        )
    return out


@st.composite
def roster_st(draw_: st.DrawFn, enterprises: list[str], ample: bool) -> list[Inspector]:
    out = []
    per_team = (8, 12) if ample else (0, 4)
    for county in COUNTIES:
        for k in range(draw_(st.integers(*per_team))):
            specs = frozenset(SPECS) if ample else frozenset(draw_(st.sets(st.sampled_from(SPECS), min_size=1)))
            # an ample team keeps four inspectors free of any conflict: two disjoint pairs for the rotation
            may_conflict = not ample or k >= 4
            conflicts = frozenset(
                draw_(st.sets(st.sampled_from(enterprises), max_size=(1 if ample else 3) * may_conflict))
            )
            off = frozenset() if ample else frozenset(draw_(st.sets(st.dates(date(2026, 1, 1), date(2026, 12, 31)))))
            out.append(Inspector(f"{county}-{k:02d}", f"检查员{county}{k}", county, specs, conflicts, off))
    return out


def check_rotation(visits: list[Visit]) -> None:
    """No inspector at two visits in a row to one enterprise."""
    by_enterprise: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        by_enterprise[v.enterprise].append(v)
    for group in by_enterprise.values():
        group.sort(key=lambda v: (v.day, v.seq))
        for a, b in itertools.pairwise(group):
            assert not set(a.inspectors) & set(b.inspectors), (a, b)


def check_invariants(plan, sites: list[SiteFacts], roster: list[Inspector]) -> None:
    by_id = {i.id: i for i in roster}
    by_code = {s.code: s for s in sites}
    per_day: Counter[tuple[str, date]] = Counter()
    for v in plan.visits:
        site = by_code[v.site]
        spec = RULES.team.specialities_by_kind[site.kind]
        assert len(set(v.inspectors)) == RULES.team.inspectors_per_visit == len(v.inspectors)
        assert HOLIDAYS.is_working_day(v.day) and v.day.year == plan.period.year
        for i in v.inspectors:
            who = by_id[i]
            assert spec in who.specialities, (v, who)
            assert site.enterprise not in who.conflicts, (v, who)  # conflicts respected
            assert v.day not in who.unavailable
            assert who.region_adcode == v.jurisdiction == supervising_region(site, RULES)
            per_day[(i, v.day)] += 1
    assert all(n <= RULES.capacity.inspections_per_day for n in per_day.values())  # no capacity exceeded
    check_rotation(plan.visits)
    # every visit the rules require is planned or named in a shortfall
    planned = Counter(v.site for v in plan.visits)
    short = Counter(s.site for s in plan.shortfalls)
    for code, req in plan.requirements.items():
        assert planned[code] + short[code] == req.per_year, (code, req, planned[code], short[code])
    for s in plan.shortfalls:
        assert s.reason in {"capacity", "speciality", "conflicts"}
        assert s.site in s.message and f"{s.month}月" in s.message


@PROPS
@given(st.data())
def test_with_enough_inspectors_every_site_gets_its_frequency(data: st.DataObject) -> None:
    sites = data.draw(sites_st())
    roster = data.draw(roster_st(sorted({s.enterprise for s in sites}), ample=True))
    plan = generate(sites, roster, Period(2026), RULES, seed="2026-公开种子")
    check_invariants(plan, sites, roster)
    assert plan.feasible, plan.summary
    visits = Counter(v.site for v in plan.visits)
    for s in sites:
        if s.colour == Colour.red:  # every red site at least at its frequency (less only on the 红名单)
            floor = RULES.frequency.per_year[Colour.red] - (
                RULES.lowering.redlist.subtract_per_year if s.credit_list == CreditList.red else 0
            )
            assert visits[s.code] >= floor
        if s.open_major_hazard:
            assert visits[s.code] >= RULES.raises.open_major_hazard.at_least_per_year


@PROPS
@given(st.data())
def test_any_roster_respects_capacity_conflicts_and_rotation_or_says_why(data: st.DataObject) -> None:
    sites = data.draw(sites_st())
    roster = data.draw(roster_st(sorted({s.enterprise for s in sites}), ample=False))
    period = data.draw(st.sampled_from([Period(2026), Period(2026, 7), Period(2026, 2)]))
    plan = generate(sites, roster, period, RULES, seed=data.draw(st.text(min_size=1, max_size=20)))
    if period.month:  # a month plan: the visits of that month only
        assert all(v.day.month == period.month for v in plan.visits)
        for code, req in plan.requirements.items():
            months = visit_months(req.per_year, code) if not req.sampled else [period.month] * req.per_year
            expected = sum(1 for m in months if m == period.month)
            assert (
                sum(1 for v in plan.visits if v.site == code) + sum(1 for s in plan.shortfalls if s.site == code)
                == expected
            )
        return
    check_invariants(plan, sites, roster)


def _red(n: int, county: str = "222401") -> list[SiteFacts]:
    return [SiteFacts(f"JL-R-{i:03d}", f"红色单位{i}", SiteKind.hazchem, f"E{i}", county, Colour.red) for i in range(n)]


def test_capacity_short_names_the_month_the_region_and_the_inspector_days() -> None:
    # 2 inspectors, one inspection a day each: a July of 23 working days staffs 23 two-person visits.
    roster = [Inspector(f"A{k}", f"检查员{k}", "222401", frozenset({"危化"})) for k in range(2)]
    sites = _red(120)
    plan = generate(sites, roster, Period(2026, 7), RULES, seed="s", region_names={"222401": "延吉市"})
    july_visits = sum(1 for s in sites if 7 in visit_months(4, s.code))
    days = len(working_days(2026, 7))
    assert len(plan.visits) == min(days, july_visits)
    missing = july_visits - len(plan.visits)
    assert missing > 0
    assert {s.reason for s in plan.shortfalls} == {"capacity"}
    assert plan.summary[0].startswith(f"7月 延吉市 检查力量缺 {missing * 2} 人日")


def test_no_qualified_inspector_and_conflicts_are_named() -> None:
    sites = _red(1)
    coal_only = [Inspector(f"C{k}", "检查员", "222401", frozenset({"煤矿"})) for k in range(3)]
    plan = generate(sites, coal_only, Period(2026), RULES, seed="s")
    assert not plan.visits and {s.reason for s in plan.shortfalls} == {"speciality"}
    assert "危化" in plan.shortfalls[0].message and "JL-R-000" in plan.shortfalls[0].message
    conflicted = [Inspector(f"H{k}", "检查员", "222401", frozenset({"危化"}), frozenset({"E0"})) for k in range(3)]
    plan = generate(sites, conflicted, Period(2026), RULES, seed="s")
    assert not plan.visits and {s.reason for s in plan.shortfalls} == {"conflicts"}
    # two inspectors can do one visit but not the next at the same enterprise: rotation
    pair = [Inspector(f"P{k}", "检查员", "222401", frozenset({"危化"})) for k in range(2)]
    plan = generate(sites, pair, Period(2026), RULES, seed="s")
    assert len(plan.visits) == 1 and all(s.reason == "conflicts" for s in plan.shortfalls)
    assert len(plan.shortfalls) == RULES.frequency.per_year[Colour.red] - 1


def test_frequency_follows_colour_credit_hazards_and_alarms() -> None:
    base = SiteFacts("JL-X-1", "单位", SiteKind.hazchem, "E1", "222401", Colour.orange)
    assert required_visits(base, RULES)[0] == 2
    black = SiteFacts(**{**base.__dict__, "credit_list": CreditList.black})
    assert required_visits(black, RULES)[0] == 2 + RULES.raises.blacklist.add_per_year
    red_list = SiteFacts(**{**base.__dict__, "credit_list": CreditList.red})
    assert required_visits(red_list, RULES)[0] == 1
    hazard = SiteFacts(**{**red_list.__dict__, "open_major_hazard": True})
    n, reasons = required_visits(hazard, RULES)
    assert n == 4 and any("重大事故隐患" in r for r in reasons)
    alarms = SiteFacts(**{**base.__dict__, "recent_alarms": RULES.raises.repeated_alarms.count})
    assert required_visits(alarms, RULES)[0] == 3
    coal = SiteFacts("JL-C-1", "煤矿", SiteKind.coal_mine, "E2", "222401", Colour.red, capacity_10k_t=30)
    assert supervising_region(coal, RULES) == "222400"
    big = SiteFacts(**{**coal.__dict__, "capacity_10k_t": 120})
    assert supervising_region(big, RULES) == "220000"
    assert supervising_region(base, RULES) == "222401"


@PROPS
@given(st.data())
def test_a_draw_rerun_from_its_published_inputs_gives_the_same_result(data: st.DataObject) -> None:
    sites = data.draw(sites_st())
    roster = data.draw(roster_st(sorted({s.enterprise for s in sites}), ample=True))
    seed = data.draw(st.text(min_size=1, max_size=30))
    plan = generate(sites, roster, Period(2026), RULES, seed=seed)
    published = json.loads(json.dumps(plan.draw.as_json(), ensure_ascii=False))
    again = draw.run(draw.DrawInputs.from_json(published))
    drawn_sites = {c for c, r in plan.requirements.items() if r.sampled}
    assert {c for codes in again.sites.values() for c in codes} == drawn_sites
    assert again.inspectors == {v.key: list(v.inspectors) for v in plan.visits}
    assert generate(sites, roster, Period(2026), RULES, seed=seed) == plan  # deterministic


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_another_seed_draws_another_result(seed: str, other: str) -> None:
    pool = [f"JL-HAZ-{i:04d}" for i in range(100)]
    inputs = draw.DrawInputs(seed=seed, ratio=0.2, candidates={"222401": pool})
    first = draw.run(inputs)
    assert len(first.sites["222401"]) == 20
    assert draw.run(inputs) == first
    if other != seed:
        assert draw.run(draw.DrawInputs(seed=other, ratio=0.2, candidates={"222401": pool})) != first


def test_the_documented_algorithm() -> None:
    """docs/draws.md: SHA-256 of `seed|id`, sorted by key; this is the published example."""
    import hashlib

    pool = ["JL-HAZ-0003", "JL-HAZ-0001", "JL-HAZ-0002"]
    keys = {c: hashlib.sha256(f"2026-01|{c}".encode()).hexdigest() for c in pool}
    assert draw.draw_sample("2026-01", pool, 2) == sorted(pool, key=keys.__getitem__)[:2]
    assert draw.sample_size(30, 0.1) == 3 and draw.sample_size(1, 0.01) == 1 and draw.sample_size(0, 0.5) == 0


def test_a_colour_change_keeps_the_past_and_replans_the_rest() -> None:
    roster = [Inspector(f"A{k}", f"检查员{k}", "222401", frozenset({"危化"})) for k in range(4)]
    site = SiteFacts("JL-Y-1", "黄色单位", SiteKind.hazchem, "E1", "222401", Colour.yellow)
    others = _red(3)
    first = generate([site, *others], roster, Period(2026), RULES, seed="s")
    as_of = date(2026, 7, 1)
    past = [v for v in first.visits if v.day < as_of]
    red = SiteFacts(**{**site.__dict__, "colour": Colour.red})
    second = generate([red, *others], roster, Period(2026), RULES, seed="s", start=as_of, fixed=past)
    assert all(v.day >= as_of for v in second.visits)
    remaining = [m for m in visit_months(4, red.code) if m >= 7]
    assert sum(1 for v in second.visits if v.site == red.code) == len(remaining)
    changed = changes(first.visits, second, {red.code: red}, since=as_of)
    assert [c.site for c in changed] == [red.code]
    assert "红色" in changed[0].message
    check_rotation(past + second.visits)  # the rotation holds across the regeneration
    assert not {v.seq for v in past} & {v.seq for v in second.visits}


def test_a_key_site_is_red_black_listed_with_an_open_major_hazard_or_alarmed_again_and_again() -> None:
    """The 重点检查企业名单 (通化 三十) follows from colour, 黑名单, open 重大隐患 and recent alarms."""
    base = SiteFacts("S1", "甲", SiteKind.hazchem, "E1", "220581", Colour.yellow)
    assert key_reasons(base, RULES) == ()
    assert key_reasons(SiteFacts("S2", "乙", SiteKind.hazchem, "E1", "220581", Colour.red), RULES) == (
        "红色（重大风险）",
    )
    black = SiteFacts("S3", "丙", SiteKind.hazchem, "E1", "220581", Colour.blue, credit_list=CreditList.black)
    assert key_reasons(black, RULES) == ("列入黑名单",)
    assert key_reasons(
        SiteFacts("S4", "丁", SiteKind.hazchem, "E1", "220581", None, open_major_hazard=True), RULES
    ) == ("重大事故隐患未整改",)
    n = RULES.raises.repeated_alarms.count
    alarmed = SiteFacts("S5", "戊", SiteKind.hazchem, "E1", "220581", Colour.orange, recent_alarms=n)
    assert len(key_reasons(alarmed, RULES)) == 1 and f"报警{n}次" in key_reasons(alarmed, RULES)[0]
    assert (
        key_reasons(SiteFacts("S6", "己", SiteKind.hazchem, "E1", "220581", Colour.orange, recent_alarms=n - 1), RULES)
        == ()
    )
    assert (
        key_reasons(
            SiteFacts("S7", "庚", SiteKind.hazchem, "E1", "220581", Colour.blue, credit_list=CreditList.red), RULES
        )
        == ()
    )


def test_team_sizing_counts_the_days_the_colours_ask_for_against_the_roster() -> None:
    """通化 三十三: enforcement strength by the number of sites at each risk level."""
    sites = [
        SiteFacts("R1", "红一", SiteKind.hazchem, "E1", "220581", Colour.red),
        SiteFacts("R2", "红二", SiteKind.hazchem, "E2", "220581", Colour.red, credit_list=CreditList.black),
        SiteFacts("Y1", "黄一", SiteKind.hazchem, "E3", "220581", Colour.yellow),
        *(SiteFacts(f"B{i}", f"蓝{i}", SiteKind.hazchem, f"F{i}", "220581", Colour.blue) for i in range(10)),
    ]
    away = frozenset({date(2026, 10, 1), date(2026, 10, 9), date(2026, 10, 10)})  # off, worked, 调休 Saturday
    team = [
        Inspector("A", "甲", "220581", frozenset({"危化"}), unavailable=away),
        Inspector("B", "乙", "220581", frozenset({"危化"})),
        Inspector("C", "丙", "220581", frozenset({"危化"}), active=False),
    ]
    t = team_sizing(sites, team, 2026, RULES, HOLIDAYS)
    red = RULES.frequency.per_year[Colour.red]
    assert t.sites_by_colour == {"red": 2, "yellow": 1, "blue": 10}
    blue = draw.sample_size(10, RULES.random_sampling.ratio) * RULES.random_sampling.visits
    assert t.visits_by_colour == {
        "red": 2 * red + RULES.raises.blacklist.add_per_year,
        "yellow": RULES.frequency.per_year[Colour.yellow],
        "blue": blue,
    }
    days = sum(len(working_days(2026, m, holidays=HOLIDAYS)) for m in range(1, 13))
    assert 240 <= days <= 255
    assert t.working_days == days and t.inspectors == 2
    assert t.inspector_days_available == 2 * days - 2  # 10-01 is a holiday already: two days away count
    visits = sum(t.visits_by_colour.values())
    per_day = RULES.capacity.inspections_per_day
    assert t.inspector_days_needed == -(-visits * RULES.team.inspectors_per_visit // per_day)
    assert t.short_by == 0 and t.inspectors_needed == 1
    assert team_sizing(sites * 30, team, 2026, RULES, HOLIDAYS).short_by > 0
