"""Credit lists (吉政发〔2018〕26号 九, 定期公告): 黑名单 / 红名单 entries with reason, decision, dates and
removal, never deleted. Row-level security: every entry is public (its announcement is), writing is
bound to the jurisdiction of the enterprise's county (the county or an enclosing prefecture or the
province).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25 14:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

REGION = "riskmap_region_visible(region_adcode)"
# A write names the enterprise's own county (as the caller sees the enterprise): an entry cannot be
# filed under the caller's county for an enterprise of another.
WRITE = f"{REGION} AND region_adcode = (SELECT e.region_adcode FROM enterprises e WHERE e.id = enterprise_id)"


def upgrade() -> None:
    op.create_table(
        "credit_list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("enterprise_name", sa.String(length=128), nullable=False),
        sa.Column("list", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("basis", sa.String(length=200), server_default="", nullable=False),
        sa.Column("document_no", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
        sa.Column("ended", sa.String(length=8), nullable=True),
        sa.Column("created_by", sa.String(length=96), nullable=False),
        sa.Column("removed_by", sa.String(length=96), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("list IN ('black', 'red')", name=op.f("ck_credit_list_entries_list_known")),
        sa.CheckConstraint("length(btrim(reason)) > 0", name=op.f("ck_credit_list_entries_reason_given")),
        sa.CheckConstraint("length(btrim(document_no)) > 0", name=op.f("ck_credit_list_entries_document_given")),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until >= listed_on", name=op.f("ck_credit_list_entries_valid_after_listed")
        ),
        sa.CheckConstraint(
            "removed_on IS NULL OR removed_on >= listed_on", name=op.f("ck_credit_list_entries_removed_after_listed")
        ),
        sa.CheckConstraint(
            "(removed_on IS NULL) = (removal_reason IS NULL) AND (removed_on IS NULL) = (ended IS NULL)",
            name=op.f("ck_credit_list_entries_removal_complete"),
        ),
        sa.CheckConstraint(
            "ended IS NULL OR ended IN ('removed', 'expired')", name=op.f("ck_credit_list_entries_ended_known")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_credit_list_entries_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_credit_list_entries_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["region_adcode"], ["regions.adcode"], name=op.f("fk_credit_list_entries_region_adcode_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_list_entries")),
    )
    op.create_index(
        op.f("ix_credit_list_entries_enterprise_id"), "credit_list_entries", ["enterprise_id"], unique=False
    )
    op.create_index(op.f("ix_credit_list_entries_list"), "credit_list_entries", ["list"], unique=False)
    op.create_index(
        op.f("ix_credit_list_entries_region_adcode"), "credit_list_entries", ["region_adcode"], unique=False
    )
    op.create_index(
        "uq_credit_list_entries_active",
        "credit_list_entries",
        ["enterprise_id", "list"],
        unique=True,
        postgresql_where=sa.text("removed_on IS NULL"),
    )
    # Public like the draws (一公开): anyone reads; writing only within the caller's jurisdiction.
    # Enabled, not FORCEd: the platform's own jobs (the expiry sweep, the sample) run as the owner (0012).
    # No DELETE policy: an entry is never deleted (row-level security then refuses every delete).
    op.execute(
        "ALTER TABLE credit_list_entries ENABLE ROW LEVEL SECURITY; "
        "CREATE POLICY credit_list_entries_public ON credit_list_entries FOR SELECT USING (true); "
        f"CREATE POLICY credit_list_entries_insert ON credit_list_entries FOR INSERT WITH CHECK ({WRITE}); "
        "CREATE POLICY credit_list_entries_update ON credit_list_entries FOR UPDATE "
        f"USING ({REGION}) WITH CHECK ({WRITE});"
    )


def downgrade() -> None:
    op.execute(
        "DROP POLICY credit_list_entries_update ON credit_list_entries; "
        "DROP POLICY credit_list_entries_insert ON credit_list_entries; "
        "DROP POLICY credit_list_entries_public ON credit_list_entries;"
    )
    op.drop_index("uq_credit_list_entries_active", table_name="credit_list_entries")
    op.drop_index(op.f("ix_credit_list_entries_region_adcode"), table_name="credit_list_entries")
    op.drop_index(op.f("ix_credit_list_entries_list"), table_name="credit_list_entries")
    op.drop_index(op.f("ix_credit_list_entries_enterprise_id"), table_name="credit_list_entries")
    op.drop_table("credit_list_entries")
