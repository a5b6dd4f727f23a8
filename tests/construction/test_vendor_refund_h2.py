"""A vendor's or contractor's refund on a rehab project: a credit on the line that lowers the
line's and project's spent, booked once by finance as a refund in the same category, refused
below zero and in a closed month, and said by the chat's ``record_expense`` tool."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.auth.enums import Role
from domain.auth.models import AuditLog
from domain.construction import service as construction_service
from domain.construction import subscribers as construction_subscribers
from domain.construction.enums import ExpenseCategory
from domain.construction.models import ExpenseCreate, ProjectExpense
from domain.finance import service as finance_service
from domain.finance import subscribers as finance_subscribers
from domain.finance.enums import TransactionType
from domain.finance.models import Transaction
from store import events as store_events
from store.events import CATALOGUE, Event
from store.outbox import OutboxEvent
from tests.factories import auth_headers, make_deal, make_org, make_project, make_user
from tests.tools.helpers import call_tool, context_for
from tools.construction import record_expense

API = "/api/v1"
DAY = "2024-03-05"
PNL = {"start": "2024-01-01", "end": "2024-12-31"}
REFUNDED = "construction.expense.refunded"


def _events(db: Session, org_id: uuid.UUID, name: str) -> list[Event]:
    db.flush()
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.org_id == org_id, OutboxEvent.name == name)
        .order_by(col(OutboxEvent.created_at))
    ).all()
    return [Event(id=r.id, org_id=r.org_id, name=r.name, payload=r.payload) for r in rows]


def _deliver(db: Session, org_id: uuid.UUID) -> None:
    """What the relay delivers: expenses and refunds to finance, then finance's transactions
    back to construction (whose mirror must skip the project's own), each twice."""
    for _ in range(2):  # at-least-once delivery
        for event in _events(db, org_id, "construction.expense.added"):
            finance_subscribers.book_construction_expense(db, event)
        for event in _events(db, org_id, REFUNDED):
            finance_subscribers.book_construction_expense_refund(db, event)
        for event in _events(db, org_id, "transaction.created"):
            construction_subscribers.mirror_finance_transaction_on_project(db, event)
    db.flush()


@pytest.fixture
def job(db: Session, client: TestClient) -> dict[str, Any]:
    """A flip deal with a $20,000 rehab budget, its project (roof $9,500, furnace $4,200) and
    $600 of materials bought for the roof, booked in finance."""
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
        json={
            "amount": "600",
            "category": "materials",
            "scope_item_id": str(roof.id),
            "vendor": "Home Depot",
            "spent_on": DAY,
        },
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


def _refund(
    client: TestClient, job: dict[str, Any], amount: str, **extra: Any
) -> tuple[int, dict[str, Any]]:
    body = {
        "amount": amount,
        "category": "materials",
        "scope_item_id": str(job["roof"].id),
        "vendor": "Home Depot",
        "spent_on": DAY,
        "refund": True,
        **extra,
    }
    response = client.post(
        f"{API}/projects/{job['project'].id}/expenses", json=body, headers=job["headers"]
    )
    return response.status_code, response.json()


def _figures(client: TestClient, job: dict[str, Any]) -> dict[str, Decimal]:
    headers, project = job["headers"], job["project"]
    progress = client.get(f"{API}/projects/{project.id}/progress", headers=headers).json()
    roof = next(line for line in progress["lines"] if line["component"] == "roof")
    budgets = client.get(f"{API}/budgets", params={"deal_id": str(job["deal"].id)}, headers=headers)
    assert budgets.status_code == 200, budgets.text
    pnl = client.get(
        f"{API}/reports/pnl", params={**PNL, "deal_id": str(job["deal"].id)}, headers=headers
    )
    assert pnl.status_code == 200, pnl.text
    return {
        "project_spent": Decimal(progress["spent"]),
        "roof_spent": Decimal(roof["spent"]),
        "budget_spent": Decimal(budgets.json()["total_spent"]),
        "pnl_expenses": Decimal(pnl.json()["total"]["total_expenses"]),
    }


def test_a_rest_refund_lowers_the_line_project_budget_and_pnl_once(
    db: Session, client: TestClient, job: dict[str, Any]
) -> None:
    before = _figures(client, job)
    assert before == {
        "project_spent": Decimal("600"),
        "roof_spent": Decimal("600"),
        "budget_spent": Decimal("600"),
        "pnl_expenses": Decimal("600"),
    }
    code, body = _refund(client, job, "45.20", description="returned tile")
    assert code == 201, body
    assert Decimal(body["amount"]) == Decimal("-45.20")
    assert body["scope_item_id"] == str(job["roof"].id) and body["voids_expense_id"] is None
    _deliver(db, job["org"].id)
    after = _figures(client, job)
    assert after == {key: value - Decimal("45.20") for key, value in before.items()}
    # Finance booked one refund, in the purchase's category, on the deal and the project ...
    (event,) = _events(db, job["org"].id, REFUNDED)
    assert Decimal(str(event.payload["amount"])) == Decimal("45.20")
    assert event.payload["expense_id"] == body["id"] and body["event_id"] == str(event.id)
    refund = db.exec(
        select(Transaction).where(
            Transaction.org_id == job["org"].id, Transaction.type == TransactionType.refund
        )
    ).one()
    assert (refund.amount, refund.category) == (Decimal("45.20"), "rehab_materials")
    assert (refund.deal_id, refund.project_id) == (job["deal"].id, job["project"].id)
    assert refund.source_event_id == event.id and refund.counterparty == "Home Depot"
    # ... and the mirror of finance transactions booked nothing more on the project.
    rows = db.exec(
        select(ProjectExpense).where(ProjectExpense.project_id == job["project"].id)
    ).all()
    assert sorted(Decimal(e.amount) for e in rows) == [Decimal("-45.20"), Decimal("600")]
    # Audited as a refund.
    audit = db.exec(
        select(AuditLog).where(
            AuditLog.org_id == job["org"].id,
            AuditLog.action == "refund",
            AuditLog.entity_id == uuid.UUID(body["id"]),
        )
    ).one()
    assert audit.changes is not None and audit.changes["refund"] is True


def test_a_refund_may_not_take_the_line_or_project_below_zero(
    db: Session, client: TestClient, job: dict[str, Any]
) -> None:
    furnace = next(s for s in construction_service.list_scope_items(
        session=db, org_id=job["org"].id, project_id=job["project"].id
    ) if s.component == "furnace")  # fmt: skip
    code, body = _refund(client, job, "50", scope_item_id=str(furnace.id))
    assert code == 422, body
    assert "net spent on the 'furnace' line" in body["detail"] and "below zero" in body["detail"]
    code, body = _refund(client, job, "600.01")
    assert code == 422, body
    assert "600.00 net spent on the 'roof' line" in body["detail"]
    code, body = _refund(client, job, "700", scope_item_id=None)
    assert code == 422, body
    assert "net spent on project" in body["detail"] and "below zero" in body["detail"]
    assert _events(db, job["org"].id, REFUNDED) == []
    # Exactly the net spent is fine; then nothing more.
    code, body = _refund(client, job, "600")
    assert code == 201, body
    code, body = _refund(client, job, "0.01", scope_item_id=None)
    assert code == 422, body
    assert len(_events(db, job["org"].id, REFUNDED)) == 1


def test_a_refund_in_a_closed_month_is_refused_and_a_refund_is_not_voided(
    db: Session, client: TestClient, job: dict[str, Any]
) -> None:
    finance_service.close_period(session=db, org_id=job["org"].id, month=dt.date.fromisoformat(DAY))
    code, body = _refund(client, job, "45.20")
    assert code == 409, body
    assert "March 2024 are closed" in body["detail"]
    assert _events(db, job["org"].id, REFUNDED) == []
    finance_service.reopen_period(
        session=db, org_id=job["org"].id, month=dt.date.fromisoformat(DAY)
    )
    code, body = _refund(client, job, "45.20")
    assert code == 201, body
    voided = client.post(
        f"{API}/projects/{job['project'].id}/expenses/{body['id']}/void", headers=job["headers"]
    )
    assert voided.status_code == 409, voided.text
    assert "is a refund" in voided.json()["detail"]
    assert _events(db, job["org"].id, "construction.expense.voided") == []


def test_the_record_expense_tool_books_a_refund_and_says_where_it_leaves_things(
    db: Session, client: TestClient, job: dict[str, Any]
) -> None:
    ctx = context_for(db, job["analyst"])
    result = call_tool(
        record_expense,
        ctx,
        project=str(job["project"].id),
        amount=Decimal("45.20"),
        line="roof",
        vendor="Home Depot",
        spent_on=dt.date.fromisoformat(DAY),
        note="returned tile",
        refund=True,
    )
    assert "error" not in result, result
    assert result["refund"] is True and result["amount"] == "$45.20"
    assert result["line"] == "roof" and result["category"] == ExpenseCategory.materials
    assert result["line_spent"] == "$554.80" and result["project_spent"] == "$554.80"
    assert result["sources"][0].startswith("refund ")
    expense = db.get(ProjectExpense, uuid.UUID(str(result["expense_id"])))
    assert expense is not None and expense.amount == Decimal("-45.20")
    too_much = call_tool(
        record_expense,
        ctx,
        project=str(job["project"].id),
        amount=Decimal("1000"),
        line="roof",
        refund=True,
    )
    assert "below zero" in too_much["error"]
    spent = call_tool(
        record_expense, ctx, project=str(job["project"].id), amount=Decimal("10"), line="roof"
    )
    assert "refund" not in spent and spent["line_spent"] == "$564.80"


def test_a_refund_reaches_the_ledger_once_through_the_relay(
    committed_db: Session, engine: Engine
) -> None:
    from workers import events as relay

    assert REFUNDED in CATALOGUE["construction"].publishes
    assert REFUNDED in CATALOGUE["finance"].subscribes
    store_events.load_subscribers()
    org = make_org(committed_db)
    deal = make_deal(committed_db, org, strategy="flip", estimated_repairs=Decimal("5000"))
    project = make_project(committed_db, org, deal_id=deal.id)
    committed_db.commit()
    relay.relay_once(inline=True)
    for amount, refund in (("1234.56", False), ("234.56", True)):
        construction_service.add_expense(
            session=committed_db,
            org_id=org.id,
            project_id=project.id,
            expense_in=ExpenseCreate(
                amount=Decimal(amount), category=ExpenseCategory.materials, refund=refund
            ),
        )
    committed_db.commit()
    for _ in range(3):  # nothing is delivered twice
        relay.relay_once(inline=True)
    with Session(engine) as fresh:
        page = finance_service.list_transactions(session=fresh, org_id=org.id, deal_id=deal.id)
        kinds = sorted((str(t.type), t.amount, str(t.category)) for t in page.items)
        assert kinds == [
            ("expense", Decimal("1234.56"), "rehab_materials"),
            ("refund", Decimal("234.56"), "rehab_materials"),
        ]
        status = finance_service.budget_status(session=fresh, org_id=org.id, deal_id=deal.id)
        assert status.total_spent == Decimal("1000.00")
        report = construction_service.progress(session=fresh, org_id=org.id, project_id=project.id)
        assert report.spent == Decimal("1000.00")  # the mirror added nothing
