"""Valuation API: comparables, as-is value, ARV, valuation history, market analysis.

Every route needs a signed-in admin, analyst or investor (contractors have no access).
Investors may request valuations as well as read them: they are the ones who text an
address for a deal analysis, and the agent does that through the same service functions,
so the API allows what the agent does for them; but an investor stores a valuation only of
a property on no deal or on deals they are on (``service.check_may_store``, 403 otherwise).
The latest valuation of each kind is the latest value date (``as_of``), then the latest
stored. A stored valuation is audit-logged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import AfterValidator

from core.deps import SessionDep, require_roles
from core.paging import Offset, send_total, total_count
from domain.auth.enums import Role
from domain.auth.service import Principal
from domain.valuation import service
from domain.valuation.enums import ValuationKind
from domain.valuation.models import (
    CompAnalysis,
    MarketAnalysis,
    PropertyValuations,
    ValuationRead,
    ValuationRequest,
)

router = APIRouter(tags=["valuation"])

Member = Annotated[Principal, Depends(require_roles(Role.analyst, Role.investor))]

_ERRORS: dict[int | str, dict[str, str]] = {
    403: {"description": "An investor storing a valuation of a property on another's deal"},
    404: {"description": "No such property in your organisation"},
    422: {"description": "The request cannot be valued as given; the message says why"},
}


def _http_error(error: Exception) -> HTTPException:
    """404 for an unknown property, 422 for anything that cannot be valued as given."""
    if isinstance(error, service.ValuationNotFoundError):
        return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=str(error))
    if isinstance(error, service.ValuationPermissionError):
        return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=str(error))
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error))


_SERVICE_ERRORS = (service.ValuationError, service.NotEnoughSalesError)

# A value date given as a query parameter: one after today (company-local) is a 422 in the
# same validation shape as the request body's ``as_of`` (``service.check_as_of``).
ValueDate = AfterValidator(service.check_as_of)


@router.get(
    "/properties/{id}/comps",
    response_model=CompAnalysis,
    summary="Comparable sales of a property, with adjustment grids and the reconciled value",
    responses=_ERRORS,
)
def property_comps(
    id: uuid.UUID,
    session: SessionDep,
    principal: Member,
    as_of: Annotated[
        dt.date | None,
        Query(description="value date, today or earlier (default: today)"),
        ValueDate,
    ] = None,
    max_comps: Annotated[int, Query(ge=3, le=25, description="comps to reconcile")] = 10,
) -> CompAnalysis:
    """The property's best prior sales, each adjusted to it, and their reconciliation."""
    try:
        return service.find_comps(
            session=session,
            org_id=principal.org_id,
            property_id=id,
            as_of=as_of,
            max_comps=max_comps,
        )
    except _SERVICE_ERRORS as error:
        raise _http_error(error) from error


@router.post(
    "/comparables/analyze",
    response_model=CompAnalysis,
    summary="Comparable sales for a property or for attributes (nothing is stored)",
    responses=_ERRORS,
)
def analyze_comparables(
    body: ValuationRequest, session: SessionDep, principal: Member
) -> CompAnalysis:
    """Comps, grids and the reconciled value for ``property_id`` or ``subject`` attributes."""
    try:
        return service.find_comps(
            session=session,
            org_id=principal.org_id,
            property_id=body.property_id,
            subject=body.subject,
            as_of=body.as_of,
            max_comps=body.max_comps,
        )
    except _SERVICE_ERRORS as error:
        raise _http_error(error) from error


def _store(
    body: ValuationRequest, session: SessionDep, principal: Principal, kind: ValuationKind
) -> ValuationRead:
    function = service.value_property if kind == ValuationKind.as_is else service.after_repair_value
    try:
        service.check_may_store(
            session=session,
            org_id=principal.org_id,
            principal=principal,
            property_id=body.property_id,
        )
        valuation = function(
            session=session,
            org_id=principal.org_id,
            property_id=body.property_id,
            subject=body.subject,
            as_of=body.as_of,
            max_comps=body.max_comps,
            principal=principal,
        )
    except _SERVICE_ERRORS as error:
        raise _http_error(error) from error
    session.commit()
    return service.to_read(valuation)


@router.post(
    "/valuations/calculate",
    response_model=ValuationRead,
    status_code=status.HTTP_201_CREATED,
    summary="As-is value from comparable sales (stored with its comps and inputs)",
    responses=_ERRORS,
)
def calculate_valuation(
    body: ValuationRequest, session: SessionDep, principal: Member
) -> ValuationRead:
    """Value the subject as it is; publishes ``valuation.completed``."""
    return _store(body, session, principal, ValuationKind.as_is)


@router.post(
    "/valuations/arv",
    response_model=ValuationRead,
    status_code=status.HTTP_201_CREATED,
    summary="After-repair value from top-condition / recently renovated comps (stored)",
    responses=_ERRORS,
)
def calculate_arv(body: ValuationRequest, session: SessionDep, principal: Member) -> ValuationRead:
    """Value the subject as if fully renovated; publishes ``valuation.completed``."""
    return _store(body, session, principal, ValuationKind.arv)


@router.get(
    "/valuations/{propertyId}",
    response_model=PropertyValuations,
    summary="A property's latest as-is value and ARV, and its newest 100 valuations",
    responses=_ERRORS,
)
def property_valuations(
    propertyId: uuid.UUID,  # noqa: N803 - the seed's path parameter name
    session: SessionDep,
    principal: Member,
) -> PropertyValuations:
    """The latest valuation of each kind and the newest 100 valuations, newest first.

    Each carries its comps and grids; the whole history, paged with ``X-Total-Count``, is
    ``GET /properties/{id}/valuation``.
    """
    try:
        history = service.list_valuations(
            session=session, org_id=principal.org_id, property_id=propertyId
        )
    except _SERVICE_ERRORS as error:
        raise _http_error(error) from error
    reads = [service.to_read(v) for v in history]
    latest = {
        kind: service.latest_valuation(
            session=session, org_id=principal.org_id, property_id=propertyId, kind=kind
        )
        for kind in (ValuationKind.as_is, ValuationKind.arv)
    }
    return PropertyValuations(
        property_id=propertyId,
        latest_as_is=service.to_read(v) if (v := latest[ValuationKind.as_is]) else None,
        latest_arv=service.to_read(v) if (v := latest[ValuationKind.arv]) else None,
        history=reads,
    )


@router.get(
    "/properties/{id}/valuation",
    response_model=list[ValuationRead],
    summary="A property's valuation history, newest first (X-Total-Count gives the number)",
    responses={**_ERRORS, **total_count("valuations")},
)
def property_valuation_history(
    id: uuid.UUID,
    response: Response,
    session: SessionDep,
    principal: Member,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[ValuationRead]:
    """Every stored valuation of the property, each with its comps and inputs."""
    try:
        history = service.list_valuations(
            session=session, org_id=principal.org_id, property_id=id, limit=limit, offset=offset
        )
    except _SERVICE_ERRORS as error:
        raise _http_error(error) from error
    send_total(
        response,
        service.count_valuations(session=session, org_id=principal.org_id, property_id=id),
    )
    return [service.to_read(v) for v in history]


@router.get(
    "/market/analysis",
    response_model=MarketAnalysis,
    summary="An area's sales: median price and $/sqft, volume and the monthly trend",
    responses={422: _ERRORS[422]},
)
def market_analysis(
    session: SessionDep,
    principal: Member,
    zip_code: Annotated[str | None, Query(alias="zip", max_length=10)] = None,
    zip_code_alias: Annotated[
        str | None,
        Query(alias="zip_code", max_length=10, description="the same as zip (either name works)"),
    ] = None,
    neighborhood: Annotated[str | None, Query(max_length=100)] = None,
    months: Annotated[int, Query(ge=1, le=120, description="length of the period")] = 24,
    as_of: Annotated[
        dt.date | None,
        Query(description="end of the period, today or earlier (default: the area's last sale)"),
        ValueDate,
    ] = None,
) -> MarketAnalysis:
    """Arm's-length sales in a ZIP code and/or neighbourhood over ``months`` months."""
    zips = {z.strip() for z in (zip_code, zip_code_alias) if z and z.strip()}
    if len(zips) > 1:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="zip and zip_code name the same ZIP code: give one of them",
        )
    if not zips and not (neighborhood or "").strip():
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="give a zip (ZIP code) or a neighborhood query parameter, "
            "e.g. ?zip=50010 or ?neighborhood=Old Town",
        )
    try:
        return service.market_analysis(
            session=session,
            org_id=principal.org_id,
            zip_code=next(iter(zips), None),
            neighborhood=neighborhood,
            months=months,
            as_of=as_of,
        )
    except _SERVICE_ERRORS as error:
        raise _http_error(error) from error
