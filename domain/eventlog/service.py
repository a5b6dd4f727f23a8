"""Read an organisation's events from the outbox (``store.outbox.OutboxEvent``), newest first.

The outbox holds every event a module published, with its payload as stored. Only the
caller's organisation's events are read; system events (no organisation: a schedule, a scan
of no organisation) are in no organisation's log. Payloads pass through the log masking
(``core.observability.mask_value``) on the way out: publishers put ids, figures and names in
events, never secrets, and the masking keeps it so should one ever slip in.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, literal_column
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.clock import company_zone
from core.observability import mask_value
from core.paging import count_rows
from store.events import check_event_name
from store.outbox import OutboxEvent

MAX_LIMIT = 500


class EventLogInputError(ValueError):
    """A filter of the event log is invalid (the message says which and why)."""


@dataclass(frozen=True)
class EventFilters:
    """What ``list_events`` filters on; every field optional.

    ``since`` / ``until`` are a moment, or a date meaning that company-local day (inclusive:
    since its start, until its end).
    """

    name: str | None = None
    since: dt.datetime | dt.date | None = None
    until: dt.datetime | dt.date | None = None
    entity_id: uuid.UUID | None = None
    correlation_id: str | None = None


_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MOMENT: TypeAdapter[dt.datetime] = TypeAdapter(dt.datetime)


def parse_bound(value: str, field: str) -> dt.datetime | dt.date:
    """A ``since``/``until`` as given: a bare ``YYYY-MM-DD`` is a date, anything else a time."""
    text = value.strip()
    try:
        if _BARE_DATE.fullmatch(text):
            return dt.date.fromisoformat(text)
        return _MOMENT.validate_python(text)
    except (ValueError, ValidationError) as exc:
        raise EventLogInputError(
            f"{field}: {value[:40]!r} is neither a date (YYYY-MM-DD, a company-local day) nor"
            " an ISO time (e.g. 2026-11-28T14:30:00, no zone meaning UTC)"
        ) from exc


def _aware(moment: dt.datetime | dt.date, *, end: bool = False) -> dt.datetime:
    """A moment as an aware time: no zone is UTC (the outbox stores UTC).

    A date is its company-local day: its start, or with ``end`` the start of the next day
    (``until`` is exclusive, so the day is included).
    """
    if isinstance(moment, dt.datetime):
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    day = moment + dt.timedelta(days=1) if end else moment
    return dt.datetime.combine(day, dt.time(), tzinfo=company_zone()).astimezone(dt.UTC)


def check_filters(filters: EventFilters) -> EventFilters:
    """The filters with times made zone-aware; ``EventLogInputError`` when they make no sense."""
    if filters.name is not None:
        try:
            check_event_name(filters.name)
        except ValueError as exc:
            raise EventLogInputError(f"type: {exc}") from exc
    since = _aware(filters.since) if filters.since else None
    until = _aware(filters.until, end=True) if filters.until else None
    if since is not None and until is not None and until <= since:
        raise EventLogInputError(
            f"until ({until.isoformat()}) must be later than since ({since.isoformat()})"
        )
    return EventFilters(
        name=filters.name,
        since=since,
        until=until,
        entity_id=filters.entity_id,
        correlation_id=filters.correlation_id,
    )


def _query(org_id: uuid.UUID, filters: EventFilters) -> SelectOfScalar[OutboxEvent]:
    """The organisation's events matching ``filters`` (no order, no paging)."""
    statement = select(OutboxEvent).where(OutboxEvent.org_id == org_id)
    if filters.name is not None:
        statement = statement.where(OutboxEvent.name == filters.name)
    if filters.since is not None:
        statement = statement.where(col(OutboxEvent.created_at) >= filters.since)
    if filters.until is not None:
        statement = statement.where(col(OutboxEvent.created_at) < filters.until)
    if filters.correlation_id is not None:
        statement = statement.where(OutboxEvent.correlation_id == filters.correlation_id)
    if filters.entity_id is not None:
        # Any value anywhere in the payload equal to the id: ``property_id``, ``deal_id``,
        # an entry of ``property_ids`` ... (the outbox keeps no separate aggregate column).
        statement = statement.where(
            func.jsonb_path_exists(
                col(OutboxEvent.payload),
                literal_column("'$.** ? (@ == $id)'::jsonpath"),
                func.jsonb_build_object("id", str(filters.entity_id)),
            )
        )
    return statement


def list_events(
    *,
    session: Session,
    org_id: uuid.UUID,
    filters: EventFilters | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OutboxEvent]:
    """The organisation's events matching ``filters``, newest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise EventLogInputError(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise EventLogInputError("offset must be 0 or more")
    statement = _query(org_id, check_filters(filters or EventFilters()))
    statement = statement.order_by(col(OutboxEvent.created_at).desc(), col(OutboxEvent.id).desc())
    return list(session.exec(statement.limit(limit).offset(offset)).all())


def count_events(
    *, session: Session, org_id: uuid.UUID, filters: EventFilters | None = None
) -> int:
    """How many events ``list_events`` with these filters would list over all pages."""
    return count_rows(session, _query(org_id, check_filters(filters or EventFilters())))


def shown_payload(event: OutboxEvent) -> dict[str, Any]:
    """An event's payload as stored, with anything secret-looking masked."""
    masked: dict[str, Any] = mask_value(event.payload)
    return masked
