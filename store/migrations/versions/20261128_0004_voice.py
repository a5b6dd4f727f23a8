"""voice tables and columns

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SCHEMA = "voice_service"


def upgrade() -> None:
    # call_schedules: leads to qualify have no contractor; who asked, which event, why.
    op.alter_column(
        "call_schedules", "contractor_id", existing_type=sa.Uuid(), nullable=True, schema=SCHEMA
    )
    op.add_column(
        "call_schedules", sa.Column("to_number", sa.String(length=20), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "call_schedules", sa.Column("requested_by", sa.Uuid(), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "call_schedules", sa.Column("source_event_id", sa.Uuid(), nullable=True), schema=SCHEMA
    )
    op.add_column("call_schedules", sa.Column("reason", sa.Text(), nullable=True), schema=SCHEMA)
    op.add_column(
        "call_schedules",
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_voice_service_call_schedules_source_event_id"),
        "call_schedules",
        ["source_event_id"],
        unique=False,
        schema=SCHEMA,
    )
    # calls: what answered, the bid taken, who asked, and why a call was not placed.
    op.add_column(
        "calls", sa.Column("answered_by", sa.String(length=30), nullable=True), schema=SCHEMA
    )
    op.add_column("calls", sa.Column("bid_id", sa.Uuid(), nullable=True), schema=SCHEMA)
    op.add_column("calls", sa.Column("requested_by", sa.Uuid(), nullable=True), schema=SCHEMA)
    op.add_column("calls", sa.Column("note", sa.Text(), nullable=True), schema=SCHEMA)
    op.create_index(
        op.f("ix_voice_service_calls_bid_id"), "calls", ["bid_id"], unique=False, schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_voice_service_calls_bid_id"), table_name="calls", schema=SCHEMA)
    for column in ("note", "requested_by", "bid_id", "answered_by"):
        op.drop_column("calls", column, schema=SCHEMA)
    op.drop_index(
        op.f("ix_voice_service_call_schedules_source_event_id"),
        table_name="call_schedules",
        schema=SCHEMA,
    )
    for column in ("details", "reason", "source_event_id", "requested_by", "to_number"):
        op.drop_column("call_schedules", column, schema=SCHEMA)
    # Lead schedules have no contractor and cannot survive the NOT NULL.
    op.execute(f"DELETE FROM {SCHEMA}.call_schedules WHERE contractor_id IS NULL")
    op.alter_column(
        "call_schedules", "contractor_id", existing_type=sa.Uuid(), nullable=False, schema=SCHEMA
    )
