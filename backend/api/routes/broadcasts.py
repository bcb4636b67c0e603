"""Flood-season early warning over HTTP: weather warnings in (CAP or JSON), broadcasts out
(JSON, CAP XML, Atom), 叫应 acknowledgements, webhooks and the deadline sweep."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from functools import cache, partial
from typing import Annotated, Any, Literal
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, Field, HttpUrl, ValidationError, model_validator
from shapely.geometry import mapping
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend.api.deps import Admin, Duty, InternalAccess, MaybeCaller, SessionDep, require
from backend.api.edge import IdPath, Instant, StrictJSONRoute, public_errors, strict_loads
from backend.api.geojson import GeoJSONResponse, collection, feature
from backend.api.notifications import Addressed, Channel, Tailored, visible_to
from backend.api.responses import FeatureCollection, Out, geojson, text_body
from backend.core.audit import record
from backend.core.config import api_settings
from backend.core.db import session_factory
from backend.core.jurisdiction import bind
from backend.core.limits import INT4_MAX
from backend.core.principal import Perm, Principal, Scope, platform
from backend.domain import cap
from backend.domain.cap import CapError
from backend.domain.states import BroadcastState
from backend.models import Broadcast, BroadcastEvent, Recipient, Site, Webhook
from backend.people.register import may_see_phones, shown
from backend.warnings import answers, delivery, escalation, events, intake
from backend.warnings.intake import WarningIn
from backend.warnings.issue import BroadcastOrder, cancel, issue, update
from backend.warnings.rules import WarningError, WarningInvalid, utcnow

router = APIRouter(prefix="/api/v1", tags=["flood-season warnings"], route_class=StrictJSONRoute)
Color = Literal["red", "orange", "yellow", "blue"]
Answerer = Annotated[Principal, Depends(require(Perm.answer))]


def _bad(exc: Exception, field: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", field], "msg": str(exc)}])


class RecipientPersonOut(Out):
    """A responsible person the broadcast reached for the site; the phone masked unless the caller
    may see it in full."""

    name: str
    duty: str
    mobile: str
    answered: bool


class RecipientOut(Out):
    """One site a broadcast reached, with its 叫应 answer and the people it reached there."""

    id: int
    site: str
    site_name: str
    enterprise: str
    status: str = Field(description="waiting | acknowledged | evacuated | overdue")
    deadline: str
    acknowledged: bool
    acknowledged_via: str | None
    evacuated: bool
    escalation: int = Field(description="0 none, 1 county, 2 prefecture")
    fake_evacuation: bool
    evidence: dict[str, Any]
    lon: float | None
    lat: float | None
    people: list[RecipientPersonOut] = Field(default_factory=list)


class BroadcastOut(Out):
    """A broadcast: its CAP fields and its recipients counted by status."""

    id: int
    identifier: str
    sent: str
    status: str = Field(description="CAP status: Actual | Exercise")
    msg_type: str = Field(description="CAP msgType: Alert | Update | Cancel")
    action: str
    color: str
    state: str = Field(description="active | superseded | cancelled | expired")
    headline: str
    description: str
    instruction: str
    area_desc: str
    adcodes: list[str]
    expires: str
    rule: str
    issued_by: str
    references: int | None = Field(description="the broadcast this one updates or cancels")
    places: list[dict[str, Any]] = Field(description="downstream places warned")
    counts: dict[str, int] = Field(description="recipients by status")


class BroadcastWithRecipientsOut(BroadcastOut):
    recipients: list[RecipientOut]


class BroadcastEventOut(Out):
    at: str
    event: str
    channel: str | None
    actor: str
    recipient: int | None
    detail: dict[str, Any]


class DeliveryOut(Out):
    """Deliveries of one channel; last_error only for operators."""

    channel: str
    delivered: int
    pending: int
    failed: int
    max_attempts: int | None
    last_error: str | None


class BroadcastDetailOut(BroadcastWithRecipientsOut):
    area: dict[str, Any] = Field(description="GeoJSON geometry")
    events: list[BroadcastEventOut]
    deliveries: list[DeliveryOut]


class WarningReceivedOut(Out):
    """What an incoming weather warning did: the broadcasts it issued or cancelled."""

    warning: str
    cancelled: bool | None = None
    broadcasts: list[int]
    rule: str | None = None


class AnswerOut(Out):
    recipient: int
    status: str
    fake_evacuation: bool
    evidence: dict[str, Any]


class WebhookOut(Out):
    id: int
    url: str
    secret: str = Field(description="for checking X-Riskmap-Signature; shown once")


class SweepOut(Out):
    overdue: int
    escalated: int
    expired: int
    fake: int


def broadcast_out(
    session: Session, b: Broadcast, with_recipients: bool = False, caller: Principal | None = None
) -> dict[str, Any]:
    """A broadcast as the API answers it: its CAP fields, its recipients counted by status and,
    when asked, each recipient with its site, answer and people (phones as `caller` may see them)."""
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
        "counts": {
            r.status: r.n
            for r in session.execute(
                select(Recipient.status, func.count().label("n"))
                .where(Recipient.broadcast_id == b.id)
                .group_by(Recipient.status)
            )
        },
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
        people: dict[int, list[dict[str, Any]]] = {}
        for p in session.execute(
            text(
                "SELECT p.recipient_id, p.name, p.duty, p.mobile, p.answered_at IS NOT NULL AS answered, "
                "s.enterprise_id, s.region_adcode FROM broadcast_recipient_people p JOIN sites s ON s.id = p.site_id "
                "WHERE p.broadcast_id = :b ORDER BY p.id"
            ),
            {"b": b.id},
        ):
            full = may_see_phones(caller, p.enterprise_id, p.region_adcode)
            people.setdefault(p.recipient_id, []).append(
                {"name": p.name, "duty": p.duty, "mobile": shown(p.mobile, full), "answered": p.answered}
            )
        for r in out["recipients"]:
            r["people"] = people.get(r["id"], [])
    return out


class WeatherWarningJSON(BaseModel):
    identifier: str = Field(min_length=1, max_length=128)
    color: Color
    polygon: dict[str, Any] | None = Field(None, description="GeoJSON Polygon or MultiPolygon")
    adcodes: list[Annotated[str, Field(pattern=r"^\d{6}$")]] = Field(default_factory=list, max_length=200)
    onset: Instant | None = None
    expires: Instant | None = None
    msg_type: Literal["Alert", "Update", "Cancel"] = "Alert"
    references: list[Annotated[str, Field(max_length=128)]] = Field(default_factory=list, max_length=20)
    status: Literal["Actual", "Exercise"] = "Actual"
    sender: str = Field("", max_length=128)

    @model_validator(mode="after")
    def _area(self) -> WeatherWarningJSON:
        if self.msg_type != "Cancel" and not self.polygon and not self.adcodes:
            raise ValueError("give polygon or adcodes")
        return self


async def _raw_body(request: Request) -> bytes:
    return await request.body()


# exclude_unset: an alert's answer has `rule`, a cancellation's `cancelled`, neither both.
@router.post("/weather-warnings", status_code=201, response_model=WarningReceivedOut, response_model_exclude_unset=True)
def receive_weather_warning(
    request: Request, session: SessionDep, caller: Duty, body: Annotated[bytes, Depends(_raw_body)]
) -> dict[str, Any]:
    """A rainstorm warning as the weather service publishes it (CAP 1.2 XML), or JSON; Update
    and Cancel handled. Matching rules issue broadcasts; covered sites are regraded.

    A plain function, so FastAPI runs it in its thread pool: the database work never blocks the
    event loop, and the deliveries it decides go to the outbox, sent after the commit."""
    now = utcnow()
    max_vertices = api_settings().max_geometry_vertices
    try:
        if "xml" in request.headers.get("content-type", ""):
            w = cap.parse(body, max_vertices)
            area = intake.area_from(session, None, [] if w.rings else w.adcodes, w.rings, max_vertices)
            warning = WarningIn(
                w.identifier,
                w.color,
                area,
                w.adcodes,
                w.onset,
                w.expires,
                w.msg_type,
                w.references,
                w.status,
                w.sender,
                w.event,
                body.decode("utf-8", "replace"),
            )
        else:
            j = WeatherWarningJSON.model_validate(strict_loads(body))
            area = (
                intake.area_from(session, j.polygon, j.adcodes, max_vertices=max_vertices)
                if j.msg_type != "Cancel"
                else None
            )
            warning = WarningIn(
                j.identifier, j.color, area, j.adcodes, j.onset, j.expires, j.msg_type, j.references, j.status, j.sender
            )
        result = intake.receive_warning(session, warning, now, caller.actor)
    except CapError as exc:
        raise _bad(exc, "cap") from None
    except WarningError:
        raise  # a typed refusal: backend/api/errors.py answers it with its field
    except ValidationError as exc:
        raise HTTPException(422, public_errors(exc.errors())) from None
    except ValueError as exc:  # json.JSONDecodeError (NaN, NUL, not JSON) is one
        raise HTTPException(422, [{"loc": ["body"], "msg": str(exc)[:160]}]) from None
    record(session, "weather_warning", "weather_warnings", warning.identifier, result)
    session.commit()
    return result


WARNINGS_IN_FORCE = text(
    "SELECT identifier, color, event, onset, expires, status, "
    "ST_AsGeoJSON(ST_SimplifyPreserveTopology(area, 0.002), 5) AS geometry FROM weather_warnings "
    "WHERE cancelled_at IS NULL AND (onset IS NULL OR onset <= now()) AND (expires IS NULL OR expires > now()) "
    "ORDER BY received_at DESC"
)


class WeatherWarningProperties(Out):
    identifier: str
    color: str
    event: str | None
    status: str
    onset: str | None
    expires: str | None


@router.get(
    "/weather-warnings",
    response_class=GeoJSONResponse,
    dependencies=[InternalAccess],
    responses=geojson(FeatureCollection[WeatherWarningProperties]),
)
def active_weather_warnings(session: SessionDep) -> GeoJSONResponse:
    """The weather warnings in force now, as GeoJSON polygons with their colour."""
    return GeoJSONResponse(
        collection(
            feature(
                w.geometry,
                {
                    "identifier": w.identifier,
                    "color": w.color,
                    "event": w.event,
                    "status": w.status,
                    "onset": w.onset.isoformat() if w.onset else None,
                    "expires": w.expires.isoformat() if w.expires else None,
                },
                w.identifier,
            )
            for w in session.execute(WARNINGS_IN_FORCE)
        )
    )


class BroadcastIn(BaseModel):
    action: Literal["evacuate", "prepare"] = "evacuate"
    color: Color
    polygon: dict[str, Any] | None = None
    adcodes: list[Annotated[str, Field(pattern=r"^\d{6}$")]] = Field(default_factory=list, max_length=200)
    sites: list[Annotated[str, Field(max_length=48)]] = Field(
        default_factory=list, max_length=5000, description="site codes; default: by area"
    )
    expires: Instant | None = None
    exercise: bool = Field(False, description="a drill: CAP status Exercise, the whole flow, not real")
    note: str = Field("", max_length=500)


@router.post("/broadcasts", status_code=201, response_model=BroadcastWithRecipientsOut)
def issue_broadcast(body: BroadcastIn, session: SessionDep, caller: Duty) -> dict[str, Any]:
    """Issue a broadcast by hand (operator), or a drill with exercise=true."""
    area = intake.area_from(session, body.polygon, body.adcodes, max_vertices=api_settings().max_geometry_vertices)
    site_ids = None
    if body.sites:
        site_ids = list(session.scalars(text("SELECT id FROM sites WHERE code = ANY(:c)"), {"c": body.sites}))
        if len(site_ids) != len(set(body.sites)):
            raise WarningInvalid("sites: unknown site code", "sites")
    order = BroadcastOrder(
        body.action,
        body.color,
        area,
        tuple(body.adcodes),
        status="Exercise" if body.exercise else "Actual",
        expires=body.expires,
        site_ids=tuple(site_ids) if site_ids is not None else None,
        note=body.note,
    )
    b = issue(session, order, utcnow(), caller.actor)
    record(session, "broadcast_issue", "broadcasts", b.identifier, {"id": b.id, "status": b.status})
    session.commit()
    return broadcast_out(session, b, with_recipients=True, caller=caller)


def _broadcast(session: Any, broadcast_id: int) -> Broadcast:
    b = session.get(Broadcast, broadcast_id)
    if b is None:
        raise HTTPException(404, f"no broadcast {broadcast_id}")
    return b


class UpdateIn(BaseModel):
    color: Color | None = None
    action: Literal["evacuate", "prepare"] | None = None
    expires: Instant | None = None
    note: str = Field("", max_length=500)


@router.post("/broadcasts/{broadcast_id}/update", response_model=BroadcastWithRecipientsOut)
def update_broadcast(broadcast_id: IdPath, body: UpdateIn, session: SessionDep, caller: Duty) -> dict[str, Any]:
    """Issue a CAP Update that supersedes the broadcast (new colour, action or expiry)."""
    old = _broadcast(session, broadcast_id)
    if old.state != BroadcastState.active or old.msg_type == "Cancel":
        raise HTTPException(409, f"broadcast {broadcast_id} is {old.state}")
    site_ids = list(session.scalars(select(Recipient.site_id).where(Recipient.broadcast_id == old.id)))
    order = BroadcastOrder(
        body.action or old.action,
        body.color or old.color,
        to_shape(old.area),
        tuple(old.adcodes),
        rule=old.rule,
        status=old.status,
        expires=body.expires or old.expires,
        weather_warning_id=old.weather_warning_id,
        site_ids=tuple(site_ids),
        note=body.note,
    )
    b = update(session, old, order, utcnow(), caller.actor)
    record(session, "broadcast_update", "broadcasts", b.identifier, {"id": b.id, "references": old.identifier})
    session.commit()
    return broadcast_out(session, b, with_recipients=True, caller=caller)


class CancelIn(BaseModel):
    reason: str = Field("", max_length=500)


@router.post("/broadcasts/{broadcast_id}/cancel", response_model=BroadcastOut)
def cancel_broadcast(
    broadcast_id: IdPath, session: SessionDep, caller: Duty, body: CancelIn | None = None
) -> dict[str, Any]:
    """Cancel a broadcast: a CAP Cancel referencing it, and the sites' retained messages cleared."""
    old = _broadcast(session, broadcast_id)
    if old.state != BroadcastState.active or old.msg_type == "Cancel":
        raise HTTPException(409, f"broadcast {broadcast_id} is {old.state}")
    c = cancel(session, old, utcnow(), caller.actor, (body or CancelIn()).reason)
    record(session, "broadcast_cancel", "broadcasts", c.identifier, {"cancels": old.identifier})
    session.commit()
    return broadcast_out(session, c)


@router.get("/broadcasts", dependencies=[InternalAccess], response_model=list[BroadcastOut])
def list_broadcasts(
    session: SessionDep, state: Literal["active", "all"] = "active", limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
    if state == "active":
        query = query.where(Broadcast.state == BroadcastState.active, Broadcast.msg_type != "Cancel")
    return [broadcast_out(session, b) for b in session.scalars(query)]


@router.get(
    "/broadcasts/feed.atom",
    dependencies=[InternalAccess],
    response_class=Response,
    responses=text_body("application/atom+xml", "Atom feed of the broadcasts"),
)
def feed(request: Request, session: SessionDep) -> Response:
    """An Atom feed of the current CAP alerts, each entry linking its CAP XML."""
    atom = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", atom)
    root = ET.Element(f"{{{atom}}}feed")
    base = str(request.base_url).rstrip("/")
    active = list(
        session.scalars(
            select(Broadcast)
            .where(Broadcast.state == BroadcastState.active, Broadcast.msg_type != "Cancel")
            .order_by(Broadcast.sent.desc())
        )
    )
    for tag, value in (
        ("id", f"{base}/api/v1/broadcasts/feed.atom"),
        ("title", "汛期预警 · 吉林省安全风险平台"),
        ("updated", (active[0].sent if active else utcnow()).isoformat()),
    ):
        ET.SubElement(root, f"{{{atom}}}{tag}").text = value
    ET.SubElement(root, f"{{{atom}}}link", rel="self", href=f"{base}/api/v1/broadcasts/feed.atom")
    for b in active:
        e = ET.SubElement(root, f"{{{atom}}}entry")
        ET.SubElement(e, f"{{{atom}}}id").text = f"urn:cap:{b.identifier}"
        ET.SubElement(e, f"{{{atom}}}title").text = b.headline
        ET.SubElement(e, f"{{{atom}}}updated").text = b.sent.isoformat()
        ET.SubElement(e, f"{{{atom}}}summary").text = b.instruction
        ET.SubElement(
            e,
            f"{{{atom}}}link",
            rel="alternate",
            type="application/cap+xml",
            href=f"{base}/api/v1/broadcasts/{b.id}.xml",
        )
    return Response(ET.tostring(root, encoding="unicode", xml_declaration=True), media_type="application/atom+xml")


@router.get(
    "/broadcasts/{broadcast_id}.xml",
    dependencies=[InternalAccess],
    response_class=Response,
    responses=text_body("application/cap+xml", "the CAP 1.2 message"),
)
def cap_xml(broadcast_id: IdPath, session: SessionDep) -> Response:
    return Response(_broadcast(session, broadcast_id).cap_xml, media_type="application/cap+xml")


@router.get("/broadcasts/{broadcast_id}", dependencies=[InternalAccess], response_model=BroadcastDetailOut)
def get_broadcast(broadcast_id: IdPath, session: SessionDep, caller: MaybeCaller) -> dict[str, Any]:
    """One broadcast with its area, recipients and their status, its events and its deliveries
    by channel. Delivery error texts (they can name internal hosts) only for operators."""
    b = _broadcast(session, broadcast_id)
    operator = caller is not None and caller.can(Perm.duty)
    out = broadcast_out(session, b, with_recipients=True, caller=caller)
    out["area"] = mapping(to_shape(b.area))
    out["events"] = [
        {
            "at": e.at.isoformat(),
            "event": e.event,
            "channel": e.channel,
            "actor": e.actor,
            "recipient": e.recipient_id,
            "detail": e.detail if operator else {k: v for k, v in e.detail.items() if k != "error"},
        }
        for e in session.scalars(
            select(BroadcastEvent).where(BroadcastEvent.broadcast_id == b.id).order_by(BroadcastEvent.id)
        )
    ]
    out["deliveries"] = [
        dict(r._mapping) | ({} if operator else {"last_error": None})
        for r in session.execute(
            text(
                "SELECT kind AS channel, count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered, "
                "count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL) AS pending, "
                "count(*) FILTER (WHERE dead_at IS NOT NULL) AS failed, "
                "max(attempts) AS max_attempts, "
                "(array_agg(last_error ORDER BY id DESC) FILTER (WHERE last_error IS NOT NULL))[1] AS last_error "
                "FROM outbox WHERE broadcast_id = :b GROUP BY kind ORDER BY kind"
            ),
            {"b": b.id},
        )
    ]
    return out


def broadcast_events(notes: list[dict[str, Any]]) -> list[Tailored]:
    """The SSE text for a batch of broadcast notifications (backend/warnings/events.py): each
    broadcast once, however many of its steps the batch holds, as GET /broadcasts/{id} gives it
    without its events and deliveries, with `events` the steps it went through since the last
    push and `event` the latest. Rendered once by the shared listener whatever the number of
    streams, then tailored to each listener: only the recipients its jurisdiction holds, and
    nothing about a broadcast that reaches none of them."""
    steps: dict[int, list[str]] = {}
    for n in notes:
        if isinstance(n.get("id"), int) and 0 < n["id"] <= INT4_MAX and isinstance(n.get("events"), list):
            steps[n["id"]] = steps.pop(n["id"], []) + [str(e) for e in n["events"]]  # in the order of the latest
    if not steps:
        return []
    out = []
    with session_factory()() as session:
        found = {b.id: b for b in session.scalars(select(Broadcast).where(Broadcast.id.in_(list(steps))))}
        whose = {
            r.id: Addressed("", r.region_adcode, r.enterprise_id)
            for r in session.execute(
                select(Recipient.id, Site.region_adcode, Site.enterprise_id)
                .join(Site, Site.id == Recipient.site_id)
                .where(Recipient.broadcast_id.in_(list(found)))
            )
        }
        for broadcast_id, names in steps.items():
            b = found.get(broadcast_id)
            if b is not None:
                body = broadcast_out(session, b, with_recipients=True) | {"area": mapping(to_shape(b.area))}
                out.append(Tailored(partial(_tailor, body | {"event": names[-1], "events": names}, whose)))
    return out


def _tailor(body: dict[str, Any], whose: dict[int, Addressed], listener: Principal) -> str | None:
    """One listener's `broadcast` event: the recipients it may see, counted again."""
    if listener.scope != Scope.all:
        sees = visible_to(listener)
        recipients = [r for r in body["recipients"] if r["id"] in whose and sees(whose[r["id"]])]
        if not recipients:
            return None
        body = body | {"recipients": recipients, "counts": dict(Counter(r["status"] for r in recipients))}
    return f"event: broadcast\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"


@cache
def broadcast_channel() -> Channel:
    return Channel(events.CHANNEL, broadcast_events)


class AckIn(BaseModel):
    token: str = Field(min_length=10, max_length=100)
    evacuated: bool = Field(False, description="停产撤人 is done")


# Open to anyone holding a recipient token: its body is two fields, so a few kilobytes at most.
@router.post("/broadcasts/{broadcast_id}/ack", max_body_size=4096, response_model=AnswerOut)
def acknowledge(broadcast_id: IdPath, body: AckIn, session: SessionDep) -> dict[str, Any]:
    """叫应: the enterprise answers with the token its site received; evacuated=true confirms
    停产撤人, checked against the site's personnel and power sensors. The recipient's token is the
    credential, so the answer is found and recorded as the platform, outside any jurisdiction."""
    bind(session, platform("broadcast-answer"))
    rec = answers.acknowledge(session, broadcast_id, body.token, None, body.evacuated, "http", utcnow())
    session.commit()
    return {"recipient": rec.id, "status": rec.status, "fake_evacuation": rec.fake_evacuation, "evidence": rec.evidence}


class AnswerIn(BaseModel):
    site: str | None = Field(None, max_length=48, description="the site answered for; default: the only one targeted")
    evacuated: bool = Field(False, description="停产撤人 is done")


@router.post("/broadcasts/{broadcast_id}/answer", response_model=AnswerOut)
def answer(broadcast_id: IdPath, session: SessionDep, caller: Answerer, body: AnswerIn | None = None) -> dict[str, Any]:
    """叫应 by a signed-in enterprise user (or its enterprise's token) for one of its own sites the
    broadcast reaches; the same answer as the token link or the gateway gives."""
    if caller.scope != Scope.enterprise:
        raise HTTPException(403, "only an enterprise's own users answer 叫应 for its sites")
    body = body or AnswerIn()
    rec = answers.answer_as_enterprise(session, broadcast_id, caller, body.site, body.evacuated, utcnow())
    session.commit()
    return {"recipient": rec.id, "status": rec.status, "fake_evacuation": rec.fake_evacuation, "evidence": rec.evidence}


@router.post("/broadcasts/sweep", response_model=SweepOut)
def sweep(session: SessionDep, caller: Duty) -> dict[str, int]:
    """Apply deadlines and escalation now (the platform also does it every minute)."""
    counts = escalation.sweep(session, utcnow())
    session.commit()
    return counts


class WebhookIn(BaseModel):
    url: HttpUrl


@router.post("/webhooks", status_code=201, response_model=WebhookOut)
def add_webhook(body: WebhookIn, session: SessionDep, caller: Admin) -> dict[str, Any]:
    """Subscribe a URL to broadcasts; the secret for checking X-Riskmap-Signature is shown once.

    The URL must resolve to public addresses only (no loopback, link-local, private, multicast
    or unspecified one) unless RISKMAP_WEBHOOK_ALLOW_PRIVATE or RISKMAP_WEBHOOK_ALLOW_CIDRS
    allow it; checked again before every delivery. Deliveries are at least once: each carries
    X-Riskmap-Delivery, the same on a retry, for the receiver to drop repeats. A webhook receives
    every broadcast of the province, so only an administrator of the whole platform adds one."""
    if caller.scope != Scope.all:
        raise HTTPException(403, "只有全省（平台）管理员可以添加 webhook：它接收全省的全部预警")
    try:
        delivery.resolve_target(str(body.url))
    except delivery.TargetRefused as exc:
        raise _bad(exc, "url") from None
    secret = secrets.token_urlsafe(32)
    hook = Webhook(url=str(body.url), secret=secret)
    session.add(hook)
    session.flush()
    record(session, "webhook_add", "webhooks", str(hook.id), {"url": hook.url})
    session.commit()
    return {"id": hook.id, "url": hook.url, "secret": secret}
