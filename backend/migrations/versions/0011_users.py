"""Users of an organisation and their browser sessions, visible where the organisation is.

Row-level security on both tables: a user row is visible where its organisation is, through
`riskmap_org_visible(org_id)` (SECURITY DEFINER, so the policy reads `organisations` whatever
that table's own policies say, without recursion); a session row where its user is, through
`riskmap_user_visible(user_id)`. As with every policy, only a non-superuser, non-owner role is
bound by them: signing in and checking a session cookie run before there is a caller, as the
platform (backend/accounts), by design.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

POLICIES = """
CREATE FUNCTION riskmap_org_visible(org integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM organisations o WHERE o.id = org
                 AND riskmap_enterprise_visible(o.enterprise_id, o.region_adcode)) $$;

CREATE FUNCTION riskmap_user_visible(uid integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = uid AND riskmap_org_visible(u.org_id)) $$;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_jurisdiction ON users
  USING (riskmap_org_visible(org_id)) WITH CHECK (riskmap_org_visible(org_id));

ALTER TABLE user_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_sessions_jurisdiction ON user_sessions
  USING (riskmap_user_visible(user_id)) WITH CHECK (riskmap_user_visible(user_id));
"""


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "org_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", name="fk_users_org_id_organisations"),
            nullable=False,
        ),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("mobile", sa.String(20)),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("roles", sa.ARRAY(sa.String(16)), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_since", sa.DateTime(timezone=True)),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "cardinality(roles) >= 1 AND roles <@ ARRAY['viewer','enterprise','duty','regulator','admin']::varchar[]",
            name="ck_users_roles_known",
        ),
        sa.UniqueConstraint("login", name="uq_users_login"),
    )
    op.create_index("ix_users_org_id", "users", ["org_id"])
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_user_sessions_user_id_users"),
            nullable=False,
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("client_address", sa.String(64)),
        sa.Column("user_agent", sa.String(256)),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.execute(POLICIES)


def downgrade() -> None:
    op.drop_table("user_sessions")
    op.drop_table("users")
    op.execute("DROP FUNCTION riskmap_user_visible(integer); DROP FUNCTION riskmap_org_visible(integer);")
