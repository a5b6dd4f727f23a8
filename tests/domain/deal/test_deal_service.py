"""Deal service: creating and changing deals, offers and their expiry, the timeline, events."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import AuditLog
from domain.deal import service as deal_service
from domain.deal.enums import DealEventKind, DealStatus, OfferStatus
from domain.deal.models import Deal, DealCreate, DealUpdate, OfferCreate, OfferTerms
from domain.deal.subscribers import on_document_generated, on_payment_completed
from domain.finance import service as finance_service
from domain.finance.models import TransactionCreate
from store.base import utcnow
from store.events import Event
from store.outbox import OutboxEvent, publish
from tests.factories import make_deal, make_org, make_user, principal_for


def _events(db: Session, name: str, deal: Deal) -> list[OutboxEvent]:
    return [
        e
        for e in db.exec(select(OutboxEvent).where(OutboxEvent.name == name)).all()
        if e.payload.get("deal_id") == str(deal.id)
    ]


def _offer(amount: str = "95000", **kwargs: object) -> OfferCreate:
    return OfferCreate(offer_amount=Decimal(amount), **kwargs)  # type: ignore[arg-type]


# --- creating and changing deals -----------------------------------------------------------


def test_create_deal_publishes_deal_created_and_records_owner_and_audit(db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(db, org)  # system-created: no owner
    assert deal.owner_user_id is None
    deal = deal_service.create_deal(
        session=db,
        org_id=org.id,
        deal_in=DealCreate(
            property_id=deal.property_id,
            strategy="flip",  # type: ignore[arg-type]
            purchase_price=Decimal("90000.00"),
            estimated_repairs=Decimal("30000"),
        ),
        principal=principal_for(analyst),
    )
    assert deal.status == DealStatus.lead
    assert deal.owner_user_id == analyst.id  # the creator owns it
    (created,) = _events(db, "deal.created", deal)
    assert created.payload["purchase_price"] == "90000.00"
    assert created.payload["strategy"] == "flip"
    assert created.payload["by"] == analyst.email
    audit = db.exec(select(AuditLog).where(AuditLog.entity_id == str(deal.id))).one()
    assert (audit.action, audit.actor) == ("create", analyst.email)


def test_deal_on_unknown_or_foreign_property_is_not_found(db: Session) -> None:
    org, other = make_org(db), make_org(db, "Other Co")
    foreign = make_deal(db, other)
    with pytest.raises(deal_service.DealNotFoundError, match="property .* not found"):
        deal_service.create_deal(
            session=db, org_id=org.id, deal_in=DealCreate(property_id=foreign.property_id)
        )
    assert db.exec(select(Deal).where(Deal.org_id == org.id)).all() == []


@pytest.mark.parametrize("field", ["purchase_price", "estimated_repairs"], ids=["price", "repairs"])
def test_negative_money_is_refused_before_anything_is_written(field: str) -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        DealCreate.model_validate(
            {"property_id": "7d5c2f9e-1111-4111-8111-111111111111", field: "-1"}
        )
    with pytest.raises(ValidationError):
        DealUpdate.model_validate({field: "-0.01"})


def test_team_members_are_checked_and_their_user_ids_kept(db: Session) -> None:
    org, other = make_org(db), make_org(db, "Other Co")
    investor = make_user(db, org, role=Role.investor)
    outsider = make_user(db, other, role=Role.investor)
    deal = make_deal(
        db,
        org,
        team={
            "investor": str(investor.id),
            "agent": [{"name": "Pat Lee", "phone": "+13135550100"}],
        },
    )
    assert deal.team_user_ids == [investor.id]
    assert deal.team["investor"] == [{"user_id": str(investor.id)}]
    assert deal.team["agent"] == [{"name": "Pat Lee", "phone": "+13135550100"}]
    with pytest.raises(deal_service.DealNotFoundError, match="team.investor"):
        make_deal(db, org, team={"investor": str(outsider.id)})
    with pytest.raises(deal_service.DealValidationError, match="needs at least one of"):
        make_deal(db, org, team={"lender": {"notes": "nobody"}})


def test_update_records_what_changed_and_nothing_when_nothing_did(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, purchase_price=Decimal("80000"))
    deal_service.update_deal(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        deal_in=DealUpdate(purchase_price=Decimal("85000"), strategy="rental"),  # type: ignore[arg-type]
    )
    assert deal.purchase_price == Decimal("85000")
    deal_service.update_deal(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        deal_in=DealUpdate(purchase_price=Decimal("85000")),
    )
    updates = [
        e
        for e in deal_service.timeline(session=db, org_id=org.id, deal_id=deal.id).entries
        if e.kind == DealEventKind.updated
    ]
    assert len(updates) == 1
    assert updates[0].details["changes"]["purchase_price"] == {"from": "80000.00", "to": "85000.00"}
    assert updates[0].summary == (
        "Deal updated: purchase_price 80,000.00 → 85,000.00; strategy none → rental"
    )


def test_investors_and_contractors_cannot_change_deals(db: Session) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor)
    deal = make_deal(db, org, owner=investor)
    with pytest.raises(deal_service.DealPermissionError, match="admin or analyst"):
        deal_service.change_status(
            session=db,
            org_id=org.id,
            deal_id=deal.id,
            status=DealStatus.analyzing,
            principal=principal_for(investor),
        )
    contractor = make_user(db, org, role=Role.contractor)
    with pytest.raises(deal_service.DealPermissionError, match="contractors"):
        deal_service.list_deals(session=db, org_id=org.id, principal=principal_for(contractor))


# --- offers --------------------------------------------------------------------------------


def test_submitted_offer_moves_a_lead_to_offer_made_and_publishes_offer_received(
    db: Session,
) -> None:
    org = make_org(db)
    deal = make_deal(db, org)
    offer = deal_service.make_offer(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        offer_in=_offer(
            terms=OfferTerms(earnest_money=Decimal("1000"), financing="cash", inspection_days=10)  # type: ignore[arg-type]
        ),
    )
    assert offer.status == OfferStatus.submitted
    assert offer.submitted_at is not None
    assert offer.terms == {
        "earnest_money": "1000",
        "financing": "cash",
        "inspection_days": 10,
        "contingencies": [],
    }
    assert deal.status == DealStatus.offer_made
    (received,) = _events(db, "offer.received", deal)
    assert received.payload["amount"] == "95000.00"
    (moved,) = _events(db, "deal.status.changed", deal)
    assert (moved.payload["from"], moved.payload["to"]) == ("lead", "offer_made")
    assert moved.payload["cause"] == {"offer_id": str(offer.id)}


def test_a_draft_offer_changes_nothing_until_it_is_submitted(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, status="analyzing")
    draft = deal_service.make_offer(
        session=db, org_id=org.id, deal_id=deal.id, offer_in=_offer(status="draft")
    )
    assert deal.status == DealStatus.analyzing
    assert _events(db, "offer.received", deal) == []
    deal_service.change_offer_status(
        session=db, org_id=org.id, deal_id=deal.id, offer_id=draft.id, status=OfferStatus.submitted
    )
    assert deal.status == DealStatus.offer_made
    assert len(_events(db, "offer.received", deal)) == 1


def test_accepting_an_offer_puts_the_deal_under_contract_at_its_price(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, purchase_price=Decimal("100000"))
    offer = deal_service.make_offer(
        session=db, org_id=org.id, deal_id=deal.id, offer_in=_offer("92500.50")
    )
    deal_service.change_offer_status(
        session=db, org_id=org.id, deal_id=deal.id, offer_id=offer.id, status=OfferStatus.accepted
    )
    assert deal.status == DealStatus.under_contract
    assert deal.purchase_price == Decimal("92500.50")
    moves = [(e.payload["from"], e.payload["to"]) for e in _events(db, "deal.status.changed", deal)]
    assert moves == [("lead", "offer_made"), ("offer_made", "under_contract")]
    with pytest.raises(deal_service.IllegalOfferTransitionError, match="accepted, which is final"):
        deal_service.change_offer_status(
            session=db,
            org_id=org.id,
            deal_id=deal.id,
            offer_id=offer.id,
            status=OfferStatus.withdrawn,
        )


def test_offer_validation(db: Session) -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        _offer("0")
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        OfferTerms(earnest_money=Decimal("-5"))
    with pytest.raises(ValidationError, match="time zone"):
        OfferCreate.model_validate({"offer_amount": "1000", "expires_at": "2030-01-01T00:00:00"})
    org = make_org(db)
    deal = make_deal(db, org)
    with pytest.raises(deal_service.DealValidationError, match="not in the future"):
        deal_service.make_offer(
            session=db,
            org_id=org.id,
            deal_id=deal.id,
            offer_in=_offer(expires_at=utcnow() - timedelta(minutes=1)),
        )
    deal_service.change_status(session=db, org_id=org.id, deal_id=deal.id, status=DealStatus.dead)
    with pytest.raises(deal_service.DealConflictError, match="dead, which is final"):
        deal_service.make_offer(session=db, org_id=org.id, deal_id=deal.id, offer_in=_offer())


def test_a_lapsed_offer_reads_as_expired_and_cannot_be_accepted(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org)
    now = utcnow()
    expires = now + timedelta(days=2)
    offer = deal_service.make_offer(
        session=db, org_id=org.id, deal_id=deal.id, offer_in=_offer(expires_at=expires), now=now
    )
    (still_open,) = deal_service.list_offers(
        session=db, org_id=org.id, deal_id=deal.id, now=expires - timedelta(seconds=1)
    )
    assert still_open.status == OfferStatus.submitted
    (lapsed,) = deal_service.list_offers(
        session=db, org_id=org.id, deal_id=deal.id, now=expires + timedelta(seconds=1)
    )
    assert lapsed.id == offer.id
    assert lapsed.status == OfferStatus.expired
    with pytest.raises(deal_service.IllegalOfferTransitionError, match="has expired"):
        deal_service.change_offer_status(
            session=db,
            org_id=org.id,
            deal_id=deal.id,
            offer_id=offer.id,
            status=OfferStatus.accepted,
        )
    expiry = [
        e
        for e in deal_service.timeline(session=db, org_id=org.id, deal_id=deal.id).entries
        if e.kind == DealEventKind.offer_status_changed
    ]
    assert [(e.summary, e.actor, e.at) for e in expiry] == [
        ("Offer of $95,000.00 expired", "system", expires)
    ]


def test_the_sweep_expires_due_offers_in_every_organisation_once(db: Session) -> None:
    now = utcnow()
    deals = [make_deal(db, make_org(db, f"Org {n}")) for n in range(2)]
    for deal in deals:
        deal_service.make_offer(
            session=db,
            org_id=deal.org_id,
            deal_id=deal.id,
            offer_in=_offer(expires_at=now + timedelta(hours=1)),
            now=now,
        )
    # One offer without an expiry never lapses.
    deal_service.make_offer(
        session=db, org_id=deals[0].org_id, deal_id=deals[0].id, offer_in=_offer("90000")
    )
    later = now + timedelta(hours=2)
    assert deal_service.expire_due_offers(session=db, now=now) == 0
    assert deal_service.expire_due_offers(session=db, now=later) == 2
    assert deal_service.expire_due_offers(session=db, now=later) == 0


# --- the timeline --------------------------------------------------------------------------


def test_timeline_is_complete_ordered_and_names_who_acted(db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    who = principal_for(analyst)
    deal = deal_service.create_deal(
        session=db,
        org_id=org.id,
        deal_in=DealCreate(property_id=make_deal(db, org).property_id, strategy="flip"),  # type: ignore[arg-type]
        principal=who,
    )
    deal_service.change_status(
        session=db, org_id=org.id, deal_id=deal.id, status=DealStatus.analyzing, principal=who
    )
    valuation_id = publish(
        db,
        org_id=org.id,
        name="valuation.completed",
        payload={"property_id": deal.property_id, "arv": "150000", "as_is_value": "95000"},
    )
    deal_service.make_offer(
        session=db, org_id=org.id, deal_id=deal.id, offer_in=_offer(), principal=who
    )
    document_event = Event(
        id=publish(
            db,
            org_id=org.id,
            name="document.generated",
            payload={"deal_id": deal.id, "document_type": "purchase_agreement"},
        ),
        org_id=org.id,
        name="document.generated",
        payload={"deal_id": str(deal.id), "document_type": "purchase_agreement"},
        created_at=utcnow(),
    )
    on_document_generated(db, document_event)  # delivered
    payment_id = publish(  # not yet delivered: the timeline reads it from the outbox
        db,
        org_id=org.id,
        name="payment.completed",
        payload={"deal_id": deal.id, "amount": "1000.00", "description": "earnest money"},
    )
    # Noise that must not appear: another deal's payment, another property's valuation.
    publish(db, org_id=org.id, name="payment.completed", payload={"deal_id": make_deal(db, org).id})
    publish(db, org_id=org.id, name="valuation.completed", payload={"property_id": org.id})

    entries = deal_service.timeline(session=db, org_id=org.id, deal_id=deal.id).entries
    assert [(e.kind.value, e.summary, e.actor) for e in entries] == [
        ("created", "Deal created as lead (flip)", analyst.email),
        ("status_changed", "Status changed from lead to analyzing", analyst.email),
        ("valuation", "Valuation completed: as-is $95,000.00, ARV $150,000.00", "system"),
        ("offer_made", "Submitted $95,000.00 offer", analyst.email),
        (
            "status_changed",
            "Status changed from analyzing to offer_made: offer of $95,000.00 submitted",
            analyst.email,
        ),
        ("document", "Document generated: purchase_agreement", "system"),
        ("payment", "Payment completed: $1,000.00 (earnest money)", "system"),
    ]
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert entries[2].event_id == valuation_id and entries[2].source == "outbox"
    assert entries[5].source == "deal"
    assert entries[6].event_id == payment_id and entries[6].source == "outbox"


def test_a_delivered_event_appears_once_on_the_timeline(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org)
    payload = {"deal_id": str(deal.id), "amount": "250.00"}
    event = Event(
        id=publish(db, org_id=org.id, name="payment.completed", payload=payload),
        org_id=org.id,
        name="payment.completed",
        payload=payload,
        created_at=utcnow(),
    )
    before = deal_service.timeline(session=db, org_id=org.id, deal_id=deal.id).entries
    on_payment_completed(db, event)
    after = deal_service.timeline(session=db, org_id=org.id, deal_id=deal.id).entries
    assert [e.summary for e in before] == [e.summary for e in after]
    assert [e.source for e in after if e.kind == DealEventKind.payment] == ["deal"]


def test_money_booked_on_the_deal_shows_once_with_who_booked_it(db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(db, org)
    for kind, category, amount in (
        ("expense", "repairs", "1200.00"),
        ("payment", "closing_costs", "3500.00"),
    ):
        finance_service.record_transaction(
            session=db,
            org_id=org.id,
            transaction_in=TransactionCreate(
                type=kind,  # type: ignore[arg-type]
                category=category,  # type: ignore[arg-type]
                amount=Decimal(amount),
                date=local_today(),
                deal_id=deal.id,
                counterparty="Wayne County Title",
            ),
            principal=principal_for(analyst),
        )
    money = [
        (e.kind.value, e.summary, e.actor)
        for e in deal_service.timeline(session=db, org_id=org.id, deal_id=deal.id).entries
        if e.kind in (DealEventKind.transaction, DealEventKind.payment)
    ]
    # The payment is announced as transaction.created and payment.processed: shown once.
    assert money == [
        ("transaction", "Transaction recorded: expense $1,200.00 (repairs)", analyst.email),
        ("payment", "Payment processed: $3,500.00 (Wayne County Title)", analyst.email),
    ]
