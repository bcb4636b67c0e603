"""Flood-season broadcasts: CAP alerts issued, recipients and 叫应, events, SMS outbox, webhooks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:16.030865
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=64), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("msg_type", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("color", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("headline", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("area_desc", sa.String(length=256), nullable=False),
        sa.Column(
            "area",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("adcodes", postgresql.ARRAY(sa.String(length=6)), server_default="{}", nullable=False),
        sa.Column("issuing_adcode", sa.String(length=6), nullable=False),
        sa.Column("onset", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("references_id", sa.Integer(), nullable=True),
        sa.Column("weather_warning_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("places", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("cap_xml", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["references_id"], ["broadcasts.id"], name=op.f("fk_broadcasts_references_id_broadcasts")
        ),
        sa.ForeignKeyConstraint(
            ["weather_warning_id"],
            ["weather_warnings.id"],
            name=op.f("fk_broadcasts_weather_warning_id_weather_warnings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("identifier", name=op.f("uq_broadcasts_identifier")),
    )
    op.create_index("ix_broadcasts_area", "broadcasts", ["area"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_broadcasts_state"), "broadcasts", ["state"], unique=False)
    op.create_table(
        "broadcast_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_via", sa.String(length=8), nullable=True),
        sa.Column("evacuated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fake_evacuation", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_recipients_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_broadcast_recipients_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_recipients")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_broadcast_recipients_token_hash")),
    )
    op.create_index(
        op.f("ix_broadcast_recipients_broadcast_id"), "broadcast_recipients", ["broadcast_id"], unique=False
    )
    op.create_index(op.f("ix_broadcast_recipients_site_id"), "broadcast_recipients", ["site_id"], unique=False)
    op.create_index(op.f("ix_broadcast_recipients_status"), "broadcast_recipients", ["status"], unique=False)
    op.create_table(
        "broadcast_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("actor", sa.String(length=64), server_default="system", nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_events_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["broadcast_recipients.id"],
            name=op.f("fk_broadcast_events_recipient_id_broadcast_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_events")),
    )
    op.create_index(op.f("ix_broadcast_events_broadcast_id"), "broadcast_events", ["broadcast_id"], unique=False)
    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("to_enterprise", sa.String(length=18), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"], ["broadcasts.id"], name=op.f("fk_sms_outbox_broadcast_id_broadcasts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["broadcast_recipients.id"],
            name=op.f("fk_sms_outbox_recipient_id_broadcast_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_outbox")),
    )
    op.create_index(op.f("ix_sms_outbox_broadcast_id"), "sms_outbox", ["broadcast_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sms_outbox_broadcast_id"), table_name="sms_outbox")
    op.drop_table("sms_outbox")
    op.drop_index(op.f("ix_broadcast_events_broadcast_id"), table_name="broadcast_events")
    op.drop_table("broadcast_events")
    op.drop_index(op.f("ix_broadcast_recipients_status"), table_name="broadcast_recipients")
    op.drop_index(op.f("ix_broadcast_recipients_site_id"), table_name="broadcast_recipients")
    op.drop_index(op.f("ix_broadcast_recipients_broadcast_id"), table_name="broadcast_recipients")
    op.drop_table("broadcast_recipients")
    op.drop_index(op.f("ix_broadcasts_state"), table_name="broadcasts")
    op.drop_index("ix_broadcasts_area", table_name="broadcasts", postgresql_using="gist")
    op.drop_table("broadcasts")
    op.drop_table("webhooks")
