"""Deals API: the pipeline, offers, status changes, the timeline and deal projections.

Reads are open to admins, analysts and investors (an investor sees only deals they own or are
on the team of; any other deal is "not found"); changes need admin or analyst; contractors have
no access. Errors: 404 for an unknown deal, offer, property or user (or one of another
organisation), 409 for a change the deal's or offer's state does not allow (an illegal status
transition answers with the allowed next statuses), 422 for invalid values.

``GET /projections/{dealId}`` is listed under the finance service in the original
architecture, but it projects one deal with the underwriting functions for its strategy, so it
lives here, next to the deal it reads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from core.deps import Reader, SessionDep, Writer
from core.location import LOCATION_201, CreatedLocation
from core.paging import Offset, send_total, total_count
from domain.deal import performance, service
from domain.deal.enums import DealStatus, DealStrategy
from domain.deal.models import (
    Deal,
    DealCreate,
    DealDetail,
    DealDocumentRead,
    DealRead,
    DealStatusChange,
    DealTimeline,
    DealUpdate,
    Offer,
    OfferCreate,
    OfferRead,
    OfferResult,
    OfferStatusChange,
)
from domain.deal.projection import DealProjection, ProjectionAssumptions
from domain.deal.state_machine import allowed_next

router = APIRouter(tags=["deals"])

DealId = Annotated[uuid.UUID, Path(alias="id", description="The deal's id")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such deal (or offer, property, user) in your organisation"},
    409: {"description": "The deal's or offer's current state does not allow this"},
    422: {"description": "A value is invalid; the message says which"},
}


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn the service's typed errors into HTTP errors with its message."""
    try:
        yield
    except service.DealNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except service.DealPermissionError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    except service.DealValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    except service.DealConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc


def _read(deal: Deal) -> DealRead:
    """The API view of a deal, with the statuses it may move to next (history times in UTC)."""
    return DealRead.model_validate(
        deal,
        update={
            "allowed_next_statuses": allowed_next(DealStatus(deal.status)),
            "timeline": service.status_history(deal),
        },
    )


def _offer_result(offer: Offer, deal: Deal) -> OfferResult:
    """The API view of an offer, with its deal's status."""
    return OfferResult.model_validate(offer, update={"deal_status": deal.status})


@router.get(
    "/deals",
    response_model=list[DealRead],
    summary="List deals (X-Total-Count gives the number matching)",
    responses=total_count("deals"),
)
def list_deals(
    response: Response,
    session: SessionDep,
    principal: Reader,
    deal_status: Annotated[DealStatus | None, Query(alias="status")] = None,
    strategy: DealStrategy | None = None,
    property_id: uuid.UUID | None = None,
    since: Annotated[
        dt.date | None,
        Query(
            description="first day (UTC), inclusive: deals that entered `status` on or after "
            "it (by their timeline), or were created on or after it when no status is given"
        ),
    ] = None,
    until: Annotated[
        dt.date | None,
        Query(description="last day (UTC), inclusive; 422 when before `since`"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 50,
    offset: Offset = 0,
) -> list[DealRead]:
    """The organisation's deals you may see, most recently changed first.

    ``since``/``until`` limit them to a period: with ``status``, the deals that moved into
    that status in the period ("closed in October"); without, the deals opened in it.
    """
    with _mapped_errors():
        deals = service.list_deals(
            session=session,
            org_id=principal.org_id,
            principal=principal,
            status=deal_status,
            strategy=strategy,
            property_id=property_id,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        total = service.count_deals(
            session=session,
            org_id=principal.org_id,
            principal=principal,
            status=deal_status,
            strategy=strategy,
            property_id=property_id,
            since=since,
            until=until,
        )
    send_total(response, total)
    return [_read(deal) for deal in deals]


@router.post(
    "/deals",
    response_model=DealRead,
    status_code=status.HTTP_201_CREATED,
    summary="Open a deal on a property",
    responses=_ERRORS
    | {
        409: {
            "description": "The property already has an open deal (`existing_id` and"
            " `existing_status` name it; `?allow_duplicate=true` opens another)"
        }
    }
    | LOCATION_201,
)
def create_deal(
    deal_in: DealCreate,
    session: SessionDep,
    principal: Writer,
    location: CreatedLocation,
    allow_duplicate: Annotated[
        bool,
        Query(
            description="open the deal even when the property already has an open deal "
            "(else 409 with `existing_id` and `existing_status`)"
        ),
    ] = False,
) -> DealRead | JSONResponse:
    """Open a deal (as a lead, or analyzing) on one of your organisation's properties.

    You own it unless ``owner_user_id`` names another user. Publishes ``deal.created``. A
    property that already has an open deal (any status but closed, dead or passed) is a 409
    naming it (``existing_id``, ``existing_status``), unless ``allow_duplicate`` is true.
    """
    with _mapped_errors():
        try:
            deal = service.create_deal(
                session=session,
                org_id=principal.org_id,
                deal_in=deal_in,
                principal=principal,
                refuse_open_duplicate=not allow_duplicate,
            )
        except service.DuplicateDealError as exc:
            return JSONResponse(
                status_code=status.HTTP_409_CONFLICT,
                content={
                    "detail": str(exc),
                    "existing_id": str(exc.existing_id),
                    "existing_status": exc.existing_status.value,
                },
            )
    session.commit()
    session.refresh(deal)  # money as stored (two decimals), the same as a later GET
    location.created(deal.id)
    return _read(deal)


@router.get("/deals/{id}", response_model=DealDetail, summary="Get a deal", responses=_ERRORS)
def get_deal(deal_id: DealId, session: SessionDep, principal: Reader) -> DealDetail:
    """One deal with its offers (lapsed ones marked expired) and documents."""
    with _mapped_errors():
        deal = service.get_deal(
            session=session, org_id=principal.org_id, deal_id=deal_id, principal=principal
        )
        offers = service.list_offers(
            session=session, org_id=principal.org_id, deal_id=deal_id, principal=principal
        )
        documents = service.list_documents(
            session=session, org_id=principal.org_id, deal_id=deal_id, principal=principal
        )
    session.commit()  # offers that lapsed were marked expired
    return DealDetail.model_validate(
        _read(deal),
        update={
            "offers": [OfferRead.model_validate(o) for o in offers],
            "documents": [DealDocumentRead.model_validate(d) for d in documents],
        },
    )


@router.put("/deals/{id}", response_model=DealRead, summary="Change a deal", responses=_ERRORS)
def update_deal(
    deal_id: DealId, deal_in: DealUpdate, session: SessionDep, principal: Writer
) -> DealRead:
    """Change a deal's figures, type, strategy, team or owner; only the fields given change.

    The status has its own route, ``PUT /deals/{id}/status``.
    """
    with _mapped_errors():
        deal = service.update_deal(
            session=session,
            org_id=principal.org_id,
            deal_id=deal_id,
            deal_in=deal_in,
            principal=principal,
        )
    session.commit()
    session.refresh(deal)  # money as stored (two decimals), the same as a later GET
    return _read(deal)


class DealStatusConflict(BaseModel):
    """The 409 of a status change the pipeline does not allow."""

    detail: str = Field(description="why, naming the statuses it may move to")
    current_status: DealStatus = Field(description="the deal's status, unchanged")
    requested_status: DealStatus = Field(description="the status asked for")
    allowed_next_statuses: list[DealStatus] = Field(
        description="where it may move from its status, in pipeline order (empty: final)"
    )


@router.put(
    "/deals/{id}/status",
    response_model=DealRead,
    summary="Move a deal along the pipeline",
    responses=_ERRORS
    | {
        409: {
            "description": "The transition is not allowed; the allowed next statuses are listed",
            "model": DealStatusConflict,
        }
    },
)
def change_status(
    deal_id: DealId, change: DealStatusChange, session: SessionDep, principal: Writer
) -> DealRead | JSONResponse:
    """Move a deal to another status if the pipeline allows it; publishes the change.

    lead → analyzing → offer_made → under_contract → closed (also lead → offer_made, and
    offer_made → analyzing after a rejected offer); dead or passed from any open status;
    closed, dead and passed are final. A refused change answers 409 with
    ``allowed_next_statuses``. Under contract needs a contract price (an accepted offer, else
    the deal's ``purchase_price``): without one the move is a 409 saying so.
    """
    with _mapped_errors():
        try:
            deal = service.change_status(
                session=session,
                org_id=principal.org_id,
                deal_id=deal_id,
                status=change.status,
                reason=change.reason,
                principal=principal,
            )
        except service.IllegalTransitionError as exc:
            conflict = DealStatusConflict(
                detail=str(exc),
                current_status=exc.current,
                requested_status=exc.target,
                allowed_next_statuses=exc.allowed,
            )
            return JSONResponse(
                status_code=status.HTTP_409_CONFLICT, content=conflict.model_dump(mode="json")
            )
    session.commit()
    return _read(deal)


@router.post(
    "/deals/{id}/offers",
    response_model=OfferResult,
    status_code=status.HTTP_201_CREATED,
    summary="Make an offer",
    responses=_ERRORS,
)
def make_offer(
    deal_id: DealId, offer_in: OfferCreate, session: SessionDep, principal: Writer
) -> OfferResult:
    """Record an offer on an open deal (amount, terms, expiry).

    A submitted offer (the default) moves a lead or analyzing deal to offer_made and publishes
    ``offer.received``; a draft changes nothing until it is submitted. A deal under contract,
    closed, dead or passed takes no new offer (409; under contract: the message gives the
    contract price).
    """
    with _mapped_errors():
        offer = service.make_offer(
            session=session,
            org_id=principal.org_id,
            deal_id=deal_id,
            offer_in=offer_in,
            principal=principal,
        )
        deal = service.get_deal(session=session, org_id=principal.org_id, deal_id=deal_id)
    session.commit()
    session.refresh(offer)  # money as stored (two decimals), the same as a later GET
    return _offer_result(offer, deal)


@router.get(
    "/deals/{id}/offers",
    response_model=list[OfferRead],
    summary="List a deal's offers (X-Total-Count gives the number)",
    responses={**_ERRORS, **total_count("offers")},
)
def list_offers(
    deal_id: DealId,
    response: Response,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[OfferRead]:
    """A deal's offers, oldest first; lapsed ones are marked expired."""
    with _mapped_errors():
        offers = service.list_offers(
            session=session, org_id=principal.org_id, deal_id=deal_id, principal=principal,
            limit=limit, offset=offset,
        )  # fmt: skip
        total = service.count_offers(
            session=session, org_id=principal.org_id, deal_id=deal_id, principal=principal
        )
    session.commit()
    send_total(response, total)
    return [OfferRead.model_validate(o) for o in offers]


@router.put(
    "/deals/{id}/offers/{offer_id}/status",
    response_model=OfferResult,
    summary="Submit, counter, accept, reject or withdraw an offer",
    responses=_ERRORS,
)
def change_offer_status(
    deal_id: DealId,
    offer_id: uuid.UUID,
    change: OfferStatusChange,
    session: SessionDep,
    principal: Writer,
) -> OfferResult:
    """Change an offer's status; accepting one puts the deal under contract at its amount."""
    with _mapped_errors():
        offer = service.change_offer_status(
            session=session,
            org_id=principal.org_id,
            deal_id=deal_id,
            offer_id=offer_id,
            status=change.status,
            note=change.note,
            principal=principal,
        )
        deal = service.get_deal(session=session, org_id=principal.org_id, deal_id=deal_id)
    session.commit()
    return _offer_result(offer, deal)


MAX_TIMELINE_LIMIT = 500  # timeline entries on one page


@router.get(
    "/deals/{id}/timeline",
    response_model=DealTimeline,
    summary="A deal's timeline, oldest first, paged (total: how many entries)",
    description=(
        "`limit` entries (default 100, at most 500) from `offset`, oldest first; entries at "
        "the same instant keep the order they were recorded in, so pages never repeat or skip "
        "one. `items` and `entries` both hold the page; `total` counts every entry."
    ),
    responses=_ERRORS,
)
def get_timeline(
    deal_id: DealId,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_TIMELINE_LIMIT)] = 100,
    offset: Offset = 0,
) -> DealTimeline:
    """Everything that happened to the deal, oldest first: who, what and when.

    Status changes, offers, documents, payments and valuations, from the deal's recorded
    entries and the events other modules published about it.
    """
    with _mapped_errors():
        result = service.timeline(
            session=session,
            org_id=principal.org_id,
            deal_id=deal_id,
            principal=principal,
            limit=limit,
            offset=offset,
        )
    session.commit()
    return result


# Sanity bounds on the projection's money query parameters (a typo such as
# rent_monthly=99999999999 gave a 632,150,941 % cap rate): prices and values as the analysis
# caps them, monthly figures at $100,000 a month.
_MAX_AMOUNT = Decimal("100000000")
_MAX_REHAB = Decimal("10000000")
_MAX_MONTHLY = Decimal("100000")
_QUERY_MAXIMA: dict[str, tuple[Decimal, str]] = {
    "purchase_price": (_MAX_AMOUNT, ""),
    "arv": (_MAX_AMOUNT, ""),
    "target_profit": (_MAX_AMOUNT, ""),
    "assignment_fee": (_MAX_AMOUNT, ""),
    "wholesale_costs": (_MAX_AMOUNT, ""),
    "rehab_cost": (_MAX_REHAB, ""),
    "rent_monthly": (_MAX_MONTHLY, " a month"),
    "utilities_monthly": (_MAX_MONTHLY, " a month"),
    "utilities_monthly_while_held": (_MAX_MONTHLY, " a month"),
    "payment_standard_monthly": (_MAX_MONTHLY, " a month"),
    "utility_allowance_monthly": (_MAX_MONTHLY, " a month"),
}


class _BoundedProjectionQuery(ProjectionAssumptions):
    """The projection's query parameters with upper bounds on the money figures (422 above)."""

    @model_validator(mode="after")
    def _within_bounds(self) -> _BoundedProjectionQuery:
        over = [
            f"{name} {value} is over the maximum of ${cap:,}{per}"
            for name, (cap, per) in _QUERY_MAXIMA.items()
            if (value := getattr(self, name, None)) is not None and value > cap
        ]
        if over:
            raise ValueError("; ".join(over))
        return self


@router.get(
    "/projections/{dealId}",
    response_model=DealProjection,
    summary="Underwrite a deal for its strategy",
    responses=_ERRORS,
)
def get_projection(
    deal_id: Annotated[uuid.UUID, Path(alias="dealId", description="The deal's id")],
    assumptions: Annotated[_BoundedProjectionQuery, Query()],
    session: SessionDep,
    principal: Reader,
) -> DealProjection:
    """Run the underwriting for the deal's strategy (flip, rental, BRRRR, Section 8, wholesale).

    The deal supplies its purchase price and repairs, the property its target rent (else the
    analysis's rent: the market-rent estimate, else the Section 8 maximum contract rent) and
    bedrooms, the Section 8 table the payment standard; query parameters override them and
    set the other assumptions (the analysis's defaults: 2 % buy closing, 6-month flip hold,
    5 % + 1 % selling, 8 % vacancy, 10 % management, 8 % maintenance, 5 % reserves, 1.5 % tax
    and 0.5 % insurance a year, a 30-year loan of 75 % at 7.5 %, 5-year hold at 3 % growth,
    70 % rule). Flips, BRRRR and wholesale need an ARV: ``arv`` when given, else the
    property's latest stored ARV valuation (``POST /valuations/arv``); ``arv_source`` says
    which (valuation id and date, and ``stale`` when it is over 180 days old or marked due for
    re-valuation), and with neither the answer is 422 saying how to get one. Rental and
    Section 8 deals take the same ARV, else the analysis's ARV from today's comps, else none
    (tax, insurance and the hold's start on the price), as the analysis does. Money
    parameters are capped (422 above): prices,
    values, the target profit and wholesale figures at $100,000,000, ``rehab_cost`` at
    $10,000,000, rents and monthly costs at $100,000 a month. The response carries the exact
    inputs the underwriting ran on and where each deal figure came from. Listed under the finance
    service in the original architecture; served by the deal module because it projects a deal.
    """
    with _mapped_errors():
        return service.deal_projection(
            session=session,
            org_id=principal.org_id,
            deal_id=deal_id,
            assumptions=assumptions,
            principal=principal,
        )


class _PerformanceQuery(_BoundedProjectionQuery):
    """The projection's query parameters and the day the actuals run to."""

    as_of: dt.date | None = Field(
        default=None,
        description="the actuals count ledger rows dated on or before this day, and a"
        " rental's projected figures are prorated to it (default: today, company-local; a"
        " later day is 422)",
    )


@router.get(
    "/deals/{id}/performance",
    response_model=performance.DealPerformance,
    summary="How the deal did against its projection",
    responses=_ERRORS,
)
def get_performance(
    deal_id: DealId,
    query: Annotated[_PerformanceQuery, Query()],
    session: SessionDep,
    principal: Reader,
) -> performance.DealPerformance:
    """Projected vs realised: a bookkeeper closing a sold flip or a leased rental.

    The deal's projection (as ``GET /projections/{dealId}``, same query parameters) next to
    its ledger P&L: projected, actual, difference and % per line, returns, the period the
    actuals cover and what is still open (not sold yet: "realised so far"; a rental: "to
    date"). Every figure names its source; a figure that is missing says why (no projection
    without an ARV, nothing booked under a category ...). Money as two-place strings. Same
    access as the projection: investors only their own deals; other deals are 404.
    ``as_of`` (default today, company-local; a later day is 422) runs the actuals to that
    day: ledger rows dated on or before it; the projection is the deal's current one (a
    rental's yearly figures prorated to ``as_of``).
    """
    assumptions = ProjectionAssumptions.model_validate(
        query.model_dump(exclude={"as_of"}, exclude_unset=True)
    )
    with _mapped_errors():
        return performance.deal_performance(
            session=session,
            org_id=principal.org_id,
            deal_id=deal_id,
            assumptions=assumptions,
            principal=principal,
            as_of=query.as_of,
        )
