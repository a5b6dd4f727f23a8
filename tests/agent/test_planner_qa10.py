"""Planner fixes from the bookkeeper's live QA pass (2026-11-29).

- "p&l for mack ave", "budget for mack ave": a street named with its type was not read as the
  deal's street, so the P&L answered for the whole organisation and the budget asked "Which
  deal?" ("p&l for mack" worked).
- "this month", "yesterday": the company's calendar (America/Detroit), not UTC's: at 8 pm in
  Detroit on November 30 it is already December in UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from sqlmodel import Session

import core.clock
from agent.planner import Conversation, _dollars_said, period_in, plan_for
from agent.runner import last_turn_tool_results
from core.clock import local_today
from domain.auth.enums import Role
from tests.agent.turns import checked_turn
from tests.factories import (
    make_deal,
    make_org,
    make_project,
    make_property,
    make_sold_market,
    make_subject_property,
    make_user,
)


@pytest.mark.parametrize(
    ("said", "tool", "deal"),
    [
        ("p&l for mack ave", "pnl", "mack ave"),
        ("cash flow for mack ave", "cashflow", "mack ave"),
        ("budget for mack ave", "budget_status", "mack ave"),
        ("budget for kercheval avenue?", "budget_status", "kercheval avenue"),
        ("p&l for lincoln way", "pnl", "lincoln way"),
        ("how much have we spent on mack ave?", "pnl", "mack ave"),
        ("p&l for mack", "pnl", "mack"),  # as before
    ],
)
def test_a_money_question_ending_on_a_street_with_its_type_is_that_deal(
    said: str, tool: str, deal: str
) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, plan.args.get("deal")) == (tool, deal)


@pytest.mark.parametrize("said", ["p&l for the company", "how much have we spent on plumbing?"])
def test_the_whole_organisation_is_still_the_whole_organisation(said: str) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == "pnl" and "deal" not in plan.args


def test_this_month_is_the_company_s_month_in_the_evening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 9 pm on November 30 in Detroit is 02:00 on December 1 in UTC.
    moment = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(core.clock, "utcnow", lambda: moment)
    found = period_in("p&l this month")
    assert found is not None
    assert (found[0], found[1]) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    plan = plan_for(Conversation(text="p&l for mack ave this month", history=[], this_turn=[]))
    assert (plan.args["start"], plan.args["end"]) == ("2026-11-01", "2026-11-30")


def test_a_budget_over_its_allocation_says_over_by_not_minus_left(committed_db: Session) -> None:
    """Was "remaining -$700" and "(-$700 left) OVER BUDGET"; a line inside the rehab line is
    named as counted once."""
    from domain.finance import service as finance_service
    from domain.finance.enums import TransactionCategory
    from domain.finance.models import BudgetCreate, ExpenseCreate

    db = committed_db
    org = make_org(db, "Over By Co")
    admin = make_user(db, org, Role.admin)
    deal = make_deal(db, org)
    for category, amount in ((None, 5000), (TransactionCategory.rehab_labour, 1000)):
        finance_service.set_budget(
            session=db, org_id=org.id,
            budget_in=BudgetCreate(
                deal_id=deal.id, category=category, allocated_amount=Decimal(amount)
            ),
        )  # fmt: skip
    finance_service.record_expense(
        session=db, org_id=org.id,
        expense_in=ExpenseCreate(
            category=TransactionCategory.rehab_labour, amount=Decimal("5700"),
            date=local_today(), deal_id=deal.id,
        ),
    )  # fmt: skip
    db.commit()
    reply = checked_turn(admin, f"budget for deal {deal.id}").reply
    assert "allocated $5,000, spent $5,700, over by $700." in reply, reply
    assert "over by $700) OVER BUDGET" in reply and "over by $4,700) OVER BUDGET" in reply
    assert "-$" not in reply
    assert "counted in both; totals count it once" in reply


# --- the walkthrough pass: a house's rehab asked about, then "max offer?" --------------------


@pytest.mark.parametrize(
    "said",
    [
        # These asked to "List what needs work with its condition".
        "how much rehab does 1234 Subject Ave need?",
        "what would the rehab cost on 1234 Subject Ave",
        "rehab estimate for 1234 Subject Ave",
    ],
)
def test_a_house_s_rehab_asked_about_is_the_analysis_s_rehab(said: str) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == (
        "analyze_property",
        {"address": "1234 Subject Ave", "focus": "rehab"},
    )


@pytest.mark.parametrize(
    ("said", "args"),
    [
        ("rehab budget for 1234 Subject Ave is 40k",
         {"address": "1234 Subject Ave", "rehab_cost": "40000.00"}),
        # "30k" was read as a house number: the address was "30k of repairs on 1234 ...".
        ("30k of repairs on 1234 Subject Ave",
         {"address": "1234 Subject Ave", "rehab_cost": "30000.00"}),
    ],
)  # fmt: skip
def test_a_rehab_budget_said_with_the_house_is_that_figure(said: str, args: dict[str, str]) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == ("analyze_property", args)


def test_cents_are_not_a_house_number() -> None:
    # Was analysed as the house "20 on kercheval".
    plan = plan_for(Conversation(text="Home Depot refunded 45.20 on kercheval", history=[],
                                 this_turn=[]))  # fmt: skip
    assert plan.tool != "analyze_property"


def test_a_rehab_budget_of_a_house_without_a_project_is_its_analysis(
    committed_db: Session,
) -> None:
    """Was "Sorry, I couldn't get that project's status: no rehab project is on ..."."""
    db = committed_db
    org = make_org(db, "Rehab Question Co")
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    investor = make_user(db, org, Role.investor)
    db.commit()
    turn = checked_turn(investor, "what is the rehab budget for 1234 Subject Ave?")
    assert [(c.name, c.ok) for c in turn.tool_calls] == [
        ("project_status", False),
        ("analyze_property", True),
    ]
    assert turn.tool_calls[1].args == {"address": "1234 Subject Ave", "focus": "rehab"}
    assert "no rehab project" not in turn.reply and "Sorry" not in turn.reply
    assert "1234 Subject Ave" in turn.reply and "ehab" in turn.reply
    assert prop.id is not None


def test_max_offer_after_a_rehab_estimate_uses_that_house_and_that_rehab(
    committed_db: Session,
) -> None:
    """Was: the max offer of the house analysed before the estimate, at its own rehab."""
    db = committed_db
    org = make_org(db, "Estimate Then Offer Co")
    make_sold_market(db, org)
    other = make_subject_property(db, org, address_line="77 Other St")
    prop = make_subject_property(db, org)
    analyst = make_user(db, org, Role.analyst)
    db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    checked_turn(analyst, "77 Other St", thread, channel="whatsapp")
    estimate = checked_turn(
        analyst, "rehab estimate for 1234 Subject Ave: roof poor", thread, channel="whatsapp"
    )
    assert estimate.reply.startswith("Rehab estimate for 1234 Subject Ave: $")
    (call,) = [c for c in estimate.tool_calls if c.name == "estimate_rehab"]
    total = json.loads(last_turn_tool_results(thread)[0])["total"]
    offer = checked_turn(analyst, "what's the max offer?", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in offer.tool_calls] == [
        ("max_offer", {"property_id": str(prop.id), "rehab_cost": _dollars_said(total)})
    ]
    assert call.ok and other.id != prop.id


# --- the bookkeeper's views: per payee and per deal -------------------------------------------


@pytest.mark.parametrize(
    ("said", "args"),
    [
        ("what did we spend at home depot?", {"counterparty": "home depot"}),
        ("how much have we paid ray alvarez?", {"counterparty": "ray alvarez"}),
        ("how much did we spend with Ray's Roofing?", {"counterparty": "Ray's Roofing"}),
        ("p&l by deal", {"group_by": "deal"}),
        ("p&l by month", {"group_by": "month"}),
        ("spending by vendor", {"group_by": "counterparty"}),
    ],
)
def test_payee_and_grouped_money_questions(said: str, args: dict[str, str]) -> None:
    # Were the whole organisation's P&L (or "Which property?") with no caveat.
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == ("pnl", args)


def test_spending_with_a_payee_and_by_deal_come_from_the_ledger(committed_db: Session) -> None:
    from domain.finance import service as finance_service
    from domain.finance.enums import TransactionCategory
    from domain.finance.models import ExpenseCreate

    db = committed_db
    org = make_org(db, "Payee Co")
    admin = make_user(db, org, Role.admin)
    first, second = make_deal(db, org), make_deal(db, org)
    day = local_today()
    for deal, amount, who in (
        (first, "120.50", "Home Depot"),
        (second, "79.50", "home depot"),
        (first, "4000", "Ray Alvarez"),
    ):
        finance_service.record_expense(
            session=db, org_id=org.id,
            expense_in=ExpenseCreate(
                category=TransactionCategory.supplies, amount=Decimal(amount), date=day,
                deal_id=deal.id, counterparty=who,
            ),
        )  # fmt: skip
    db.commit()
    depot = checked_turn(admin, "what did we spend at home depot?").reply
    assert depot.lower().startswith("with home depot (the whole organisation, "), depot
    assert "spent $200, received $0 (2 transactions)" in depot
    assert "Ray" not in depot and "4,000" not in depot
    nobody = checked_turn(admin, "what did we spend at menards?").reply
    assert nobody.startswith("No money to or from anyone called 'menards'")
    by_deal = checked_turn(admin, "p&l by deal").reply
    assert "By deal:" in by_deal
    assert "expenses $4,120.50, net -$4,120.50" in by_deal
    assert "expenses $79.50, net -$79.50" in by_deal


def test_the_analysis_reply_says_an_unsure_poor_photo_was_priced_as_a_repair(
    committed_db: Session,
) -> None:
    """The PDF said so; the chat reply priced the roof as a repair without a word."""
    from domain.auth.models import Organisation
    from domain.vision.enums import Condition
    from tests.test_rehab_scope_combined_observations import _photo

    db = committed_db
    org = make_org(db, "Unsure Photo Co")
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    analyst = make_user(db, org, Role.analyst)
    found = db.get(Organisation, org.id)
    assert found is not None
    _photo(db, found, prop, "roof", Condition.poor, 0.57)
    db.commit()
    reply = checked_turn(analyst, "1234 Subject Ave").reply
    assert "Note: roof: the photo (photo analysis" in reply, reply
    assert "have a person check" in reply


# --- actual vs projected (the bookkeeper matched them by hand) --------------------------------


@pytest.mark.parametrize(
    ("said", "deal"),
    [
        ("actual vs projected for deal 1a2b3c4d", "1a2b3c4d"),
        ("how did kercheval do vs the projection?", "kercheval"),
        ("how much profit did we make on kercheval compared to the projection?", "kercheval"),
        ("how is the mack ave rental doing vs the projection?", "mack ave"),
        ("projected vs actual for 14500 kercheval ave", "14500 kercheval ave"),
    ],
)
def test_against_the_projection_is_the_deal_s_performance(said: str, deal: str) -> None:
    # These asked "Which property?" (read as the analysis's hold projection).
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == ("deal_performance", {"deal": deal})


def test_a_sold_flip_against_its_projection_in_chat(committed_db: Session) -> None:
    from tests.domain.deal.test_deal_performance_h1 import _flip

    db = committed_db
    org = make_org(db, "Performance Co")
    analyst = make_user(db, org, Role.analyst)
    deal = _flip(db, org)
    db.commit()
    reply = checked_turn(analyst, f"actual vs projected for deal {deal.id.hex[:8]}").reply
    assert "(flip, realised): actual vs projected, 2024-01-10 to " in reply, reply
    # No ARV is stored for the house: the projection is missing and said so, never made up.
    assert "No projection: " in reply
    assert "actual $27,500" in reply and "actual $35,700" in reply


@pytest.mark.parametrize(
    "said",
    [
        "Home Depot refunded 45.20 on kercheval",
        "got a refund of $45.20 from home depot for kercheval",
    ],
)
def test_a_vendor_refund_is_booked_as_a_refund(said: str) -> None:
    # Was "Sorry, I didn't understand" (or analysed the house "20 on kercheval").
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == "record_expense"
    assert (plan.args["project"], plan.args["amount"], plan.args["refund"]) == (
        "kercheval", "45.20", True,
    )  # fmt: skip
    assert plan.args["vendor"] == "Home Depot"


def test_a_refund_in_chat_lowers_the_line_and_the_project(committed_db: Session) -> None:
    from domain.construction import service as construction_service
    from domain.construction.models import ExpenseCreate as ProjectExpenseCreate

    db = committed_db
    org = make_org(db, "Refund Co")
    admin = make_user(db, org, Role.admin)
    kercheval = make_property(
        db, org, address_line="14500 Kercheval Ave", city="Detroit", state="MI", zip_code="48215"
    )
    project = make_project(db, org, name="Rehab: 14500 Kercheval Ave", property_id=kercheval.id)
    roof = construction_service.list_scope_items(session=db, org_id=org.id, project_id=project.id)[
        0
    ]
    construction_service.add_expense(
        session=db, org_id=org.id, project_id=project.id,
        expense_in=ProjectExpenseCreate(amount=Decimal("600"), scope_item_id=roof.id),
    )  # fmt: skip
    db.commit()
    reply = checked_turn(admin, "Home Depot refunded us 45.20 for the roof on kercheval").reply
    assert reply.startswith("Booked a refund of $45.20 (")
    assert "$554.80 spent" in reply, reply


# --- the re-check pass: dates said in words, today/this week, "deals" --------------------------


@pytest.mark.parametrize(
    ("said", "day"),
    [
        ("spent $61 on permits for 4500 mack ave on nov 20", "11-20"),
        ("paid Ray 500 for the roof on kercheval on november 2nd", "11-02"),
        ("paid Ray 500 for the roof on kercheval on Nov 20, 2025", "2025-11-20"),
    ],
)
def test_an_expense_date_said_in_words_is_that_date(said: str, day: str) -> None:
    # Was booked as today without a word.
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == "record_expense" and plan.args["spent_on"].endswith(day)
    assert plan.args["note"] == said  # the user's own words are kept


def test_an_impossible_expense_date_is_asked_about_not_booked_as_today() -> None:
    said = "paid Ray 500 for the roof on kercheval on 2/30"
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool is None and plan.reply is not None
    assert plan.reply.startswith("I couldn't read the date 'on 2/30'")


def test_today_yesterday_and_weeks_are_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    # Friday 2026-11-27 in Detroit (01:00 UTC on the 28th).
    monkeypatch.setattr(core.clock, "utcnow", lambda: dt.datetime(2026, 11, 28, 1, tzinfo=dt.UTC))
    expected = {
        "what did we spend today?": ("2026-11-27", "2026-11-27"),
        "how much did we spend yesterday?": ("2026-11-26", "2026-11-26"),
        "p&l this week": ("2026-11-23", "2026-11-27"),
        "expenses last week": ("2026-11-16", "2026-11-22"),
    }
    for said, (start, end) in expected.items():
        plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
        assert (plan.tool, plan.args.get("start"), plan.args.get("end")) == ("pnl", start, end)


def test_deals_is_not_a_deal_named_s() -> None:
    # Was "no deal you can see is on a street called 's are over budget'".
    plan = plan_for(Conversation(text="which deals are over budget?", history=[], this_turn=[]))
    assert "deal" not in plan.args


def test_which_deals_are_over_budget_lists_the_deal_budgets_over(committed_db: Session) -> None:
    """Was read as projects (or as a deal called 's are over budget'); deal budget lines that
    were over (utilities, holding costs) were never mentioned."""
    from domain.finance import service as finance_service
    from domain.finance.enums import TransactionCategory
    from domain.finance.models import BudgetCreate, ExpenseCreate

    db = committed_db
    org = make_org(db, "Deals Over Co")
    admin = make_user(db, org, Role.admin)
    investor = make_user(db, org, Role.investor)
    over, fine = make_deal(db, org), make_deal(db, org, owner=investor)
    for deal, spent in ((over, "260"), (fine, "100")):
        finance_service.set_budget(
            session=db, org_id=org.id,
            budget_in=BudgetCreate(
                deal_id=deal.id, category=TransactionCategory.utilities,
                allocated_amount=Decimal(200),
            ),
        )  # fmt: skip
        finance_service.record_expense(
            session=db, org_id=org.id,
            expense_in=ExpenseCreate(
                category=TransactionCategory.utilities, amount=Decimal(spent),
                date=local_today(), deal_id=deal.id,
            ),
        )  # fmt: skip
    db.commit()
    team = checked_turn(admin, "which deals are over budget?")
    assert [(c.name, c.args) for c in team.tool_calls] == [("budget_status", {})]
    assert team.reply.startswith("1 deal(s) with a budget line over (worst first):")
    assert f"(deal {over.id.hex[:8]}): over by $60 in total; Utilities over by $60" in team.reply
    assert str(fine.id) not in team.reply
    # The investor sees only their own deals: theirs is within budget.
    mine = checked_turn(investor, "any deals over budget?").reply
    assert mine.startswith("No deal's budget is over")


def test_a_grouped_p_and_l_with_nothing_booked_says_so(committed_db: Session) -> None:
    # Was "By deal:" and nothing under it.
    org = make_org(committed_db, "Empty Books Co")
    admin = make_user(committed_db, org, Role.admin)
    committed_db.commit()
    reply = checked_turn(admin, "p&l by deal").reply
    assert reply.endswith("Nothing is booked in the period, so there is nothing by deal.")
