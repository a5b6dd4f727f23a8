"""market_monitor tables and columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 03:40:00

The market monitor's schema beyond the seed's two tables: the normalised address, price history
and explained score on ``tracked_listings``; figures and status on ``opportunities`` (one per
listing); and the ``feeds``, ``scans``, ``alert_criteria``, ``alerts`` and ``market_stats``
tables. JSONB columns added to existing tables are filled for existing rows through a
temporary server default, then the default is dropped (the models set the value).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "market_monitor"


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
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


def _add_jsonb(table: str, column: str, empty: str) -> None:
    """Add a NOT NULL JSONB column, filling existing rows with ``empty``."""
    op.add_column(
        table,
        sa.Column(
            column,
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text(f"'{empty}'::jsonb"),
            nullable=False,
        ),
        schema=SCHEMA,
    )
    op.alter_column(table, column, server_default=None, schema=SCHEMA)


def upgrade() -> None:
    # --- tracked_listings: address key, area, price history, explained score ---------------
    op.add_column(
        "tracked_listings",
        sa.Column("address_key", sa.String(length=250), nullable=True),
        schema=SCHEMA,
    )
    op.add_column(
        "tracked_listings",
        sa.Column("address_line", sa.String(length=200), nullable=True),
        schema=SCHEMA,
    )
    op.add_column(
        "tracked_listings", sa.Column("city", sa.String(length=100), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "tracked_listings",
        sa.Column("zip_code", sa.String(length=10), nullable=True),
        schema=SCHEMA,
    )
    _add_jsonb("tracked_listings", "price_history", "[]")
    _add_jsonb("tracked_listings", "score_details", "{}")
    op.add_column(
        "tracked_listings",
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    op.add_column(
        "tracked_listings",
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    op.add_column(
        "tracked_listings", sa.Column("last_scan_id", sa.Uuid(), nullable=True), schema=SCHEMA
    )
    op.create_index(
        "ix_tracked_listings_org_address_key",
        "tracked_listings",
        ["org_id", "address_key"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_index(
        "ix_tracked_listings_org_zip",
        "tracked_listings",
        ["org_id", "zip_code"],
        unique=False,
        schema=SCHEMA,
    )

    # --- opportunities: one per listing, with its figures ----------------------------------
    op.add_column(
        "opportunities",
        sa.Column("status", sa.String(length=20), server_default=sa.text("'open'"), nullable=False),
        schema=SCHEMA,
    )
    op.add_column(
        "opportunities",
        sa.Column("as_is_value", sa.Numeric(precision=12, scale=2), nullable=True),
        schema=SCHEMA,
    )
    op.add_column(
        "opportunities",
        sa.Column("arv", sa.Numeric(precision=12, scale=2), nullable=True),
        schema=SCHEMA,
    )
    _add_jsonb("opportunities", "details", "{}")
    # opportunities exists since 0001 without this constraint, so a listing may already have
    # several: keep the newest of each listing (latest created_at, then the larger id) and
    # delete the rest, or creating the constraint would fail the upgrade.
    op.execute(
        f"""
        DELETE FROM {SCHEMA}.opportunities AS older
        USING {SCHEMA}.opportunities AS newer
        WHERE older.listing_id = newer.listing_id
          AND (older.created_at, older.id) < (newer.created_at, newer.id)
        """
    )
    op.create_unique_constraint(
        "uq_opportunities_listing", "opportunities", ["listing_id"], schema=SCHEMA
    )

    # --- feeds and scans -------------------------------------------------------------------
    op.create_table(
        "feeds",
        *_timestamps(),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("every_minutes", sa.Integer(), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "kind", "location", name="uq_feeds_org_kind_location"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_feeds_due",
        "feeds",
        ["next_run_at"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("every_minutes IS NOT NULL"),
    )
    op.create_index(
        op.f("ix_market_monitor_feeds_org_id"), "feeds", ["org_id"], unique=False, schema=SCHEMA
    )
    op.create_table(
        "scans",
        *_timestamps(),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("feed_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("feed_label", sa.String(length=500), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.String(length=100), nullable=True),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rejections", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["feed_id"], [f"{SCHEMA}.feeds.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_market_monitor_scans_feed_id"), "scans", ["feed_id"], unique=False, schema=SCHEMA
    )
    op.create_index(
        op.f("ix_market_monitor_scans_org_id"), "scans", ["org_id"], unique=False, schema=SCHEMA
    )
    op.create_index(
        "ix_scans_org_created", "scans", ["org_id", "created_at"], unique=False, schema=SCHEMA
    )

    # --- alert criteria and alerts ---------------------------------------------------------
    op.create_table(
        "alert_criteria",
        *_timestamps(),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("zip_codes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cities", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("min_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("max_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("min_score", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("min_roi_pct", sa.Numeric(precision=7, scale=2), nullable=True),
        sa.Column("strategies", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("quiet_hours_start", sa.Time(), nullable=True),
        sa.Column("quiet_hours_end", sa.Time(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "user_id", name="uq_alert_criteria_org_user"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_market_monitor_alert_criteria_org_id"),
        "alert_criteria",
        ["org_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "alerts",
        *_timestamps(),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("criteria_id", sa.Uuid(), nullable=False),
        sa.Column("opportunity_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("send_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outbox_message_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_event_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["criteria_id"], [f"{SCHEMA}.alert_criteria.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"], [f"{SCHEMA}.opportunities.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("criteria_id", "opportunity_id", name="uq_alerts_criteria_opportunity"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_alerts_held",
        "alerts",
        ["send_after"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'held'"),
    )
    for column in ("criteria_id", "opportunity_id", "org_id", "user_id"):
        op.create_index(
            op.f(f"ix_market_monitor_alerts_{column}"),
            "alerts",
            [column],
            unique=False,
            schema=SCHEMA,
        )

    # --- monthly market statistics from outside sources (txhousing) ------------------------
    op.create_table(
        "market_stats",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("area", sa.String(length=100), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("sales", sa.Integer(), nullable=True),
        sa.Column("dollar_volume", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("median_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("listings", sa.Integer(), nullable=True),
        sa.Column("months_of_inventory", sa.Numeric(precision=6, scale=2), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["auth.organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "source", "area", "month", name="uq_market_stats_key"),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_market_monitor_market_stats_org_id"),
        "market_stats",
        ["org_id"],
        unique=False,
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_market_monitor_market_stats_org_id"), table_name="market_stats", schema=SCHEMA
    )
    op.drop_table("market_stats", schema=SCHEMA)
    for column in ("user_id", "org_id", "opportunity_id", "criteria_id"):
        op.drop_index(
            op.f(f"ix_market_monitor_alerts_{column}"), table_name="alerts", schema=SCHEMA
        )
    op.drop_index(
        "ix_alerts_held",
        table_name="alerts",
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'held'"),
    )
    op.drop_table("alerts", schema=SCHEMA)
    op.drop_index(
        op.f("ix_market_monitor_alert_criteria_org_id"), table_name="alert_criteria", schema=SCHEMA
    )
    op.drop_table("alert_criteria", schema=SCHEMA)
    op.drop_index("ix_scans_org_created", table_name="scans", schema=SCHEMA)
    op.drop_index(op.f("ix_market_monitor_scans_org_id"), table_name="scans", schema=SCHEMA)
    op.drop_index(op.f("ix_market_monitor_scans_feed_id"), table_name="scans", schema=SCHEMA)
    op.drop_table("scans", schema=SCHEMA)
    op.drop_index(op.f("ix_market_monitor_feeds_org_id"), table_name="feeds", schema=SCHEMA)
    op.drop_index(
        "ix_feeds_due",
        table_name="feeds",
        schema=SCHEMA,
        postgresql_where=sa.text("every_minutes IS NOT NULL"),
    )
    op.drop_table("feeds", schema=SCHEMA)

    op.drop_constraint("uq_opportunities_listing", "opportunities", schema=SCHEMA, type_="unique")
    for column in ("details", "arv", "as_is_value", "status"):
        op.drop_column("opportunities", column, schema=SCHEMA)

    op.drop_index("ix_tracked_listings_org_zip", table_name="tracked_listings", schema=SCHEMA)
    op.drop_index(
        "ix_tracked_listings_org_address_key", table_name="tracked_listings", schema=SCHEMA
    )
    for column in (
        "last_scan_id",
        "last_seen_at",
        "first_seen_at",
        "score_details",
        "price_history",
        "zip_code",
        "city",
        "address_line",
        "address_key",
    ):
        op.drop_column("tracked_listings", column, schema=SCHEMA)
