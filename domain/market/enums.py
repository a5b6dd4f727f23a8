"""Listing sources and statuses the market monitor tracks."""

from enum import StrEnum


class ListingSource(StrEnum):
    """Where a listing was found."""

    zillow = "zillow"
    redfin = "redfin"
    mls = "mls"
    manual = "manual"


class ListingStatus(StrEnum):
    """Where a tracked listing stands."""

    new = "new"
    active = "active"
    analyzed = "analyzed"
    pending = "pending"
    sold = "sold"
    off_market = "off_market"
    dismissed = "dismissed"


class OpportunityStrategy(StrEnum):
    """The exit an opportunity was scored for."""

    flip = "flip"
    rental = "rental"
    brrrr = "brrrr"
    wholesale = "wholesale"
