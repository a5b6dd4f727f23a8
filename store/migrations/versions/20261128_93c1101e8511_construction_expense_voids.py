"""construction: a project expense can be voided by a reversing expense linked to it

Revision ID: 93c1101e8511
Revises: 5b7c1d2e9f10
Create Date: 2026-11-28 19:45:00

- ``construction_service.expenses.voids_expense_id`` (nullable): on a reversing expense, the
  expense it voids (same table). Its unique index lets an expense be voided at most once; the
  original row stays (audit trail) and the pair sums to zero on its scope line.
- Amounts may be negative (a reversal, or a refund mirrored from finance): the column has no
  check constraint, so nothing else changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "93c1101e8511"
down_revision: str | None = "5b7c1d2e9f10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "construction_service"


def upgrade() -> None:
    op.add_column(
        "expenses", sa.Column("voids_expense_id", sa.Uuid(), nullable=True), schema=SCHEMA
    )
    op.create_index(
        op.f("ix_construction_service_expenses_voids_expense_id"),
        "expenses",
        ["voids_expense_id"],
        unique=True,
        schema=SCHEMA,
    )
    op.create_foreign_key(
        "expenses_voids_expense_id_fkey",
        "expenses",
        "expenses",
        ["voids_expense_id"],
        ["id"],
        source_schema=SCHEMA,
        referent_schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_constraint(
        "expenses_voids_expense_id_fkey", "expenses", schema=SCHEMA, type_="foreignkey"
    )
    op.drop_index(
        op.f("ix_construction_service_expenses_voids_expense_id"),
        table_name="expenses",
        schema=SCHEMA,
    )
    op.drop_column("expenses", "voids_expense_id", schema=SCHEMA)
