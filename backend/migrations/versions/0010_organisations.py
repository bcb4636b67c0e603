"""Organisations: one 应急管理局 per region and one per enterprise, kept in step by triggers; tokens
scoped to an organisation.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 11:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The predicates row-level security policies use (backend/core/jurisdiction.py sets the settings
# they read, per transaction). riskmap_site_visible is SECURITY DEFINER so that a policy on a
# site's child table does not recurse through the sites table's own policy.
VISIBILITY = """
CREATE FUNCTION riskmap_scope() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('riskmap.scope', true), ''), 'public') $$;

CREATE FUNCTION riskmap_region_visible(adcode text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE riskmap_scope()
    WHEN 'all' THEN true
    WHEN 'region' THEN coalesce(current_setting('riskmap.region', true), '') <> ''
                       AND adcode LIKE current_setting('riskmap.region', true) || '%'
    ELSE false END $$;

CREATE FUNCTION riskmap_enterprise_visible(enterprise_id integer, adcode text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT CASE riskmap_scope()
    WHEN 'enterprise' THEN enterprise_id = nullif(current_setting('riskmap.enterprise', true), '')::integer
    ELSE riskmap_region_visible(adcode) END $$;

CREATE FUNCTION riskmap_site_visible(site integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM sites s WHERE s.id = site
                 AND riskmap_enterprise_visible(s.enterprise_id, s.region_adcode)) $$;
"""
DROP_VISIBILITY = """
DROP FUNCTION riskmap_site_visible(integer); DROP FUNCTION riskmap_enterprise_visible(integer, text);
DROP FUNCTION riskmap_region_visible(text); DROP FUNCTION riskmap_scope();
"""

BUREAU_NAME = """CASE WHEN r.level = 'province' THEN replace(r.name, '吉林省', '吉林省应急管理厅')
    ELSE r.name || '应急管理局' END"""


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "region_adcode",
            sa.String(6),
            sa.ForeignKey("regions.adcode", name="fk_organisations_region_adcode_regions"),
            nullable=False,
        ),
        sa.Column(
            "enterprise_id",
            sa.Integer(),
            sa.ForeignKey("enterprises.id", ondelete="CASCADE", name="fk_organisations_enterprise_id_enterprises"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('bureau', 'department', 'enterprise')", name="ck_organisations_kind_known"),
        sa.CheckConstraint(
            "(kind = 'enterprise') = (enterprise_id IS NOT NULL)", name="ck_organisations_enterprise_iff_kind"
        ),
        sa.UniqueConstraint("code", name="uq_organisations_code"),
        sa.UniqueConstraint("enterprise_id", name="uq_organisations_enterprise_id"),
    )
    op.create_index("ix_organisations_kind", "organisations", ["kind"])
    op.create_index("ix_organisations_region_adcode", "organisations", ["region_adcode"])
    op.add_column(
        "api_tokens",
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisations.id", name="fk_api_tokens_org_id_organisations")),
    )
    op.create_index("ix_api_tokens_org_id", "api_tokens", ["org_id"])
    op.execute(
        f"""
        CREATE FUNCTION riskmap_region_bureau() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO organisations (code, name, kind, region_adcode)
          SELECT r.adcode, {BUREAU_NAME}, 'bureau', r.adcode FROM (SELECT NEW.*) r
          ON CONFLICT (code) DO NOTHING;
          RETURN NEW;
        END $$;
        CREATE TRIGGER regions_bureau AFTER INSERT ON regions
          FOR EACH ROW EXECUTE FUNCTION riskmap_region_bureau();

        CREATE FUNCTION riskmap_enterprise_org() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            INSERT INTO organisations (code, name, kind, region_adcode, enterprise_id)
            VALUES (NEW.credit_code, NEW.name, 'enterprise', NEW.region_adcode, NEW.id)
            ON CONFLICT (code) DO NOTHING;
          ELSE
            UPDATE organisations SET code = NEW.credit_code, name = NEW.name, region_adcode = NEW.region_adcode
             WHERE enterprise_id = NEW.id;
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER enterprises_org AFTER INSERT OR UPDATE OF credit_code, name, region_adcode ON enterprises
          FOR EACH ROW EXECUTE FUNCTION riskmap_enterprise_org();

        INSERT INTO organisations (code, name, kind, region_adcode)
          SELECT r.adcode, {BUREAU_NAME}, 'bureau', r.adcode FROM regions r;
        INSERT INTO organisations (code, name, kind, region_adcode, enterprise_id)
          SELECT credit_code, name, 'enterprise', region_adcode, id FROM enterprises;
        """
    )
    op.execute(VISIBILITY)


def downgrade() -> None:
    op.execute(DROP_VISIBILITY)
    op.execute("DROP TRIGGER enterprises_org ON enterprises; DROP FUNCTION riskmap_enterprise_org();")
    op.execute("DROP TRIGGER regions_bureau ON regions; DROP FUNCTION riskmap_region_bureau();")
    op.drop_index("ix_api_tokens_org_id", table_name="api_tokens")
    op.drop_column("api_tokens", "org_id")
    op.drop_table("organisations")
