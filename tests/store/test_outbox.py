"""publish() writes in the caller's transaction; lag_seconds and delivery_counts for /metrics."""

from __future__ import annotations

import enum
import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.observability import job_context
from domain.auth.models import Organisation
from store.outbox import (
    Delivery,
    DeliveryStatus,
    OutboxEvent,
    delivery_counts,
    lag_seconds,
    publish,
)


def _org(session: Session) -> Organisation:
    org = Organisation(name="Motor City Homes", slug=f"mch-{uuid.uuid4().hex[:8]}")
    session.add(org)
    session.flush()
    return org


def _events_in_fresh_session(engine: Engine, event_id: uuid.UUID) -> list[OutboxEvent]:
    with Session(engine) as other:
        return list(other.exec(select(OutboxEvent).where(OutboxEvent.id == event_id)).all())


def test_publish_commits_with_the_callers_change(committed_db: Session, engine: Engine) -> None:
    org = _org(committed_db)
    event_id = publish(
        committed_db, org_id=org.id, name="property.created", payload={"address": "1 Main St"}
    )
    # Nothing is visible to anyone else until the caller commits.
    assert _events_in_fresh_session(engine, event_id) == []
    committed_db.commit()
    (event,) = _events_in_fresh_session(engine, event_id)
    assert event.org_id == org.id
    assert event.name == "property.created"
    assert event.payload == {"address": "1 Main St"}
    assert event.dispatched_at is None


def test_publish_rolls_back_with_the_callers_change(committed_db: Session, engine: Engine) -> None:
    org = _org(committed_db)
    committed_db.commit()
    event_id = publish(committed_db, org_id=org.id, name="deal.created", payload={})
    committed_db.rollback()
    assert _events_in_fresh_session(engine, event_id) == []
    # The organisation committed earlier is untouched by the rollback.
    assert committed_db.get(Organisation, org.id) is not None


def test_unknown_event_name_is_refused_and_nothing_is_written(db: Session) -> None:
    org = _org(db)
    with pytest.raises(ValueError, match="unknown event name 'deal.closed'"):
        publish(db, org_id=org.id, name="deal.closed", payload={})
    db.flush()
    assert db.exec(select(OutboxEvent)).all() == []


def test_system_events_need_no_organisation(db: Session) -> None:
    event_id = publish(db, org_id=None, name="market.update", payload={"city": "Detroit"})
    db.flush()
    event = db.get(OutboxEvent, event_id)
    assert event is not None and event.org_id is None


class _Stage(enum.StrEnum):
    offer = "offer"


def test_payload_values_become_plain_json(db: Session) -> None:
    org = _org(db)
    deal_id = uuid.uuid4()
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    event_id = publish(
        db,
        org_id=org.id,
        name="deal.status.changed",
        payload={"deal_id": deal_id, "price": Decimal("85000.10"), "at": at, "to": _Stage.offer},
    )
    db.flush()
    db.expire_all()
    event = db.get(OutboxEvent, event_id)
    assert event is not None
    # Money stays exact (a string, not a float); ids and times are strings.
    assert event.payload == {
        "deal_id": str(deal_id),
        "price": "85000.10",
        "at": "2026-03-01T12:30:00Z",  # UTC with Z, as responses write it
        "to": "offer",
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"value": object()}, "not JSON-serialisable"),
        ({"rent": math.nan}, "not JSON-serialisable"),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_bad_payloads_are_refused(db: Session, payload: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        publish(db, org_id=None, name="market.update", payload=payload)  # type: ignore[arg-type]


def test_publish_records_the_current_correlation_id(db: Session) -> None:
    with job_context("job-1", "req-abc123"):
        event_id = publish(db, org_id=None, name="market.update", payload={})
    explicit = publish(db, org_id=None, name="market.update", correlation_id="given-1")
    outside = publish(db, org_id=None, name="market.update")
    db.flush()
    assert db.get(OutboxEvent, event_id).correlation_id == "req-abc123"  # type: ignore[union-attr]
    assert db.get(OutboxEvent, explicit).correlation_id == "given-1"  # type: ignore[union-attr]
    assert db.get(OutboxEvent, outside).correlation_id is None  # type: ignore[union-attr]


def _event(db: Session, *, created_at: datetime, dispatched: bool) -> OutboxEvent:
    event = OutboxEvent(
        name="property.created",
        payload={},
        created_at=created_at,
        dispatched_at=created_at if dispatched else None,
    )
    db.add(event)
    db.flush()
    return event


def _delivery(db: Session, event: OutboxEvent, subscriber: str, status: DeliveryStatus) -> None:
    db.add(Delivery(event_id=event.id, subscriber=subscriber, handler="x:y", status=status))
    db.flush()


def test_lag_is_zero_with_nothing_outstanding(db: Session) -> None:
    assert lag_seconds(db) == 0.0
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    done = _event(db, created_at=t0, dispatched=True)
    _delivery(db, done, "a", DeliveryStatus.succeeded)
    _delivery(db, done, "b", DeliveryStatus.dead)  # given up: reported by status, not lag
    assert lag_seconds(db, now=t0 + timedelta(hours=1)) == 0.0


def test_lag_is_the_age_of_the_oldest_event_still_owed(db: Session) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    now = t0 + timedelta(minutes=10)
    _event(db, created_at=t0 + timedelta(minutes=8), dispatched=False)
    assert lag_seconds(db, now=now) == pytest.approx(120.0)
    # An older event already dispatched but with one subscriber still failing is older lag.
    retrying = _event(db, created_at=t0 + timedelta(minutes=5), dispatched=True)
    _delivery(db, retrying, "a", DeliveryStatus.succeeded)
    _delivery(db, retrying, "b", DeliveryStatus.failed)
    assert lag_seconds(db, now=now) == pytest.approx(300.0)
    # The oldest undispatched event wins when it is older still.
    _event(db, created_at=t0, dispatched=False)
    assert lag_seconds(db, now=now) == pytest.approx(600.0)


def test_delivery_counts_reports_every_status(db: Session) -> None:
    assert delivery_counts(db) == {"pending": 0, "failed": 0, "succeeded": 0, "dead": 0}
    event = _event(db, created_at=datetime(2026, 1, 1, tzinfo=UTC), dispatched=True)
    _delivery(db, event, "a", DeliveryStatus.succeeded)
    _delivery(db, event, "b", DeliveryStatus.succeeded)
    _delivery(db, event, "c", DeliveryStatus.dead)
    assert delivery_counts(db) == {"pending": 0, "failed": 0, "succeeded": 2, "dead": 1}
