"""Revision 0003 upgrades a database whose listings already have several opportunities."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, text

from store import migrate


def test_0003_keeps_the_newest_opportunity_of_each_listing(engine: Engine) -> None:
    """Before 0003 nothing stopped two opportunities per listing: the newest one is kept."""
    org_id, listing_id, single_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    oldest, newest, middle, only = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        migrate.downgrade("0002")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO auth.organisations (id, name, slug) VALUES (:id, 'M', :slug)"),
                {"id": org_id, "slug": f"m-{org_id.hex[:8]}"},
            )
            for number, listing in enumerate((listing_id, single_id)):
                conn.execute(
                    text(
                        "INSERT INTO market_monitor.tracked_listings (id, org_id, source,"
                        " external_id, address, property_data, status)"
                        " VALUES (:id, :org, 'mls', :ext, '{}', '{}', 'active')"
                    ),
                    {"id": listing, "org": org_id, "ext": f"L-{number}"},
                )
            for opp_id, listing, created in (
                (oldest, listing_id, "2026-01-01"),
                (newest, listing_id, "2026-03-01"),
                (middle, listing_id, "2026-02-01"),
                (only, single_id, "2026-01-15"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO market_monitor.opportunities (id, org_id, listing_id,"
                        " created_at, updated_at) VALUES (:id, :org, :listing, :at, :at)"
                    ),
                    {"id": opp_id, "org": org_id, "listing": listing, "at": created},
                )
        migrate.upgrade("head")
        with engine.connect() as conn:
            kept = set(
                conn.execute(
                    text("SELECT id FROM market_monitor.opportunities WHERE org_id = :org"),
                    {"org": org_id},
                ).scalars()
            )
        assert kept == {newest, only}
    finally:
        migrate.upgrade("head")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM auth.organisations WHERE id = :id"), {"id": org_id})
