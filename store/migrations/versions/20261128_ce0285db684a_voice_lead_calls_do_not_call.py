"""voice: lead-qualification calls placed with consent; a do-not-call list by phone number

Revision ID: ce0285db684a
Revises: 154e4bcee994
Create Date: 2026-11-28 06:07:46.229835

- ``voice_service.do_not_call``: the phone numbers (E.164) that asked not to be called, one
  row per (organisation, number) (``uq_do_not_call_org_phone``); a seller lead who says
  "don't call me" on a call is never dialled again.
- ``uq_call_schedules_pending_lead_number``: a partial unique index on ``call_schedules
  (org_id, to_number)`` for lead-qualification schedules that are ``scheduled`` or
  ``in_progress``: one pending lead call per number. Before this revision lead schedules were
  only ever ``for_team`` or ``cancelled`` (revision 4bf2e0b87533), so no existing row clashes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ce0285db684a"
down_revision: str | None = "154e4bcee994"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "voice_service"
PENDING_LEAD = "purpose = 'lead_qualification' AND status IN ('scheduled', 'in_progress')"


def upgrade() -> None:
    op.create_table(
        "do_not_call",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("phone_number", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "phone_number", name="uq_do_not_call_org_phone"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_voice_service_do_not_call_org_id"),
        "do_not_call",
        ["org_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_index(
        "uq_call_schedules_pending_lead_number",
        "call_schedules",
        ["org_id", "to_number"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text(PENDING_LEAD),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_call_schedules_pending_lead_number",
        table_name="call_schedules",
        schema=SCHEMA,
        postgresql_where=sa.text(PENDING_LEAD),
    )
    op.drop_index(
        op.f("ix_voice_service_do_not_call_org_id"), table_name="do_not_call", schema=SCHEMA
    )
    op.drop_table("do_not_call", schema=SCHEMA)
