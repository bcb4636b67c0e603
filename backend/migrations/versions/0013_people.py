"""People a warning must reach: responsible people of enterprises, sites and major-hazard units,
regulators' duty rosters, broadcasts answered person by person, SMS to phone numbers, and alarm
events with a detail (whom an escalation notified).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 12:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Each table is visible where its rows belong (predicates of migration 0010). Enabled, not
# FORCEd: the platform's own jobs connect as the owner and see everything, by design (0012).
POLICIES = {
    "people": "riskmap_enterprise_visible(enterprise_id, region_adcode)",
    "duty_shifts": "riskmap_region_visible(region_adcode)",
    "broadcast_recipient_people": "riskmap_site_visible(site_id)",
}


def _fk(table: str, column: str, target: str, ondelete: str | None = "CASCADE") -> sa.ForeignKey:
    ref_table = target.split(".")[0]
    return sa.ForeignKey(target, ondelete=ondelete, name=f"fk_{table}_{column}_{ref_table}")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")  # the roster's no-overlap constraint
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("enterprise_id", sa.Integer(), _fk("people", "enterprise_id", "enterprises.id"), nullable=False),
        sa.Column("site_id", sa.Integer(), _fk("people", "site_id", "sites.id"), nullable=True),
        sa.Column("hazard_unit_id", sa.Integer(), _fk("people", "hazard_unit_id", "hazard_units.id"), nullable=True),
        sa.Column(
            "region_adcode", sa.String(6), _fk("people", "region_adcode", "regions.adcode", None), nullable=False
        ),
        sa.Column("duty", sa.String(24), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("mobile", sa.String(11), nullable=False),
        sa.Column("landline", sa.String(24), nullable=True),
        sa.Column("email", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("mobile ~ '^1[3-9][0-9]{9}$'", name="ck_people_mobile_valid"),
        sa.CheckConstraint("hazard_unit_id IS NULL OR site_id IS NOT NULL", name="ck_people_unit_has_site"),
    )
    for column in ("enterprise_id", "site_id", "hazard_unit_id", "region_adcode"):
        op.create_index(f"ix_people_{column}", "people", [column])
    # One person holds one duty at one place once (a unit and a site are "none" when absent).
    op.execute(
        "CREATE UNIQUE INDEX uq_people_place_duty_mobile ON people "
        "(enterprise_id, coalesce(site_id, 0), coalesce(hazard_unit_id, 0), duty, mobile)"
    )

    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), _fk("duty_shifts", "org_id", "organisations.id"), nullable=False),
        sa.Column(
            "region_adcode", sa.String(6), _fk("duty_shifts", "region_adcode", "regions.adcode", None), nullable=False
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("mobile", sa.String(11), nullable=False),
        sa.Column("landline", sa.String(24), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ck_duty_shifts_ends_after_start"),
        sa.CheckConstraint("mobile ~ '^1[3-9][0-9]{9}$'", name="ck_duty_shifts_mobile_valid"),
    )
    op.create_index("ix_duty_shifts_org_id", "duty_shifts", ["org_id"])
    op.create_index("ix_duty_shifts_region_adcode", "duty_shifts", ["region_adcode"])
    op.execute(
        "ALTER TABLE duty_shifts ADD CONSTRAINT ex_duty_shifts_no_overlap "
        "EXCLUDE USING gist (org_id WITH =, tstzrange(starts_at, ends_at) WITH &&)"
    )

    op.create_table(
        "broadcast_recipient_people",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "broadcast_id",
            sa.Integer(),
            _fk("broadcast_recipient_people", "broadcast_id", "broadcasts.id"),
            nullable=False,
        ),
        sa.Column(
            "recipient_id",
            sa.Integer(),
            _fk("broadcast_recipient_people", "recipient_id", "broadcast_recipients.id"),
            nullable=False,
        ),
        sa.Column("site_id", sa.Integer(), _fk("broadcast_recipient_people", "site_id", "sites.id"), nullable=False),
        sa.Column(
            "person_id",
            sa.Integer(),
            _fk("broadcast_recipient_people", "person_id", "people.id", "SET NULL"),
            nullable=True,
        ),
        sa.Column("duty", sa.String(24), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("mobile", sa.String(11), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_via", sa.String(8), nullable=True),
        sa.Column("escalation", sa.Integer(), server_default="0", nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_broadcast_recipient_people_token_hash"),
    )
    for column in ("broadcast_id", "recipient_id", "site_id"):
        op.create_index(f"ix_broadcast_recipient_people_{column}", "broadcast_recipient_people", [column])

    # SMS to people: a phone number and a name; alarm notices have no broadcast.
    op.alter_column("sms_outbox", "broadcast_id", existing_type=sa.Integer(), nullable=True)
    op.alter_column("sms_outbox", "to_enterprise", existing_type=sa.String(18), nullable=True)
    op.add_column(
        "sms_outbox",
        sa.Column("alarm_id", sa.BigInteger(), _fk("sms_outbox", "alarm_id", "alarms.id"), nullable=True),
    )
    op.add_column("sms_outbox", sa.Column("kind", sa.String(16), server_default="warning", nullable=False))
    op.add_column("sms_outbox", sa.Column("to_phone", sa.String(11), nullable=True))
    op.add_column("sms_outbox", sa.Column("to_name", sa.String(64), nullable=True))
    op.add_column(
        "sms_outbox",
        sa.Column("person_id", sa.Integer(), _fk("sms_outbox", "person_id", "people.id", "SET NULL"), nullable=True),
    )
    op.add_column(
        "sms_outbox",
        sa.Column(
            "duty_shift_id",
            sa.Integer(),
            _fk("sms_outbox", "duty_shift_id", "duty_shifts.id", "SET NULL"),
            nullable=True,
        ),
    )
    op.create_index("ix_sms_outbox_alarm_id", "sms_outbox", ["alarm_id"])
    op.add_column("alarm_events", sa.Column("detail", JSONB(), server_default="{}", nullable=False))

    for table, predicate in POLICIES.items():
        op.execute(
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
            f"CREATE POLICY {table}_jurisdiction ON {table} USING ({predicate}) WITH CHECK ({predicate});"
        )


def downgrade() -> None:
    for table in POLICIES:
        op.execute(f"DROP POLICY {table}_jurisdiction ON {table}")
    op.drop_column("alarm_events", "detail")
    op.drop_index("ix_sms_outbox_alarm_id", table_name="sms_outbox")
    for column in ("duty_shift_id", "person_id", "to_name", "to_phone", "kind", "alarm_id"):
        op.drop_column("sms_outbox", column)
    op.execute("DELETE FROM sms_outbox WHERE broadcast_id IS NULL OR to_enterprise IS NULL")
    op.alter_column("sms_outbox", "to_enterprise", existing_type=sa.String(18), nullable=False)
    op.alter_column("sms_outbox", "broadcast_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("broadcast_recipient_people")
    op.drop_table("duty_shifts")
    op.drop_table("people")
