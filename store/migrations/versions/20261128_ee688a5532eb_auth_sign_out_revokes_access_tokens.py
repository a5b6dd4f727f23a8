"""auth: signing out revokes an access token; "sign out everywhere" ends them all

Revision ID: ee688a5532eb
Revises: ce0285db684a
Create Date: 2026-11-28 10:52:04.973896

- ``auth.revoked_access_tokens``: access tokens (JWTs) signed out before they expired, keyed
  by ``jti:<jti>`` (or ``sha256:<digest>`` for tokens issued before ``jti`` existed), kept
  until ``expires_at`` and pruned after.
- ``auth.users.session_epoch`` (default 0): "sign out everywhere" raises it; access tokens
  carry the epoch they were issued under (``sep``; none means 0), so existing users' tokens
  keep working until the first such sign-out.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ee688a5532eb"
down_revision: str | None = "ce0285db684a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_access_tokens",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("revocation_key", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("revocation_key"),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_revoked_access_tokens_expires_at"),
        "revoked_access_tokens",
        ["expires_at"],
        unique=False,
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_revoked_access_tokens_org_id"),
        "revoked_access_tokens",
        ["org_id"],
        unique=False,
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_revoked_access_tokens_user_id"),
        "revoked_access_tokens",
        ["user_id"],
        unique=False,
        schema="auth",
    )
    op.add_column(
        "users",
        sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False),
        schema="auth",
    )


def downgrade() -> None:
    op.drop_column("users", "session_epoch", schema="auth")
    op.drop_index(
        op.f("ix_auth_revoked_access_tokens_user_id"),
        table_name="revoked_access_tokens",
        schema="auth",
    )
    op.drop_index(
        op.f("ix_auth_revoked_access_tokens_org_id"),
        table_name="revoked_access_tokens",
        schema="auth",
    )
    op.drop_index(
        op.f("ix_auth_revoked_access_tokens_expires_at"),
        table_name="revoked_access_tokens",
        schema="auth",
    )
    op.drop_table("revoked_access_tokens", schema="auth")
