"""Hidden hazards from discovery to 销号: states, grading by the criteria, rectification plan,
挂牌督办, acceptance; their events and files; row-level security on all three tables.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25 11:30:00
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("hazard_events", "hazard_files")  # hidden_hazards has its policy since 0012

COLUMNS = [
    sa.Column("unit_id", sa.Integer(), nullable=True),
    sa.Column("sensor_id", sa.Integer(), nullable=True),
    sa.Column("description", sa.Text(), server_default="", nullable=False),
    sa.Column("criterion", sa.String(48), nullable=True),
    sa.Column("major_reason", sa.Text(), nullable=True),
    sa.Column("state", sa.String(16), server_default="reported", nullable=False),
    sa.Column("found_by", sa.String(16), server_default="inspection", nullable=False),
    sa.Column("reported_by", sa.String(128), server_default="", nullable=False),
    sa.Column(
        "location",
        geoalchemy2.types.Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
        nullable=True,
    ),
    sa.Column("measures", sa.Text(), nullable=True),
    sa.Column("funds_yuan", sa.Double(), nullable=True),
    sa.Column("responsible", sa.String(64), nullable=True),
    sa.Column("supervised_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("order_no", sa.String(64), nullable=True),
    sa.Column("supervising_org_id", sa.Integer(), nullable=True),
    sa.Column("interim_measures", postgresql.ARRAY(sa.String(16)), server_default="{}", nullable=False),
    sa.Column("status_before", sa.String(16), nullable=True),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("review_deadline", sa.DateTime(timezone=True), nullable=True),
    sa.Column("inspectors", sa.String(256), nullable=True),
    sa.Column("accepted_on", sa.DateTime(timezone=True), nullable=True),
    sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("escalation", sa.Integer(), server_default="0", nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
]


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("hidden_hazards", column)
    op.create_foreign_key(
        op.f("fk_hidden_hazards_unit_id_hazard_units"),
        "hidden_hazards",
        "hazard_units",
        ["unit_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_hidden_hazards_sensor_id_sensors"),
        "hidden_hazards",
        "sensors",
        ["sensor_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_hidden_hazards_supervising_org_id_organisations"),
        "hidden_hazards",
        "organisations",
        ["supervising_org_id"],
        ["id"],
    )
    op.create_index(op.f("ix_hidden_hazards_state"), "hidden_hazards", ["state"])
    op.create_index("ix_hidden_hazards_location", "hidden_hazards", ["location"], postgresql_using="gist")
    # Hazards recorded before the lifecycle: a rectified one is closed (销号), the rest confirmed.
    op.execute("UPDATE hidden_hazards SET state = CASE WHEN rectified_at IS NULL THEN 'confirmed' ELSE 'closed' END")

    op.create_table(
        "hazard_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("hazard_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(24), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("attachments", postgresql.ARRAY(sa.Integer()), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(
            ["hazard_id"],
            ["hidden_hazards.id"],
            name=op.f("fk_hazard_events_hazard_id_hidden_hazards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_hazard_events_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_events")),
    )
    op.create_index(op.f("ix_hazard_events_hazard_id"), "hazard_events", ["hazard_id"])
    op.create_index(op.f("ix_hazard_events_site_id"), "hazard_events", ["site_id"])
    op.create_table(
        "hazard_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hazard_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(128), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["hazard_id"],
            ["hidden_hazards.id"],
            name=op.f("fk_hazard_files_hazard_id_hidden_hazards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_hazard_files_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_files")),
    )
    op.create_index(op.f("ix_hazard_files_hazard_id"), "hazard_files", ["hazard_id"])
    op.create_index(op.f("ix_hazard_files_site_id"), "hazard_files", ["site_id"])
    for table in TABLES:
        # Enabled, not FORCEd: the platform's own jobs connect as the owner and see everything (0012).
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_jurisdiction ON {table} "
            "USING (riskmap_site_visible(site_id)) WITH CHECK (riskmap_site_visible(site_id))"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS {table}_jurisdiction ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.drop_table("hazard_files")
    op.drop_table("hazard_events")
    op.drop_index("ix_hidden_hazards_location", table_name="hidden_hazards")
    op.drop_index(op.f("ix_hidden_hazards_state"), table_name="hidden_hazards")
    op.drop_constraint(op.f("fk_hidden_hazards_supervising_org_id_organisations"), "hidden_hazards", type_="foreignkey")
    op.drop_constraint(op.f("fk_hidden_hazards_sensor_id_sensors"), "hidden_hazards", type_="foreignkey")
    op.drop_constraint(op.f("fk_hidden_hazards_unit_id_hazard_units"), "hidden_hazards", type_="foreignkey")
    for column in reversed(COLUMNS):
        op.drop_column("hidden_hazards", column.name)
