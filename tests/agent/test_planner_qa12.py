"""Planner fixes from the chat gaps left open by the eleventh session (2026-11-29, twelfth)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from sqlmodel import Session, select

from agent.planner import ONLY_OPEN_PROJECT, Conversation, plan_for
from core.clock import local_now, local_today
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.construction import service as construction_service
from domain.construction.enums import ExpenseCategory
from domain.construction.models import BidCreate, ExpenseCreate, ScopeItem
from domain.deal.models import Deal
from domain.finance import service as finance_service
from domain.finance.enums import TransactionCategory, TransactionType
from domain.finance.models import TransactionCreate
from domain.market.models import AlertCriteria
from domain.voice import service as voice_service
from domain.voice.models import CallSchedule, LeadCallRequest
from store.db import get_engine
from tests.agent.turns import checked_turn
from tests.factories import (
    listing_row,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_sold_market,
    make_subject_property,
    make_user,
    run_market_scan,
)


@dataclass
class Rehabs:
    admin: User
    org_id: uuid.UUID
    kellogg_project: uuid.UUID
    duff_project: uuid.UUID
    kellogg_deal: uuid.UUID
    duff_deal: uuid.UUID


@pytest.fixture
def rehabs(committed_db: Session) -> Rehabs:
    """Two rehabs (Kellogg and Duff), each with a deal, a $9,500 roof and a $4,200 furnace."""
    db = committed_db
    org = make_org(db, "Twelfth Rehabs Co")
    admin = make_user(db, org, Role.admin)
    ids: dict[str, uuid.UUID] = {}
    for street in ("3866 Kellogg Ave", "2718 Duff Ave"):
        prop = make_property(
            db, org, address_line=street, city="Detroit", state="MI", zip_code="48214"
        )
        deal = make_deal(db, org, property_id=prop.id, strategy="flip")
        project = make_project(
            db, org, name=f"Rehab: {street}", deal_id=deal.id, property_id=prop.id
        )
        name = street.split()[1].lower()
        ids[name], ids[f"{name}_deal"] = project.id, deal.id
    db.commit()
    return Rehabs(
        admin=admin,
        org_id=org.id,
        kellogg_project=ids["kellogg"],
        duff_project=ids["duff"],
        kellogg_deal=ids["kellogg_deal"],
        duff_deal=ids["duff_deal"],
    )


def _roof_paid(db: Session, rehabs: Rehabs, amount: str) -> None:
    roof = db.exec(
        select(ScopeItem).where(
            ScopeItem.project_id == rehabs.kellogg_project, ScopeItem.component == "roof"
        )
    ).one()
    construction_service.add_expense(
        session=db,
        org_id=rehabs.org_id,
        project_id=rehabs.kellogg_project,
        expense_in=ExpenseCreate(
            amount=Decimal(amount), category=ExpenseCategory.labour, scope_item_id=roof.id
        ),
    )
    db.commit()


def test_what_about_another_street_asks_the_same_question_there(rehabs: Rehabs) -> None:
    """Was "Sorry, I didn't understand that" to "what about duff" after "how's kellogg going"."""
    thread = f"web:{uuid.uuid4().hex}"
    first = checked_turn(rehabs.admin, "how's kellogg going", thread)
    assert "Kellogg" in first.reply
    second = checked_turn(rehabs.admin, "what about duff?", thread)
    assert [(c.name, c.ok) for c in second.tool_calls] == [("project_status", True)]
    assert "Duff" in second.reply and "Kellogg" not in second.reply
    # The same for a money question.
    checked_turn(rehabs.admin, "budget for kellogg", thread)
    third = checked_turn(rehabs.admin, "and how about duff", thread)
    assert [(c.name, c.args, c.ok) for c in third.tool_calls] == [
        ("budget_status", {"deal": "duff"}, True)
    ]
    assert "2718 Duff Ave" in third.reply


def test_what_about_with_no_street_before_is_not_guessed(rehabs: Rehabs) -> None:
    thread = f"web:{uuid.uuid4().hex}"
    checked_turn(rehabs.admin, "which deals are over budget?", thread)
    result = checked_turn(rehabs.admin, "what about duff", thread)
    assert result.tool_calls == [] and "didn't understand" in result.reply


def test_what_is_left_on_one_scope_line(rehabs: Rehabs, committed_db: Session) -> None:
    """Was "Sorry, I didn't understand that" to "whats left on the roof line"."""
    _roof_paid(committed_db, rehabs, "3000")
    thread = f"web:{uuid.uuid4().hex}"
    checked_turn(rehabs.admin, "how's the kellogg rehab going", thread)
    left = checked_turn(rehabs.admin, "whats left on the roof line", thread)
    assert [(c.name, c.ok) for c in left.tool_calls] == [("project_status", True)]
    assert left.reply == (
        "Roof line, Rehab: 3866 Kellogg Ave (3866 Kellogg Ave, Detroit, MI): $6,500 left: "
        "spent $3,000 of $9,500."
    )
    named = checked_turn(rehabs.admin, "how much is left in the furnace budget on duff?")
    assert "Furnace line, Rehab: 2718 Duff Ave" in named.reply and "$4,200 left" in named.reply
    _roof_paid(committed_db, rehabs, "7000")
    over = checked_turn(rehabs.admin, "whats left on the roof line", thread)
    assert "over budget by $500: spent $10,000 of $9,500, nothing left." in over.reply
    # A line the project does not have: the tool names the lines it has.
    none = checked_turn(rehabs.admin, "whats left on the plumbing line", thread)
    assert [(c.name, c.ok) for c in none.tool_calls] == [("project_status", False)]
    assert "roof" in none.reply and "furnace" in none.reply


def test_a_deal_named_by_its_house_number(rehabs: Rehabs) -> None:
    """Was "deal '3866' not found": a house number alone names the deal on that house."""
    result = checked_turn(rehabs.admin, "p&l for deal 3866")
    assert [(c.name, c.ok) for c in result.tool_calls] == [("pnl", True)]
    assert "3866 Kellogg Ave" in result.reply
    missing = checked_turn(rehabs.admin, "p&l for deal 4001")
    assert [(c.name, c.ok) for c in missing.tool_calls] == [("pnl", False)]
    assert "no deal you can see is on a house numbered 4001" in missing.reply


def test_a_payee_written_with_a_space_is_the_same_payee(
    rehabs: Rehabs, committed_db: Session
) -> None:
    """Was "no money paid to mid american": the ledger says "MidAmerican Energy"."""
    finance_service.record_transaction(
        session=committed_db,
        org_id=rehabs.org_id,
        transaction_in=TransactionCreate(
            type=TransactionType.expense,
            category=TransactionCategory.utilities,
            amount=Decimal("212.40"),
            date=local_today(),
            counterparty="MidAmerican Energy",
            deal_id=rehabs.kellogg_deal,
        ),
    )
    committed_db.commit()
    result = checked_turn(rehabs.admin, "how much did we pay mid american")
    assert [(c.name, c.ok) for c in result.tool_calls] == [("pnl", True)]
    assert "$212.40" in result.reply and "MidAmerican Energy" in result.reply
    page = finance_service.list_transactions(
        session=committed_db, org_id=rehabs.org_id, counterparty="mid-american"
    )
    assert page.total == 1 and page.items[0].counterparty == "MidAmerican Energy"


def test_seller_leads_from_yesterday_stop_at_the_end_of_yesterday(
    rehabs: Rehabs, committed_db: Session
) -> None:
    """Was every lead since yesterday, today's included."""
    db = committed_db
    for phone, name in (("(313) 555-0101", "Ann Yesterday"), ("(313) 555-0102", "Bo Today")):
        voice_service.submit_lead(
            session=db, org_id=rehabs.org_id, requested_by=rehabs.admin.id,
            lead=LeadCallRequest(phone=phone, address="77 Elm St, Detroit, MI 48215", name=name),
        )  # fmt: skip
    db.commit()
    ann = db.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == rehabs.org_id, CallSchedule.to_number == "+13135550101"
        )
    ).one()
    ann.created_at = local_now() - dt.timedelta(days=1)
    db.add(ann)
    db.commit()
    yesterday = (local_today() - dt.timedelta(days=1)).isoformat()
    result = checked_turn(rehabs.admin, "seller leads from yesterday")
    assert [(c.name, c.args) for c in result.tool_calls] == [
        ("seller_leads", {"since": yesterday, "until": yesterday})
    ]
    assert result.reply.startswith(f"Seller leads on {yesterday} (1)")
    assert "Ann Yesterday" in result.reply and "Bo Today" not in result.reply
    today = checked_turn(rehabs.admin, "leads today")
    assert "Bo Today" in today.reply and "Ann Yesterday" not in today.reply


def test_a_void_that_describes_another_expense_never_voids_the_last_booking(
    rehabs: Rehabs,
) -> None:
    """Was: "void the zillow ad expense from october" voided the $60 just booked on Duff."""
    thread = f"web:{uuid.uuid4().hex}"
    booked = checked_turn(
        rehabs.admin, "paid 60 at home depot for supplies on the duff rehab", thread
    )
    assert [(c.name, c.ok) for c in booked.tool_calls] == [("record_expense", True)]
    other = checked_turn(rehabs.admin, "void the zillow ad expense from october", thread)
    # The ledger is searched for what was described (nothing fits here); never the $60.
    assert [(c.name, c.ok) for c in other.tool_calls] == [("void_transaction", False)]
    assert "no live transaction matches" in other.reply
    that = checked_turn(rehabs.admin, "void that, wrong project", thread)
    assert [(c.name, c.ok) for c in that.tool_calls] == [("void_expense", True)]
    assert that.tool_calls[0].args["reason"] == "wrong project"


def test_a_date_at_the_end_of_an_expense_is_its_day_and_a_closed_month_is_said(
    rehabs: Rehabs, committed_db: Session
) -> None:
    """Was: "... on the duff job 10/15" booked today; in a closed month the reply said "dated
    10/20" while the ledger booked it on the 1st of the next open month."""
    last_month = local_today().replace(day=1) - dt.timedelta(days=1)
    day = last_month.replace(day=15)
    said = f"{day.month}/{day.day}"
    dated = checked_turn(rehabs.admin, f"log a 300 dumpster expense on the duff job {said}")
    assert [(c.name, c.args.get("spent_on")) for c in dated.tool_calls] == [
        ("record_expense", day.isoformat())
    ]
    assert f"dated {day.isoformat()}" in dated.reply and "closed" not in dated.reply
    finance_service.close_period(session=committed_db, org_id=rehabs.org_id, month=day)
    committed_db.commit()
    closed = checked_turn(
        rehabs.admin, f"paid 99 at lowes for materials on the duff rehab on {said}"
    )
    assert [(c.name, c.ok) for c in closed.tool_calls] == [("record_expense", True)]
    first_open = local_today().replace(day=1).isoformat()
    assert (
        f"the books for {day:%B %Y} are closed: the ledger books it on the first open day, "
        f"{first_open} as the books stand now (the project keeps {day.isoformat()})"
    ) in closed.reply


@pytest.mark.parametrize(
    ("said", "price"),
    [
        ("what if I pay eighty five thousand for 1215 Kellogg Ave", "85000.00"),
        ("what if i offer 85 grand for 1215 Kellogg Ave", "85000.00"),
        ("what if I pay 85000 for 1215 Kellogg Ave", "85000.00"),
        ("what if I pay a hundred and ten thousand for 1215 Kellogg Ave", "110000.00"),
    ],
)
def test_a_price_in_words_or_grand_is_the_price(said: str, price: str) -> None:
    """Was: no price at all (the analysis ran at the asking price) or an address "85000 for
    1215 Kellogg Ave"."""
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, plan.args) == (
        "analyze_property",
        {"address": "1215 Kellogg Ave", "purchase_price": price},
    )


def test_an_amount_in_words_is_booked() -> None:
    plan = plan_for(
        Conversation(
            text="paid hank twelve hundred for the roof on kellogg", history=[], this_turn=[]
        )
    )
    assert plan.tool == "record_expense" and plan.args["amount"] == "1200"


def test_a_short_id_of_no_project_of_theirs_is_not_their_open_project(
    rehabs: Rehabs, committed_db: Session
) -> None:
    """Was: "project status 7bf19dd2" (another organisation's id) answered about the caller's
    one open project without a word."""
    org = make_org(committed_db, "One Rehab Co")
    analyst = make_user(committed_db, org, Role.analyst)
    make_project(committed_db, org, name="Only rehab")
    committed_db.commit()
    other = rehabs.kellogg_project.hex[:8]
    result = checked_turn(analyst, f"project status {other}")
    assert [(c.name, c.args, c.ok) for c in result.tool_calls] == [
        ("project_status", {"project": other}, False)
    ]
    assert "Only rehab" not in result.reply and f"project {other} not found" in result.reply


def test_only_a_role_that_may_award_is_told_how(rehabs: Rehabs, committed_db: Session) -> None:
    """Was: an investor was told "Say 'award bid' and its id to accept it", then refused."""
    db = committed_db
    org = db.get(Organisation, rehabs.org_id)
    assert org is not None
    investor = make_user(db, org, Role.investor)
    deal = db.get(Deal, rehabs.duff_deal)
    assert deal is not None
    deal.owner_user_id = investor.id
    db.add(deal)
    ray = make_contractor(db, org)
    construction_service.create_bid(
        session=db,
        org_id=org.id,
        project_id=rehabs.duff_project,
        bid_in=BidCreate(contractor_id=ray.id, total_amount=Decimal("13000")),
    )
    db.commit()
    theirs = checked_turn(investor, "show me the bids for 2718 Duff Ave")
    assert [(c.name, c.ok) for c in theirs.tool_calls] == [("list_bids", True)]
    assert "Lowest: bid" in theirs.reply and "award bid" not in theirs.reply
    team = checked_turn(rehabs.admin, "show me the bids for 2718 Duff Ave")
    assert "Say 'award bid' and its id to accept it." in team.reply


@pytest.mark.parametrize(
    ("said", "tool", "args"),
    [
        (
            "paid DTE 92.10 for utilities on kellogg on 10/28/2025",
            "record_transaction",
            {"amount": "92.10", "category": "utilities", "deal": "kellogg",
             "date": "2025-10-28", "counterparty": "DTE"},
        ),
        (
            "got 1,100 rent from the tenant at 825 Ridgewood Dr on 10/1/2025",
            "record_transaction",
            {"amount": "1100", "category": "rents_received", "type": "income",
             "deal": "825 Ridgewood Dr", "date": "2025-10-01"},
        ),
        ("insurance 620 for kellogg", "record_transaction",
         {"amount": "620", "category": "insurance", "deal": "kellogg"}),
        ("property tax 1,840 on duff", "record_transaction",
         {"amount": "1840", "category": "taxes", "deal": "duff"}),
        ("are the october books closed?", "books_status", {"month": "october"}),
        ("which months are closed?", "books_status", {}),
        ("close october", "close_month", {"month": "october"}),
        ("reopen october 2026", "reopen_month", {"month": "october 2026"}),
        (
            "void the wrong DTE charge on 2200 Other St, the 870.43 one",
            "void_transaction",
            {"amount": "870.43", "deal": "2200 Other St", "counterparty": "dte"},
        ),
        ("void transaction a1b2c3d4, duplicate", "void_transaction",
         {"transaction": "a1b2c3d4", "reason": "duplicate"}),
    ],
)  # fmt: skip
def test_a_rental_s_operating_money_and_month_end_are_the_ledger_s(
    said: str, tool: str, args: dict[str, str]
) -> None:
    """Were "no project on kellogg" (booked as a rehab expense) or "didn't understand"."""
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == tool
    assert {k: v for k, v in plan.args.items() if k != "note"} == args


@pytest.mark.parametrize(
    "said",
    [
        "paid ray 4000 for the roof on kellogg",
        "spent 450 at home depot on plumbing for the kellogg rehab",
        "log a 300 dumpster expense on the ridgewood job",
    ],
)
def test_rehab_money_stays_a_project_expense(said: str) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == "record_expense"


def test_void_that_after_a_ledger_booking_voids_that_transaction(rehabs: Rehabs) -> None:
    thread = f"web:{uuid.uuid4().hex}"
    booked = checked_turn(rehabs.admin, "paid DTE 92.10 for utilities on kellogg", thread)
    assert [(c.name, c.ok) for c in booked.tool_calls] == [("record_transaction", True)]
    assert "$92.10" in booked.reply and "3866 Kellogg Ave" in booked.reply
    voided = checked_turn(rehabs.admin, "void that, wrong house", thread)
    assert [(c.name, c.ok) for c in voided.tool_calls] == [("void_transaction", True)]
    assert voided.reply.startswith("Voided transaction") and "$92.10" in voided.reply


def test_why_is_it_scored_explains_one_opportunity_part_by_part(committed_db: Session) -> None:
    """Was: "why is it scored 79?" listed the opportunities again with no breakdown."""
    db = committed_db
    org = make_org(db, "Scored Co")
    make_sold_market(db, org)
    analyst = make_user(db, org, Role.analyst)
    run_market_scan(db, org, [listing_row(1500, ListPrice=45000, DaysOnMarket=60)])
    db.commit()
    thread = f"web:{uuid.uuid4().hex}"
    listed = checked_turn(analyst, "any new opportunities?", thread)
    assert [(c.name, c.ok) for c in listed.tool_calls] == [("latest_opportunities", True)]
    score = re.search(r"score (\d+(?:\.\d+)?)", listed.reply)
    assert score is not None, listed.reply
    why = checked_turn(analyst, f"why is it scored {score.group(1)}?", thread)
    assert [(c.name, c.args.get("explain"), c.ok) for c in why.tool_calls] == [
        ("latest_opportunities", score.group(1), True)
    ]
    lines = why.reply.splitlines()
    assert lines[0].endswith(f"score {score.group(1)} of 100, " + lines[0].split(", ")[-1])
    parts = [line for line in lines if line.startswith("• ")]
    assert len(parts) >= 3 and all(" of " in p for p in parts)
    # The parts add up to the score (points of each part, as the tool restated them).
    points = [Decimal(re.search(r": ([\d.]+) of ", p).group(1)) for p in parts if ": not" not in p]  # type: ignore[union-attr]
    assert sum(points) == Decimal(score.group(1))
    pronoun = checked_turn(analyst, "why is it scored so high?", thread)
    assert [(c.name, c.ok) for c in pronoun.tool_calls] == [("latest_opportunities", True)]
    assert pronoun.reply == why.reply


@pytest.mark.parametrize(
    ("said", "args"),
    [
        # The house number was the amount ("1215") and the deal "1100 rent from the tenant ...".
        ("got 1100 rent from the tenant at 1215 kellogg on 11/1",
         {"amount": "1100", "category": "rents_received", "type": "income",
          "deal": "1215 kellogg", "date": "2026-11-01"}),
        ("got 950 rent from the duff tenant",
         {"amount": "950", "category": "rents_received", "type": "income", "deal": "duff"}),
        ("paid 1840 property tax on duff", {"amount": "1840", "category": "taxes", "deal": "duff"}),
        # Booked with no deal: the street was not at the end.
        ("got 1,100 from the rental on duff for rent 11/2",
         {"amount": "1100", "category": "rents_received", "type": "income", "deal": "duff",
          "date": "2026-11-02"}),
        ("snow removal 60 for kellogg, paid 11/28",
         {"amount": "60", "category": "cleaning_and_maintenance", "deal": "kellogg",
          "date": "2026-11-28"}),
        # Lower-case payees were dropped.
        ("paid mid american 143.55 for gas on duff 10/15",
         {"amount": "143.55", "category": "utilities", "deal": "duff", "date": "2026-10-15",
          "counterparty": "Mid American"}),
        ("water bill 45.60 for kellogg 11/2",
         {"amount": "45.60", "category": "utilities", "deal": "kellogg", "date": "2026-11-02"}),
        ("rental income 1,100 from kellogg 11/1",
         {"amount": "1100", "category": "rents_received", "type": "income", "deal": "kellogg",
          "date": "2026-11-01"}),
        # Was a refund on the rehab project the thread had discussed (another house).
        ("state farm refunded 110 on duff for the insurance",
         {"amount": "110", "category": "insurance", "type": "refund", "counterparty": "State Farm",
          "deal": "duff"}),
    ],
)  # fmt: skip
def test_more_ways_a_bookkeeper_books_a_rental_s_money(
    said: str, args: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.planner.local_today", lambda: dt.date(2026, 11, 29))
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == "record_transaction", plan
    assert {k: v for k, v in plan.args.items() if k != "note"} == args


def test_rent_with_no_rental_named_asks_which() -> None:
    plan = plan_for(Conversation(text="got 1,100 rent", history=[], this_turn=[]))
    assert plan.tool is None and (plan.reply or "").startswith("Which rental")


@pytest.mark.parametrize(
    ("said", "args"),
    [
        ("void the insurance on duff from october, double entry",
         {"deal": "duff", "category": "insurance", "reason": "double entry"}),
        ("void the 92.10 dte on kellogg",
         {"amount": "92.10", "deal": "kellogg", "counterparty": "dte"}),
        ("void the 620 insurance charge", {"amount": "620", "category": "insurance"}),
        ("void the rent payment on duff from 11/4",
         {"deal": "duff", "category": "rents_received", "start": "2026-11-04",
          "end": "2026-11-04"}),
    ],
)  # fmt: skip
def test_voids_described_without_the_word_charge(
    said: str, args: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were "didn't understand", an analysis of "620 insurance", or the date ignored."""
    monkeypatch.setattr("agent.planner.local_today", lambda: dt.date(2026, 11, 29))
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == "void_transaction"
    got = {k: v for k, v in plan.args.items() if k not in ("start", "end") or "start" in args}
    assert got == args


def test_what_did_we_sell_a_street_for_is_that_street_s_deal() -> None:
    """Was the deal the thread had discussed (another house)."""
    for said in ("what did we sell ridgewood for", "what did we pay for kellogg"):
        plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
        assert plan.tool == "what_we_paid" and plan.args["deal"] in said


def test_repairs_on_a_rental_with_no_rehab_go_in_the_ledger(rehabs: Rehabs) -> None:
    """Was "no project you can see is on a street called 'ridgewood'"."""
    org_user = rehabs.admin
    with Session(get_engine()) as db:
        org = db.get(Organisation, rehabs.org_id)
        assert org is not None
        rental = make_property(
            db, org, address_line="825 Ridgewood Dr", city="Detroit", state="MI", zip_code="48214"
        )
        make_deal(db, org, property_id=rental.id, strategy="rental")
        db.commit()
    result = checked_turn(org_user, "paid the plumber 350 for repairs on ridgewood")
    assert [(c.name, c.ok) for c in result.tool_calls] == [
        ("record_expense", False),
        ("record_transaction", True),
    ]
    assert result.tool_calls[1].args["category"] == "repairs"
    assert "No rehab project is on that house" in result.reply
    assert "$350" in result.reply and "825 Ridgewood Dr" in result.reply


@pytest.mark.parametrize(
    ("said", "args"),
    [
        ("pat says he cant start till the 10th on mack, can you update it",
         {"project": "mack", "contractor": "pat"}),
        ("move ray's start on kellogg to Dec 10", {"project": "kellogg", "contractor": "ray"}),
        ("push hank to monday on kercheval", {"project": "kercheval", "contractor": "hank"}),
        ("ray says he cant start till the 10th, can you update it",
         {"project": ONLY_OPEN_PROJECT, "contractor": "ray"}),
        ("sue says she can start on the 9th at duff instead",
         {"project": "duff", "contractor": "sue"}),
        ("ray cant make it till monday on kellogg", {"project": "kellogg", "contractor": "ray"}),
    ],
)  # fmt: skip
def test_the_team_accepts_a_contractor_s_new_start(said: str, args: dict[str, str]) -> None:
    """Was "Sorry, I didn't understand that" (and no way to move an awarded start at all)."""
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == "reschedule_contractor"
    assert {k: plan.args[k] for k in args} == args
    assert dt.date.fromisoformat(plan.args["start_date"]) >= local_today()


@pytest.mark.parametrize(
    "said",
    [
        "move kellogg to closed",
        "push the kellogg deal to closed",
        "move the roof task",
        "we cant start till the 10th",
    ],
)
def test_moving_a_deal_is_not_a_reschedule(said: str) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool != "reschedule_contractor"


def test_quiet_hours_are_changed_or_removed_without_losing_the_alerts(
    committed_db: Session,
) -> None:
    """Were "didn't understand" ("no quiet hours") and the whole criteria replaced."""
    db = committed_db
    org = make_org(db, "Quiet Co")
    investor = make_user(db, org, Role.investor)
    db.commit()
    thread = f"web:{uuid.uuid4().hex}"
    saved = checked_turn(
        investor, "alert me to flips in 50010 under 120k, not between 10pm and 7am", thread
    )
    assert "quiet hours 22:00-07:00" in saved.reply and "50010" in saved.reply
    off = checked_turn(investor, "no quiet hours", thread)
    assert [(c.name, c.ok) for c in off.tool_calls] == [("configure_alerts", True)]
    assert "50010" in off.reply and "no quiet hours (alerts come at any hour)" in off.reply
    again = checked_turn(investor, "quiet hours 9pm to 6am", thread)
    assert "50010" in again.reply and "quiet hours 21:00-06:00" in again.reply
    with Session(get_engine()) as fresh:
        criteria = fresh.exec(
            select(AlertCriteria).where(AlertCriteria.user_id == investor.id)
        ).one()
        assert criteria.zip_codes == ["50010"] and criteria.strategies == ["flip"]
        assert criteria.quiet_hours_start == dt.time(21, 0)


def test_what_about_never_repeats_a_write(rehabs: Rehabs, committed_db: Session) -> None:
    """Was: "paid 60 at home depot for supplies on the kellogg rehab" then "what about duff?"
    booked $60 on Duff too ("close october" then "what about september?" closed September)."""
    thread = f"web:{uuid.uuid4().hex}"
    checked_turn(rehabs.admin, "paid 60 at home depot for supplies on the kellogg rehab", thread)
    again = checked_turn(rehabs.admin, "what about duff?", thread)
    assert again.tool_calls == [] and again.reply.startswith("Do you mean the same for duff?")
    duff = construction_service.list_expenses(
        session=committed_db, org_id=rehabs.org_id, project_id=rehabs.duff_project
    )
    assert list(duff) == []
    plan = plan_for(
        Conversation(
            text="what about september?",
            history=[
                HumanMessage("close october"),
                AIMessage("", tool_calls=[{"name": "close_month", "args": {"month": "october"},
                                           "id": "c1"}]),
            ],
            this_turn=[],
        )
    )  # fmt: skip
    assert plan.tool is None


@pytest.mark.parametrize(
    ("said", "tool", "args"),
    [
        # The rehab in words was dropped (the max offer used the estimate).
        ("max offer on 4120 Lincoln Way if rehab is twenty grand", "max_offer",
         {"address": "4120 Lincoln Way", "rehab_cost": "20000.00"}),
        ("offer 95000 on duff", "make_offer", {"deal": "duff", "offer_amount": "95000"}),
        ("what if I offer 95000 for 1215 Kellogg Ave", "analyze_property",
         {"address": "1215 Kellogg Ave", "purchase_price": "95000.00"}),
        ("is kellogg over budget?", "project_status", {"project": "kellogg"}),
        ("add a task to order two thousand sqft of flooring on kellogg", "add_task",
         {"project": "kellogg", "title": "order two thousand sqft of flooring"}),
    ],
)  # fmt: skip
def test_regressions_found_by_the_chat_hunt(said: str, tool: str, args: dict[str, str]) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == tool
    assert {k: plan.args.get(k) for k in args} == args


def test_a_utility_with_no_deal_there_is_said_once(rehabs: Rehabs) -> None:
    """Was: "paid comcast 60 for internet on ridgewood" booked as repairs; with no deal there the
    reply said it went in the ledger, then that it could not be booked."""
    result = checked_turn(rehabs.admin, "paid sue 500 for plumbing on lincoln")
    assert "goes in the ledger" not in result.reply
    assert "no project you can see is on a street called 'lincoln'" in result.reply
    plan = plan_for(
        Conversation(text="paid comcast 60 for internet on ridgewood", history=[], this_turn=[])
    )
    assert (plan.tool, plan.args["category"], plan.args["deal"]) == (
        "record_transaction",
        "utilities",
        "ridgewood",
    )


def test_track_it_right_after_make_it_a_deal_says_it_is_one(committed_db: Session) -> None:
    """Was "Which property? Say 'create a deal on' ..." right after the deal was made."""
    db = committed_db
    org = make_org(db, "Track It Co")
    make_sold_market(db, org)
    make_subject_property(db, org)
    analyst = make_user(db, org, Role.analyst)
    db.commit()
    t = f"web:{uuid.uuid4().hex}"
    checked_turn(analyst, "1234 Subject Ave", t)
    a = checked_turn(analyst, "make it a deal", t)
    b = checked_turn(analyst, "track it", t)
    assert b.tool_calls == [] and b.reply.startswith("It is a deal already (deal "), b.reply
    assert a.reply.split()[2] in b.reply


def test_what_did_we_sell_it_for_says_when_no_sale_is_booked(rehabs: Rehabs) -> None:
    """Was "We paid $70,000 for 825 Ridgewood Ave ..." with no word on the sale asked about."""
    result = checked_turn(rehabs.admin, "what did we sell kellogg for")
    assert (result.tool_calls[0].name, result.tool_calls[0].ok) == ("what_we_paid", True)
    assert result.reply.startswith("No sale is booked on 3866 Kellogg Ave")
    paid = checked_turn(rehabs.admin, "what did we pay for kellogg")
    assert "No sale is booked" not in paid.reply


@pytest.mark.parametrize(
    ("said", "zone"),
    [
        ("alert me to flips in 50014 under 120k, not between 10pm and 7am pacific time",
         "America/Los_Angeles"),
        ("alert me to flips in 50014 under 120k, quiet hours 10pm to 7am PT",
         "America/Los_Angeles"),
        ("alert me to flips in 50014 under 120k, quiet hours 10pm to 7am central",
         "America/Chicago"),
    ],
)  # fmt: skip
def test_alerts_with_a_time_zone_are_saved(said: str, zone: str) -> None:
    """Were a list of opportunities (nothing saved): "120k, pacific time" read as an address."""
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool == "configure_alerts"
    assert plan.args["timezone"] == zone and plan.args["zip_codes"] == ["50014"]
    assert (plan.args["quiet_hours_start"], plan.args["quiet_hours_end"]) == ("22:00", "07:00")


def test_no_quiet_hours_inside_an_alert_sentence_is_kept(committed_db: Session) -> None:
    """Was: "alert me to flips in 50014 under 120k, no quiet hours" kept the old 22:00-07:00."""
    db = committed_db
    org = make_org(db, "No Quiet Co")
    investor = make_user(db, org, Role.investor)
    db.commit()
    thread = f"web:{uuid.uuid4().hex}"
    checked_turn(
        investor, "alert me to flips in 50014 under 120k, not between 10pm and 7am", thread
    )
    saved = checked_turn(investor, "alert me to flips in 50014 under 120k, no quiet hours", thread)
    assert "quiet hours 22:00" not in saved.reply
    assert "no quiet hours (alerts come at any hour)" in saved.reply
