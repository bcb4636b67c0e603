"""Ingest hardening: ingesters' heartbeats for /healthz; dead letters carry their gateway, their
original size and whether an operator replayed them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The columns the ingester's register cache holds: updates of other columns (a sensor's last
# reading, a gateway's status) happen on every batch and must not wake anyone.
REGISTER_TABLES = {
    "gateways": "id, site_id",
    "sensors": "code, site_id, gateway_id, kind, unit, interval_s, thresholds",
    "sites": "code, kind, enterprise_id",
    "enterprises": "status",
}


def upgrade() -> None:
    op.create_table(
        "ingester_status",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("lag_s", sa.Double(), nullable=False),
        sa.Column("stats", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ingester_status")),
    )
    op.add_column("dead_letters", sa.Column("gateway_id", sa.String(length=64), nullable=True))
    op.add_column("dead_letters", sa.Column("payload_size", sa.Integer(), nullable=True))
    op.add_column("dead_letters", sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("dead_letters", sa.Column("replay_result", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_dead_letters_gateway_id"), "dead_letters", ["gateway_id"], unique=False)
    # Ingesters cache the register; tell them at once when it changes (a gateway just added).
    op.execute("""
        CREATE FUNCTION riskmap_register_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('riskmap_register', TG_TABLE_NAME);
            RETURN NULL;
        END $$""")
    for table, columns in REGISTER_TABLES.items():
        op.execute(
            f"CREATE TRIGGER {table}_register_changed AFTER INSERT OR DELETE OR UPDATE OF {columns} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION riskmap_register_changed()"
        )


def downgrade() -> None:
    for table in REGISTER_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_register_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS riskmap_register_changed()")
    op.drop_index(op.f("ix_dead_letters_gateway_id"), table_name="dead_letters")
    for column in ("replay_result", "replayed_at", "payload_size", "gateway_id"):
        op.drop_column("dead_letters", column)
    op.drop_table("ingester_status")
