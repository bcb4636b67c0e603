"""Risk engine: site levels and their history; alarms, hidden hazards and weather warnings
that raise them; the downstream-sector function.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:09:05.391151
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


SECTOR = """
CREATE OR REPLACE FUNCTION riskmap_sector(
    center geometry, bearing_deg double precision, radius_m double precision,
    half_angle_deg double precision)
RETURNS geometry LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- A fan of radius_m around bearing_deg (0 = north), vertices every 2 degrees on the
    -- ellipsoid, the bearing itself among them: the 1 km downstream zone of a tailings dam.
    SELECT ST_SetSRID(ST_MakePolygon(ST_MakeLine(
        ARRAY[center]
        || ARRAY(SELECT ST_Project(center::geography, radius_m, radians(bearing_deg + a))::geometry
                 FROM generate_series(-half_angle_deg::numeric, half_angle_deg::numeric, 2) AS a)
        || ARRAY[center])), 4326)
$$;
"""


def upgrade() -> None:
    op.execute(SECTOR)
    op.create_table(
        "weather_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=128), nullable=False),
        sa.Column("sender", sa.String(length=128), server_default="", nullable=False),
        sa.Column("event", sa.String(length=64), server_default="暴雨", nullable=False),
        sa.Column("color", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="Actual", nullable=False),
        sa.Column(
            "area",
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
        sa.Column("adcodes", postgresql.ARRAY(sa.String(length=6)), server_default="{}", nullable=False),
        sa.Column("onset", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weather_warnings")),
        sa.UniqueConstraint("identifier", name=op.f("uq_weather_warnings_identifier")),
    )
    op.create_index(
        "ix_weather_warnings_area",
        "weather_warnings",
        ["area"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_table(
        "hidden_hazards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rectified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_hidden_hazards_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hidden_hazards")),
    )
    op.create_index(op.f("ix_hidden_hazards_site_id"), "hidden_hazards", ["site_id"], unique=False)
    op.create_table(
        "site_risk",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("inherent_level", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("color", sa.String(length=8), nullable=False),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_site_risk_site_id_sites"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_risk")),
    )
    op.create_index(op.f("ix_site_risk_level"), "site_risk", ["level"], unique=False)
    op.create_table(
        "site_risk_history",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_level", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_site_risk_history_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_risk_history")),
    )
    op.create_index(op.f("ix_site_risk_history_site_id"), "site_risk_history", ["site_id"], unique=False)
    op.create_table(
        "alarms",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=True),
        sa.Column("gateway_id", sa.String(length=48), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("color", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("message", sa.String(length=256), server_default="", nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("ack_comment", sa.String(length=500), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.id"],
            name=op.f("fk_alarms_gateway_id_gateways"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sensor_id"],
            ["sensors.id"],
            name=op.f("fk_alarms_sensor_id_sensors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_alarms_site_id_sites"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    op.create_index(op.f("ix_alarms_site_id"), "alarms", ["site_id"], unique=False)
    op.create_index(op.f("ix_alarms_state"), "alarms", ["state"], unique=False)
    op.create_index(
        "uq_alarms_open_key",
        "alarms",
        ["key"],
        unique=True,
        postgresql_where=sa.text("state IN ('raised', 'acknowledged')"),
    )
    op.add_column("sensors", sa.Column("last_reading_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("sensors", sa.Column("last_value", sa.Double(), nullable=True))


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS riskmap_sector(geometry, float8, float8, float8)")
    op.drop_column("sensors", "last_value")
    op.drop_column("sensors", "last_reading_at")
    op.drop_index(
        "uq_alarms_open_key",
        table_name="alarms",
        postgresql_where=sa.text("state IN ('raised', 'acknowledged')"),
    )
    op.drop_index(op.f("ix_alarms_state"), table_name="alarms")
    op.drop_index(op.f("ix_alarms_site_id"), table_name="alarms")
    op.drop_table("alarms")
    op.drop_index(op.f("ix_site_risk_history_site_id"), table_name="site_risk_history")
    op.drop_table("site_risk_history")
    op.drop_index(op.f("ix_site_risk_level"), table_name="site_risk")
    op.drop_table("site_risk")
    op.drop_index(op.f("ix_hidden_hazards_site_id"), table_name="hidden_hazards")
    op.drop_table("hidden_hazards")
    op.drop_index("ix_weather_warnings_area", table_name="weather_warnings", postgresql_using="gist")
    op.drop_table("weather_warnings")
