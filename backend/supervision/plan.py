"""Inspection plans for a jurisdiction and a period, from the supervision rules: pure, no clock,
no database (the routes gather the facts, `bench.plan` times it at province scale).

How a plan is made:

1. Each site's visits per year follow from its colour and the raises and lowering of
   supervision.yaml (`required_visits`); its supervising jurisdiction from the 分级属地 rules.
2. Blue sites are drawn (双随机, `draw.py`): per jurisdiction, sample_size(pool, ratio) of them get
   the sampling visits.
3. A site's n visits a year fall in months spread evenly over the year (every 12/n months, shifted by
   a stable offset per site so that a team's load is level); a month plan keeps that month's visits.
4. Per jurisdiction and month, visits are spread over the working days (Monday to Friday less the
   State Council's holidays, plus its weekend days worked: holidays.yaml; a year it lacks falls back
   to Monday to Friday and the plan's warnings say so); then, day by day, each visit
   gets `inspectors_per_visit` inspectors of the jurisdiction's team, drawn (`draw_inspectors`) from
   those with the site kind's speciality, no declared conflict with the enterprise, not at the
   team's previous visit to that enterprise, available that day and below their inspections per day.
   A visit that cannot be staffed moves to the next working day; past the month's last, it is a
   shortfall naming the site and why.
"""

from __future__ import annotations

import calendar
import heapq
import math
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from backend.domain.kinds import CreditList, SiteKind
from backend.domain.rules_models import Holidays, Supervision
from backend.domain.rules_models import holidays as holiday_rules
from backend.domain.states import Colour
from backend.supervision.draw import ALGORITHM, DrawInputs, draw_inspectors, draw_sample, sample_size

COLOUR_ZH = {Colour.red: "红", Colour.orange: "橙", Colour.yellow: "黄", Colour.blue: "蓝"}
PRIORITY = {Colour.red: 0, Colour.orange: 1, Colour.yellow: 2, Colour.blue: 3}


@dataclass(frozen=True)
class SiteFacts:
    code: str
    name: str
    kind: SiteKind
    enterprise: str  # the enterprise's credit code: rotation and conflicts are per enterprise
    region_adcode: str  # the county it lies in
    colour: Colour | None  # None: not graded yet, planned as blue
    credit_list: CreditList = CreditList.none
    open_major_hazard: bool = False
    recent_alarms: int = 0  # alarms raised within the rules' window
    capacity_10k_t: float | None = None
    capacity_10k_m3: float | None = None


@dataclass(frozen=True)
class Inspector:
    id: str  # certificate number (执法证号): stable and public
    name: str
    region_adcode: str  # the regulator whose team the inspector belongs to
    specialities: frozenset[str]
    conflicts: frozenset[str] = frozenset()  # credit codes of enterprises declared in conflict
    unavailable: frozenset[date] = frozenset()
    active: bool = True


@dataclass(frozen=True)
class Period:
    year: int
    month: int | None = None

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2026` or `2026-07`; ValueError otherwise."""
        year, _, month = text.strip().partition("-")
        if not year.isdigit() or len(year) != 4 or (month and (not month.isdigit() or not 1 <= int(month) <= 12)):
            raise ValueError("period: give a year (2026) or a month (2026-07)")
        return cls(int(year), int(month) if month else None)

    @property
    def months(self) -> list[int]:
        return [self.month] if self.month else list(range(1, 13))

    @property
    def label(self) -> str:
        return f"{self.year}-{self.month:02d}" if self.month else str(self.year)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month or 1, 1)


@dataclass(frozen=True)
class Requirement:
    site: str
    jurisdiction: str
    per_year: int
    reasons: tuple[str, ...]
    sampled: bool = False  # visited because the draw picked it


@dataclass(frozen=True)
class Visit:
    key: str  # "{site}#{year}-{n}": the visit's id in the draw
    site: str
    enterprise: str
    jurisdiction: str
    day: date
    inspectors: tuple[str, ...]
    eligible: tuple[str, ...]  # the inspectors it was drawn from (published with the draw)
    seq: int  # order of assignment: ties on a day are in this order
    sampled: bool = False


@dataclass(frozen=True)
class Shortfall:
    site: str
    jurisdiction: str
    month: int
    reason: str  # capacity | speciality | conflicts
    message: str
    inspector_days: float  # what the visit would have needed


@dataclass(frozen=True)
class Plan:
    period: Period
    seed: str
    requirements: dict[str, Requirement]
    visits: list[Visit]
    shortfalls: list[Shortfall]
    draw: DrawInputs
    summary: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a year whose holidays are not known

    @property
    def feasible(self) -> bool:
        return not self.shortfalls


def supervising_region(site: SiteFacts, rules: Supervision) -> str:
    """The adcode of the jurisdiction that supervises the site (分级属地)."""
    level = rules.jurisdiction.default
    for rule in rules.jurisdiction.rules:
        w = rule.when
        if w.kind != site.kind:
            continue
        if w.min_capacity_10k_t is not None and (site.capacity_10k_t or 0) < w.min_capacity_10k_t:
            continue
        if w.min_capacity_10k_m3 is not None and (site.capacity_10k_m3 or 0) < w.min_capacity_10k_m3:
            continue
        level = rule.level
        break
    county = site.region_adcode
    return {"county": county, "prefecture": county[:4] + "00", "province": county[:2] + "0000"}[level]


def required_visits(site: SiteFacts, rules: Supervision) -> tuple[int, tuple[str, ...]]:
    """Visits per year by rule (without the random draw), with the reasons in Chinese."""
    colour = site.colour or Colour.blue
    n = rules.frequency.per_year[colour]
    reasons = [f"{COLOUR_ZH[colour]}色：每年至少{n}次" if n else f"{COLOUR_ZH[colour]}色：随机抽查"]
    if site.credit_list == CreditList.red:
        low = rules.lowering.redlist
        lowered = max(min(n, low.min_per_year), n - low.subtract_per_year)
        if lowered != n:
            reasons.append(f"红名单：减为每年{lowered}次")
        n = lowered
    if site.credit_list == CreditList.black:
        n += rules.raises.blacklist.add_per_year
        reasons.append(f"黑名单：增加{rules.raises.blacklist.add_per_year}次")
    alarms = rules.raises.repeated_alarms
    if site.recent_alarms >= alarms.count:
        n += alarms.add_per_year
        reasons.append(f"近{alarms.window_days}天报警{site.recent_alarms}次：增加{alarms.add_per_year}次")
    if site.open_major_hazard and n < rules.raises.open_major_hazard.at_least_per_year:
        n = rules.raises.open_major_hazard.at_least_per_year
        reasons.append(f"重大事故隐患未整改：每年至少{n}次")
    return n, tuple(reasons)


def key_reasons(site: SiteFacts, rules: Supervision) -> tuple[str, ...]:
    """Why a site is a 重点检查企业 (通化 三十: 建立重点检查企业名单), in Chinese; empty if it is not:
    red, on the 黑名单, an open 重大事故隐患, or repeated alarms (the raises of the rules data)."""
    reasons = []
    if site.colour == Colour.red:
        reasons.append("红色（重大风险）")
    if site.credit_list == CreditList.black:
        reasons.append("列入黑名单")
    if site.open_major_hazard:
        reasons.append("重大事故隐患未整改")
    alarms = rules.raises.repeated_alarms
    if site.recent_alarms >= alarms.count:
        reasons.append(f"近{alarms.window_days}天报警{site.recent_alarms}次")
    return tuple(reasons)


@dataclass(frozen=True)
class TeamSizing:
    """Enforcement strength against the work the colours ask for (通化 三十三: 按风险等级企业数量配备
    执法力量): sites and visits a year by colour, the inspector-days they need, and those the roster has."""

    year: int
    sites_by_colour: dict[str, int]  # colour (or "none": not graded) -> sites
    visits_by_colour: dict[str, int]  # visits a year by rule, the blue ones by the sampling ratio
    inspector_days_needed: int
    inspectors: int  # active, on the rosters of the jurisdiction and those inside it
    working_days: int
    inspector_days_available: int

    @property
    def inspectors_needed(self) -> int:
        return math.ceil(self.inspector_days_needed / self.working_days) if self.working_days else 0

    @property
    def short_by(self) -> int:
        return max(0, self.inspector_days_needed - self.inspector_days_available)


def team_sizing(
    sites: Sequence[SiteFacts],
    inspectors: Sequence[Inspector],
    year: int,
    rules: Supervision,
    holidays: Holidays | None = None,
) -> TeamSizing:
    """The inspector-days a year of visits needs (each visit `inspectors_per_visit` inspectors, each
    inspector `inspections_per_day` a day) against the working days of the active inspectors, less
    the days each has declared away."""
    known = holidays or holiday_rules()
    days = [d for m in range(1, 13) for d in working_days(year, m, holidays=known)]
    sites_by: Counter[str] = Counter()
    visits_by: Counter[str] = Counter()
    for site in sites:
        colour = site.colour.value if site.colour else "none"
        sites_by[colour] += 1
        visits_by[colour] += required_visits(site, rules)[0]
    sampling = rules.random_sampling
    for colour in sampling.colours:
        visits_by[colour.value] += sample_size(sites_by[colour.value], sampling.ratio) * sampling.visits
    visits = sum(visits_by.values())
    needed = math.ceil(visits * rules.team.inspectors_per_visit / rules.capacity.inspections_per_day)
    active = [i for i in inspectors if i.active]
    available = sum(
        len(days) - sum(1 for d in i.unavailable if d.year == year and known.is_working_day(d)) for i in active
    )
    return TeamSizing(
        year=year,
        sites_by_colour=dict(sites_by),
        visits_by_colour=dict(visits_by),
        inspector_days_needed=needed,
        inspectors=len(active),
        working_days=len(days),
        inspector_days_available=available,
    )


def _offset(code: str) -> int:
    return zlib.crc32(code.encode())


def visit_months(n: int, code: str) -> list[int]:
    """The months of a site's n yearly visits: one every 12/n months, shifted per site."""
    if n <= 0:
        return []
    shift = _offset(code) % max(1, 12 // n)
    return [(k * 12) // n + shift + 1 for k in range(n)]


def working_days(year: int, month: int, start: date | None = None, holidays: Holidays | None = None) -> list[date]:
    """The month's working days (from `start` on): Monday to Friday less the State Council's days off,
    plus its weekend days worked (调休上班), from holidays.yaml; Monday to Friday for a year it lacks."""
    known = holidays or holiday_rules()
    days = [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
    return [d for d in days if known.is_working_day(d) and (start is None or d >= start)]


def calendar_warnings(year: int, holidays: Holidays | None = None) -> list[str]:
    """What a plan for `year` must say when its holidays are not known: they are not left out."""
    if (holidays or holiday_rules()).covers(year):
        return []
    return [f"{year}年的法定节假日安排尚未录入（holidays.yaml），本计划的工作日按周一至周五计算，未扣除节假日"]


def region_name(names: Mapping[str, str], adcode: str) -> str:
    return names.get(adcode, adcode)


def generate(
    sites: Sequence[SiteFacts],
    inspectors: Sequence[Inspector],
    period: Period,
    rules: Supervision,
    seed: str,
    region_names: Mapping[str, str] | None = None,
    start: date | None = None,
    fixed: Sequence[Visit] = (),
    holidays: Holidays | None = None,
) -> Plan:
    """The plan for `period`. With `start`, only visits from that day on are planned (a
    regeneration): `fixed` are the visits already made or kept, which count for capacity and for
    the rotation at each enterprise; a site's visits in months before `start` are not planned again.
    Visits fall on working days (`working_days`, holidays.yaml unless `holidays` is given)."""
    names = region_names or {}
    holidays = holidays or holiday_rules()
    need = rules.team.inspectors_per_visit
    per_day = rules.capacity.inspections_per_day
    by_code = {s.code: s for s in sites}

    requirements: dict[str, Requirement] = {}
    blue_pool: dict[str, list[str]] = defaultdict(list)
    for s in sites:
        jurisdiction = supervising_region(s, rules)
        n, reasons = required_visits(s, rules)
        requirements[s.code] = Requirement(s.code, jurisdiction, n, reasons)
        if n == 0 and (s.colour or Colour.blue) in rules.random_sampling.colours:
            blue_pool[jurisdiction].append(s.code)

    # the draw of sites: a month takes a twelfth of the year's ratio
    ratio = rules.random_sampling.ratio / (12 if period.month else 1)
    sizes = {j: sample_size(len(pool), ratio) for j, pool in blue_pool.items()}
    sampled: set[str] = set()
    for j, pool in blue_pool.items():
        sampled.update(draw_sample(seed, pool, sizes[j]))
    for code in sampled:
        r = requirements[code]
        visits = rules.random_sampling.visits
        requirements[code] = Requirement(code, r.jurisdiction, visits, (*r.reasons, f"双随机抽中：{visits}次"), True)

    # visits by (jurisdiction, month)
    wanted: dict[tuple[int, str], list[tuple[int, str, int]]] = defaultdict(list)
    for code, r in requirements.items():
        if r.per_year == 0:
            continue
        months = visit_months(r.per_year, code)
        if period.month and r.sampled:  # a month's draw: its visits all fall in that month
            months = [period.month] * r.per_year
        site = by_code[code]
        for k, m in enumerate(months):
            if m in period.months and (start is None or m >= start.month or start.year < period.year):
                wanted[(m, r.jurisdiction)].append((PRIORITY[site.colour or Colour.blue], code, k))

    teams: dict[str, list[Inspector]] = defaultdict(list)
    for i in sorted(inspectors, key=lambda i: i.id):
        if i.active:
            teams[i.region_adcode].append(i)
    load: Counter[tuple[str, date]] = Counter()
    last_at: dict[tuple[str, str], tuple[str, ...]] = {}
    for v in sorted(fixed, key=lambda v: (v.day, v.seq)):
        for i in v.inspectors:
            load[(i, v.day)] += 1
        last_at[(v.jurisdiction, v.enterprise)] = v.inspectors

    planned: list[Visit] = []
    shortfalls: list[Shortfall] = []
    drawn: list[tuple[str, Sequence[str], int]] = []
    seq = max((v.seq for v in fixed), default=-1) + 1
    for month, jurisdiction in sorted(wanted):
        items = sorted(wanted[(month, jurisdiction)])
        days = working_days(period.year, month, start if start and start.month == month else None, holidays)
        team = teams.get(jurisdiction, [])
        heap: list[tuple[int, int, str, int]] = []
        for order, (_, code, k) in enumerate(items):
            if days:
                heapq.heappush(heap, ((order * len(days)) // len(items), order, code, k))
            else:
                shortfalls.append(_shortfall(by_code[code], jurisdiction, month, "capacity", names, need, per_day))
        while heap:
            d, order, code, k = heapq.heappop(heap)
            site = by_code[code]
            day = days[d]
            spec = rules.team.specialities_by_kind[site.kind]
            previous = last_at.get((jurisdiction, site.enterprise), ())
            eligible = [
                i.id
                for i in team
                if spec in i.specialities
                and site.enterprise not in i.conflicts
                and i.id not in previous
                and day not in i.unavailable
                and load[(i.id, day)] < per_day
            ]
            if len(eligible) < need:
                if d + 1 < len(days):
                    heapq.heappush(heap, (d + 1, order, code, k))
                    continue
                reason = _reason(team, spec, site, previous, need)
                shortfalls.append(_shortfall(site, jurisdiction, month, reason, names, need, per_day, spec))
                continue
            key = f"{code}#{period.year}-{month:02d}-{k}"
            chosen = tuple(draw_inspectors(seed, key, eligible, need))
            for i in chosen:
                load[(i, day)] += 1
            last_at[(jurisdiction, site.enterprise)] = chosen
            drawn.append((key, eligible, need))
            planned.append(
                Visit(key, code, site.enterprise, jurisdiction, day, chosen, tuple(eligible), seq, code in sampled)
            )
            seq += 1

    draw_inputs = DrawInputs(
        seed=seed,
        ratio=ratio,
        candidates={j: sorted(p) for j, p in blue_pool.items()},
        sizes=sizes,
        visits=drawn,
        algorithm=ALGORITHM,
    )
    return Plan(
        period,
        seed,
        requirements,
        planned,
        shortfalls,
        draw_inputs,
        summarise(shortfalls, names),
        calendar_warnings(period.year, holidays),
    )


def _reason(team: Iterable[Inspector], spec: str, site: SiteFacts, previous: tuple[str, ...], need: int) -> str:
    qualified = [i for i in team if spec in i.specialities]
    if len(qualified) < need:
        return "speciality"
    if len([i for i in qualified if site.enterprise not in i.conflicts and i.id not in previous]) < need:
        return "conflicts"
    return "capacity"


def _shortfall(
    site: SiteFacts,
    jurisdiction: str,
    month: int,
    reason: str,
    names: Mapping[str, str],
    need: int,
    per_day: int,
    spec: str = "",
) -> Shortfall:
    where = f"{month}月 {region_name(names, jurisdiction)}"
    text = {
        "capacity": f"{where} 检查力量不足，{site.name}（{site.code}）的检查未能安排",
        "speciality": f"{where} 具备{spec}专业的检查人员不足{need}人，{site.name}（{site.code}）无法安排检查",
        "conflicts": f"{where} 回避和轮换后可派检查人员不足{need}人，{site.name}（{site.code}）无法安排检查",
    }[reason]
    return Shortfall(site.code, jurisdiction, month, reason, text, need / per_day)


def summarise(shortfalls: Sequence[Shortfall], names: Mapping[str, str]) -> list[str]:
    """One line per jurisdiction, month and reason, e.g. `7月 延边朝鲜族自治州 检查力量缺 14 人日`."""
    groups: dict[tuple[int, str, str], list[Shortfall]] = defaultdict(list)
    for s in shortfalls:
        groups[(s.month, s.jurisdiction, s.reason)].append(s)
    lines = []
    for (month, jurisdiction, reason), group in sorted(groups.items()):
        where = f"{month}月 {region_name(names, jurisdiction)}"
        codes = sorted({s.site for s in group})
        sites = "、".join(codes[:10]) + (f" 等{len(codes)}处" if len(codes) > 10 else "")
        if reason == "capacity":
            days = math.ceil(sum(s.inspector_days for s in group))
            lines.append(f"{where} 检查力量缺 {days} 人日（{len(group)}次检查未能安排：{sites}）")
        elif reason == "speciality":
            lines.append(f"{where} 缺少相应专业的检查人员（{len(group)}次检查：{sites}）")
        else:
            lines.append(f"{where} 回避和轮换后检查人员不足（{len(group)}次检查：{sites}）")
    return lines


@dataclass(frozen=True)
class Change:
    site: str
    before: int
    after: int
    message: str


def changes(old: Sequence[Visit], new: Plan, sites: Mapping[str, SiteFacts], since: date | None = None) -> list[Change]:
    """What a regeneration changed, per site: visits planned from `since` on, before and after."""
    a = Counter(v.site for v in old if since is None or v.day >= since)
    b = Counter(v.site for v in new.visits if since is None or v.day >= since)
    out = []
    for code in sorted(set(a) | set(b)):
        if a[code] != b[code]:
            s = sites.get(code)
            name = s.name if s else code
            why = "；".join(new.requirements[code].reasons) if code in new.requirements else "不再列入计划"
            text = f"{name}（{code}）：剩余检查由{a[code]}次变为{b[code]}次（{why}）"
            out.append(Change(code, a[code], b[code], text))
    return out
