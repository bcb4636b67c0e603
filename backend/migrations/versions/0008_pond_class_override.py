"""Tailings pond class overrides: the GB 50863-2013 §3.2.1 upgrade by one class, recorded by an
operator with its reason.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pond_class_overrides",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("from_class", sa.SmallInteger(), nullable=False),
        sa.Column("to_class", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("from_class BETWEEN 2 AND 5", name=op.f("ck_pond_class_overrides_from_class_range")),
        sa.CheckConstraint("to_class = from_class - 1", name=op.f("ck_pond_class_overrides_one_class_up")),
        sa.CheckConstraint("length(btrim(reason)) > 0", name=op.f("ck_pond_class_overrides_reason_given")),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_pond_class_overrides_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_pond_class_overrides")),
    )


def downgrade() -> None:
    op.drop_table("pond_class_overrides")
