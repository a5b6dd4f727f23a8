"""Progress by tasks, budget and schedule; expenses flow to finance as ledger transactions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from domain.construction import service
from domain.construction.models import ExpenseCreate, ProjectUpdate, TaskCreate, TaskUpdate
from domain.finance import service as finance_service
from domain.finance.enums import TransactionCategory
from store import events
from tests.construction.helpers import published
from tests.factories import make_contractor, make_deal, make_org, make_project


def _expense(db: Session, project: Any, amount: str, **fields: Any) -> Any:
    return service.add_expense(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        expense_in=ExpenseCreate.model_validate({"amount": amount, **fields}),
    )


def test_progress_by_tasks_budget_lines_and_schedule(db: Session) -> None:
    """Budget $13,700 (roof $9,500 + furnace $4,200); spent $10,100 (roof $9,800 -- over --
    plus $300 on no line): 73.7 % of budget. Tasks: 1 of 3 done (33.3 %), one cancelled left
    out. Target end 2027-03-20, measured 2027-03-25: 5 days late; the furnace task was due
    2027-03-15: 10 days late, so the slip is 10 days."""
    org = make_org(db)
    project = make_project(db, org)
    service.update_project(
        session=db,
        org_id=org.id,
        project_id=project.id,
        project_in=ProjectUpdate(
            start_date=dt.date(2027, 3, 1), target_end_date=dt.date(2027, 3, 20)
        ),
    )
    roof, furnace = service.list_scope_items(session=db, org_id=org.id, project_id=project.id)
    for title, due, status in [
        ("Tear-off", "2027-03-03", "done"),
        ("Furnace", "2027-03-15", "in_progress"),
        ("Paint", "2027-03-30", "todo"),
        ("Skylight", "2027-03-10", "cancelled"),
    ]:
        service.create_task(
            session=db,
            org_id=org.id,
            project_id=project.id,
            task_in=TaskCreate.model_validate({"title": title, "due_date": due, "status": status}),
        )
    _expense(db, project, "6000", scope_item_id=roof.id, category="labour")
    _expense(db, project, "3800", scope_item_id=roof.id, category="materials")
    _expense(db, project, "300", category="permits")
    report = service.progress(
        session=db, org_id=org.id, project_id=project.id, as_of=dt.date(2027, 3, 25)
    )
    assert (report.tasks_done, report.tasks_total) == (1, 3)
    assert report.percent_complete_by_tasks == Decimal("33.3")
    assert (report.budget, report.spent, report.remaining) == (
        Decimal("13700.00"),
        Decimal("10100.00"),
        Decimal("3600.00"),
    )
    assert report.percent_complete_by_budget == Decimal("73.7")
    assert report.unallocated_spent == Decimal("300.00")
    roof_line, furnace_line = report.lines
    assert (roof_line.spent, roof_line.remaining, roof_line.over_budget) == (
        Decimal("9800.00"),
        Decimal("-300.00"),
        True,
    )
    assert (furnace_line.spent, furnace_line.percent_spent) == (Decimal("0.00"), Decimal("0.0"))
    assert report.days_late == 5
    assert [(t.title, t.days_late) for t in report.late_tasks] == [("Furnace", 10)]
    assert report.schedule_slip_days == 10
    assert furnace.id == furnace_line.scope_item_id


def test_an_expense_is_published_as_finance_expects(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    project = make_project(db, org, deal_id=deal.id)
    roofer = make_contractor(db, org)
    roof = service.list_scope_items(session=db, org_id=org.id, project_id=project.id)[0]
    expense = _expense(
        db,
        project,
        "2500.00",
        scope_item_id=roof.id,
        contractor_id=roofer.id,
        category="labour",
        spent_on="2026-03-04",
        description="Roof deposit",
    )
    (payload,) = published(db, "construction.expense.added", org.id)
    assert payload == {
        "amount": "2500.00",
        "deal_id": str(deal.id),
        "project_id": str(project.id),
        "category": "rehab_labour",
        "date": "2026-03-04",
        "description": "Rehab: 123 Main St: Roof deposit",
        "contractor": "Ray's Roofing",
        "vendor": None,
        "expense_id": str(expense.id),
        "scope_item_id": str(roof.id),
        "property_id": str(deal.property_id),
    }
    assert expense.event_id is not None


def test_an_expense_on_another_projects_line_is_refused(db: Session) -> None:
    org = make_org(db)
    project, other = make_project(db, org), make_project(db, org, name="Other")
    foreign = service.list_scope_items(session=db, org_id=org.id, project_id=other.id)[0]
    with pytest.raises(service.ConstructionInputError, match="not part of project"):
        _expense(db, project, "10", scope_item_id=foreign.id)
    assert published(db, "construction.expense.added", org.id) == []


def test_a_booked_expense_becomes_a_finance_transaction(
    committed_db: Session, engine: Engine
) -> None:
    from workers import events as relay

    events.load_subscribers()
    org = make_org(committed_db)
    deal = make_deal(committed_db, org, strategy="flip", estimated_repairs=Decimal("5000"))
    project = make_project(committed_db, org, deal_id=deal.id)
    committed_db.commit()
    relay.relay_once(inline=True)
    expense = _expense(committed_db, project, "1234.56", category="materials")
    committed_db.commit()
    relay.relay_once(inline=True)
    relay.relay_once(inline=True)  # nothing is delivered twice
    with Session(engine) as fresh:
        page = finance_service.list_transactions(session=fresh, org_id=org.id, deal_id=deal.id)
        (booked,) = page.items
        assert booked.source_event_id == expense.event_id
        assert (booked.amount, booked.category) == (
            Decimal("1234.56"),
            TransactionCategory.rehab_materials,
        )
        assert booked.project_id == project.id
        assert booked.description == "Rehab: 123 Main St: materials"


def test_completing_a_task_done_again_keeps_one_completion(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)
    task = service.create_task(
        session=db, org_id=org.id, project_id=project.id, task_in=TaskCreate(title="Demo")
    )
    for status in ("done", "in_progress", "done"):
        service.update_task(
            session=db,
            org_id=org.id,
            project_id=project.id,
            task_id=task.id,
            task_in=TaskUpdate.model_validate({"status": status}),
        )
    # Reopened and done again: each completion is news, two events.
    assert len(published(db, "task.completed", org.id)) == 2
