"""Alarm decisions from readings: the rules of backend/domain/alarm_rules.py applied to a batch
(thresholds with debounce, rates of change, rolling rainfall, covert production, a tailings
pond's roll-up, sensors and gateways falling silent). Every transition they decide is made by
backend/alarms/lifecycle.py, which records and announces it; `finish` settles the batch there.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.alarms import lifecycle
from backend.alarms.lifecycle import Subject
from backend.alarms.rain import rolling_rain
from backend.domain import alarm_rules as rules
from backend.domain.rules_models import sensor_thresholds
from backend.domain.states import OPEN_ALARM_STATES
from backend.models import Alarm, Sensor
from ingest.payload import Reading, SensorInfo

__all__ = ["AlarmWriter", "Subject", "subject_of"]

# The readings before a batch that debouncing needs, per sensor (its own limit), in one query.
HISTORY_BEFORE = text("""
    SELECT n.sid, r.ts, r.value FROM unnest(CAST(:ids AS int[]), CAST(:before AS timestamptz[]),
                                            CAST(:lim AS int[])) AS n(sid, before, lim)
    CROSS JOIN LATERAL (SELECT ts, value FROM readings WHERE sensor_id = n.sid AND ts < n.before
                        ORDER BY ts DESC LIMIT n.lim) r""")
# The lowest value in each sensor's rate-of-change window, in one query.
WINDOW_MINIMA = text("""
    SELECT n.sid, m.low
    FROM unnest(CAST(:ids AS int[]), CAST(:a AS timestamptz[]), CAST(:b AS timestamptz[])) AS n(sid, a, b)
    CROSS JOIN LATERAL (SELECT min(value) AS low FROM readings
                        WHERE sensor_id = n.sid AND ts BETWEEN n.a AND n.b) m
    WHERE m.low IS NOT NULL""")
# Sensors silent for :n reporting intervals with no open offline alarm, and for how long.
SILENT_SENSORS = text("""
    SELECT s.id, s.site_id, extract(epoch FROM :now - coalesce(s.last_reading_at, s.created_at)) AS silent_s
    FROM sensors s
    WHERE coalesce(s.last_reading_at, s.created_at) < :now - make_interval(secs => :n * s.interval_s)
      AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.key = 'sensor' || ':' || s.id || ':' || 'offline'
                      AND a.state = ANY(CAST(:open AS text[])))""")


def subject_of(s: SensorInfo) -> Subject:
    """The subject of a sensor's own alarms."""
    return Subject(f"sensor:{s.id}", s.site_id, s.id)


class AlarmWriter:
    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now
        self.events: list[dict[str, Any]] = []  # the transitions of this batch, as announced
        self._open: dict[str, str] = {}

    # --- reading and writing alarms -------------------------------------------------------

    def load_open(self, keys: list[str]) -> dict[str, str]:
        """The colour of each open alarm among `keys`."""
        found = lifecycle.open_colors(self.session, keys)
        self._open.update(found)
        return found

    def apply(self, subject: Subject, kind: str, decision: rules.Decision, message: str = "") -> None:
        key = f"{subject.key_prefix}:{kind}"
        if decision.color is None:
            change = lifecycle.clear(self.session, key, decision.value, self.now)
            self._open.pop(key, None)
        else:
            change = lifecycle.raise_or_move(
                self.session, subject, kind, decision, message, self.now, self._open.get(key)
            )
            self._open[key] = decision.color
        if change is not None:
            self.events.append(change)

    def finish(self) -> None:
        """The batch's transitions settled in its transaction: sites regraded, warnings told."""
        lifecycle.settle(self.session, self.events, self.now)

    # --- the rules ---------------------------------------------------------------------------

    def judge_sensors(self, by_sensor: dict[int, list[Reading]]) -> None:
        subjects = {sid: subject_of(rs[0].sensor) for sid, rs in by_sensor.items()}
        keys = [f"{s.key_prefix}:{k}" for s in subjects.values() for k in ("threshold", "rate", "rain")]
        keys += [f"site:{rs[0].sensor.site_id}:covert" for rs in by_sensor.values()]
        opened = self.load_open(keys)
        history = self._history(by_sensor, opened)
        window_min = self._window_minima(by_sensor)
        rollup_items: set[tuple[int, str]] = set()
        covert = sensor_thresholds().covert_production
        for sid, rs in by_sensor.items():
            sensor, subject = rs[0].sensor, subjects[sid]
            t = sensor.thresholds
            if sensor.kind == "rainfall":
                totals = self._rain_totals(sid, t)
                self._decide(
                    subject,
                    "rain",
                    rules.accumulation_decision(totals, t, self._open.get(f"{subject.key_prefix}:rain")),
                    "暴雨量",
                )
            elif t.get("levels"):
                debounce = rules.debounce_of(sensor.kind, t)
                recent = history.get(sid, [])
                before = self._open.get(f"{subject.key_prefix}:threshold")
                for r in rs:
                    recent = [*recent, (r.ts, r.value)][-max(int(debounce.get("readings", 1)), 1) - 64 :]
                    self._decide(
                        subject,
                        "threshold",
                        rules.threshold_decision(
                            recent, t, debounce, self._open.get(f"{subject.key_prefix}:threshold")
                        ),
                        sensor.kind,
                    )
                if sensor.site_kind == "tailings_pond" and self._open.get(f"{subject.key_prefix}:threshold") != before:
                    rollup_items.add((sensor.site_id, sensor.kind))
            if sid in window_min:
                open_rate = self._open.get(f"{subject.key_prefix}:rate")
                decision = rules.rate_decision(rs[-1].value, window_min[sid], t["rate_of_change"], open_rate)
                self._decide(subject, "rate", decision, f"{sensor.kind} rate")
            if "idle_max" in t and sensor.site_status in covert.statuses:
                active = rules.is_active(rs[-1].value, t)
                key = f"site:{sensor.site_id}:covert"
                if active and self._open.get(key) is None:
                    self.apply(
                        Subject(f"site:{sensor.site_id}", sensor.site_id, sensor.id),
                        "covert",
                        rules.Decision(covert.color, rs[-1].value, t["idle_max"]),
                        f"{sensor.site_status} site shows {sensor.kind} {rs[-1].value:g}",
                    )
                elif not active and self._open.get(key):
                    self.apply(
                        Subject(f"site:{sensor.site_id}", sensor.site_id),
                        "covert",
                        rules.Decision(None, rs[-1].value, None),
                    )
        self._rollup(rollup_items)

    def _decide(self, subject: Subject, kind: str, decision: rules.Decision | None, message: str) -> None:
        if decision is not None:
            self.apply(subject, kind, decision, message)

    def _history(self, by_sensor: dict[int, list[Reading]], opened: dict[str, str]) -> dict[int, list[Any]]:
        """Readings before the batch, for the sensors that need them to debounce."""
        need: dict[int, tuple[datetime, int]] = {}
        for sid, rs in by_sensor.items():
            sensor = rs[0].sensor
            debounce = rules.debounce_of(sensor.kind, sensor.thresholds)
            n, seconds = int(debounce.get("readings", 1)), debounce.get("seconds")
            beyond = any(rules.level_for(r.value, sensor.thresholds) for r in rs)
            if beyond and f"sensor:{sid}:threshold" not in opened and (n > 1 or seconds):
                need[sid] = (rs[0].ts, max(n, 64 if seconds else n))
        if not need:
            return {}
        rows = self.session.execute(
            HISTORY_BEFORE,
            {
                "ids": list(need),
                "before": [v[0] for v in need.values()],
                "lim": [v[1] for v in need.values()],
            },
        )
        out: dict[int, list[Any]] = defaultdict(list)
        for r in rows:
            out[r.sid].append((r.ts, r.value))
        return {sid: sorted(v) for sid, v in out.items()}

    def _window_minima(self, by_sensor: dict[int, list[Reading]]) -> dict[int, float]:
        """For sensors with a rate-of-change rule: the lowest value within the rule's window
        before their newest reading, in one query for the whole batch."""
        wanted = {
            sid: (rs[-1].ts - timedelta(seconds=rs[0].sensor.thresholds["rate_of_change"]["window_s"]), rs[-1].ts)
            for sid, rs in by_sensor.items()
            if "rate_of_change" in rs[0].sensor.thresholds
        }
        if not wanted:
            return {}
        rows = self.session.execute(
            WINDOW_MINIMA,
            {"ids": list(wanted), "a": [v[0] for v in wanted.values()], "b": [v[1] for v in wanted.values()]},
        )
        return {r.sid: r.low for r in rows}

    def _rain_totals(self, sensor_id: int, t: dict[str, Any]) -> dict[float, float]:
        windows = [float(lv["window_h"]) for lv in t.get("levels", []) if "window_h" in lv]
        return rolling_rain(self.session, sensor_id, windows, self.now, up_to_at=False)

    def _rollup(self, items: set[tuple[int, str]]) -> None:
        """GB 39496 roll-up of a tailings pond's monitoring item from its points' alarms."""
        for site_id, kind in sorted(items):
            colors = list(
                self.session.scalars(
                    select(Alarm.color)
                    .join(Sensor, Sensor.id == Alarm.sensor_id)
                    .where(
                        Alarm.site_id == site_id,
                        Sensor.kind == kind,
                        Alarm.kind == "threshold",
                        Alarm.state.in_(OPEN_ALARM_STATES),
                    )
                )
            )
            color = rules.rollup_color(colors)
            key = f"site:{site_id}:rollup_{kind}"
            current = self.load_open([key]).get(key)
            if color != current:
                self.apply(
                    Subject(f"site:{site_id}", site_id),
                    f"rollup_{kind}",
                    rules.Decision(color, float(len(colors)), None),
                    f"{kind} roll-up of {len(colors)} points",
                )

    def clear_offline(self, subjects: list[Subject]) -> None:
        keys = [f"{s.key_prefix}:offline" for s in subjects]
        for key in self.load_open(keys):
            subject = next(s for s in subjects if f"{s.key_prefix}:offline" == key)
            self.apply(subject, "offline", rules.Decision(None, 0.0, None))

    def gateway(self, gateway_id: str, site_id: int, online: bool) -> None:
        subject = Subject(f"gateway:{gateway_id}", site_id, gateway_id=gateway_id)
        key = f"{subject.key_prefix}:offline"
        opened = self.load_open([key]).get(key)
        color = sensor_thresholds().offline.gateway_color
        if not online and opened is None:
            self.apply(subject, "offline", rules.Decision(color, 0.0, None), f"gateway {gateway_id} offline")
        elif online and opened:
            self.apply(subject, "offline", rules.Decision(None, 1.0, None))

    def sweep_offline(self) -> int:
        """Sensors silent for N reporting intervals (since their last reading, or registration)."""
        cfg = sensor_thresholds().offline
        silent = self.session.execute(
            SILENT_SENSORS, {"now": self.now, "n": cfg.intervals, "open": list(OPEN_ALARM_STATES)}
        ).all()
        for row in silent:
            sensor_id, site_id, silent_s = row.id, row.site_id, row.silent_s
            self.apply(
                Subject(f"sensor:{sensor_id}", site_id, sensor_id),
                "offline",
                rules.Decision(cfg.sensor_color, float(silent_s), None),
                f"silent for {int(silent_s)} s",
            )
        return len(silent)
