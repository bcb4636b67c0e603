"""What row-level security costs on the big table (readings), and why its policy is a semi-join.

    python -m bench.rls [--rows 5000000]

Fills `readings` with the sample register's sensors reporting every minute until it holds about
`--rows` rows, then times the readings route's queries (one sensor over a day; one sensor over 30
days averaged per hour) and a scan of the whole table, as the owner (no policy) and as the API's
role in three scopes (province-wide, a county, a prefecture), for two policies on readings:

- visible-sensors set (the one migration 0012 installs): `sensor_id IN (SELECT
  riskmap_visible_sensors())`, the caller's sensors found once per query by one join;
- semi-join on sensors: `sensor_id IN (SELECT id FROM sensors)`, the sensors policy applying
  inside (riskmap_site_visible once per sensor);
- per-row function: `riskmap_sensor_visible(sensor_id)` (SECURITY DEFINER, a lookup per reading).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from bench.common import bench_stack, timed

POLICIES = {"visible-sensors set": ""}
POLICIES["semi-join on sensors"] = """
DROP POLICY readings_jurisdiction ON readings;
CREATE POLICY readings_jurisdiction ON readings TO riskmap_app
  USING (sensor_id IN (SELECT id FROM sensors)) WITH CHECK (sensor_id IN (SELECT id FROM sensors));
"""
POLICIES["per-row function"] = """
CREATE FUNCTION riskmap_sensor_visible(sensor integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM sensors se JOIN sites s ON s.id = se.site_id WHERE se.id = sensor
                 AND riskmap_enterprise_visible(s.enterprise_id, s.region_adcode)) $$;
DROP POLICY readings_jurisdiction ON readings;
CREATE POLICY readings_jurisdiction ON readings TO riskmap_app
  USING (riskmap_sensor_visible(sensor_id)) WITH CHECK (riskmap_sensor_visible(sensor_id));
"""
SCOPES = {
    "owner (no policy)": None,
    "app, province-wide": ("all", ""),
    "app, county 220283": ("region", "220283"),
    "app, prefecture 2202": ("region", "2202"),
}


def fill(engine: Engine, rows: int) -> tuple[int, datetime]:
    """Every sensor reporting once a minute, back from now, until about `rows` rows."""
    with engine.begin() as conn:
        sensors = conn.scalar(text("SELECT count(*) FROM sensors"))
        minutes = max(1, rows // sensors)
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        conn.execute(
            text("SELECT riskmap_ensure_reading_partitions(:start, :months)"),
            {"start": end - timedelta(minutes=minutes), "months": minutes // (60 * 24 * 28) + 2},
        )
        conn.execute(
            text(
                "INSERT INTO readings (sensor_id, ts, value) SELECT se.id, :end - make_interval(mins => g), "
                "random() FROM sensors se, generate_series(1, :m) g"
            ),
            {"end": end, "m": minutes},
        )
    with engine.begin() as conn:
        conn.execute(text("ANALYZE readings"))
        return conn.scalar(text("SELECT count(*) FROM readings")), end


def _scoped(conn: Connection, scope: tuple[str, str] | None) -> None:
    if scope is not None:
        conn.execute(
            text(
                "SELECT set_config('riskmap.scope', :s, true), set_config('riskmap.region', :r, true), "
                "set_config('role', 'riskmap_app', true)"
            ),
            {"s": scope[0], "r": scope[1]},
        )


def measure(engine: Engine, end: datetime, policy: str) -> None:
    with engine.connect() as conn:
        sensor = conn.scalar(
            text(
                "SELECT se.id FROM sensors se JOIN sites s ON s.id = se.site_id "
                "WHERE s.region_adcode = '220283' LIMIT 1"
            )
        )
    queries = {
        "one sensor, 1 day": (
            "SELECT ts, value FROM readings WHERE sensor_id = :s AND ts >= :a AND ts < :b ORDER BY ts",
            end - timedelta(days=1),
        ),
        "one sensor, 30 days hourly": (
            "SELECT date_bin('1 hour', ts, :a) t, avg(value), min(value), max(value), count(*) FROM readings "
            "WHERE sensor_id = :s AND ts >= :a AND ts < :b GROUP BY t ORDER BY t",
            end - timedelta(days=30),
        ),
        "whole table, count(*)": (
            "SELECT count(*) FROM readings WHERE :s > 0 AND ts >= :a AND ts < :b",
            datetime(1970, 1, 1, tzinfo=UTC),
        ),
    }
    with engine.connect() as conn, conn.begin():
        if POLICIES[policy]:
            conn.execute(text(POLICIES[policy]))  # in this transaction only: rolled back at the end
        for qname, (sql, start) in queries.items():
            for sname, scope in SCOPES.items():

                def run(sql: str = sql, start: datetime = start, scope: tuple[str, str] | None = scope) -> int:
                    with conn.begin_nested() as sp:  # the scope and the role end with the savepoint
                        _scoped(conn, scope)
                        n = len(conn.execute(text(sql), {"s": sensor, "a": start, "b": end}).all())
                        sp.rollback()
                        return n

                slow = policy == "per-row function" and qname.startswith("whole")  # tens of seconds a run
                if not slow:
                    run()  # warm the cache
                median, best = timed(run, runs=1 if slow else 5)
                print(f"  {policy:20} | {qname:27} | {sname:21} | {median * 1000:9.1f} ms (best {best * 1000:.1f})")
        conn.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    with bench_stack() as (_, engine):
        count, end = fill(engine, args.rows)
        print(f"readings: {count:,} rows")
        for policy in POLICIES:
            measure(engine, end, policy)


if __name__ == "__main__":
    main()
