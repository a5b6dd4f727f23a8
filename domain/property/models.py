"""Properties, their images and market data, and the HUD Section 8 FMR table (``property_service``).

Columns follow the seed's SQL; ``location GEOGRAPHY(POINT)`` becomes ``latitude``/``longitude``
numbers because the embedded PostgreSQL has no PostGIS (radius queries use plain SQL).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Double, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from domain.property.enums import ImageType, MarketDataType, PropertyStatus, PropertyType
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, money, tstz

SCHEMA = "property_service"


class PropertyBase(SQLModel):
    """Fields a caller may set on a property."""

    mls_number: str | None = Field(default=None, max_length=50)
    address: dict[str, Any] = jsonb(description="street, city, state, zip as given")
    address_line: str | None = Field(default=None, max_length=200, description="street line")
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=2, description="two-letter code")
    zip_code: str | None = Field(default=None, max_length=10)
    property_type: PropertyType | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    status: PropertyStatus | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    list_price: Decimal | None = money()
    square_feet: int | None = None
    bedrooms: int | None = None
    bathrooms: Decimal | None = Field(default=None, max_digits=3, decimal_places=1)
    year_built: int | None = None
    lot_size: Decimal | None = Field(default=None, max_digits=10, decimal_places=2)
    latitude: float | None = Field(default=None, sa_type=Double)  # type: ignore[call-overload]
    longitude: float | None = Field(default=None, sa_type=Double)  # type: ignore[call-overload]
    features: dict[str, Any] = jsonb()
    section8_approved: bool = Field(
        default=False, sa_column_kwargs={"server_default": text("false")}
    )
    target_rent: Decimal | None = money(digits=10)
    fmr_compliant: bool | None = None
    # Beyond the seed: what comps, imports and valuations need.
    address_key: str | None = Field(
        default=None, max_length=250, description="normalised address for lookups and dedupe"
    )
    neighborhood: str | None = Field(default=None, max_length=100)
    quality_rating: int | None = Field(default=None, description="overall quality, 1-10")
    condition_rating: int | None = Field(default=None, description="overall condition, 1-10")
    list_date: dt.date | None = None
    close_price: Decimal | None = money()
    close_date: dt.date | None = None
    source: str | None = Field(default=None, max_length=50, description="import source name")
    source_id: str | None = Field(default=None, max_length=100, description="id at the source")


class Property(UUIDPrimaryKey, OrgScoped, Timestamps, PropertyBase, table=True):
    """A house the company looks at, owns, rents or sells."""

    __tablename__ = "properties"
    __table_args__ = (
        # The same MLS listing may be tracked by several organisations.
        UniqueConstraint("org_id", "mls_number", name="uq_properties_org_mls_number"),
        # Re-importing the same source row updates it instead of duplicating it.
        UniqueConstraint("org_id", "source", "source_id", name="uq_properties_org_source_id"),
        Index("ix_properties_org_address_key", "org_id", "address_key"),
        Index("ix_properties_org_close_date", "org_id", "close_date"),
        Index("ix_properties_org_zip_address", "org_id", "zip_code", "address_line"),
        Index("ix_properties_org_city", "org_id", "city"),
        Index("ix_properties_org_status", "org_id", "status"),
        Index("ix_properties_lat_lon", "latitude", "longitude"),
        {"schema": SCHEMA},
    )


class PropertyCreate(PropertyBase):
    """Body of ``POST /properties``."""


class PropertyUpdate(SQLModel):
    """Body of ``PUT /properties/{id}``: only the fields given change."""

    mls_number: str | None = Field(default=None, max_length=50)
    address: dict[str, Any] | None = None
    address_line: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=2)
    zip_code: str | None = Field(default=None, max_length=10)
    property_type: PropertyType | None = None
    status: PropertyStatus | None = None
    list_price: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    square_feet: int | None = None
    bedrooms: int | None = None
    bathrooms: Decimal | None = Field(default=None, max_digits=3, decimal_places=1)
    year_built: int | None = None
    lot_size: Decimal | None = Field(default=None, max_digits=10, decimal_places=2)
    latitude: float | None = None
    longitude: float | None = None
    features: dict[str, Any] | None = None
    section8_approved: bool | None = None
    target_rent: Decimal | None = Field(default=None, max_digits=10, decimal_places=2)
    fmr_compliant: bool | None = None
    neighborhood: str | None = Field(default=None, max_length=100)
    quality_rating: int | None = None
    condition_rating: int | None = None
    list_date: dt.date | None = None
    close_price: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    close_date: dt.date | None = None


class PropertyRead(PropertyBase):
    """A property as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime


class PropertyImage(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """A photo of a property (listing, walkthrough or inspection)."""

    __tablename__ = "property_images"
    __table_args__ = {"schema": SCHEMA}

    property_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.properties.id", index=True, ondelete="CASCADE"
    )
    url: str | None = Field(default=None, max_length=500)
    type: ImageType | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    caption: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    order_index: int | None = None


class MarketData(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """A market figure about a property (comp, rent estimate, valuation ...) and its source."""

    __tablename__ = "market_data"
    __table_args__ = (
        Index("ix_market_data_property_type", "property_id", "data_type"),
        {"schema": SCHEMA},
    )

    property_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.properties.id", index=True, ondelete="CASCADE"
    )
    data_type: MarketDataType | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    value: dict[str, Any] = jsonb()
    source: str | None = Field(default=None, max_length=100)
    recorded_at: dt.datetime | None = tstz()


class Section8Fmr(UUIDPrimaryKey, CreatedAt, table=True):
    """HUD Fair Market Rent and payment standard for one area, year and bedroom count.

    A reference table: HUD publishes one set of figures that every organisation shares, so
    ``org_id`` is NULL for HUD's rows; an organisation may add its own rows (a housing
    authority's payment standard that differs from HUD's) with its ``org_id`` set.
    ``org_id`` deliberately has no foreign key to ``auth.organisations``: truncating or deleting
    organisations (``TRUNCATE ... CASCADE`` in tests, tenant removal) must never wipe the shared
    HUD rows, and PostgreSQL's TRUNCATE CASCADE empties every table that references the truncated
    one, whatever the rows.
    """

    __tablename__ = "section8_fmr"
    __table_args__ = (
        UniqueConstraint(
            "org_id",
            "area",
            "year",
            "bedrooms",
            name="uq_section8_fmr_org_area_year_bedrooms",
            postgresql_nulls_not_distinct=True,
        ),
        {"schema": SCHEMA},
    )

    org_id: uuid.UUID | None = Field(default=None, index=True, description="NULL: HUD, shared")
    area: str = Field(
        max_length=200, description='e.g. "Detroit-Warren-Livonia, MI HUD Metro FMR Area"'
    )
    year: int
    bedrooms: int
    fmr_amount: Decimal | None = money(digits=10)
    payment_standard: Decimal | None = money(digits=10)
    utility_allowance: Decimal | None = money(digits=10)
    effective_date: dt.date | None = None
