"""QA of a project manager's chat questions (a whole house run from purchase to sale).

Defects found and pinned here:

- "how is the kellogg ave rehab going?" listed only the first eight scope lines, so the ninth,
  over its budget, vanished from the reply (REST progress showed it). Every line over budget
  is now shown first; the rest up to eight, then the others by name.
- "budget for kellogg" answered "Which deal?", and "p&l for kellogg" silently gave the whole
  organisation's P&L. A bare street word that ends a money question now names the deal on that
  street (the tool says so when there is none); spending words ("p&l for plumbing") do not.

Real graph, tools and database; ``checked_turn`` asserts every figure in a reply came from
that turn's tool results.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from langchain_core.messages import HumanMessage
from sqlmodel import Session

from agent.planner import Conversation, plan_for
from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import User
from domain.construction import service as construction_service
from domain.construction.models import ExpenseCreate
from tests.agent.turns import checked_turn
from tests.factories import (
    make_deal,
    make_org,
    make_project,
    make_property,
    make_transaction,
    make_user,
)

LINES = [f"line {n}" for n in "abcdefgh"] + ["electrical panel upgrade"]


@dataclass
class World:
    admin: User
    org_id: uuid.UUID
    deal_id: uuid.UUID


@pytest.fixture
def world(committed_db: Session) -> World:
    db = committed_db
    org = make_org(db, "Kellogg Co")
    admin = make_user(db, org, Role.admin)
    kellogg = make_property(
        db, org, address_line="1215 Kellogg Ave", city="Detroit", state="MI", zip_code="48214"
    )
    other = make_property(
        db, org, address_line="77 Ridgewood Ave", city="Detroit", state="MI", zip_code="48214"
    )
    deal = make_deal(db, org, property_id=kellogg.id, strategy="flip")
    make_deal(db, org, property_id=other.id, strategy="flip")
    project = make_project(
        db,
        org,
        name="Rehab: 1215 Kellogg Ave",
        deal_id=deal.id,
        property_id=kellogg.id,
        scope=[(name, "1", "job", "1000") for name in LINES],
    )
    panel = next(
        s
        for s in construction_service.list_scope_items(
            session=db, org_id=org.id, project_id=project.id
        )
        if s.component == "electrical panel upgrade"
    )
    construction_service.add_expense(
        session=db,
        org_id=org.id,
        project_id=project.id,
        expense_in=ExpenseCreate.model_validate(
            {"amount": "1250.10", "scope_item_id": str(panel.id), "spent_on": local_today()}
        ),
    )
    year = local_today().year
    make_transaction(
        db, org, category="repairs", amount="321.57", date=f"{year}-01-02", deal_id=deal.id
    )
    make_transaction(db, org, category="advertising", amount="9999.00", date=f"{year}-01-03")
    db.commit()
    return World(admin=admin, org_id=org.id, deal_id=deal.id)


def test_an_over_budget_ninth_line_is_in_the_project_reply(world: World) -> None:
    reply = checked_turn(world.admin, "how is the kellogg ave rehab going?").reply
    assert "• electrical panel upgrade: spent $1,250.10 of $1,000 — over budget" in reply
    # Seven more lines with figures (eight in all), the last by name only.
    shown = [line for line in reply.splitlines() if line.startswith("• line ")]
    assert len(shown) == 7
    assert "• other lines (not over budget): line h" in reply


def test_budget_and_pnl_for_a_bare_street_name_the_deal(world: World) -> None:
    budget = checked_turn(world.admin, "budget for kellogg").reply
    assert "Which deal?" not in budget
    assert "1215 Kellogg Ave" in budget
    pnl = checked_turn(world.admin, "p&l for kellogg").reply
    assert f"P&L for deal {world.deal_id.hex[:8]}" in pnl and "1215 Kellogg Ave" in pnl
    assert "$321.57" in pnl
    assert "9,999" not in pnl  # the organisation's advertising is not this deal's


def test_a_street_with_no_deal_is_said_not_answered_for_everyone(world: World) -> None:
    reply = checked_turn(world.admin, "p&l for mackinaw").reply
    assert "whole organisation" not in reply
    assert "mackinaw" in reply.lower()


@pytest.mark.parametrize(
    "text",
    [
        "how much have we spent on plumbing?",
        "what's the p&l for the year?",
        "cash flow for the company",
        "p&l for everything",
    ],
)
def test_spending_words_and_the_whole_company_stay_organisation_wide(text: str) -> None:
    plan = plan_for(Conversation.read([HumanMessage(text)]))
    assert plan.tool in {"pnl", "cashflow"}
    assert "deal" not in plan.args


def test_projects_over_budget_names_a_line_over_when_the_total_is_not(world: World) -> None:
    """Was: "No open projects are over budget." while the panel line was $250.10 over."""
    reply = checked_turn(world.admin, "which projects are over budget?").reply
    assert "No open projects" not in reply
    assert "lines over budget: electrical panel upgrade $1,250.10 of $1,000" in reply
