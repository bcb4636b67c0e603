"""Monitoring: dead letters (rejected input kept with its reason), alarm transitions,
gateway status from birth and Last Will messages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:25:45.316853
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reading_index", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("ingester", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index(op.f("ix_dead_letters_reason"), "dead_letters", ["reason"], unique=False)
    op.create_index(op.f("ix_dead_letters_received_at"), "dead_letters", ["received_at"], unique=False)
    op.create_table(
        "alarm_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("color", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("actor", sa.String(length=64), server_default="system", nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], name=op.f("fk_alarm_events_alarm_id_alarms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_events")),
    )
    op.create_index(op.f("ix_alarm_events_alarm_id"), "alarm_events", ["alarm_id"], unique=False)
    op.add_column("gateways", sa.Column("status", sa.String(length=8), nullable=True))
    op.add_column("gateways", sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("gateways", "status_at")
    op.drop_column("gateways", "status")
    op.drop_index(op.f("ix_alarm_events_alarm_id"), table_name="alarm_events")
    op.drop_table("alarm_events")
    op.drop_index(op.f("ix_dead_letters_received_at"), table_name="dead_letters")
    op.drop_index(op.f("ix_dead_letters_reason"), table_name="dead_letters")
    op.drop_table("dead_letters")
