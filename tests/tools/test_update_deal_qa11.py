"""Changing a deal's figures from chat: ``update_deal``, called directly as the tools node does.

Was: "actually make it $92,500" right after opening a deal got "didn't understand": the agent
had no tool to change a deal's price, strategy or repairs, although ``PUT /deals/{id}`` (the
deal service's ``update_deal``) has one. Real database, real deal and finance services.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.deal import service as deal_service
from domain.deal.enums import DealEventKind, DealStatus
from domain.deal.models import Deal
from tests.factories import make_deal, make_org, make_property, make_transaction, make_user
from tests.tools.helpers import call_tool, context_for
from tools import tools_for_role
from tools.deal import create_deal, update_deal

SUBJECT = "14500 Kercheval Ave, Detroit, MI 48215"


@dataclass
class World:
    admin: User
    analyst: User
    ivy: User  # an investor who owns the Kercheval deal
    org: Organisation
    deal_id: uuid.UUID

    @property
    def org_id(self) -> uuid.UUID:
        return self.org.id


@pytest.fixture
def world(db: Session) -> World:
    org = make_org(db, "Update Deal Co")
    ivy = make_user(db, org, Role.investor)
    kercheval = make_property(
        db, org, address_line="14500 Kercheval Ave", city="Detroit", state="MI", zip_code="48215"
    )
    deal = make_deal(
        db,
        org,
        owner=ivy,
        property_id=kercheval.id,
        strategy="flip",
        purchase_price=Decimal("58000"),
    )
    return World(
        make_user(db, org, Role.admin), make_user(db, org, Role.analyst), ivy, org, deal.id
    )


def _deal(db: Session, deal_id: uuid.UUID) -> Deal:
    found = db.get(Deal, deal_id)
    assert found is not None
    db.refresh(found)
    return found


def _updates(db: Session, w: World) -> list[str]:
    entries = deal_service.timeline(session=db, org_id=w.org_id, deal_id=w.deal_id).entries
    return [e.summary for e in entries if e.kind == DealEventKind.updated]


def test_only_the_team_is_given_the_tool() -> None:
    assert "update_deal" in {t.name for t in tools_for_role(Role.admin)}
    assert "update_deal" in {t.name for t in tools_for_role(Role.analyst)}
    assert "update_deal" not in {t.name for t in tools_for_role(Role.investor)}
    assert "update_deal" not in {t.name for t in tools_for_role(Role.contractor)}


def test_an_analyst_changes_the_price_by_short_id(db: Session, world: World) -> None:
    ctx = context_for(db, world.analyst)
    result = call_tool(update_deal, ctx, deal=world.deal_id.hex[:8], purchase_price="59000")
    assert "error" not in result, result
    assert result["changed"] == {"purchase_price": ["$58,000", "$59,000"]}
    assert result["deal_id"] == str(world.deal_id)
    assert result["purchase_price"] == "$59,000"
    assert result["address"] == SUBJECT
    assert result["strategy"] == "flip" and result["status"] == "lead"
    assert _deal(db, world.deal_id).purchase_price == Decimal("59000")
    # The service's own record: the deal's timeline names the old and new price.
    assert _updates(db, world) == ["Deal updated: purchase_price 58,000.00 → 59,000.00"]


def test_actually_make_it_right_after_creating_the_deal(db: Session, world: World) -> None:
    mack = "9000 Mack Ave, Detroit, MI 48214"
    prop = make_property(
        db, world.org, address_line="9000 Mack Ave", city="Detroit", state="MI", zip_code="48214"
    )
    ctx = context_for(db, world.admin)
    created = call_tool(create_deal, ctx, address=mack, strategy="flip", purchase_price="90000")
    assert created.get("created") is True, created
    result = call_tool(update_deal, ctx, deal=created["deal_id"], purchase_price=92500)
    assert result["changed"] == {"purchase_price": ["$90,000", "$92,500"]}
    assert result["address"] == mack
    deal = _deal(db, uuid.UUID(created["deal_id"]))
    assert deal.property_id == prop.id and deal.purchase_price == Decimal("92500")


def test_strategy_and_repairs_change_together_with_cents_kept(db: Session, world: World) -> None:
    ctx = context_for(db, world.admin)
    result = call_tool(
        update_deal,
        ctx,
        deal="14500 Kercheval Ave",
        strategy="rental",
        estimated_repairs="28000.50",
    )
    assert "error" not in result, result
    assert result["changed"] == {
        "strategy": ["flip", "rental"],
        "estimated_repairs": [None, "$28,000.50"],
    }
    deal = _deal(db, world.deal_id)
    assert deal.strategy == "rental"
    assert deal.estimated_repairs == Decimal("28000.50")
    assert deal.purchase_price == Decimal("58000")  # not given: left as it was


def test_the_same_value_changes_nothing(db: Session, world: World) -> None:
    ctx = context_for(db, world.analyst)
    result = call_tool(update_deal, ctx, deal=str(world.deal_id), purchase_price="58000.00")
    assert "error" not in result, result
    assert result["changed"] == {}
    assert result["purchase_price"] == "$58,000"
    assert _updates(db, world) == []


def test_at_least_one_field_is_needed(db: Session, world: World) -> None:
    ctx = context_for(db, world.analyst)
    result = call_tool(update_deal, ctx, deal=world.deal_id.hex[:8])
    assert result == {
        "error": "say what to change on the deal: purchase_price, strategy or estimated_repairs"
    }
    assert _updates(db, world) == []


def test_an_investor_is_refused_even_on_her_own_deal(db: Session, world: World) -> None:
    ctx = context_for(db, world.ivy, channel="whatsapp")
    result = call_tool(update_deal, ctx, deal=world.deal_id.hex[:8], purchase_price="1")
    assert result == {"error": "not allowed for the investor role"}
    assert _deal(db, world.deal_id).purchase_price == Decimal("58000")
    assert _updates(db, world) == []


def test_a_deal_of_another_organisation_is_not_found(db: Session, world: World) -> None:
    rival = make_org(db, "Rival Co")
    theirs = make_deal(db, rival, strategy="flip", purchase_price=Decimal("99000"))
    ctx = context_for(db, world.analyst)
    result = call_tool(update_deal, ctx, deal=str(theirs.id), purchase_price="1")
    assert "not found" in result["error"]
    assert _deal(db, theirs.id).purchase_price == Decimal("99000")


def test_a_closed_deals_price_must_follow_its_booked_purchase(db: Session, world: World) -> None:
    for status in (DealStatus.offer_made, DealStatus.under_contract, DealStatus.closed):
        deal_service.change_status(
            session=db, org_id=world.org_id, deal_id=world.deal_id, status=status
        )
    make_transaction(
        db, world.org, type="payment", category="purchase", amount="58000.00", deal_id=world.deal_id
    )
    db.flush()
    ctx = context_for(db, world.analyst)
    refused = call_tool(update_deal, ctx, deal=world.deal_id.hex[:8], purchase_price="57500")
    short = deal_service.short_id(world.deal_id)
    # The service's refusal, said as a refusal: nothing changed, and why, and what to do first.
    assert refused["error"].startswith(f"deal {short} was not changed: ")
    assert "booked in the ledger at 58,000.00" in refused["error"]
    assert "Correct the booked purchase transaction" in refused["error"]
    assert _deal(db, world.deal_id).purchase_price == Decimal("58000")
    # The ledger corrected first (a $500 credit refunded): the price may follow it.
    make_transaction(
        db, world.org, type="refund", category="purchase", amount="500.00", deal_id=world.deal_id
    )
    db.flush()
    moved = call_tool(update_deal, ctx, deal=world.deal_id.hex[:8], purchase_price="57500")
    assert moved["changed"] == {"purchase_price": ["$58,000", "$57,500"]}
    assert moved["status"] == "closed"
