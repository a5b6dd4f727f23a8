"""Properties, their images and market data, and the HUD Section 8 FMR table (``property_service``).

Columns follow the seed's SQL; ``location GEOGRAPHY(POINT)`` becomes ``latitude``/``longitude``
numbers because the embedded PostgreSQL has no PostGIS (radius queries use plain SQL).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, field_validator, model_validator
from sqlalchemy import Double, Index, String, Text, UniqueConstraint, column, text
from sqlmodel import Field, SQLModel

from core.money import format_money_keys
from core.paging import MAX_OFFSET
from core.timestamps import utc_text
from domain.property.enums import ImageType, MarketDataType, PropertyStatus, PropertyType
from store.base import (
    CreatedAt,
    OrgScoped,
    Timestamps,
    UUIDPrimaryKey,
    jsonb,
    money,
    tstz,
    utcnow,
)

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
        # The default order of the list and of a search (newest first, id as tie-break): deep
        # pages walk this index instead of sorting every row of the organisation on disk.
        Index(
            "ix_properties_org_created_id",
            "org_id",
            column("created_at").desc().nulls_last(),
            "id",
        ),
        {"schema": SCHEMA},
    )


# Plausible ranges: anything outside is a typo or a unit mix-up, refused with a 422.
MAX_ROOMS = 20
MIN_YEAR_BUILT = 1700
# Far above any building the company deals in, and far below the INTEGER column's limit.
MAX_SQUARE_FEET = 10_000_000
MAX_YEAR = 9999
MAX_IMAGE_ORDER_INDEX = 10_000


def _check_range(name: str, value: Any, low: float | None, high: float | None) -> Any:
    """``value`` unchanged when within [low, high]; a ValueError naming the field otherwise."""
    if value is None:
        return value
    if low is not None and value < low:
        raise ValueError(f"{name} must be at least {low} (got {value})")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high} (got {value})")
    return value


class PropertyRules(SQLModel):
    """Range checks shared by ``PropertyCreate`` and ``PropertyUpdate`` (and CSV imports)."""

    @field_validator("square_feet", check_fields=False)
    @classmethod
    def _square_feet_positive(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise ValueError(f"square_feet must be greater than 0 (got {value})")
        return _check_range("square_feet", value, None, MAX_SQUARE_FEET)

    @field_validator("bedrooms", "bathrooms", check_fields=False)
    @classmethod
    def _rooms_in_range(cls, value: Any, info: Any) -> Any:
        return _check_range(info.field_name, value, 0, MAX_ROOMS)

    @field_validator("year_built", check_fields=False)
    @classmethod
    def _year_built_in_range(cls, value: int | None) -> int | None:
        return _check_range("year_built", value, MIN_YEAR_BUILT, dt.date.today().year + 1)

    @field_validator("latitude", check_fields=False)
    @classmethod
    def _latitude_in_range(cls, value: float | None) -> float | None:
        return _check_range("latitude", value, -90, 90)

    @field_validator("longitude", check_fields=False)
    @classmethod
    def _longitude_in_range(cls, value: float | None) -> float | None:
        return _check_range("longitude", value, -180, 180)

    @field_validator("list_price", "close_price", "lot_size", check_fields=False)
    @classmethod
    def _not_negative(cls, value: Any, info: Any) -> Any:
        return _check_range(info.field_name, value, 0, None)

    @field_validator("target_rent", check_fields=False)
    @classmethod
    def _target_rent_positive(cls, value: Any) -> Any:
        # A $0 rent is no rent (the analysis would ignore it, a rent check call it compliant).
        if value is not None and value <= 0:
            raise ValueError("target rent must be more than 0")
        return value

    @field_validator("quality_rating", "condition_rating", check_fields=False)
    @classmethod
    def _rating_in_range(cls, value: int | None, info: Any) -> int | None:
        return _check_range(info.field_name, value, 1, 10)


class PropertyCreate(PropertyRules, PropertyBase):
    """Body of ``POST /properties``.

    Give the address as ``address_line`` (a street line, or a whole one-line address whose
    city, state and ZIP are read from it) with optional ``city``/``state``/``zip_code``, or
    as ``address`` parts (``street``, ``city``, ``state``, ``zip``). It is normalised: the
    stored ``address_line`` is canonical and ``address_key`` is the lookup key. A property
    needs an address or coordinates.
    """

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    address: dict[str, Any] = Field(
        default_factory=dict, description="street, city, state, zip as given (optional)"
    )
    state: str | None = Field(
        default=None, max_length=50, description="two-letter code or name; stored as the code"
    )


class PropertyUpdate(PropertyRules):
    """Body of ``PUT /properties/{id}``: only the fields given change."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    mls_number: str | None = Field(default=None, max_length=50)
    address: dict[str, Any] | None = None
    address_line: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(
        default=None, max_length=50, description="two-letter code or name; stored as the code"
    )
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


class PropertyPage(SQLModel):
    """One page of properties and how many there are in all."""

    items: list[PropertyRead]
    total: int = Field(description="rows matching, across all pages")
    limit: int
    offset: int


class SortKey(StrEnum):
    """How search results are ordered (``-`` first: descending)."""

    price = "price"
    price_desc = "-price"
    close_date = "close_date"
    close_date_desc = "-close_date"
    square_feet = "square_feet"
    square_feet_desc = "-square_feet"
    year_built = "year_built"
    year_built_desc = "-year_built"
    created_at = "created_at"
    created_at_desc = "-created_at"
    distance = "distance"


class NearPoint(SQLModel):
    """Within ``radius_miles`` of a point (great-circle distance)."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    radius_miles: float = Field(gt=0, le=500, description="at most 500 miles")


class PropertySearch(SQLModel):
    """Body of ``POST /properties/search``: every filter optional, all of them combined (AND).

    Price is the latest known price: ``close_price`` when the property sold, else
    ``list_price``. ``text`` matches every word against the street line, city, ZIP,
    neighbourhood or features (case-insensitive). An unknown field is a 422: a misspelt filter
    must not silently widen the search to everything.
    """

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    min_price: Decimal | None = Field(default=None, ge=0)
    max_price: Decimal | None = Field(default=None, ge=0)
    min_bedrooms: int | None = Field(default=None, ge=0, le=MAX_ROOMS)
    max_bedrooms: int | None = Field(default=None, ge=0, le=MAX_ROOMS)
    min_bathrooms: Decimal | None = Field(default=None, ge=0, le=MAX_ROOMS)
    max_bathrooms: Decimal | None = Field(default=None, ge=0, le=MAX_ROOMS)
    min_square_feet: int | None = Field(default=None, ge=0, le=MAX_SQUARE_FEET)
    max_square_feet: int | None = Field(default=None, ge=0, le=MAX_SQUARE_FEET)
    min_year_built: int | None = Field(default=None, ge=0, le=MAX_YEAR)
    max_year_built: int | None = Field(default=None, ge=0, le=MAX_YEAR)
    property_types: list[PropertyType] | None = None
    statuses: list[PropertyStatus] | None = None
    section8_approved: bool | None = None
    zip_code: str | None = Field(default=None, max_length=10)
    city: str | None = Field(default=None, max_length=100)
    near: NearPoint | None = None
    text: str | None = Field(default=None, max_length=200)
    sort: SortKey | None = Field(
        default=None, description="default: distance when `near` is given, else -created_at"
    )
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class PropertySearchItem(PropertyRead):
    """A search hit: the property and, for a radius search, its distance from the point."""

    distance_miles: float | None = None


class PropertySearchPage(SQLModel):
    """One page of search hits, the total and the filters that produced them."""

    items: list[PropertySearchItem]
    total: int
    limit: int
    offset: int
    filters: PropertySearch


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


class PropertyImageCreate(SQLModel):
    """Body of ``POST /properties/{id}/images``."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    url: str = Field(
        min_length=1,
        max_length=500,
        description="http(s) URL, or a path such as /api/v1/documents/{id}/content",
    )
    type: ImageType | None = None
    caption: str | None = Field(default=None, max_length=2000)
    order_index: int | None = Field(
        default=None, ge=0, le=MAX_IMAGE_ORDER_INDEX, description="default: after the last"
    )

    @field_validator("url")
    @classmethod
    def _url_or_path(cls, value: str) -> str:
        value = value.strip()
        if not (value.startswith(("http://", "https://")) or value.startswith("/")):
            raise ValueError("url must be an http(s) URL or a path starting with /")
        return value


class PropertyImageRead(SQLModel):
    """A property image as the API returns it."""

    id: uuid.UUID
    property_id: uuid.UUID
    url: str | None
    type: ImageType | None
    caption: str | None
    order_index: int | None
    created_at: dt.datetime


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


# Money among a market figure's values (any depth): dollars and cents, answered as two-place
# strings ("1450.00"). Rates, scores, counts and areas under other keys are left as given.
MARKET_MONEY_KEYS = frozenset(
    {
        "amount",
        "annual_tax",
        "arv",
        "assessed",
        "assessed_value",
        "close_price",
        "estimate",
        "hoa_monthly",
        "improvement_value",
        "land_value",
        "list_price",
        "market_value",
        "median_price",
        "median_price_per_sqft",
        "median_rent",
        "price",
        "price_per_sqft",
        "property_taxes_annual",
        "purchase_price",
        "rent",
        "rent_high",
        "rent_low",
        "rent_monthly",
        "sale_price",
        "sold_price",
        "tax_amount",
        "taxes_annual",
        "value_high",
        "value_low",
    }
)
# In a valuation, tax assessment, comparable sale or listing history the plain ``value``
# (and a valuation's ``low`` / ``high`` range) is money too; elsewhere it may be anything.
_VALUE_IS_MONEY = frozenset(
    {
        MarketDataType.valuation,
        MarketDataType.tax_assessment,
        MarketDataType.comparable_sale,
        MarketDataType.listing_history,
    }
)
_CENT = Decimal("0.01")
# The API's money rule (``money()`` columns, ``max_digits=12, decimal_places=2``): at most
# 12 digits, two of them cents, so under ten billion dollars.
_MONEY_LIMIT = Decimal("1e10")
# How far ahead of the server's clock a ``recorded_at`` may be (clocks drift), as for photos.
RECORDED_AT_SKEW = dt.timedelta(minutes=5)


def market_money_keys(data_type: MarketDataType | str | None) -> frozenset[str]:
    """The keys whose values are money in a market figure of ``data_type``."""
    if data_type in _VALUE_IS_MONEY:
        return MARKET_MONEY_KEYS | {"value", "low", "high"}
    return MARKET_MONEY_KEYS


def checked_market_money(value: dict[str, Any], data_type: MarketDataType) -> dict[str, Any]:
    """``value`` with its money (``market_money_keys``) as two-place strings.

    ``ValueError`` (a 422) for an amount with more than two decimal places (``1450.123``:
    money is dollars and cents, refused rather than rounded), a negative or non-finite one,
    or one that is not a number at all. ``None`` is kept.
    """
    names = market_money_keys(data_type)

    def amount(path: str, item: Any) -> str | None:
        if item is None:
            return None
        example = "an amount in dollars (e.g. 1450.00)"
        if isinstance(item, bool) or not isinstance(item, int | float | str | Decimal):
            raise ValueError(f"value.{path} must be {example}")
        try:
            figure = Decimal(str(item).strip())
        except ArithmeticError:
            raise ValueError(f"value.{path} must be {example}, not {item!r}") from None
        if not figure.is_finite() or figure < 0:
            raise ValueError(f"value.{path} must be an amount of 0 or more dollars, not {item}")
        if figure >= _MONEY_LIMIT:
            raise ValueError(
                f"value.{path} {item} is too large: money has at most 12 digits, 2 of them "
                "cents (under 10000000000.00)"
            )
        # Under the limit, with at most 28 significant digits: quantize cannot overflow.
        if figure != figure.quantize(_CENT):
            raise ValueError(
                f"value.{path} {item} has more than two decimal places (money is dollars and cents)"
            )
        return f"{figure.quantize(_CENT) + Decimal(0):f}"

    def walk(path: str, item: Any) -> Any:
        if isinstance(item, dict):
            return {
                key: amount(f"{path}{key}", sub) if key in names else walk(f"{path}{key}.", sub)
                for key, sub in item.items()
            }
        if isinstance(item, list):
            return [walk(f"{path.rstrip('.')}[{i}].", sub) for i, sub in enumerate(item)]
        return item

    checked: dict[str, Any] = walk("", value)
    return checked


def shown_market_value(
    value: dict[str, Any], data_type: MarketDataType | str | None
) -> dict[str, Any]:
    """A stored figure's values as responses show them: money as two-place strings.

    Rows recorded before money was checked (``1450.123`` as a float, a valuation's
    ``"137943"``) read with cents too (rounded half-up).
    """
    shown: dict[str, Any] = format_money_keys(value, market_money_keys(data_type))
    return shown


class MarketDataCreate(SQLModel):
    """Body of ``POST /properties/{id}/market-data``.

    Money in ``value`` (``rent_monthly``, ``price``, a valuation's ``value`` ...: see
    ``market_money_keys``) has at most two decimal places and is kept as a two-place string;
    ``recorded_at`` needs a time zone and is kept in UTC.
    """

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    data_type: MarketDataType
    value: dict[str, Any] = Field(description='the figures, e.g. {"rent_monthly": 1450}')
    source: str | None = Field(default=None, max_length=100, description="where it came from")
    recorded_at: dt.datetime | None = Field(
        default=None, description="default: now; with a time zone (e.g. 2026-11-28T10:00:00Z)"
    )

    @field_validator("recorded_at")
    @classmethod
    def _recorded_at_has_a_zone(cls, value: dt.datetime | None) -> dt.datetime | None:
        """A zone-less moment is ambiguous (as for offers and calls): refused; kept in UTC.

        A moment ahead of now (beyond ``RECORDED_AT_SKEW``) is refused too: a figure is
        recorded once known, and the list is newest first, so it would stay on top for years.
        """
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                "recorded_at needs a time zone, e.g. 2026-11-28T10:00:00-05:00 or "
                "2026-11-28T15:00:00Z"
            )
        moment = value.astimezone(dt.UTC)
        if moment > utcnow() + RECORDED_AT_SKEW:
            raise ValueError(
                f"recorded_at {utc_text(moment)} is in the future: a market figure is recorded "
                "once it is known (leave it out for now)"
            )
        return moment

    @model_validator(mode="after")
    def _money_has_cents(self) -> MarketDataCreate:
        """Money in ``value`` has at most two places; it is kept as a two-place string.

        A rent estimate carries ``rent_monthly``, a positive amount, which the analysis reads
        (a rent under another key was stored and then silently ignored).
        """
        given = self.value.get("rent_monthly")
        self.value = checked_market_money(self.value, self.data_type)
        if self.data_type != MarketDataType.rent_estimate:
            return self
        rent = self.value.get("rent_monthly")
        if rent is None:
            raise ValueError(
                'a rent_estimate needs "rent_monthly" in value, a positive number of dollars '
                'a month (e.g. {"rent_monthly": 1450}); got keys '
                + (", ".join(sorted(self.value)) or "none")
            )
        if Decimal(rent) <= 0:
            raise ValueError(
                f"value.rent_monthly must be more than 0 dollars a month (e.g. 1450), not {given!r}"
            )
        return self


class MarketDataRead(SQLModel):
    """A market data row as the API returns it (money in ``value`` as two-place strings)."""

    id: uuid.UUID
    property_id: uuid.UUID
    data_type: MarketDataType | None
    value: dict[str, Any]
    source: str | None
    recorded_at: dt.datetime | None
    created_at: dt.datetime

    @model_validator(mode="after")
    def _money_with_cents(self) -> MarketDataRead:
        self.value = shown_market_value(self.value, self.data_type)
        return self


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
