"""whatsapp: a report request that cannot be made is marked failed, with why

Revision ID: 5b7c1d2e9f10
Revises: ee688a5532eb
Create Date: 2026-11-28 12:05:00.000000

- ``whatsapp_service.report_requests.failure``: why the report could not be made (its
  property was deleted before the job ran ...); the status is then ``failed`` (a string
  column, so no type change), and ``GET /reports/{id}`` answers 410 with the reason instead
  of "rendering" for ever.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7c1d2e9f10"
down_revision: str | None = "ee688a5532eb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "report_requests",
        sa.Column("failure", sa.String(length=500), nullable=True),
        schema="whatsapp_service",
    )


def downgrade() -> None:
    op.drop_column("report_requests", "failure", schema="whatsapp_service")
