"""Properties API: CRUD, search, images and market data (mounted under ``/api/v1``).

Admins and analysts change properties; investors read them; contractors have no access.
``GET /properties/{id}/comps`` and ``/valuation`` belong to the valuation module's router.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from core.deps import Reader, SessionDep, Writer
from core.location import LOCATION_201, CreatedLocation
from core.paging import Offset, send_total, total_count
from domain.property import service
from domain.property.enums import MarketDataType
from domain.property.errors import (
    PropertyConflictError,
    PropertyError,
    PropertyNotFoundError,
    PropertyValidationError,
)
from domain.property.models import (
    MarketDataCreate,
    MarketDataRead,
    PropertyCreate,
    PropertyImageCreate,
    PropertyImageRead,
    PropertyPage,
    PropertyRead,
    PropertySearch,
    PropertySearchItem,
    PropertySearchPage,
    PropertyUpdate,
)

router = APIRouter(tags=["properties"])


_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "No such property in your organisation"},
    422: {"description": "A value is invalid; the message says which and why"},
}


def _http_error(error: PropertyError) -> HTTPException:
    """The HTTP error for a service error: 404, 409 or 422, with the service's message."""
    if isinstance(error, PropertyNotFoundError):
        return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Property not found")
    if isinstance(error, PropertyConflictError):
        return HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(error))
    if isinstance(error, PropertyValidationError):
        return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error))
    return HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=str(error))


@router.get(
    "/properties",
    response_model=PropertyPage,
    summary="List properties, or find them by a free-text address",
)
def list_properties(
    session: SessionDep,
    principal: Reader,
    address: Annotated[
        str | None,
        Query(
            max_length=300,
            description="Free-text address; returns the matching properties, best first",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> PropertyPage:
    """The organisation's properties, newest first; with ``address``, those at that address."""
    if address is not None:
        try:
            found = service.find_by_address(
                session=session, org_id=principal.org_id, text=address, limit=limit
            )
        except PropertyError as exc:
            raise _http_error(exc) from exc
        return PropertyPage(
            items=[PropertyRead.model_validate(p) for p in found],
            total=len(found),
            limit=limit,
            offset=0,
        )
    page = service.list_properties(
        session=session, org_id=principal.org_id, limit=limit, offset=offset
    )
    return PropertyPage(
        items=[PropertyRead.model_validate(p) for p in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/properties",
    response_model=PropertyRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a property (its address is normalised)",
    responses={
        409: {
            "description": "MLS number or source id already used, or a property is already at "
            "this address and unit (`existing_id` names it; `?allow_duplicate=true` creates "
            "another)"
        },
        422: _ERRORS[422],  # a create has no property to miss (no 404)
        **LOCATION_201,
    },
)
def create_property(
    session: SessionDep,
    principal: Writer,
    property_in: PropertyCreate,
    location: CreatedLocation,
    allow_duplicate: Annotated[
        bool,
        Query(
            description="create the property even when one is already at the same street "
            "address and unit (else 409 with `existing_id`)"
        ),
    ] = False,
) -> PropertyRead | JSONResponse:
    """Create a property; publishes ``property.created``.

    A property already at the same street line and unit (and no other ZIP, state or city) is
    a 409 with ``existing_id``, so a retried create does not duplicate it, unless
    ``allow_duplicate`` is true.
    """
    try:
        prop = service.create(
            session=session,
            org_id=principal.org_id,
            property_in=property_in,
            principal=principal,
            refuse_same_address=not allow_duplicate,
        )
    except service.DuplicateAddressError as exc:
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT,
            content={"detail": str(exc), "existing_id": str(exc.existing_id)},
        )
    except PropertyError as exc:
        raise _http_error(exc) from exc
    session.commit()
    session.refresh(prop)  # money as stored (two decimals), the same as a later GET
    location.created(prop.id)
    return PropertyRead.model_validate(prop)


@router.post(
    "/properties/search",
    response_model=PropertySearchPage,
    summary="Search properties by price, rooms, area, year, type, status, radius and text",
    responses={422: _ERRORS[422]},
)
def search_properties(
    session: SessionDep, principal: Reader, query: PropertySearch
) -> PropertySearchPage:
    """Properties matching every given filter, one page, with the total and distances."""
    try:
        result = service.search(session=session, org_id=principal.org_id, query=query)
    except PropertyError as exc:
        raise _http_error(exc) from exc
    items = []
    for hit in result.hits:
        item = PropertySearchItem.model_validate(hit.property)
        if hit.distance_miles is not None:
            item.distance_miles = round(hit.distance_miles, 3)
        items.append(item)
    return PropertySearchPage(
        items=items, total=result.total, limit=result.limit, offset=result.offset, filters=query
    )


@router.get(
    "/properties/{id}",
    response_model=PropertyRead,
    summary="Read a property",
    responses={404: _ERRORS[404]},
)
def read_property(id: uuid.UUID, session: SessionDep, principal: Reader) -> PropertyRead:
    """One property of the organisation."""
    try:
        prop = service.require(session=session, org_id=principal.org_id, property_id=id)
    except PropertyError as exc:
        raise _http_error(exc) from exc
    return PropertyRead.model_validate(prop)


@router.put(
    "/properties/{id}",
    response_model=PropertyRead,
    summary="Change a property (only the fields given)",
    responses={409: {"description": "MLS number or source id already used"}, **_ERRORS},
)
def update_property(
    id: uuid.UUID, session: SessionDep, principal: Writer, property_in: PropertyUpdate
) -> PropertyRead:
    """Change the given fields; publishes ``property.updated`` when something changed."""
    try:
        prop = service.update(
            session=session,
            org_id=principal.org_id,
            property_id=id,
            property_in=property_in,
            principal=principal,
        )
    except PropertyError as exc:
        raise _http_error(exc) from exc
    session.commit()
    session.refresh(prop)  # money as stored (two decimals), the same as a later GET
    return PropertyRead.model_validate(prop)


@router.delete(
    "/properties/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a property with its images and market data",
    responses={
        404: _ERRORS[404],
        409: {
            "description": "Deals or construction projects refer to it (nothing is deleted), "
            "or a request with this Idempotency-Key is still running"
        },
    },
)
def delete_property(id: uuid.UUID, session: SessionDep, principal: Writer) -> Response:
    """Delete a property; publishes ``property.deleted``; 409 while deals or projects use it."""
    try:
        service.delete(
            session=session, org_id=principal.org_id, property_id=id, principal=principal
        )
    except PropertyError as exc:
        raise _http_error(exc) from exc
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/properties/{id}/images",
    response_model=list[PropertyImageRead],
    summary="List a property's images in display order (X-Total-Count gives the number)",
    responses={404: _ERRORS[404], **total_count("images")},
)
def list_images(
    id: uuid.UUID,
    response: Response,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    offset: Offset = 0,
) -> list[PropertyImageRead]:
    """A property's images."""
    try:
        images = service.list_images(
            session=session, org_id=principal.org_id, property_id=id, limit=limit, offset=offset
        )
        total = service.count_images(session=session, org_id=principal.org_id, property_id=id)
    except PropertyError as exc:
        raise _http_error(exc) from exc
    send_total(response, total)
    return [PropertyImageRead.model_validate(image) for image in images]


@router.post(
    "/properties/{id}/images",
    response_model=PropertyImageRead,
    status_code=status.HTTP_201_CREATED,
    summary="Attach an image to a property",
    responses=_ERRORS,
)
def add_image(
    id: uuid.UUID, session: SessionDep, principal: Writer, image_in: PropertyImageCreate
) -> PropertyImageRead:
    """Attach an image (a URL or a stored document's path)."""
    try:
        image = service.add_image(
            session=session,
            org_id=principal.org_id,
            property_id=id,
            image_in=image_in,
            principal=principal,
        )
    except PropertyError as exc:
        raise _http_error(exc) from exc
    session.commit()
    return PropertyImageRead.model_validate(image)


@router.get(
    "/properties/{id}/market-data",
    response_model=list[MarketDataRead],
    summary="List a property's market data, newest first (X-Total-Count gives the number)",
    responses={404: _ERRORS[404], **total_count("market data rows")},
)
def list_market_data(
    id: uuid.UUID,
    response: Response,
    session: SessionDep,
    principal: Reader,
    data_type: MarketDataType | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    offset: Offset = 0,
) -> list[MarketDataRead]:
    """Market figures recorded against a property (comps, rent estimates, valuations ...)."""
    try:
        rows = service.list_market_data(
            session=session,
            org_id=principal.org_id,
            property_id=id,
            data_type=data_type,
            limit=limit,
            offset=offset,
        )
        total = service.count_market_data(
            session=session, org_id=principal.org_id, property_id=id, data_type=data_type
        )
    except PropertyError as exc:
        raise _http_error(exc) from exc
    send_total(response, total)
    return [MarketDataRead.model_validate(row) for row in rows]


@router.post(
    "/properties/{id}/market-data",
    response_model=MarketDataRead,
    status_code=status.HTTP_201_CREATED,
    summary="Record a market figure against a property",
    responses=_ERRORS,
)
def add_market_data(
    id: uuid.UUID, session: SessionDep, principal: Writer, data_in: MarketDataCreate
) -> MarketDataRead:
    """Record a market figure with its source."""
    try:
        row = service.add_market_data(
            session=session,
            org_id=principal.org_id,
            property_id=id,
            data_in=data_in,
            principal=principal,
        )
    except PropertyError as exc:
        raise _http_error(exc) from exc
    session.commit()
    return MarketDataRead.model_validate(row)
