"""The market monitor: feeds, scans, tracked listings, scores and opportunities.

Every function is keyword-only, takes a session and the caller's ``org_id`` and never reads
another organisation's rows. Functions flush and leave the commit to the caller, except
``execute_scan``, which owns its transactions (below).

**A scan** reads a feed (``domain.market.sources``), checks every row with the property
importer's own RESO column mapping and validation (``domain.property.importer``) and the
property module's address normalisation, and then, in batches of ``BATCH_SIZE`` rows:

- upserts ``tracked_listings``: a listing is the same listing when its (source, external id)
  is known, or when its normalised address (address key + ZIP) is already tracked from any
  source (the other source's id is kept in ``property_data.also_listed_as``);
- appends to the price history when the price changed (a cut is a scoring signal): when the
  source changed its own price, so two sources listing one house at different prices do not
  add a "cut" and a "rise" on every scan (``property_data.price_by_source``);
- scores every new or changed listing at the *screening* stage (``domain.market.scoring``);
- publishes ``listing.found`` for new listings only;
- **commits the batch**: a listing's row, its history, its score and its event are written
  together or not at all, so a scan that dies half-way leaves whole batches and no
  half-written listing. Re-running the same feed is safe: known rows are matched by their
  keys and come back unchanged (no second ``listing.found``, no duplicate history entry).

Then the shortlist (the best ``MONITOR_SHORTLIST_SIZE`` listings of the scan still at the
screening stage) is valued with the full comps valuation and underwritten; those scoring at
least ``MONITOR_OPPORTUNITY_MIN_SCORE`` whose best strategy also clears the verdict thresholds
of a property analysis (``VerdictThresholds``: e.g. a flip's $25,000 profit and 20 % ROI)
become opportunities (one per listing; the first time, ``opportunity.identified``), matching
investors are alerted (``domain.market.alerts``; also about an open opportunity re-scored into
their criteria, e.g. by a price cut; never twice about one opportunity), and
``market.update`` summarises the scan by ZIP. That last step is one transaction; if it fails,
a re-run shortlists the same listings again (they are still at the screening stage).

A row without a price (or priced $0, "price on request") or a street address is rejected with
its line and the reason, in the scan's ``rejections``; the rest of the feed goes in.

**Statuses from several sources.** Each source's last reported status is remembered
(``property_data.status_by_source``, like its price): a source repeating itself changes
nothing, a source that changes its own status (active -> pending, or pending -> active when a
deal falls through) sets the listing's status, and a source seen for the first time on a
tracked house may only move it further along (active < off market < pending < sold), so a
portal lagging the MLS does not put a pending house back on the market. Every status change a
scan makes is kept in ``property_data.status_history``.

**Listings that leave a feed.** A scan of a registered feed is a snapshot of that feed's area
when it is *complete*: it succeeded, it read at least one row, no row was rejected, and the
feed was not one page of a longer one. Each listing remembers the feeds that list it
(``property_data.seen_in_feeds``: the scan that last saw it, and how many complete scans in a
row have missed it since). A listing missing from ``DROPOUT_AFTER_MISSED_SCANS`` (2)
consecutive complete scans of every feed that listed it goes ``off_market`` (one missed scan
is not enough: feeds hiccup), its open opportunity is closed, and ``status_history`` says why;
a person-set status (analyzed, dismissed) is left as it is (its opportunity still closes). A
listing another feed still lists stays on the market, and a report from a scan without a feed
(a file given to the CLI) restarts the count. A dropped listing that any scan reports again
takes the status reported. Scans without a feed (the CLI's files) are one-off files and drop
nothing.

**Concurrency.** A scan is claimed with one atomic ``UPDATE ... WHERE status IN (queued,
failed)``, so a job delivered twice runs it once. Ingest is serialised per organisation: every
batch transaction (and the shortlist's) first takes a transaction-scoped advisory lock keyed on
the organisation, so two feeds scanned at once cannot both miss the same address and track one
house twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from core.clock import local_today
from core.config import get_settings
from core.money import format_money_keys, money_str, to_cents
from core.paging import count_rows
from domain.auth.service import Principal, record_audit
from domain.documents import service as documents_service
from domain.market import alerts as alert_service
from domain.market.enums import (
    FeedKind,
    ListingSource,
    ListingStatus,
    OpportunityStatus,
    ScanStatus,
    ScanTrigger,
)
from domain.market.estimates import (
    BatchEstimate,
    ListingPoint,
    SalesSnapshot,
    ScanLookups,
    batch_estimate,
    comps_value,
    subject_for,
)
from domain.market.models import (
    DETAILS_MONEY_KEYS,
    ComponentStatus,
    MonitorFeed,
    MonitorScan,
    Opportunity,
    OpportunitySort,
    ScoreBreakdown,
    ScoreComponentRead,
    TrackedListing,
)
from domain.market.scoring import (
    SCREENING,
    Figure,
    ListingFacts,
    ScoreInputs,
    ScoreResult,
    score_listing,
)
from domain.market.sources import (
    DEMO_LOCATION,
    FeedRows,
    FileFeed,
    ListingFeed,
    PortalFeed,
    ResoWebApiFeed,
    SourceError,
    UrlFeed,
    allowed_hosts,
    check_feed_url,
    system_resolver,
)
from domain.property import importer
from domain.property import service as property_service
from domain.property.enums import ImportKind, PropertyStatus
from domain.property.errors import PropertyConflictError, PropertyError
from domain.property.models import Property, PropertyCreate
from domain.valuation.enums import ValuationKind
from store.base import utcnow
from store.outbox import normalise_payload, publish

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
MAX_REJECTIONS_KEPT = 200
MAX_LIST_LIMIT = 200
ACTIVE_STATUSES = (ListingStatus.new, ListingStatus.active)
# A scan queued or running this long without progress is stuck (see ``expire_stale_scans``):
# four times the default queue's 300 s job timeout, so no live job is ever cut short.
STALE_SCAN_AFTER = dt.timedelta(minutes=20)
# A queued scan whose job is not on the queue this long after it was queued is enqueued again
# (long enough for a request to commit the scan and then enqueue it).
REQUEUE_SCAN_AFTER = dt.timedelta(minutes=2)
# Statuses a person sets; a feed saying "active" does not undo them.
_PERSON_SET_STATUSES = (ListingStatus.analyzed, ListingStatus.dismissed)
# ``property_data`` key: the last price each source (``source:external id``) listed it at.
PRICE_BY_SOURCE = "price_by_source"
# ``property_data`` key: the last status each source (``source:external id``) reported.
STATUS_BY_SOURCE = "status_by_source"
# ``property_data`` key: [{status, previous, at, scan_id, reason}], oldest first.
STATUS_HISTORY = "status_history"
# ``property_data`` key: {feed id: {scan_id, seen_at, missed}} - the feeds that list it.
SEEN_IN_FEEDS = "seen_in_feeds"
# ``property_data`` key: set while the listing is off the market because no feed lists it.
DROPPED_OUT = "dropped_out"
# Complete scans of a feed in a row that must miss a listing before it is taken off the market.
DROPOUT_AFTER_MISSED_SCANS = 2
# How far along the sale a status is: a source new to a house may only move it further.
_STATUS_RANK: dict[ListingStatus, int] = {
    ListingStatus.off_market: 1,
    ListingStatus.pending: 2,
    ListingStatus.sold: 3,
}

# RESO fields the property importer does not map, read here by name (case/punctuation free).
EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "days_on_market": ("DaysOnMarket", "CumulativeDaysOnMarket", "days_on_market"),
    "original_list_price": ("OriginalListPrice", "original_list_price"),
    "modification_timestamp": ("ModificationTimestamp", "modification_timestamp"),
}

_STATUS: dict[PropertyStatus, ListingStatus] = {
    PropertyStatus.active: ListingStatus.active,
    PropertyStatus.pending: ListingStatus.pending,
    PropertyStatus.sold: ListingStatus.sold,
    PropertyStatus.off_market: ListingStatus.off_market,
}


# --- errors ------------------------------------------------------------------------------


class MarketError(Exception):
    """Base class of the market monitor's errors."""


class MarketNotFoundError(MarketError, LookupError):
    """The scan, feed, opportunity or user is not in the caller's organisation (HTTP 404)."""


class MarketValidationError(MarketError, ValueError):
    """A value is not acceptable; the message says which and why (HTTP 422)."""


class MarketPermissionError(MarketError, PermissionError):
    """The caller's role may not do this (HTTP 403)."""


# --- feeds and scans ---------------------------------------------------------------------


# The unique key of a feed (``MonitorFeed``): one row per organisation, kind and location.
FEED_UNIQUE_KEY = "uq_feeds_org_kind_location"


@dataclass(frozen=True)
class FeedSpec:
    """What to scan: the kind of feed and where it is."""

    kind: FeedKind
    url: str | None = None
    document_id: uuid.UUID | None = None
    source: ListingSource = ListingSource.mls
    name: str | None = None
    every_minutes: int | None = None


def _location(spec: FeedSpec) -> str:
    """The feed's stable location string, checked for its kind."""
    settings = get_settings()
    if spec.kind == FeedKind.url:
        if not spec.url:
            raise MarketValidationError("a url feed needs a url (https, on an allowed host)")
        try:
            # Checked now (host and scheme) so a bad URL is refused before anything is queued;
            # the addresses are checked again when the job fetches it.
            check_feed_url(
                spec.url,
                allowed=allowed_hosts(settings.monitor_feed_allowed_hosts),
                resolver=system_resolver,
                resolve=False,
            )
        except SourceError as exc:
            raise MarketValidationError(str(exc)) from exc
        return spec.url.strip()[:500]
    if spec.kind == FeedKind.file:
        if spec.document_id is None:
            raise MarketValidationError(
                "a file feed needs document_id: upload the CSV/JSON with POST /documents first"
            )
        return str(spec.document_id)
    if spec.kind == FeedKind.demo:
        return DEMO_LOCATION
    # mls / portal: the adapter says it is not configured.
    feed = feed_for(
        session=None, org_id=None, kind=spec.kind, location=spec.kind.value, source=spec.source
    )
    try:
        feed.fetch()
    except SourceError as exc:
        raise MarketValidationError(str(exc)) from exc
    return spec.kind.value


def start_monitor(
    *,
    session: Session,
    org_id: uuid.UUID,
    spec: FeedSpec,
    principal: Principal | None = None,
    trigger: ScanTrigger = ScanTrigger.manual,
) -> tuple[MonitorFeed, MonitorScan]:
    """Register (or reuse) the feed, set its schedule, and create a queued scan of it."""
    if spec.every_minutes is not None and not 5 <= spec.every_minutes <= 7 * 24 * 60:
        raise MarketValidationError("every_minutes must be between 5 and 10080 (a week)")
    if spec.kind == FeedKind.file and spec.document_id is not None:
        if (
            documents_service.get_document(
                session=session, org_id=org_id, document_id=spec.document_id
            )
            is None
        ):
            raise MarketNotFoundError(f"document {spec.document_id} not found")
    location = _location(spec)
    feed = _feed_at(session=session, org_id=org_id, kind=spec.kind, location=location)
    if feed is None:
        feed = _insert_feed(
            session=session, org_id=org_id, spec=spec, location=location, principal=principal
        )
    now = utcnow()
    feed.source = spec.source
    if spec.name:
        feed.name = spec.name
    feed.every_minutes = spec.every_minutes
    feed.next_run_at = (
        now + dt.timedelta(minutes=spec.every_minutes) if spec.every_minutes else None
    )
    session.add(feed)
    session.flush()
    scan = _new_scan(session=session, feed=feed, trigger=trigger, principal=principal)
    if principal is not None:
        record_audit(
            session=session,
            principal=principal,
            action="start",
            entity="market_scan",
            entity_id=scan.id,
            changes={
                "feed_id": feed.id,
                "kind": feed.kind,
                "location": _masked(feed),
                "every_minutes": feed.every_minutes,
            },
        )
    return feed, scan


def _feed_at(
    *, session: Session, org_id: uuid.UUID, kind: FeedKind, location: str
) -> MonitorFeed | None:
    """The organisation's feed of this kind at this location, if it is registered."""
    return session.exec(
        select(MonitorFeed).where(
            MonitorFeed.org_id == org_id,
            MonitorFeed.kind == kind,
            MonitorFeed.location == location,
        )
    ).first()


def _insert_feed(
    *,
    session: Session,
    org_id: uuid.UUID,
    spec: FeedSpec,
    location: str,
    principal: Principal | None,
) -> MonitorFeed:
    """Register a new feed; one a concurrent start registered first is reused.

    Two starts of the same new feed at once both find none; the database's unique key
    (org, kind, location) makes the second insert wait for the first and then refuses it.
    Inserted in a savepoint, that refusal leaves this transaction usable, and the feed the
    other start committed is the one to scan (its settings are then updated as for any feed).
    """
    feed = MonitorFeed(
        org_id=org_id,
        kind=spec.kind,
        location=location,
        source=spec.source,
        name=spec.name,
        created_by=principal.user_id if principal else None,
    )
    try:
        with session.begin_nested():
            session.add(feed)
            session.flush()
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        if constraint != FEED_UNIQUE_KEY:
            raise
        existing = _feed_at(session=session, org_id=org_id, kind=spec.kind, location=location)
        if existing is None:  # registered and deleted again meanwhile: nothing to reuse
            raise
        return existing
    return feed


def _masked(feed: MonitorFeed) -> str:
    """A feed's location without a URL's query string (it may hold a token)."""
    return feed.location.split("?", 1)[0]


def _new_scan(
    *,
    session: Session,
    feed: MonitorFeed,
    trigger: ScanTrigger,
    principal: Principal | None,
) -> MonitorScan:
    scan = MonitorScan(
        org_id=feed.org_id,
        feed_id=feed.id,
        source=feed.source,
        feed_label=(feed.name or _masked(feed))[:500],
        trigger=trigger,
        status=ScanStatus.queued,
        requested_by=principal.user_id if principal else None,
        counts={},
    )
    session.add(scan)
    session.flush()
    return scan


def create_file_scan(
    *, session: Session, org_id: uuid.UUID, label: str, source: ListingSource, trigger: ScanTrigger
) -> MonitorScan:
    """A scan of a file given directly (the CLI, the benchmark): no feed row."""
    scan = MonitorScan(
        org_id=org_id,
        source=source,
        feed_label=label[:500],
        trigger=trigger,
        status=ScanStatus.queued,
        counts={},
    )
    session.add(scan)
    session.flush()
    return scan


def set_job_id(*, session: Session, org_id: uuid.UUID, scan_id: uuid.UUID, job_id: str) -> None:
    """Remember the RQ job that runs a scan."""
    scan = get_scan(session=session, org_id=org_id, scan_id=scan_id)
    scan.job_id = job_id[:100]
    session.add(scan)
    session.flush()


def get_scan(*, session: Session, org_id: uuid.UUID, scan_id: uuid.UUID) -> MonitorScan:
    """A scan of the organisation (``MarketNotFoundError`` otherwise)."""
    scan = session.exec(
        select(MonitorScan).where(MonitorScan.id == scan_id, MonitorScan.org_id == org_id)
    ).first()
    if scan is None:
        raise MarketNotFoundError(f"scan {scan_id} not found")
    return scan


def get_feed(*, session: Session, org_id: uuid.UUID, feed_id: uuid.UUID) -> MonitorFeed:
    """A feed of the organisation (``MarketNotFoundError`` otherwise)."""
    feed = session.exec(
        select(MonitorFeed).where(MonitorFeed.id == feed_id, MonitorFeed.org_id == org_id)
    ).first()
    if feed is None:
        raise MarketNotFoundError(f"feed {feed_id} not found")
    return feed


def feed_for(
    *,
    session: Session | None,
    org_id: uuid.UUID | None,
    kind: FeedKind,
    location: str,
    source: ListingSource,
    resolver: Callable[[str], list[str]] | None = None,
) -> ListingFeed:
    """The source adapter that reads a feed."""
    settings = get_settings()
    if kind == FeedKind.url:
        return UrlFeed(
            url=location,
            allowed=allowed_hosts(settings.monitor_feed_allowed_hosts),
            timeout_s=settings.monitor_feed_timeout_s,
            max_bytes=settings.monitor_feed_max_bytes,
            source=source,
            resolver=resolver or system_resolver,
        )
    if kind == FeedKind.file:
        if session is None or org_id is None:
            raise MarketValidationError("a file feed is read inside a session")
        try:
            document_id = uuid.UUID(location)
        except ValueError:
            raise MarketValidationError(f"{location!r} is not a document id") from None
        try:
            data = documents_service.read_document_bytes(
                session=session, org_id=org_id, document_id=document_id
            )
        except LookupError as exc:
            raise MarketNotFoundError(f"document {document_id} not found") from exc
        return FileFeed(data=data, label=f"document {document_id}", source=source)
    if kind == FeedKind.demo:
        from domain.market.demo_feed import demo_feed_bytes

        return FileFeed(
            data=demo_feed_bytes(), label="demo feed (fictional listings)", source=source
        )
    if kind == FeedKind.mls:
        return ResoWebApiFeed(location=location, source=source)
    return PortalFeed(location=location, source=source)


# --- parsing rows ------------------------------------------------------------------------


@dataclass
class ParsedListing:
    """A feed row that passed every check, ready to upsert."""

    line: int
    external_id: str
    values: dict[str, Any]
    address: dict[str, Any]
    extra: dict[str, Any]

    @property
    def key(self) -> tuple[str | None, str | None]:
        """The normalised address key and ZIP: the cross-source dedupe key."""
        return self.address.get("address_key"), self.address.get("zip_code")

    @property
    def point(self) -> ListingPoint:
        """What the batch valuation needs."""
        return ListingPoint(
            latitude=self.values.get("latitude"),
            longitude=self.values.get("longitude"),
            square_feet=self.values.get("square_feet"),
            zip_code=self.address.get("zip_code"),
        )


@dataclass
class ParsedFeed:
    """The rows that passed and the rejections (line, external id, reason)."""

    listings: list[ParsedListing]
    rejections: list[dict[str, Any]]
    rows: int
    columns: dict[str, str]


def _extra_values(raw: dict[str, Any], by_key: dict[str, str]) -> dict[str, Any]:
    """Days on market, original list price and modification time, when the feed has them."""
    out: dict[str, Any] = {}
    for name, aliases in EXTRA_COLUMNS.items():
        column = next((by_key[k] for a in aliases if (k := importer.column_key(a)) in by_key), None)
        if column is None:
            continue
        value = raw.get(column)
        text = "" if value is None else str(value).strip()
        if not text:
            continue
        if name == "days_on_market":
            try:
                days = int(Decimal(text))
            except (InvalidOperation, ValueError):
                raise importer.RowRejected(f"{column}: {text!r} is not a whole number") from None
            if days < 0:
                raise importer.RowRejected(f"{column}: {days} is negative")
            out[name] = days
        elif name == "original_list_price":
            try:
                price = Decimal(text.replace("$", "").replace(",", ""))
            except InvalidOperation:
                raise importer.RowRejected(f"{column}: {text!r} is not a number") from None
            if not price.is_finite() or price <= 0:
                raise importer.RowRejected(f"{column}: {text!r} is not a positive price")
            out[name] = price
        else:
            out[name] = text[:40]
    return out


def parse_rows(feed: FeedRows) -> ParsedFeed:
    """Check every row (RESO names, the property importer's rules); reject bad ones with why.

    Raises ``MarketValidationError`` when the feed lacks a column every listing needs.
    """
    try:
        resolved = importer.resolve_columns(feed.columns)
        importer.check_required_columns(ImportKind.listings, feed.columns, resolved)
    except PropertyError as exc:
        raise MarketValidationError(f"{feed.label}: {exc}") from exc
    by_key: dict[str, str] = {}
    for column in feed.columns:
        by_key.setdefault(importer.column_key(column), column)
    listings: list[ParsedListing] = []
    rejections: list[dict[str, Any]] = []
    seen_ids: dict[str, int] = {}
    seen_keys: dict[tuple[str | None, str | None], int] = {}
    id_column = resolved.get("source_id")
    for index, raw in enumerate(feed.rows):
        line = feed.lines[index] if feed.lines else feed.first_line + index
        external_id = None
        if id_column is not None and raw.get(id_column) not in (None, ""):
            external_id = str(raw[id_column]).strip() or None
        try:
            values = importer.row_values(raw, resolved, ImportKind.listings)
            if values["list_price"] <= 0:
                # "$0" is how feeds say "price on request": nothing can be scored from it.
                raise importer.RowRejected(
                    f"{resolved['list_price']}: {raw.get(resolved['list_price'])!r} is not a "
                    "price (a listing needs a list price above $0)"
                )
            if not values.get("address_line"):
                raise importer.RowRejected(
                    "no street address (UnparsedAddress, or StreetNumber + StreetName): "
                    "a tracked listing needs an address"
                )
            extra = _extra_values(raw, by_key)
            try:
                address = property_service.resolve_address(
                    address_line=values.get("address_line"),
                    city=values.get("city"),
                    state=values.get("state"),
                    zip_code=values.get("zip_code"),
                )
            except PropertyError as exc:
                raise importer.RowRejected(str(exc)) from None
            if external_id is None:
                external_id = importer.synthetic_source_id(ImportKind.listings, values)
            if len(external_id) > 100:
                raise importer.RowRejected("the listing id is longer than 100 characters")
            if external_id in seen_ids:
                raise importer.RowRejected(
                    f"listing {external_id} appears twice in the feed (first on line "
                    f"{seen_ids[external_id]})"
                )
            parsed = ParsedListing(line, external_id, values, address, extra)
            if parsed.key[0] and parsed.key in seen_keys:
                raise importer.RowRejected(
                    f"same address as line {seen_keys[parsed.key]} "
                    f"({address.get('address_line')}, {address.get('zip_code') or 'no ZIP'})"
                )
        except importer.RowRejected as exc:
            rejections.append({"line": line, "external_id": external_id, "reason": str(exc)})
            continue
        seen_ids[external_id] = line
        if parsed.key[0]:
            seen_keys[parsed.key] = line
        listings.append(parsed)
    return ParsedFeed(listings, rejections, len(feed.rows), resolved)


# --- listings ----------------------------------------------------------------------------


def _facts(parsed: ParsedListing) -> dict[str, Any]:
    """The listing facts kept in ``property_data`` (JSON values)."""
    v = parsed.values
    facts: dict[str, Any] = {
        "square_feet": v.get("square_feet"),
        "bedrooms": v.get("bedrooms"),
        "bathrooms": v.get("bathrooms"),
        "year_built": v.get("year_built"),
        "lot_size": v.get("lot_size"),
        "property_type": v.get("property_type"),
        "latitude": v.get("latitude"),
        "longitude": v.get("longitude"),
        "neighborhood": v.get("neighborhood"),
        "state": parsed.address.get("state"),
        "list_date": v.get("list_date"),
        "mls_number": v.get("mls_number"),
        "condition_rating": v.get("condition_rating"),
        "days_on_market": parsed.extra.get("days_on_market"),
        "original_list_price": parsed.extra.get("original_list_price"),
        "modification_timestamp": parsed.extra.get("modification_timestamp"),
    }
    return normalise_payload({k: val for k, val in facts.items() if val is not None})


def _status(parsed: ParsedListing, *, new: bool) -> ListingStatus:
    status = _STATUS.get(parsed.values.get("status") or PropertyStatus.active, ListingStatus.active)
    return ListingStatus.new if new and status == ListingStatus.active else status


def _original_price(listing: TrackedListing) -> tuple[Decimal | None, str | None]:
    """The price to measure cuts from: the feed's OriginalListPrice, else the first one seen."""
    given = listing.property_data.get("original_list_price")
    if given is not None:
        return Decimal(str(given)), "OriginalListPrice"
    if listing.price_history:
        return Decimal(str(listing.price_history[0]["price"])), "first price seen"
    return None, None


@dataclass
class ScanCounts:
    """What a scan did, row by row."""

    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    price_changes: int = 0
    price_cuts: int = 0
    deduplicated_by_address: int = 0
    screened: int = 0
    shortlisted: int = 0
    opportunities_new: int = 0
    opportunities_updated: int = 0
    opportunities_closed: int = 0
    missing_from_feed: int = 0
    dropped_out: int = 0
    relisted: int = 0
    alerts: int = 0
    batches_committed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The counts as a dict."""
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


@dataclass
class ScanContext:
    """What one scan shares across its batches: the sales snapshot and cached lookups."""

    scan: MonitorScan
    snapshot: SalesSnapshot
    lookups: ScanLookups
    as_of: dt.date
    now: dt.datetime
    # A complete snapshot of a registered feed (see the module docstring): may drop listings.
    complete: bool = False


def _listing_facts(listing: TrackedListing) -> ListingFacts:
    original, original_source = _original_price(listing)
    data = listing.property_data
    assert listing.list_price is not None
    return ListingFacts(
        list_price=listing.list_price,
        original_price=original,
        original_price_source=original_source,
        days_on_market=data.get("days_on_market"),
        square_feet=data.get("square_feet"),
        bedrooms=data.get("bedrooms"),
    )


def _screen(listing: TrackedListing, estimate: BatchEstimate, ctx: ScanContext) -> ScoreResult:
    """Score a listing at the screening stage and store the result on it."""
    data = listing.property_data
    rehab, rehab_missing = ctx.lookups.rehab(
        square_feet=data.get("square_feet"), condition_rating=data.get("condition_rating")
    )
    rent, rent_missing = ctx.lookups.rent(city=listing.city, bedrooms=data.get("bedrooms"))
    result = score_listing(
        ScoreInputs(
            listing=_listing_facts(listing),
            as_is=estimate.as_is,
            as_is_missing=estimate.as_is_missing,
            arv=estimate.arv,
            arv_missing=estimate.arv_missing,
            rehab=rehab,
            rehab_missing=rehab_missing,
            rent=rent,
            rent_missing=rent_missing,
            rent_is_section8=rent is not None,
        ),
        underwrite=False,
        assumptions=ctx.lookups.assumptions,
    )
    listing.score = result.score
    listing.score_details = result.details()
    return result


def _history_entry(
    price: Decimal, previous: Decimal | None, *, at: dt.datetime, scan_id: uuid.UUID
) -> dict[str, Any]:
    cent = Decimal("0.01")
    price = price.quantize(cent)
    previous = previous.quantize(cent) if previous is not None else None
    change = price - previous if previous is not None else None
    pct = (
        (change / previous * 100).quantize(Decimal("0.01"))
        if change is not None and previous
        else None
    )
    return normalise_payload(
        {
            "price": price,
            "previous": previous,
            "change": change,
            "change_pct": pct,
            "at": at,
            "scan_id": scan_id,
        }
    )


def _event_money(amount: Decimal | None) -> str | None:
    """Money in an event payload: two places (``"138000.00"``), as responses give it."""
    return money_str(amount) if amount is not None else None


def _listing_payload(listing: TrackedListing) -> dict[str, Any]:
    return {
        "listing_id": listing.id,
        "source": listing.source,
        "external_id": listing.external_id,
        "address_line": listing.address_line,
        "city": listing.city,
        "zip_code": listing.zip_code,
        "list_price": _event_money(listing.list_price),
    }


def _ingest_batch(
    *,
    session: Session,
    org_id: uuid.UUID,
    batch: Sequence[ParsedListing],
    ctx: ScanContext,
    counts: ScanCounts,
) -> None:
    """Upsert one batch of listings, screen the new and changed ones, publish listing.found."""
    _lock_org_ingest(session, org_id)
    scan = ctx.scan
    ids = [p.external_id for p in batch]
    by_id = {
        listing.external_id: listing
        for listing in session.exec(
            select(TrackedListing).where(
                TrackedListing.org_id == org_id,
                TrackedListing.source == scan.source,
                col(TrackedListing.external_id).in_(ids),
            )
        ).all()
    }
    keys = sorted({p.key[0] for p in batch if p.key[0] and p.external_id not in by_id})
    by_address: dict[tuple[str | None, str | None], TrackedListing] = {}
    listing: TrackedListing | None
    if keys:
        for listing in session.exec(
            select(TrackedListing)
            .where(TrackedListing.org_id == org_id, col(TrackedListing.address_key).in_(keys))
            .order_by(col(TrackedListing.created_at))
        ).all():
            by_address.setdefault((listing.address_key, listing.zip_code), listing)
    now = ctx.now
    touched: list[TrackedListing] = []  # new or changed: their property records follow them
    for parsed in batch:
        price: Decimal = parsed.values["list_price"]
        listing = by_id.get(parsed.external_id)
        by_other_source = False
        if listing is None and parsed.key[0]:
            listing = by_address.get(parsed.key)
            if listing is not None:
                # The same source under a new id is a relisting: its price is the price.
                by_other_source = str(listing.source) != str(scan.source)
                alias = {"source": str(scan.source), "external_id": parsed.external_id}
                data = dict(listing.property_data)
                aliases = list(data.get("also_listed_as", []))
                if alias not in aliases:
                    aliases.append(alias)
                    data["also_listed_as"] = aliases
                    listing.property_data = data
                counts.deduplicated_by_address += 1
        facts = _facts(parsed)
        if listing is None:
            listing = TrackedListing(
                org_id=org_id,
                source=scan.source,
                external_id=parsed.external_id,
                address=parsed.address["address"],
                address_key=parsed.address.get("address_key"),
                address_line=parsed.address.get("address_line"),
                city=parsed.address.get("city"),
                zip_code=parsed.address.get("zip_code"),
                list_price=price,
                property_data={
                    **facts,
                    PRICE_BY_SOURCE: {_source_key(scan.source, parsed.external_id): str(price)},
                    STATUS_BY_SOURCE: {
                        _source_key(scan.source, parsed.external_id): str(
                            _status(parsed, new=False)
                        )
                    },
                },
                status=_status(parsed, new=True),
                price_history=[_history_entry(price, None, at=now, scan_id=scan.id)],
                first_seen_at=now,
                last_seen_at=now,
                last_scan_id=scan.id,
            )
            _mark_seen(listing, ctx)
            session.add(listing)
            by_id[parsed.external_id] = listing
            if parsed.key[0]:
                by_address.setdefault(parsed.key, listing)
            counts.new += 1
            touched.append(listing)
            _screen(listing, batch_estimate(ctx.snapshot, parsed.point), ctx)
            counts.screened += 1
            publish(
                session,
                org_id=org_id,
                name="listing.found",
                payload={**_listing_payload(listing), "scan_id": scan.id},
            )
            continue
        changed = False
        previous = listing.list_price
        key = _source_key(scan.source, parsed.external_id)
        if _price_changed_at_source(listing, key, price, by_other_source) and (
            previous is None or previous != price
        ):
            history = list(listing.price_history)
            history.append(_history_entry(price, previous, at=now, scan_id=scan.id))
            listing.price_history = history
            listing.list_price = price
            counts.price_changes += 1
            if previous is not None and price < previous:
                counts.price_cuts += 1
            changed = True
        reported = _status(parsed, new=False)
        dropped = bool(listing.property_data.get(DROPPED_OUT))
        status = _reported_status(listing, key, reported, by_other_source)
        kept = status == ListingStatus.active and listing.status in _PERSON_SET_STATUSES
        if status is not None and status != listing.status and not kept:
            # new -> active only ages the listing; anything else is a change to score again.
            changed = changed or listing.status != ListingStatus.new
            if dropped:
                counts.relisted += 1
            _set_status(
                listing,
                status,
                at=now,
                scan_id=scan.id,
                reason=f"{'listed again by' if dropped else 'reported by'} {key}",
            )
        _mark_seen(listing, ctx)
        merged = (
            {**facts, **listing.property_data}  # another source's facts only fill gaps
            if by_other_source
            else {**listing.property_data, **facts}
        )
        if merged != listing.property_data:
            listing.property_data = merged
            changed = True
        listing.last_seen_at = now
        listing.last_scan_id = scan.id
        if changed:
            counts.updated += 1
            touched.append(listing)
            _screen(listing, batch_estimate(ctx.snapshot, parsed.point), ctx)
            counts.screened += 1
        else:
            counts.unchanged += 1
        session.add(listing)
    session.flush()
    sync_properties(session=session, org_id=org_id, listings=touched)
    session.flush()


def _source_key(source: ListingSource | str, external_id: str) -> str:
    return f"{source}:{external_id}"


def _reported_status(
    listing: TrackedListing, key: str, status: ListingStatus, by_other_source: bool
) -> ListingStatus | None:
    """The status a source's row sets on the listing, or None when it says nothing new.

    Remembers the source's status (``status_by_source``). A source repeating itself changes
    nothing, so two sources that disagree (the MLS says pending, a lagging portal still says
    active) do not flip the listing on every scan; a source that changed its own status is the
    latest news and sets it, whichever way; a source seen for the first time on a tracked house
    only moves it further along (``_STATUS_RANK``). A listing off the market because no feed
    listed it takes whatever the source listing it again says. The tracked source's own rows,
    from before statuses were remembered per source, compare with the listing's status.
    """
    data = dict(listing.property_data)
    seen = dict(data.get(STATUS_BY_SOURCE) or {})
    last = seen.get(key)
    seen[key] = str(status)
    data[STATUS_BY_SOURCE] = seen
    listing.property_data = data
    if data.get(DROPPED_OUT):
        return status
    if last is not None and last != str(status):
        return status
    if last is None and not by_other_source:
        return status
    if last is None and _STATUS_RANK.get(status, 0) > _STATUS_RANK.get(listing.status, 0):
        return status
    if listing.status == ListingStatus.new and status == ListingStatus.active:
        return status  # seen again: no longer new
    return None


def _set_status(
    listing: TrackedListing,
    status: ListingStatus,
    *,
    at: dt.datetime,
    scan_id: uuid.UUID,
    reason: str,
) -> None:
    """Change the listing's status and record why in its ``status_history``.

    new -> active only ages a listing and is not recorded.
    """
    previous = listing.status
    listing.status = status
    if previous == ListingStatus.new and status == ListingStatus.active:
        return
    data = dict(listing.property_data)
    history = list(data.get(STATUS_HISTORY) or [])
    history.append(
        normalise_payload(
            {
                "status": status,
                "previous": previous,
                "at": at,
                "scan_id": scan_id,
                "reason": reason,
            }
        )
    )
    data[STATUS_HISTORY] = history
    listing.property_data = data


def _mark_seen(listing: TrackedListing, ctx: ScanContext) -> None:
    """Remember that this scan's feed lists the listing (a fresh start for its grace period).

    A scan without a feed (a file given to the CLI) is news too: it restarts every feed's count
    of missed scans, so only misses after the latest report of the house can drop it.
    """
    data = dict(listing.property_data)
    data.pop(DROPPED_OUT, None)
    feeds = {k: dict(v) for k, v in (data.get(SEEN_IN_FEEDS) or {}).items()}
    scan = ctx.scan
    if scan.feed_id is None:
        for entry in feeds.values():
            entry["missed"] = 0
    else:
        feeds[str(scan.feed_id)] = normalise_payload(
            {"scan_id": scan.id, "seen_at": ctx.now, "missed": 0}
        )
    if feeds:
        data[SEEN_IN_FEEDS] = feeds
    listing.property_data = data


def _price_changed_at_source(
    listing: TrackedListing, key: str, price: Decimal, by_other_source: bool
) -> bool:
    """Whether this source changed its own price since it last listed the house (remembered).

    Two sources listing one house at different prices (a portal lagging the MLS) is not a
    price change: comparing each row with whichever source was seen last would add a "cut"
    and a "rise" to the history on every scan and score invented price cuts. A source seen for
    the first time on an already tracked house sets no price; the tracked source's own rows,
    from before prices were remembered per source, compare with the tracked price.
    """
    data = dict(listing.property_data)
    seen = dict(data.get(PRICE_BY_SOURCE) or {})
    last = seen.get(key)
    if last is None and not by_other_source and listing.list_price is not None:
        last = str(listing.list_price)
    seen[key] = str(price)
    data[PRICE_BY_SOURCE] = seen
    listing.property_data = data
    return last is None and not by_other_source or (last is not None and Decimal(last) != price)


def _load_context(
    *, session: Session, org_id: uuid.UUID, scan: MonitorScan, parsed: ParsedFeed
) -> ScanContext:
    # The value date of the scan's comps: the company's today, as every valuation's
    # (``valuation_service.check_as_of`` refuses UTC's tomorrow in the local evening).
    as_of = local_today()
    snapshot = SalesSnapshot.load(
        session=session,
        org_id=org_id,
        points=[p.point for p in parsed.listings],
        as_of=as_of,
    )
    return ScanContext(
        scan=scan,
        snapshot=snapshot,
        lookups=ScanLookups(session=session, org_id=org_id),
        as_of=as_of,
        now=utcnow(),
    )


def claim_scan(
    *, session: Session, org_id: uuid.UUID, scan_id: uuid.UUID, now: dt.datetime | None = None
) -> bool:
    """Mark a queued or failed scan running, atomically; False when it is not claimable.

    One ``UPDATE ... WHERE status IN (queued, failed) RETURNING``: of two workers handed the
    same scan, exactly one gets the row back and runs it; the other sees it running (or
    succeeded) and leaves it alone. The caller commits.
    """
    now = now or utcnow()
    table = MonitorScan.__table__  # type: ignore[attr-defined]
    row = session.execute(
        update(table)
        .where(
            table.c.id == scan_id,
            table.c.org_id == org_id,
            table.c.status.in_((ScanStatus.queued.value, ScanStatus.failed.value)),
        )
        .values(
            status=ScanStatus.running.value,
            started_at=now,
            finished_at=None,
            error=None,
            updated_at=now,
        )
        .returning(table.c.id)
    ).first()
    return row is not None


def _lock_org_ingest(session: Session, org_id: uuid.UUID) -> None:
    """Serialise the organisation's ingest until this transaction ends (address dedupe).

    A transaction-scoped advisory lock keyed on the organisation: a second scan's batch waits
    here, then reads the listings the first one committed, so one house is tracked once.
    """
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"market_monitor.ingest:{org_id}"},
    )


def execute_scan(
    *,
    session: Session,
    org_id: uuid.UUID,
    scan_id: uuid.UUID,
    feed: ListingFeed | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> MonitorScan:
    """Run a queued (or failed) scan to the end; commits per batch (see the module docstring).

    A scan already running (another worker claimed it) or succeeded is returned as it is.
    ``feed`` defaults to the scan's registered feed. A feed that cannot be read, or lacks a
    required column, fails the scan with the reason (``MarketValidationError`` / ``SourceError``
    are raised after the failure is saved); bad rows are only rejected.
    """
    scan = get_scan(session=session, org_id=org_id, scan_id=scan_id)
    claimed = claim_scan(session=session, org_id=org_id, scan_id=scan_id)
    session.commit()
    session.refresh(scan)
    if not claimed:
        return scan  # succeeded already, or another worker is running it
    counts = ScanCounts()
    try:
        if feed is None:
            if scan.feed_id is None:
                raise MarketValidationError("the scan has no feed to read")
            row = get_feed(session=session, org_id=org_id, feed_id=scan.feed_id)
            feed = feed_for(
                session=session,
                org_id=org_id,
                kind=row.kind,
                location=row.location,
                source=row.source,
            )
        rows = feed.fetch()
        parsed = parse_rows(rows)
        counts.rows = parsed.rows
        counts.rejected = len(parsed.rejections)
        scan.rejections = parsed.rejections[:MAX_REJECTIONS_KEPT]
        ctx = _load_context(session=session, org_id=org_id, scan=scan, parsed=parsed)
        # Only a whole, clean read of a registered feed says what is no longer listed.
        ctx.complete = (
            scan.feed_id is not None and rows.complete and parsed.rows > 0 and not parsed.rejections
        )
        counts.extra["complete_snapshot"] = ctx.complete
        counts.extra["sales_in_snapshot"] = ctx.snapshot.size
        # Loading may re-index the comps; commit that before any batch waits for the
        # organisation's ingest lock, so no transaction holds row locks while it waits.
        session.commit()
        done = 0
        for start in range(0, len(parsed.listings), max(1, batch_size)):
            batch = parsed.listings[start : start + batch_size]
            _ingest_batch(session=session, org_id=org_id, batch=batch, ctx=ctx, counts=counts)
            counts.batches_committed += 1
            scan.counts = counts.to_json()
            session.add(scan)
            session.commit()
            done += len(batch)
            if progress is not None:
                progress(done, len(parsed.listings))
        _finalise(session=session, org_id=org_id, ctx=ctx, counts=counts)
        scan.status = ScanStatus.succeeded
        scan.finished_at = utcnow()
        scan.counts = counts.to_json()
        session.add(scan)
        session.commit()
        return scan
    except Exception as exc:
        session.rollback()
        failed = get_scan(session=session, org_id=org_id, scan_id=scan_id)
        failed.status = ScanStatus.failed
        failed.finished_at = utcnow()
        failed.error = (str(exc) or type(exc).__name__)[:2000]
        failed.counts = {**counts.to_json(), "note": "batches_committed were kept; re-run resumes"}
        session.add(failed)
        session.commit()
        raise


# --- the property record follows the listing ------------------------------------------------

# The property status a listing status stands for (a person-set status says nothing of the sale).
_PROPERTY_STATUS: dict[ListingStatus, PropertyStatus] = {
    ListingStatus.new: PropertyStatus.active,
    ListingStatus.active: PropertyStatus.active,
    ListingStatus.pending: PropertyStatus.pending,
    ListingStatus.sold: PropertyStatus.sold,
    ListingStatus.off_market: PropertyStatus.off_market,
}
# Listing facts (``property_data``) a property record created from a listing takes.
_PROPERTY_FACTS = (
    "square_feet",
    "bedrooms",
    "bathrooms",
    "year_built",
    "lot_size",
    "property_type",
    "latitude",
    "longitude",
    "neighborhood",
    "list_date",
    "mls_number",
    "condition_rating",
)


def properties_for_listings(
    *, session: Session, org_id: uuid.UUID, listings: Sequence[TrackedListing]
) -> dict[uuid.UUID, Property]:
    """The property record of each listing (by listing id), where the organisation has one.

    The property imported from the listing's own source and id, else the oldest property at
    the same normalised address (and ZIP, when both have one): the inverse of
    ``find_listing_for_property``. Two queries, however many listings.
    """
    if not listings:
        return {}
    ids = {(str(x.source), x.external_id) for x in listings}
    by_source: dict[tuple[str | None, str | None], Property] = {}
    for prop in session.exec(
        select(Property).where(
            Property.org_id == org_id,
            col(Property.source).in_(sorted({source for source, _ in ids})),
            col(Property.source_id).in_(sorted({external for _, external in ids})),
        )
    ).all():
        by_source[(prop.source, prop.source_id)] = prop
    keys = sorted({x.address_key for x in listings if x.address_key})
    by_address: dict[str, list[Property]] = {}
    if keys:
        for prop in session.exec(
            select(Property)
            .where(Property.org_id == org_id, col(Property.address_key).in_(keys))
            .order_by(col(Property.created_at), col(Property.id))
        ).all():
            by_address.setdefault(str(prop.address_key), []).append(prop)
    found: dict[uuid.UUID, Property] = {}
    for listing in listings:
        match = by_source.get((str(listing.source), listing.external_id))
        if match is None and listing.address_key:
            match = next(
                (
                    p
                    for p in by_address.get(listing.address_key, [])
                    if not (p.zip_code and listing.zip_code) or p.zip_code == listing.zip_code
                ),
                None,
            )
        if match is not None:
            found[listing.id] = match
    return found


def _follow_listing(
    *, session: Session, org_id: uuid.UUID, listing: TrackedListing, prop: Property
) -> None:
    """Set the property's list price and status to the listing's (``property.updated``)."""
    changes: dict[str, Any] = {}
    if listing.list_price is not None and prop.list_price != listing.list_price:
        changes["list_price"] = to_cents(listing.list_price)
    status = _PROPERTY_STATUS.get(ListingStatus(listing.status))
    if status is not None and prop.status != status:
        changes["status"] = status
    if not changes:
        return
    try:
        property_service.apply_changes(session=session, org_id=org_id, prop=prop, changes=changes)
    except PropertyError as exc:  # an unlocatable legacy row: the listing still goes in
        log.warning("property %s could not follow listing %s: %s", prop.id, listing.id, exc)


def sync_properties(
    *, session: Session, org_id: uuid.UUID, listings: Sequence[TrackedListing]
) -> int:
    """Bring the property records of these listings up to their newest price and status.

    The monitor's listing data is the newest word on a house the team has on file: a price cut
    or a sale a scan sees reaches the property (and so the chat analysis, the REST API and the
    PDF). Returns how many listings had a property record.
    """
    found = properties_for_listings(session=session, org_id=org_id, listings=listings)
    for listing in listings:
        if listing.id in found:
            _follow_listing(session=session, org_id=org_id, listing=listing, prop=found[listing.id])
    return len(found)


def ensure_property_for_listing(
    *, session: Session, org_id: uuid.UUID, listing: TrackedListing
) -> Property:
    """The listing's property record, created from the listing when the team has none.

    An alert says "text me the address for the full analysis": the analysis needs a property
    on file, so every opportunity has one (``source``/``source_id`` are the listing's own).
    An existing record follows the listing's price and status (``sync_properties``).
    """
    prop = properties_for_listings(session=session, org_id=org_id, listings=[listing]).get(
        listing.id
    )
    if prop is not None:
        _follow_listing(session=session, org_id=org_id, listing=listing, prop=prop)
        return prop
    data = listing.property_data or {}
    values: dict[str, Any] = {k: data[k] for k in _PROPERTY_FACTS if data.get(k) is not None}
    values.update(
        address_line=listing.address_line,
        city=listing.city,
        state=data.get("state"),
        zip_code=listing.zip_code,
        list_price=listing.list_price,
        status=_PROPERTY_STATUS.get(ListingStatus(listing.status), PropertyStatus.active),
        source=str(listing.source),
        source_id=listing.external_id,
    )
    try:
        return property_service.create(
            session=session, org_id=org_id, property_in=PropertyCreate(**values)
        )
    except PropertyConflictError:
        # Its MLS number is on another record (another address): keep the listing's id only.
        values.pop("mls_number", None)
        return property_service.create(
            session=session, org_id=org_id, property_in=PropertyCreate(**values)
        )


def _ensure_property(*, session: Session, org_id: uuid.UUID, listing: TrackedListing) -> None:
    """``ensure_property_for_listing``; a listing the property rules refuse is only logged."""
    try:
        with session.begin_nested():
            ensure_property_for_listing(session=session, org_id=org_id, listing=listing)
    except (PropertyError, ValueError) as exc:
        log.warning("no property record for listing %s: %s", listing.id, exc)


# --- the shortlist: comps valuation, underwriting, opportunities ---------------------------


def _figure_from_json(data: dict[str, Any] | None, note: str | None) -> Figure | None:
    if not data:
        return None
    source = str(data.get("source", ""))
    if note:
        source = f"{source} ({note})"
    return Figure(amount=Decimal(str(data["amount"])), source=source, inputs=data.get("inputs", {}))


def underwrite_listing(
    *,
    session: Session,
    org_id: uuid.UUID,
    listing: TrackedListing,
    lookups: ScanLookups,
    as_of: dt.date,
    overrides: dict[str, Figure] | None = None,
) -> ScoreResult:
    """Value a listing with its comps (as-is and ARV), underwrite it, store the score."""
    data = listing.property_data
    overrides = overrides or {}
    screened = listing.score_details.get("figures", {}) if listing.score_details else {}
    figures: dict[str, Figure | None] = {}
    missing: dict[str, str | None] = {}
    subject = subject_for(
        label=listing.address_line or listing.external_id,
        facts=data,
        latitude=data.get("latitude"),
        longitude=data.get("longitude"),
        zip_code=listing.zip_code,
    )
    for name, kind in (("as_is", ValuationKind.as_is), ("arv", ValuationKind.arv)):
        if name in overrides:
            figures[name], missing[name] = overrides[name], None
            continue
        figure, why = comps_value(
            session=session, org_id=org_id, subject=subject, kind=kind, as_of=as_of
        )
        if figure is None:
            fallback_key = "as_is_value" if name == "as_is" else "arv"
            figure = _figure_from_json(screened.get(fallback_key), why)
        figures[name], missing[name] = figure, (why if figure is None else None)
    rehab, rehab_missing = overrides.get("rehab"), None
    if rehab is None:
        rehab, rehab_missing = lookups.rehab(
            square_feet=data.get("square_feet"), condition_rating=data.get("condition_rating")
        )
    # The Section 8 fit is the area's Section 8 rent whoever asked: an analysis's rent (which
    # may be that same rent) replaces it for the cash flow only, so the score never depends
    # on whether someone analysed the house.
    section8_rent, section8_missing = lookups.rent(city=listing.city, bedrooms=data.get("bedrooms"))
    rent, rent_missing = overrides.get("rent"), None
    if rent is None:
        rent, rent_missing = section8_rent, section8_missing
    result = score_listing(
        ScoreInputs(
            listing=_listing_facts(listing),
            as_is=figures["as_is"],
            as_is_missing=missing["as_is"],
            arv=figures["arv"],
            arv_missing=missing["arv"],
            rehab=rehab,
            rehab_missing=rehab_missing,
            rent=rent,
            rent_missing=rent_missing if rent is None else section8_missing,
            section8_rent=section8_rent,
        ),
        underwrite=True,
        assumptions=lookups.assumptions,
    )
    listing.score = result.score
    listing.score_details = {**result.details(), "overrides": sorted(overrides)}
    session.add(listing)
    return result


def _opportunity_payload(opp: Opportunity, listing: TrackedListing) -> dict[str, Any]:
    return {
        "opportunity_id": opp.id,
        "listing_id": listing.id,
        "address_line": listing.address_line,
        "city": listing.city,
        "zip_code": listing.zip_code,
        "list_price": _event_money(listing.list_price),
        "score": opp.score,
        "roi_estimate": opp.roi_estimate,
        "rehab_estimate": _event_money(opp.rehab_estimate),
        "strategy": opp.strategy,
    }


def record_opportunity(
    *,
    session: Session,
    org_id: uuid.UUID,
    listing: TrackedListing,
    result: ScoreResult,
    min_score: Decimal | None = None,
) -> tuple[Opportunity | None, str]:
    """Create, update, reopen or close the listing's opportunity from its underwritten score.

    A listing qualifies with a score of at least ``min_score`` (default the setting) and a best
    strategy that clears its thresholds, while it is on the market.
    Returns the opportunity (None when there is none) and what happened: ``created``,
    ``reopened``, ``updated``, ``closed`` or ``none``. ``opportunity.identified`` is published
    when one is created or reopened. An open opportunity's listing gets a property record
    (``ensure_property_for_listing``), so the address its alert gives can be analysed.
    """
    threshold = (
        min_score
        if min_score is not None
        else Decimal(str(get_settings().monitor_opportunity_min_score))
    )
    qualifies = (
        result.score is not None
        and result.score >= threshold
        and result.strategy_clears_thresholds is True
        and listing.status in ACTIVE_STATUSES
    )
    if listing.org_id != org_id:
        raise MarketNotFoundError(f"listing {listing.id} not found")
    opp = session.exec(
        select(Opportunity).where(
            Opportunity.org_id == org_id, Opportunity.listing_id == listing.id
        )
    ).first()
    if opp is None and not qualifies:
        return None, "none"
    figures = result.figures
    values: dict[str, Any] = {
        "score": result.score,
        "roi_estimate": result.roi_pct,
        "strategy": result.strategy,
        "rehab_estimate": Decimal(figures["rehab"]["amount"]) if figures.get("rehab") else None,
        "as_is_value": Decimal(figures["as_is_value"]["amount"])
        if figures.get("as_is_value")
        else None,
        "arv": Decimal(figures["arv"]["amount"]) if figures.get("arv") else None,
        "details": {**result.details(), "min_score": str(threshold)},
    }
    if opp is None:
        opp = Opportunity(org_id=org_id, listing_id=listing.id, **values)
        session.add(opp)
        session.flush()
        publish(
            session,
            org_id=org_id,
            name="opportunity.identified",
            payload=_opportunity_payload(opp, listing),
        )
        # Its alert says "text me the address": the analysis needs the property on file.
        _ensure_property(session=session, org_id=org_id, listing=listing)
        return opp, "created"
    for key, value in values.items():
        setattr(opp, key, value)
    outcome = "updated"
    if not qualifies and opp.status == OpportunityStatus.open:
        opp.status, outcome = OpportunityStatus.closed, "closed"
    elif qualifies and opp.status == OpportunityStatus.closed:
        opp.status, outcome = OpportunityStatus.open, "reopened"
    session.add(opp)
    session.flush()
    if outcome == "reopened":
        publish(
            session,
            org_id=org_id,
            name="opportunity.identified",
            payload={**_opportunity_payload(opp, listing), "reopened": True},
        )
    if opp.status == OpportunityStatus.open:
        _ensure_property(session=session, org_id=org_id, listing=listing)
    return opp, outcome


def _finalise(*, session: Session, org_id: uuid.UUID, ctx: ScanContext, counts: ScanCounts) -> None:
    """Underwrite the shortlist, record opportunities, alert investors, publish market.update."""
    _lock_org_ingest(session, org_id)  # one opportunity (and one alert) per listing
    settings = get_settings()
    scan = ctx.scan
    _drop_missing(session=session, org_id=org_id, ctx=ctx, counts=counts)
    stage = col(TrackedListing.score_details)["stage"].astext
    shortlist = session.exec(
        select(TrackedListing)
        .where(
            TrackedListing.org_id == org_id,
            TrackedListing.last_scan_id == scan.id,
            col(TrackedListing.status).in_(ACTIVE_STATUSES),
            col(TrackedListing.score).is_not(None),
            stage == SCREENING,
        )
        .order_by(col(TrackedListing.score).desc(), col(TrackedListing.id))
        .limit(settings.monitor_shortlist_size)
    ).all()
    counts.shortlisted = len(shortlist)
    fresh: list[tuple[Opportunity, TrackedListing]] = []
    for listing in shortlist:
        result = underwrite_listing(
            session=session, org_id=org_id, listing=listing, lookups=ctx.lookups, as_of=ctx.as_of
        )
        opp, outcome = record_opportunity(
            session=session, org_id=org_id, listing=listing, result=result
        )
        if outcome in ("created", "reopened") and opp is not None:
            counts.opportunities_new += 1
            fresh.append((opp, listing))
        elif outcome == "updated" and opp is not None:
            counts.opportunities_updated += 1
            # Re-scored (a price cut, a better score): investors it now matches hear of it
            # once; those already alerted about it are not alerted again (unique key).
            fresh.append((opp, listing))
        elif outcome == "closed":
            counts.opportunities_closed += 1
    # Listings of this scan that left the market close their open opportunity.
    gone = session.exec(
        select(Opportunity)
        .join(TrackedListing, col(TrackedListing.id) == col(Opportunity.listing_id))
        .where(
            Opportunity.org_id == org_id,
            Opportunity.status == OpportunityStatus.open,
            TrackedListing.last_scan_id == scan.id,
            col(TrackedListing.status).not_in(ACTIVE_STATUSES),
        )
    ).all()
    for opp in gone:
        opp.status = OpportunityStatus.closed
        session.add(opp)
        counts.opportunities_closed += 1
    alerts = alert_service.alert_for_opportunities(
        session=session, org_id=org_id, opportunities=fresh, now=ctx.now
    )
    counts.alerts = len(alerts)
    publish(
        session,
        org_id=org_id,
        name="market.update",
        payload={
            "scan_id": scan.id,
            "source": scan.source,
            "areas": _area_summary(session, org_id, scan.id),
        },
    )
    session.flush()


def _drop_missing(
    *, session: Session, org_id: uuid.UUID, ctx: ScanContext, counts: ScanCounts
) -> None:
    """Take listings a complete scan of their feed no longer lists off the market.

    Only after a complete snapshot (``ScanContext.complete``). Each on-market (or person-set)
    listing the feed listed before but this scan did not see counts one more missed scan for
    the feed; once every feed that listed it has missed it ``DROPOUT_AFTER_MISSED_SCANS``
    times in a row it goes ``off_market`` (a person-set status is kept) and its open
    opportunity is closed. Listings tracked before feeds were remembered count as listed by the
    feed whose scan saw them last.
    """
    scan = ctx.scan
    if not ctx.complete or scan.feed_id is None:
        return
    feed_key = str(scan.feed_id)
    feeds_of = col(TrackedListing.property_data)[SEEN_IN_FEEDS]
    earlier_scans = select(MonitorScan.id).where(
        MonitorScan.org_id == org_id, MonitorScan.feed_id == scan.feed_id
    )
    missing = session.exec(
        select(TrackedListing)
        .where(
            TrackedListing.org_id == org_id,
            col(TrackedListing.status).in_(ACTIVE_STATUSES + _PERSON_SET_STATUSES),
            feeds_of[feed_key]["scan_id"].astext.is_distinct_from(str(scan.id)),
            or_(
                feeds_of.has_key(feed_key),
                col(TrackedListing.last_scan_id).in_(earlier_scans),
            ),
        )
        .order_by(col(TrackedListing.id))
    ).all()
    label = scan.feed_label
    gone: list[uuid.UUID] = []
    off: list[TrackedListing] = []
    for listing in missing:
        data = dict(listing.property_data)
        feeds = {k: dict(v) for k, v in (data.get(SEEN_IN_FEEDS) or {}).items()}
        entry = feeds.setdefault(feed_key, {"scan_id": None, "seen_at": None, "missed": 0})
        entry["missed"] = int(entry.get("missed") or 0) + 1
        data[SEEN_IN_FEEDS] = feeds
        listing.property_data = data
        counts.missing_from_feed += 1
        listed_nowhere = all(
            int(other.get("missed") or 0) >= DROPOUT_AFTER_MISSED_SCANS for other in feeds.values()
        )
        if listed_nowhere and not data.get(DROPPED_OUT):
            why = (
                f"no longer listed: missing from {entry['missed']} complete scans in a row of "
                f"{label}" + (f" and {len(feeds) - 1} other feed(s)" if len(feeds) > 1 else "")
            )
            status = ListingStatus.off_market
            if listing.status in _PERSON_SET_STATUSES:
                # A person's call stands; the history still says the house left the market.
                status, why = listing.status, f"{why}; kept {listing.status} (set by a person)"
            _set_status(listing, status, at=ctx.now, scan_id=scan.id, reason=why)
            listing.property_data = {
                **listing.property_data,
                DROPPED_OUT: normalise_payload({"at": ctx.now, "scan_id": scan.id}),
            }
            counts.dropped_out += 1
            gone.append(listing.id)
            off.append(listing)
        session.add(listing)
    sync_properties(session=session, org_id=org_id, listings=off)
    if gone:
        for opp in session.exec(
            select(Opportunity).where(
                Opportunity.org_id == org_id,
                Opportunity.status == OpportunityStatus.open,
                col(Opportunity.listing_id).in_(gone),
            )
        ).all():
            opp.status = OpportunityStatus.closed
            session.add(opp)
            counts.opportunities_closed += 1
    session.flush()


def _area_summary(session: Session, org_id: uuid.UUID, scan_id: uuid.UUID) -> list[dict[str, Any]]:
    """Listings seen by the scan, per ZIP: how many, how many new, the median list price."""
    rows = session.exec(
        select(
            TrackedListing.zip_code,
            func.count(),
            func.count().filter(col(TrackedListing.status) == ListingStatus.new),
            func.percentile_cont(0.5).within_group(col(TrackedListing.list_price)),
        )
        .where(TrackedListing.org_id == org_id, TrackedListing.last_scan_id == scan_id)
        .group_by(TrackedListing.zip_code)
        .order_by(TrackedListing.zip_code)
    ).all()
    return [
        {
            "zip_code": zip_code,
            "listings": int(total),
            "new_listings": int(new),
            "median_list_price": _event_money(Decimal(str(median)) if median is not None else None),
        }
        for zip_code, total, new, median in rows[:200]
    ]


# --- reading -----------------------------------------------------------------------------


# --- the opportunities list (GET /opportunities/latest, the agent's tool, the CLI) ----------


@dataclass(frozen=True)
class OpportunityFilters:
    """Which opportunities a list shows (every field optional)."""

    min_score: Decimal | None = None
    strategy: str | None = None
    zip_code: str | None = None
    min_price: Decimal | None = None  # the listing's list price, dollars
    max_price: Decimal | None = None
    include_closed: bool = False


def _opportunities_query(
    *, org_id: uuid.UUID, filters: OpportunityFilters
) -> Select[Opportunity, TrackedListing]:
    """The organisation's opportunities with their listings, filtered (no order, no paging)."""
    f = filters
    query = (
        select(Opportunity, TrackedListing)
        .join(TrackedListing, col(TrackedListing.id) == col(Opportunity.listing_id))
        .where(Opportunity.org_id == org_id, TrackedListing.org_id == org_id)
    )
    if not f.include_closed:
        query = query.where(Opportunity.status == OpportunityStatus.open)
    if f.min_score is not None:
        query = query.where(col(Opportunity.score) >= f.min_score)
    if f.strategy:
        query = query.where(Opportunity.strategy == f.strategy)
    if f.zip_code:
        query = query.where(TrackedListing.zip_code == f.zip_code.strip())
    if f.min_price is not None:
        query = query.where(col(TrackedListing.list_price) >= f.min_price)
    if f.max_price is not None:
        query = query.where(col(TrackedListing.list_price) <= f.max_price)
    return query


def parse_sort(value: OpportunitySort | str | None) -> OpportunitySort:
    """An opportunities order from its name (``MarketValidationError`` for an unknown one)."""
    if value is None:
        return OpportunitySort.score_desc
    try:
        return OpportunitySort(value)
    except ValueError:
        allowed = ", ".join(s.value for s in OpportunitySort)
        raise MarketValidationError(f"sort must be one of {allowed}, not {value!r}") from None


def _opportunity_order(sort: OpportunitySort) -> tuple[Any, ...]:
    """ORDER BY terms of ``sort``: ties fall back to best first, the newest listing, the id.

    Nothing here reads ``updated_at``: re-scoring or re-analysing one opportunity must not
    move it unless its score (or price) changed, and the id last makes pages stable.
    """
    best = col(Opportunity.score).desc().nulls_last()
    newest = col(TrackedListing.created_at).desc()
    by_id = col(Opportunity.id)
    price = col(TrackedListing.list_price)
    orders: dict[OpportunitySort, tuple[Any, ...]] = {
        OpportunitySort.score_desc: (best, newest, by_id),
        OpportunitySort.score_asc: (col(Opportunity.score).asc().nulls_last(), newest, by_id),
        OpportunitySort.newest: (newest, best, by_id),
        OpportunitySort.oldest: (col(TrackedListing.created_at).asc(), best, by_id),
        OpportunitySort.price_asc: (price.asc().nulls_last(), best, newest, by_id),
        OpportunitySort.price_desc: (price.desc().nulls_last(), best, newest, by_id),
    }
    return orders[sort]


def list_opportunities(
    *,
    session: Session,
    org_id: uuid.UUID,
    filters: OpportunityFilters | None = None,
    limit: int = 20,
    offset: int = 0,
    sort: OpportunitySort | str | None = None,
) -> list[tuple[Opportunity, TrackedListing]]:
    """A page of opportunities (open ones unless asked), best first unless ``sort`` says."""
    order = _opportunity_order(parse_sort(sort))
    query = _opportunities_query(org_id=org_id, filters=filters or OpportunityFilters()).order_by(
        *order
    )
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    rows = session.exec(query.limit(limit).offset(max(offset, 0))).all()
    return [(opp, listing) for opp, listing in rows]


def count_opportunities(
    *, session: Session, org_id: uuid.UUID, filters: OpportunityFilters | None = None
) -> int:
    """How many opportunities ``list_opportunities`` with these filters would list."""
    return count_rows(
        session, _opportunities_query(org_id=org_id, filters=filters or OpportunityFilters())
    )


def latest_opportunities(
    *,
    session: Session,
    org_id: uuid.UUID,
    limit: int = 20,
    filters: OpportunityFilters | None = None,
    sort: OpportunitySort | str | None = None,
) -> list[tuple[Opportunity, TrackedListing]]:
    """The organisation's opportunities (open ones unless asked), best first unless ``sort``."""
    f = filters or OpportunityFilters()
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise MarketValidationError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    if f.min_score is not None and not Decimal(0) <= f.min_score <= Decimal(100):
        raise MarketValidationError("min_score must be between 0 and 100")
    for bound in (f.min_price, f.max_price):
        if bound is not None and bound < 0:
            raise MarketValidationError("a price bound must be $0 or more")
    return list_opportunities(
        session=session, org_id=org_id, limit=limit, filters=f, sort=parse_sort(sort)
    )


def get_opportunity(
    *, session: Session, org_id: uuid.UUID, opportunity_id: uuid.UUID
) -> tuple[Opportunity, TrackedListing]:
    """One opportunity of the organisation (any status) with its listing, else not found."""
    row = session.exec(
        select(Opportunity, TrackedListing)
        .join(TrackedListing, col(TrackedListing.id) == col(Opportunity.listing_id))
        .where(
            Opportunity.id == opportunity_id,
            Opportunity.org_id == org_id,
            TrackedListing.org_id == org_id,
        )
    ).first()
    if row is None:
        raise MarketNotFoundError(f"opportunity {opportunity_id} not found")
    opp, listing = row
    return opp, listing


# --- why a score is what it is -------------------------------------------------------------

SCORE_CENT = Decimal("0.01")
COMPONENT_LABELS: dict[str, str] = {
    "discount_to_value": "discount to the as-is value",
    "arv_spread": "spread between ARV and price plus rehab",
    "rental_cash_flow": "rental cash flow after debt service",
    "section8_fit": "Section 8 rent against the price",
    "days_on_market": "days on the market",
    "price_cuts": "price cuts",
}
_RESCORE = "re-scan or re-analyse the listing to explain it in full"


@dataclass(frozen=True)
class _StoredComponent:
    """A component as stored in ``details`` (``domain.market.scoring.Component.to_json``)."""

    name: str
    weight: Decimal | None
    share: Decimal | None  # the stored ``points``: 0-1, None when it was not scored
    scored: bool
    value: str | None
    explanation: str
    inputs: dict[str, Any]
    problem: str | None = None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _figure_inputs(inputs: Any) -> dict[str, Any]:
    """A component's input figures: each amount with its source (its own inputs left out)."""
    if not isinstance(inputs, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if isinstance(value, dict) and "amount" in value:
            out[key] = {"amount": value.get("amount"), "source": value.get("source")}
        else:
            out[key] = value
    formatted: dict[str, Any] = format_money_keys(out, DETAILS_MONEY_KEYS)
    return formatted


def _stored_component(raw: Any) -> _StoredComponent:
    if not isinstance(raw, dict):
        return _StoredComponent("unknown", None, None, True, None, "", {}, "not readable")
    name = str(raw.get("name") or "unknown")
    weight = _decimal(raw.get("weight"))
    share = _decimal(raw.get("points"))
    scored = raw.get("points") is not None
    problem = None
    if weight is None or weight <= 0:
        problem = "its weight was not stored"
    elif scored and (share is None or not Decimal(0) <= share <= Decimal(1)):
        problem = "its points were not stored as a share from 0 to 1"
    return _StoredComponent(
        name=name,
        weight=weight,
        share=share if scored else None,
        scored=scored,
        value=raw.get("value") if isinstance(raw.get("value"), str) else None,
        explanation=str(raw.get("explanation") or ""),
        inputs=_figure_inputs(raw.get("inputs")),
        problem=problem,
    )


def _apportion(
    exact: list[Decimal], total: Decimal, caps: list[Decimal] | None = None
) -> list[Decimal] | None:
    """``exact`` rounded to cents so they add up to ``total`` (largest remainders round up).

    Values rounded up stay within their ``caps`` where possible (earned points within their
    maximum); None when ``total`` is not reachable by rounding (it is not their rounded sum).
    """
    floors = [value.quantize(SCORE_CENT, rounding=ROUND_FLOOR) for value in exact]
    steps = (total - sum(floors, Decimal(0))) / SCORE_CENT
    if steps != steps.to_integral_value() or not 0 <= steps <= len(exact):
        return None

    def within_cap(i: int) -> bool:
        return caps is None or floors[i] + SCORE_CENT <= caps[i]

    order = sorted(range(len(exact)), key=lambda i: (not within_cap(i), floors[i] - exact[i], i))
    out = list(floors)
    for i in order[: int(steps)]:
        out[i] += SCORE_CENT
    return out


def explain_score(*, score: Decimal | None, details: dict[str, Any] | None) -> ScoreBreakdown:
    """Why ``score`` is what it is, from the components stored with it (``details``).

    The score is the weighted share of points of the components that could be scored, so a
    component's points toward it are ``weight x share x 100 / weights used``; they are rounded
    to cents so that they add up to the score exactly. A row whose stored components do not
    give its score back (an earlier version of the scoring), or that has none, says so in
    ``notes`` and shows no points rather than invented ones.
    """
    details = details if isinstance(details, dict) else {}
    stage = details.get("stage") if isinstance(details.get("stage"), str) else None
    raw = details.get("components")
    stored = [_stored_component(c) for c in raw] if isinstance(raw, list) else []
    notes: list[str] = []
    for c in stored:
        if not c.scored:
            notes.append(f"{c.name} not scored: {c.explanation or 'no figure for it'}")
    scored = [c for c in stored if c.scored]
    weights_used = sum((c.weight or Decimal(0) for c in scored), Decimal(0))

    def components(
        points: list[Decimal] | None, maxima: list[Decimal] | None, status: ComponentStatus
    ) -> list[ScoreComponentRead]:
        """The stored components with their points (None when they cannot be restated)."""
        rows = []
        k = 0
        for c in stored:
            earned = best = None
            if c.scored and points is not None and maxima is not None:
                earned, best = points[k], maxima[k]
                k += 1
            rows.append(
                ScoreComponentRead(
                    name=c.name,
                    label=COMPONENT_LABELS.get(c.name, c.name.replace("_", " ")),
                    status="not_scored" if not c.scored else status,
                    points=earned,
                    max_points=best,
                    weight=c.weight,
                    share=c.share,
                    value=c.value,
                    explanation=c.explanation,
                    inputs=c.inputs,
                )
            )
        return rows

    def unreproducible(why: str) -> ScoreBreakdown:
        return ScoreBreakdown(
            score=score,
            stage=stage,
            reproducible=False,
            total_points=None,
            weights_used=weights_used if scored else None,
            components=components(None, None, "not_reproducible"),
            notes=[why, *notes],
        )

    if score is None:
        missing = [str(m) for m in details.get("missing") or [] if isinstance(m, str)]
        return ScoreBreakdown(
            score=None,
            stage=stage,
            reproducible=False,
            total_points=None,
            weights_used=None,
            components=components(None, None, "not_reproducible"),
            notes=missing or ["no score: there was nothing to score it on"],
        )
    if not stored:
        return unreproducible(
            f"the score {score} was stored without its components (an opportunity recorded "
            f"before scores were explained): {_RESCORE}"
        )
    broken = [c for c in scored if c.problem is not None]  # one left out changes no sum
    if broken:
        return unreproducible(
            "stored by an earlier version of the scoring ("
            + "; ".join(f"{c.name}: {c.problem}" for c in broken)
            + f"), so the points cannot be restated exactly: {_RESCORE}"
        )
    if not scored or weights_used <= 0:
        return unreproducible(f"no component of the score {score} was stored as scored: {_RESCORE}")
    hundred = Decimal(100)
    earned = [
        (c.weight or Decimal(0)) * (c.share or Decimal(0)) * hundred / weights_used for c in scored
    ]
    maxima = [(c.weight or Decimal(0)) * hundred / weights_used for c in scored]
    # The score as ``domain.market.scoring.score_listing`` computes it from these components.
    weighted = sum(((c.weight or Decimal(0)) * (c.share or Decimal(0)) for c in scored), Decimal(0))
    again = (weighted / weights_used * hundred).quantize(SCORE_CENT, rounding=ROUND_HALF_UP)
    best = _apportion(maxima, hundred)
    points = _apportion(earned, score, best) if again == score and best else None
    if again != score:
        return unreproducible(
            f"the stored components give {again}, not the score {score} (it was computed by "
            f"an earlier version of the scoring), so the points cannot be restated: {_RESCORE}"
        )
    if points is None or best is None:  # not reached: the score is their rounded sum
        return unreproducible(f"the points could not be rounded to add up to {score}")
    if weights_used != hundred:
        notes.append(
            f"weights used {weights_used} of 100: the scored components' weights are scaled by "
            f"100/{weights_used}, so they can earn 100 points between them"
        )
    return ScoreBreakdown(
        score=score,
        stage=stage,
        reproducible=True,
        total_points=sum(points, Decimal(0)),
        weights_used=weights_used,
        components=components(points, best, "scored"),
        notes=notes,
    )


def opportunity_breakdown(opp: Opportunity) -> ScoreBreakdown:
    """The score breakdown of an opportunity (``explain_score`` over its stored details)."""
    return explain_score(score=opp.score, details=opp.details)


def get_listing(*, session: Session, org_id: uuid.UUID, listing_id: uuid.UUID) -> TrackedListing:
    """A tracked listing of the organisation (``MarketNotFoundError`` otherwise)."""
    listing = session.exec(
        select(TrackedListing).where(
            TrackedListing.id == listing_id, TrackedListing.org_id == org_id
        )
    ).first()
    if listing is None:
        raise MarketNotFoundError(f"listing {listing_id} not found")
    return listing


@dataclass
class MonitorStatus:
    """What the monitor is doing and has done for one organisation."""

    running: list[MonitorScan]
    recent: list[MonitorScan]
    feeds: list[MonitorFeed]
    tracked_listings: int
    active_listings: int
    open_opportunities: int
    alerts: dict[str, int]


def monitor_status(*, session: Session, org_id: uuid.UUID, limit: int = 10) -> MonitorStatus:
    """Queued and running scans, the latest scans, the feeds and the organisation's counts."""
    if not 1 <= limit <= 100:
        raise MarketValidationError("limit must be between 1 and 100")
    running = session.exec(
        select(MonitorScan)
        .where(
            MonitorScan.org_id == org_id,
            col(MonitorScan.status).in_((ScanStatus.queued, ScanStatus.running)),
        )
        .order_by(col(MonitorScan.created_at).desc())
        .limit(50)
    ).all()
    recent = session.exec(
        select(MonitorScan)
        .where(
            MonitorScan.org_id == org_id,
            col(MonitorScan.status).in_((ScanStatus.succeeded, ScanStatus.failed)),
        )
        .order_by(col(MonitorScan.created_at).desc(), col(MonitorScan.id))
        .limit(limit)
    ).all()
    feeds = session.exec(
        select(MonitorFeed)
        .where(MonitorFeed.org_id == org_id)
        .order_by(col(MonitorFeed.created_at))
    ).all()
    tracked, active = session.exec(
        select(
            func.count(),
            func.count().filter(col(TrackedListing.status).in_(ACTIVE_STATUSES)),
        ).where(TrackedListing.org_id == org_id)
    ).one()
    open_opps = session.exec(
        select(func.count())
        .select_from(Opportunity)
        .where(Opportunity.org_id == org_id, Opportunity.status == OpportunityStatus.open)
    ).one()
    return MonitorStatus(
        running=list(running),
        recent=list(recent),
        feeds=list(feeds),
        tracked_listings=int(tracked),
        active_listings=int(active),
        open_opportunities=int(open_opps),
        alerts=alert_service.alert_counts(session=session, org_id=org_id),
    )


# --- the schedule (system-wide) ----------------------------------------------------------


def due_feeds(*, session: Session, now: dt.datetime | None = None) -> list[MonitorFeed]:
    """Scheduled feeds of every organisation whose next run is due (locked, skipping busy ones)."""
    now = now or utcnow()
    return list(
        session.exec(
            select(MonitorFeed)
            .where(
                col(MonitorFeed.every_minutes).is_not(None),
                col(MonitorFeed.next_run_at) <= now,
            )
            .order_by(col(MonitorFeed.next_run_at))
            .limit(100)
            .with_for_update(skip_locked=True)
        ).all()
    )


def schedule_scan(
    *, session: Session, feed: MonitorFeed, now: dt.datetime | None = None
) -> MonitorScan | None:
    """Queue the scheduled scan of a due feed (none while one of it is still queued/running)."""
    now = now or utcnow()
    assert feed.every_minutes is not None
    feed.next_run_at = now + dt.timedelta(minutes=feed.every_minutes)
    session.add(feed)
    busy = session.exec(
        select(MonitorScan.id).where(
            MonitorScan.feed_id == feed.id,
            col(MonitorScan.status).in_((ScanStatus.queued, ScanStatus.running)),
        )
    ).first()
    if busy is not None:
        session.flush()
        return None
    return _new_scan(session=session, feed=feed, trigger=ScanTrigger.schedule, principal=None)


def expire_stale_scans(
    *, session: Session, now: dt.datetime | None = None, older_than: dt.timedelta | None = None
) -> list[uuid.UUID]:
    """Fail scans stuck queued or running (every organisation), saying why; return their ids.

    A scan still queued ``older_than`` after it was created lost its job (or the job never
    ran); a running scan that committed nothing for ``older_than`` lost its worker (killed
    mid-scan). Either would otherwise block its feed's schedule forever (``schedule_scan``
    waits while a scan of the feed is queued or running). A failed scan can still be claimed:
    a late job runs it, and a re-run resumes from its committed batches.
    """
    now = now or utcnow()
    older_than = older_than or STALE_SCAN_AFTER
    cutoff = now - older_than
    minutes = int(older_than.total_seconds() // 60)
    table = MonitorScan.__table__  # type: ignore[attr-defined]
    expired: list[uuid.UUID] = []
    for status, since, reason in (
        (
            ScanStatus.queued,
            table.c.created_at,
            f"still queued {minutes} minutes after it was created (its job was lost or never "
            "ran): marked failed so the feed's schedule goes on; start the scan again to retry",
        ),
        (
            ScanStatus.running,
            table.c.updated_at,
            f"no progress for {minutes} minutes (its worker was probably stopped mid-scan): "
            "marked failed so the feed's schedule goes on; a re-run resumes from the batches "
            "already committed",
        ),
    ):
        rows = session.execute(
            update(table)
            .where(table.c.status == status.value, since < cutoff)
            .values(status=ScanStatus.failed.value, error=reason, finished_at=now, updated_at=now)
            .returning(table.c.id)
        ).all()
        expired.extend(row[0] for row in rows)
    return expired


def scans_awaiting_job(
    *, session: Session, now: dt.datetime | None = None, older_than: dt.timedelta | None = None
) -> list[MonitorScan]:
    """Queued scans of a feed (every organisation) untouched for ``older_than``.

    The tick checks each one's job on the queue and enqueues it again when the job is gone
    (the enqueue failed, or Redis lost it). Scans without a feed (the CLI's) run in-process.
    """
    now = now or utcnow()
    cutoff = now - (older_than or REQUEUE_SCAN_AFTER)
    return list(
        session.exec(
            select(MonitorScan)
            .where(
                MonitorScan.status == ScanStatus.queued,
                col(MonitorScan.feed_id).is_not(None),
                col(MonitorScan.updated_at) < cutoff,
            )
            .order_by(col(MonitorScan.created_at))
            .limit(100)
        ).all()
    )


def listings_in_scan(
    *, session: Session, org_id: uuid.UUID, scan_id: uuid.UUID
) -> list[TrackedListing]:
    """The listings a scan saw last (for tests and the CLI)."""
    return list(
        session.exec(
            select(TrackedListing)
            .where(TrackedListing.org_id == org_id, TrackedListing.last_scan_id == scan_id)
            .order_by(col(TrackedListing.external_id))
        ).all()
    )


# --- analyses of tracked listings (analysis.completed) ----------------------------------------


def find_listing_for_property(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID
) -> TrackedListing | None:
    """The tracked listing a property is: same source and id, else same normalised address."""
    prop = property_service.get(session=session, org_id=org_id, property_id=property_id)
    if prop is None:
        return None
    if prop.source and prop.source_id and prop.source in {s.value for s in ListingSource}:
        listing = session.exec(
            select(TrackedListing).where(
                TrackedListing.org_id == org_id,
                TrackedListing.source == prop.source,
                TrackedListing.external_id == prop.source_id,
            )
        ).first()
        if listing is not None:
            return listing
    if not prop.address_key:
        return None
    query = select(TrackedListing).where(
        TrackedListing.org_id == org_id, TrackedListing.address_key == prop.address_key
    )
    if prop.zip_code:
        query = query.where(TrackedListing.zip_code == prop.zip_code)
    return session.exec(query.order_by(col(TrackedListing.created_at))).first()


ANALYSIS_FIGURES = {
    "as_is": ("as_is_value", "as_is"),
    "arv": ("arv", "arv_value"),
    "rehab": ("rehab_total", "rehab_estimate"),
    "rent": ("rent_monthly", "rent"),
}


def _payload_figures(payload: dict[str, Any], source: str) -> dict[str, Figure]:
    """The figures an analysis.completed payload carries (keys in ``ANALYSIS_FIGURES``)."""
    out: dict[str, Figure] = {}
    for name, keys in ANALYSIS_FIGURES.items():
        for key in keys:
            raw = payload.get(key)
            if isinstance(raw, dict):
                raw = raw.get("amount", raw.get("value"))
            if raw in (None, ""):
                continue
            try:
                amount = Decimal(str(raw))
            except InvalidOperation:
                continue
            if amount.is_finite() and amount >= 0:
                out[name] = Figure(amount=amount, source=f"{source}: {key}")
                break
    return out


def _analysis_figures(
    *, session: Session, org_id: uuid.UUID, property_id: uuid.UUID, source: str
) -> dict[str, Figure]:
    """Run the property analysis itself when the event carries no figures."""
    from domain.analysis import service as analysis_service

    try:
        analysis = analysis_service.analyze_property(
            session=session, org_id=org_id, property_id=property_id
        )
    except analysis_service.AnalysisError:
        return {}
    out: dict[str, Figure] = {}
    if analysis.as_is is not None:
        out["as_is"] = Figure(analysis.as_is.value, f"{source}: property analysis as-is value")
    if analysis.arv is not None:
        out["arv"] = Figure(analysis.arv.value, f"{source}: property analysis ARV")
    if analysis.rehab_complete:  # an incomplete budget would understate the rehab
        out["rehab"] = Figure(
            analysis.rehab.estimate.total, f"{source}: rehab ({analysis.rehab.scope_source})"
        )
    if analysis.rent.rent_monthly is not None:
        out["rent"] = Figure(analysis.rent.rent_monthly, f"{source}: {analysis.rent.rent_source}")
    return out


def apply_analysis(
    *,
    session: Session,
    org_id: uuid.UUID,
    property_id: uuid.UUID,
    payload: dict[str, Any],
    event_id: uuid.UUID,
) -> TrackedListing | None:
    """A property was analysed: if it is a tracked listing, re-score it with the analysis.

    The analysis's figures (from the payload, else from running the property analysis)
    replace the estimates as the score's inputs; the opportunity is created, updated or closed
    to match, and a new one alerts investors. Once per event (the listing remembers it).
    Takes the organisation's ingest lock first, so it never races a scan over the same listing.
    """
    _lock_org_ingest(session, org_id)
    listing = find_listing_for_property(session=session, org_id=org_id, property_id=property_id)
    if listing is None or listing.list_price is None:
        return None
    seen = (listing.property_data.get("analysis") or {}).get("event_id")
    if seen == str(event_id):
        return listing
    source = f"analysis of property {property_id} (event {event_id})"
    figures = _payload_figures(payload, source) or _analysis_figures(
        session=session, org_id=org_id, property_id=property_id, source=source
    )
    listing.property_data = {
        **listing.property_data,
        "analysis": normalise_payload(
            {
                "event_id": event_id,
                "property_id": property_id,
                "figures": {k: f.to_json() for k, f in figures.items()},
                "at": utcnow(),
            }
        ),
    }
    result = underwrite_listing(
        session=session,
        org_id=org_id,
        listing=listing,
        lookups=ScanLookups(session=session, org_id=org_id),
        as_of=local_today(),  # the company's today, as the scan's (see _load_context)
        overrides=figures,
    )
    opp, outcome = record_opportunity(
        session=session, org_id=org_id, listing=listing, result=result
    )
    if opp is not None and outcome in ("created", "reopened", "updated"):
        alert_service.alert_for_opportunities(
            session=session, org_id=org_id, opportunities=[(opp, listing)], source_event_id=event_id
        )
    session.flush()
    return listing
