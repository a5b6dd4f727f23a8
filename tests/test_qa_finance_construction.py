"""Defects found in a quality pass over finance and construction, each pinned by a test.

Each test failed before its fix: a long construction expense never reached the ledger,
budget status hid spending outside a line's period, progress "as of" a past day counted
later spending, a reopened project kept its completion day, a bid whose lines overflow the
money column answered 500, and the agent's finance figures were rounded to whole dollars
until they contradicted each other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction.models import ExpenseCreate as ProjectExpenseCreate
from domain.construction.models import MilestoneCreate, ProjectUpdate, TaskCreate
from domain.finance import service as finance_service
from domain.finance.enums import TransactionCategory
from domain.finance.models import BudgetCreate
from tests.construction.helpers import published
from tests.factories import (
    auth_headers,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_transaction,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools import finance as finance_tools
from tools.construction import project_status

API = "/api/v1"
D = Decimal


def _project_expense(db: Session, project: Any, amount: str, **fields: Any) -> Any:
    return construction_service.add_expense(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        expense_in=ProjectExpenseCreate.model_validate({"amount": amount, **fields}),
    )


# --- finance --------------------------------------------------------------------------------


def test_a_construction_expense_with_a_long_description_is_still_booked(db: Session) -> None:
    """A 200-character project name and a 2,000-character note (both allowed) made a
    description finance refused, so the expense never reached the ledger."""
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    project = make_project(db, org, deal_id=deal.id, name="R" * 200)
    finance_service.close_period(session=db, org_id=org.id, month=dt.date(2024, 3, 1))
    expense = _project_expense(
        db, project, "812.34", description="x" * 2000, spent_on="2024-03-15", category="permits"
    )
    (payload,) = published(db, "construction.expense.added", org.id)

    booked = finance_service.book_construction_expense(
        session=db, org_id=org.id, event_id=expense.event_id, payload=payload
    )

    assert (booked.amount, booked.deal_id, booked.date) == (
        D("812.34"),
        deal.id,
        dt.date(2024, 4, 1),
    )
    description = booked.description or ""
    assert len(description) == 2000
    assert description.startswith("R" * 200 + ": xxx")
    # The notes that explain the booking survive the shortening.
    assert description.endswith("… (dated 2024-03-15, in a closed month)")


def test_budget_status_reports_spending_outside_a_lines_period_as_unbudgeted(
    db: Session,
) -> None:
    """A January utilities line used to make February's utilities vanish from the status."""
    org = make_org(db)
    deal = make_deal(db, org, strategy="rental")
    finance_service.set_budget(
        session=db,
        org_id=org.id,
        budget_in=BudgetCreate(
            deal_id=deal.id,
            category=TransactionCategory.utilities,
            allocated_amount=D("100.00"),
            period_start=dt.date(2024, 1, 1),
            period_end=dt.date(2024, 1, 31),
        ),
    )
    for amount, day in (("40.00", "2024-01-10"), ("75.25", "2024-02-10"), ("5.00", "2024-01-31")):
        make_transaction(db, org, category="utilities", amount=amount, date=day, deal_id=deal.id)
    make_transaction(
        db,
        org,
        type="refund",
        category="utilities",
        amount="0.25",
        date="2024-02-11",
        deal_id=deal.id,
    )
    make_transaction(db, org, category="insurance", amount="300.00", deal_id=deal.id)

    status = finance_service.budget_status(session=db, org_id=org.id, deal_id=deal.id)

    assert [(line.category, line.spent) for line in status.lines] == [("utilities", D("45.00"))]
    assert status.unbudgeted_spending == {"insurance": D("300.00"), "utilities": D("75.00")}


def test_finance_tools_keep_cents_so_figures_add_up(db: Session) -> None:
    """Whole-dollar rounding said spent "$1,000" of "$1,000" yet over budget, and
    income "$2" less expenses "$1,000" = net "-$999"."""
    org = make_org(db)
    deal = make_deal(db, org, strategy="rental")
    finance_service.set_budget(
        session=db,
        org_id=org.id,
        budget_in=BudgetCreate(
            deal_id=deal.id, category=TransactionCategory.utilities, allocated_amount=D("1000")
        ),
    )
    make_transaction(
        db, org, category="utilities", amount="1000.40", date="2024-01-10", deal_id=deal.id
    )
    make_transaction(
        db,
        org,
        type="income",
        category="rents_received",
        amount="1.50",
        date="2024-01-12",
        deal_id=deal.id,
    )
    ctx = context_for(db, make_user(db, org, role=Role.analyst))

    budget = call_tool(finance_tools.budget_status, ctx, deal=str(deal.id))
    assert budget["lines"] == [
        {
            "label": "Utilities",
            "allocated": "$1,000",
            "spent": "$1,000.40",
            "remaining": "-$0.40",
            "over_budget": True,
        }
    ]
    pnl = call_tool(finance_tools.pnl, ctx, deal=str(deal.id), start="2024-01-01", end="2024-12-31")
    assert (pnl["total_income"], pnl["total_expenses"], pnl["net"]) == (
        "$1.50",
        "$1,000.40",
        "-$998.90",
    )
    assert pnl["expenses"] == {"utilities": "$1,000.40"}
    flow = call_tool(
        finance_tools.cashflow, ctx, deal=str(deal.id), start="2024-01-01", end="2024-12-31"
    )
    assert (flow["inflows"], flow["outflows"], flow["closing_balance"]) == (
        "$1.50",
        "$1,000.40",
        "-$998.90",
    )


# --- construction ---------------------------------------------------------------------------


def test_progress_as_of_a_past_day_counts_only_what_had_happened_by_then(
    db: Session,
) -> None:
    """Measured on 2024-04-01: the $100 spent in May, the task finished and the milestone
    reached today (after that day) do not count yet; the task is then late."""
    org = make_org(db)
    project = make_project(db, org)
    roof = construction_service.list_scope_items(session=db, org_id=org.id, project_id=project.id)[
        0
    ]
    _project_expense(db, project, "50.00", spent_on="2024-03-01", scope_item_id=roof.id)
    _project_expense(db, project, "100.00", spent_on="2024-05-01", scope_item_id=roof.id)
    construction_service.create_task(
        session=db,
        org_id=org.id,
        project_id=project.id,
        task_in=TaskCreate.model_validate(
            {"title": "Tear-off", "due_date": "2024-03-20", "status": "done"}
        ),
    )
    milestone = construction_service.create_milestone(
        session=db, org_id=org.id, project_id=project.id, milestone_in=MilestoneCreate(name="Demo")
    )
    construction_service.reach_milestone(
        session=db, org_id=org.id, project_id=project.id, milestone_id=milestone.id
    )

    then = construction_service.progress(
        session=db, org_id=org.id, project_id=project.id, as_of=dt.date(2024, 4, 1)
    )
    assert (then.spent, then.lines[0].spent) == (D("50.00"), D("50.00"))
    assert (then.tasks_done, then.milestones_reached) == (0, 0)
    assert [(t.title, t.days_late) for t in then.late_tasks] == [("Tear-off", 12)]

    now = construction_service.progress(session=db, org_id=org.id, project_id=project.id)
    assert (now.spent, now.tasks_done, now.milestones_reached, now.late_tasks) == (
        D("150.00"),
        1,
        1,
        [],
    )


def test_a_reopened_project_is_late_to_today_not_to_its_old_completion_day(
    db: Session,
) -> None:
    org = make_org(db)
    project = make_project(db, org)

    def update(**fields: Any) -> Any:
        return construction_service.update_project(
            session=db,
            org_id=org.id,
            project_id=project.id,
            project_in=ProjectUpdate.model_validate(fields),
        )

    update(start_date="2024-01-01", target_end_date="2024-02-01", status="in_progress")
    update(status="completed", completed_on="2024-02-11")
    completed = construction_service.progress(
        session=db, org_id=org.id, project_id=project.id, as_of=dt.date(2024, 6, 1)
    )
    assert completed.days_late == 10

    reopened = update(status="in_progress")
    assert reopened.completed_on is None
    progress = construction_service.progress(
        session=db, org_id=org.id, project_id=project.id, as_of=dt.date(2024, 6, 1)
    )
    assert progress.days_late == (dt.date(2024, 6, 1) - dt.date(2024, 2, 1)).days
    # Completing it again dates it anew.
    assert update(status="completed").completed_on is not None


def test_a_bid_whose_lines_overflow_the_money_column_is_a_clear_422(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    project = make_project(db, org)
    roof, furnace = construction_service.list_scope_items(
        session=db, org_id=org.id, project_id=project.id
    )
    contractor = make_contractor(db, org)
    biggest = "9999999999.99"
    response = client.post(
        f"{API}/projects/{project.id}/bids",
        json={
            "contractor_id": str(contractor.id),
            "line_items": [
                {"scope_item_id": str(roof.id), "amount": biggest},
                {"scope_item_id": str(furnace.id), "amount": biggest},
            ],
        },
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert "larger than 9999999999.99" in response.json()["detail"]
    assert published(db, "bid.received", org.id) == []
    # One line at the largest amount is still a valid bid.
    one = client.post(
        f"{API}/projects/{project.id}/bids",
        json={
            "contractor_id": str(contractor.id),
            "line_items": [{"scope_item_id": str(roof.id), "amount": biggest}],
        },
        headers=headers,
    )
    assert one.status_code == 201, one.text
    assert one.json()["total_amount"] == biggest
    uuid.UUID(one.json()["id"])


def test_project_status_tool_keeps_cents(db: Session) -> None:
    """Spent "$9,500" against a "$9,500" line yet over budget: the cents were rounded away."""
    org = make_org(db)
    project = make_project(db, org)
    roof = construction_service.list_scope_items(session=db, org_id=org.id, project_id=project.id)[
        0
    ]
    _project_expense(db, project, "9500.40", scope_item_id=roof.id)
    ctx = context_for(db, make_user(db, org, role=Role.analyst))

    result = call_tool(project_status, ctx, project=str(project.id))

    assert (result["budget"], result["spent"], result["remaining"]) == (
        "$13,700",
        "$9,500.40",
        "$4,199.60",
    )
    assert result["lines"][0] == {
        "component": "roof",
        "budgeted": "$9,500",
        "spent": "$9,500.40",
        "remaining": "-$0.40",
        "over_budget": True,
        "over_by": "$0.40",
    }


def test_a_project_status_moves_only_forward_or_reopens(db: Session, client: TestClient) -> None:
    """cancelled → completed and completed → planning were accepted; now a clear 409."""
    org = make_org(db)
    project = make_project(db, org)
    analyst = auth_headers(db, make_user(db, org, role=Role.analyst))

    def patch(status: str) -> Any:
        return client.patch(
            f"/api/v1/projects/{project.id}", json={"status": status}, headers=analyst
        )

    assert patch("in_progress").status_code == 200
    assert patch("completed").status_code == 200
    refused = patch("planning")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "A completed project cannot move to planning; from completed it can move to: in progress"
    )
    assert patch("in_progress").status_code == 200  # reopened for a punch list
    assert patch("cancelled").status_code == 200
    assert patch("completed").status_code == 409
    assert patch("cancelled").status_code == 200  # staying put is no move
    assert patch("planning").status_code == 200  # revived
    db.refresh(project)
    assert project.status == "planning"
