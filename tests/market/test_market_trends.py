"""Listing trends are aggregated in SQL: every listing counts, and inventory follows the market."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import Session

from domain.market import trends
from domain.market.enums import TrendSource
from store.base import utcnow
from tests.factories import make_org


def _month(offset: int) -> dt.datetime:
    """The 15th of the month ``offset`` months from this one (UTC noon)."""
    today = utcnow().date().replace(day=1)
    number = today.year * 12 + today.month - 1 + offset
    return dt.datetime(number // 12, number % 12 + 1, 15, 12, tzinfo=dt.UTC)


def _listings(db: Session, org_id: uuid.UUID, how_many: int, **values: object) -> None:
    """Insert ``how_many`` listings in ZIP 48299 in one statement (priced $100,000 + n)."""
    row = {
        "first_seen": _month(0),
        "last_seen": _month(0),
        "status": "active",
        "square_feet": 1000,
        **values,
    }
    db.execute(
        text(
            "INSERT INTO market_monitor.tracked_listings (id, org_id, source, external_id,"
            " address, list_price, property_data, status, zip_code, price_history, score_details,"
            " first_seen_at, last_seen_at)"
            " SELECT gen_random_uuid(), :org, 'mls', :prefix || n, '{}'::jsonb, 100000 + n,"
            " jsonb_build_object('square_feet', :square_feet), :status, '48299', '[]'::jsonb,"
            " '{}'::jsonb, :first_seen, :last_seen FROM generate_series(1, :how_many) AS n"
        ),
        {"org": org_id, "prefix": uuid.uuid4().hex[:8], "how_many": how_many, **row},
    )


def test_more_than_a_hundred_thousand_listings_are_all_counted(db: Session) -> None:
    org = make_org(db)
    _listings(db, org.id, 100_001)
    trend = trends.market_trends(
        session=db, org_id=org.id, area="48299", source=TrendSource.listings, months=1
    )
    (month,) = trend.months
    assert trend.inputs["listings_in_area"] == 100_001
    assert (month.new_listings, month.inventory) == (100_001, 100_001)
    # Prices $100,001 ... $200,001: the median is the middle one, $150,001 ($150.00/sqft).
    assert (month.median_price, month.median_price_per_sqft) == (
        Decimal("150001.00"),
        Decimal("150.00"),
    )


def test_inventory_counts_a_listing_from_its_first_month_until_it_leaves(db: Session) -> None:
    org = make_org(db)
    # Three months ago: 3 listings, one still active, one sold last month, one sold that month.
    _listings(db, org.id, 1, first_seen=_month(-3), last_seen=_month(0))
    _listings(db, org.id, 1, first_seen=_month(-3), last_seen=_month(-1), status="sold")
    _listings(db, org.id, 1, first_seen=_month(-3), last_seen=_month(-3), status="sold")
    # Last month: 2 new, one without a price or area (left out of the medians, still counted).
    _listings(db, org.id, 1, first_seen=_month(-1), status="new", square_feet=1250)
    db.execute(
        text(
            "UPDATE market_monitor.tracked_listings SET list_price = NULL, property_data = '{}'"
            " WHERE org_id = :org AND first_seen_at = :at AND status = 'active'"
        ),
        {"org": org.id, "at": _month(-3)},
    )
    _listings(db, org.id, 1, first_seen=_month(-1), status="pending", last_seen=_month(-1))
    trend = trends.market_trends(
        session=db, org_id=org.id, area="48299", source=TrendSource.listings, months=4
    )
    figures = [
        (m.new_listings, m.inventory, m.median_price, m.median_price_per_sqft) for m in trend.months
    ]
    assert figures == [
        (3, 2, Decimal("100001.00"), Decimal("100.00")),  # the one sold that month is gone
        (0, 2, None, None),
        (2, 2, Decimal("100001.00"), Decimal("90.00")),  # pending and last seen: gone
        (0, 2, None, None),  # 1 active + 1 new; sold last month and pending are off the market
    ]
    assert trend.inputs["listings_in_area"] == 5
