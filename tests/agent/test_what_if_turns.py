"""What-if follow-ups after an analysis: "what if I pay 150k?", "what if rehab is 40k?" and
"what would it rent for with a voucher?" are about the property just analysed.

Before, the first and last were not understood and the second asked for a rehab component
list; the analysis had no way to take a price other than the list or deal price.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlmodel import Session

from agent.planner import Conversation, _price_given, plan_for
from domain.analysis import service as analysis_service
from domain.auth.enums import Role
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_sold_market, make_subject_property, make_user


@pytest.mark.parametrize(
    ("said", "price"),
    [
        ("what if I pay 150k?", "150000.00"),
        ("what if we pay $62,500", "62500.00"),
        ("and at 40k?", "40000.00"),
        ("does it work at $38,000?", "38000.00"),
        ("if we buy it for 55000", "55000.00"),
        ("purchase price 47.5k", "47500.00"),
    ],
)
def test_a_price_said_is_read_as_the_price_to_analyse_at(said: str, price: str) -> None:
    assert _price_given(said) == price


@pytest.mark.parametrize(
    "said",
    [
        "1234 Subject Ave, what if I pay 150k?",
        "1234 Subject Ave at 150k?",
        "1234 Subject Ave purchase price 150k",
        "1234 Subject Ave: does it work at $150,000?",
    ],
)
def test_an_address_with_a_price_is_analysed_at_that_price(said: str) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == "analyze_property"
    assert dict(plan.args) == {"address": "1234 Subject Ave", "purchase_price": "150000.00"}


@pytest.mark.parametrize(
    "said",
    [
        "what did we pay for 1234 Subject Ave?",
        "offer $40,000 on deal 1a2b3c4d",
        "alert me to flips under $100k",
    ],
)
def test_other_money_questions_are_not_a_price_what_if(said: str) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert "purchase_price" not in dict(plan.args)


def test_a_price_with_no_property_asks_which(committed_db: Session) -> None:
    org = make_org(committed_db)
    analyst = make_user(committed_db, org, Role.analyst)
    committed_db.commit()
    turn = checked_turn(analyst, "what if I pay 150k?")
    assert turn.tool_calls == []
    assert turn.reply.startswith("Which property?")


def test_what_if_follow_ups_use_the_property_just_analysed(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)  # listed at $45,000
    analyst = make_user(db, org, Role.analyst)
    db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"

    first = checked_turn(analyst, "1234 Subject Ave", thread, channel="whatsapp")
    assert "Price $45,000" in first.reply

    priced = checked_turn(analyst, "what if I pay 30k?", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in priced.tool_calls] == [
        ("analyze_property", {"property_id": str(prop.id), "purchase_price": "30000.00"})
    ]
    assert "Price $30,000" in priced.reply
    assert "Note: price $30,000 as given, instead of the list price $45,000" in priced.reply

    # The service agrees: the flip at $30,000 makes $15,000 more than at the list price.
    at_list = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)
    at_30k = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=prop.id, purchase_price=Decimal("30000")
    )
    assert at_list.flip is not None and at_30k.flip is not None
    assert at_30k.flip.profit > at_list.flip.profit
    assert at_30k.max_offer is not None and at_list.max_offer is not None
    assert at_30k.max_offer.amount == at_list.max_offer.amount  # the rule ignores the price

    # "report" next: the PDF is rendered at the price the reply used.
    report = checked_turn(analyst, "send me the report", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in report.tool_calls] == [
        ("generate_report", {"property_id": str(prop.id), "purchase_price": "30000.00"})
    ]
    assert "with the figures you gave" in report.reply

    # A strategy follow-up stays at the price just asked about.
    flip = checked_turn(analyst, "and as a flip?", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in flip.tool_calls] == [
        (
            "analyze_property",
            {"property_id": str(prop.id), "focus": "flip", "purchase_price": "30000.00"},
        )
    ]
    assert "Note: price $30,000 as given" in flip.reply

    # What-ifs stack: the rehab what-if keeps the price just asked about.
    rehab = checked_turn(analyst, "what if rehab is 40k?", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in rehab.tool_calls] == [
        (
            "analyze_property",
            {"property_id": str(prop.id), "purchase_price": "30000.00", "rehab_cost": "40000.00"},
        )
    ]
    assert "Note: rehab $40,000 as given" in rehab.reply
    assert "Note: price $30,000 as given" in rehab.reply

    voucher = checked_turn(
        analyst, "what would it rent for with a voucher?", thread, channel="whatsapp"
    )
    assert [(c.name, c.args) for c in voucher.tool_calls] == [
        ("section8_rent", {"property_id": str(prop.id)})
    ]


@pytest.mark.parametrize("price", [Decimal(0), Decimal(-5), Decimal("100000001")])
def test_a_price_out_of_range_is_refused(committed_db: Session, price: Decimal) -> None:
    db = committed_db
    org = make_org(db)
    prop = make_subject_property(db, org)
    db.commit()
    with pytest.raises(analysis_service.AnalysisInputError, match="purchase price"):
        analysis_service.analyze_property(
            session=db, org_id=org.id, property_id=prop.id, purchase_price=price
        )


def test_questions_about_the_property_just_analysed(committed_db: Session) -> None:
    """Found in a live smoke: "is it a good rental?" was not understood and "comps for it"
    asked which property."""
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    analyst = make_user(db, org, Role.analyst)
    db.commit()
    thread = f"web:{uuid.uuid4().hex}"
    checked_turn(analyst, "1234 Subject Ave", thread)

    for said, expected in [
        ("is it a good rental?", ("analyze_property", {"focus": "rental"})),
        ("would it work as a flip?", ("analyze_property", {"focus": "flip"})),
        ("what are the BRRRR numbers?", ("analyze_property", {"focus": "brrrr"})),
        ("what's it worth?", ("analyze_property", {"focus": "value"})),
        ("the ARV?", ("analyze_property", {"focus": "value"})),
        ("how much rehab does it need?", ("analyze_property", {"focus": "rehab"})),
        ("what's the rent?", ("analyze_property", {"focus": "rent"})),
        ("how much could it rent for?", ("analyze_property", {"focus": "rent"})),
        ("comps for it", ("get_comps", {})),
        ("show me the comps", ("get_comps", {})),
    ]:
        turn = checked_turn(analyst, said, thread)
        name, args = expected
        assert [(c.name, c.args) for c in turn.tool_calls] == [
            (name, {"property_id": str(prop.id), **args})
        ], said
        focus = args.get("focus")
        if focus == "value":
            assert "as-is value $" in turn.reply and "ARV $" in turn.reply, turn.reply
        elif focus == "rehab":
            assert turn.reply.startswith("1234 Subject Ave, Detroit, MI 48201: rehab budget $")
        elif focus == "rent":
            assert "HUD FMR $" in turn.reply and "payment standard $" in turn.reply, turn.reply


def test_a_flip_that_loses_more_than_the_cash_in_says_why_it_has_no_annual_rate(
    committed_db: Session,
) -> None:
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    make_subject_property(db, org)
    analyst = make_user(db, org, Role.analyst)
    db.commit()
    thread = f"web:{uuid.uuid4().hex}"
    checked_turn(analyst, "1234 Subject Ave", thread)
    checked_turn(analyst, "what if I pay 300k?", thread)
    flip = checked_turn(analyst, "and as a flip?", thread)
    assert "annualised n/a (the loss exceeds the cash invested)" in flip.reply, flip.reply
