"""Photos and documents of inspections (inspection_files), each optionally about one finding; the
bytes are stored content-addressed by backend/hazards/files.py, as for hidden hazards. Row-level
security as on inspections (migration 0015): a row is its site's.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

SITE = "riskmap_site_visible(site_id)"


def upgrade() -> None:
    op.create_table(
        "inspection_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("finding_index", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(128), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "finding_index IS NULL OR finding_index BETWEEN 0 AND 99",
            name=op.f("ck_inspection_files_finding_index_range"),
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_files_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_inspection_files_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_files")),
    )
    op.create_index(op.f("ix_inspection_files_inspection_id"), "inspection_files", ["inspection_id"])
    op.create_index(op.f("ix_inspection_files_site_id"), "inspection_files", ["site_id"])
    # Enabled, not FORCEd, like inspections: the platform's own jobs connect as the owner (0012).
    op.execute(
        "ALTER TABLE inspection_files ENABLE ROW LEVEL SECURITY; "
        f"CREATE POLICY inspection_files_jurisdiction ON inspection_files USING ({SITE}) WITH CHECK ({SITE});"
    )


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS inspection_files_jurisdiction ON inspection_files")
    op.drop_index(op.f("ix_inspection_files_site_id"), table_name="inspection_files")
    op.drop_index(op.f("ix_inspection_files_inspection_id"), table_name="inspection_files")
    op.drop_table("inspection_files")
