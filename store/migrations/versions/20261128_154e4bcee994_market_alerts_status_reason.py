"""market alerts: why an alert was not sent, in its own column

Revision ID: 154e4bcee994
Revises: 4bf2e0b87533
Create Date: 2026-11-28 06:00:31.745205

- ``alerts.status_reason`` (text, nullable): why a ``no_phone`` or ``skipped`` alert was not
  sent. Before, a skipped alert's reason was appended to its message (``\\n\\nNot sent: ...``);
  the upgrade moves it into the new column and restores the message to the text that would
  have been sent. ``no_phone`` alerts get a generic reason (the old rows never said which of
  "no phone number" or "inactive account" applied).
- The downgrade appends the reasons of skipped alerts to their messages again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "154e4bcee994"
down_revision: str | None = "4bf2e0b87533"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "market_monitor"
MARKER = "\n\nNot sent: "


def upgrade() -> None:
    op.add_column("alerts", sa.Column("status_reason", sa.Text(), nullable=True), schema=SCHEMA)
    alerts = sa.table(
        "alerts",
        sa.column("status", sa.String),
        sa.column("message", sa.Text),
        sa.column("status_reason", sa.Text),
        schema=SCHEMA,
    )
    position = sa.func.strpos(alerts.c.message, MARKER)
    reason = sa.func.substr(alerts.c.message, position + len(MARKER))
    op.execute(
        alerts.update()
        .where(alerts.c.status == "skipped", position > 0)
        .values(
            status_reason=sa.func.rtrim(reason, "."),
            message=sa.func.substr(alerts.c.message, 1, position - 1),
        )
    )
    op.execute(
        alerts.update()
        .where(alerts.c.status == "no_phone", alerts.c.status_reason.is_(None))
        .values(status_reason="the investor has no phone number or their account is inactive")
    )


def downgrade() -> None:
    alerts = sa.table(
        "alerts",
        sa.column("status", sa.String),
        sa.column("message", sa.Text),
        sa.column("status_reason", sa.Text),
        schema=SCHEMA,
    )
    op.execute(
        alerts.update()
        .where(alerts.c.status == "skipped", alerts.c.status_reason.is_not(None))
        .values(message=alerts.c.message + MARKER + alerts.c.status_reason + ".")
    )
    op.drop_column("alerts", "status_reason", schema=SCHEMA)
