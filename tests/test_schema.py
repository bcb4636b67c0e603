"""The migration on a real PostGIS; seeding is idempotent."""

import pytest
from geoalchemy2 import Geometry
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from backend.core.audit import UnattributedChange
from backend.core.config import paths
from backend.core.migrate import alembic_config, upgrade
from backend.embedded.stack import Stack
from backend.models import Base, Enterprise, Sensor
from backend.registry.seed import seed


def test_migration_creates_every_table_and_a_spatial_index_on_every_geometry(
    seeded: Engine,
) -> None:
    with seeded.connect() as c:
        tables = set(c.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
        assert set(Base.metadata.tables) <= tables
        geometry_columns = c.execute(text("SELECT f_table_name, f_geometry_column FROM geometry_columns")).all()
        declared = {
            (t.name, c.name) for t in Base.metadata.tables.values() for c in t.columns if isinstance(c.type, Geometry)
        }
        assert set(geometry_columns) == declared
        for table, column in geometry_columns:
            indexed = c.scalar(
                text(
                    "SELECT count(*) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                    "JOIN pg_class ix ON ix.oid = i.indexrelid JOIN pg_am am ON am.oid = ix.relam "
                    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) "
                    "WHERE t.relname = :t AND a.attname = :c AND am.amname = 'gist'"
                ),
                {"t": table, "c": column},
            )
            assert indexed == 1, f"{table}.{column} has no GiST index"


def test_readings_are_partitioned_by_month_with_a_default(seeded: Engine) -> None:
    with seeded.connect() as c:
        strategy = c.scalar(
            text(
                "SELECT partstrat FROM pg_partitioned_table p JOIN pg_class t ON t.oid = p.partrelid "
                "WHERE t.relname = 'readings'"
            )
        )
        assert strategy == "r"
        parts = set(
            c.scalars(text("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'readings'::regclass"))
        )
        assert "readings_default" in parts and len(parts) >= 13
        made = c.scalar(text("SELECT riskmap_ensure_reading_partitions(now() + interval '3 years', 2)"))
        assert made == 2


def test_migration_downgrades_and_upgrades_again(stack: Stack) -> None:
    from alembic import command

    url = stack.postgres.ensure_database("riskmap_migration_test")
    try:
        upgrade(url)
        command.downgrade(alembic_config(url), "base")
        upgrade(url)
    finally:
        stack.postgres.drop_database("riskmap_migration_test")


def _counts(session: Session) -> dict[str, int]:
    return {
        name: session.scalar(select(func.count()).select_from(table)) or 0
        for name, table in Base.metadata.tables.items()
        if name not in {"audit_log", "api_tokens"}
    }


def test_seeding_twice_changes_nothing(session: Session) -> None:
    before = _counts(session)
    assert before["sites"] >= 340 and before["sensors"] >= 3000 and before["exposed_places"] >= 1000
    reports = seed(session, paths().data_dir)
    session.commit()
    assert all(r.loaded == 0 and not r.errors for r in reports)
    assert _counts(session) == before


def test_every_register_change_is_audited_and_needs_an_actor(session: Session) -> None:
    e = session.scalars(select(Enterprise).order_by(Enterprise.id)).first()
    assert e is not None
    old = e.status
    e.status = "suspended" if old != "suspended" else "operating"
    session.commit()
    entry = session.execute(
        text(
            "SELECT actor, action, before, after FROM audit_log WHERE entity = 'enterprises' "
            "AND entity_key = :k ORDER BY id DESC LIMIT 1"
        ),
        {"k": str(e.id)},
    ).one()
    assert entry.actor == "test" and entry.action == "update"
    assert entry.before == {"status": old} and entry.after == {"status": e.status}
    anonymous = Session(session.get_bind())
    with pytest.raises(UnattributedChange), anonymous.begin():
        anonymous.scalars(select(Sensor)).first().interval_s = 5
    anonymous.close()
