"""construction tables and columns: project expenses, project activity, one project per deal

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SCHEMA = "construction_service"


def _timestamps() -> list[sa.Column]:
    return [
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
    ]


def upgrade() -> None:
    op.add_column("projects", sa.Column("scope_source", sa.Text(), nullable=True), schema=SCHEMA)
    # One project per deal from now on. Projects made before this revision that share a deal
    # keep their rows: all but the oldest are detached from the deal (deal_id NULL), never
    # deleted, so the unique index below can be built.
    op.execute(
        f"""
        UPDATE "{SCHEMA}".projects AS p SET deal_id = NULL
        FROM "{SCHEMA}".projects AS keep
        WHERE p.deal_id IS NOT NULL AND p.deal_id = keep.deal_id AND p.org_id = keep.org_id
          AND (keep.created_at, keep.id) < (p.created_at, p.id)
        """
    )
    op.create_index(
        "uq_projects_org_deal",
        "projects",
        ["org_id", "deal_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("deal_id IS NOT NULL"),
    )
    op.create_table(
        "expenses",
        *_timestamps(),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("scope_item_id", sa.Uuid(), nullable=True),
        sa.Column("contractor_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("vendor", sa.String(length=200), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contractor_id"], [f"{SCHEMA}.contractors.id"], ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], [f"{SCHEMA}.projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["scope_item_id"], [f"{SCHEMA}.scope_items.id"], ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    for column in ("contractor_id", "org_id", "project_id", "scope_item_id"):
        op.create_index(
            op.f(f"ix_construction_service_expenses_{column}"),
            "expenses",
            [column],
            unique=False,
            schema=SCHEMA,
        )
    op.create_table(
        "activities",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_event_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], [f"{SCHEMA}.projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_event_id", name="uq_activities_source_event"),
        schema=SCHEMA,
    )
    for column in ("org_id", "project_id"):
        op.create_index(
            op.f(f"ix_construction_service_activities_{column}"),
            "activities",
            [column],
            unique=False,
            schema=SCHEMA,
        )


def downgrade() -> None:
    for column in ("org_id", "project_id"):
        op.drop_index(
            op.f(f"ix_construction_service_activities_{column}"),
            table_name="activities",
            schema=SCHEMA,
        )
    op.drop_table("activities", schema=SCHEMA)
    for column in ("contractor_id", "org_id", "project_id", "scope_item_id"):
        op.drop_index(
            op.f(f"ix_construction_service_expenses_{column}"),
            table_name="expenses",
            schema=SCHEMA,
        )
    op.drop_table("expenses", schema=SCHEMA)
    op.drop_index(
        "uq_projects_org_deal",
        table_name="projects",
        schema=SCHEMA,
        postgresql_where=sa.text("deal_id IS NOT NULL"),
    )
    op.drop_column("projects", "scope_source", schema=SCHEMA)
