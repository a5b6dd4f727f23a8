"""Tables of the valuation module (schema ``valuation_service``).

``comp_features`` is the module's comparable-sales index: one row per property of an
organisation, keyed by the property id, holding the facts the valuation method reads (a
denormalised copy, so comp queries never reach into ``property_service`` tables) and a
normalised feature vector with an HNSW index, so "the nearest prior sales" stays fast at
any number of sales. ``valuations`` keeps every valuation with its inputs and its comps'
adjustment grids, so each figure can be explained later.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from pydantic import ConfigDict, field_serializer, field_validator
from sqlalchemy import Index, String, Text, text
from sqlmodel import Field, SQLModel

from core.money import MoneyOut, format_money_keys
from domain.valuation.enums import ValuationKind
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, money, tstz

SCHEMA = "valuation_service"

# Dimensions of the comp feature vector (see ``domain.valuation.features.feature_vector``).
VECTOR_DIMS = 9
HNSW_INDEX_NAME = "ix_comp_features_embedding_hnsw"


class CompFeature(OrgScoped, Timestamps, table=True):
    """One property's facts and feature vector, as the comparable-sales search sees them."""

    __tablename__ = "comp_features"
    __table_args__ = (
        Index(
            HNSW_INDEX_NAME,
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_l2_ops"},
        ),
        Index("ix_comp_features_org_close_date", "org_id", "close_date"),
        {"schema": SCHEMA},
    )

    # The property's id in property_service (a plain UUID: modules do not share tables).
    property_id: uuid.UUID = Field(primary_key=True)
    embedding: list[float] = Field(sa_type=Vector(VECTOR_DIMS))  # type: ignore[call-overload]
    label: str = Field(max_length=200, description="address line or a source label")
    close_price: Decimal | None = money()
    close_date: dt.date | None = None
    arms_length: bool = Field(
        default=True,
        sa_column_kwargs={"server_default": text("true")},
        description="false for foreclosure, family, allocation and partial-land sales",
    )
    latitude: float | None = None
    longitude: float | None = None
    neighborhood: str | None = Field(default=None, max_length=100)
    zip_code: str | None = Field(default=None, max_length=10)
    city: str | None = Field(default=None, max_length=100)
    facts: dict[str, Any] = jsonb(description="the modelling facts (HomeFacts as JSON)")
    source: str | None = Field(default=None, max_length=50)
    # The property's ``updated_at`` when this row was written from it: a property whose
    # ``updated_at`` differs has changed since, and is re-indexed (``reindex_comps``).
    source_updated_at: dt.datetime | None = tstz()


class ValuationBase(SQLModel):
    """What a valuation says, and what it was based on."""

    property_id: uuid.UUID | None = Field(default=None, index=True)
    kind: ValuationKind = Field(sa_type=String(20))  # type: ignore[call-overload]
    value: Decimal = money(nullable=False)
    low: Decimal = money(nullable=False)
    high: Decimal = money(nullable=False)
    confidence: Decimal = Field(
        max_digits=4, decimal_places=3, description="P(true value within 10% of value), 0-1"
    )
    as_of: dt.date
    method: str = Field(max_length=100)
    version: str = Field(max_length=20)
    inputs: dict[str, Any] = jsonb(description="subject, adjustment rates, market index ...")
    comps: list[dict[str, Any]] = jsonb(
        default_factory=list, description="each comp with its adjustment grid and weight"
    )
    created_by: uuid.UUID | None = Field(default=None, description="user id; None for jobs")
    stale_reason: str | None = Field(
        default=None,
        sa_type=Text,  # type: ignore[call-overload]
        description="set when an event says a re-valuation is due",
    )


class Valuation(UUIDPrimaryKey, OrgScoped, CreatedAt, ValuationBase, table=True):
    """One valuation of a property (as-is or after repair), explained by its comps."""

    __tablename__ = "valuations"
    __table_args__ = (
        Index("ix_valuations_org_property_created", "org_id", "property_id", "created_at"),
        {"schema": SCHEMA},
    )


def reconciliation_with_cents(inputs: dict[str, Any]) -> dict[str, Any]:
    """Valuation inputs with the reconciled value, low and high as two-place strings."""
    reconciliation = inputs.get("reconciliation")
    if not isinstance(reconciliation, dict):
        return inputs
    return {**inputs, "reconciliation": format_money_keys(reconciliation, ("value", "low", "high"))}


# Money keys of a stored comp (``ComparableRead`` as JSON) and of its grid lines.
COMP_MONEY_KEYS = ("sale_price", "adjusted_price", "net_adjustment", "gross_adjustment", "amount")


class ValuationRead(ValuationBase):
    """A stored valuation as the API returns it (money as two-place strings)."""

    id: uuid.UUID
    org_id: uuid.UUID
    created_at: dt.datetime
    value: MoneyOut
    low: MoneyOut
    high: MoneyOut

    @field_serializer("comps", when_used="json")
    def _comps_money(self, comps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Comps stored before amounts were written with cents read back with them too."""
        return list(format_money_keys(comps, COMP_MONEY_KEYS))

    @field_serializer("inputs", when_used="json")
    def _inputs_money(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return reconciliation_with_cents(inputs)


# --- requests and results ----------------------------------------------------------------


class SubjectAttributes(SQLModel):
    """A home described by its attributes (when it is not, or not yet, a stored property).

    It needs a location: coordinates, or a neighbourhood or ZIP code where the organisation
    has sales. ``features`` takes the keys ``domain.valuation.features.FEATURE_KEYS`` lists.
    """

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    label: str | None = Field(default=None, max_length=200, description="how to call it")
    square_feet: int | None = Field(default=None, gt=0, le=100_000)
    bedrooms: int | None = Field(default=None, ge=0, le=20)
    bathrooms: Decimal | None = Field(default=None, ge=0, le=20)
    year_built: int | None = Field(default=None, ge=1700, le=2100)
    lot_size: Decimal | None = Field(default=None, ge=0, description="lot area in sqft")
    condition_rating: int | None = Field(default=None, ge=1, le=10)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    neighborhood: str | None = Field(default=None, max_length=100)
    zip_code: str | None = Field(default=None, max_length=10)
    features: dict[str, Any] = Field(default_factory=dict)


class ValuationRequest(SQLModel):
    """Body of the valuation and comparables endpoints: a stored property or attributes."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    property_id: uuid.UUID | None = Field(default=None, description="a property of yours")
    subject: SubjectAttributes | None = Field(default=None, description="or its attributes")
    as_of: dt.date | None = Field(
        default=None, description="value date, today or earlier (default: today)"
    )
    max_comps: int = Field(default=10, ge=3, le=25, description="comps to reconcile")

    @field_validator("as_of")
    @classmethod
    def _not_in_the_future(cls, value: dt.date | None) -> dt.date | None:
        """A value date after today (company-local) would stay the "latest" valuation for good."""
        from domain.valuation.service import check_as_of  # the one check; it imports this module

        return check_as_of(value)


class AdjustmentLineRead(SQLModel):
    """One line of a comp's adjustment grid."""

    line: str = Field(description="time, location, size, bedrooms, condition ...")
    subject: dict[str, Any] = Field(description="the subject's facts on this line")
    comp: dict[str, Any] = Field(description="the comp's facts on this line")
    log_adjustment: float = Field(description="rate x difference, in log price")
    amount: MoneyOut = Field(description="dollars added to (or taken off) the comp's price")


class ComparableRead(SQLModel):
    """A comparable sale with its adjustment grid, adjusted price and reconciliation weight."""

    property_id: uuid.UUID
    label: str
    sale_price: MoneyOut
    sale_date: dt.date
    distance_miles: float | None
    years_since_sale: float
    lines: list[AdjustmentLineRead]
    adjusted_price: MoneyOut
    net_adjustment: MoneyOut
    gross_adjustment: MoneyOut
    net_adjustment_pct: float
    gross_adjustment_pct: float
    similarity_score: float = Field(description="lower is more similar")
    weight: float = Field(description="share of the reconciled value, 0-1")


class SubjectRead(SQLModel):
    """The home valued: its id (if stored), label, the facts used and what was inferred."""

    property_id: uuid.UUID | None
    label: str
    facts: dict[str, Any]
    inferred: dict[str, Any] = Field(default_factory=dict)


class CompAnalysis(SQLModel):
    """Comparable sales, their grids, and the reconciled value with its range and confidence."""

    kind: ValuationKind
    as_of: dt.date
    subject: SubjectRead
    value: MoneyOut
    low: MoneyOut
    high: MoneyOut
    confidence: Decimal = Field(description="P(true value within 10% of value), 0-1")
    method: str
    version: str
    comps: list[ComparableRead]
    inputs: dict[str, Any] = Field(
        description="market model (rates, sales, period), month index, search, reconciliation"
    )

    @field_serializer("inputs", when_used="json")
    def _inputs_money(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return reconciliation_with_cents(inputs)


class PropertyValuations(SQLModel):
    """A property's latest as-is value and ARV, and all its valuations, newest first."""

    property_id: uuid.UUID
    latest_as_is: ValuationRead | None
    latest_arv: ValuationRead | None
    history: list[ValuationRead]


class MarketMonth(SQLModel):
    """One month of an area's sales."""

    month: str = Field(description="YYYY-MM")
    sales: int
    dollar_volume: MoneyOut | None = Field(default=None, description="the month's sale dollars")
    median_price: MoneyOut | None
    median_price_per_sqft: MoneyOut | None


class MarketAnalysis(SQLModel):
    """An area's arm's-length sales over a period: medians, volume and the monthly trend."""

    zip_code: str | None
    neighborhood: str | None
    period_start: dt.date | None
    period_end: dt.date | None
    sales: int
    total_volume: MoneyOut
    median_price: MoneyOut | None
    median_price_per_sqft: MoneyOut | None
    price_per_sqft_change_pct: float | None = Field(
        description="median $/sqft of the last 6 months vs the 6 months before, in %"
    )
    trend: list[MarketMonth]
    inputs: dict[str, Any]
