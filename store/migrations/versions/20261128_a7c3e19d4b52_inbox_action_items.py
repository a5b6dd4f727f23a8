"""inbox: the team's action items from contractors' calls and messages

Revision ID: a7c3e19d4b52
Revises: 93c1101e8511
Create Date: 2026-11-28 22:10:00

- New schema ``inbox`` with ``inbox.action_items``: one row per item of an
  ``action.items.created`` event (unique per event and position, so a redelivered event adds
  nothing), open until the team marks it done or dismissed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a7c3e19d4b52"
down_revision: str | None = "93c1101e8511"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "inbox"


def upgrade() -> None:
    op.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
    op.create_table(
        "action_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("contractor_id", sa.Uuid(), nullable=True),
        sa.Column("bid_id", sa.Uuid(), nullable=True),
        sa.Column("call_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("facts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "position", name="uq_action_items_event_position"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_action_items_org_status_created",
        "action_items",
        ["org_id", "status", "created_at"],
        unique=False,
        schema=SCHEMA,
    )
    for column in ("org_id", "project_id", "contractor_id"):
        op.create_index(
            op.f(f"ix_inbox_action_items_{column}"),
            "action_items",
            [column],
            unique=False,
            schema=SCHEMA,
        )


def downgrade() -> None:
    for column in ("contractor_id", "project_id", "org_id"):
        op.drop_index(
            op.f(f"ix_inbox_action_items_{column}"), table_name="action_items", schema=SCHEMA
        )
    op.drop_index("ix_action_items_org_status_created", table_name="action_items", schema=SCHEMA)
    op.drop_table("action_items", schema=SCHEMA)
    op.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
