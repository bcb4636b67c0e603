"""Sensor alarms that nobody acknowledges escalate (rules: alarm_escalation.yaml, by colour).

A red or orange sensor alarm still `raised` when its deadline passes notifies, step by step, the
site's responsible people and the county bureau's duty officer on the roster at that time, then the
prefecture's: an SMS to each through the outbox, and each step an event (`notified`) on the alarm's
timeline, with whom it reached (phones masked). Acknowledging the alarm stops it; an alarm that
rises to a higher colour starts again from that colour's deadline. Run by the same worker as the
broadcast deadlines (`riskmap up`, every regrade interval), with the clock passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from backend.core.audit import record
from backend.domain.phones import mask
from backend.domain.rules_models import AlarmEscalation, flood_warning, rules
from backend.models import AlarmEvent, SmsOutbox
from backend.people.register import Contact, duty_officer, responsible_people

EVENT = "notified"
ACTOR = "system:escalation"
COLOR_ZH = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}

# Open, unacknowledged sensor alarms of the escalating colours, with when they reached their
# colour and how many steps were taken since.
_DUE = text(
    """
    SELECT a.id, a.site_id, a.color, a.state, a.message, s.name AS site, s.region_adcode AS region,
           since.at AS since,
           (SELECT count(*) FROM alarm_events n
             WHERE n.alarm_id = a.id AND n.event = 'notified' AND n.at >= since.at) AS steps
      FROM alarms a
      JOIN sites s ON s.id = a.site_id
      CROSS JOIN LATERAL (
        SELECT coalesce(max(e.at), a.raised_at) AS at FROM alarm_events e
         WHERE e.alarm_id = a.id AND e.event IN ('raised', 'escalated')
      ) since
     WHERE a.state = 'raised' AND a.sensor_id IS NOT NULL AND a.color = ANY(:colors)
     ORDER BY a.id
    """
)


def escalation_rules() -> AlarmEscalation:
    return cast(AlarmEscalation, rules("alarm_escalation"))


def steps_due(r: AlarmEscalation, color: str, since: datetime, now: datetime) -> int:
    """How many steps an alarm of `color` unacknowledged since `since` has reached by `now`."""
    first = since + timedelta(minutes=r.deadlines_min[color])  # type: ignore[index]
    if now < first:
        return 0
    return min(len(r.steps), 1 + int((now - first) / timedelta(minutes=r.step_min[color])))  # type: ignore[index]


def sweep(session: Session, now: datetime) -> dict[str, int]:
    """Take every escalation step that is due at `now`; the counts of alarms and messages."""
    r = escalation_rules()
    counts = {"alarms": 0, "steps": 0, "messages": 0}
    for a in session.execute(_DUE, {"colors": [str(c) for c in r.deadlines_min]}).all():
        due = steps_due(r, a.color, a.since, now)
        if due <= a.steps:
            continue
        counts["alarms"] += 1
        for step in range(a.steps, due):
            counts["messages"] += _step(session, r, a, step, now)
            counts["steps"] += 1
    return counts


def _step(session: Session, r: AlarmEscalation, a: Any, step: int, now: datetime) -> int:
    """One step: its people texted, and the event on the alarm's timeline. The number of messages."""
    reached: list[tuple[str, str | None, Contact]] = []  # (whom, bureau, contact)
    missing: list[str] = []
    for whom in r.steps[step].notify:
        if whom == "site_people":
            people = responsible_people(session, [a.site_id])[a.site_id]
            reached += [(whom, None, c) for c in people]
            if not people:
                missing.append(whom)
            continue
        adcode = {
            "county_duty": a.region,
            "prefecture_duty": a.region[:4] + "00",
            "province_duty": a.region[:2] + "0000",
        }[whom]
        org, officer = duty_officer(session, adcode, now)
        if officer is None:
            missing.append(whom)
        else:
            reached.append((whom, org.name if org else None, officer))
    minutes = int((now - a.since).total_seconds() // 60)
    sms = (
        f"【{flood_warning().sender_name}】{a.site}{COLOR_ZH.get(a.color, '')}色报警{minutes}分钟未确认："
        f"{a.message}。请立即处置并在平台确认。"
    )[:500]
    if reached:
        session.execute(
            insert(SmsOutbox),
            [
                {
                    "alarm_id": a.id,
                    "kind": "alarm",
                    "to_phone": c.mobile,
                    "to_name": c.name,
                    "person_id": c.person_id,
                    "duty_shift_id": c.duty_shift_id,
                    "text": sms,
                }
                for _, _, c in reached
            ],
        )
    notified = [
        {"to": whom, "bureau": bureau, "name": c.name, "duty": c.duty, "phone": mask(c.mobile)}
        for whom, bureau, c in reached
    ]
    names = "、".join(f"{n['bureau'] or ''}{n['name']}" for n in notified) or "无人可通知"
    comment = f"第{step + 1}步：{minutes}分钟未确认，已短信通知 {names}" + (
        f"；未找到：{'、'.join(missing)}" if missing else ""
    )
    detail = {"step": step + 1, "notified": notified, "missing": missing}
    session.execute(
        insert(AlarmEvent).values(
            alarm_id=a.id,
            at=now,
            event=EVENT,
            state=a.state,
            color=a.color,
            actor=ACTOR,
            comment=comment[:500],
            detail=detail,
        )
    )
    record(session, "escalate", "alarms", str(a.id), detail)
    return len(reached)
