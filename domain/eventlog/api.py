"""The event log API: ``GET /events`` (mounted under ``/api/v1``; admins and analysts)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from core.deps import SessionDep, require_roles
from core.paging import Offset, send_total, total_count
from domain.auth.enums import Role
from domain.auth.service import Principal
from domain.eventlog import service

router = APIRouter(tags=["events"])

# Admins always pass ``require_roles``: admins and analysts read the log.
EventReader = Annotated[Principal, Depends(require_roles(Role.analyst))]


class EventRead(BaseModel):
    """One published event as the outbox stores it."""

    id: uuid.UUID = Field(description="The event id (deliveries to subscribers are keyed by it)")
    type: str = Field(description="The event name, e.g. property.created")
    payload: dict[str, Any] = Field(description="What the publisher said, as stored")
    correlation_id: str | None = Field(
        description="The request or job that published it (X-Request-ID)"
    )
    created_at: dt.datetime = Field(description="When it was published")
    dispatched_at: dt.datetime | None = Field(
        description="When the relay handed it to its subscribers (null: not yet)"
    )


@router.get(
    "/events",
    response_model=list[EventRead],
    summary="The organisation's event log, newest first (X-Total-Count gives the number)",
    responses={
        422: {"description": "A filter is invalid (an unknown type, until before since ...)"},
        **total_count("events"),
    },
)
def list_events(
    response: Response,
    session: SessionDep,
    principal: EventReader,
    type: Annotated[
        str | None,
        Query(max_length=100, description="Only events of this name, e.g. market.data.updated"),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Only events published at or after this time (no zone: UTC), or from"
            " the start of this date (YYYY-MM-DD: a company-local day)",
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Only events published before this time (no zone: UTC), or up to the"
            " end of this date (YYYY-MM-DD: a company-local day, included)",
        ),
    ] = None,
    entity_id: Annotated[
        uuid.UUID | None,
        Query(description="Only events whose payload names this id (a property, deal ...)"),
    ] = None,
    correlation_id: Annotated[
        str | None, Query(max_length=64, description="Only events of this request or job")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 100,
    offset: Offset = 0,
) -> list[EventRead]:
    """The events the organisation's modules published (admins and analysts), newest first.

    Payloads are as stored (ids, figures, names; secret-looking values are masked). Events
    of no organisation (system schedules) are in no organisation's log.
    """
    try:
        filters = service.EventFilters(
            name=type,
            since=service.parse_bound(since, "since") if since is not None else None,
            until=service.parse_bound(until, "until") if until is not None else None,
            entity_id=entity_id,
            correlation_id=correlation_id,
        )
        events = service.list_events(
            session=session, org_id=principal.org_id, filters=filters, limit=limit, offset=offset
        )
        total = service.count_events(session=session, org_id=principal.org_id, filters=filters)
    except service.EventLogInputError as exc:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)
        ) from exc
    send_total(response, total)
    return [
        EventRead(
            id=event.id,
            type=event.name,
            payload=service.shown_payload(event),
            correlation_id=event.correlation_id,
            created_at=event.created_at,
            dispatched_at=event.dispatched_at,
        )
        for event in events
    ]
