"""A project manager's QA pass over construction (repro notes in /tmp/qa_pm/).

1. ``POST /projects`` took a negative budget (PATCH already refused it).
2. Awarding a bid already accepted answered 200 again and logged a second award.
3. Leveling filled a line a bid left out at the catalogue's replacement cost even when the
   project budgets the line at a repair price (furnace $350 filled at $3,500).
4. A project went to completed with open tasks, and took new tasks once completed.
5. "Which projects are over budget?" missed projects whose scope lines were over budget.
6. The award_bid tool rounded the budget to whole dollars ($26,695 for $26,695.10).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import AuditLog, Organisation
from domain.construction import service
from domain.construction.enums import ActivityKind, BidStatus, ProjectStatus, TaskStatus
from domain.construction.models import (
    BidCreate,
    ExpenseCreate,
    Project,
    ProjectActivity,
    ProjectCreate,
    ProjectUpdate,
    Task,
    TaskCreate,
)
from tests.factories import auth_headers, make_contractor, make_org, make_project, make_user
from tests.tools.helpers import call_tool, context_for
from tools.construction import award_bid, list_bids, list_projects

API = "/api/v1"


def _lines(db: Session, project: Project) -> dict[str, uuid.UUID]:
    scope = service.list_scope_items(session=db, org_id=project.org_id, project_id=project.id)
    return {s.component: s.id for s in scope}


def _bid(db: Session, org: Organisation, project: Project, name: str = "Ray", **fields: Any) -> Any:
    contractor = make_contractor(db, org, name=name)
    return service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate.model_validate({"contractor_id": contractor.id} | fields),
    )


# --- 1. a negative budget on create ---------------------------------------------------------


def test_a_negative_budget_is_refused_when_a_project_is_created(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    response = client.post(
        f"{API}/projects", json={"name": "negative", "budget": "-100"}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert "budget cannot be negative" in response.text
    assert service.list_projects(session=db, org_id=org.id) == []
    # The service refuses it too, whatever built the input.
    with pytest.raises(service.ConstructionInputError, match="budget cannot be negative"):
        service.create_project(
            session=db,
            org_id=org.id,
            project_in=ProjectCreate.model_construct(name="negative", budget=Decimal("-100")),
        )
    assert service.list_projects(session=db, org_id=org.id) == []
    zero = client.post(f"{API}/projects", json={"name": "zero", "budget": "0"}, headers=headers)
    assert zero.status_code == 201, zero.text


# --- 2. awarding an accepted bid again ------------------------------------------------------


def _awards(db: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> tuple[int, int]:
    activities = db.exec(
        select(ProjectActivity).where(
            ProjectActivity.org_id == org_id,
            ProjectActivity.project_id == project_id,
            ProjectActivity.kind == ActivityKind.bid_awarded.value,
        )
    ).all()
    audits = db.exec(
        select(AuditLog).where(
            AuditLog.org_id == org_id,
            AuditLog.action == "award_bid",
            AuditLog.entity_id == str(project_id),
        )
    ).all()
    return len(activities), len(audits)


def test_awarding_an_accepted_bid_again_is_a_conflict_with_nothing_written(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    project = make_project(db, org)
    bid = _bid(db, org, project, total_amount="12000")
    url = f"{API}/projects/{project.id}/bids/{bid.id}/award"
    assert client.post(url, headers=headers).status_code == 200
    assert _awards(db, org.id, project.id) == (1, 1)

    again = client.post(url, headers=headers)
    assert again.status_code == 409, again.text
    assert again.json()["detail"] == f"bid {bid.id} is already awarded"
    assert _awards(db, org.id, project.id) == (1, 1)

    # The chat's tool gets the same refusal as a message.
    analyst = context_for(db, make_user(db, org, Role.analyst))
    result = call_tool(award_bid, analyst, project=str(project.id), bid_id=str(bid.id))
    assert result["error"] == f"bid {bid.id} is already awarded"
    assert _awards(db, org.id, project.id) == (1, 1)
    db.refresh(bid)
    assert bid.status == BidStatus.accepted


# --- 3. leveling fills a missing line at its own budget -------------------------------------


def test_leveling_fills_a_missing_line_at_its_budget_not_the_catalogue_replacement(
    db: Session,
) -> None:
    """Furnace "repair (fair)" budgeted $350; the cost book's furnace row is $3,500 each.

    A roof-only bid of $8,000 levels at $8,350 (not $11,500): the fill is the line's budget.
    A line with no budget still comes from the catalogue, and the basis says so.
    """
    org = make_org(db)
    project = make_project(
        db, org, scope=(("roof", "22", "squares", "9500"), ("furnace", "1", "each", "350"))
    )
    line = _lines(db, project)
    bid = _bid(
        db, org, project, line_items=[{"scope_item_id": str(line["roof"]), "amount": "8000"}]
    )
    leveling = service.level_bids(session=db, org_id=org.id, project_id=project.id)
    (row,) = leveling.bids
    assert row.bid_id == bid.id
    assert (row.filled_in_amount, row.leveled_total) == (Decimal("350.00"), Decimal("8350.00"))
    furnace = next(r for r in row.lines if r.flagged)
    assert (furnace.amount, furnace.source) == (Decimal("350.00"), "budgeted cost")
    assert furnace.note == "not in the bid; filled in from the line's budgeted cost $350.00"
    assert leveling.basis == ["furnace: the line's budgeted cost $350.00"]

    unbudgeted = make_project(
        db, org, name="No furnace budget",
        scope=(("roof", "22", "squares", "9500"), ("furnace", "1", "each", None)),
    )  # fmt: skip
    line = _lines(db, unbudgeted)
    _bid(
        db,
        org,
        unbudgeted,
        "Ann",
        line_items=[{"scope_item_id": str(line["roof"]), "amount": "8000"}],
    )
    leveling = service.level_bids(session=db, org_id=org.id, project_id=unbudgeted.id)
    (row,) = leveling.bids
    furnace = next(r for r in row.lines if r.flagged)
    assert (furnace.amount, furnace.source) == (Decimal("3500.00"), "cost catalogue")
    assert leveling.basis == [
        "cost catalogue furnace: 1.00 each x $3,500.00 (the line has no budget)"
    ]


# --- 4. completing with open tasks; adding to a closed project ------------------------------


def test_completing_a_project_with_open_tasks_is_refused_unless_they_are_closed(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    project = make_project(db, org)
    url = f"{API}/projects/{project.id}"
    for title, status in (("demo", "done"), ("roof", "in_progress"), ("paint", "todo")):
        made = client.post(f"{url}/tasks", json={"title": title, "status": status}, headers=headers)
        assert made.status_code == 201, made.text
    assert client.patch(url, json={"status": "in_progress"}, headers=headers).status_code == 200

    refused = client.patch(url, json={"status": "completed"}, headers=headers)
    assert refused.status_code == 409, refused.text
    assert "has 2 open task(s)" in refused.json()["detail"]
    assert "close_open_tasks" in refused.json()["detail"]
    db.refresh(project)
    assert (project.status, project.completed_on) == (ProjectStatus.in_progress, None)

    # The option only means something when completing.
    odd = client.patch(url, json={"status": "on_hold", "close_open_tasks": True}, headers=headers)
    assert odd.status_code == 422, odd.text

    done = client.patch(
        url, json={"status": "completed", "close_open_tasks": True}, headers=headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    tasks = db.exec(select(Task).where(Task.org_id == org.id, Task.project_id == project.id))
    assert sorted((t.title, t.status) for t in tasks) == [
        ("demo", TaskStatus.done),
        ("paint", TaskStatus.cancelled),
        ("roof", TaskStatus.cancelled),
    ]
    report = service.progress(session=db, org_id=org.id, project_id=project.id)
    assert (report.tasks_done, report.tasks_total) == (1, 1)


def test_a_completed_or_cancelled_project_takes_no_new_task_or_milestone(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    project = make_project(db, org)
    for status in (ProjectStatus.in_progress, ProjectStatus.completed):
        service.update_project(
            session=db,
            org_id=org.id,
            project_id=project.id,
            project_in=ProjectUpdate(status=status),
        )
    url = f"{API}/projects/{project.id}"
    task = client.post(f"{url}/tasks", json={"title": "touch-up"}, headers=headers)
    assert task.status_code == 409, task.text
    assert "reopen the project first" in task.json()["detail"]
    milestone = client.post(f"{url}/milestones", json={"name": "Final walk"}, headers=headers)
    assert milestone.status_code == 409, milestone.text
    assert "reopen the project first" in milestone.json()["detail"]
    assert service.list_tasks(session=db, org_id=org.id, project_id=project.id) == []

    cancelled = make_project(db, org, name="Called off")
    service.update_project(
        session=db,
        org_id=org.id,
        project_id=cancelled.id,
        project_in=ProjectUpdate(status=ProjectStatus.cancelled),
    )
    with pytest.raises(service.ConstructionConflictError, match="is cancelled: reopen"):
        service.create_task(
            session=db,
            org_id=org.id,
            project_id=cancelled.id,
            task_in=TaskCreate(title="x"),
        )
    # Reopened, it takes tasks again.
    assert client.patch(url, json={"status": "in_progress"}, headers=headers).status_code == 200
    assert client.post(f"{url}/tasks", json={"title": "touch-up"}, headers=headers).status_code == (
        201
    )


# --- 5. over budget: the project total or any scope line ------------------------------------


def _spend(db: Session, project: Project, line: uuid.UUID | None, amount: str) -> None:
    service.add_expense(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        expense_in=ExpenseCreate(
            amount=Decimal(amount), spent_on=local_today(), scope_item_id=line
        ),
    )


def test_projects_with_scope_lines_over_budget_are_over_budget(db: Session) -> None:
    """Roof $10,400.33 of $9,850 and furnace $4,250 of $4,200, yet $14,650.33 of $34,050."""
    org = make_org(db)
    lines_over = make_project(
        db, org, name="Rehab: 14 Line St",
        scope=(
            ("roof", "22", "squares", "9850"),
            ("furnace", "1", "each", "4200"),
            ("kitchen", None, None, "20000"),
        ),
    )  # fmt: skip
    line = _lines(db, lines_over)
    _spend(db, lines_over, line["roof"], "10400.33")
    _spend(db, lines_over, line["furnace"], "4250")
    tidy = make_project(db, org, name="Rehab: 2 Tidy St")
    _spend(db, tidy, _lines(db, tidy)["roof"], "100")
    elsewhere = make_project(db, make_org(db, "Other Co"), name="Rehab: 9 Secret Rd")
    _spend(db, elsewhere, _lines(db, elsewhere)["roof"], "99999")

    rows = service.projects_overview(session=db, org_id=org.id, over_budget=True)
    assert [r.project.id for r in rows] == [lines_over.id]
    (row,) = rows
    assert (row.over_budget, row.any_over_budget) == (False, True)
    assert [line.component for line in row.lines_over_budget] == ["roof", "furnace"]

    analyst = context_for(db, make_user(db, org, Role.analyst))
    result = call_tool(list_projects, analyst, over_budget=True)
    assert result["count"] == 1
    (listed,) = result["projects"]
    assert listed["name"] == "Rehab: 14 Line St" and listed["over_budget"] is False
    assert listed["lines_over_budget"] == [
        {"component": "roof", "spent": "$10,400.33", "budgeted": "$9,850"},
        {"component": "furnace", "spent": "$4,250", "budgeted": "$4,200"},
    ]
    every = call_tool(list_projects, analyst)
    assert [p["name"] for p in every["projects"]] == ["Rehab: 14 Line St", "Rehab: 2 Tidy St"]
    assert every["projects"][1]["lines_over_budget"] == []


# --- 6. the tools keep cents on budgets -----------------------------------------------------


def test_award_bid_and_list_bids_keep_the_cents(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)
    line = _lines(db, project)
    lump = _bid(db, org, project, total_amount="26695.10")
    part = _bid(
        db,
        org,
        project,
        "Ann",
        line_items=[{"scope_item_id": str(line["roof"]), "amount": "8000.50"}],
    )
    analyst = context_for(db, make_user(db, org, Role.analyst))
    leveled = call_tool(list_bids, analyst, project=str(project.id))
    by_id = {b["bid_id"]: b for b in leveled["bids"]}
    assert by_id[str(lump.id)]["bid_total"] == "$26,695.10"
    # $8,000.50 + the furnace's $4,200 budget.
    assert (by_id[str(part.id)]["bid_total"], by_id[str(part.id)]["leveled_total"]) == (
        "$8,000.50",
        "$12,200.50",
    )
    awarded = call_tool(award_bid, analyst, project=str(project.id), bid_id=str(lump.id))
    assert awarded["budget"] == "$26,695.10"
