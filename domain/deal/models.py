"""Deals, offers and deal documents (schema ``deal_service``).

``deals.property_id`` points at ``property_service.properties`` as a plain indexed UUID, not a
foreign key, so the deal module can be split out without a data migration.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, String
from sqlmodel import Field, SQLModel

from domain.deal.enums import DealDocumentStatus, DealStatus, DealStrategy, DealType, OfferStatus
from store.base import OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, money, tstz

SCHEMA = "deal_service"


class DealBase(SQLModel):
    """Fields a caller may set on a deal."""

    property_id: uuid.UUID = Field(index=True, description="property_service.properties.id")
    deal_type: DealType | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    status: DealStatus = Field(default=DealStatus.lead, sa_type=String(50))  # type: ignore[call-overload]
    purchase_price: Decimal | None = money()
    estimated_repairs: Decimal | None = money()
    expected_profit: Decimal | None = money()
    strategy: DealStrategy | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    timeline: list[dict[str, Any]] = jsonb(default_factory=list, description="dated events")
    team: dict[str, Any] = jsonb(description="people on the deal by role")


class Deal(UUIDPrimaryKey, OrgScoped, Timestamps, DealBase, table=True):
    """An opportunity to buy, rehab, rent or sell one property."""

    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_org_status", "org_id", "status"),
        {"schema": SCHEMA},
    )


class DealCreate(DealBase):
    """Body of ``POST /deals``."""


class DealUpdate(SQLModel):
    """Body of ``PUT /deals/{id}``: only the fields given change."""

    deal_type: DealType | None = None
    status: DealStatus | None = None
    purchase_price: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    estimated_repairs: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    expected_profit: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    strategy: DealStrategy | None = None
    team: dict[str, Any] | None = None


class DealRead(DealBase):
    """A deal as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime


class OfferBase(SQLModel):
    """Fields a caller may set on an offer."""

    offer_amount: Decimal | None = money()
    terms: dict[str, Any] = jsonb(description="financing, contingencies, closing date ...")
    status: OfferStatus = Field(default=OfferStatus.draft, sa_type=String(50))  # type: ignore[call-overload]
    submitted_at: dt.datetime | None = tstz()
    expires_at: dt.datetime | None = tstz()


class Offer(UUIDPrimaryKey, OrgScoped, Timestamps, OfferBase, table=True):
    """An offer on a deal's property."""

    __tablename__ = "offers"
    __table_args__ = {"schema": SCHEMA}

    deal_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.deals.id", index=True, ondelete="CASCADE")


class OfferCreate(OfferBase):
    """Body of ``POST /deals/{id}/offers``."""


class OfferRead(OfferBase):
    """An offer as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    deal_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime


class DealDocument(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A contract, disclosure or report attached to a deal."""

    __tablename__ = "deal_documents"
    __table_args__ = {"schema": SCHEMA}

    deal_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.deals.id", index=True, ondelete="CASCADE")
    document_type: str | None = Field(default=None, max_length=100)
    document_url: str | None = Field(default=None, max_length=500)
    document_id: uuid.UUID | None = Field(
        default=None, index=True, description="documents module's stored object, when stored"
    )
    status: DealDocumentStatus | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
