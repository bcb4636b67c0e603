"""The dynamic level: the inherent level raised by what is happening now: pure.

Each rule that fires adds a Reason; the level is the most severe the rules give.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from backend.domain.counterfactual import Change
from backend.domain.kinds import STATUS_ZH
from backend.domain.levels import Reason, colour_zh, level_name_zh, level_of, more_severe
from backend.domain.rules_models import DynamicRules, risk_rules


@dataclass(frozen=True)
class ActiveAlarm:
    id: int
    color: str
    kind: str
    sensor: str | None = None
    value: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class HiddenHazard:
    id: int
    title: str
    found_at: str
    deadline: str | None = None


@dataclass(frozen=True)
class RainWarning:
    identifier: str
    color: str
    expires: str | None = None


@dataclass(frozen=True)
class Activity:
    """A reading that shows a site at work: power drawn, people underground."""

    sensor: str
    kind: str
    value: float
    at: str


@dataclass(frozen=True)
class SiteNow:
    site_kind: str
    status: str
    now: datetime
    sensor_count: int = 0
    last_reading_at: datetime | None = None
    max_interval_s: int | None = None
    alarms: list[ActiveAlarm] = field(default_factory=list)
    hidden_hazards: list[HiddenHazard] = field(default_factory=list)  # open 重大隐患
    overdue_hazards: list[HiddenHazard] = field(default_factory=list)  # 一般隐患 past their deadline
    activity: list[Activity] = field(default_factory=list)
    warnings: list[RainWarning] = field(default_factory=list)
    in_flood_season: bool = False


def dynamic_level(inherent: int, site: SiteNow, rules: DynamicRules | None = None) -> tuple[int, list[Reason]]:
    rules = rules or risk_rules().dynamic
    reasons: list[Reason] = []

    if site.alarms:
        r = rules.active_alarm
        worst = min(site.alarms, key=lambda a: level_of(a.color))
        reasons.append(
            Reason(
                "active_alarm",
                level_of(worst.color),
                f"{len(site.alarms)}条报警未消除，最高为{colour_zh(worst.color)}色报警"
                f" → 至少{level_name_zh(level_of(worst.color))}",
                r.source,
                {"alarms": [a.__dict__ for a in site.alarms]},
            )
        )
    if site.hidden_hazards:
        r = rules.major_hidden_hazard
        reasons.append(
            Reason(
                "major_hidden_hazard",
                r.at_least,
                f"{len(site.hidden_hazards)}项重大隐患未整改",
                r.source,
                {"hazards": [h.__dict__ for h in site.hidden_hazards]},
            )
        )
    r = rules.silent_site
    if site.sensor_count and site.max_interval_s:
        allowed = r.intervals * site.max_interval_s
        allowed_s = int(allowed) if float(allowed).is_integer() else allowed
        silent_s = None if site.last_reading_at is None else (site.now - site.last_reading_at).total_seconds()
        if silent_s is None or silent_s > allowed_s:
            reasons.append(
                Reason(
                    "silent_site",
                    r.at_least,
                    "从未上报监测数据" if silent_s is None else f"监测数据中断{int(silent_s // 60)}分钟",
                    r.source,
                    {
                        "last_reading_at": site.last_reading_at.isoformat() if site.last_reading_at else None,
                        "silent_s": silent_s,
                        "allowed_s": allowed_s,
                        "sensors": site.sensor_count,
                    },
                )
            )
    r = rules.covert_production
    if site.status in r.statuses and site.activity:
        reasons.append(
            Reason(
                "covert_production",
                r.at_least,
                f"企业{STATUS_ZH.get(site.status, site.status)}，但监测显示有生产迹象（明停暗采）"
                f"→ {level_name_zh(r.at_least)}",
                r.source,
                {"status": site.status, "activity": [a.__dict__ for a in site.activity]},
            )
        )

    base = min([inherent, *(x.level for x in reasons)])

    # An overdue 一般隐患 raises the site by rule (the rainstorm raises whatever that gives).
    o = rules.overdue_hidden_hazard
    overdue = bool(site.overdue_hazards) and o is not None
    overdue_by = o.raise_by if overdue and o is not None else 0
    unraised = base
    base = more_severe(base, overdue_by) if overdue else base

    r = rules.rainstorm_warning
    covering = [w for w in site.warnings if w.color in r.colors]
    raised = site.in_flood_season and bool(covering) and site.site_kind in r.site_kinds
    level = more_severe(base, r.raise_by) if raised else base

    def after(without: int) -> int:
        without = more_severe(without, overdue_by) if overdue else without
        return more_severe(without, r.raise_by) if raised else without

    # What would lower the level: each raising reason gone, the site graded again without it.
    reasons = [
        replace(x, lower=_lower(x, after(min([inherent, *(y.level for y in reasons if y is not x)])), level))
        for x in reasons
    ]
    if overdue and o is not None:

        def rainy(x: int) -> int:
            return more_severe(x, r.raise_by) if raised else x

        reasons.append(
            Reason(
                "overdue_hidden_hazard",
                base,
                f"{len(site.overdue_hazards)}项一般隐患逾期未整改，风险提升{overdue_by}级 → {level_name_zh(base)}",
                o.source,
                {"hazards": [h.__dict__ for h in site.overdue_hazards]},
                lower=[
                    Change(
                        "overdue_hidden_hazard",
                        "overdue_hidden_hazard",
                        True,
                        False,
                        rainy(unraised),
                        f"若逾期隐患整改完毕并销号，降为{level_name_zh(rainy(unraised))}",
                    ).as_dict()
                ]
                if unraised > base
                else [],
            )
        )
    if raised:
        worst = min(covering, key=lambda w: level_of(w.color))
        reasons.append(
            Reason(
                "rainstorm_warning",
                level,
                f"汛期暴雨{colour_zh(worst.color)}色预警覆盖，风险提升{r.raise_by}级 → {level_name_zh(level)}",
                r.source,
                {"warnings": [w.__dict__ for w in covering]},
                lower=[
                    Change(
                        "rainstorm_warning", "warning", True, False, base, f"若暴雨预警解除，降为{level_name_zh(base)}"
                    ).as_dict()
                ]
                if base > level
                else [],
            )
        )
    return level, reasons


# What ends each dynamic reason, as a regulator says it.
ENDS = {
    "active_alarm": "若上述报警全部处置消除",
    "major_hidden_hazard": "若重大隐患整改完毕并销号",
    "silent_site": "若监测数据恢复正常上报",
    "covert_production": "若停止生产活动（监测不再显示用电或井下人员）",
    "overdue_hidden_hazard": "若逾期隐患整改完毕并销号",
}


def _lower(reason: Reason, level_without: int, level: int) -> list[dict[str, Any]]:
    if level_without <= level:
        return []  # another reason holds the level: this one gone alone lowers nothing
    text = f"{ENDS[reason.rule]}，降为{level_name_zh(level_without)}"
    return [Change(reason.rule, reason.rule, True, False, level_without, text).as_dict()]
