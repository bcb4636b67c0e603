"""A site that cannot be graded keeps its last level and says why; one never graded has no level.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 09:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("site_risk", sa.Column("grading_error", sa.String(length=500), nullable=True))
    op.add_column("site_risk", sa.Column("grading_error_at", sa.DateTime(timezone=True), nullable=True))
    for column in ("inherent_level", "level"):
        op.alter_column("site_risk", column, existing_type=sa.Integer(), nullable=True)
    op.alter_column("site_risk", "color", existing_type=sa.String(length=8), nullable=True)
    op.alter_column("site_risk", "graded_at", existing_type=sa.DateTime(timezone=True), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM site_risk WHERE level IS NULL")
    op.alter_column("site_risk", "graded_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.alter_column("site_risk", "color", existing_type=sa.String(length=8), nullable=False)
    for column in ("inherent_level", "level"):
        op.alter_column("site_risk", column, existing_type=sa.Integer(), nullable=False)
    op.drop_column("site_risk", "grading_error_at")
    op.drop_column("site_risk", "grading_error")
