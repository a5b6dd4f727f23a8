"""scale: list-order indexes and an incremental comp index

Revision ID: f9a1c2d3e4b5
Revises: a7c3e19d4b52
Create Date: 2026-11-29 04:00:00

- ``property_service.properties``: ``ix_properties_org_created_id`` on (org_id, created_at
  DESC NULLS LAST, id), the default order of ``GET /properties`` and of a search, so a deep
  page walks the index instead of sorting the organisation's rows on disk.
- ``events.outbox``: ``ix_outbox_org_created_id`` on (org_id, created_at, id), the event
  log's order (newest first, read backwards).
- ``valuation_service.comp_features.source_updated_at``: the property's ``updated_at`` the
  row was written from; re-indexing writes only the rows whose property's ``updated_at``
  differs (or that are missing). Rows written after their property's last change are
  back-filled with it, so an up-to-date index is not rebuilt after the upgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f9a1c2d3e4b5"
down_revision: str | None = "a7c3e19d4b52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_properties_org_created_id",
        "properties",
        ["org_id", sa.literal_column("created_at DESC NULLS LAST"), "id"],
        unique=False,
        schema="property_service",
    )
    op.create_index(
        "ix_outbox_org_created_id",
        "outbox",
        ["org_id", "created_at", "id"],
        unique=False,
        schema="events",
    )
    op.add_column(
        "comp_features",
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        schema="valuation_service",
    )
    op.execute(
        """
        UPDATE valuation_service.comp_features AS c
           SET source_updated_at = p.updated_at
          FROM property_service.properties AS p
         WHERE p.id = c.property_id
           AND p.org_id = c.org_id
           AND c.updated_at >= p.updated_at
        """
    )


def downgrade() -> None:
    op.drop_column("comp_features", "source_updated_at", schema="valuation_service")
    op.drop_index("ix_outbox_org_created_id", table_name="outbox", schema="events")
    op.drop_index(
        "ix_properties_org_created_id", table_name="properties", schema="property_service"
    )
