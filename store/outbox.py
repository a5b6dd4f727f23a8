"""The transactional event outbox (schema ``events``): ``publish`` and the delivery records.

A service calls ``publish(session, org_id=..., name=..., payload=...)`` in the same session as
its change: the event row is added to that session and commits or rolls back with it, so an
event exists exactly when the change it announces does. Nothing is sent at publish time.

The relay (``workers/events.py``) later marks the event dispatched and creates one
``Delivery`` per registered subscriber; the delivery row is the source of truth for whether a
subscriber has handled the event (RQ does not promise delivery; the database does). Its
unique ``(event_id, subscriber)`` key is what makes handling idempotent: a second relay pass,
a duplicate job or a second relay process finds the delivery already ``succeeded`` and skips it.

Statuses: ``pending`` (never attempted), ``failed`` (attempted, waiting for its back-off to
retry), ``succeeded`` and ``dead`` (gave up after the maximum attempts; ``last_error`` says
why). Deliveries are infrastructure rows keyed by their event, which carries ``org_id``.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import DateTime, Index, String, Text, UniqueConstraint, func, select, text
from sqlmodel import Field, Session, col

from core.timestamps import utc_strings, utc_text
from store.base import CreatedAt, Timestamps, UUIDPrimaryKey, jsonb, tstz, utcnow
from store.events import check_event_name

SCHEMA = "events"


class DeliveryStatus(enum.StrEnum):
    """Where one subscriber's handling of one event stands."""

    pending = "pending"
    failed = "failed"
    succeeded = "succeeded"
    dead = "dead"


# Statuses that still owe the subscriber a delivery.
OPEN_STATUSES = (DeliveryStatus.pending, DeliveryStatus.failed)


class OutboxEvent(CreatedAt, table=True):
    """One published event; its id is the event id that deliveries are keyed by."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The relay scans only undispatched rows, oldest first.
        Index(
            "ix_outbox_undispatched", "created_at", postgresql_where=text("dispatched_at IS NULL")
        ),
        # The event log: an organisation's events, newest first (``domain.eventlog``).
        Index("ix_outbox_org_created_id", "org_id", "created_at", "id"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # NULL for system events that belong to no organisation (market scans, schedules).
    org_id: uuid.UUID | None = Field(
        default=None, foreign_key="auth.organisations.id", index=True, ondelete="CASCADE"
    )
    name: str = Field(max_length=100, index=True)
    payload: dict[str, Any] = jsonb()
    correlation_id: str | None = Field(default=None, max_length=64)
    dispatched_at: datetime | None = tstz()


class Delivery(UUIDPrimaryKey, Timestamps, table=True):
    """One subscriber's handling of one event: status, attempts, back-off and the last error."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscriber", name="uq_deliveries_event_subscriber"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'failed')"),
        ),
        {"schema": SCHEMA},
    )

    event_id: uuid.UUID = Field(foreign_key="events.outbox.id", index=True, ondelete="CASCADE")
    subscriber: str = Field(max_length=200)
    handler: str = Field(max_length=300, description="module:qualname of the handler")
    status: DeliveryStatus = Field(
        default=DeliveryStatus.pending,
        sa_type=String(20),  # type: ignore[call-overload]
        index=True,
    )
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_type=Text)  # type: ignore[call-overload]
    next_attempt_at: datetime = Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"nullable": False},
    )
    # Set when a delivery job is put on the queue, cleared when a worker picks it up; the
    # sweeper re-enqueues deliveries whose job was enqueued long ago but never ran.
    enqueued_at: datetime | None = tstz()
    delivered_at: datetime | None = tstz()


def _json_default(value: Any) -> Any:
    """Encode the values services naturally put in payloads (ids, money, dates, enums).

    A ``datetime`` is written as responses write it, UTC with ``Z`` (``utc_text``; a naive one
    is taken to be UTC, as the database stores it). A ``Decimal`` keeps its digits as given:
    the outbox cannot tell money from a rate or a score, so the publisher formats money
    (``core.money.money_str``: exactly two places).
    """
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)  # Decimal as a string keeps money exact
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def normalise_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The payload as plain JSON values (UUIDs, Decimals and dates become strings).

    Every moment in it is UTC with ``Z`` (the README's rule for timestamps): ``datetime``
    values, and ISO datetime strings with an offset that a publisher wrote itself
    (``isoformat()`` gives ``+00:00``; a caller's ``-05:00`` echoed as given), at any depth.
    Dates and zone-less clock times ("10:00") are left as they are.
    """
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise ValueError(f"event payload must be a mapping, not {type(payload).__name__}")
    try:
        normalised: dict[str, Any] = json.loads(
            json.dumps(dict(payload), default=_json_default, allow_nan=False)
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"event payload is not JSON-serialisable: {exc}") from exc
    utc_normalised: dict[str, Any] = utc_strings(normalised)
    return utc_normalised


def _current_correlation_id() -> str | None:
    """The request's or job's correlation id, so a delivery's logs lead back to its cause."""
    # Imported late: core.metrics reads this module at scrape time.
    from core.observability import get_correlation_id

    return get_correlation_id()


def publish(
    session: Session,
    *,
    org_id: uuid.UUID | None,
    name: str,
    payload: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
) -> uuid.UUID:
    """Add an event to the caller's session (no commit) and return its id."""
    check_event_name(name)
    event = OutboxEvent(
        org_id=org_id,
        name=name,
        payload=normalise_payload(payload),
        correlation_id=(correlation_id or _current_correlation_id()),
    )
    session.add(event)
    return event.id


def lag_seconds(session: Session, *, now: datetime | None = None) -> float:
    """Age of the oldest event not yet dispatched or still owed to a subscriber; 0 when none."""
    undispatched = select(func.min(OutboxEvent.created_at)).where(
        col(OutboxEvent.dispatched_at).is_(None)
    )
    owed = (
        select(func.min(OutboxEvent.created_at))
        .join(Delivery, col(Delivery.event_id) == col(OutboxEvent.id))
        .where(col(Delivery.status).in_(OPEN_STATUSES))
    )
    oldest = session.execute(
        select(func.least(undispatched.scalar_subquery(), owed.scalar_subquery()))
    ).scalar_one()
    if oldest is None:
        return 0.0
    return max(0.0, ((now or utcnow()) - oldest).total_seconds())


def delivery_counts(session: Session) -> dict[str, int]:
    """Number of deliveries in each status, every status present (for /metrics)."""
    rows = session.execute(
        select(col(Delivery.status), func.count()).group_by(col(Delivery.status))
    ).all()
    counts = {status.value: 0 for status in DeliveryStatus}
    counts.update({str(status): int(count) for status, count in rows})
    return counts
