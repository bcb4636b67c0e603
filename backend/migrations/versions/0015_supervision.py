"""Supervision driven by risk: inspectors, versioned inspection plans and their visits, 双随机 draws,
inspections and enforcement actions. Every table carries region_adcode (and site_id where a site is
concerned) for row-level security.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 11:06:54.466395
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Row-level security (migration 0012): rosters, plans and their versions belong to the region of the
# bureau that keeps them; visits, inspections and enforcement to their site. Draws are public by
# design (双随机一公开: anyone may read and re-run them); only their writing is bound.
REGION = "riskmap_region_visible(region_adcode)"
SITE = "riskmap_site_visible(site_id)"
POLICIES = {
    "inspectors": REGION,
    "inspection_plans": REGION,
    "inspection_plan_versions": REGION,
    "plan_visits": SITE,
    "inspections": SITE,
    "enforcement_actions": SITE,
}


def _jurisdiction() -> None:
    for table, predicate in POLICIES.items():
        op.execute(
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; "
            f"CREATE POLICY {table}_jurisdiction ON {table} USING ({predicate}) WITH CHECK ({predicate});"
        )
    op.execute(
        "ALTER TABLE draws ENABLE ROW LEVEL SECURITY; "
        "CREATE POLICY draws_public ON draws FOR SELECT USING (true); "
        f"CREATE POLICY draws_insert ON draws FOR INSERT WITH CHECK ({REGION}); "
        f"CREATE POLICY draws_update ON draws FOR UPDATE USING ({REGION}) WITH CHECK ({REGION}); "
        f"CREATE POLICY draws_delete ON draws FOR DELETE USING ({REGION});"
    )


def upgrade() -> None:
    op.create_table(
        "inspection_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("current_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_adcode"], ["regions.adcode"], name=op.f("fk_inspection_plans_region_adcode_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_plans")),
        sa.UniqueConstraint("region_adcode", "period", name="uq_inspection_plans_region_period"),
    )
    op.create_index(op.f("ix_inspection_plans_region_adcode"), "inspection_plans", ["region_adcode"], unique=False)
    op.create_table(
        "inspectors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_no", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column("specialities", sa.ARRAY(sa.String(length=8)), nullable=False),
        sa.Column("conflicts", sa.ARRAY(sa.String(length=18)), server_default="{}", nullable=False),
        sa.Column("unavailable", sa.ARRAY(sa.Date()), server_default="{}", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_adcode"], ["regions.adcode"], name=op.f("fk_inspectors_region_adcode_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspectors")),
        sa.UniqueConstraint("certificate_no", name=op.f("uq_inspectors_certificate_no")),
    )
    op.create_index(op.f("ix_inspectors_region_adcode"), "inspectors", ["region_adcode"], unique=False)
    op.create_table(
        "inspection_plan_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=96), nullable=False),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("seed", sa.String(length=128), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("requirements", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("shortfalls", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["inspection_plans.id"],
            name=op.f("fk_inspection_plan_versions_plan_id_inspection_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_adcode"], ["regions.adcode"], name=op.f("fk_inspection_plan_versions_region_adcode_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_plan_versions")),
        sa.UniqueConstraint("plan_id", "version", name="uq_inspection_plan_versions_plan_version"),
    )
    op.create_index(op.f("ix_inspection_plan_versions_plan_id"), "inspection_plan_versions", ["plan_id"], unique=False)
    op.create_index(
        op.f("ix_inspection_plan_versions_region_adcode"), "inspection_plan_versions", ["region_adcode"], unique=False
    )
    op.create_table(
        "draws",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("seed", sa.String(length=128), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("drawn_by", sa.String(length=96), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["inspection_plans.id"], name=op.f("fk_draws_plan_id_inspection_plans"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["region_adcode"], ["regions.adcode"], name=op.f("fk_draws_region_adcode_regions")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["inspection_plan_versions.id"],
            name=op.f("fk_draws_version_id_inspection_plan_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draws")),
    )
    op.create_index(op.f("ix_draws_plan_id"), "draws", ["plan_id"], unique=False)
    op.create_index(op.f("ix_draws_region_adcode"), "draws", ["region_adcode"], unique=False)
    op.create_table(
        "plan_visits",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("inspectors", sa.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("sampled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_adcode"], ["regions.adcode"], name=op.f("fk_plan_visits_region_adcode_regions")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_plan_visits_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["inspection_plan_versions.id"],
            name=op.f("fk_plan_visits_version_id_inspection_plan_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_visits")),
    )
    op.create_index(op.f("ix_plan_visits_region_adcode"), "plan_visits", ["region_adcode"], unique=False)
    op.create_index(op.f("ix_plan_visits_site_id"), "plan_visits", ["site_id"], unique=False)
    op.create_index("ix_plan_visits_version_day", "plan_visits", ["version_id", "day"], unique=False)
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column("plan_visit_id", sa.BigInteger(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("origin_ref", sa.String(length=64), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("inspectors", sa.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("checklist", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("findings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "origin IN ('plan', 'report_12350', 'alarm', 'other')", name=op.f("ck_inspections_origin_known")
        ),
        sa.CheckConstraint(
            "state IN ('planned', 'in_progress', 'completed', 'cancelled')", name=op.f("ck_inspections_state_known")
        ),
        sa.ForeignKeyConstraint(
            ["plan_visit_id"],
            ["plan_visits.id"],
            name=op.f("fk_inspections_plan_visit_id_plan_visits"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["region_adcode"], ["regions.adcode"], name=op.f("fk_inspections_region_adcode_regions")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_inspections_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
    )
    op.create_index(op.f("ix_inspections_region_adcode"), "inspections", ["region_adcode"], unique=False)
    op.create_index(op.f("ix_inspections_site_id"), "inspections", ["site_id"], unique=False)
    op.create_index(op.f("ix_inspections_state"), "inspections", ["state"], unique=False)
    op.create_table(
        "enforcement_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("region_adcode", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("document_no", sa.String(length=64), nullable=False),
        sa.Column("amount_yuan", sa.Float(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind <> 'fine' OR amount_yuan > 0", name=op.f("ck_enforcement_actions_fine_has_amount")),
        sa.CheckConstraint(
            "kind IN ('rectify_by_deadline', 'suspend_for_rectification', 'fine', 'suspend_licence',"
            " 'revoke_licence', 'transfer')",
            name=op.f("ck_enforcement_actions_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_enforcement_actions_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_adcode"], ["regions.adcode"], name=op.f("fk_enforcement_actions_region_adcode_regions")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_enforcement_actions_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_actions")),
        sa.UniqueConstraint("document_no", name=op.f("uq_enforcement_actions_document_no")),
    )
    op.create_index(
        op.f("ix_enforcement_actions_inspection_id"), "enforcement_actions", ["inspection_id"], unique=False
    )
    op.create_index(
        op.f("ix_enforcement_actions_region_adcode"), "enforcement_actions", ["region_adcode"], unique=False
    )
    op.create_index(op.f("ix_enforcement_actions_site_id"), "enforcement_actions", ["site_id"], unique=False)

    _jurisdiction()


def downgrade() -> None:
    op.drop_index(op.f("ix_enforcement_actions_site_id"), table_name="enforcement_actions")
    op.drop_index(op.f("ix_enforcement_actions_region_adcode"), table_name="enforcement_actions")
    op.drop_index(op.f("ix_enforcement_actions_inspection_id"), table_name="enforcement_actions")
    op.drop_table("enforcement_actions")
    op.drop_index(op.f("ix_inspections_state"), table_name="inspections")
    op.drop_index(op.f("ix_inspections_site_id"), table_name="inspections")
    op.drop_index(op.f("ix_inspections_region_adcode"), table_name="inspections")
    op.drop_table("inspections")
    op.drop_index("ix_plan_visits_version_day", table_name="plan_visits")
    op.drop_index(op.f("ix_plan_visits_site_id"), table_name="plan_visits")
    op.drop_index(op.f("ix_plan_visits_region_adcode"), table_name="plan_visits")
    op.drop_table("plan_visits")
    op.drop_index(op.f("ix_draws_region_adcode"), table_name="draws")
    op.drop_index(op.f("ix_draws_plan_id"), table_name="draws")
    op.drop_table("draws")
    op.drop_index(op.f("ix_inspection_plan_versions_region_adcode"), table_name="inspection_plan_versions")
    op.drop_index(op.f("ix_inspection_plan_versions_plan_id"), table_name="inspection_plan_versions")
    op.drop_table("inspection_plan_versions")
    op.drop_index(op.f("ix_inspectors_region_adcode"), table_name="inspectors")
    op.drop_table("inspectors")
    op.drop_index(op.f("ix_inspection_plans_region_adcode"), table_name="inspection_plans")
    op.drop_table("inspection_plans")
