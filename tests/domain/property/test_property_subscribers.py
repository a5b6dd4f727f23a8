"""Property subscribers: valuation summaries and market updates land on the property."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

import domain.property.subscribers as property_subscribers
from domain.property import service
from domain.property.enums import MarketDataType
from domain.property.models import MarketData
from store import events
from store.events import Event
from store.outbox import Delivery, OutboxEvent, publish
from tests.factories import make_org, make_property
from workers.events import relay_once


def _event(db: Session, event_id: uuid.UUID) -> Event:
    """The published outbox row as the relay hands it to a subscriber."""
    db.flush()
    row = db.get(OutboxEvent, event_id)
    assert row is not None
    return Event(
        id=row.id, org_id=row.org_id, name=row.name, payload=row.payload,
        created_at=row.created_at,
    )  # fmt: skip


def test_valuation_summary_is_stored_once_per_event(db: Session) -> None:
    org = make_org(db)
    prop = make_property(db, org)
    event_id = publish(
        db,
        org_id=org.id,
        name="valuation.completed",
        payload={
            "property_id": prop.id,
            "valuation_id": uuid.uuid4(),
            "value": "182500.00",
            "value_low": "171000.00",
            "value_high": "194000.00",
            "confidence": 0.82,
            "comps": [{"id": "c1"}],  # lists stay with the valuation, not the summary
        },
    )
    event = _event(db, event_id)
    property_subscribers.store_valuation_summary(db, event)
    property_subscribers.store_valuation_summary(db, event)  # a second delivery
    rows = service.list_market_data(
        session=db, org_id=org.id, property_id=prop.id, data_type=MarketDataType.valuation
    )
    assert len(rows) == 1
    assert rows[0].value["value"] == "182500.00" and rows[0].value["confidence"] == 0.82
    assert rows[0].value["event_id"] == str(event_id) and "comps" not in rows[0].value
    latest = service.latest_valuation(session=db, org_id=org.id, property_id=prop.id)
    assert latest is not None and latest.id == rows[0].id


def test_events_for_other_organisations_or_deleted_properties_store_nothing(
    db: Session,
) -> None:
    org, other = make_org(db, "Mine"), make_org(db, "Theirs")
    prop = make_property(db, org)
    # An event of another organisation naming my property must not write on it.
    foreign = publish(
        db, org_id=other.id, name="valuation.completed", payload={"property_id": prop.id}
    )
    property_subscribers.store_valuation_summary(db, _event(db, foreign))
    unknown = publish(
        db, org_id=org.id, name="market.data.updated", payload={"property_id": str(uuid.uuid4())}
    )
    property_subscribers.record_market_update(db, _event(db, unknown))
    assert db.exec(select(MarketData).where(MarketData.property_id == prop.id)).all() == []


def test_market_update_is_recorded_on_each_named_property(db: Session) -> None:
    org = make_org(db)
    first, second = make_property(db, org), make_property(db, org)
    event_id = publish(
        db,
        org_id=org.id,
        name="market.data.updated",
        payload={
            "property_ids": [str(first.id), str(second.id)],
            "data_type": "rent_estimate",
            "rent_monthly": 1325,
            "source": "rentometer",
        },
    )
    event = _event(db, event_id)
    property_subscribers.record_market_update(db, event)
    property_subscribers.record_market_update(db, event)
    for prop in (first, second):
        rows = service.list_market_data(session=db, org_id=org.id, property_id=prop.id)
        assert [(r.data_type, r.value["rent_monthly"], r.source) for r in rows] == [
            ("rent_estimate", 1325, "rentometer")
        ]


def test_relay_delivers_valuation_completed_to_the_property(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db)
    prop = make_property(db, org)
    event_id = publish(
        db, org_id=org.id, name="valuation.completed", payload={"property_id": prop.id, "value": 1}
    )
    db.commit()
    names = {sub.name for sub in events.subscribers("valuation.completed")}
    assert "domain.property.subscribers.store_valuation_summary" in names
    relay_once(inline=True)
    relay_once(inline=True)
    delivery = db.exec(
        select(Delivery).where(
            Delivery.event_id == event_id,
            Delivery.subscriber == "domain.property.subscribers.store_valuation_summary",
        )
    ).one()
    assert delivery.status == "succeeded"
    db.expire_all()
    rows = service.list_market_data(session=db, org_id=org.id, property_id=prop.id)
    assert [r.value["event_id"] for r in rows] == [str(event_id)]
