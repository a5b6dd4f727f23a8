"""Voiding a project expense booked by mistake: a linked reversal nets it out on its line and
project, and finance books the void as a refund so the ledger, budgets and P&L follow."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from domain.auth.enums import Role
from domain.auth.models import AuditLog
from domain.construction import service as construction_service
from domain.construction import subscribers as construction_subscribers
from domain.construction.models import ProjectActivity, ProjectExpense
from domain.finance import service as finance_service
from domain.finance import subscribers as finance_subscribers
from domain.finance.enums import TransactionType
from domain.finance.models import Transaction
from store.events import Event
from store.outbox import OutboxEvent
from tests.factories import auth_headers, make_deal, make_org, make_project, make_user
from tests.tools.helpers import call_tool, context_for
from tools import ROLE_TOOL_NAMES
from tools.construction import void_expense

API = "/api/v1"
DAY = "2024-03-05"
PNL = {"start": "2024-01-01", "end": "2024-12-31"}


def _events(db: Session, org_id: uuid.UUID, name: str) -> list[Event]:
    db.flush()
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.org_id == org_id, OutboxEvent.name == name)
        .order_by(col(OutboxEvent.created_at))
    ).all()
    return [Event(id=r.id, org_id=r.org_id, name=r.name, payload=r.payload) for r in rows]


def _deliver(db: Session, org_id: uuid.UUID) -> None:
    """Deliver what the relay would: expenses and voids to finance, then finance's
    transactions back to construction (whose mirror must skip the project's own)."""
    for event in _events(db, org_id, "construction.expense.added"):
        finance_subscribers.book_construction_expense(db, event)
    for event in _events(db, org_id, "construction.expense.voided"):
        finance_subscribers.book_construction_expense_void(db, event)
    for event in _events(db, org_id, "transaction.created"):
        construction_subscribers.mirror_finance_transaction_on_project(db, event)
    db.flush()


@pytest.fixture
def book(db: Session, client: TestClient) -> dict[str, Any]:
    """A flip deal with a $20,000 rehab budget, its project (roof $9,500, furnace $4,200) and
    $6,000 already paid on the roof, booked in finance."""
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    headers = auth_headers(db, analyst)
    deal = make_deal(db, org, strategy="flip")
    finance_service.open_deal_budget(
        session=db, org_id=org.id, deal_id=deal.id, estimated_repairs=Decimal("20000"), source="t"
    )
    project = make_project(db, org, deal_id=deal.id)
    roof = next(s for s in construction_service.list_scope_items(
        session=db, org_id=org.id, project_id=project.id
    ) if s.component == "roof")  # fmt: skip
    db.flush()
    paid = client.post(
        f"{API}/projects/{project.id}/expenses",
        json={"amount": "6000", "scope_item_id": str(roof.id), "spent_on": DAY},
        headers=headers,
    )
    assert paid.status_code == 201, paid.text
    _deliver(db, org.id)
    return {
        "org": org,
        "analyst": analyst,
        "headers": headers,
        "deal": deal,
        "project": project,
        "roof": roof,
    }


def _figures(db: Session, client: TestClient, book: dict[str, Any]) -> dict[str, Any]:
    headers, project = book["headers"], book["project"]
    progress = client.get(f"{API}/projects/{project.id}/progress", headers=headers).json()
    roof = next(line for line in progress["lines"] if line["component"] == "roof")
    budgets = client.get(
        f"{API}/budgets", params={"deal_id": str(book["deal"].id)}, headers=headers
    )
    assert budgets.status_code == 200, budgets.text
    pnl = client.get(
        f"{API}/reports/pnl", params={**PNL, "deal_id": str(book["deal"].id)}, headers=headers
    )
    assert pnl.status_code == 200, pnl.text
    overview = construction_service.projects_overview(
        session=db, org_id=book["org"].id, over_budget=True
    )
    return {
        "project_spent": Decimal(progress["spent"]),
        "roof_spent": Decimal(roof["spent"]),
        "roof_over": roof["over_budget"],
        "budget_spent": Decimal(budgets.json()["total_spent"]),
        "pnl_expenses": Decimal(pnl.json()["total"]["total_expenses"]),
        "over_budget_projects": [row.project.id for row in overview],
    }


def _book_roof(client: TestClient, book: dict[str, Any], amount: str = "4000") -> dict[str, Any]:
    response = client.post(
        f"{API}/projects/{book['project'].id}/expenses",
        json={"amount": amount, "scope_item_id": str(book["roof"].id), "spent_on": DAY},
        headers=book["headers"],
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _void_url(book: dict[str, Any], expense_id: Any) -> str:
    return f"{API}/projects/{book['project'].id}/expenses/{expense_id}/void"


def test_voiding_an_expense_puts_progress_line_budgets_and_pnl_back(
    db: Session, client: TestClient, book: dict[str, Any]
) -> None:
    before = _figures(db, client, book)
    assert before["project_spent"] == before["roof_spent"] == Decimal("6000")
    assert before["roof_over"] is False
    expense = _book_roof(client, book)
    _deliver(db, book["org"].id)
    booked = _figures(db, client, book)
    assert booked["roof_spent"] == Decimal("10000") and booked["roof_over"] is True
    assert booked["budget_spent"] == before["budget_spent"] + 4000
    assert booked["pnl_expenses"] == before["pnl_expenses"] + 4000
    assert booked["over_budget_projects"] == [book["project"].id]

    response = client.post(
        _void_url(book, expense["id"]), json={"reason": "double booked"}, headers=book["headers"]
    )
    assert response.status_code == 201, response.text
    body = response.json()
    reversal = body["reversal"]
    assert Decimal(reversal["amount"]) == Decimal("-4000")
    assert reversal["voids_expense_id"] == expense["id"]
    assert reversal["scope_item_id"] == str(book["roof"].id)
    assert reversal["category"] == "labour" and reversal["spent_on"] == DAY  # month still open
    assert reversal["description"] == f"void of expense {expense['id']}: double booked"
    assert body["voided"]["voided_by_expense_id"] == reversal["id"]
    assert Decimal(body["progress"]["spent"]) == Decimal("6000")

    _deliver(db, book["org"].id)
    after = _figures(db, client, book)
    assert after == before  # progress, roof line, budgets, P&L; no longer over budget
    # Finance booked one refund in the same category on the same deal and project ...
    refund = db.exec(
        select(Transaction).where(
            Transaction.org_id == book["org"].id, Transaction.type == TransactionType.refund
        )
    ).one()
    assert (refund.amount, refund.category) == (Decimal("4000.00"), "rehab_labour")
    assert (refund.deal_id, refund.project_id) == (book["deal"].id, book["project"].id)
    # ... and the mirror of finance transactions booked nothing more on the project.
    expenses = db.exec(
        select(ProjectExpense).where(ProjectExpense.project_id == book["project"].id)
    ).all()
    assert sorted(Decimal(e.amount) for e in expenses) == [-4000, 4000, 6000]
    # The list keeps the original (audit trail), linked both ways.
    listed = client.get(
        f"{API}/projects/{book['project'].id}/expenses", headers=book["headers"]
    ).json()
    by_id = {row["id"]: row for row in listed}
    assert by_id[expense["id"]]["voided_by_expense_id"] == reversal["id"]
    assert by_id[reversal["id"]]["voids_expense_id"] == expense["id"]
    assert sum(Decimal(row["amount"]) for row in listed) == Decimal("6000")


def test_the_void_event_carries_a_positive_amount_and_is_booked_once(
    db: Session, client: TestClient, book: dict[str, Any]
) -> None:
    expense = _book_roof(client, book)
    voided = client.post(_void_url(book, expense["id"]), headers=book["headers"])
    assert voided.status_code == 201, voided.text
    (event,) = _events(db, book["org"].id, "construction.expense.voided")
    payload = event.payload
    assert Decimal(str(payload["amount"])) == Decimal("4000")
    assert payload["voided_expense_id"] == expense["id"]
    assert payload["expense_id"] == voided.json()["reversal"]["id"]
    assert payload["category"] == "rehab_labour"
    assert payload["deal_id"] == str(book["deal"].id)
    assert payload["description"].endswith(f"void of expense {expense['id']}")
    reversal = db.get(ProjectExpense, uuid.UUID(payload["expense_id"]))
    assert reversal is not None and reversal.event_id == event.id
    for _ in range(2):  # at-least-once delivery
        finance_subscribers.book_construction_expense_void(db, event)
    db.flush()
    refunds = db.exec(select(Transaction).where(Transaction.source_event_id == event.id)).all()
    assert len(refunds) == 1
    assert refunds[0].type == TransactionType.refund
    # Audit entry and project activity entry.
    audit = db.exec(
        select(AuditLog).where(
            AuditLog.org_id == book["org"].id,
            AuditLog.action == "void",
            AuditLog.entity_id == uuid.UUID(expense["id"]),
        )
    ).all()
    assert len(audit) == 1
    activity = db.exec(
        select(ProjectActivity).where(
            ProjectActivity.project_id == book["project"].id,
            ProjectActivity.kind == construction_service.EXPENSE_VOIDED_ACTIVITY,
        )
    ).one()
    assert "voided" in activity.summary and "4000" in activity.summary


def test_a_second_void_and_voiding_a_reversal_are_conflicts(
    db: Session, client: TestClient, book: dict[str, Any]
) -> None:
    expense = _book_roof(client, book)
    first = client.post(_void_url(book, expense["id"]), headers=book["headers"])
    assert first.status_code == 201, first.text
    again = client.post(_void_url(book, expense["id"]), headers=book["headers"])
    assert again.status_code == 409, again.text
    assert "already voided on " in again.json()["detail"]
    reversal_id = first.json()["reversal"]["id"]
    of_reversal = client.post(_void_url(book, reversal_id), headers=book["headers"])
    assert of_reversal.status_code == 409, of_reversal.text
    assert "cannot be voided" in of_reversal.json()["detail"]
    assert len(_events(db, book["org"].id, "construction.expense.voided")) == 1


def test_void_refuses_other_orgs_investors_and_bad_bodies(
    db: Session, client: TestClient, book: dict[str, Any]
) -> None:
    expense = _book_roof(client, book)
    other = make_org(db, name="Other Org")
    other_headers = auth_headers(db, make_user(db, other, role=Role.admin))
    theirs = client.post(_void_url(book, expense["id"]), headers=other_headers)
    assert theirs.status_code == 404, theirs.text
    # Their own project, our expense id: still not found.
    their_project = make_project(db, other)
    db.flush()
    crossed = client.post(
        f"{API}/projects/{their_project.id}/expenses/{expense['id']}/void", headers=other_headers
    )
    assert crossed.status_code == 404, crossed.text
    investor = auth_headers(db, make_user(db, book["org"], role=Role.investor))
    assert client.post(_void_url(book, expense["id"]), headers=investor).status_code == 403
    too_long = client.post(
        _void_url(book, expense["id"]), json={"reason": "x" * 501}, headers=book["headers"]
    )
    assert too_long.status_code == 422, too_long.text
    extra = client.post(
        _void_url(book, expense["id"]), json={"amount": "1"}, headers=book["headers"]
    )
    assert extra.status_code == 422, extra.text
    unknown = client.post(_void_url(book, uuid.uuid4()), headers=book["headers"])
    assert unknown.status_code == 404, unknown.text
    assert _events(db, book["org"].id, "construction.expense.voided") == []


def test_the_void_expense_tool_voids_by_id_prefix_and_reports_where_things_stand(
    db: Session, client: TestClient, book: dict[str, Any]
) -> None:
    assert "void_expense" in ROLE_TOOL_NAMES[Role.analyst]
    assert "void_expense" not in ROLE_TOOL_NAMES[Role.investor]
    expense = _book_roof(client, book)
    ctx = context_for(db, book["analyst"])
    result = call_tool(
        void_expense,
        ctx,
        project=str(book["project"].id),
        expense_id=expense["id"][:8],
        reason="repeat",
    )
    assert "error" not in result, result
    assert result["voided_expense_id"] == expense["id"]
    assert result["amount"] == "$4,000"
    assert result["line"] == "roof"
    assert result["line_spent"] == "$6,000" and result["line_budgeted"] == "$9,500"
    assert result["line_over_budget"] is False
    assert result["project_spent"] == "$6,000" and result["project_budget"] == "$13,700"
    assert result["reversal_id"] and result["sources"]
    again = call_tool(
        void_expense, ctx, project=str(book["project"].id), expense_id=expense["id"][:8]
    )
    assert "already voided on" in again["error"]
    short = call_tool(void_expense, ctx, project=str(book["project"].id), expense_id="zzzzzzzz")
    assert "not an expense id" in short["error"]
    investor = make_user(db, book["org"], role=Role.investor)
    refused = call_tool(
        void_expense,
        context_for(db, investor),
        project=str(book["project"].id),
        expense_id=expense["id"],
    )
    assert "error" in refused


def test_a_voided_expense_is_no_longer_counted_as_a_same_day_repeat(
    db: Session, client: TestClient, book: dict[str, Any]
) -> None:
    expense = _book_roof(client, book)
    assert client.post(_void_url(book, expense["id"]), headers=book["headers"]).status_code == 201
    again = construction_service.book_expense(
        session=db,
        org_id=book["org"].id,
        project_id=book["project"].id,
        amount=Decimal("4000"),
        line="roof",
        spent_on=dt.date.fromisoformat(DAY),
    )
    assert again.same_day_same_amount == 0
