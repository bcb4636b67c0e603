"""Row-level security: every jurisdiction-bound table filtered by the caller's scope, for the role the
API's transactions run as (riskmap_app); audit entries carry the region and enterprise they are about.

The API switches to riskmap_app (SET LOCAL ROLE, backend/core/jurisdiction.py) at the start of each
transaction of a session bound to a principal. riskmap_app is neither superuser, nor owner of the
tables, nor BYPASSRLS, so the policies below bind it. The platform's own jobs (ingester, grading,
delivery worker, CLI) connect as the owner and are never bound: RLS is enabled but not FORCEd, so the
owner bypasses it, by design.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

APP_ROLE = "riskmap_app"

# Roles are cluster-wide: made once, whatever the number of databases migrated in the cluster.
ROLE = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
  END IF;
  IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
    EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO {APP_ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE};
"""

# Predicates beyond those of 0010. SECURITY DEFINER ones read the tables they name without those
# tables' own policies (no recursion); the others are plain SQL the planner inlines.
PREDICATES = """
CREATE FUNCTION riskmap_enterprise_row_visible(e integer, adcode text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT riskmap_enterprise_visible(e, adcode)
      OR (riskmap_scope() = 'region' AND EXISTS (
            SELECT 1 FROM sites s WHERE s.enterprise_id = e AND riskmap_region_visible(s.region_adcode))) $$;

CREATE FUNCTION riskmap_visible_sensors() RETURNS SETOF integer
LANGUAGE sql STABLE SECURITY DEFINER ROWS 5000 SET search_path = public, pg_temp AS $$
  SELECT se.id FROM sensors se JOIN sites s ON s.id = se.site_id
   WHERE riskmap_enterprise_visible(s.enterprise_id, s.region_adcode) $$;

-- A broadcast row by its own columns (its policy: a new row is not yet there to look up).
CREATE FUNCTION riskmap_broadcast_row_visible(b integer, issuing text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT riskmap_scope() = 'all'
      OR (riskmap_scope() = 'region' AND riskmap_region_visible(issuing))
      OR EXISTS (SELECT 1 FROM broadcast_recipients r WHERE r.broadcast_id = b
                 AND riskmap_site_visible(r.site_id)) $$;

-- A broadcast by its id (for the policies of the rows that hang on it).
CREATE FUNCTION riskmap_broadcast_visible(b integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM broadcasts x
                 WHERE x.id = b AND riskmap_broadcast_row_visible(x.id, x.issuing_adcode)) $$;
"""
DROP_PREDICATES = """
DROP FUNCTION riskmap_broadcast_visible(integer); DROP FUNCTION riskmap_broadcast_row_visible(integer, text);
DROP FUNCTION riskmap_enterprise_row_visible(integer, text);
DROP FUNCTION riskmap_visible_sensors();
"""

SITE = "riskmap_site_visible(site_id)"
# table -> the policy's predicate (USING and WITH CHECK alike)
POLICIES: dict[str, str] = {
    "enterprises": "riskmap_enterprise_row_visible(id, region_adcode)",
    "sites": "riskmap_enterprise_visible(enterprise_id, region_adcode)",
    **{
        t: SITE
        for t in (
            "tailings_ponds",
            "coal_mines",
            "noncoal_mines",
            "hazard_units",
            "inventory_items",
            "pond_class_overrides",
            "gateways",
            "sensors",
            "alarms",
            "site_risk",
            "site_risk_history",
            "hidden_hazards",
            "broadcast_recipients",
        )
    },
    # The big table: a semi-join on the caller's visible sensors, found once per query by one join
    # (sites x sensors) rather than a function call per reading (figures in docs/jurisdiction.md).
    "readings": "sensor_id IN (SELECT riskmap_visible_sensors())",
    "dead_letters": "riskmap_scope() = 'all' OR gateway_id IN (SELECT id FROM gateways)",
    "alarm_events": "alarm_id IN (SELECT id FROM alarms)",
    "broadcasts": "riskmap_broadcast_row_visible(id, issuing_adcode)",
    "broadcast_events": (
        "riskmap_broadcast_visible(broadcast_id) AND (recipient_id IS NULL "
        "OR recipient_id IN (SELECT id FROM broadcast_recipients))"
    ),
    "sms_outbox": "riskmap_scope() = 'all' OR recipient_id IN (SELECT id FROM broadcast_recipients)",
    "outbox": (
        "riskmap_scope() = 'all' OR CASE WHEN recipient_id IS NOT NULL "
        "THEN recipient_id IN (SELECT id FROM broadcast_recipients) "
        "ELSE broadcast_id IS NOT NULL AND riskmap_broadcast_visible(broadcast_id) END"
    ),
    "audit_log": "riskmap_scope() = 'all' OR riskmap_enterprise_visible(enterprise_id, region_adcode)",
    "organisations": "riskmap_enterprise_visible(enterprise_id, region_adcode)",
    "api_tokens": "riskmap_scope() = 'all' OR org_id IN (SELECT id FROM organisations)",
}


def upgrade() -> None:
    # Audit entries say whose rows they are about (backend/core/audit.py fills these).
    op.add_column("audit_log", sa.Column("region_adcode", sa.String(6)))
    op.add_column("audit_log", sa.Column("enterprise_id", sa.Integer()))
    op.create_index("ix_audit_log_region_adcode", "audit_log", ["region_adcode"])
    op.execute(
        """
        UPDATE audit_log a SET region_adcode = s.region_adcode, enterprise_id = s.enterprise_id
          FROM sites s WHERE a.entity = 'sites' AND a.entity_key = s.code;
        UPDATE audit_log a SET region_adcode = e.region_adcode, enterprise_id = e.id
          FROM enterprises e WHERE a.entity = 'enterprises' AND a.entity_key = e.credit_code;
        UPDATE audit_log a SET region_adcode = s.region_adcode, enterprise_id = s.enterprise_id
          FROM sensors x JOIN sites s ON s.id = x.site_id WHERE a.entity = 'sensors' AND a.entity_key = x.code;
        UPDATE audit_log a SET region_adcode = s.region_adcode, enterprise_id = s.enterprise_id
          FROM gateways g JOIN sites s ON s.id = g.site_id WHERE a.entity = 'gateways' AND a.entity_key = g.id;
        """
    )
    op.execute(ROLE)
    op.execute(PREDICATES)
    # The organisation of an enterprise follows it even where the caller cannot see the organisation.
    op.execute("ALTER FUNCTION riskmap_enterprise_org() SECURITY DEFINER SET search_path = public, pg_temp")
    for table, predicate in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        if table == "audit_log":
            # Append-only for the API: entries are written whatever they are about (a change is
            # refused elsewhere, never its record), read within the jurisdiction, never changed.
            op.execute(
                f"CREATE POLICY audit_log_jurisdiction ON audit_log FOR SELECT TO {APP_ROLE} USING ({predicate}); "
                f"CREATE POLICY audit_log_append ON audit_log FOR INSERT TO {APP_ROLE} WITH CHECK (true)"
            )
            continue
        op.execute(
            f"CREATE POLICY {table}_jurisdiction ON {table} TO {APP_ROLE} USING ({predicate}) WITH CHECK ({predicate})"
        )
    # The delivery queues are the platform's: a caller's transaction may add to them (a hazard's
    # notice to its bureau, an answer's SMS), but reads, changes and deletes stay in its jurisdiction.
    for table in QUEUES:
        op.execute(f"CREATE POLICY {table}_append ON {table} FOR INSERT TO {APP_ROLE} WITH CHECK (true)")


QUEUES = ("outbox", "sms_outbox")


def downgrade() -> None:
    for table in QUEUES:
        op.execute(f"DROP POLICY {table}_append ON {table}")
    op.execute("DROP POLICY audit_log_append ON audit_log")
    for table in POLICIES:
        op.execute(f"DROP POLICY {table}_jurisdiction ON {table}; ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("ALTER FUNCTION riskmap_enterprise_org() SECURITY INVOKER RESET search_path")
    op.execute(DROP_PREDICATES)
    op.execute(
        f"""
        ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE};
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE};
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE};
        REVOKE USAGE ON SCHEMA public FROM {APP_ROLE};
        """
    )  # the role itself stays: it is cluster-wide, and other databases may use it
    op.drop_index("ix_audit_log_region_adcode", table_name="audit_log")
    op.drop_column("audit_log", "enterprise_id")
    op.drop_column("audit_log", "region_adcode")
