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


class FeedKind(StrEnum):
    """What a monitored feed is: a file or URL in RESO names, or an adapter not yet configured."""

    file = "file"
    url = "url"
    demo = "demo"
    mls = "mls"
    portal = "portal"


class ScanStatus(StrEnum):
    """Where a scan stands."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class ScanTrigger(StrEnum):
    """What started a scan."""

    manual = "manual"
    schedule = "schedule"
    cli = "cli"


class OpportunityStatus(StrEnum):
    """Whether an opportunity still stands."""

    open = "open"
    closed = "closed"


class AlertStatus(StrEnum):
    """What happened to one alert."""

    queued = "queued"
    held = "held"
    no_phone = "no_phone"
    skipped = "skipped"


class TrendSource(StrEnum):
    """Where a market trend comes from."""

    sales = "sales"
    listings = "listings"
    txhousing = "txhousing"
