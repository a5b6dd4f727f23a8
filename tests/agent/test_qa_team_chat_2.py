"""QA of the team chat, second pass: the questions the assistant could not answer.

Real graph, tools and database on the committed world of ``tests.agent.world``; every figure
in a reply must come from that turn's tool results (``turn`` checks it). One test per gap:
what we paid for a property, the offers on a deal, the seller leads, and deal statuses
written in words.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlmodel import Session

from agent.planner import NOT_YOUR_ROLE, Conversation, plan_for
from agent.runner import TurnResult
from core.clock import local_minute, local_today
from domain.auth.models import User
from domain.deal import service as deal_service
from domain.deal.enums import DealStatus, OfferStatus
from domain.deal.models import OfferCreate
from domain.finance import service as finance_service
from domain.finance.models import TransactionCreate
from domain.property.models import Property
from domain.voice import service as voice_service
from domain.voice.models import LeadCallRequest
from store.db import get_engine
from tests.agent.test_agent_offline import new_thread, turn
from tests.agent.world import World
from tests.factories import make_deal, make_property, principal_for


def _team(world: World, text: str, user: User | None = None) -> TurnResult:
    return turn(world, text, thread=new_thread(), user=user or world.admin, channel="web")


def _calls(result: TurnResult) -> list[tuple[str, bool]]:
    return [(c.name, c.ok) for c in result.tool_calls]


def _house(db: Session, world: World, street: str, **fields: object) -> Property:
    """A Detroit house near the world's market (so an analysis of it has comps)."""
    return make_property(
        db,
        world.org,
        address_line=street,
        city="Detroit",
        state="MI",
        zip_code="48214",
        latitude=42.363,
        longitude=-82.965,
        square_feet=1400,
        bedrooms=3,
        condition_rating=5,
        **fields,
    )


def _move(db: Session, world: World, deal_id: uuid.UUID, *statuses: DealStatus) -> None:
    for status in statuses:
        deal_service.change_status(session=db, org_id=world.org.id, deal_id=deal_id, status=status)


def test_what_we_paid_is_the_deals_price_and_closing_costs_not_the_list_price(
    world: World,
) -> None:
    """Was: "what did we pay for <address>?" ran a property analysis and showed the list
    price. Now: the closed deal's purchase price and its closing costs, naming the deal; an
    investor not on the deal is not told its price."""
    with Session(get_engine(), expire_on_commit=False) as db:
        prop = _house(db, world, "8800 Kercheval Ave", list_price=Decimal("79000"))
        deal = make_deal(
            db, world.org, owner=world.ivy, property_id=prop.id, strategy="flip",
            purchase_price=Decimal("61500"),
        )  # fmt: skip
        _move(
            db, world, deal.id, DealStatus.offer_made, DealStatus.under_contract, DealStatus.closed
        )
        for amount in ("1800.00", "650.00"):
            finance_service.record_transaction(
                session=db,
                org_id=world.org.id,
                transaction_in=TransactionCreate.model_validate(
                    {
                        "type": "expense",
                        "category": "closing_costs",
                        "amount": amount,
                        "date": local_today().isoformat(),
                        "deal_id": str(deal.id),
                    }
                ),
            )
        db.commit()

    result = _team(world, "what did we pay for 8800 Kercheval Ave?")
    assert _calls(result) == [("what_we_paid", True)]
    assert result.reply.startswith(
        "We paid $61,500 for 8800 Kercheval Ave, Detroit, MI 48214 "
        f"(deal {deal.id.hex[:8]}, closed)."
    )
    assert "Closing costs booked: $2,450; all in $63,950." in result.reply
    assert "$79,000" not in result.reply  # the list price is not what we paid

    # Ivy owns the deal and sees it; Olaf is not on it: no price for him, the analysis instead.
    ivy = turn(world, "what did we pay for 8800 kercheval ave", thread=new_thread())
    assert "We paid $61,500" in ivy.reply
    olaf = turn(
        world, "what did we pay for 8800 Kercheval Ave?", thread=new_thread(), user=world.olaf
    )
    assert _calls(olaf) == [("what_we_paid", True), ("analyze_property", True)]
    assert "$61,500" not in olaf.reply and str(deal.id) not in olaf.reply
    assert olaf.reply.startswith("No deal you can see on 8800 Kercheval Ave")


def test_what_we_paid_falls_back_to_the_analysis_only_without_a_deal_price(world: World) -> None:
    with Session(get_engine(), expire_on_commit=False) as db:
        _house(db, world, "8900 Kercheval Ave", list_price=Decimal("74000"))
        db.commit()
    result = _team(world, "what did we pay for 8900 Kercheval Ave?")
    assert _calls(result) == [("what_we_paid", True), ("analyze_property", True)]
    first, analysis = result.reply.split("\n\n", 1)
    assert first == (
        "No deal you can see on 8900 Kercheval Ave, Detroit, MI 48214 has a purchase price, so I "
        "can't say what we paid. The analysis below shows the list (asking) price, not a price "
        "paid."
    )
    assert analysis.startswith("8900 Kercheval Ave") and "Price $74,000" in analysis

    # A deal with an accepted offer: the price agreed (the offer's amount), not yet paid.
    with Session(get_engine(), expire_on_commit=False) as db:
        prop = _house(db, world, "9050 Kercheval Ave", list_price=Decimal("70000"))
        deal = make_deal(db, world.org, property_id=prop.id, strategy="rental")
        offer = deal_service.make_offer(
            session=db, org_id=world.org.id, deal_id=deal.id,
            offer_in=OfferCreate.model_validate({"offer_amount": "66000"}),
        )  # fmt: skip
        deal_service.change_offer_status(
            session=db, org_id=world.org.id, deal_id=deal.id, offer_id=offer.id,
            status=OfferStatus.accepted,
        )  # fmt: skip
        db.commit()
    agreed = _team(world, "how much did we pay for 9050 Kercheval Ave")
    assert _calls(agreed) == [("what_we_paid", True)]
    assert agreed.reply == (
        "We agreed to pay $66,000 for 9050 Kercheval Ave, Detroit, MI 48214 "
        f"(deal {deal.id.hex[:8]}, under contract, from an accepted offer); not closed yet. "
        "No closing costs are booked on the deal."
    )
    # "what did we pay for it?" after an analysis: the property just analysed.
    thread = new_thread()
    turn(world, "9050 Kercheval Ave", thread=thread, user=world.admin, channel="web")
    follow = turn(world, "what did we pay for it?", thread=thread, user=world.admin, channel="web")
    assert [(c.name, c.args) for c in follow.tool_calls] == [
        ("what_we_paid", {"property_id": str(prop.id)})
    ]
    assert follow.reply == agreed.reply


def test_offers_on_a_deal_list_amount_status_who_when_and_counters(world: World) -> None:
    """Was: "any offers on <address>?" and "what offers do we have on the mack ave deal?"
    ran a property analysis. Now: the deal's offers from the deal service; investors only
    for deals they are on."""
    today = local_today().isoformat()  # offers are dated in the company's time zone
    with Session(get_engine(), expire_on_commit=False) as db:
        prop = _house(db, world, "9400 Mack Ave", list_price=Decimal("72000"))
        deal = make_deal(db, world.org, property_id=prop.id, strategy="flip")
        analyst = principal_for(world.analyst)
        first = deal_service.make_offer(
            session=db, org_id=world.org.id, deal_id=deal.id, principal=analyst,
            offer_in=OfferCreate.model_validate({"offer_amount": "65000"}),
        )  # fmt: skip
        deal_service.change_offer_status(
            session=db, org_id=world.org.id, deal_id=deal.id, offer_id=first.id,
            status=OfferStatus.countered, note="seller wants $71,000", principal=analyst,
        )  # fmt: skip
        deal_service.make_offer(
            session=db, org_id=world.org.id, deal_id=deal.id, principal=principal_for(world.admin),
            offer_in=OfferCreate.model_validate({"offer_amount": "68500"}),
        )  # fmt: skip
        db.commit()

    result = _team(world, "what offers do we have on the mack ave deal?")
    assert [(c.name, c.args, c.ok) for c in result.tool_calls] == [
        ("deal_offers", {"deal": "mack ave"}, True)
    ]
    assert result.reply.splitlines() == [
        "Offers on 9400 Mack Ave, Detroit, MI 48214 "
        f"(deal {deal.id.hex[:8]}, offer made), oldest first:",
        f"• $65,000, countered, by Ann Analyst on {today}",
        f"  – countered {today} by {world.analyst.email}: seller wants $71,000",
        f"• $68,500, submitted, by Ada Admin on {today}",
    ]
    by_address = _team(world, "any offers on 9400 Mack Ave?")
    assert by_address.tool_calls[0].args == {"deal": "9400 Mack Ave"}
    assert by_address.reply == result.reply

    # Ivy is not on that deal: it does not exist for her. Her own deal has no offers.
    ivy = turn(world, "any offers on 9400 Mack Ave?", thread=new_thread())
    assert _calls(ivy) == [("deal_offers", False)]
    assert "$65,000" not in ivy.reply and ivy.reply.startswith("Sorry, I couldn't get those offers")
    own = turn(world, "any offers on 14500 Kercheval Ave?", thread=new_thread())
    assert _calls(own) == [("deal_offers", True)]
    assert own.reply == (
        "No offers on 14500 Kercheval Ave, Detroit, MI 48215 "
        f"(deal {world.ivy_deal_id.hex[:8]}, lead) yet."
    )


def test_the_seller_leads_are_listed_with_masked_phones_status_and_last_call(
    world: World,
) -> None:
    """Was: "show me the leads" and "new seller leads this week" were not understood."""
    with Session(get_engine(), expire_on_commit=False) as db:
        agent_calls = voice_service.submit_lead(
            session=db, org_id=world.org.id, requested_by=world.admin.id,
            lead=LeadCallRequest(
                phone="(313) 555-0142", address="77 Elm St, Detroit, MI 48215",
                name="Pat Seller", consent_to_call=True, consent_source="web form 2026-11-20",
            ),
        )  # fmt: skip
        voice_service.submit_lead(
            session=db, org_id=world.org.id, requested_by=world.admin.id,
            lead=LeadCallRequest(
                phone="(313) 555-0177", address="9 Oak St, Detroit, MI 48215", name="Kim Owner"
            ),
        )  # fmt: skip
        # The dispatcher places Pat's call when it is due: Pat has a call, Kim none.
        (call,) = voice_service.claim_due_schedules(session=db, now=agent_calls.scheduled_for)
        db.commit()
    # Times as the team reads them: company-local with the zone (was UTC).
    received = local_today().isoformat()

    result = _team(world, "show me the leads")
    assert [(c.name, c.args, c.ok) for c in result.tool_calls] == [("seller_leads", {}, True)]
    lines = result.reply.splitlines()
    assert lines[0] == "Seller leads (2), newest first:"
    assert lines[1].startswith(
        "• Kim Owner, +1******0177, 9 Oak St, Detroit, MI 48215: for the team to call (no "
        f"consent to automated calls) (in {received}"
    ) and lines[1].endswith("; no call yet")
    assert lines[2].startswith(
        f"• Pat Seller, +1******0142, 77 Elm St, Detroit, MI 48215: being called (in {received}"
    ) and lines[2].endswith(f"last call {local_minute(call.created_at)}: call queued")
    assert "555-0142" not in result.reply and "5550142" not in result.reply

    this_week = _team(world, "new seller leads this week")
    monday = local_today() - dt.timedelta(days=local_today().weekday())
    assert this_week.tool_calls[0].args == {"since": monday.isoformat()}
    assert this_week.reply.startswith(f"Seller leads since {monday.isoformat()} (2)")

    # Leads are the team's: an investor is refused before any tool runs.
    ivy = turn(world, "show me the leads", thread=new_thread())
    assert ivy.tool_calls == [] and ivy.reply == NOT_YOUR_ROLE


def test_deal_statuses_are_written_in_words(world: World) -> None:
    """Was: "the deal is now offer_made", "is now under_contract (was offer_made)"."""
    with Session(get_engine(), expire_on_commit=False) as db:
        _house(db, world, "9600 Mack Ave", list_price=Decimal("69000"))
        db.commit()
    # At a price: a deal goes under contract only at one.
    created = _team(world, "create a section 8 deal on 9600 Mack Ave at $60,000")
    assert _calls(created) == [("create_deal", True)]
    assert "status lead, strategy Section Eight rental" in created.reply
    offer = _team(world, "offer $60,000 on deal 9600 Mack Ave")
    assert offer.reply.endswith("the deal is now offer made.")
    moved = _team(world, "move the deal on 9600 Mack Ave to under contract")
    assert moved.reply.endswith("is now under contract (was offer made).")
    listed = _team(world, "which deals are under contract?")
    assert "9600 Mack Ave, Detroit, MI 48214: under contract (Section Eight rental)" in listed.reply
    for reply in (created.reply, offer.reply, moved.reply, listed.reply):
        assert not any(
            code in reply for code in ("offer_made", "under_contract", "section8_rental")
        ), reply


def test_planner_reads_the_new_questions() -> None:
    def plan(text: str) -> tuple[str | None, dict[str, object]]:
        found = plan_for(Conversation(text=text, history=[], this_turn=[]))
        return found.tool, dict(found.args)

    assert plan("what's our purchase price on 14500 Kercheval Ave?") == (
        "what_we_paid", {"address": "14500 Kercheval Ave"},
    )  # fmt: skip
    assert plan("did the seller counter our offer on deal 1a2b3c4d?") == (
        "deal_offers", {"deal": "1a2b3c4d"},
    )  # fmt: skip
    # Still what they were: making an offer, advice on one, a lead to call, deals as leads.
    assert plan("offer $65,000 on deal 1a2b3c4d")[0] == "make_offer"
    assert plan("what offer should I make on 14500 Kercheval Ave?")[0] == "analyze_property"
    assert plan("any lead calls scheduled?")[0] == "lead_calls"
    assert plan("which deals are still a lead?") == ("list_deals", {"status": "lead"})
    assert plan("rehab estimate for 14500 Kercheval Ave: counters poor")[0] == "estimate_rehab"
