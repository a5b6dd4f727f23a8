"""voice: one pending call per contractor and project; lead calls left to the team

Revision ID: 4bf2e0b87533
Revises: 0004
Create Date: 2026-11-28 04:31:12.489296

- ``uq_call_schedules_pending_contractor_project``: a partial unique index on
  ``call_schedules (org_id, project_id, contractor_id)`` while the schedule is ``scheduled``
  or ``in_progress``, so two "get bids" requests never phone the same contractor twice.
  Duplicates already pending are cancelled first (the earliest, or the one under way, stays).
- Lead-qualification schedules recorded as ``scheduled`` (never dispatched: the team calls the
  lead) become ``for_team``, so they no longer show as overdue calls.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4bf2e0b87533"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "voice_service"
PENDING = "('scheduled', 'in_progress')"


def upgrade() -> None:
    op.execute(
        f"""
        UPDATE {SCHEMA}.call_schedules AS s
        SET status = 'cancelled',
            reason = 'cancelled by revision 4bf2e0b87533: another call to this contractor '
                     || 'about this project was already pending',
            updated_at = now()
        FROM (
            SELECT id, row_number() OVER (
                PARTITION BY org_id, project_id, contractor_id
                ORDER BY (status = 'in_progress') DESC, scheduled_for, created_at, id
            ) AS rank
            FROM {SCHEMA}.call_schedules
            WHERE status IN {PENDING}
              AND project_id IS NOT NULL AND contractor_id IS NOT NULL
        ) AS ranked
        WHERE s.id = ranked.id AND ranked.rank > 1
        """
    )
    op.create_index(
        "uq_call_schedules_pending_contractor_project",
        "call_schedules",
        ["org_id", "project_id", "contractor_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text(f"status IN {PENDING}"),
    )
    op.execute(
        f"UPDATE {SCHEMA}.call_schedules SET status = 'for_team' "
        "WHERE purpose = 'lead_qualification' AND status = 'scheduled'"
    )


def downgrade() -> None:
    op.execute(
        f"UPDATE {SCHEMA}.call_schedules SET status = 'scheduled' "
        "WHERE purpose = 'lead_qualification' AND status = 'for_team'"
    )
    op.drop_index(
        "uq_call_schedules_pending_contractor_project",
        table_name="call_schedules",
        schema=SCHEMA,
        postgresql_where=sa.text(f"status IN {PENDING}"),
    )
