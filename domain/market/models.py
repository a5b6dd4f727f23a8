"""Listings the market monitor tracks and the opportunities it finds (schema ``market_monitor``).

``tracked_listings`` and ``opportunities`` are the seed's tables; revision 0003 adds what the
monitor needs beyond them: the normalised address (dedupe across sources), the price history
(every price seen, with when and by which scan), the explained score, and the tables for feeds,
scans, investors' alert criteria, the alerts sent, and monthly market statistics.

Cross-module references (``requested_by``, ``user_id``) are plain UUIDs, as everywhere.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, field_serializer, field_validator, model_validator
from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from core.clock import DEFAULT_TIMEZONE
from core.money import MoneyOut, format_money_keys
from domain.market.enums import (
    AlertStatus,
    FeedKind,
    ListingSource,
    ListingStatus,
    OpportunityStatus,
    OpportunityStrategy,
    ScanStatus,
    ScanTrigger,
)
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, money, tstz

SCHEMA = "market_monitor"
# The company's time zone (``core.clock.DEFAULT_TIMEZONE``, imported above, as the chat tools
# and the construction module use): alert criteria saved without one are in it.


class TrackedListing(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A listing seen on a source (Zillow, Redfin, MLS); re-scans update the same row."""

    __tablename__ = "tracked_listings"
    __table_args__ = (
        UniqueConstraint(
            "org_id", "source", "external_id", name="uq_tracked_listings_org_source_external_id"
        ),
        Index("ix_tracked_listings_org_status", "org_id", "status"),
        Index("ix_tracked_listings_org_address_key", "org_id", "address_key"),
        Index("ix_tracked_listings_org_zip", "org_id", "zip_code"),
        {"schema": SCHEMA},
    )

    source: ListingSource = Field(sa_type=String(50))  # type: ignore[call-overload]
    external_id: str = Field(max_length=100)
    address: dict[str, Any] = jsonb()
    list_price: Decimal | None = money()
    property_data: dict[str, Any] = jsonb()
    score: Decimal | None = Field(default=None, max_digits=5, decimal_places=2)
    status: ListingStatus = Field(default=ListingStatus.new, sa_type=String(50))  # type: ignore[call-overload]
    # Beyond the seed (revision 0003).
    address_key: str | None = Field(
        default=None, max_length=250, description="normalised street line + unit (dedupe key)"
    )
    address_line: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    zip_code: str | None = Field(default=None, max_length=10)
    price_history: list[dict[str, Any]] = jsonb(
        default_factory=list, description="[{price, at, scan_id, change}] oldest first"
    )
    score_details: dict[str, Any] = jsonb(
        description="the explained score: components with weights, inputs and sources"
    )
    first_seen_at: dt.datetime | None = tstz()
    last_seen_at: dt.datetime | None = tstz()
    last_scan_id: uuid.UUID | None = Field(default=None)


class Opportunity(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A listing scored as worth a look, with the numbers behind the score."""

    __tablename__ = "opportunities"
    __table_args__ = (
        Index("ix_opportunities_org_created", "org_id", "created_at"),
        UniqueConstraint("listing_id", name="uq_opportunities_listing"),
        {"schema": SCHEMA},
    )

    listing_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.tracked_listings.id", index=True, ondelete="CASCADE"
    )
    score: Decimal | None = Field(default=None, max_digits=5, decimal_places=2)
    roi_estimate: Decimal | None = Field(default=None, max_digits=5, decimal_places=2)
    rehab_estimate: Decimal | None = money()
    strategy: OpportunityStrategy | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    alert_sent: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    # Beyond the seed (revision 0003).
    status: OpportunityStatus = Field(
        default=OpportunityStatus.open,
        sa_type=String(20),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": text("'open'")},
    )
    as_is_value: Decimal | None = money()
    arv: Decimal | None = money()
    details: dict[str, Any] = jsonb(
        description="score components, underwriting results and their sources"
    )


class MonitorFeed(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A feed the monitor scans: on demand, or every ``every_minutes`` on the schedule."""

    __tablename__ = "feeds"
    __table_args__ = (
        UniqueConstraint("org_id", "kind", "location", name="uq_feeds_org_kind_location"),
        Index("ix_feeds_due", "next_run_at", postgresql_where=text("every_minutes IS NOT NULL")),
        {"schema": SCHEMA},
    )

    kind: FeedKind = Field(sa_type=String(20))  # type: ignore[call-overload]
    location: str = Field(max_length=500, description="https URL, document id, or 'demo'")
    source: ListingSource = Field(
        default=ListingSource.mls,
        sa_type=String(50),  # type: ignore[call-overload]
        description="the source its listings are recorded under",
    )
    name: str | None = Field(default=None, max_length=200)
    every_minutes: int | None = Field(default=None, description="None: on demand only")
    next_run_at: dt.datetime | None = tstz()
    created_by: uuid.UUID | None = Field(default=None, description="auth.users.id")


class MonitorScan(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """One scan of a feed: when, by whom, what it found and what it rejected."""

    __tablename__ = "scans"
    __table_args__ = (Index("ix_scans_org_created", "org_id", "created_at"), {"schema": SCHEMA})

    feed_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.feeds.id", index=True, ondelete="SET NULL"
    )
    source: ListingSource = Field(sa_type=String(50))  # type: ignore[call-overload]
    feed_label: str = Field(max_length=500, description="file name or URL scanned")
    trigger: ScanTrigger = Field(default=ScanTrigger.manual, sa_type=String(20))  # type: ignore[call-overload]
    status: ScanStatus = Field(default=ScanStatus.queued, sa_type=String(20))  # type: ignore[call-overload]
    requested_by: uuid.UUID | None = Field(default=None, description="auth.users.id")
    job_id: str | None = Field(default=None, max_length=100)
    counts: dict[str, Any] = jsonb(description="rows, new, updated, unchanged, rejected ...")
    rejections: list[dict[str, Any]] = jsonb(
        default_factory=list, description="[{line, external_id, reason}] (first 200)"
    )
    error: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    started_at: dt.datetime | None = tstz()
    finished_at: dt.datetime | None = tstz()


class AlertCriteria(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """One investor's alert criteria (one set per user): areas, prices, scores, quiet hours."""

    __tablename__ = "alert_criteria"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id", name="uq_alert_criteria_org_user"),
        {"schema": SCHEMA},
    )

    user_id: uuid.UUID = Field(description="auth.users.id of the investor alerted")
    zip_codes: list[str] = jsonb(default_factory=list)
    cities: list[str] = jsonb(default_factory=list, description="upper case")
    min_price: Decimal | None = money()
    max_price: Decimal | None = money()
    min_score: Decimal | None = Field(default=None, max_digits=5, decimal_places=2)
    min_roi_pct: Decimal | None = Field(default=None, max_digits=7, decimal_places=2)
    strategies: list[str] = jsonb(default_factory=list)
    quiet_hours_start: dt.time | None = None
    quiet_hours_end: dt.time | None = None
    timezone: str = Field(default=DEFAULT_TIMEZONE, max_length=64)
    active: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})


class MarketAlert(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """One alert about one opportunity to one investor: held, queued on WhatsApp, or unsendable."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("criteria_id", "opportunity_id", name="uq_alerts_criteria_opportunity"),
        Index("ix_alerts_held", "send_after", postgresql_where=text("status = 'held'")),
        {"schema": SCHEMA},
    )

    criteria_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.alert_criteria.id", index=True, ondelete="CASCADE"
    )
    opportunity_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.opportunities.id", index=True, ondelete="CASCADE"
    )
    user_id: uuid.UUID = Field(index=True, description="auth.users.id")
    status: AlertStatus = Field(sa_type=String(20))  # type: ignore[call-overload]
    channel: str = Field(default="whatsapp", max_length=20)
    message: str = Field(sa_type=Text)  # type: ignore[call-overload]
    status_reason: str | None = Field(
        default=None,
        sa_type=Text,  # type: ignore[call-overload]
        description="why the alert was not sent (no_phone, skipped); None otherwise",
    )
    send_after: dt.datetime | None = tstz()
    sent_at: dt.datetime | None = tstz()
    outbox_message_ids: list[str] = jsonb(
        default_factory=list, description="whatsapp_service.messages ids the alert was queued as"
    )
    source_event_id: uuid.UUID | None = Field(default=None)


class MarketStat(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """One area's market statistics for one month from an outside source (e.g. txhousing)."""

    __tablename__ = "market_stats"
    __table_args__ = (
        UniqueConstraint("org_id", "source", "area", "month", name="uq_market_stats_key"),
        {"schema": SCHEMA},
    )

    source: str = Field(max_length=50)
    area: str = Field(max_length=100)
    month: dt.date = Field(description="first day of the month")
    sales: int | None = None
    dollar_volume: Decimal | None = money(digits=16)
    median_price: Decimal | None = money()
    listings: int | None = Field(default=None, description="active listings (inventory)")
    months_of_inventory: Decimal | None = Field(default=None, max_digits=6, decimal_places=2)


# --- API bodies and views ------------------------------------------------------------------


# Money keys of an opportunity's ``details`` (see ``domain.market.scoring``).
DETAILS_MONEY_KEYS = (
    "amount",
    "list_price",
    "original_price",
    "monthly_cash_flow",
    "profit",
    "cash_invested",
    "cash_left_in_deal",
    "low",
    "high",
    "utilities_while_holding_monthly",
    "flip_min_profit",
    "rental_min_cash_flow_monthly",
    "brrrr_min_cash_flow_monthly",
)
# Money keys of a listing's ``property_data``.
LISTING_MONEY_KEYS = ("original_list_price", "list_price")


class ListingRead(SQLModel):
    """A tracked listing as the API returns it."""

    id: uuid.UUID
    source: ListingSource
    external_id: str
    address_line: str | None
    city: str | None
    zip_code: str | None
    list_price: MoneyOut | None
    status: ListingStatus
    score: Decimal | None
    price_history: list[dict[str, Any]]
    property_data: dict[str, Any]
    first_seen_at: dt.datetime | None
    last_seen_at: dt.datetime | None

    @field_serializer("property_data", when_used="json")
    def _property_data_money(self, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(format_money_keys(data, LISTING_MONEY_KEYS))
        by_source = out.get("price_by_source")
        if isinstance(by_source, dict):
            out["price_by_source"] = format_money_keys(by_source, by_source.keys())
        return out


class OpportunitySort(StrEnum):
    """The order of an opportunities list (``sort``); every order ends on the id (stable pages).

    ``-score`` (the default) is best first: score high to low, then the newest listing (the one
    the monitor first saw most recently), then the id. ``score`` is lowest first. ``newest`` and
    ``oldest`` order by when the monitor first saw the listing (then best first); ``price`` and
    ``-price`` by list price low to high and high to low (then best first). A re-scored or
    re-analysed opportunity keeps its place unless its score (or price) changed.
    """

    score_desc = "-score"
    score_asc = "score"
    newest = "newest"
    oldest = "oldest"
    price_asc = "price"
    price_desc = "-price"


# How a score component counts: in the score; left out (nothing to score it on); or stored by
# an earlier version of the scoring, whose points cannot be restated exactly.
ComponentStatus = Literal["scored", "not_scored", "not_reproducible"]


class ScoreComponentRead(SQLModel):
    """One part of an opportunity's score: the points it earned and what it was computed from."""

    name: str = Field(description="discount_to_value, arv_spread, rental_cash_flow, ...")
    label: str = Field(description="the component in words")
    status: ComponentStatus = Field(
        description="scored: counted in the score; not_scored: left out (no figure for it), "
        "its weight went to the others; not_reproducible: stored by an earlier version of "
        "the scoring, so its points cannot be restated exactly (see the breakdown's notes)"
    )
    points: Decimal | None = Field(
        description="points earned toward the 0-100 score; the scored components' points "
        "add up to the score exactly"
    )
    max_points: Decimal | None = Field(
        description="the most it could earn for this listing: its weight, scaled up when "
        "another component could not be scored (the scored components' add up to 100)"
    )
    weight: Decimal | None = Field(description="its weight out of 100 when every part is scored")
    share: Decimal | None = Field(description="the share of its maximum it earned, 0 to 1")
    value: str | None = Field(description="the figure it was scored on, e.g. 31.5% or $36,880")
    explanation: str = Field(description="how it was scored, with the figures, in words")
    inputs: dict[str, Any] = Field(
        description="the input figures it used: amounts (two places) with their sources, "
        "percentages and the cash flow's formulas"
    )


class ScoreBreakdown(SQLModel):
    """Why an opportunity scored what it did: its components, whose points sum to the score."""

    score: Decimal | None = Field(description="the opportunity's score, 0-100")
    stage: str | None = Field(description="screening or underwriting (what valued it)")
    reproducible: bool = Field(
        description="true when the stored components restate the score exactly (the points "
        "of the scored components sum to it); false for rows scored by an earlier version, "
        "or without a score, with the reason in notes"
    )
    total_points: Decimal | None = Field(description="the sum of the components' points")
    weights_used: Decimal | None = Field(
        description="the weights of the components that could be scored (100 when all could)"
    )
    components: list[ScoreComponentRead]
    notes: list[str] = Field(description="what was left out of the score and why")


class OpportunityRead(SQLModel):
    """An opportunity with its listing and the explained score."""

    id: uuid.UUID
    listing_id: uuid.UUID
    score: Decimal | None
    roi_estimate: Decimal | None
    rehab_estimate: MoneyOut | None
    as_is_value: MoneyOut | None
    arv: MoneyOut | None
    strategy: OpportunityStrategy | None
    status: OpportunityStatus
    alert_sent: bool
    details: dict[str, Any]
    score_breakdown: ScoreBreakdown = Field(
        description="why it scored what it did: each component's points (summing to the "
        "score), maximum, inputs and explanation"
    )
    listing: ListingRead
    created_at: dt.datetime
    updated_at: dt.datetime

    @field_serializer("details", when_used="json")
    def _details_money(self, details: dict[str, Any]) -> dict[str, Any]:
        """Amounts in the score's explanation with cents, also in rows stored before."""
        return dict(format_money_keys(details, DETAILS_MONEY_KEYS))


class ScanRead(SQLModel):
    """A scan as the API returns it."""

    id: uuid.UUID
    feed_id: uuid.UUID | None
    source: ListingSource
    feed_label: str
    trigger: ScanTrigger
    status: ScanStatus
    counts: dict[str, Any]
    rejections: list[dict[str, Any]]
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class FeedRead(SQLModel):
    """A monitored feed as the API returns it."""

    id: uuid.UUID
    kind: FeedKind
    location: str
    source: ListingSource
    name: str | None
    every_minutes: int | None
    next_run_at: dt.datetime | None


class AlertCriteriaRead(SQLModel):
    """Alert criteria as the API returns them."""

    id: uuid.UUID
    user_id: uuid.UUID
    zip_codes: list[str]
    cities: list[str]
    min_price: MoneyOut | None
    max_price: MoneyOut | None
    min_score: Decimal | None
    min_roi_pct: Decimal | None
    strategies: list[str]
    quiet_hours_start: dt.time | None
    quiet_hours_end: dt.time | None
    timezone: str
    active: bool
    updated_at: dt.datetime


class AlertRead(SQLModel):
    """An alert as the API returns it."""

    id: uuid.UUID
    opportunity_id: uuid.UUID
    user_id: uuid.UUID
    status: AlertStatus
    message: str
    status_reason: str | None = None
    send_after: dt.datetime | None
    sent_at: dt.datetime | None
    created_at: dt.datetime


class AlertCriteriaIn(SQLModel):
    """Body of ``POST /alerts/configure``: what an investor wants to hear about, and when not.

    Empty lists mean "any". Quiet hours are local times in ``timezone`` (an IANA name such as
    ``America/Detroit``); they may wrap midnight (22:00-07:00). Alerts that fall in them are held
    and sent when they end. A save replaces the criteria (quiet hours left out: none), but a
    ``timezone`` left out keeps the saved one (new criteria: the company's, America/Detroit).
    """

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    user_id: uuid.UUID | None = Field(
        default=None, description="whose criteria (admins/analysts only; default: yours)"
    )
    zip_codes: list[str] = Field(default_factory=list, max_length=100)
    cities: list[str] = Field(default_factory=list, max_length=100)
    min_price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    max_price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    min_score: Decimal | None = Field(default=None, ge=0, le=100, max_digits=5, decimal_places=2)
    min_roi_pct: Decimal | None = Field(
        default=None, ge=-100, le=1000, max_digits=7, decimal_places=2
    )
    strategies: list[OpportunityStrategy] = Field(default_factory=list, max_length=4)
    quiet_hours_start: dt.time | None = Field(default=None, description="e.g. 21:00")
    quiet_hours_end: dt.time | None = Field(default=None, description="e.g. 07:30")
    timezone: str = Field(
        default=DEFAULT_TIMEZONE,
        max_length=64,
        description="IANA name; left out: the saved one, else the company's (America/Detroit)",
    )
    active: bool = True

    @field_validator("zip_codes")
    @classmethod
    def _zips(cls, value: list[str]) -> list[str]:
        """Five-digit ZIP codes (ZIP+4 is cut to five)."""
        out = []
        for item in value:
            text = item.strip()
            if not re.fullmatch(r"\d{5}(-\d{4})?", text):
                raise ValueError(f"{item!r} is not a ZIP code (five digits)")
            if text[:5] not in out:
                out.append(text[:5])
        return out

    @field_validator("cities")
    @classmethod
    def _cities(cls, value: list[str]) -> list[str]:
        """City names, compared without case."""
        out = []
        for item in value:
            text = " ".join(item.split()).upper()
            if not text or len(text) > 100:
                raise ValueError(f"{item!r} is not a city name (1-100 characters)")
            if text not in out:
                out.append(text)
        return out

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        """An IANA time zone name."""
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone; use an IANA name such as America/Detroit"
            ) from None
        return value.strip()

    @field_validator("quiet_hours_start", "quiet_hours_end")
    @classmethod
    def _local_time(cls, value: dt.time | None) -> dt.time | None:
        """A local wall-clock time: an offset ("22:00+02:00") would be dropped when stored."""
        if value is not None and value.tzinfo is not None:
            raise ValueError(
                f"{value.isoformat()} carries a UTC offset: quiet hours are local times in "
                "`timezone` (give 22:00, not 22:00+02:00)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AlertCriteriaIn:
        """A price range low to high; quiet hours both given (and not equal) or neither."""
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError("min_price must not be more than max_price")
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            raise ValueError("give both quiet_hours_start and quiet_hours_end, or neither")
        if self.quiet_hours_start is not None and self.quiet_hours_start == self.quiet_hours_end:
            raise ValueError("quiet hours must not start and end at the same time")
        return self
