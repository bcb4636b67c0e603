"""The public reader of RISKMAP_PUBLIC_MAP = sites gets its own role, and the tables 0012 left open
to riskmap_app are closed.

- `riskmap_public`: what an anonymous reader runs as when the setting opens site details. It may
  SELECT the published register (sites, their facts, sensors, readings, alarms, grades and the
  reference layers) and nothing else: no people, users, tokens, audit, hidden hazards, broadcasts,
  inspections, plans or rosters (a query on those fails with 42501, answered 404 once in
  backend/api/errors.py). It never writes. Unannounced inspections stay unannounced (四不两直).
- `webhooks` (the province's endpoints and their secrets) and `outbox_attempts` (delivery errors)
  get policies: the first for the platform's scope only, the second as its outbox row.
- The monthly partitions of `readings` are revoked from both API roles: the parent's policy binds
  only queries through the parent, so a partition read by name would bypass it.
- An enterprise never sees an inspection before it happens (四不两直: 不发通知、不打招呼): planned
  inspections and plan visits are out of the enterprise scope; the inspection once under way or
  done, with its findings and decisions, is the enterprise's to read.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25 14:10:00
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

APP_ROLE = "riskmap_app"
PUBLIC_ROLE = "riskmap_public"

# The published register: what RISKMAP_PUBLIC_MAP = sites opens to everyone, read-only.
PUBLISHED_WITH_RLS = (
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
)
GATEWAY_COLUMNS = ("id", "site_id", "name", "status", "status_at")
PUBLISHED_REFERENCE = ("regions", "exposed_features", "exposed_places", "weather_warnings", "spatial_ref_sys")

ROLE = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{PUBLIC_ROLE}') THEN
    CREATE ROLE {PUBLIC_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
  END IF;
  IF NOT pg_has_role(current_user, '{PUBLIC_ROLE}', 'MEMBER') THEN
    EXECUTE format('GRANT {PUBLIC_ROLE} TO %I', current_user);
  END IF;
END $$;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {PUBLIC_ROLE};
GRANT USAGE ON SCHEMA public TO {PUBLIC_ROLE};
"""

# New monthly partitions are closed to the API roles as soon as they are made.
ENSURE_PARTITIONS = f"""
CREATE OR REPLACE FUNCTION riskmap_ensure_reading_partitions(start timestamptz, months int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    made int := 0;
    lo timestamptz;
    name text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        lo := date_trunc('month', start) + make_interval(months => i);
        name := 'readings_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                name, lo, lo + interval '1 month');
            EXECUTE format('REVOKE ALL ON %I FROM {APP_ROLE}, {PUBLIC_ROLE}', name);
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$;
"""

SITE = "riskmap_site_visible(site_id)"
# Not for an enterprise before it happens (四不两直); otherwise as 0015 had them.
UNANNOUNCED = {
    "inspections": f"{SITE} AND (riskmap_scope() <> 'enterprise' OR state <> 'planned')",
    "plan_visits": f"{SITE} AND riskmap_scope() <> 'enterprise'",
}

PARTITIONS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'readings'::regclass
"""


def _partitions() -> list[str]:
    return [r[0] for r in op.get_bind().exec_driver_sql(PARTITIONS)]


def upgrade() -> None:
    op.execute(ROLE)
    for table in (*PUBLISHED_WITH_RLS, *PUBLISHED_REFERENCE):
        op.execute(f"GRANT SELECT ON {table} TO {PUBLIC_ROLE}")
    # A gateway's name and status, never its password hash.
    op.execute(f"GRANT SELECT ({', '.join(GATEWAY_COLUMNS)}) ON gateways TO {PUBLIC_ROLE}")
    for table in (*PUBLISHED_WITH_RLS, "gateways"):
        op.execute(f"CREATE POLICY {table}_published ON {table} FOR SELECT TO {PUBLIC_ROLE} USING (true)")
    op.execute(
        f"ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY; "
        f"CREATE POLICY webhooks_platform ON webhooks TO {APP_ROLE} "
        f"USING (riskmap_scope() = 'all') WITH CHECK (riskmap_scope() = 'all')"
    )
    op.execute(
        f"ALTER TABLE outbox_attempts ENABLE ROW LEVEL SECURITY; "
        f"CREATE POLICY outbox_attempts_jurisdiction ON outbox_attempts TO {APP_ROLE} "
        f"USING (outbox_id IN (SELECT id FROM outbox)) WITH CHECK (outbox_id IN (SELECT id FROM outbox))"
    )
    for name in _partitions():
        op.execute(f'REVOKE ALL ON "{name}" FROM {APP_ROLE}, {PUBLIC_ROLE}')
    op.execute(ENSURE_PARTITIONS)
    for table, predicate in UNANNOUNCED.items():
        op.execute(
            f"DROP POLICY {table}_jurisdiction ON {table}; "
            f"CREATE POLICY {table}_jurisdiction ON {table} USING ({predicate}) WITH CHECK ({predicate})"
        )


def downgrade() -> None:
    for table in UNANNOUNCED:
        op.execute(
            f"DROP POLICY {table}_jurisdiction ON {table}; "
            f"CREATE POLICY {table}_jurisdiction ON {table} USING ({SITE}) WITH CHECK ({SITE})"
        )
    for name in _partitions():
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{name}" TO {APP_ROLE}')
    op.execute(
        "DROP POLICY outbox_attempts_jurisdiction ON outbox_attempts; "
        "ALTER TABLE outbox_attempts DISABLE ROW LEVEL SECURITY; "
        "DROP POLICY webhooks_platform ON webhooks; ALTER TABLE webhooks DISABLE ROW LEVEL SECURITY"
    )
    for table in (*PUBLISHED_WITH_RLS, "gateways"):
        op.execute(f"DROP POLICY {table}_published ON {table}")
    op.execute(
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {PUBLIC_ROLE}; "
        f"REVOKE USAGE ON SCHEMA public FROM {PUBLIC_ROLE}"
    )  # the role itself stays: it is cluster-wide, and other databases may use it
    # riskmap_ensure_reading_partitions keeps its revoke: harmless without the role's grants above.
