"""Rows in two jurisdictions for the row-level security tests: an alarm with its events, a hidden
hazard, readings, dead letters, a broadcast with recipients, events, SMS and outbox rows, a pond
override and tokens, for a site of each county given. Written as the owner (no policy applies)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

SHULAN = "220283"  # 舒兰市 (吉林市)
PANSHI = "220284"  # 磐石市 (吉林市): the other county, same prefecture (a prefix test: 22028x)


SITE_OWNER = "JOIN sites s ON s.id = x.site_id"
BROADCAST_OWNERS = (
    "SELECT r.broadcast_id b, s.region_adcode r, s.enterprise_id e FROM broadcast_recipients r "
    "JOIN sites s ON s.id = r.site_id UNION ALL SELECT id, issuing_adcode, NULL FROM broadcasts"
)
# Every jurisdiction-bound table -> (the row's key as the table alone gives it, the owners' query: key, region, enterprise)
TABLES: dict[str, tuple[str, str]] = {
    "enterprises": (
        "id::text",
        "SELECT id::text, region_adcode, id FROM enterprises UNION ALL "
        "SELECT enterprise_id::text, region_adcode, NULL FROM sites",
    ),
    "sites": ("id::text", "SELECT id::text, region_adcode, enterprise_id FROM sites"),
    **{
        t: (key, f"SELECT x.{key.split('::')[0]}::text, s.region_adcode, s.enterprise_id FROM {t} x {SITE_OWNER}")
        for t, key in {
            "tailings_ponds": "site_id::text",
            "coal_mines": "site_id::text",
            "noncoal_mines": "site_id::text",
            "hazard_units": "id::text",
            "inventory_items": "id::text",
            "pond_class_overrides": "site_id::text",
            "gateways": "id::text",
            "sensors": "id::text",
            "alarms": "id::text",
            "site_risk": "site_id::text",
            "site_risk_history": "id::text",
            "hidden_hazards": "id::text",
            "broadcast_recipients": "id::text",
        }.items()
    },
    "readings": (
        "sensor_id || '@' || ts",
        "SELECT x.sensor_id || '@' || x.ts, s.region_adcode, s.enterprise_id FROM readings x "
        "JOIN sensors se ON se.id = x.sensor_id JOIN sites s ON s.id = se.site_id",
    ),
    "dead_letters": (
        "id::text",
        "SELECT x.id::text, s.region_adcode, s.enterprise_id FROM dead_letters x "
        "JOIN gateways g ON g.id = x.gateway_id JOIN sites s ON s.id = g.site_id",
    ),
    "alarm_events": (
        "id::text",
        "SELECT x.id::text, s.region_adcode, s.enterprise_id FROM alarm_events x "
        "JOIN alarms a ON a.id = x.alarm_id JOIN sites s ON s.id = a.site_id",
    ),
    "broadcasts": ("id::text", f"SELECT b::text, r, e FROM ({BROADCAST_OWNERS}) o"),
    "broadcast_events": (
        "id::text",
        "SELECT x.id::text, s.region_adcode, s.enterprise_id FROM broadcast_events x "
        "JOIN broadcast_recipients r ON r.id = x.recipient_id JOIN sites s ON s.id = r.site_id "
        f"UNION ALL SELECT x.id::text, o.r, o.e FROM broadcast_events x JOIN ({BROADCAST_OWNERS}) o "
        "ON o.b = x.broadcast_id WHERE x.recipient_id IS NULL",
    ),
    "sms_outbox": (
        "id::text",
        "SELECT x.id::text, s.region_adcode, s.enterprise_id FROM sms_outbox x "
        "JOIN broadcast_recipients r ON r.id = x.recipient_id JOIN sites s ON s.id = r.site_id",
    ),
    "outbox": (
        "id::text",
        "SELECT x.id::text, s.region_adcode, s.enterprise_id FROM outbox x "
        "JOIN broadcast_recipients r ON r.id = x.recipient_id JOIN sites s ON s.id = r.site_id "
        f"UNION ALL SELECT x.id::text, o.r, o.e FROM outbox x JOIN ({BROADCAST_OWNERS}) o "
        "ON o.b = x.broadcast_id WHERE x.recipient_id IS NULL",
    ),
    "audit_log": ("id::text", "SELECT id::text, region_adcode, enterprise_id FROM audit_log"),
    "organisations": ("id::text", "SELECT id::text, region_adcode, enterprise_id FROM organisations"),
    "api_tokens": (
        "id::text",
        "SELECT t.id::text, o.region_adcode, o.enterprise_id FROM api_tokens t JOIN organisations o ON o.id = t.org_id",
    ),
}


# The tables of the later workflows, for the leakage test's "nothing changed" fingerprint (their
# policies are tested with their workflows).
LATER_TABLES: dict[str, tuple[str, str]] = {
    **{
        t: ("id::text", f"SELECT id::text, region_adcode, NULL FROM {t}")
        for t in (
            "inspectors",
            "inspection_plans",
            "inspection_plan_versions",
            "duty_shifts",
        )
    },
    "people": ("id::text", "SELECT id::text, region_adcode, enterprise_id FROM people"),
    "credit_list_entries": ("id::text", "SELECT id::text, region_adcode, enterprise_id FROM credit_list_entries"),
    "users": (
        "id::text",
        "SELECT u.id::text, o.region_adcode, o.enterprise_id FROM users u JOIN organisations o ON o.id = u.org_id",
    ),
    **{
        t: ("id::text", f"SELECT x.id::text, s.region_adcode, s.enterprise_id FROM {t} x {SITE_OWNER}")
        for t in ("plan_visits", "inspections", "enforcement_actions", "inspection_files")
    },
}


@dataclass
class Made:
    """What was made, for cleaning up and for the tests' expectations."""

    sites: dict[str, int] = field(default_factory=dict)  # county -> site id
    alarms: dict[str, int] = field(default_factory=dict)
    hazards: dict[str, int] = field(default_factory=dict)
    broadcasts: dict[str, int] = field(default_factory=dict)  # county -> broadcast to that county only
    recipients: dict[str, int] = field(default_factory=dict)
    tokens: list[int] = field(default_factory=list)
    overrides: list[int] = field(default_factory=list)
    dead_letters: list[int] = field(default_factory=list)


def _one(conn: Connection, sql: str, **params: Any) -> Any:
    return conn.execute(text(sql), params).scalar_one()


def first_site(conn: Connection, county: str) -> int:
    """The county's first site that has a sensor on a gateway."""
    return _one(
        conn,
        "SELECT s.id FROM sites s WHERE s.region_adcode = :c AND EXISTS (SELECT 1 FROM sensors se "
        "WHERE se.site_id = s.id) ORDER BY s.code LIMIT 1",
        c=county,
    )


def populate(
    conn: Connection, counties: tuple[str, ...] = (SHULAN, PANSHI), tag: str = "rls", with_override: bool = True
) -> Made:
    made = Made()
    for county in counties:
        site = first_site(conn, county)
        made.sites[county] = site
        sensor, gateway = conn.execute(
            text("SELECT id, gateway_id FROM sensors WHERE site_id = :s ORDER BY id LIMIT 1"), {"s": site}
        ).one()
        made.alarms[county] = alarm = _one(
            conn,
            "INSERT INTO alarms (key, site_id, sensor_id, kind, color, state, value, threshold, message) "
            "VALUES (:k, :s, :se, 'threshold', 'red', 'raised', 2.0, 1.5, :m) RETURNING id",
            k=f"{tag}:{county}:{sensor}",
            s=site,
            se=sensor,
            m=f"{tag} 测试报警 {county}",
        )
        conn.execute(
            text(
                "INSERT INTO alarm_events (alarm_id, event, state, color, value) VALUES (:a, 'raised', 'raised', 'red', 2)"
            ),
            {"a": alarm},
        )
        made.hazards[county] = _one(
            conn,
            "INSERT INTO hidden_hazards (site_id, title, major) VALUES (:s, :t, true) RETURNING id",
            s=site,
            t=f"{tag} 测试隐患 {county}",
        )
        conn.execute(
            text(
                "INSERT INTO readings (sensor_id, ts, value) SELECT :se, now() - make_interval(mins => g), g "
                "FROM generate_series(1, 5) g ON CONFLICT DO NOTHING"
            ),
            {"se": sensor},
        )
        made.dead_letters.append(
            _one(
                conn,
                "INSERT INTO dead_letters (topic, payload, reason, detail, ingester, gateway_id) "
                "VALUES ('t', 'x', 'bad_reading', :d, 'test', :g) RETURNING id",
                d=f"{tag} {county}",
                g=gateway,
            )
        )
        made.broadcasts[county] = b = _broadcast(conn, f"{tag}-{county}", "220000")
        made.recipients[county] = _recipient(conn, b, site, f"{tag}-{county}")
    # One broadcast to both counties, issued by the first county's bureau; a webhook message of it;
    # and a dead letter from no known gateway (the platform's only).
    both = _broadcast(conn, f"{tag}-both", counties[0])
    made.broadcasts["both"] = both
    for county in counties:
        _recipient(conn, both, made.sites[county], f"{tag}-both-{county}")
    conn.execute(text("INSERT INTO broadcast_events (broadcast_id, event) VALUES (:b, 'issued')"), {"b": both})
    conn.execute(
        text(
            "INSERT INTO outbox (key, kind, target, payload, broadcast_id, event) "
            "VALUES (:k, 'webhook', 'https://example.org/hook', 'x', :b, 'webhook_delivered')"
        ),
        {"b": both, "k": f"{tag}-hook"},
    )
    made.dead_letters.append(
        _one(
            conn,
            "INSERT INTO dead_letters (topic, payload, reason, detail, ingester, gateway_id) "
            "VALUES ('t', 'x', 'unknown_gateway', :d, 'test', 'NO-SUCH-GW') RETURNING id",
            d=f"{tag} nowhere",
        )
    )
    if with_override:  # one pond inside 吉林市 and one outside
        for where in ("LIKE '2202%'", "NOT LIKE '2202%'"):
            pond = _one(
                conn,
                "SELECT min(p.site_id) FROM tailings_ponds p JOIN sites s ON s.id = p.site_id "
                f"WHERE s.region_adcode {where} AND NOT EXISTS "
                "(SELECT 1 FROM pond_class_overrides o WHERE o.site_id = p.site_id)",
            )
            conn.execute(
                text(
                    "INSERT INTO pond_class_overrides (site_id, from_class, to_class, reason, created_by) "
                    "VALUES (:s, 3, 2, '下游有城镇', 'test')"
                ),
                {"s": pond},
            )
            made.overrides.append(pond)
    firm = _one(
        conn,
        "SELECT e.credit_code FROM enterprises e JOIN sites s ON s.enterprise_id = e.id WHERE s.id = :s",
        s=made.sites[counties[0]],
    )
    for code in (counties[0], firm):
        made.tokens.append(
            _one(
                conn,
                "INSERT INTO api_tokens (name, role, token_hash, created_by, org_id) "
                "SELECT :n, 'viewer', :h, 'test', id FROM organisations WHERE code = :c RETURNING id",
                n=f"{tag}-{code}",
                h=hashlib.sha256(f"{tag}-{code}".encode()).hexdigest(),
                c=code,
            )
        )
    return made


def _broadcast(conn: Connection, ident: str, issuing: str) -> int:
    return _one(
        conn,
        "INSERT INTO broadcasts (identifier, sent, status, msg_type, action, color, state, headline, description, "
        "instruction, area_desc, area, adcodes, issuing_adcode, expires, rule, issued_by, cap_xml) VALUES "
        "(:i, now(), 'Exercise', 'Alert', 'prepare', 'yellow', 'active', :h, '测试', '测试', '测试区域', "
        "ST_Multi(ST_MakeEnvelope(126, 43, 127, 44, 4326)), '{}', :a, now() + interval '1 day', 'manual', 'test', "
        "'<alert/>') RETURNING id",
        i=ident,
        h=f"测试广播 {ident}",
        a=issuing,
    )


def _recipient(conn: Connection, broadcast: int, site: int, key: str) -> int:
    rec = _one(
        conn,
        "INSERT INTO broadcast_recipients (broadcast_id, site_id, token_hash, status, deadline) "
        "VALUES (:b, :s, :h, 'waiting', now() + interval '1 hour') RETURNING id",
        b=broadcast,
        s=site,
        h=hashlib.sha256(key.encode()).hexdigest(),
    )
    for sql in (
        "INSERT INTO broadcast_events (broadcast_id, recipient_id, event) VALUES (:b, :r, 'delivered')",
        "INSERT INTO sms_outbox (broadcast_id, recipient_id, to_enterprise, text) VALUES (:b, :r, 'x', '测试')",
        "INSERT INTO outbox (key, kind, target, payload, broadcast_id, recipient_id, event) "
        "VALUES (:k, 'mqtt', 'riskmap/v1/x/broadcast', 'x', :b, :r, 'delivered')",
    ):
        conn.execute(text(sql), {"b": broadcast, "r": rec, "k": key})
    return rec


def cleanup(conn: Connection, made: Made) -> None:
    """Remove what `populate` made (children go by ON DELETE CASCADE)."""
    conn.execute(text("DELETE FROM broadcasts WHERE id = ANY(:b)"), {"b": list(made.broadcasts.values())})
    conn.execute(text("DELETE FROM alarms WHERE id = ANY(:a)"), {"a": list(made.alarms.values())})
    conn.execute(text("DELETE FROM hidden_hazards WHERE id = ANY(:h)"), {"h": list(made.hazards.values())})
    conn.execute(text("DELETE FROM dead_letters WHERE id = ANY(:d)"), {"d": made.dead_letters})
    conn.execute(text("DELETE FROM api_tokens WHERE id = ANY(:t)"), {"t": made.tokens})
    conn.execute(text("DELETE FROM pond_class_overrides WHERE site_id = ANY(:s)"), {"s": made.overrides})
