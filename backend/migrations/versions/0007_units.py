"""Major-hazard units (GB 18218-2018 §3, 单元): each inventory row belongs to a production or storage
unit of its site, identified and graded on its own; a unit may have a footprint. Existing rows go to
one default unit per site (the whole site, as graded before).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 10:00:00
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DEFAULT_UNIT_CODE = "SITE"
DEFAULT_UNIT_NAME = "全厂（未划分单元）"


def upgrade() -> None:
    op.create_table(
        "hazard_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column(
            "footprint",
            geoalchemy2.types.Geometry(geometry_type="POLYGON", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.CheckConstraint("kind IN ('production', 'storage')", name=op.f("ck_hazard_units_kind_known")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_hazard_units_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_units")),
        sa.UniqueConstraint("site_id", "code", name="uq_hazard_units_site_code"),
    )
    op.create_index(op.f("ix_hazard_units_site_id"), "hazard_units", ["site_id"], unique=False)
    op.create_index("ix_hazard_units_footprint", "hazard_units", ["footprint"], unique=False, postgresql_using="gist")
    op.add_column("inventory_items", sa.Column("unit_id", sa.Integer(), nullable=True))
    op.add_column("inventory_items", sa.Column("hazard_class", sa.String(length=8), nullable=True))
    op.execute(
        sa.text(
            "INSERT INTO hazard_units (site_id, code, name, kind) "
            "SELECT DISTINCT site_id, :code, :name, NULL FROM inventory_items"
        ).bindparams(code=DEFAULT_UNIT_CODE, name=DEFAULT_UNIT_NAME)
    )
    op.execute("UPDATE inventory_items i SET unit_id = u.id FROM hazard_units u WHERE u.site_id = i.site_id")
    op.alter_column("inventory_items", "unit_id", nullable=False)
    op.create_foreign_key(
        op.f("fk_inventory_items_unit_id_hazard_units"),
        "inventory_items",
        "hazard_units",
        ["unit_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(op.f("ix_inventory_items_unit_id"), "inventory_items", ["unit_id"], unique=False)
    op.drop_constraint("uq_inventory_site_substance", "inventory_items", type_="unique")
    op.create_unique_constraint("uq_inventory_unit_substance", "inventory_items", ["unit_id", "substance"])


def downgrade() -> None:
    # One row per site and substance again: the units' quantities of a substance are summed.
    op.execute("""
        WITH agg AS (SELECT min(id) AS id, sum(max_quantity_t) AS q FROM inventory_items GROUP BY site_id, substance)
        UPDATE inventory_items i SET max_quantity_t = agg.q FROM agg WHERE i.id = agg.id""")
    op.execute(
        "DELETE FROM inventory_items WHERE id NOT IN (SELECT min(id) FROM inventory_items GROUP BY site_id, substance)"
    )
    op.drop_constraint("uq_inventory_unit_substance", "inventory_items", type_="unique")
    op.create_unique_constraint("uq_inventory_site_substance", "inventory_items", ["site_id", "substance"])
    op.drop_index(op.f("ix_inventory_items_unit_id"), table_name="inventory_items")
    op.drop_constraint(op.f("fk_inventory_items_unit_id_hazard_units"), "inventory_items", type_="foreignkey")
    op.drop_column("inventory_items", "hazard_class")
    op.drop_column("inventory_items", "unit_id")
    op.drop_index("ix_hazard_units_footprint", table_name="hazard_units", postgresql_using="gist")
    op.drop_index(op.f("ix_hazard_units_site_id"), table_name="hazard_units")
    op.drop_table("hazard_units")
