"""Market monitor API: start scans, see what they did, the latest opportunities, alerts, trends.

Starting scans needs an admin or analyst; reading is open to investors too, and an investor
configures their own alerts (admins and analysts may configure anyone's in their
organisation). Everything is scoped to the caller's organisation: another organisation's scan
is "not found". Errors: 404 unknown scan, document or user; 403 someone else's alerts; 422 a
bad value, a feed URL we will not fetch, or a source that is not configured.

``GET /market/analysis`` (an area's sales analysis) is the valuation module's.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from core.config import get_settings
from core.deps import Reader, SessionDep, Writer
from core.paging import Offset, send_total, total_count
from domain.market import alerts as alert_service
from domain.market import service, trends
from domain.market.enums import (
    AlertStatus,
    FeedKind,
    ListingSource,
    OpportunityStrategy,
    ScanStatus,
    TrendSource,
)
from domain.market.models import (
    AlertCriteriaIn,
    AlertCriteriaRead,
    AlertRead,
    FeedRead,
    ListingRead,
    Opportunity,
    OpportunityRead,
    OpportunitySort,
    ScanRead,
    TrackedListing,
)
from domain.market.sources import SourceError

log = logging.getLogger(__name__)
router = APIRouter(tags=["market monitor"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not allowed for your role"},
    404: {"description": "No such scan, document or user in your organisation"},
    422: {"description": "A value is invalid, or the feed cannot be used; the message says why"},
}


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn the services' typed errors into HTTP errors with their message."""
    try:
        yield
    except (service.MarketNotFoundError, alert_service.AlertNotFoundError) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except (service.MarketPermissionError, alert_service.AlertPermissionError) as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    except (
        service.MarketValidationError,
        alert_service.AlertValidationError,
        trends.TrendInputError,
        SourceError,
    ) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc


class MonitorStartRequest(BaseModel):
    """Body of ``POST /monitor/start``: which feed to scan, and how often to scan it again."""

    model_config = ConfigDict(extra="forbid")

    feed: FeedKind = Field(
        description="file (an uploaded CSV/JSON document), url (https, allowed host), demo "
        "(the shipped fictional Ames feed), mls or portal (not configured here)"
    )
    url: str | None = Field(default=None, max_length=500)
    document_id: uuid.UUID | None = Field(default=None, description="for feed=file")
    listing_source: ListingSource = Field(
        default=ListingSource.mls, description="the source its listings are recorded under"
    )
    name: str | None = Field(default=None, max_length=200)
    every_minutes: int | None = Field(
        default=None, ge=5, le=10080, description="scan again on this schedule (minutes)"
    )


class MonitorStartResponse(BaseModel):
    """A queued scan."""

    scan_id: uuid.UUID
    feed_id: uuid.UUID
    status: ScanStatus
    job_id: str | None
    every_minutes: int | None
    next_run_at: dt.datetime | None


class MonitorStatusRead(BaseModel):
    """What the monitor is doing and has done."""

    scan: ScanRead | None = Field(default=None, description="the scan asked for (scan_id)")
    running: list[ScanRead]
    recent: list[ScanRead]
    feeds: list[FeedRead]
    tracked_listings: int
    active_listings: int
    open_opportunities: int
    alerts: dict[str, int]
    tick_s: int


def _opportunity_read(opp: Opportunity, listing: TrackedListing) -> OpportunityRead:
    return OpportunityRead.model_validate(
        opp,
        update={
            "listing": ListingRead.model_validate(listing, from_attributes=True),
            "score_breakdown": service.opportunity_breakdown(opp),
        },
    )


@router.post(
    "/monitor/start",
    response_model=MonitorStartResponse,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a market scan",
    responses=_ERRORS | {503: {"description": "The job queue is unavailable"}},
)
def start_monitor(
    body: MonitorStartRequest, session: SessionDep, principal: Writer
) -> MonitorStartResponse:
    """Queue a scan of a listings feed now (and every ``every_minutes`` if given).

    The feed is RESO CSV/JSON: an uploaded document (``feed=file``), an https URL on a host
    in ``MONITOR_FEED_ALLOWED_HOSTS`` (``feed=url``) or the shipped fictional demo feed
    (``feed=demo``). ``GET /monitor/status?scan_id=...`` shows its progress and counts.
    """
    from workers import monitor as jobs

    spec = service.FeedSpec(
        kind=body.feed,
        url=body.url,
        document_id=body.document_id,
        source=body.listing_source,
        name=body.name,
        every_minutes=body.every_minutes,
    )
    with _mapped_errors():
        feed, scan = service.start_monitor(
            session=session, org_id=principal.org_id, spec=spec, principal=principal
        )
    session.commit()
    try:
        job_id = jobs.enqueue_scan(principal.org_id, scan.id)
    except Exception as exc:  # noqa: BLE001 - Redis down: say so, leave nothing pending
        log.exception("could not enqueue a market scan")
        scan.status = ScanStatus.failed
        scan.error = "the job queue is unavailable; start the scan again"
        session.add(scan)
        session.commit()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=scan.error) from exc
    scan.job_id = job_id
    session.add(scan)
    session.commit()
    if feed.every_minutes:
        jobs.schedule_tick()
    return MonitorStartResponse(
        scan_id=scan.id,
        feed_id=feed.id,
        status=scan.status,
        job_id=job_id,
        every_minutes=feed.every_minutes,
        next_run_at=feed.next_run_at,
    )


@router.get(
    "/monitor/status",
    response_model=MonitorStatusRead,
    summary="What the market monitor is doing",
    responses=_ERRORS,
)
def monitor_status(
    session: SessionDep,
    principal: Reader,
    scan_id: Annotated[uuid.UUID | None, Query(description="one scan to show in full")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="recent scans to list")] = 10,
) -> MonitorStatusRead:
    """Queued and running scans, the latest finished ones, the feeds and the counts.

    Finished scans carry their counts (rows, new, updated, unchanged, rejected, price cuts,
    shortlisted, opportunities, alerts) and their rejected rows with the reason.
    """
    with _mapped_errors():
        state = service.monitor_status(session=session, org_id=principal.org_id, limit=limit)
        scan = (
            service.get_scan(session=session, org_id=principal.org_id, scan_id=scan_id)
            if scan_id is not None
            else None
        )
    return MonitorStatusRead(
        scan=ScanRead.model_validate(scan, from_attributes=True) if scan else None,
        running=[ScanRead.model_validate(s, from_attributes=True) for s in state.running],
        recent=[ScanRead.model_validate(s, from_attributes=True) for s in state.recent],
        feeds=[FeedRead.model_validate(f, from_attributes=True) for f in state.feeds],
        tracked_listings=state.tracked_listings,
        active_listings=state.active_listings,
        open_opportunities=state.open_opportunities,
        alerts=state.alerts,
        tick_s=get_settings().monitor_tick_s,
    )


@router.get(
    "/opportunities/latest",
    response_model=list[OpportunityRead],
    summary="The latest opportunities (X-Total-Count gives the number matching)",
    responses={**_ERRORS, **total_count("opportunities")},
)
def latest_opportunities(
    response: Response,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=alert_service.MAX_LIST_LIMIT)] = 20,
    offset: Offset = 0,
    min_score: Annotated[Decimal | None, Query(ge=0, le=100)] = None,
    strategy: OpportunityStrategy | None = None,
    zip_code: Annotated[str | None, Query(max_length=10)] = None,
    min_price: Annotated[Decimal | None, Query(ge=0, description="list price at least")] = None,
    max_price: Annotated[Decimal | None, Query(ge=0, description="list price at most")] = None,
    include_closed: bool = False,
    sort: Annotated[
        OpportunitySort,
        Query(
            description="-score (default): best first; score: lowest first; newest / oldest: "
            "by when the monitor first saw the listing; price / -price: list price low to "
            "high / high to low. Ties: best first, then the newest listing, then the id"
        ),
    ] = OpportunitySort.score_desc,
) -> list[OpportunityRead]:
    """Open opportunities, best first (highest score; ties: the newest listing, then the id).

    ``sort`` picks another order; an unknown one is a 422 naming the allowed values. Every
    order ends on the id, so pages do not overlap, and re-running an analysis on one
    opportunity does not move it unless its score changed. Each has its listing, the
    explained score (``details``: components, weights, inputs and their sources), the
    ``score_breakdown`` (each component's points, summing to the score), ROI estimate, rehab
    estimate and strategy.
    """
    filters = service.OpportunityFilters(
        min_score=min_score,
        strategy=strategy.value if strategy else None,
        zip_code=zip_code,
        min_price=min_price,
        max_price=max_price,
        include_closed=include_closed,
    )
    with _mapped_errors():
        rows = service.list_opportunities(
            session=session,
            org_id=principal.org_id,
            limit=limit,
            offset=offset,
            filters=filters,
            sort=sort,
        )
        total = service.count_opportunities(
            session=session, org_id=principal.org_id, filters=filters
        )
    send_total(response, total)
    return [_opportunity_read(opp, listing) for opp, listing in rows]


@router.get(
    "/opportunities/{opportunity_id}",
    response_model=OpportunityRead,
    summary="One opportunity, with why it scored what it did",
    responses=_ERRORS | {404: {"description": "No such opportunity in your organisation"}},
)
def get_opportunity(
    opportunity_id: uuid.UUID, session: SessionDep, principal: Reader
) -> OpportunityRead:
    """An opportunity of your organisation (open or closed) with its listing.

    ``score_breakdown`` answers "why is it scored 79?": each component's points (they add up
    to the score exactly), its maximum, the figures it used and their sources. A row scored by
    an earlier version of the scoring says so (``reproducible`` false, with the reason)
    instead of showing invented points. Another organisation's opportunity is a 404.
    """
    with _mapped_errors():
        opp, listing = service.get_opportunity(
            session=session, org_id=principal.org_id, opportunity_id=opportunity_id
        )
    return _opportunity_read(opp, listing)


@router.post(
    "/alerts/configure",
    response_model=AlertCriteriaRead,
    summary="Set your deal alert criteria",
    responses=_ERRORS,
)
def configure_alerts(
    body: AlertCriteriaIn, session: SessionDep, principal: Reader
) -> AlertCriteriaRead:
    """Save the criteria you want deal alerts for (replacing earlier ones).

    Areas, price range, minimum score/ROI, strategies and quiet hours. New matching
    opportunities are sent on WhatsApp once each, held during quiet hours; the best existing
    matches are sent now.
    """
    with _mapped_errors():
        criteria = alert_service.configure_alerts(
            session=session, org_id=principal.org_id, principal=principal, criteria_in=body
        )
    session.commit()
    session.refresh(criteria)  # money as stored (two decimals), the same as a later GET
    return AlertCriteriaRead.model_validate(criteria, from_attributes=True)


@router.get(
    "/alerts",
    response_model=list[AlertRead],
    summary="Deal alerts sent, held or not sent (X-Total-Count gives the number matching)",
    responses={**_ERRORS, **total_count("alerts")},
)
def list_alerts(
    response: Response,
    session: SessionDep,
    principal: Reader,
    user_id: uuid.UUID | None = Query(
        default=None, description="another user's alerts (admins and analysts only)"
    ),
    alert_status: AlertStatus | None = Query(default=None, alias="status"),
    limit: Annotated[int, Query(ge=1, le=alert_service.MAX_LIST_LIMIT)] = 50,
    offset: Offset = 0,
) -> list[AlertRead]:
    """Your deal alerts, newest first (admins and analysts: everyone's, or one user's).

    Each says whether it was queued on WhatsApp, held for quiet hours (until ``send_after``),
    or not sent, with ``status_reason`` saying why.
    """
    with _mapped_errors():
        alerts = alert_service.alerts_seen_by(
            session=session,
            org_id=principal.org_id,
            principal=principal,
            user_id=user_id,
            status=alert_status,
            limit=limit,
            offset=offset,
        )
        total = alert_service.count_alerts_seen_by(
            session=session,
            org_id=principal.org_id,
            principal=principal,
            user_id=user_id,
            status=alert_status,
        )
    send_total(response, total)
    return [AlertRead.model_validate(alert, from_attributes=True) for alert in alerts]


@router.get(
    "/alerts/criteria",
    response_model=AlertCriteriaRead,
    summary="Your deal alert criteria",
    responses=_ERRORS,
)
def get_alert_criteria(
    session: SessionDep,
    principal: Reader,
    user_id: uuid.UUID | None = Query(
        default=None, description="another user's criteria (admins and analysts only)"
    ),
) -> AlertCriteriaRead:
    """The alert criteria set with ``POST /alerts/configure`` (404 when none are set)."""
    with _mapped_errors():
        criteria = alert_service.criteria_seen_by(
            session=session, org_id=principal.org_id, principal=principal, user_id=user_id
        )
    return AlertCriteriaRead.model_validate(criteria, from_attributes=True)


@router.get(
    "/market/trends",
    response_model=trends.MarketTrends,
    summary="Monthly market trends for an area",
    responses=_ERRORS,
)
def market_trends(
    session: SessionDep,
    principal: Reader,
    area: Annotated[
        str, Query(min_length=1, max_length=100, description="ZIP, neighbourhood or city")
    ],
    source: TrendSource = TrendSource.sales,
    months: Annotated[int, Query(ge=1, le=240)] = 24,
) -> trends.MarketTrends:
    """Median price, $/sqft, volume and inventory by month for an area.

    From your sales (ZIP or neighbourhood), your tracked listings (ZIP or city), or txhousing
    (a Texas city).
    """
    with _mapped_errors():
        result = trends.market_trends(
            session=session, org_id=principal.org_id, area=area, source=source, months=months
        )
    session.commit()  # txhousing is copied into the organisation's market_stats on first use
    return result
