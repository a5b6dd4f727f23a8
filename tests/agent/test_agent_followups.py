"""What investors text after (or around) an address: their own rehab budget, a strategy
follow-up ("and as a rental?"), two addresses at once. Offline planner, real graph, tools and
database; every figure in a reply must come from that turn's tool results."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from sqlmodel import Session

from agent.planner import Conversation, plan_for
from domain.analysis import service as analysis_service
from domain.analysis.formatting import dollars
from store.db import get_engine
from tests.agent.test_agent_offline import new_thread, turn
from tests.agent.world import SUBJECT_ADDRESS, World


def _plan(text: str) -> tuple[str | None, dict[str, object], str | None]:
    plan = plan_for(Conversation(text=text, history=[], this_turn=[]))
    return plan.tool, dict(plan.args), plan.reply


@pytest.mark.parametrize(
    ("said", "tool", "address", "rehab"),
    [
        (
            "what's the max offer on 4120 Lincoln Way, Ames, IA 50014 if rehab is 40k?",
            "max_offer",
            "4120 Lincoln Way, Ames, IA 50014",
            "40000.00",
        ),
        (
            "max offer on 1215 Kellogg Ave, Ames, IA 50010 with repairs of 25k",
            "max_offer",
            "1215 Kellogg Ave, Ames, IA 50010",
            "25000.00",
        ),
        (
            "analyze 1215 Kellogg Ave, Ames, IA 50010 with a $35,000 rehab",
            "analyze_property",
            "1215 Kellogg Ave, Ames, IA 50010",
            "35000.00",
        ),
        (
            "1215 Kellogg Ave, Ames, IA 50010 - rehab 30k",
            "analyze_property",
            "1215 Kellogg Ave, Ames, IA 50010",
            "30000.00",
        ),
        ("what is 1215 Kellogg Ave worth?", "analyze_property", "1215 Kellogg Ave", None),
    ],
)
def test_the_address_and_the_rehab_budget_said_with_it_are_read(
    said: str, tool: str, address: str, rehab: str | None
) -> None:
    planned, args, _ = _plan(said)
    assert planned == tool
    assert args.get("address") == address
    assert args.get("rehab_cost") == rehab


def test_two_addresses_in_one_message_are_not_silently_cut_to_one() -> None:
    tool, _, reply = _plan("4120 Lincoln Way, Ames, IA 50014 and 1215 Kellogg Ave, Ames, IA 50010")
    assert tool is None
    assert reply == (
        "I see 2 addresses (4120 Lincoln Way, Ames, IA 50014; 1215 Kellogg Ave, Ames, IA "
        "50010). Send them one per message and I'll analyse each."
    )
    # One address written with "and" inside a sentence is still one address.
    assert _plan("analyze 1215 Kellogg Ave, Ames, IA 50010 and tell me the rent")[0] == (
        "analyze_property"
    )


def test_a_strategy_follow_up_without_an_earlier_property_asks_for_one() -> None:
    assert _plan("and as a rental?")[2] == "Which property? Send its street address first."


def test_the_investors_rehab_budget_replaces_the_estimate_in_the_max_offer(world: World) -> None:
    result = turn(
        world, f"what's the max offer on {SUBJECT_ADDRESS} if rehab is 40k?", thread=new_thread()
    )
    (call,) = result.tool_calls
    assert call.name == "max_offer" and call.args["rehab_cost"] == "40000.00"
    with Session(get_engine()) as session:
        estimated = analysis_service.analyze_property(
            session=session, org_id=world.org.id, property_id=world.subject.id
        )
        given = analysis_service.analyze_property(
            session=session,
            org_id=world.org.id,
            property_id=world.subject.id,
            rehab_cost=Decimal("40000"),
        )
    assert given.max_offer is not None and estimated.max_offer is not None
    expected = given.max_offer.arv * Decimal("0.70") - Decimal("40000")
    assert abs(given.max_offer.amount - expected) < Decimal("0.01")
    assert given.max_offer.amount != estimated.max_offer.amount
    assert f"Max offer on {SUBJECT_ADDRESS}: {dollars(given.max_offer.amount)}" in result.reply
    assert "rehab $40,000" in result.reply
    assert f"our estimate is {dollars(estimated.rehab.estimate.total)}" in result.reply
    assert any(n.startswith("rehab $40,000 as given") for n in given.notes)


def test_a_negative_or_absurd_rehab_budget_is_refused_by_the_service(world: World) -> None:
    with Session(get_engine()) as session:
        for bad in (Decimal("-1"), Decimal("10000000.01")):
            with pytest.raises(analysis_service.AnalysisInputError, match="rehab budget"):
                analysis_service.analyze_property(
                    session=session,
                    org_id=world.org.id,
                    property_id=world.subject.id,
                    rehab_cost=bad,
                )


def test_and_as_a_rental_answers_for_the_property_just_analysed(world: World) -> None:
    thread = new_thread()
    first = turn(world, SUBJECT_ADDRESS, thread=thread)
    assert first.reply.endswith("\nThe PDF report follows.")  # WhatsApp sends the PDF itself
    rental = turn(world, "and as a rental?", thread=thread)
    (call,) = rental.tool_calls
    assert call.name == "analyze_property"
    assert call.args == {"property_id": str(world.subject.id), "focus": "rental"}
    with Session(get_engine()) as session:
        analysis = analysis_service.analyze_property(
            session=session,
            org_id=world.org.id,
            property_id=world.subject.id,
            deal_id=world.ivy_deal_id,  # the caller's deal on the house, as the chat uses
        )
    assert analysis.rental is not None
    assert rental.reply.startswith(f"As a rental, {SUBJECT_ADDRESS}: rent ")
    assert f"cash flow {dollars(analysis.rental.monthly_cash_flow)}/mo" in rental.reply
    assert f"NOI {dollars(analysis.rental.noi_annual)}/yr" in rental.reply
    flip = turn(world, "what about a flip?", thread=thread)
    assert flip.tool_calls[0].args["focus"] == "flip"
    assert analysis.flip is not None
    assert f"profit {dollars(analysis.flip.profit)}" in flip.reply
    brrrr = turn(world, "BRRRR?", thread=thread)
    assert brrrr.reply.startswith(f"As a BRRRR, {SUBJECT_ADDRESS}: cash in ")
    section8 = turn(world, "and as section 8?", thread=thread)
    assert section8.tool_calls[0].name == "section8_rent"


def test_the_hold_projection_follows_the_analysis(world: World) -> None:
    """Was: "show me the 5 year projection" read "5 year projection" as an address."""
    thread = new_thread()
    turn(world, SUBJECT_ADDRESS, thread=thread)
    result = turn(world, "show me the 5 year projection", thread=thread)
    (call,) = result.tool_calls
    assert call.args == {"property_id": str(world.subject.id), "focus": "projection"}
    with Session(get_engine()) as session:
        analysis = analysis_service.analyze_property(
            session=session,
            org_id=world.org.id,
            property_id=world.subject.id,
            deal_id=world.ivy_deal_id,
        )
    projection = analysis.projection
    assert projection is not None
    assert result.reply.startswith(
        f"Held as a rental, {SUBJECT_ADDRESS}: {projection.inputs.hold_years} years"
    )
    assert f"sold for {dollars(projection.sale_price)}" in result.reply
    assert f"profit {dollars(projection.total_profit)}" in result.reply
    assert turn(world, "what's the IRR?", thread=thread).tool_calls[0].args["focus"] == (
        "projection"
    )


@pytest.mark.parametrize(
    "said",
    ["show me the 5 year projection", "what does it look like after 5 years", "the IRR?"],
)
def test_a_duration_is_not_an_address(said: str) -> None:
    assert _plan(said)[2] == "Which property? Send its street address first."


def test_projection_words_with_an_address_or_the_books_keep_their_meaning() -> None:
    tool, args, _ = _plan("5 year projection for 2718 Duff Ave")
    assert (tool, args) == ("analyze_property", {"address": "2718 Duff Ave", "focus": "projection"})
    assert _plan("what's the cash flow projection for the company")[0] == "cashflow"
    assert _plan("12 Mile Rd 48093")[1] == {"address": "12 Mile Rd 48093"}


def test_yes_to_a_suggested_address_and_a_corrected_house_number_analyse_it(
    world: World,
) -> None:
    """Was: "yes" after "Did you mean ...?" and "no I meant 1215 not 1251" were not understood
    (the second was looked up as the address "1215 not 1251")."""
    thread = new_thread()
    street = SUBJECT_ADDRESS.split(" ", 1)[1]  # "Kercheval Ave, Detroit, MI 48215"
    misspelt = "14500 " + street.replace("Kercheval", "Kerchevel")
    first = turn(world, misspelt, thread=thread)
    assert "Did you mean" in first.reply
    agreed = turn(world, "yes", thread=thread)
    (call,) = agreed.tool_calls
    assert call.name == "analyze_property" and call.args["address"].startswith("14500 Kercheval")
    assert agreed.reply.startswith(SUBJECT_ADDRESS)
    thread = new_thread()
    wrong = turn(world, "14050 " + street, thread=thread)
    assert "is on file" in wrong.reply
    fixed = turn(world, "no I meant 14500 not 14050", thread=thread)
    assert fixed.tool_calls[0].args == {"address": "14500 " + street}
    assert fixed.reply.startswith(SUBJECT_ADDRESS)


def test_what_if_i_offer_is_a_price_what_if_not_an_offer(world: World) -> None:
    """Was: "what if I offer 45k?" after an analysis went to make_offer (refused to an
    investor); "what if I pay 45" was not understood."""
    thread = new_thread()
    turn(world, SUBJECT_ADDRESS, thread=thread)
    result = turn(world, "what if I offer 45k?", thread=thread)
    (call,) = result.tool_calls
    assert call.name == "analyze_property" and call.args["purchase_price"] == "45000.00"
    assert _plan("what if I pay 45")[2] == (
        "Did you mean $45,000? Say 'what if I pay 45k' (or the full amount)."
    )
    assert _plan("offer 45k on 2718 Duff Ave")[0] == "make_offer"


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("the second one", "2310 Duff Ave, Ames 50010"),
        ("tell me about the second one", "2310 Duff Ave, Ames 50010"),
        ("#1", "1410 Burnett Ave, Ames 50010"),
        ("the last one", "2310 Duff Ave, Ames 50010"),
        ("the third one", None),
    ],
)
def test_the_nth_one_after_a_list_of_opportunities_is_that_house(
    said: str, expected: str | None
) -> None:
    """Was: "the second one" after "latest opportunities" was not understood."""
    listed = {
        "opportunities": [
            {"address": "1410 Burnett Ave, Ames 50010"},
            {"address": "2310 Duff Ave, Ames 50010"},
        ]
    }
    history = [
        HumanMessage("latest opportunities"),
        AIMessage("", tool_calls=[{"name": "latest_opportunities", "args": {}, "id": "c1"}]),
        ToolMessage(json.dumps(listed), tool_call_id="c1", name="latest_opportunities"),
        AIMessage("Latest opportunities: ..."),
    ]
    plan = plan_for(Conversation.read([*history, HumanMessage(said)]))
    if expected is None:
        assert plan.tool is None and plan.reply == (
            "That list is shorter: say which of its houses, or its address."
        )
    else:
        assert (plan.tool, plan.args) == ("analyze_property", {"address": expected})
    assert plan_for(Conversation.read([HumanMessage(said)])).tool is None  # no list, no pick


def test_max_offer_right_after_a_rehab_what_if_keeps_that_rehab(world: World) -> None:
    """Was: "what if rehab is 70k?" then "what's my max offer?" went back to the deal's rehab
    without saying so, contradicting the reply before."""
    thread = new_thread()
    turn(world, SUBJECT_ADDRESS, thread=thread)
    turn(world, "what if rehab is 70k?", thread=thread)
    offer = turn(world, "what's my max offer?", thread=thread)
    (call,) = offer.tool_calls
    assert call.name == "max_offer" and call.args["rehab_cost"] == "70000.00"
    assert "rehab $70,000" in offer.reply


def test_what_ifs_stack_within_a_thread(world: World) -> None:
    """Was: "what if I offer 45k?" then "what if rehab is 70k?" went back to the deal's price."""
    thread = new_thread()
    turn(world, SUBJECT_ADDRESS, thread=thread)
    turn(world, "what if I offer 45k?", thread=thread)
    both = turn(world, "what if rehab is 70k?", thread=thread)
    (call,) = both.tool_calls
    assert (call.args["purchase_price"], call.args["rehab_cost"]) == ("45000.00", "70000.00")
    priced = turn(world, "and at 50k?", thread=thread)
    assert (
        priced.tool_calls[0].args["purchase_price"],
        priced.tool_calls[0].args["rehab_cost"],
    ) == (
        "50000.00",
        "70000.00",
    )


def test_a_zip_code_alone_gets_the_ways_to_ask_about_it() -> None:
    tool, _, reply = _plan("50010")
    assert tool is None
    assert reply == (
        "For a deal analysis send a street address. For the 50010 market, say 'market trends "
        "for 50010' or 'latest opportunities in 50010'."
    )
    # Both suggestions are understood as written.
    assert _plan("market trends for 50010")[0] == "market_trends"
    assert _plan("latest opportunities in 50010")[0] == "latest_opportunities"
