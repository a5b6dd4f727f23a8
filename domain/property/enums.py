"""Kinds and statuses of properties and their images and market data."""

from enum import StrEnum


class PropertyType(StrEnum):
    """What sort of building a property is."""

    single_family = "single_family"
    multi_family = "multi_family"
    condo = "condo"
    townhouse = "townhouse"
    land = "land"
    other = "other"


class PropertyStatus(StrEnum):
    """Where a property stands, on the market or in the portfolio."""

    active = "active"
    pending = "pending"
    sold = "sold"
    off_market = "off_market"
    owned = "owned"
    rented = "rented"


class ImageType(StrEnum):
    """What a property image shows."""

    exterior = "exterior"
    interior = "interior"
    listing = "listing"
    inspection = "inspection"
    other = "other"


class MarketDataType(StrEnum):
    """The kind of market figure recorded against a property."""

    comparable_sale = "comparable_sale"
    rent_estimate = "rent_estimate"
    valuation = "valuation"
    tax_assessment = "tax_assessment"
    listing_history = "listing_history"
    neighbourhood = "neighbourhood"


class ImportKind(StrEnum):
    """What an import file holds: closed sales (comps) or listings on the market."""

    sales = "sales"
    listings = "listings"
