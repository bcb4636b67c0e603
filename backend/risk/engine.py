"""Regrading: gather every site's facts in a few set-based queries, grade them with the pure
rules, and store each level with its reasons, keeping a history of every change."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from backend.core.clock import CHINA_TZ
from backend.core.jurisdiction import as_platform, bound, is_platform
from backend.core.principal import platform
from backend.domain.dynamic import ActiveAlarm, Activity, HiddenHazard, RainWarning, SiteNow, dynamic_level
from backend.domain.inherent import PondFacts, hazchem_level, mine_level, tailings_level
from backend.domain.levels import Reason, color_of
from backend.domain.major_hazard import Held, Unit
from backend.domain.season import in_flood_season
from backend.domain.states import OPEN_ALARM_STATES
from backend.domain.substances import UnknownSubstance
from backend.domain.tailings import Upgrade
from backend.risk import exposure

log = logging.getLogger("riskmap.risk")


@dataclass
class RegradeReport:
    graded: int
    changed: int
    errors: dict[str, str]


ONLY = "(CAST(:ids AS int[]) IS NULL OR s.id = ANY(:ids))"
# What the grading reads, one named query per kind of fact, each for every site (or :ids) at
# once; rows are read by column name. Each has the site's id as `site_id`.
SITES = text(f"""
    SELECT s.id, s.id AS site_id, s.code, s.kind, s.region_adcode, e.status,
           tp.capacity_10k_m3, tp.dam_height_m, tp.wet,
           cm.gas_class, cm.hydrogeology,
           COALESCE(cm.capacity_10k_t, nm.capacity_10k_t) AS capacity_10k_t,
           nm.mining_method,
           pco.from_class AS up_from, pco.to_class AS up_to, pco.reason AS up_reason,
           pco.created_by AS up_by, pco.created_at AS up_at
    FROM sites s JOIN enterprises e ON e.id = s.enterprise_id
    LEFT JOIN tailings_ponds tp ON tp.site_id = s.id
    LEFT JOIN pond_class_overrides pco ON pco.site_id = s.id
    LEFT JOIN coal_mines cm ON cm.site_id = s.id
    LEFT JOIN noncoal_mines nm ON nm.site_id = s.id
    WHERE {ONLY} ORDER BY s.id""")
INVENTORY = text(f"""
    SELECT i.site_id, u.id AS unit_id, u.code, u.name, u.kind, u.footprint IS NOT NULL AS shaped,
           i.substance, i.cas, i.hazard_class, i.max_quantity_t
    FROM inventory_items i JOIN hazard_units u ON u.id = i.unit_id JOIN sites s ON s.id = i.site_id
    WHERE {ONLY} ORDER BY i.site_id, u.code, i.id""")
ACTIVE_ALARMS = text(f"""
    SELECT a.site_id, a.id, a.color, a.kind, se.code AS sensor, a.value, a.threshold FROM alarms a
    JOIN sites s ON s.id = a.site_id LEFT JOIN sensors se ON se.id = a.sensor_id
    WHERE a.state = ANY(CAST(:open AS text[])) AND {ONLY} ORDER BY a.id""")
MAJOR_HAZARDS = text(f"""
    SELECT h.site_id, h.id, h.title, h.found_at, h.deadline FROM hidden_hazards h
    JOIN sites s ON s.id = h.site_id WHERE h.major AND h.rectified_at IS NULL AND {ONLY}
    ORDER BY h.id""")
OVERDUE_GENERAL_HAZARDS = text(f"""
    SELECT h.site_id, h.id, h.title, h.found_at, h.deadline FROM hidden_hazards h
    JOIN sites s ON s.id = h.site_id WHERE NOT h.major AND h.rectified_at IS NULL
      AND h.state IN ('reported', 'confirmed', 'planned', 'rectifying')
      AND h.deadline < CAST(:now AS timestamptz) AND {ONLY}
    ORDER BY h.id""")
SENSOR_COUNTS = text(f"""
    SELECT se.site_id, count(*) AS sensor_count, max(se.last_reading_at) AS last_reading_at,
           max(se.interval_s) AS max_interval_s
    FROM sensors se JOIN sites s ON s.id = se.site_id WHERE {ONLY} GROUP BY se.site_id""")
ACTIVITY = text(f"""
    SELECT se.site_id, se.code, se.kind, se.last_value, se.last_reading_at FROM sensors se
    JOIN sites s ON s.id = se.site_id
    WHERE se.kind IN ('power_draw', 'personnel_count') AND {ONLY}
      AND se.last_value > COALESCE((se.thresholds ->> 'idle_max')::float8, 0)
      AND se.last_reading_at > CAST(:now AS timestamptz) - make_interval(secs => 3 * se.interval_s)""")
RAIN_WARNINGS = text(f"""
    SELECT s.id AS site_id, w.identifier, w.color, w.expires FROM weather_warnings w
    JOIN sites s ON w.area && s.location AND ST_Intersects(w.area, s.location)
    WHERE w.status = 'Actual' AND w.cancelled_at IS NULL AND {ONLY}
      AND (w.onset IS NULL OR w.onset <= CAST(:now AS timestamptz))
      AND (w.expires IS NULL OR w.expires > CAST(:now AS timestamptz))""")
# Sites that could not be graded keep their level and say why (a site never graded gets a row
# without one); the error's time is kept while the error stays the same.
FLAG_ERRORS = text("""
    INSERT INTO site_risk (site_id, reasons, grading_error, grading_error_at)
    SELECT s.id, '[]'::jsonb, e.message, :now
    FROM sites s JOIN unnest(CAST(:codes AS text[]), CAST(:messages AS text[])) AS e(code, message)
         ON e.code = s.code
    ON CONFLICT (site_id) DO UPDATE SET grading_error = EXCLUDED.grading_error,
        grading_error_at = CASE WHEN site_risk.grading_error IS NOT DISTINCT FROM EXCLUDED.grading_error
                                THEN site_risk.grading_error_at ELSE EXCLUDED.grading_error_at END""")
CREATE_GRADED = text(
    "CREATE TEMP TABLE IF NOT EXISTS graded (site_id int, inherent_level int, level int, color text, "
    "reasons jsonb) ON COMMIT DELETE ROWS"
)
# The COPYed levels stored in one upsert, with a history row for each site whose level changed;
# returns how many changed.
STORE_LEVELS = text("""
    WITH previous AS (
        SELECT g.*, r.level AS previous_level FROM graded g LEFT JOIN site_risk r USING (site_id)),
    upsert AS (
        INSERT INTO site_risk (site_id, inherent_level, level, color, reasons, graded_at)
        SELECT site_id, inherent_level, level, color, reasons, :now FROM graded
        ON CONFLICT (site_id) DO UPDATE SET inherent_level = EXCLUDED.inherent_level,
            level = EXCLUDED.level, color = EXCLUDED.color, reasons = EXCLUDED.reasons,
            graded_at = EXCLUDED.graded_at, grading_error = NULL, grading_error_at = NULL),
    history AS (
        INSERT INTO site_risk_history (site_id, at, previous_level, level, reasons)
        SELECT site_id, :now, previous_level, level, reasons FROM previous
        WHERE previous_level IS DISTINCT FROM level RETURNING 1)
    SELECT count(*) FROM history""")
NOTIFY_RISK = text("SELECT pg_notify('riskmap_risk', :n)")


def _rows(session: Session, query: TextClause, ids: list[int] | None, now: datetime | None = None) -> list[Any]:
    return list(session.execute(query, {"ids": ids, "now": now, "open": list(OPEN_ALARM_STATES)}))


def _by_site(rows: list[Any], make: Any) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        out[row.site_id].append(make(row))
    return out


def hazard_units(session: Session, ids: list[int] | None) -> dict[int, list[Unit]]:
    """Each chemical site's units (GB 18218 单元) with what they hold and the residents within 500 m
    of each (its own footprint, else the plant's): two set-based queries, whatever the number of units."""
    population = {
        key: sum(p.population or 0 for p in places)
        for key, places in exposure.residents_near(session, exposure.Source.units(ids)).items()
    }
    units: dict[int, dict[int, tuple[Any, list[Held]]]] = defaultdict(dict)
    for row in _rows(session, INVENTORY, ids):
        _, held = units[row.site_id].setdefault(row.unit_id, (row, []))
        held.append(Held(row.max_quantity_t, row.substance, row.cas, row.hazard_class))
    return {
        site: [Unit(r.code, r.name, r.kind, held, population.get(u, 0), r.shaped) for u, (r, held) in by_unit.items()]
        for site, by_unit in units.items()
    }


def _inputs(session: Session, ids: list[int] | None, now: datetime) -> dict[str, Any]:
    """Everything the rules read, site by site, in one query per kind of fact."""
    iso = datetime.isoformat
    return {
        "inventory": hazard_units(session, ids),
        "alarms": _by_site(
            _rows(session, ACTIVE_ALARMS, ids),
            lambda r: ActiveAlarm(r.id, r.color, r.kind, r.sensor, r.value, r.threshold),
        ),
        "hazards": _by_site(
            _rows(session, MAJOR_HAZARDS, ids),
            lambda r: HiddenHazard(r.id, r.title, iso(r.found_at), iso(r.deadline) if r.deadline else None),
        ),
        "overdue": _by_site(
            _rows(session, OVERDUE_GENERAL_HAZARDS, ids, now),
            lambda r: HiddenHazard(r.id, r.title, iso(r.found_at), iso(r.deadline) if r.deadline else None),
        ),
        "sensors": {r.site_id: r for r in _rows(session, SENSOR_COUNTS, ids)},
        "activity": _by_site(
            _rows(session, ACTIVITY, ids, now),
            lambda r: Activity(r.code, r.kind, r.last_value, iso(r.last_reading_at)),
        ),
        "warnings": _by_site(
            _rows(session, RAIN_WARNINGS, ids, now),
            lambda r: RainWarning(r.identifier, r.color, iso(r.expires) if r.expires else None),
        ),
    }


def grade_sites(
    session: Session, ids: list[int] | None = None, now: datetime | None = None
) -> tuple[dict[int, tuple[int, int, list[Reason]]], dict[str, str]]:
    """(inherent level, level, reasons) for each site; errors by site code (e.g. an unknown
    substance in an inventory), whose sites keep their previous grade."""
    now = now or datetime.now(UTC)
    sites = _rows(session, SITES, ids)
    facts = _inputs(session, ids, now)
    source = exposure.Source.sites(ids)
    residents = exposure.residents_near(session, exposure.Source.sites(ids, "hazchem"))
    downstream = exposure.downstream(session, source)
    waters = exposure.waters_near(session, exposure.Source.sites(ids, "tailings_pond"))
    sources = exposure.water_sources_downstream(session, source)
    today = now.astimezone(CHINA_TZ).date()
    graded: dict[int, tuple[int, int, list[Reason]]] = {}
    errors: dict[str, str] = {}
    for s in sites:
        try:
            require_attributes(s)
            if s.kind == "hazchem":
                inherent = hazchem_level(facts["inventory"].get(s.id, []), residents.get(s.id, []))
            elif s.kind == "tailings_pond":
                inherent = tailings_level(
                    PondFacts(
                        s.capacity_10k_m3,
                        s.dam_height_m,
                        s.wet,
                        downstream.get(s.id, []),
                        waters.get(s.id, []),
                        sources.get(s.id, []),
                        Upgrade(s.up_from, s.up_to, s.up_reason, s.up_by, s.up_at.isoformat()) if s.up_from else None,
                    )
                )
            else:
                attrs = {
                    k: getattr(s, k)
                    for k in ("gas_class", "hydrogeology", "capacity_10k_t", "mining_method")
                    if getattr(s, k) is not None
                }
                inherent = mine_level(s.kind, attrs)
        except Exception as exc:  # one site that cannot be graded never stops the others
            errors[s.code] = grading_error_text(exc)
            log.warning("site %s not graded: %s", s.code, errors[s.code], exc_info=not isinstance(exc, ValueError))
            continue
        sensors = facts["sensors"].get(s.id)
        level, dynamic = dynamic_level(
            inherent.level,
            SiteNow(
                site_kind=s.kind,
                status=s.status,
                now=now,
                sensor_count=sensors.sensor_count if sensors else 0,
                last_reading_at=sensors.last_reading_at if sensors else None,
                max_interval_s=sensors.max_interval_s if sensors else None,
                alarms=facts["alarms"].get(s.id, []),
                hidden_hazards=facts["hazards"].get(s.id, []),
                overdue_hazards=facts["overdue"].get(s.id, []),
                activity=facts["activity"].get(s.id, []),
                warnings=facts["warnings"].get(s.id, []),
                in_flood_season=in_flood_season(today, s.region_adcode),
            ),
        )
        graded[s.id] = (inherent.level, level, [inherent, *dynamic])
    return graded, errors


# The register's attributes each kind is graded by, as an operator names them.
REQUIRED = {
    "tailings_pond": {"capacity_10k_m3": "总库容", "dam_height_m": "坝高", "wet": "湿式/干式"},
    "coal_mine": {"gas_class": "瓦斯等级", "hydrogeology": "水文地质类型", "capacity_10k_t": "设计生产能力"},
    "noncoal_mine": {"mining_method": "开采方式", "capacity_10k_t": "设计生产能力"},
}


class GradingError(ValueError):
    """A site the rules cannot grade, said in Chinese."""


def require_attributes(site: Any) -> None:
    missing = [zh for key, zh in REQUIRED.get(site.kind, {}).items() if getattr(site, key) is None]
    if missing:
        raise GradingError(f"登记信息缺少{'、'.join(missing)}，请补全后重新定级")


def grading_error_text(exc: Exception) -> str:
    """What an operator reads about a site that could not be graded: the domain's own Chinese
    reason, or, for a fault of ours, a fixed sentence (the details go to the log)."""
    if isinstance(exc, GradingError | UnknownSubstance):
        return f"无法定级：{exc}"[:500]
    return "无法定级：平台内部错误，详情已记入日志，请联系平台管理员"


def _flag_errors(session: Session, errors: dict[str, str], now: datetime) -> None:
    """Sites that could not be graded keep their last level and say why; a site never graded
    gets a row without a level, so that it is still listed and drawn (grey)."""
    if not errors:
        return
    session.execute(FLAG_ERRORS, {"codes": list(errors), "messages": list(errors.values()), "now": now})


def regrade(session: Session, ids: list[int] | None = None, now: datetime | None = None) -> RegradeReport:
    """Grade the sites (all, or `ids`) and store the results; the caller commits.

    The levels go in through COPY into a temporary table and one upsert; a site whose level
    changed also gets a history row, in the same statement. Grading is the platform's work: after a
    caller's change it runs with the platform's view (row-level security bypassed, by design), so a
    county's change that regrades sites of another county grades them from complete facts.
    """
    if ids is None and not is_platform(bound(session) or PLATFORM_GRADING):
        ids = list(session.scalars(text("SELECT id FROM sites")))  # "all" for a caller: all it may see
    with as_platform(session, "grading"):
        return _regrade(session, ids, now or datetime.now(UTC))


PLATFORM_GRADING = platform("grading")


def regrade_enterprise(session: Session, enterprise_id: int, now: datetime | None = None) -> RegradeReport:
    """Every site of an enterprise, in every county: each reads the enterprise's status and credit
    list, so a change made by one county's regulator regrades its sites elsewhere too."""
    with as_platform(session, "grading"):
        ids = list(session.scalars(text("SELECT id FROM sites WHERE enterprise_id = :e"), {"e": enterprise_id}))
        return _regrade(session, ids, now or datetime.now(UTC))


def _regrade(session: Session, ids: list[int] | None, now: datetime) -> RegradeReport:
    graded, errors = grade_sites(session, ids, now)
    _flag_errors(session, errors, now)
    if not graded:
        return RegradeReport(0, 0, errors)
    session.execute(CREATE_GRADED)
    session.execute(text("TRUNCATE graded"))
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy("COPY graded FROM STDIN") as copy:
        for sid, (inherent, level, reasons) in graded.items():
            copy.write_row(
                (
                    sid,
                    inherent,
                    level,
                    color_of(level),
                    json.dumps([r.as_dict() for r in reasons], ensure_ascii=False),
                )
            )
    changed = session.scalar(STORE_LEVELS, {"now": now}) or 0
    if changed:
        session.execute(NOTIFY_RISK, {"n": str(changed)})
    return RegradeReport(len(graded), changed, errors)
