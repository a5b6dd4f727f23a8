"""Listings the market monitor tracks and the opportunities it finds (schema ``market_monitor``)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint, text
from sqlmodel import Field

from domain.market.enums import ListingSource, ListingStatus, OpportunityStrategy
from store.base import OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, money

SCHEMA = "market_monitor"


class TrackedListing(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A listing seen on a source (Zillow, Redfin, MLS); re-scans update the same row."""

    __tablename__ = "tracked_listings"
    __table_args__ = (
        UniqueConstraint(
            "org_id", "source", "external_id", name="uq_tracked_listings_org_source_external_id"
        ),
        Index("ix_tracked_listings_org_status", "org_id", "status"),
        {"schema": SCHEMA},
    )

    source: ListingSource = Field(sa_type=String(50))  # type: ignore[call-overload]
    external_id: str = Field(max_length=100)
    address: dict[str, Any] = jsonb()
    list_price: Decimal | None = money()
    property_data: dict[str, Any] = jsonb()
    score: Decimal | None = Field(default=None, max_digits=5, decimal_places=2)
    status: ListingStatus = Field(default=ListingStatus.new, sa_type=String(50))  # type: ignore[call-overload]


class Opportunity(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A listing scored as worth a look, with the numbers behind the score."""

    __tablename__ = "opportunities"
    __table_args__ = (
        Index("ix_opportunities_org_created", "org_id", "created_at"),
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
