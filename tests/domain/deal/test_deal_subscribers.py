"""The deal module's subscribers: each event has one effect however often it is delivered."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from domain.deal import service as deal_service
from domain.deal.models import Deal, DealDocument, DealEvent
from domain.deal.subscribers import (
    on_document_generated,
    on_payment_completed,
    on_property_created,
)
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind
from store import events
from store.base import utcnow
from store.events import Event
from store.outbox import Delivery, DeliveryStatus, publish
from tests.factories import make_deal, make_org
from workers import events as relay


def _event(db: Session, deal: Deal, name: str, **payload: object) -> Event:
    body = {"deal_id": str(deal.id), **payload}
    event_id = publish(db, org_id=deal.org_id, name=name, payload=body)
    return Event(id=event_id, org_id=deal.org_id, name=name, payload=body, created_at=utcnow())


def _entries(db: Session, deal: Deal) -> list[DealEvent]:
    return list(db.exec(select(DealEvent).where(DealEvent.deal_id == deal.id)).all())


def test_document_generated_twice_attaches_the_document_once(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org)
    stored = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        filename="r.pdf",
        declared_content_type="application/pdf",
        kind=DocumentKind.report,
    )
    document_id = stored.id
    event = _event(
        db,
        deal,
        "document.generated",
        document_id=str(document_id),
        document_type="deal_report",
        url="https://files.example.com/r.pdf",
    )
    before = len(_entries(db, deal))
    on_document_generated(db, event)
    on_document_generated(db, event)
    (document,) = db.exec(select(DealDocument).where(DealDocument.deal_id == deal.id)).all()
    assert (document.document_id, document.document_type, document.status) == (
        document_id,
        "deal_report",
        "received",
    )
    assert document.document_url == "https://files.example.com/r.pdf"
    assert len(_entries(db, deal)) == before + 1
    # The same document generated again (a new event) is not attached twice.
    again = _event(db, deal, "document.generated", document_id=str(document_id))
    on_document_generated(db, again)
    assert len(db.exec(select(DealDocument).where(DealDocument.deal_id == deal.id)).all()) == 1
    assert len(_entries(db, deal)) == before + 2
    # A document id that is not this organisation's stored document is not linked.
    foreign = _event(db, deal, "document.generated", document_id=str(uuid.uuid4()), kind="memo")
    on_document_generated(db, foreign)
    memo = db.exec(
        select(DealDocument).where(
            DealDocument.deal_id == deal.id, DealDocument.document_type == "memo"
        )
    ).one()
    assert memo.document_id is None


def test_payment_completed_twice_is_one_timeline_entry(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org)
    event = _event(db, deal, "payment.completed", amount="1500.00", payee="Title Co")
    on_payment_completed(db, event)
    on_payment_completed(db, event)
    payments = [e for e in _entries(db, deal) if e.kind == "payment"]
    assert [(p.summary, p.source_event_id) for p in payments] == [
        ("Payment completed: $1,500.00 (Title Co)", event.id)
    ]


def test_events_for_unknown_or_foreign_deals_change_nothing(db: Session) -> None:
    org, other = make_org(db), make_org(db, "Other Co")
    theirs = make_deal(db, other)
    before = len(db.exec(select(DealEvent)).all())
    # Payload names another organisation's deal: the event's own organisation decides.
    forged = Event(
        id=uuid.uuid4(),
        org_id=org.id,
        name="payment.completed",
        payload={"deal_id": str(theirs.id), "amount": "1"},
    )
    on_payment_completed(db, forged)
    on_document_generated(
        db,
        Event(
            id=uuid.uuid4(),
            org_id=org.id,
            name="document.generated",
            payload={"deal_id": "not-a-uuid"},
        ),
    )
    on_document_generated(
        db, Event(id=uuid.uuid4(), org_id=org.id, name="document.generated", payload={})
    )
    assert len(db.exec(select(DealEvent)).all()) == before
    assert db.exec(select(DealDocument)).all() == []


def test_property_created_opens_no_deal(db: Session) -> None:
    org = make_org(db)
    before = (len(db.exec(select(Deal)).all()), len(db.exec(select(DealEvent)).all()))
    on_property_created(
        db,
        Event(
            id=uuid.uuid4(),
            org_id=org.id,
            name="property.created",
            payload={"property_id": str(uuid.uuid4())},
        ),
    )
    assert (len(db.exec(select(Deal)).all()), len(db.exec(select(DealEvent)).all())) == before


@pytest.fixture
def _deal_subscribers() -> Iterator[None]:
    """Only the deal module's subscribers, under their production names."""
    with events.isolated_registry():
        events.subscribe("document.generated")(on_document_generated)
        events.subscribe("payment.completed")(on_payment_completed)
        yield


@pytest.mark.usefixtures("_deal_subscribers")
def test_through_the_relay_each_event_is_recorded_once(committed_db: Session) -> None:
    org = make_org(committed_db)
    deal = make_deal(committed_db, org)
    payment = _event(committed_db, deal, "payment.completed", amount="250.00")
    document = _event(committed_db, deal, "document.generated", document_type="inspection")
    committed_db.commit()

    # Before delivery the timeline already shows both, read from the outbox.
    pending = deal_service.timeline(session=committed_db, org_id=org.id, deal_id=deal.id)
    assert {
        (e.event_id, e.source) for e in pending.entries if e.event_id in {payment.id, document.id}
    } == {(payment.id, "outbox"), (document.id, "outbox")}

    first = relay.relay_once(inline=True)
    relay.relay_once(inline=True)
    assert first.outcomes["succeeded"] >= 2
    deliveries = committed_db.exec(
        select(Delivery).where(Delivery.event_id.in_([payment.id, document.id]))  # type: ignore[attr-defined]
    ).all()
    assert {d.status for d in deliveries} == {DeliveryStatus.succeeded}
    # A duplicate delivery job changes nothing.
    for delivery in deliveries:
        assert relay.deliver(delivery.id) == "skipped:succeeded"

    committed_db.expire_all()
    after = deal_service.timeline(session=committed_db, org_id=org.id, deal_id=deal.id)
    mine = [e for e in after.entries if e.event_id in {payment.id, document.id}]
    assert sorted((e.kind.value, e.source) for e in mine) == [
        ("document", "deal"),
        ("payment", "deal"),
    ]
    assert len(committed_db.exec(select(DealDocument)).all()) == 1
