"""Flood-season early warnings: weather warnings in, broadcasts out, 叫应 back.

A weather warning (or a rain gauge past its threshold) goes through the rules in
flood_warning.yaml; a matching rule issues a CAP 1.2 broadcast to the enterprises whose sites
lie in the area, found in PostGIS, with the villages in their ponds' downstream zones. Each
recipient must acknowledge by a deadline set by the colour, and for 停产撤人 confirm it; the
sensors are checked against the confirmation (假停产假撤人), and an overdue recipient is escalated
to its county bureau, then its prefecture. Every step is an event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely import wkt
from shapely.geometry import MultiPolygon, Polygon
from shapely.ops import unary_union
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from backend.core.config import MqttSettings
from backend.core.security import token_digest
from backend.domain import cap
from backend.domain.geo import GeometryError, check_geometry
from backend.domain.geojson import DEFAULT_MAX_VERTICES, parse_geometry
from backend.domain.season import in_flood_season
from backend.domain.standards import load
from backend.models import Broadcast, BroadcastEvent, Recipient, SmsOutbox, WeatherWarning, Webhook
from backend.models.base import SRID
from backend.risk import exposure
from backend.risk.engine import CHINA_TZ, regrade
from backend.warnings import delivery

log = logging.getLogger("riskmap.warnings")


class WarningError(ValueError):
    pass


def rules() -> dict[str, Any]:
    return load("flood_warning")


# --- areas ----------------------------------------------------------------------------------


def area_from(
    session: Session,
    geojson: dict[str, Any] | None,
    adcodes: list[str],
    rings: list[list[tuple[float, float]]] | None = None,
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> MultiPolygon:
    """The union of a GeoJSON (Multi)Polygon, CAP polygon rings (lon, lat) and the regions named
    by GB/T 2260 codes. Untrusted geometry is checked first: structure, size, coordinates in
    range and inside China, and a valid (e.g. not self-intersecting) polygon."""
    parts: list[Polygon] = []
    try:
        if geojson:
            geom = check_geometry(parse_geometry(geojson, {"Polygon", "MultiPolygon"}, max_vertices), "multipolygon")
            parts += list(getattr(geom, "geoms", [geom]))
        for ring in rings or []:
            parts.append(check_geometry(Polygon(ring), "polygon"))
    except GeometryError as exc:
        raise WarningError(f"area: {exc}") from None
    for code in adcodes:
        boundary = session.scalar(text("SELECT ST_AsText(boundary) FROM regions WHERE adcode = :a"), {"a": code})
        if boundary is None:
            raise WarningError(f"adcodes: unknown region {code!r}")
        parts += list(wkt.loads(boundary).geoms)
    if not parts:
        raise WarningError("area: give a polygon or region codes")
    merged = unary_union(parts)  # overlapping parts (CAP polygons, neighbouring regions) made one
    return merged if isinstance(merged, MultiPolygon) else MultiPolygon([merged])


def _region_of(session: Session, area: MultiPolygon) -> tuple[str, str]:
    """The smallest region holding the area's centre: its code and name (for the text)."""
    row = session.execute(
        text(
            "SELECT adcode, name FROM regions WHERE ST_Contains(boundary, ST_SetSRID(ST_Point(:x, :y), 4326)) "
            "ORDER BY length(rtrim(adcode, '0')) DESC LIMIT 1"
        ),
        {"x": area.centroid.x, "y": area.centroid.y},
    ).first()
    return (row.adcode, row.name) if row else (rules()["issuing_adcode"], "吉林省")


# --- weather warnings -----------------------------------------------------------------------


@dataclass
class WarningIn:
    identifier: str
    color: str
    area: MultiPolygon
    adcodes: list[str]
    onset: datetime | None
    expires: datetime | None
    msg_type: str = "Alert"
    references: list[str] | None = None
    status: str = "Actual"
    sender: str = ""
    event: str = "暴雨"
    source: str | None = None


def receive_warning(session: Session, w: WarningIn, now: datetime, actor: str) -> dict[str, Any]:
    """Store (or update, or cancel) a weather warning and act on it: broadcasts, regrade."""
    if w.msg_type == "Cancel":
        target = _referenced(session, w)
        target.cancelled_at = now
        issued = [
            cancel(session, b, now, actor, reason=f"气象预警 {target.identifier} 已解除")
            for b in _active_for(session, target.id)
        ]
        _regrade_area(session, target.area, now)
        return {"warning": target.identifier, "cancelled": True, "broadcasts": [b.id for b in issued]}
    previous = _referenced(session, w) if w.msg_type == "Update" else None
    row = WeatherWarning(
        identifier=w.identifier,
        sender=w.sender,
        event=w.event,
        color=w.color,
        status=w.status,
        area=from_shape(w.area, SRID),
        adcodes=w.adcodes,
        onset=w.onset,
        expires=w.expires,
        source=w.source,
    )
    session.add(row)
    if previous:
        previous.cancelled_at = now  # superseded by this update
    session.flush()
    issued: list[Broadcast] = []
    rule = _matching_rule("weather_warning", w.color, w.area, session, now)
    old = _active_for(session, previous.id) if previous else []
    if rule:
        issued.append(
            issue(
                session,
                rule["action"],
                w.color,
                w.area,
                w.adcodes,
                now,
                actor,
                rule=rule["name"],
                status="Exercise" if w.status == "Exercise" else "Actual",
                expires=w.expires,
                weather_warning_id=row.id,
                update_of=old[0] if old else None,
            )
        )
        old = old[1:]
    for b in old:  # the update no longer calls for a broadcast
        cancel(session, b, now, actor, reason="气象预警已降级")
    _regrade_area(session, w.area, now)
    return {"warning": w.identifier, "broadcasts": [b.id for b in issued], "rule": rule["name"] if rule else None}


def _referenced(session: Session, w: WarningIn) -> WeatherWarning:
    ref = (w.references or [None])[0]
    found = session.scalar(select(WeatherWarning).where(WeatherWarning.identifier == ref)) if ref else None
    if found is None:
        raise WarningError(f"references: no earlier warning {ref!r} to {w.msg_type.lower()}")
    return found


def _active_for(session: Session, warning_id: int) -> list[Broadcast]:
    return list(
        session.scalars(
            select(Broadcast).where(
                Broadcast.weather_warning_id == warning_id, Broadcast.state == "active", Broadcast.msg_type != "Cancel"
            )
        )
    )


def _regrade_area(session: Session, area: MultiPolygon, now: datetime) -> None:
    ids = list(
        session.scalars(
            text("SELECT id FROM sites WHERE ST_Intersects(location, ST_GeomFromText(:wkt, 4326))"), {"wkt": area.wkt}
        )
    )
    if ids:
        regrade(session, ids, now)


def _matching_rule(
    trigger: str, color: str, area: MultiPolygon, session: Session, now: datetime
) -> dict[str, Any] | None:
    adcode, _ = _region_of(session, area)
    season = in_flood_season(now.astimezone(CHINA_TZ).date(), adcode)
    for rule in rules()["rules"]:
        if rule["trigger"] == trigger and color in rule["colors"] and (season or not rule.get("in_season")):
            return rule
    return None


def gauge_alarm(session: Session, site_id: int, color: str, now: datetime) -> Broadcast | None:
    """A rain gauge at a site passed its threshold: broadcast to that site (rule gauge_*)."""
    location = session.scalar(
        text("SELECT ST_AsText(ST_Buffer(location::geography, 300)::geometry) FROM sites WHERE id = :i"), {"i": site_id}
    )
    area = MultiPolygon([wkt.loads(location)])
    rule = _matching_rule("rain_gauge", color, area, session, now)
    if rule is None:
        return None
    return issue(
        session, rule["action"], color, area, [], now, "system:rain-gauge", rule=rule["name"], site_ids=[site_id]
    )


# --- targeting and issuing ------------------------------------------------------------------


def targets(session: Session, area: MultiPolygon, rule: dict[str, Any] | None) -> list[int]:
    """Sites inside the area that the rule addresses (mines and ponds by default)."""
    kinds = (rule or {}).get("site_kinds", ["coal_mine", "tailings_pond"])
    methods = (rule or {}).get("noncoal_methods", ["underground"])
    return list(
        session.scalars(
            text("""
        SELECT s.id FROM sites s LEFT JOIN noncoal_mines n ON n.site_id = s.id
        WHERE s.location && ST_GeomFromText(:wkt, 4326) AND ST_Intersects(ST_GeomFromText(:wkt, 4326), s.location)
          AND (s.kind = ANY(:kinds) OR (s.kind = 'noncoal_mine' AND n.mining_method = ANY(:methods)))
        ORDER BY s.id"""),
            {"wkt": area.wkt, "kinds": kinds, "methods": methods},
        )
    )


def _identifier(session: Session, adcode: str, sent: datetime) -> str:
    stamp = sent.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")
    n = (
        session.scalar(text("SELECT count(*) FROM broadcasts WHERE identifier LIKE :p"), {"p": f"{adcode}{stamp}%"})
        or 0
    )
    return f"{adcode}{stamp}{n + 1:03d}"


def _cap_rings(area: MultiPolygon) -> list[list[tuple[float, float]]]:
    simple = area.simplify(rules()["cap_simplify_deg"], preserve_topology=True)
    polygons = getattr(simple, "geoms", [simple])
    return [[(round(x, 5), round(y, 5)) for x, y in p.exterior.coords] for p in polygons if not p.is_empty]


def issue(
    session: Session,
    action: str,
    color: str,
    area: MultiPolygon,
    adcodes: list[str],
    now: datetime,
    actor: str,
    rule: str = "manual",
    status: str = "Actual",
    expires: datetime | None = None,
    weather_warning_id: int | None = None,
    update_of: Broadcast | None = None,
    site_ids: list[int] | None = None,
    note: str = "",
) -> Broadcast:
    """Issue (or update) a broadcast: targets, CAP, recipients with tokens, delivery."""
    r = rules()
    spec = r["actions"][action]
    rule_spec = next((x for x in r["rules"] if x["name"] == rule), None)
    ids = site_ids if site_ids is not None else targets(session, area, rule_spec)
    if adcodes:  # named regions describe the area better than the one at its centre
        names = session.scalars(
            text("SELECT name FROM regions WHERE adcode = ANY(:a) ORDER BY adcode"), {"a": adcodes}
        ).all()
        adcode, region_name = (adcodes[0] if len(adcodes) == 1 else adcodes[0][:2] + "0000"), "、".join(names)
    else:
        adcode, region_name = _region_of(session, area)
    deadline_min = r["deadlines_min"][color]
    words = {"area": region_name, "color_zh": r["color_zh"][color], "deadline_min": deadline_min}
    sites = session.execute(
        text(
            "SELECT s.id, s.code, s.name, e.credit_code, e.name FROM sites s "
            "JOIN enterprises e ON e.id = s.enterprise_id "
            "WHERE s.id = ANY(:ids) ORDER BY s.code"
        ),
        {"ids": ids},
    ).all()
    codes = {s.id: s.code for s in sites}
    ponds = list(session.scalars(text("SELECT site_id FROM tailings_ponds WHERE site_id = ANY(:ids)"), {"ids": ids}))
    downstream = exposure.downstream_targets(session, exposure.Source.sites(ponds)) if ponds else {}
    places = [
        p.as_dict() | {"pond": codes[pid], "geometry": json.loads(p.geometry) if p.geometry else None}
        for pid in ponds
        for p in downstream.get(pid, [])
    ]
    description = (
        f"{region_name}发布暴雨{r['color_zh'][color]}色预警。涉及{len(sites)}家矿山、尾矿库企业："
        + "、".join(s[2] for s in sites[:30])
        + ("等" if len(sites) > 30 else "")
        + (f"；尾矿库下游{len(places)}处村庄及设施须同步预警。" if places else "。")
        + (note or "")
    )
    sent = now.replace(microsecond=0)
    identifier = _identifier(session, adcode, sent)
    expires = expires or sent + timedelta(hours=r["expires_h"])
    references = [(update_of.identifier, update_of.sent)] if update_of else []
    alert = cap.Alert(
        identifier=identifier,
        sender=r["sender"],
        sent=sent,
        status=status,
        msg_type="Update" if update_of else "Alert",
        event=spec["event"],
        response_type=spec["response_type"],
        severity=r["severity"][color],
        headline=spec["headline"].format(**words),
        description=description,
        instruction=spec["instruction"].format(**words),
        area_desc=region_name,
        rings=_cap_rings(area),
        adcodes=adcodes or [adcode],
        expires=expires,
        onset=sent,
        sender_name=r["sender_name"],
        references=[(r["sender"], i, t) for i, t in references],
        parameters={"color": color, "rule": rule},
    )
    b = Broadcast(
        identifier=identifier,
        sent=sent,
        status=status,
        msg_type=alert.msg_type,
        action=action,
        color=color,
        state="active",
        headline=alert.headline,
        description=description,
        instruction=alert.instruction,
        area_desc=region_name,
        area=from_shape(area, SRID),
        adcodes=alert.adcodes,
        issuing_adcode=adcode,
        onset=sent,
        expires=expires,
        references_id=update_of.id if update_of else None,
        weather_warning_id=weather_warning_id,
        rule=rule,
        issued_by=actor,
        places=places,
        cap_xml=cap.build(alert),
    )
    session.add(b)
    if update_of:
        update_of.state = "superseded"
    session.flush()
    carried = {}
    if update_of:  # an enterprise that already answered need not answer again unless the colour rose
        carried = {
            r.site_id: r for r in session.scalars(select(Recipient).where(Recipient.broadcast_id == update_of.id))
        }
    deadline = sent + timedelta(minutes=deadline_min)
    rows, secrets_by_site = [], {}
    for site_id, _, _, _, _ in sites:
        token = secrets.token_urlsafe(24)
        secrets_by_site[site_id] = token
        prior = carried.get(site_id)
        keep = prior is not None and update_of is not None and update_of.color == color
        rows.append(
            {
                "broadcast_id": b.id,
                "site_id": site_id,
                "token_hash": token_digest(token),
                "status": prior.status if keep else "waiting",
                "deadline": deadline,
                "acknowledged_at": prior.acknowledged_at if keep else None,
                "evacuated_at": prior.evacuated_at if keep else None,
            }
        )
    tokens: dict[int, str] = {}
    if rows:  # one statement for all recipients, however many
        ids = session.execute(
            insert(Recipient).returning(Recipient.id, Recipient.site_id, sort_by_parameter_order=True), rows
        ).all()
        tokens = {rid: secrets_by_site[sid] for rid, sid in ids}
        credit = {s[0]: s[3] for s in sites}
        sms = f"【{r['sender_name']}】{alert.headline}。{alert.instruction}"[:500]
        session.execute(
            insert(SmsOutbox),
            [
                {"broadcast_id": b.id, "recipient_id": rid, "to_enterprise": credit[sid], "text": sms}
                for rid, sid in ids
            ],
        )
    _event(
        session,
        b.id,
        None,
        "issued",
        None,
        actor,
        {"recipients": len(sites), "places": len(places), "rule": rule, "status": status},
    )
    deliver(session, b, tokens, now)
    return b


def cancel(session: Session, b: Broadcast, now: datetime, actor: str, reason: str = "") -> Broadcast:
    """Cancel an active broadcast: a CAP Cancel referencing it, and its retained messages cleared."""
    r = rules()
    sent = now.replace(microsecond=0)
    identifier = _identifier(session, b.issuing_adcode, sent)
    area = to_shape(b.area)
    alert = cap.Alert(
        identifier=identifier,
        sender=r["sender"],
        sent=sent,
        status=b.status,
        msg_type="Cancel",
        event=r["actions"]["allclear"]["event"],
        response_type="AllClear",
        severity=r["severity"][b.color],
        headline=r["actions"]["allclear"]["headline"].format(area=b.area_desc),
        description=reason or "预警解除",
        instruction=r["actions"]["allclear"]["instruction"],
        area_desc=b.area_desc,
        rings=_cap_rings(area),
        adcodes=b.adcodes,
        expires=sent + timedelta(hours=1),
        sender_name=r["sender_name"],
        references=[(r["sender"], b.identifier, b.sent)],
        parameters={"color": b.color},
    )
    c = Broadcast(
        identifier=identifier,
        sent=sent,
        status=b.status,
        msg_type="Cancel",
        action="allclear",
        color=b.color,
        state="cancelled",
        headline=alert.headline,
        description=alert.description,
        instruction=alert.instruction,
        area_desc=b.area_desc,
        area=b.area,
        adcodes=b.adcodes,
        issuing_adcode=b.issuing_adcode,
        onset=sent,
        expires=alert.expires,
        references_id=b.id,
        weather_warning_id=b.weather_warning_id,
        rule=b.rule,
        issued_by=actor,
        places=[],
        cap_xml=cap.build(alert),
    )
    session.add(c)
    b.state = "cancelled"
    session.flush()
    _event(session, b.id, None, "cancelled", None, actor, {"cancel": identifier, "reason": reason})
    _queue_site_messages(session, b, None, clear=True)
    return c


# --- delivery -------------------------------------------------------------------------------


def site_message(b: Broadcast, code: str, token: str | None) -> dict[str, Any]:
    return {
        "broadcast": b.id,
        "identifier": b.identifier,
        "status": b.status,
        "msg_type": b.msg_type,
        "action": b.action,
        "color": b.color,
        "headline": b.headline,
        "instruction": b.instruction,
        "expires": b.expires.isoformat(),
        "site": code,
        "cap": f"/api/v1/broadcasts/{b.id}.xml",
        "ack_token": token,
        "ack": f"/api/v1/broadcasts/{b.id}/ack",
    }


def _queue_site_messages(session: Session, b: Broadcast, tokens: dict[int, str] | None, clear: bool = False) -> int:
    """Each targeted site's broadcast topic: retained while active, cleared when it ends.

    Queued in the outbox in this transaction (backend/warnings/delivery.py sends them once it
    commits, in order per topic); each message carries its delivery key for de-duplication.
    """
    rows = session.execute(
        text(
            "SELECT r.id, s.code FROM broadcast_recipients r JOIN sites s ON s.id = r.site_id "
            "WHERE r.broadcast_id = :b ORDER BY r.id"
        ),
        {"b": b.id},
    ).all()
    root = MqttSettings().topic_root
    out: list[dict[str, Any]] = []
    for rid, code in rows:
        topic = f"{root}/{code}/broadcast"
        refs = {"kind": "mqtt", "target": topic, "broadcast_id": b.id, "recipient_id": rid}
        if clear:
            out.append(refs | {"payload": b"", "headers": {"qos": 1, "retain": True}, "event": "cleared"})
            key = delivery.new_key()
            body = {"broadcast": b.id, "msg_type": "Cancel", "site": code, "delivery": key}
            out.append(
                refs
                | {"key": key, "payload": json.dumps(body, ensure_ascii=False).encode(), "headers": {"qos": 1}}
                | {"event": "cancel_sent"}
            )
        else:
            key = delivery.new_key()
            body = site_message(b, code, (tokens or {}).get(rid)) | {"delivery": key}
            out.append(
                refs
                | {"key": key, "payload": json.dumps(body, ensure_ascii=False).encode()}
                | {"headers": {"qos": 1, "retain": True}, "event": "delivered"}
            )
    delivery.enqueue(session, out)
    return len(rows)


def deliver(session: Session, b: Broadcast, tokens: dict[int, str], now: datetime) -> None:
    """Queue the broadcast for every channel: site topics, webhooks; the SMS rows are already
    in sms_outbox for the SMS gateway adapter. The delivery worker records each delivery."""
    sites = _queue_site_messages(session, b, tokens)
    hooks = [(h.id, h.url, h.secret) for h in session.scalars(select(Webhook).where(Webhook.active))]
    _event(session, b.id, None, "queued", "mqtt", "system", {"sites": sites, "webhooks": len(hooks)})
    _event(session, b.id, None, "queued", "sms", "system", {"messages": len(tokens)})
    if hooks:
        body = json.dumps(
            {
                "broadcast": b.id,
                "identifier": b.identifier,
                "msg_type": b.msg_type,
                "status": b.status,
                "action": b.action,
                "color": b.color,
                "headline": b.headline,
                "cap": b.cap_xml,
            },
            ensure_ascii=False,
        ).encode()
        delivery.enqueue(session, webhook_rows(hooks, body, b.id))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_rows(hooks: list[tuple[int, str, str]], body: bytes, broadcast_id: int | None) -> list[dict[str, Any]]:
    """Outbox rows POSTing the body to each webhook, signed (X-Riskmap-Signature); the worker
    adds X-Riskmap-Delivery, the key a receiver uses to drop a repeat."""
    return [
        {
            "kind": "webhook",
            "target": url,
            "payload": body,
            "headers": {"X-Riskmap-Signature": sign(secret, body)},
            "broadcast_id": broadcast_id,
            "webhook_id": hook_id,
            "event": "webhook",
        }
        for hook_id, url, secret in hooks
    ]


def _event(
    session: Session,
    broadcast_id: int,
    recipient_id: int | None,
    event: str,
    channel: str | None,
    actor: str,
    detail: dict[str, Any],
) -> None:
    session.add(
        BroadcastEvent(
            broadcast_id=broadcast_id,
            recipient_id=recipient_id,
            event=event,
            channel=channel,
            actor=actor,
            detail=detail,
        )
    )


# --- 叫应: acknowledgement, confirmation, evidence, deadlines --------------------------------


def acknowledge(
    session: Session,
    broadcast_id: int,
    token: str | None,
    site_code: str | None,
    evacuated: bool,
    via: str,
    now: datetime,
) -> Recipient:
    """A recipient answers: by its token (HTTP) or by its site's gateway (MQTT)."""
    query = select(Recipient).where(Recipient.broadcast_id == broadcast_id)
    if token is not None:
        query = query.where(Recipient.token_hash == token_digest(token))
    else:
        site_id = session.scalar(text("SELECT id FROM sites WHERE code = :c"), {"c": site_code})
        query = query.where(Recipient.site_id == site_id)
    rec = session.scalar(query)
    if rec is None:
        raise WarningError("no such recipient for this broadcast (token or site)")
    b = session.get(Broadcast, broadcast_id)
    assert b is not None
    if b.state != "active":
        raise WarningError(f"broadcast {broadcast_id} is {b.state}")
    if rec.acknowledged_at is None:
        rec.acknowledged_at, rec.acknowledged_via = now, via
        _event(session, broadcast_id, rec.id, "acknowledged", via, f"site:{rec.site_id}", {})
    if rec.status in {"waiting", "overdue"}:
        rec.status = "acknowledged"
    if evacuated and b.action == "evacuate" and rec.evacuated_at is None:
        # Once: a gateway repeating its confirmation must not flood the events (the sweep
        # keeps checking the evidence).
        rec.evacuated_at = now
        rec.status = "evacuated"
        _event(session, broadcast_id, rec.id, "evacuation_confirmed", via, f"site:{rec.site_id}", {})
        check_evidence(session, rec, now)
    return rec


def check_evidence(session: Session, rec: Recipient, now: datetime) -> bool:
    """假停产假撤人: a site that confirmed evacuation while its sensors still show people or power."""
    rows = session.execute(
        text(
            "SELECT code, kind, last_value, last_reading_at, thresholds ->> 'idle_max' FROM sensors "
            "WHERE site_id = :s AND kind IN ('personnel_count', 'power_draw') AND last_reading_at IS NOT NULL"
        ),
        {"s": rec.site_id},
    ).all()
    activity = [
        {"sensor": code, "kind": kind, "value": value, "at": at.isoformat()}
        for code, kind, value, at, idle in rows
        if rec.evacuated_at and value is not None and at >= rec.evacuated_at and value > float(idle or 0)
    ]
    rec.evidence = {"checked_at": now.isoformat(), "sensors": len(rows), "activity": activity}
    if activity and not rec.fake_evacuation:
        rec.fake_evacuation = True
        _event(session, rec.broadcast_id, rec.id, "fake_evacuation", None, "system", {"activity": activity})
    return not activity


def sweep(session: Session, now: datetime) -> dict[str, int]:
    """Deadlines and escalation, the evidence of evacuated sites, and expiry. Run every minute."""
    r = rules()
    step = timedelta(minutes=r["escalation_step_min"])
    counts = {"overdue": 0, "escalated": 0, "expired": 0, "fake": 0}
    for b in session.scalars(select(Broadcast).where(Broadcast.state == "active", Broadcast.expires <= now)):
        b.state = "expired"
        counts["expired"] += 1
        _event(session, b.id, None, "expired", None, "system", {})
        _queue_site_messages(session, b, None, clear=True)
    pending = session.execute(
        select(Recipient, Broadcast)
        .join(Broadcast, Broadcast.id == Recipient.broadcast_id)
        .where(Broadcast.state == "active", Broadcast.msg_type != "Cancel")
    ).all()
    for rec, b in pending:
        done = rec.status == "evacuated" if b.action == "evacuate" else rec.acknowledged_at is not None
        if not done and now > rec.deadline:
            if rec.status != "overdue":
                rec.status = "overdue"
                counts["overdue"] += 1
            level = min(len(r["escalation"]), 1 + int((now - rec.deadline) / step))
            if level > rec.escalation:
                rec.escalation, rec.escalated_at = level, now
                region = session.scalar(text("SELECT region_adcode FROM sites WHERE id = :i"), {"i": rec.site_id})
                to = region if r["escalation"][level - 1] == "county" else region[:4] + "00"
                _event(
                    session,
                    b.id,
                    rec.id,
                    "escalated",
                    None,
                    "system",
                    {"to": r["escalation"][level - 1], "region": to, "level": level},
                )
                counts["escalated"] += 1
        if rec.status == "evacuated" and not rec.fake_evacuation and not check_evidence(session, rec, now):
            counts["fake"] += 1
    return counts


def broadcast_out(session: Session, b: Broadcast, with_recipients: bool = False) -> dict[str, Any]:
    out = {
        "id": b.id,
        "identifier": b.identifier,
        "sent": b.sent.isoformat(),
        "status": b.status,
        "msg_type": b.msg_type,
        "action": b.action,
        "color": b.color,
        "state": b.state,
        "headline": b.headline,
        "description": b.description,
        "instruction": b.instruction,
        "area_desc": b.area_desc,
        "adcodes": b.adcodes,
        "expires": b.expires.isoformat(),
        "rule": b.rule,
        "issued_by": b.issued_by,
        "references": b.references_id,
        "places": b.places,
        "counts": dict(
            session.execute(
                text("SELECT status, count(*) FROM broadcast_recipients WHERE broadcast_id = :b GROUP BY status"),
                {"b": b.id},
            ).all()
        ),
    }
    if with_recipients:
        out["recipients"] = [
            dict(r._mapping) | {"deadline": r.deadline.isoformat()}
            for r in session.execute(
                text(
                    "SELECT r.id, s.code AS site, s.name AS site_name, e.name AS enterprise, r.status, r.deadline, "
                    "r.acknowledged_at IS NOT NULL AS acknowledged, r.acknowledged_via, "
                    "r.evacuated_at IS NOT NULL AS evacuated, "
                    "r.escalation, r.fake_evacuation, r.evidence, ST_X(s.location) AS lon, ST_Y(s.location) AS lat "
                    "FROM broadcast_recipients r JOIN sites s ON s.id = r.site_id "
                    "JOIN enterprises e ON e.id = s.enterprise_id "
                    "WHERE r.broadcast_id = :b ORDER BY s.code"
                ),
                {"b": b.id},
            )
        ]
    return out


def utcnow() -> datetime:
    return datetime.now(UTC)
