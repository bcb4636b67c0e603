"""Ingestion over a real Mosquitto into PostGIS: validation with dead letters, and the alarm rules,
fed by gateways publishing with their own credentials."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from backend.core.config import IngestSettings
from tests.support.wait import wait_until

pytestmark = pytest.mark.usefixtures("ingester")
SITE = "JL-COAL-0001"  # gateway JL-COAL-0001-GW01


def ts(seconds_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds")


def q(engine: Engine, sql: str, **params):
    with engine.connect() as c:
        return c.execute(text(sql), params).all()


def sensor(engine: Engine, site: str, kind: str, label: str | None = None, nth: int = 0) -> tuple[str, int]:
    rows = q(
        engine,
        "SELECT se.code, se.id FROM sensors se JOIN sites s ON s.id = se.site_id WHERE s.code = :s "
        "AND se.kind = :k AND (CAST(:l AS text) IS NULL OR se.location_label = :l) ORDER BY se.code",
        s=site,
        k=kind,
        l=label,
    )
    return rows[nth][0], rows[nth][1]


def dead(engine: Engine, reason: str, needle: str, topic: str, since: datetime) -> list:
    """Dead letters of this test: its topic, its reason and text, received since it began."""
    return q(
        engine,
        "SELECT reason, detail, topic FROM dead_letters WHERE reason = :r AND topic = :t AND received_at >= :since "
        "AND (convert_from(payload, 'UTF8') LIKE :n OR detail LIKE :n)",
        r=reason,
        t=topic,
        since=since,
        n=f"%{needle}%",
    )


def stored(engine: Engine, sensor_id: int, value: float) -> int:
    return q(engine, "SELECT count(*) FROM readings WHERE sensor_id = :s AND value = :v", s=sensor_id, v=value)[0][0]


def open_alarm(engine: Engine, key: str):
    rows = q(
        engine,
        "SELECT id, color, state, value FROM alarms WHERE key = :k AND state IN ('raised', 'acknowledged')",
        k=key,
    )
    return rows[0] if rows else None


def test_good_readings_are_stored_once_even_when_redelivered(seeded: Engine, gateway) -> None:
    gw = gateway(SITE)
    code, sid = sensor(seeded, SITE, "methane", "回风巷T2")
    payload = {"readings": [{"sensor": code, "ts": ts(30), "value": 0.311}]}
    gw.publish(payload)
    gw.publish(payload)  # a redelivery: same sensor, same timestamp
    gw.publish({"sensor": code, "ts": ts(29), "value": 0.312})  # a single reading object
    wait_until(lambda: stored(seeded, sid, 0.311) == 1 and stored(seeded, sid, 0.312) == 1)
    last = q(seeded, "SELECT last_value FROM sensors WHERE id = :i", i=sid)[0][0]
    assert last == 0.312


@pytest.mark.parametrize(
    ("make", "reason", "needle"),
    [
        (lambda c, o: b'{"readings": [{"sensor": "' + c.encode() + b'", "ts"', "malformed_json", "Expecting"),
        (lambda c, o: json.dumps([1, 2, 3]), "wrong_shape", "expected"),
        (lambda c, o: json.dumps({"readings": "x"}), "wrong_shape", "non-empty list"),
        (
            lambda c, o: json.dumps({"sensor": "NO-SUCH-SENSOR-7", "ts": ts(), "value": 1}),
            "unknown_sensor",
            "NO-SUCH-SENSOR-7",
        ),
        (lambda c, o: json.dumps({"sensor": o, "ts": ts(), "value": 1}), "foreign_sensor", "belongs to"),
        (lambda c, o: f'{{"sensor": "{c}", "ts": "{ts()}", "value": NaN}}', "not_finite", "not finite"),
        (lambda c, o: f'{{"sensor": "{c}", "ts": "{ts()}", "value": 1e999}}', "not_finite", "not finite"),
        (lambda c, o: json.dumps({"sensor": c, "ts": ts(), "value": 3, "unit": "mg/m3"}), "unit_mismatch", "mg/m3"),
        (lambda c, o: json.dumps({"sensor": c, "ts": ts(-600), "value": 0.2}), "ts_in_future", "ahead"),
        (lambda c, o: json.dumps({"sensor": c, "ts": ts(30 * 86400), "value": 0.2}), "ts_too_old", "older"),
        (lambda c, o: json.dumps({"sensor": c, "ts": "2026-07-12T10:31:00", "value": 0.2}), "bad_timestamp", "offset"),
        (lambda c, o: json.dumps({"sensor": c, "ts": "yesterday", "value": 0.2}), "bad_timestamp", "RFC 3339"),
        (lambda c, o: json.dumps({"sensor": c, "ts": ts(), "value": "high"}), "wrong_shape", "number"),
        (lambda c, o: json.dumps({"sensor": c, "ts": ts(), "value": True}), "wrong_shape", "number"),
        # Over the ingester's limit, under the broker's packet limit (which has room for headers).
        (lambda c, o: b'{"readings": [' + b'{"x": 1},' * 29200 + b"{}]}", "payload_too_large", "over the limit"),
    ],
    ids=[
        "truncated",
        "array",
        "readings-not-list",
        "unknown-sensor",
        "other-site-sensor",
        "nan",
        "infinite",
        "unit-not-convertible",
        "future",
        "too-old",
        "no-offset",
        "not-a-time",
        "string-value",
        "bool-value",
        "oversized",
    ],
)
def test_every_bad_input_is_dead_lettered_with_its_reason(seeded: Engine, gateway, make, reason, needle) -> None:
    gw = gateway(SITE)
    code, _ = sensor(seeded, SITE, "methane", "回风巷T2")
    other, _ = sensor(seeded, "JL-COAL-0002", "methane")
    since = datetime.now(UTC) - timedelta(seconds=1)
    gw.publish(make(code, other))
    wait_until(lambda: dead(seeded, reason, needle, gw.topic("readings"), since), timeout=10)


def test_one_bad_reading_does_not_cost_the_good_ones(seeded: Engine, gateway) -> None:
    gw = gateway(SITE)
    good, gid = sensor(seeded, SITE, "carbon_monoxide")
    errors_topic = gw.topic("errors")
    gw.client.subscribe(errors_topic, qos=1)
    since = datetime.now(UTC) - timedelta(seconds=1)
    gw.publish(
        {
            "readings": [
                {"sensor": good, "ts": ts(20), "value": 3.25},
                {"sensor": "GHOST-1", "ts": ts(20), "value": 1.0},
                {"sensor": good, "ts": ts(19), "value": 3.5, "unit": "%"},  # converted: 3.5 % = 35000 ppm
            ]
        }
    )
    wait_until(lambda: stored(seeded, gid, 3.25) == 1 and stored(seeded, gid, 35000.0) == 1)
    rows = dead(seeded, "unknown_sensor", "GHOST-1", gw.topic("readings"), since)
    assert rows and "GHOST-1" in rows[0][1]
    report = wait_until(
        lambda: [r for t, p in gw.received if t == errors_topic for r in [json.loads(p)] if "GHOST-1" in r["detail"]]
    )
    assert report[0]["reason"] == "unknown_sensor" and report[0]["reading"] == 1


def test_unknown_gateway_and_bad_status_are_dead_lettered(seeded: Engine, gateway) -> None:
    gw = gateway(SITE)
    since = datetime.now(UTC) - timedelta(seconds=1)
    gw.publish("sleeping", channel="status")
    assert wait_until(lambda: dead(seeded, "bad_status", "online", gw.topic("status"), since))


def test_fuzz_10000_malformed_messages_then_a_good_one(seeded: Engine, gateway) -> None:
    gw = gateway("JL-COAL-0003")
    code, sid = sensor(seeded, "JL-COAL-0003", "methane")
    rng = random.Random(4)
    before = q(seeded, "SELECT count(*) FROM dead_letters WHERE topic = :t", t=gw.topic("readings"))[0][0]
    before_id = q(seeded, "SELECT coalesce(max(id), 0) FROM dead_letters")[0][0]
    shapes = [
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60))),
        lambda: json.dumps({"readings": [{"sensor": code, "ts": ts()}]})[: rng.randint(1, 40)].encode(),
        lambda: json.dumps(rng.choice([None, 7, "text", [], {}, {"readings": []}, {"readings": {}}])).encode(),
        lambda: json.dumps(
            {
                "sensor": rng.choice([1, None, [], code]),
                "ts": rng.choice([5, None, "x"]),
                "value": rng.choice(["1", None, [], {}]),
            }
        ).encode(),
    ]
    infos = [gw.client.publish(gw.topic("readings"), rng.choice(shapes)(), qos=1) for _ in range(10_000)]
    for info in infos:
        info.wait_for_publish(30)

    def accounted() -> int:
        """Rejects kept as rows, plus those counted in the gateway's over-budget summaries."""
        kept = q(seeded, "SELECT count(*) FROM dead_letters WHERE topic = :t", t=gw.topic("readings"))[0][0]
        summaries = q(
            seeded,
            "SELECT coalesce(sum(split_part(detail, ' ', 1)::int), 0) FROM dead_letters "
            "WHERE reason = 'dead_letter_cap' AND gateway_id = :g AND id > :b",
            g=gw.gateway_id,
            b=before_id,
        )[0][0]
        return kept - before + summaries

    wait_until(lambda: accounted() == 10_000, timeout=120)
    kept = q(seeded, "SELECT count(*) FROM dead_letters WHERE topic = :t", t=gw.topic("readings"))[0][0] - before
    assert kept <= IngestSettings().dead_letter_max_rows  # a flood costs a bounded number of rows
    gw.publish({"sensor": code, "ts": ts(1), "value": 0.277})
    wait_until(lambda: stored(seeded, sid, 0.277) == 1)
    assert (
        q(
            seeded,
            "SELECT count(*) FROM readings WHERE sensor_id = :s AND ts > now() - interval '1 minute' "
            "AND value <> 0.277",
            s=sid,
        )[0][0]
        == 0
    )


def test_methane_escalates_deescalates_and_clears_in_place(seeded: Engine, gateway) -> None:
    gw = gateway(SITE)
    code, sid = sensor(seeded, SITE, "methane", "采煤工作面T1")  # alarm 1.0, power-off 1.5, restore 1.0
    key = f"sensor:{sid}:threshold"
    gw.publish({"sensor": code, "ts": ts(60), "value": 1.1})
    first = wait_until(lambda: open_alarm(seeded, key))
    assert first[1] == "orange"
    gw.publish({"sensor": code, "ts": ts(50), "value": 1.6})
    assert wait_until(lambda: (a := open_alarm(seeded, key)) and a[1] == "red" and a)[0] == first[0]
    gw.publish({"sensor": code, "ts": ts(40), "value": 1.2})
    assert wait_until(lambda: (a := open_alarm(seeded, key)) and a[1] == "orange" and a)[0] == first[0]
    gw.publish({"sensor": code, "ts": ts(30), "value": 0.4})
    wait_until(lambda: open_alarm(seeded, key) is None)
    events = [e for (e,) in q(seeded, "SELECT event FROM alarm_events WHERE alarm_id = :i ORDER BY id", i=first[0])]
    assert events == ["raised", "escalated", "deescalated", "cleared"]


def test_a_spike_inside_one_message_still_alarms(seeded: Engine, gateway) -> None:
    gw = gateway("JL-COAL-0004")
    code, sid = sensor(seeded, "JL-COAL-0004", "methane", "掘进工作面")
    gw.publish(
        {
            "readings": [
                {"sensor": code, "ts": ts(12), "value": 0.3},
                {"sensor": code, "ts": ts(11), "value": 1.7},
                {"sensor": code, "ts": ts(10), "value": 0.3},
            ]
        }
    )
    wait_until(
        lambda: (
            q(seeded, "SELECT count(*) FROM alarms WHERE key = :k AND color = 'red'", k=f"sensor:{sid}:threshold")[0][0]
            == 1
        )
    )


def test_hysteresis_holds_until_the_restore_value(seeded: Engine, gateway) -> None:
    site = "JL-HAZ-0003"
    gw = gateway(site)
    code, sid = sensor(seeded, site, "tank_level")  # high 85, high-high 95, restore 80
    key = f"sensor:{sid}:threshold"
    gw.publish(
        {
            "readings": [
                {"sensor": code, "ts": ts(45), "value": 88},  # debounce: two readings
                {"sensor": code, "ts": ts(40), "value": 88},
            ]
        }
    )
    wait_until(lambda: open_alarm(seeded, key))
    gw.publish({"sensor": code, "ts": ts(30), "value": 82})  # below high, above restore: holds
    wait_until(lambda: q(seeded, "SELECT last_value FROM sensors WHERE id = :i", i=sid)[0][0] == 82)
    assert open_alarm(seeded, key) is not None
    gw.publish({"sensor": code, "ts": ts(20), "value": 79})
    wait_until(lambda: open_alarm(seeded, key) is None)


def test_debounce_needs_consecutive_readings(seeded: Engine, gateway) -> None:
    site = "JL-TSF-0002"
    gw = gateway(site)
    code, sid = sensor(seeded, site, "dam_displacement")  # blue 20 … red 50, debounce 2 readings
    key = f"sensor:{sid}:threshold"
    gw.publish({"sensor": code, "ts": ts(50), "value": 25})
    gw.publish({"sensor": code, "ts": ts(40), "value": 10})
    gw.publish({"sensor": code, "ts": ts(30), "value": 26})
    wait_until(lambda: q(seeded, "SELECT last_value FROM sensors WHERE id = :i", i=sid)[0][0] == 26)
    assert open_alarm(seeded, key) is None
    gw.publish({"sensor": code, "ts": ts(20), "value": 27})
    assert wait_until(lambda: open_alarm(seeded, key))[1] == "blue"


def test_phreatic_line_alarms_when_the_depth_falls(seeded: Engine, gateway) -> None:
    site = "JL-TSF-0003"
    gw = gateway(site)
    code, sid = sensor(seeded, site, "phreatic_line")
    t = q(seeded, "SELECT thresholds FROM sensors WHERE id = :i", i=sid)[0][0]
    red = next(lv["value"] for lv in t["levels"] if lv["color"] == "red")
    gw.publish(
        {
            "readings": [
                {"sensor": code, "ts": ts(20), "value": red * 0.9},
                {"sensor": code, "ts": ts(10), "value": red * 0.9},
            ]
        }
    )
    assert wait_until(lambda: open_alarm(seeded, f"sensor:{sid}:threshold"))[1] == "red"


def test_co_rising_fast_raises_a_rate_alarm(seeded: Engine, gateway) -> None:
    gw = gateway("JL-COAL-0005")
    code, sid = sensor(seeded, "JL-COAL-0005", "carbon_monoxide")
    gw.publish(
        {
            "readings": [
                {"sensor": code, "ts": ts(120), "value": 4},
                {"sensor": code, "ts": ts(60), "value": 7},
                {"sensor": code, "ts": ts(10), "value": 10.5},
            ]
        }
    )  # +6.5 ppm in 110 s, under 24
    assert wait_until(lambda: open_alarm(seeded, f"sensor:{sid}:rate"))[1] == "yellow"
    assert open_alarm(seeded, f"sensor:{sid}:threshold") is None


def test_tailings_roll_up_four_blue_points_make_the_item_yellow(seeded: Engine, gateway) -> None:
    site = "JL-TSF-0005"
    gw = gateway(site)
    site_id = q(seeded, "SELECT id FROM sites WHERE code = :c", c=site)[0][0]
    points = [sensor(seeded, site, "dam_displacement", nth=i)[0] for i in range(4)]
    for i, code in enumerate(points[:3]):
        gw.publish(
            {
                "readings": [
                    {"sensor": code, "ts": ts(30 + i), "value": 22},
                    {"sensor": code, "ts": ts(20 + i), "value": 23},
                ]
            }
        )
    key = f"site:{site_id}:rollup_dam_displacement"
    wait_until(
        lambda: (
            q(
                seeded,
                "SELECT count(*) FROM alarms a JOIN sensors s ON s.id = a.sensor_id "
                "WHERE s.site_id = :i AND s.kind = 'dam_displacement' AND a.state = 'raised'",
                i=site_id,
            )[0][0]
            == 3
        )
    )
    assert open_alarm(seeded, key) is None
    gw.publish(
        {
            "readings": [
                {"sensor": points[3], "ts": ts(15), "value": 22},
                {"sensor": points[3], "ts": ts(5), "value": 24},
            ]
        }
    )
    assert wait_until(lambda: open_alarm(seeded, key))[1] == "yellow"


def test_suspended_mine_drawing_power_raises_covert_production(seeded: Engine, gateway) -> None:
    site = q(
        seeded,
        "SELECT s.code FROM sites s JOIN enterprises e ON e.id = s.enterprise_id "
        "JOIN sensors se ON se.site_id = s.id AND se.kind = 'power_draw' "
        "WHERE e.status IN ('suspended', 'closed') ORDER BY s.code LIMIT 1",
    )[0][0]
    gw = gateway(site)
    code, _ = sensor(seeded, site, "power_draw")
    site_id = q(seeded, "SELECT id FROM sites WHERE code = :c", c=site)[0][0]
    gw.publish({"sensor": code, "ts": ts(10), "value": 180.0})
    alarm = wait_until(lambda: open_alarm(seeded, f"site:{site_id}:covert"))
    assert alarm[1] == "red"
    level = wait_until(lambda: q(seeded, "SELECT level, reasons FROM site_risk WHERE site_id = :i", i=site_id)[0])
    assert level[0] == 1 and "active_alarm" in [r["rule"] for r in level[1]]


def test_gateway_last_will_raises_gateway_offline(seeded: Engine, gateway) -> None:
    site = "JL-MINE-0007"
    gw = gateway(site)
    gw.client.will_set(gw.topic("status"), "offline", qos=1, retain=True)
    gw.client.reconnect()
    gw.publish("online", channel="status", retain=True)
    key = f"gateway:{site}-GW01:offline"
    gw.client.socket().close()  # an abrupt loss: the broker publishes the Last Will
    assert wait_until(lambda: open_alarm(seeded, key), timeout=30)[1] == "orange"
    assert q(seeded, "SELECT status FROM gateways WHERE id = :g", g=f"{site}-GW01")[0][0] == "offline"


def test_silent_sensor_raises_offline_and_a_reading_clears_it(seeded: Engine, gateway) -> None:
    from sqlalchemy.orm import Session

    from ingest.alarms import AlarmWriter

    site = "JL-MINE-0009"
    code, sid = sensor(seeded, site, "power_draw")
    now = datetime.now(UTC)
    with Session(seeded) as s, s.begin():
        s.execute(text("UPDATE sensors SET last_reading_at = :t"), {"t": now})
        s.execute(
            text("UPDATE sensors SET last_reading_at = :t WHERE id = :i"),
            {"t": now - timedelta(seconds=3 * 300 + 5), "i": sid},
        )
        writer = AlarmWriter(s, now)
        assert writer.sweep_offline() == 1
    assert open_alarm(seeded, f"sensor:{sid}:offline")[1] == "yellow"
    gateway(site).publish({"sensor": code, "ts": ts(1), "value": 420.0})
    wait_until(lambda: open_alarm(seeded, f"sensor:{sid}:offline") is None)
