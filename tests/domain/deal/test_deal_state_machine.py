"""The deal pipeline's transition table, checked pair by pair and through the service."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.deal import service as deal_service
from domain.deal import state_machine
from domain.deal.enums import DealStatus, OfferStatus
from domain.deal.models import Deal
from store.outbox import OutboxEvent
from tests.factories import make_deal, make_org, make_user, principal_for

S = DealStatus

# The pipeline as the product describes it, written out independently of the module's table.
EXPECTED_LEGAL = {
    (S.lead, S.analyzing),
    (S.lead, S.offer_made),
    (S.analyzing, S.offer_made),
    (S.offer_made, S.under_contract),
    (S.offer_made, S.analyzing),
    (S.under_contract, S.closed),
    *(
        (open_status, end)
        for open_status in (S.lead, S.analyzing, S.offer_made, S.under_contract)
        for end in (S.dead, S.passed)
    ),
}
ALL_PAIRS = list(itertools.product(DealStatus, DealStatus))

# The shortest legal path from lead to each status, to put a deal there through the service.
PATH_TO = {
    S.lead: [],
    S.analyzing: [S.analyzing],
    S.offer_made: [S.analyzing, S.offer_made],
    S.under_contract: [S.analyzing, S.offer_made, S.under_contract],
    S.closed: [S.analyzing, S.offer_made, S.under_contract, S.closed],
    S.dead: [S.dead],
    S.passed: [S.passed],
}


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: s.value)
def test_table_allows_exactly_the_pipeline(current: DealStatus, target: DealStatus) -> None:
    assert state_machine.is_allowed(current, target) == ((current, target) in EXPECTED_LEGAL)


def test_closed_dead_and_passed_are_final_and_everything_else_is_open() -> None:
    assert state_machine.TERMINAL_DEAL_STATUSES == {S.closed, S.dead, S.passed}
    assert state_machine.OPEN_DEAL_STATUSES == {S.lead, S.analyzing, S.offer_made, S.under_contract}
    for status in state_machine.OPEN_DEAL_STATUSES:
        assert {S.dead, S.passed} <= set(state_machine.allowed_next(status))


def test_refusal_message_names_the_allowed_next_statuses() -> None:
    assert state_machine.refusal_message(S.lead, S.closed) == (
        "a deal cannot move from lead to closed; from lead it may move to: "
        "analyzing, offer_made, dead, passed"
    )
    assert "closed is final" in state_machine.refusal_message(S.closed, S.lead)
    assert state_machine.refusal_message(S.analyzing, S.analyzing).startswith(
        "the deal is already analyzing"
    )


def test_offer_life_cycle_table() -> None:
    assert state_machine.allowed_offer_next(OfferStatus.draft) == [
        OfferStatus.submitted,
        OfferStatus.withdrawn,
    ]
    for final in (
        OfferStatus.accepted,
        OfferStatus.rejected,
        OfferStatus.withdrawn,
        OfferStatus.expired,
    ):
        assert state_machine.allowed_offer_next(final) == []


def _deal_at(db: Session, status: DealStatus) -> Deal:
    org = make_org(db)
    # A price: a deal goes under contract only at one.
    deal = make_deal(db, org, purchase_price=Decimal("90000"))
    for step in PATH_TO[status]:
        deal_service.change_status(session=db, org_id=org.id, deal_id=deal.id, status=step)
    assert deal.status == status
    return deal


@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED_LEGAL), ids=lambda s: s.value)
def test_every_legal_transition_goes_through_and_is_published(
    db: Session, current: DealStatus, target: DealStatus
) -> None:
    deal = _deal_at(db, current)
    changed = deal_service.change_status(
        session=db, org_id=deal.org_id, deal_id=deal.id, status=target, reason="test"
    )
    assert changed.status == target
    assert changed.timeline[-1]["status"] == target.value
    published = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.name == "deal.status.changed", OutboxEvent.org_id == deal.org_id
        )
    ).all()
    moves = [(e.payload["from"], e.payload["to"], e.payload["by"]) for e in published]
    assert (current.value, target.value, "system") in moves
    assert len(moves) == len(PATH_TO[current]) + 1


ILLEGAL = [
    (S.lead, S.under_contract),
    (S.lead, S.closed),
    (S.analyzing, S.under_contract),
    (S.analyzing, S.lead),
    (S.offer_made, S.closed),
    (S.under_contract, S.offer_made),
    (S.closed, S.dead),
    (S.dead, S.lead),
    (S.passed, S.analyzing),
    (S.analyzing, S.analyzing),
]


@pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=lambda s: s.value)
def test_illegal_transition_is_refused_and_changes_nothing(
    db: Session, current: DealStatus, target: DealStatus
) -> None:
    deal = _deal_at(db, current)
    events_before = len(db.exec(select(OutboxEvent.id)).all())
    with pytest.raises(deal_service.IllegalTransitionError) as refused:
        deal_service.change_status(session=db, org_id=deal.org_id, deal_id=deal.id, status=target)
    assert refused.value.allowed == state_machine.allowed_next(current)
    assert current.value in str(refused.value)
    db.refresh(deal)
    assert deal.status == current
    assert len(db.exec(select(OutboxEvent.id)).all()) == events_before


def test_status_change_records_who_made_it(db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(db, org)
    deal_service.change_status(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        status=S.analyzing,
        principal=principal_for(analyst),
    )
    assert deal.timeline[-1]["by"] == analyst.email
