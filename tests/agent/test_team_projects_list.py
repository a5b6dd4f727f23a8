"""The team's questions about every project at once: "show me all projects", "which projects
are over budget?", "any rehabs behind schedule?" (before, the assistant said it could not list
projects). Real graph, tools and database; every figure in a reply comes from the turn's tool
results (``turn`` checks it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlmodel import Session

from agent.planner import Conversation, plan_for
from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import User
from domain.construction import service as construction_service
from domain.construction.enums import ProjectStatus
from domain.construction.models import ExpenseCreate, ProjectUpdate
from tests.agent.turns import checked_turn
from tests.factories import make_deal, make_org, make_project, make_property, make_user


@dataclass
class Org:
    admin: User
    investor: User


@pytest.fixture
def org(committed_db: Session) -> Org:
    """Three projects: one over budget and late (on the investor's deal), one on budget, one
    completed; plus another organisation's project over budget (never listed)."""
    db = committed_db
    org = make_org(db, "Projects Co")
    admin = make_user(db, org, Role.admin)
    investor = make_user(db, org, Role.investor)
    over = make_project(
        db, org, name="Rehab: 100 Main St",
        deal_id=make_deal(db, org, owner=investor).id,
        target_end_date=local_today() - dt.timedelta(days=12),
    )  # fmt: skip
    construction_service.add_expense(
        session=db, org_id=org.id, project_id=over.id,
        expense_in=ExpenseCreate(amount=Decimal("15000"), spent_on=local_today()),
    )  # fmt: skip
    on_budget = make_project(
        db, org, name="Make-ready: 200 Oak St", property_id=make_property(db, org).id
    )
    construction_service.add_expense(
        session=db, org_id=org.id, project_id=on_budget.id,
        expense_in=ExpenseCreate(amount=Decimal("2000"), spent_on=local_today()),
    )  # fmt: skip
    done = make_project(db, org, name="Rehab: 300 Elm St")
    for status in (ProjectStatus.in_progress, ProjectStatus.completed):
        construction_service.update_project(
            session=db, org_id=org.id, project_id=done.id,
            project_in=ProjectUpdate(status=status),
        )  # fmt: skip
    other = make_org(db, "Elsewhere LLC")
    theirs = make_project(db, other, name="Rehab: 999 Secret Rd")
    construction_service.add_expense(
        session=db, org_id=other.id, project_id=theirs.id,
        expense_in=ExpenseCreate(amount=Decimal("50000"), spent_on=local_today()),
    )  # fmt: skip
    db.commit()
    return Org(admin=admin, investor=investor)


@pytest.mark.parametrize(
    ("said", "args"),
    [
        ("show me all projects", {"include_closed": True}),
        ("projects over budget?", {"over_budget": True}),
        ("any rehabs behind schedule?", {"behind_schedule": True}),
        ("which jobs are over budget and late?", {"over_budget": True, "behind_schedule": True}),
        ("list our open projects", {}),
        ("total spent across all projects?", {"include_closed": True}),
    ],
)
def test_questions_about_every_project_list_them(said: str, args: dict[str, bool]) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == ("list_projects", args)


def test_the_team_sees_every_project_worst_first_with_totals(org: Org) -> None:
    result = checked_turn(org.admin, "show me all projects")
    assert [(c.name, c.ok) for c in result.tool_calls] == [("list_projects", True)]
    lines = result.reply.splitlines()
    # Budgets are the default scope ($13,700 each); $17,000 spent in all.
    assert lines[0] == "3 projects (worst first): spent $17,000 of $41,100 budgeted."
    assert lines[1].startswith("• Rehab: 100 Main St (")
    assert "spent $15,000 of $13,700 OVER BUDGET, 12 days behind" in lines[1]
    assert "Make-ready: 200 Oak St" in lines[2] and "spent $2,000 of $13,700," in lines[2]
    assert "Rehab: 300 Elm St" in lines[3] and "completed" in lines[3]
    assert "Secret" not in result.reply


def test_over_budget_narrows_to_those_and_open_only(org: Org) -> None:
    result = checked_turn(org.admin, "which projects are over budget?")
    assert "1 open project over budget (worst first): spent $15,000 of $13,700" in result.reply
    assert "Oak St" not in result.reply and "Elm St" not in result.reply


def test_nothing_behind_schedule_is_said_plainly(org: Org, committed_db: Session) -> None:
    result = checked_turn(org.admin, "any rehabs behind schedule?")
    assert "Rehab: 100 Main St" in result.reply and "Oak St" not in result.reply
    investor_view = checked_turn(org.investor, "list our open projects")
    # The investor sees only the project on their own deal.
    assert investor_view.reply.startswith("1 open project (worst first)")
    assert "100 Main St" in investor_view.reply and "Oak St" not in investor_view.reply


def test_no_projects_over_budget_says_so(committed_db: Session) -> None:
    org = make_org(committed_db, "Tidy Builders")
    admin = make_user(committed_db, org, Role.admin)
    make_project(committed_db, org, name="Rehab: 1 Calm St")
    committed_db.commit()
    result = checked_turn(admin, "projects over budget?")
    assert result.reply.startswith("No open projects are over budget.")


@pytest.mark.parametrize(
    ("said", "args"),
    [
        # No project word: these asked "Which deal?" or were not understood.
        ("what is over budget?", {"over_budget": True}),
        ("anything over budget?", {"over_budget": True}),
        ("how are the budgets?", {}),
        ("what is running behind?", {"behind_schedule": True}),
        ("what's late?", {"behind_schedule": True}),
    ],
)
def test_budget_and_schedule_questions_without_a_project_word_list_projects(
    said: str, args: dict[str, bool]
) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == ("list_projects", args)


@pytest.mark.parametrize(
    ("said", "tool", "args"),
    [
        # A named project's budget was read as a rehab estimate to price.
        ("budget for the kercheval rehab", "project_status", {"project": "kercheval"}),
        ("how much is the rehab budget on the kercheval job?", "project_status",
         {"project": "kercheval"}),
        # The deal id, not "1a2b3c4d over budget" (which no deal is called).
        ("is deal 1a2b3c4d over budget?", "budget_status", {"deal": "1a2b3c4d"}),
        # Still a deal's budget or the user's own figure, as before.
        ("is it over budget?", None, {}),
        ("budget for deal facade", "budget_status", {"deal": "facade"}),
        ("max offer on 123 main st with a 40k rehab budget", "max_offer",
         {"address": "123 main st", "rehab_cost": "40000.00"}),
    ],
)  # fmt: skip
def test_a_named_budget_goes_to_its_project_or_deal(
    said: str, tool: str | None, args: dict[str, str]
) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == (tool, args)


def test_what_is_over_budget_answers_with_the_projects(org: Org) -> None:
    result = checked_turn(org.admin, "what is over budget?")
    # No project word: the projects over budget, then the deals' budget lines over.
    assert [(c.name, c.ok) for c in result.tool_calls] == [
        ("list_projects", True),
        ("budget_status", True),
    ]
    assert "1 open project over budget (worst first): spent $15,000 of $13,700" in result.reply
    assert "No deal's budget is over: every line is within its allocation." in result.reply
    only_projects = checked_turn(org.admin, "which projects are over budget?")
    assert [c.name for c in only_projects.tool_calls] == ["list_projects"]
