"""Booking money spent on a rehab from the team chat (``record_expense``).

Was: "paid Ray 4,000 for the roof on the kercheval rehab" got "Sorry, I didn't understand" (or
a budget answer), so every expense had to be typed into the REST API. Now the team's words
book a project expense on the right scope line (by its name, or the paid contractor's awarded
line), to the right contractor or vendor, through ``construction_service.add_expense`` (its
``construction.expense.added`` event reaches the ledger as before), and the reply says where
that leaves the line and the project. Investors and contractors may not book. Real graph,
tools and database; ``checked_turn`` asserts every figure came from the turn's tool results.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from langchain_core.messages import HumanMessage
from sqlmodel import Session, select

from agent.planner import Conversation, plan_for
from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.construction import service as construction_service
from domain.construction.enums import ExpenseCategory
from domain.construction.models import BidCreate, ProjectExpense
from domain.construction.service import ConstructionInputError
from store.outbox import OutboxEvent
from tests.agent.turns import checked_turn
from tests.factories import (
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_user,
)


@dataclass
class World:
    admin: User
    investor: User
    org_id: uuid.UUID
    kercheval: uuid.UUID  # project: roof $9,500 (awarded to Ray at $8,000), furnace $4,200
    mack: uuid.UUID  # project: the default roof and furnace lines, no bids


@pytest.fixture
def world(committed_db: Session) -> World:
    db = committed_db
    org = make_org(db, "Expense Co")
    admin = make_user(db, org, Role.admin)
    investor = make_user(db, org, Role.investor)
    kercheval = make_property(
        db, org, address_line="14500 Kercheval Ave", city="Detroit", state="MI", zip_code="48215"
    )
    mack = make_property(
        db, org, address_line="9000 Mack Ave", city="Detroit", state="MI", zip_code="48214"
    )
    deal = make_deal(db, org, owner=investor, property_id=kercheval.id, strategy="flip")
    k_project = make_project(
        db, org, name="Rehab: 14500 Kercheval Ave", deal_id=deal.id, property_id=kercheval.id
    )
    m_project = make_project(db, org, name="Make-ready: 9000 Mack Ave", property_id=mack.id)
    ray = make_contractor(db, org, name="Ray Alvarez", company="Ray's Roofing LLC")
    make_contractor(db, org, name="Hank Miller", company="Hank's Heating", trades=["hvac"])
    make_contractor(db, org, name="Hank Jones", company="Jones HVAC", trades=["hvac"])
    roof = next(
        s
        for s in construction_service.list_scope_items(
            session=db, org_id=org.id, project_id=k_project.id
        )
        if s.component == "roof"
    )
    bid = construction_service.create_bid(
        session=db,
        org_id=org.id,
        project_id=k_project.id,
        bid_in=BidCreate.model_validate(
            {
                "contractor_id": str(ray.id),
                "line_items": [{"scope_item_id": str(roof.id), "amount": "8000"}],
            }
        ),
    )
    construction_service.award_bid(
        session=db, org_id=org.id, project_id=k_project.id, bid_id=bid.id
    )
    other = make_org(db, "Other Co")
    make_project(db, other, name="Rehab: 14500 Kercheval Ave")
    db.commit()
    return World(admin, investor, org.id, k_project.id, m_project.id)


def _expenses(db: Session, project_id: uuid.UUID) -> list[ProjectExpense]:
    db.expire_all()
    return list(
        db.exec(select(ProjectExpense).where(ProjectExpense.project_id == project_id)).all()
    )


def test_paying_the_awarded_roofer_books_labour_on_his_line(
    world: World, committed_db: Session
) -> None:
    reply = checked_turn(world.admin, "paid Ray 4,000 for the roof on the kercheval rehab").reply
    (expense,) = _expenses(committed_db, world.kercheval)
    assert expense.amount == Decimal("4000.00")
    assert expense.category == ExpenseCategory.labour
    assert expense.spent_on == local_today()
    assert expense.vendor is None and expense.contractor_id is not None
    assert expense.description == "paid Ray 4,000 for the roof on the kercheval rehab"
    assert "Booked $4,000 (labour) on 14500 Kercheval Ave" in reply
    assert "paid to Ray Alvarez, roof line" in reply
    # The roof line's budget is Ray's awarded $8,000; the project's $8,000 + furnace $4,200.
    assert "The roof line has $4,000 spent of $8,000 budgeted." in reply
    assert "The project has $4,000 spent of $12,200." in reply
    # The ledger hears of it as of any expense typed into the API.
    event = committed_db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == world.org_id,
            OutboxEvent.name == "construction.expense.added",
        )
    ).one()
    assert event.payload["amount"] == "4000.00"
    assert event.payload["category"] == "rehab_labour"


def test_paying_a_contractor_without_a_line_uses_his_awarded_line(
    world: World, committed_db: Session
) -> None:
    reply = checked_turn(world.admin, "paid Ray $2,500 on 14500 Kercheval Ave").reply
    (expense,) = _expenses(committed_db, world.kercheval)
    assert expense.scope_item_id is not None
    assert "roof line" in reply
    assert "the 'roof' line of Ray Alvarez's awarded bid" in reply


def test_a_store_purchase_is_materials_with_the_vendor(world: World, committed_db: Session) -> None:
    reply = checked_turn(
        world.admin, "spent $450.25 at Home Depot on the furnace for 9000 Mack Ave yesterday"
    ).reply
    (expense,) = _expenses(committed_db, world.mack)
    assert (expense.amount, expense.category, expense.vendor) == (
        Decimal("450.25"),
        ExpenseCategory.materials,
        "Home Depot",
    )
    assert expense.spent_on == local_today() - dt.timedelta(days=1)
    assert expense.scope_item_id is not None
    assert "at Home Depot, furnace line" in reply
    assert "The furnace line has $450.25 spent of $4,200 budgeted." in reply


def test_a_line_the_project_lacks_books_to_the_project_and_says_so(
    world: World, committed_db: Session
) -> None:
    reply = checked_turn(world.admin, "log a 300 dumpster expense for drywall on the mack ave job")
    (expense,) = _expenses(committed_db, world.mack)
    assert expense.scope_item_id is None
    assert expense.category == ExpenseCategory.cleanup
    assert "no scope line" in reply.reply
    assert "the project has no 'drywall' scope line" in reply.reply
    assert "'roof', 'furnace'" in reply.reply


def test_a_repeat_is_booked_but_flagged(world: World, committed_db: Session) -> None:
    text = "paid Ray 4,000 for the roof on the kercheval rehab"
    checked_turn(world.admin, text)
    second = checked_turn(world.admin, text).reply
    assert len(_expenses(committed_db, world.kercheval)) == 2
    assert "1 other expense(s) of $4,000 were already booked on this project for that day" in (
        second
    )


def test_ambiguous_contractor_is_refused_naming_both(world: World, committed_db: Session) -> None:
    reply = checked_turn(world.admin, "paid Hank 900 for the furnace on 9000 Mack Ave").reply
    assert _expenses(committed_db, world.mack) == []
    assert "2 contractors are called 'Hank' (Hank Jones, Hank Miller): say which" in reply


def test_an_unknown_payee_is_kept_as_the_vendor(world: World, committed_db: Session) -> None:
    reply = checked_turn(world.admin, "paid Zed $125 for the furnace on 9000 Mack Ave").reply
    (expense,) = _expenses(committed_db, world.mack)
    assert expense.vendor == "Zed" and expense.contractor_id is None
    assert expense.category == ExpenseCategory.labour  # a person paid, not a store
    assert "no contractor called 'Zed' is on file: kept as the vendor" in reply


def test_investors_may_not_book_and_nothing_is_written(world: World, committed_db: Session) -> None:
    result = checked_turn(
        world.investor, "paid Ray 4,000 for the roof on 14500 Kercheval Ave", channel="whatsapp"
    )
    assert _expenses(committed_db, world.kercheval) == []
    assert "Booked" not in result.reply


def test_questions_and_purchase_prices_are_not_expenses() -> None:
    def tool(text: str) -> str | None:
        return plan_for(Conversation.read([HumanMessage(text)])).tool

    assert tool("how much have we spent on the kercheval rehab?") != "record_expense"
    assert tool("we paid 150k for 123 Main St") != "record_expense"
    assert tool("what did we pay for 14500 Kercheval Ave?") != "record_expense"
    assert tool("spent 450") != "record_expense"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "paid 3 guys 600 for demo on the mack ave job",
            {"project": "mack", "amount": "600", "line": "demolition"},
        ),
        (
            "spent 1,250.50 on lumber for 9000 Mack Ave",
            {"project": "9000 Mack Ave", "amount": "1250.50", "category": "materials"},
        ),
        (
            "paid $4,000 to Ray's Roofing for the roof at 14500 Kercheval Ave",
            {"project": "14500 Kercheval Ave", "amount": "4000", "contractor": "Ray's Roofing"},
        ),
        (
            "book a $75 permit expense for project 1a2b3c4d",
            {"project": "1a2b3c4d", "amount": "75", "category": "permits"},
        ),
        (
            "record an expense of $320 for paint on 14500 kercheval ave on 11/20",
            {"project": "14500 kercheval ave", "amount": "320", "line": "paint"},
        ),
    ],
)
def test_the_planner_reads_amount_project_line_and_payee(
    text: str, expected: dict[str, str]
) -> None:
    plan = plan_for(Conversation.read([HumanMessage(text)]))
    assert plan.tool == "record_expense"
    assert {k: plan.args.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    ("text", "project", "days_back"),
    [
        ("paid ray 4000 for the roof on kercheval", "kercheval", None),
        ("paid 4000 for roof 3 days ago on kercheval", "kercheval", 3),
        ("paid 300 for a dumpster on mack two days ago", "mack", 2),
    ],
)
def test_a_bare_street_and_days_ago_are_read(
    text: str, project: str, days_back: int | None
) -> None:
    """Was: "on kercheval" with no "rehab"/"job" was not a project, and "3 days ago" was read
    as the address "3 days ago on kercheval"."""
    plan = plan_for(Conversation.read([HumanMessage(text)]))
    assert plan.tool == "record_expense"
    assert plan.args["project"] == project
    expected = (
        None if days_back is None else (local_today() - dt.timedelta(days=days_back)).isoformat()
    )
    assert plan.args.get("spent_on") == expected


def test_last_weekday_is_the_latest_such_day_before_today() -> None:
    from agent.planner import _expense_day

    saturday = dt.date(2026, 11, 28)
    assert _expense_day("spent 50 last friday", saturday) == dt.date(2026, 11, 27)
    assert _expense_day("spent 50 on saturday", saturday) == dt.date(2026, 11, 21)
    assert _expense_day("spent 50 a day ago", saturday) == dt.date(2026, 11, 27)


def test_paid_on_a_bare_street_books_on_that_project(world: World, committed_db: Session) -> None:
    reply = checked_turn(world.admin, "paid Ray 4,000 for the roof on kercheval").reply
    (expense,) = _expenses(committed_db, world.kercheval)
    assert expense.amount == Decimal("4000.00")
    assert "Booked $4,000 (labour) on 14500 Kercheval Ave" in reply


def test_scope_line_names_match_by_word_start_and_catalogue(
    world: World, committed_db: Session
) -> None:
    def named(name: str) -> str | None:
        item = construction_service.scope_line_named(
            session=committed_db, org_id=world.org_id, project_id=world.mack, name=name
        )
        return item.component if item else None

    assert named("roofing") == "roof"
    assert named("the roof") == "roof"
    assert named("hvac") == "furnace"
    assert named("plumbing") is None
    org = committed_db.get(Organisation, world.org_id)
    assert org is not None
    project = make_project(
        committed_db,
        org,
        scope=(("kitchen cabinets", "1", "set", "3000"), ("bath cabinets", "1", "set", "800")),
    )
    with pytest.raises(ConstructionInputError, match="fits 2 scope lines"):
        construction_service.scope_line_named(
            session=committed_db, org_id=world.org_id, project_id=project.id, name="cabinets"
        )


def test_void_that_expense_right_after_booking_it(world: World, committed_db: Session) -> None:
    """A repeat is booked with a warning; "void that expense" takes it back (a reversal on the
    same line; the original stays on record) and the line's spent is back where it was."""
    thread = f"web:{uuid.uuid4().hex}"
    text = "paid Ray 4,000 for the roof on the kercheval rehab"
    checked_turn(world.admin, text, thread)
    repeat = checked_turn(world.admin, text, thread).reply
    assert "say 'void that expense'" in repeat
    voided = checked_turn(world.admin, "void that expense, it was a repeat", thread)
    assert [c.name for c in voided.tool_calls] == ["void_expense"]
    assert voided.tool_calls[0].args["reason"] == "a repeat"
    assert "The roof line now has $4,000 spent of $8,000 budgeted." in voided.reply
    rows = _expenses(committed_db, world.kercheval)
    assert sorted(e.amount for e in rows) == [
        Decimal("-4000.00"),
        Decimal("4000.00"),
        Decimal("4000.00"),
    ]
