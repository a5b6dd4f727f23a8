"""Deals, offers, deal documents and the deal timeline (schema ``deal_service``).

``deals.property_id`` points at ``property_service.properties`` as a plain indexed UUID, not a
foreign key, so the deal module can be split out without a data migration; the same goes for
``owner_user_id`` and ``team_user_ids`` (``auth.users``).

``deal_events`` is the deal's recorded history: every status change, offer, document, payment
and valuation the deal module learns of, with who did it and when. ``GET /deals/{id}/timeline``
is built from it (plus outbox events about the deal that no subscriber has handled yet).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import BigInteger, Column, Identity, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

from domain.deal.enums import (
    DealDocumentStatus,
    DealEventKind,
    DealStatus,
    DealStrategy,
    DealType,
    Financing,
    OfferStatus,
)
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, money, tstz

SCHEMA = "deal_service"


class DealBase(SQLModel):
    """Fields a caller may set on a deal."""

    property_id: uuid.UUID = Field(index=True, description="property_service.properties.id")
    deal_type: DealType | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    strategy: DealStrategy | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    purchase_price: Decimal | None = money(ge=0, description="contract or expected price, USD")
    estimated_repairs: Decimal | None = money(ge=0, description="rehab budget estimate, USD")
    expected_profit: Decimal | None = money(description="expected profit, USD (may be negative)")
    team: dict[str, Any] = jsonb(
        description=(
            "people on the deal by role: {role: [member, ...]}; a member is a user id or "
            "{user_id?, name?, email?, phone?, company?}"
        )
    )


class Deal(UUIDPrimaryKey, OrgScoped, Timestamps, DealBase, table=True):
    """An opportunity to buy, rehab, rent or sell one property."""

    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_org_status", "org_id", "status"),
        Index("ix_deals_team_user_ids", "team_user_ids", postgresql_using="gin"),
        {"schema": SCHEMA},
    )

    status: DealStatus = Field(default=DealStatus.lead, sa_type=String(50))  # type: ignore[call-overload]
    owner_user_id: uuid.UUID | None = Field(
        default=None, index=True, description="auth.users.id of the deal's owner"
    )
    team_user_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_type=ARRAY(PG_UUID(as_uuid=True)),  # type: ignore[call-overload]
        sa_column_kwargs={"nullable": False, "server_default": text("'{}'::uuid[]")},
        description="users named in team (derived from it; who may see the deal)",
    )
    timeline: list[dict[str, Any]] = jsonb(
        default_factory=list, description="status history: [{status, at, by}]"
    )


class DealCreate(DealBase):
    """Body of ``POST /deals``."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    # Plain values, not enum members: a refusal lists 'lead' or 'analyzing', not enum reprs.
    status: Literal["lead", "analyzing"] = Field(
        default=DealStatus.lead.value, description="a new deal starts as a lead or being analysed"
    )
    owner_user_id: uuid.UUID | None = Field(
        default=None, description="who owns the deal (a user of your organisation); you if unset"
    )


class DealUpdate(SQLModel):
    """Body of ``PUT /deals/{id}``: only the fields given change; status has its own route."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    deal_type: DealType | None = None
    strategy: DealStrategy | None = None
    purchase_price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    estimated_repairs: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    expected_profit: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    team: dict[str, Any] | None = None
    owner_user_id: uuid.UUID | None = None


class DealRead(DealBase):
    """A deal as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    status: DealStatus
    owner_user_id: uuid.UUID | None
    team_user_ids: list[uuid.UUID]
    timeline: list[dict[str, Any]] = Field(
        default_factory=list,
        description="status history; the full timeline is GET /deals/{id}/timeline",
    )
    allowed_next_statuses: list[DealStatus] = Field(
        default_factory=list, description="statuses PUT /deals/{id}/status accepts now"
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class DealStatusChange(SQLModel):
    """Body of ``PUT /deals/{id}/status``."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    status: DealStatus
    reason: str | None = Field(default=None, max_length=1000, description="why, for the timeline")


# --- offers --------------------------------------------------------------------------------


class OfferTerms(BaseModel):
    """An offer's terms; keys beyond these are kept as given."""

    model_config = ConfigDict(extra="allow")

    earnest_money: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    financing: Financing | None = None
    down_payment: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    inspection_days: int | None = Field(default=None, ge=0, le=365)
    closing_date: dt.date | None = None
    seller_concessions: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    contingencies: list[str] = Field(default_factory=list)
    notes: str | None = Field(default=None, max_length=2000)


class OfferBase(SQLModel):
    """Fields every view of an offer shares."""

    offer_amount: Decimal | None = money(gt=0)
    terms: dict[str, Any] = jsonb(description="earnest money, financing, inspection days ...")
    status: OfferStatus = Field(default=OfferStatus.draft, sa_type=String(50))  # type: ignore[call-overload]
    submitted_at: dt.datetime | None = tstz()
    expires_at: dt.datetime | None = tstz()


class Offer(UUIDPrimaryKey, OrgScoped, Timestamps, OfferBase, table=True):
    """An offer on a deal's property."""

    __tablename__ = "offers"
    __table_args__ = (
        # The expiry sweep scans open offers by their expiry time.
        Index(
            "ix_offers_open_expiry",
            "expires_at",
            postgresql_where=text("status IN ('submitted', 'countered')"),
        ),
        {"schema": SCHEMA},
    )

    deal_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.deals.id", index=True, ondelete="CASCADE")
    created_by: uuid.UUID | None = Field(default=None, description="auth.users.id")


class OfferCreate(SQLModel):
    """Body of ``POST /deals/{id}/offers``."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    offer_amount: Decimal = Field(
        gt=0, description="offered price, USD", max_digits=12, decimal_places=2
    )
    terms: OfferTerms = Field(default_factory=OfferTerms)
    # Plain values, not enum members: a refusal lists 'draft' or 'submitted'.
    status: Literal["draft", "submitted"] = Field(
        default=OfferStatus.submitted.value,
        description=(
            "submitted (default) moves a lead/analyzing deal to offer_made; a draft does not"
        ),
    )
    expires_at: dt.datetime | None = Field(
        default=None, description="when the offer lapses (with a time zone, in the future)"
    )

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        """An expiry needs a time zone, or its moment is ambiguous."""
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a time zone, e.g. 2025-06-01T17:00:00Z")
        return value


class OfferStatusChange(SQLModel):
    """Body of ``PUT /deals/{id}/offers/{offer_id}/status``."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    status: OfferStatus
    note: str | None = Field(default=None, max_length=1000)


class OfferRead(OfferBase):
    """An offer as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    deal_id: uuid.UUID
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DealDocument(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A contract, disclosure or report attached to a deal."""

    __tablename__ = "deal_documents"
    __table_args__ = (
        UniqueConstraint("deal_id", "document_id", name="uq_deal_documents_deal_document"),
        {"schema": SCHEMA},
    )

    deal_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.deals.id", index=True, ondelete="CASCADE")
    document_type: str | None = Field(default=None, max_length=100)
    document_url: str | None = Field(default=None, max_length=500)
    document_id: uuid.UUID | None = Field(
        default=None, index=True, description="documents module's stored object, when stored"
    )
    status: DealDocumentStatus | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]


class DealDocumentRead(SQLModel):
    """A deal document as the API returns it."""

    id: uuid.UUID
    deal_id: uuid.UUID
    document_type: str | None
    document_url: str | None
    document_id: uuid.UUID | None
    status: DealDocumentStatus | None
    created_at: dt.datetime


# --- the timeline --------------------------------------------------------------------------


class DealEvent(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """One recorded happening in a deal's life: who, what, when (append-only)."""

    __tablename__ = "deal_events"
    __table_args__ = (
        # One entry per deal per source event: redelivering an event records nothing new.
        UniqueConstraint("deal_id", "source_event_id", name="uq_deal_events_deal_source_event"),
        Index("ix_deal_events_deal_order", "deal_id", "occurred_at", "seq"),
        {"schema": SCHEMA},
    )

    deal_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.deals.id", ondelete="CASCADE")
    # Insertion order: breaks ties between entries written in the same instant.
    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), nullable=False)
    )
    occurred_at: dt.datetime = tstz(nullable=False)
    kind: DealEventKind = Field(sa_type=String(50))  # type: ignore[call-overload]
    summary: str = Field(sa_type=Text)  # type: ignore[call-overload]
    details: dict[str, Any] = jsonb()
    actor: str = Field(max_length=200, description="user email, or 'system'")
    actor_user_id: uuid.UUID | None = Field(default=None)
    source_event_id: uuid.UUID | None = Field(
        default=None, description="events.outbox id this entry came from or announced"
    )


class TimelineEntry(BaseModel):
    """One line of a deal's timeline."""

    at: dt.datetime
    kind: DealEventKind
    summary: str
    actor: str = Field(description="user email, or 'system'")
    details: dict[str, Any] = Field(default_factory=dict)
    event_id: uuid.UUID | None = Field(default=None, description="the outbox event, if any")
    source: Literal["deal", "outbox"] = Field(
        description="deal: recorded by the deal module; outbox: an event not yet handled"
    )


class DealTimeline(BaseModel):
    """A deal's timeline, oldest first: one page of it (``limit`` entries from ``offset``)."""

    deal_id: uuid.UUID
    entries: list[TimelineEntry] = Field(
        description="this page, oldest first (the same as items; the name from before paging)"
    )
    items: list[TimelineEntry] = Field(
        default_factory=list, description="this page, oldest first (the same as entries)"
    )
    total: int = Field(default=0, description="entries on the timeline, over all pages")
    limit: int | None = Field(default=None, description="entries per page (null: every entry)")
    offset: int = Field(default=0, description="entries skipped before this page")


class DealDetail(DealRead):
    """A deal with its offers and documents, as ``GET /deals/{id}`` returns it."""

    offers: list[OfferRead] = Field(default_factory=list)
    documents: list[DealDocumentRead] = Field(default_factory=list)


class OfferResult(OfferRead):
    """An offer after a change, with the status its deal is now in."""

    deal_status: DealStatus = Field(description="the deal's status after the change")
