"""The row-level security policies themselves, in SQL, as the API's role (riskmap_app) with each scope:
county, prefecture, province, enterprise, public. For every jurisdiction-bound table, the rows seen
are exactly those whose owners (region, enterprise) fall in the scope, computed independently as
the owner; writes outside the scope are refused or touch nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from backend.core.jurisdiction import bind
from backend.core.principal import PUBLIC, Principal, Scope, platform
from backend.models import Alarm, Site
from tests.support.jurisdiction import PANSHI, SHULAN, TABLES, Made, populate

PUBLIC_TABLES = ("regions", "exposed_places", "exposed_features", "weather_warnings", "draws")  # draws: 一公开


def _as(conn: Connection, scope: str, region: str = "", enterprise: str = "") -> None:
    """The API's role with this scope, for the rest of the transaction (as jurisdiction.bind does)."""
    conn.execute(
        text(
            "SELECT set_config('riskmap.scope', :s, true), set_config('riskmap.region', :r, true), "
            "set_config('riskmap.enterprise', :e, true), set_config('role', 'riskmap_app', true)"
        ),
        {"s": scope, "r": region, "e": enterprise},
    )


def _owner(conn: Connection) -> None:
    conn.execute(text("SELECT set_config('role', 'none', true), set_config('riskmap.scope', '', true)"))


@pytest.fixture(scope="module")
def world(seeded: Engine) -> Iterator[tuple[Connection, Made, int]]:
    """The sample register plus rows in two counties, in one transaction rolled back at the end."""
    with seeded.connect() as conn:
        tx = conn.begin()
        made = populate(conn)
        enterprise = conn.scalar(text("SELECT enterprise_id FROM sites WHERE id = :s"), {"s": made.sites[SHULAN]})
        yield conn, made, enterprise
        tx.rollback()


SCOPES: dict[str, tuple[str, str, str]] = {
    "county": ("region", SHULAN, ""),
    "other county": ("region", PANSHI, ""),
    "prefecture": ("region", "2202", ""),
    "province (region)": ("region", "22", ""),
    "province (all)": ("all", "", ""),
    "enterprise": ("enterprise", "", "ENTERPRISE"),
    "public": ("public", "", ""),
}


def _expected(owners: list[Any], scope: str, region: str, enterprise: str) -> set[str]:
    if scope == "region":
        return {k for k, r, _ in owners if r is not None and r.startswith(region)}
    if scope == "enterprise":
        return {k for k, _, e in owners if e is not None and str(e) == enterprise}
    return set()


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_scope_sees_exactly_its_rows(world: tuple[Connection, Made, int], table: str) -> None:
    conn, _, enterprise = world
    key, owners_sql = TABLES[table]
    sp = conn.begin_nested()
    all_keys = set(conn.scalars(text(f"SELECT {key} FROM {table}")))
    owners = conn.execute(text(owners_sql)).all()
    partial = 0
    for name, (scope, region, ent) in SCOPES.items():
        ent = str(enterprise) if ent == "ENTERPRISE" else ent
        _as(conn, scope, region, ent)
        seen = list(conn.scalars(text(f"SELECT {key} FROM {table}")))
        count = conn.scalar(text(f"SELECT count(*) FROM {table}"))
        _owner(conn)
        assert count == len(seen), (table, name)
        expected = all_keys if scope == "all" else _expected(owners, scope, region, ent)
        assert set(seen) == expected, (table, name, len(seen), len(expected))
        partial += 0 < len(seen) < len(all_keys)
    sp.rollback()
    # Not vacuous: some scope sees some rows but not all (every table holds rows of several places).
    assert partial, f"{table}: no scope saw a strict, non-empty part"


def test_public_geography_stays_readable(world: tuple[Connection, Made, int]) -> None:
    conn, _, _ = world
    sp = conn.begin_nested()
    counts = {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in PUBLIC_TABLES}
    _as(conn, "public")
    assert {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in PUBLIC_TABLES} == counts
    assert counts["regions"] == 70
    sp.rollback()


def test_writes_outside_the_jurisdiction_are_refused_or_touch_nothing(world: tuple[Connection, Made, int]) -> None:
    conn, made, _ = world
    mine, theirs = made.sites[PANSHI], made.sites[SHULAN]
    sp = conn.begin_nested()
    _as(conn, "region", PANSHI)
    assert conn.execute(text("UPDATE sites SET name = name || 'x' WHERE id = :s"), {"s": theirs}).rowcount == 0
    assert conn.execute(text("DELETE FROM alarms WHERE id = :a"), {"a": made.alarms[SHULAN]}).rowcount == 0
    assert conn.execute(text("UPDATE sites SET name = name WHERE id = :s"), {"s": mine}).rowcount == 1
    sp.rollback()
    for sql in (
        "INSERT INTO hidden_hazards (site_id, title) VALUES (:theirs, 'x')",
        "UPDATE sites SET region_adcode = '220283' WHERE id = :mine",  # moving a row out of one's reach
        "UPDATE audit_log SET actor = 'x'",  # append-only: no policy lets the API change an entry
    ):
        sp = conn.begin_nested()
        _as(conn, "region", PANSHI)
        if sql.startswith("UPDATE audit_log"):
            assert conn.execute(text(sql)).rowcount == 0
            sp.rollback()
            continue
        with pytest.raises(ProgrammingError, match="row-level security"):
            conn.execute(text(sql), {"theirs": theirs, "mine": mine})
        sp.rollback()


def test_the_owner_bypasses_the_policies_by_design(world: tuple[Connection, Made, int]) -> None:
    """The platform's jobs (ingester, grading, delivery, CLI) are never bound: they see everything."""
    conn, _, _ = world
    sp = conn.begin_nested()
    total = conn.scalar(text("SELECT count(*) FROM sites"))
    conn.execute(text("SELECT set_config('riskmap.scope', 'public', true)"))  # a scope, but not the role
    assert conn.scalar(text("SELECT count(*) FROM sites")) == total > 300
    sp.rollback()
    roles = conn.execute(
        text("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'riskmap_app'")
    ).one()
    assert tuple(roles) == (False, False, False)


def test_a_bound_session_runs_as_the_app_role_and_sees_its_county(seeded: Engine) -> None:
    county = Principal(actor="user:t", name="t", scope=Scope.region, region=SHULAN)
    with seeded.connect() as c:
        total = c.scalar(text("SELECT count(*) FROM sites"))
    with Session(seeded) as s:
        bind(s, county)
        with s.begin():
            assert s.scalar(text("SELECT current_user")) == "riskmap_app"
            regions = set(s.scalars(text("SELECT DISTINCT region_adcode FROM sites")))
            assert regions == {SHULAN}
            assert {a.site_id for a in s.query(Alarm)} <= set(s.scalars(text("SELECT id FROM sites")))
        bind(s, PUBLIC)
        with s.begin():
            assert s.query(Site).count() == 0
        bind(s, platform("test"))
        with s.begin():
            assert s.scalar(text("SELECT current_user")) != "riskmap_app"
            assert s.query(Site).count() == total


# What the anonymous reader of RISKMAP_PUBLIC_MAP = sites may read (migration 0018), and nothing more.
PUBLISHED = {
    "enterprises",
    "sites",
    "tailings_ponds",
    "coal_mines",
    "noncoal_mines",
    "hazard_units",
    "inventory_items",
    "pond_class_overrides",
    "sensors",
    "readings",
    "alarms",
    "site_risk",
    "site_risk_history",
    "regions",
    "exposed_features",
    "exposed_places",
    "weather_warnings",
    "spatial_ref_sys",
}


def _public_reader(conn: Connection) -> None:
    conn.execute(text("SELECT set_config('riskmap.scope', 'all', true), set_config('role', 'riskmap_public', true)"))


def test_the_public_reader_may_read_the_published_register_and_nothing_else(
    world: tuple[Connection, Made, int],
) -> None:
    conn, made, _ = world
    granted = set(
        conn.scalars(
            text(
                "SELECT DISTINCT table_name FROM information_schema.role_table_grants "
                "WHERE grantee = 'riskmap_public' AND table_schema = 'public'"
            )
        )
    )
    assert granted == PUBLISHED  # a table added tomorrow is closed until it is added here on purpose
    sp = conn.begin_nested()
    total = conn.scalar(text("SELECT count(*) FROM sites"))
    _public_reader(conn)
    assert conn.scalar(text("SELECT count(*) FROM sites")) == total > 300
    assert conn.scalar(text("SELECT count(*) FROM alarms WHERE id = :a"), {"a": made.alarms[SHULAN]}) == 1
    sp.rollback()
    tables = set(
        conn.scalars(
            text("SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace = 'public'::regnamespace")
        )
    )
    columns = set(
        conn.scalars(
            text(
                "SELECT column_name FROM information_schema.role_column_grants "
                "WHERE grantee = 'riskmap_public' AND table_name = 'gateways'"
            )
        )
    )
    assert columns == {"id", "site_id", "name", "status", "status_at"}  # never the password hash
    closed = sorted(tables - PUBLISHED - {"gateways"})
    assert {"people", "users", "api_tokens", "audit_log", "hidden_hazards", "inspections", "broadcasts"} <= set(closed)
    for table in closed:
        sp = conn.begin_nested()
        _public_reader(conn)
        with pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1"))
        sp.rollback()
    for sql in (
        "SELECT password_hash FROM gateways",
        "SELECT * FROM gateways",
        "UPDATE sites SET name = name",
        "DELETE FROM alarms",
        "INSERT INTO regions (adcode) VALUES ('x')",
    ):
        sp = conn.begin_nested()
        _public_reader(conn)
        with pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text(sql))
        sp.rollback()


def test_a_public_reader_session_runs_as_the_public_role(seeded: Engine) -> None:
    from backend.core.principal import PUBLIC_READER

    with Session(seeded) as s:
        bind(s, PUBLIC_READER)
        with s.begin():
            assert s.scalar(text("SELECT current_user")) == "riskmap_public"
            assert s.query(Site).count() > 300


def test_reading_partitions_and_webhooks_are_closed_to_the_api(world: tuple[Connection, Made, int]) -> None:
    """The parent's policy binds queries through the parent only: a partition read by name would
    bypass it, so the API's role may not read partitions, old or made later."""
    conn, _, _ = world
    sp = conn.begin_nested()
    conn.execute(text("SELECT riskmap_ensure_reading_partitions('2039-01-01', 1)"))
    hook = conn.scalar(
        text("INSERT INTO webhooks (url, secret) VALUES ('https://example.invalid/hook', 's') RETURNING id")
    )
    message = conn.scalar(
        text(
            "INSERT INTO outbox (key, kind, target, payload, webhook_id, event) "
            "VALUES ('rls-test', 'webhook', 'https://example.invalid/hook', '', :h, 'issued') RETURNING id"
        ),
        {"h": hook},
    )
    conn.execute(
        text(
            "INSERT INTO outbox_attempts (outbox_id, attempt, worker, ok, error, duration_ms) VALUES (:m, 1, 'w', false, 'x', 1)"
        ),
        {"m": message},
    )
    through_parent = conn.scalar(text("SELECT count(*) FROM readings"))
    _as(conn, "region", "22")
    assert conn.scalar(text("SELECT count(*) FROM webhooks")) == 0
    assert conn.scalar(text("SELECT count(*) FROM outbox_attempts WHERE outbox_id = :m"), {"m": message}) == 0
    _as(conn, "all")
    assert conn.scalar(text("SELECT count(*) FROM readings")) == through_parent
    assert conn.scalar(text("SELECT count(*) FROM webhooks WHERE id = :h"), {"h": hook}) == 1
    assert conn.scalar(text("SELECT count(*) FROM outbox_attempts WHERE outbox_id = :m"), {"m": message}) == 1
    for partition in ("readings_default", "readings_203901"):
        inner = conn.begin_nested()
        with pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text(f"SELECT 1 FROM {partition} LIMIT 1"))
        inner.rollback()
    sp.rollback()


def test_an_enterprise_never_sees_an_inspection_before_it_happens(world: tuple[Connection, Made, int]) -> None:
    """四不两直 (不发通知、不打招呼): a planned inspection and the plan's visits are not the enterprise's
    to read; once under way or done, the inspection (its findings, its decisions) is."""
    conn, made, enterprise = world
    site = made.sites[SHULAN]
    sp = conn.begin_nested()
    ids = {
        state: conn.scalar(
            text(
                "INSERT INTO inspections (site_id, region_adcode, origin, day, inspectors, state, checklist, findings) "
                "VALUES (:s, :r, 'other', '2031-05-06', ARRAY['X1', 'X2'], :st, '[]', '[]') RETURNING id"
            ),
            {"s": site, "r": SHULAN, "st": state},
        )
        for state in ("planned", "in_progress", "completed")
    }
    _as(conn, "enterprise", "", str(enterprise))
    seen = set(conn.scalars(text("SELECT state FROM inspections WHERE id = ANY(:i)"), {"i": list(ids.values())}))
    assert seen == {"in_progress", "completed"}
    assert conn.scalar(text("SELECT count(*) FROM plan_visits")) == 0
    _as(conn, "region", SHULAN)  # the county's regulators see all three
    assert conn.scalar(text("SELECT count(*) FROM inspections WHERE id = ANY(:i)"), {"i": list(ids.values())}) == 3
    sp.rollback()


def test_a_credit_entry_is_filed_under_its_enterprises_own_county(world: tuple[Connection, Made, int]) -> None:
    """A county cannot list another county's enterprise by filing the entry under its own code."""
    conn, made, _ = world
    theirs = conn.scalar(text("SELECT enterprise_id FROM sites WHERE id = :s"), {"s": made.sites[SHULAN]})
    mine = conn.scalar(text("SELECT id FROM enterprises WHERE region_adcode = :r ORDER BY id LIMIT 1"), {"r": PANSHI})
    insert = text(
        "INSERT INTO credit_list_entries (enterprise_id, region_adcode, credit_code, enterprise_name, list, reason,"
        " document_no, decided_by, listed_on, created_by) VALUES (:e, :r, 'X', 'X', 'black', '测试', '测试1号',"
        " '磐石市应急管理局', '2026-11-01', 'test')"
    )
    sp = conn.begin_nested()
    _as(conn, "region", PANSHI)
    with pytest.raises(ProgrammingError, match="row-level security"):
        conn.execute(insert, {"e": theirs, "r": PANSHI})
    sp.rollback()
    sp = conn.begin_nested()
    _as(conn, "region", PANSHI)
    assert conn.execute(insert, {"e": mine, "r": PANSHI}).rowcount == 1
    sp.rollback()
