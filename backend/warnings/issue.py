"""Issuing, updating and cancelling a broadcast.

What `issue` needs is one value, a `BroadcastOrder`; an update is an order that supersedes a
broadcast, a cancel ends one. All three build their CAP 1.2 message and its `broadcasts` row
in one place (`_compose`), so the two never disagree.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from backend.core.clock import CHINA_TZ
from backend.core.security import token_digest
from backend.domain import cap
from backend.domain.states import BroadcastState, Colour, RecipientStatus
from backend.models import Broadcast, Recipient, RecipientPerson, SmsOutbox
from backend.models.base import SRID
from backend.people.register import responsible_people
from backend.warnings import delivery, events, targeting
from backend.warnings.events import Event
from backend.warnings.rules import region_of, rule_named, rules


@dataclass(frozen=True)
class BroadcastOrder:
    """What to broadcast, to whom and where: everything `issue` needs besides the clock and the actor."""

    action: str  # evacuate | prepare (flood_warning.yaml actions)
    color: str
    area: MultiPolygon
    adcodes: tuple[str, ...] = ()
    rule: str = "manual"
    status: str = "Actual"  # Actual | Exercise (a drill)
    expires: datetime | None = None
    weather_warning_id: int | None = None
    site_ids: tuple[int, ...] | None = None  # None: the sites the rule addresses in the area
    note: str = ""


@dataclass(frozen=True)
class _Message:
    """What a CAP message and its row are made of, whichever the message type."""

    msg_type: str  # Alert | Update | Cancel
    state: str
    status: str
    action: str
    color: str
    event: str
    response_type: str
    headline: str
    description: str
    instruction: str
    area: MultiPolygon
    area_desc: str
    adcodes: list[str]
    issuing_adcode: str
    lifetime: timedelta
    expires: datetime | None
    references: Broadcast | None
    weather_warning_id: int | None
    rule: str
    parameters: dict[str, str]
    onset_in_cap: bool = True
    places: list[dict[str, Any]] = field(default_factory=list)


def _identifier(session: Session, adcode: str, sent: datetime) -> str:
    stamp = sent.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")
    n = (
        session.scalar(text("SELECT count(*) FROM broadcasts WHERE identifier LIKE :p"), {"p": f"{adcode}{stamp}%"})
        or 0
    )
    return f"{adcode}{stamp}{n + 1:03d}"


def cap_rings(area: MultiPolygon) -> list[list[tuple[float, float]]]:
    """The area as CAP polygons: simplified, (lon, lat) to 5 decimals."""
    simple = area.simplify(rules().cap_simplify_deg, preserve_topology=True)
    polygons = getattr(simple, "geoms", [simple])
    return [[(round(x, 5), round(y, 5)) for x, y in p.exterior.coords] for p in polygons if not p.is_empty]


def _compose(session: Session, m: _Message, now: datetime, actor: str) -> Broadcast:
    """The CAP message and its row, added to the session (not flushed)."""
    r = rules()
    sent = now.replace(microsecond=0)
    identifier = _identifier(session, m.issuing_adcode, sent)
    expires = m.expires or sent + m.lifetime
    alert = cap.Alert(
        identifier=identifier,
        sender=r.sender,
        sent=sent,
        status=m.status,
        msg_type=m.msg_type,
        event=m.event,
        response_type=m.response_type,
        severity=r.severity[Colour(m.color)],
        headline=m.headline,
        description=m.description,
        instruction=m.instruction,
        area_desc=m.area_desc,
        rings=cap_rings(m.area),
        adcodes=m.adcodes,
        expires=expires,
        onset=sent if m.onset_in_cap else None,
        sender_name=r.sender_name,
        references=[(r.sender, m.references.identifier, m.references.sent)] if m.references else [],
        parameters=m.parameters,
    )
    b = Broadcast(
        identifier=identifier,
        sent=sent,
        status=m.status,
        msg_type=m.msg_type,
        action=m.action,
        color=m.color,
        state=m.state,
        headline=m.headline,
        description=m.description,
        instruction=m.instruction,
        area_desc=m.area_desc,
        area=from_shape(m.area, SRID),
        adcodes=m.adcodes,
        issuing_adcode=m.issuing_adcode,
        onset=sent,
        expires=expires,
        references_id=m.references.id if m.references else None,
        weather_warning_id=m.weather_warning_id,
        rule=m.rule,
        issued_by=actor,
        places=m.places,
        cap_xml=cap.build(alert),
    )
    session.add(b)
    return b


def issue(session: Session, order: BroadcastOrder, now: datetime, actor: str) -> Broadcast:
    """Issue a broadcast: targets, CAP, recipients with tokens, SMS rows, delivery queued."""
    return _issue(session, order, now, actor, None)


def update(session: Session, old: Broadcast, order: BroadcastOrder, now: datetime, actor: str) -> Broadcast:
    """Issue a CAP Update that supersedes `old`; who already answered need not again unless the colour rose."""
    return _issue(session, order, now, actor, old)


def _issue(
    session: Session, order: BroadcastOrder, now: datetime, actor: str, update_of: Broadcast | None
) -> Broadcast:
    r = rules()
    spec = r.actions[order.action]
    color, adcodes = order.color, list(order.adcodes)
    ids = (
        list(order.site_ids)
        if order.site_ids is not None
        else targeting.targets(session, order.area, rule_named(order.rule))
    )
    if adcodes:  # named regions describe the area better than the one at its centre
        names = session.scalars(
            text("SELECT name FROM regions WHERE adcode = ANY(:a) ORDER BY adcode"), {"a": adcodes}
        ).all()
        adcode, region_name = (adcodes[0] if len(adcodes) == 1 else adcodes[0][:2] + "0000"), "、".join(names)
    else:
        adcode, region_name = region_of(session, order.area)
    deadline_min = r.deadlines_min[Colour(color)]
    words = {"area": region_name, "color_zh": r.color_zh[Colour(color)], "deadline_min": f"{deadline_min:g}"}
    sites = targeting.addressees(session, ids)
    places = targeting.downstream_places(session, sites)
    description = (
        f"{region_name}发布暴雨{r.color_zh[Colour(color)]}色预警。涉及{len(sites)}家矿山、尾矿库企业："
        + "、".join(s.name for s in sites[:30])
        + ("等" if len(sites) > 30 else "")
        + (f"；尾矿库下游{len(places)}处村庄及设施须同步预警。" if places else "。")
        + (order.note or "")
    )
    b = _compose(
        session,
        _Message(
            msg_type="Update" if update_of else "Alert",
            state=BroadcastState.active,
            status=order.status,
            action=order.action,
            color=color,
            event=spec.event,
            response_type=spec.response_type,
            headline=spec.headline.format(**words),
            description=description,
            instruction=spec.instruction.format(**words),
            area=order.area,
            area_desc=region_name,
            adcodes=adcodes or [adcode],
            issuing_adcode=adcode,
            lifetime=timedelta(hours=r.expires_h),
            expires=order.expires,
            references=update_of,
            weather_warning_id=order.weather_warning_id,
            rule=order.rule,
            parameters={"color": color, "rule": order.rule},
            places=places,
        ),
        now,
        actor,
    )
    if update_of:
        update_of.state = BroadcastState.superseded
    session.flush()
    tokens, sms = _recipients(session, b, sites, update_of)
    events.record(
        session,
        *([Event(update_of.id, "superseded", actor, detail={"by": b.identifier})] if update_of else []),
        Event(
            b.id,
            "issued",
            actor,
            detail={"recipients": len(sites), "places": len(places), "rule": order.rule, "status": order.status},
        ),
    )
    delivery.deliver(session, b, tokens, sms)
    return b


def _recipients(
    session: Session, b: Broadcast, sites: list[targeting.Addressee], update_of: Broadcast | None
) -> tuple[dict[int, str], int]:
    """One recipient per site with its answer token (only its hash is kept), for its gateway; under
    it one row per responsible person (backend/people) with their own token, and an SMS to each
    person's mobile (to the enterprise when the site has nobody registered). The site tokens by
    recipient id, for the site messages, and the number of SMS queued."""
    r = rules()
    carried = {}
    if update_of:  # an enterprise that already answered need not answer again unless the colour rose
        carried = {
            x.site_id: x for x in session.scalars(select(Recipient).where(Recipient.broadcast_id == update_of.id))
        }
    deadline = b.sent + timedelta(minutes=r.deadlines_min[Colour(b.color)])
    rows, secrets_by_site = [], {}
    for site in sites:
        token = secrets.token_urlsafe(24)
        secrets_by_site[site.site_id] = token
        prior = carried.get(site.site_id)
        keep = prior is not None and update_of is not None and update_of.color == b.color
        rows.append(
            {
                "broadcast_id": b.id,
                "site_id": site.site_id,
                "token_hash": token_digest(token),
                "status": prior.status if keep else RecipientStatus.waiting,
                "deadline": deadline,
                "acknowledged_at": prior.acknowledged_at if keep else None,
                "evacuated_at": prior.evacuated_at if keep else None,
            }
        )
    if not rows:
        return {}, 0
    # one statement for all recipients, however many
    ids = session.execute(
        insert(Recipient).returning(Recipient.id, Recipient.site_id, sort_by_parameter_order=True), rows
    ).all()
    credit = {s.site_id: s.credit_code for s in sites}
    text_ = f"【{r.sender_name}】{b.headline}。{b.instruction}"
    contacts = responsible_people(session, [sid for _, sid in ids])
    people, sms = [], []
    for rid, sid in ids:
        if not contacts[sid]:  # nobody registered: the enterprise, as before the people register
            sms.append({"broadcast_id": b.id, "recipient_id": rid, "to_enterprise": credit[sid], "text": text_[:500]})
        for c in contacts[sid]:
            token = secrets.token_urlsafe(24)
            people.append(
                {
                    "broadcast_id": b.id,
                    "recipient_id": rid,
                    "site_id": sid,
                    "person_id": c.person_id,
                    "duty": c.duty,
                    "name": c.name,
                    "mobile": c.mobile,
                    "token_hash": token_digest(token),
                }
            )
            # the person's own answer link; the text is cut before it, never the token
            link = f" 叫应：POST /api/v1/broadcasts/{b.id}/ack 叫应码 {token}"
            sms.append(
                {
                    "broadcast_id": b.id,
                    "recipient_id": rid,
                    "kind": "warning",
                    "to_enterprise": credit[sid],
                    "to_phone": c.mobile,
                    "to_name": c.name,
                    "person_id": c.person_id,
                    "text": text_[: 500 - len(link)] + link,
                }
            )
    if people:
        session.execute(insert(RecipientPerson), people)
    session.execute(insert(SmsOutbox), sms)
    return {rid: secrets_by_site[sid] for rid, sid in ids}, len(sms)


def cancel(session: Session, b: Broadcast, now: datetime, actor: str, reason: str = "") -> Broadcast:
    """Cancel an active broadcast: a CAP Cancel referencing it, and its retained messages cleared."""
    allclear = rules().actions["allclear"]
    c = _compose(
        session,
        _Message(
            msg_type="Cancel",
            state=BroadcastState.cancelled,
            status=b.status,
            action="allclear",
            color=b.color,
            event=allclear.event,
            response_type="AllClear",
            headline=allclear.headline.format(area=b.area_desc),
            description=reason or "预警解除",
            instruction=allclear.instruction,
            area=to_shape(b.area),
            area_desc=b.area_desc,
            adcodes=b.adcodes,
            issuing_adcode=b.issuing_adcode,
            lifetime=timedelta(hours=1),
            expires=None,
            references=b,
            weather_warning_id=b.weather_warning_id,
            rule=b.rule,
            parameters={"color": b.color},
            onset_in_cap=False,
        ),
        now,
        actor,
    )
    b.state = BroadcastState.cancelled
    session.flush()
    events.record(session, Event(b.id, "cancelled", actor, detail={"cancel": c.identifier, "reason": reason}))
    delivery.queue_site_messages(session, b, None, clear=True)
    return c
