"""The register: regions, enterprises, sites, exposed places, gateways, sensors, readings,
tokens and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 07:53:12.349291
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


ENSURE_PARTITIONS = """
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
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$;
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_key", sa.String(length=64), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"], unique=False)
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_entity"), "audit_log", ["entity"], unique=False)
    op.create_index(op.f("ix_audit_log_entity_key"), "audit_log", ["entity_key"], unique=False)
    op.create_table(
        "exposed_features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposed_features")),
        sa.UniqueConstraint("code", name=op.f("uq_exposed_features_code")),
    )
    op.create_index(
        "ix_exposed_features_geom",
        "exposed_features",
        ["geom"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(op.f("ix_exposed_features_kind"), "exposed_features", ["kind"], unique=False)
    op.create_table(
        "readings",
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("sensor_id", "ts", name=op.f("pk_readings")),
        postgresql_partition_by="RANGE (ts)",
    )
    # Monthly partitions, a default one so that no reading is ever refused for its date,
    # and a function the platform calls to keep partitions ahead of time.
    op.execute("CREATE TABLE readings_default PARTITION OF readings DEFAULT")
    op.execute(ENSURE_PARTITIONS)
    op.execute("SELECT riskmap_ensure_reading_partitions(date_trunc('month', now()) - interval '1 month', 14)")
    op.create_table(
        "regions",
        sa.Column("adcode", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_adcode", sa.String(length=6), nullable=True),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["parent_adcode"], ["regions.adcode"], name=op.f("fk_regions_parent_adcode_regions")),
        sa.PrimaryKeyConstraint("adcode", name=op.f("pk_regions")),
    )
    op.create_index("ix_regions_boundary", "regions", ["boundary"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_regions_level"), "regions", ["level"], unique=False)
    op.create_index(op.f("ix_regions_parent_adcode"), "regions", ["parent_adcode"], unique=False)
    op.create_table(
        "enterprises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("industry", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column("credit_list", sa.String(length=8), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["region_adcode"], ["regions.adcode"], name=op.f("fk_enterprises_region_adcode_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_enterprises_credit_code")),
    )
    op.create_index(op.f("ix_enterprises_region_adcode"), "enterprises", ["region_adcode"], unique=False)
    op.create_index(op.f("ix_enterprises_status"), "enterprises", ["status"], unique=False)
    op.create_table(
        "exposed_places",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("population >= 0", name=op.f("ck_exposed_places_population_nonnegative")),
        sa.ForeignKeyConstraint(
            ["region_adcode"],
            ["regions.adcode"],
            name=op.f("fk_exposed_places_region_adcode_regions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposed_places")),
        sa.UniqueConstraint("code", name=op.f("uq_exposed_places_code")),
    )
    op.create_index("ix_exposed_places_geom", "exposed_places", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_exposed_places_kind"), "exposed_places", ["kind"], unique=False)
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "footprint",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"], name=op.f("fk_sites_enterprise_id_enterprises")),
        sa.ForeignKeyConstraint(["region_adcode"], ["regions.adcode"], name=op.f("fk_sites_region_adcode_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("code", name=op.f("uq_sites_code")),
    )
    op.create_index(op.f("ix_sites_enterprise_id"), "sites", ["enterprise_id"], unique=False)
    op.create_index("ix_sites_footprint", "sites", ["footprint"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_sites_kind"), "sites", ["kind"], unique=False)
    op.create_index("ix_sites_location", "sites", ["location"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_sites_region_adcode"), "sites", ["region_adcode"], unique=False)
    op.create_table(
        "coal_mines",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("gas_class", sa.String(length=16), nullable=False),
        sa.Column("hydrogeology", sa.String(length=24), nullable=False),
        sa.Column("capacity_10k_t", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_coal_mines_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_coal_mines")),
    )
    op.create_table(
        "gateways",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_gateways_site_id_sites"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateways")),
    )
    op.create_index(op.f("ix_gateways_site_id"), "gateways", ["site_id"], unique=False)
    op.create_table(
        "inventory_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("substance", sa.String(length=64), nullable=False),
        sa.Column("cas", sa.String(length=16), nullable=True),
        sa.Column("max_quantity_t", sa.Float(), nullable=False),
        sa.CheckConstraint("max_quantity_t > 0", name=op.f("ck_inventory_items_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_inventory_items_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_items")),
        sa.UniqueConstraint("site_id", "substance", name="uq_inventory_site_substance"),
    )
    op.create_index(op.f("ix_inventory_items_site_id"), "inventory_items", ["site_id"], unique=False)
    op.create_table(
        "noncoal_mines",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("mining_method", sa.String(length=16), nullable=False),
        sa.Column("mineral", sa.String(length=32), nullable=False),
        sa.Column("capacity_10k_t", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_noncoal_mines_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_noncoal_mines")),
    )
    op.create_table(
        "tailings_ponds",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("capacity_10k_m3", sa.Float(), nullable=False),
        sa.Column("dam_height_m", sa.Float(), nullable=False),
        sa.Column("dam_type", sa.String(length=16), nullable=False),
        sa.Column("wet", sa.Boolean(), nullable=False),
        sa.Column("downstream_bearing_deg", sa.Float(), nullable=False),
        sa.Column(
            "downstream_zone",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint("capacity_10k_m3 >= 0", name=op.f("ck_tailings_ponds_capacity_nonnegative")),
        sa.CheckConstraint("dam_height_m >= 0", name=op.f("ck_tailings_ponds_dam_height_nonnegative")),
        sa.CheckConstraint(
            "downstream_bearing_deg >= 0 AND downstream_bearing_deg < 360",
            name=op.f("ck_tailings_ponds_bearing_range"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_tailings_ponds_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_tailings_ponds")),
    )
    op.create_index(
        "ix_tailings_ponds_downstream_zone",
        "tailings_ponds",
        ["downstream_zone"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_table(
        "sensors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("location_label", sa.String(length=64), nullable=False),
        sa.Column("substance", sa.String(length=32), nullable=True),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("thresholds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f("fk_sensors_gateway_id_gateways")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_sensors_site_id_sites"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensors")),
        sa.UniqueConstraint("code", name=op.f("uq_sensors_code")),
    )
    op.create_index(op.f("ix_sensors_gateway_id"), "sensors", ["gateway_id"], unique=False)
    op.create_index("ix_sensors_geom", "sensors", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_sensors_kind"), "sensors", ["kind"], unique=False)
    op.create_index(op.f("ix_sensors_site_id"), "sensors", ["site_id"], unique=False)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS riskmap_ensure_reading_partitions(timestamptz, int)")
    op.drop_index(op.f("ix_sensors_site_id"), table_name="sensors")
    op.drop_index(op.f("ix_sensors_kind"), table_name="sensors")
    op.drop_index("ix_sensors_geom", table_name="sensors", postgresql_using="gist")
    op.drop_index(op.f("ix_sensors_gateway_id"), table_name="sensors")
    op.drop_table("sensors")
    op.drop_index("ix_tailings_ponds_downstream_zone", table_name="tailings_ponds", postgresql_using="gist")
    op.drop_table("tailings_ponds")
    op.drop_table("noncoal_mines")
    op.drop_index(op.f("ix_inventory_items_site_id"), table_name="inventory_items")
    op.drop_table("inventory_items")
    op.drop_index(op.f("ix_gateways_site_id"), table_name="gateways")
    op.drop_table("gateways")
    op.drop_table("coal_mines")
    op.drop_index(op.f("ix_sites_region_adcode"), table_name="sites")
    op.drop_index("ix_sites_location", table_name="sites", postgresql_using="gist")
    op.drop_index(op.f("ix_sites_kind"), table_name="sites")
    op.drop_index("ix_sites_footprint", table_name="sites", postgresql_using="gist")
    op.drop_index(op.f("ix_sites_enterprise_id"), table_name="sites")
    op.drop_table("sites")
    op.drop_index(op.f("ix_exposed_places_kind"), table_name="exposed_places")
    op.drop_index("ix_exposed_places_geom", table_name="exposed_places", postgresql_using="gist")
    op.drop_table("exposed_places")
    op.drop_index(op.f("ix_enterprises_status"), table_name="enterprises")
    op.drop_index(op.f("ix_enterprises_region_adcode"), table_name="enterprises")
    op.drop_table("enterprises")
    op.drop_index(op.f("ix_regions_parent_adcode"), table_name="regions")
    op.drop_index(op.f("ix_regions_level"), table_name="regions")
    op.drop_index("ix_regions_boundary", table_name="regions", postgresql_using="gist")
    op.drop_table("regions")
    op.drop_table("readings")
    op.drop_index(op.f("ix_exposed_features_kind"), table_name="exposed_features")
    op.drop_index("ix_exposed_features_geom", table_name="exposed_features", postgresql_using="gist")
    op.drop_table("exposed_features")
    op.drop_index(op.f("ix_audit_log_entity_key"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_entity"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
