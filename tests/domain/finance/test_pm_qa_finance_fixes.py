"""Project-manager QA pass on finance and deals: permits, project/deal agreement, refunds on a
project, a closed deal's price against its booked purchase, and ledger cents in what_we_paid."""

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
from domain.construction import service as construction_service
from domain.construction import subscribers as construction_subscribers
from domain.construction.models import ExpenseCreate as ProjectExpenseCreate
from domain.construction.models import ProjectExpense
from domain.deal import service as deal_service
from domain.deal.enums import DealEventKind, DealStatus
from domain.finance import service, subscribers
from domain.finance.enums import REHAB_CATEGORIES, TransactionCategory, parse_category
from domain.finance.models import Transaction, TransactionCreate
from store import events
from store.events import Event
from store.outbox import OutboxEvent
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_project,
    make_transaction,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools.deal_questions import what_we_paid

API = "/api/v1"
DAY = "2024-03-05"


def _events(db: Session, org_id: uuid.UUID, name: str) -> list[Event]:
    db.flush()
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.org_id == org_id, OutboxEvent.name == name)
        .order_by(col(OutboxEvent.created_at))
    ).all()
    return [Event(id=r.id, org_id=r.org_id, name=r.name, payload=r.payload) for r in rows]


def _project_expense(db: Session, org: Any, project: Any, amount: str, category: str) -> Any:
    return construction_service.add_expense(
        session=db,
        org_id=org.id,
        project_id=project.id,
        expense_in=ProjectExpenseCreate.model_validate(
            {"amount": amount, "category": category, "spent_on": DAY}
        ),
    )


def _book_in_finance(db: Session, org: Any) -> None:
    """Deliver every construction.expense.added not yet booked, as the relay would."""
    for event in _events(db, org.id, "construction.expense.added"):
        subscribers.book_construction_expense(db, event)


# --- 1. permits count against the rehab budget -----------------------------------------------


def test_permits_are_a_rehab_category_of_their_own() -> None:
    assert parse_category("permits") is TransactionCategory.permits
    assert parse_category("building permits") is TransactionCategory.permits
    assert TransactionCategory.permits in REHAB_CATEGORIES
    assert TransactionCategory.permits.schedule_e_line is None


def test_a_project_permit_is_booked_as_permits_and_counts_in_the_rehab_budget(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    service.open_deal_budget(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        estimated_repairs=Decimal("20000"),
        source="test",
    )
    project = make_project(db, org, deal_id=deal.id)
    _project_expense(db, org, project, "612.40", "permits")
    _book_in_finance(db, org)
    (booked,) = db.exec(select(Transaction).where(Transaction.org_id == org.id)).all()
    assert booked.category == TransactionCategory.permits
    assert "construction category" not in (booked.description or "")
    status = service.budget_status(session=db, org_id=org.id, deal_id=deal.id)
    (rehab,) = status.lines
    assert rehab.spent == Decimal("612.40")
    assert status.unbudgeted_spending == {}


# --- 2. a project's costs are its own deal's ----------------------------------------------------


@pytest.fixture
def analyst(db: Session) -> tuple[Any, dict[str, str]]:
    org = make_org(db)
    return org, auth_headers(db, make_user(db, org, role=Role.analyst))


def test_an_expense_on_another_deals_project_is_refused(
    db: Session, client: TestClient, analyst: tuple[Any, dict[str, str]]
) -> None:
    org, headers = analyst
    deal_a, deal_b = make_deal(db, org, strategy="flip"), make_deal(db, org, strategy="flip")
    project_b = make_project(db, org, deal_id=deal_b.id)
    db.flush()
    body = {
        "category": "rehab_materials",
        "amount": "900.00",
        "date": DAY,
        "deal_id": str(deal_a.id),
        "project_id": str(project_b.id),
    }
    refused = client.post(f"{API}/expenses", json=body, headers=headers)
    assert refused.status_code == 422, refused.text
    assert f"belongs to deal {deal_b.id}, not deal {deal_a.id}" in refused.json()["detail"]
    as_transaction = client.post(
        f"{API}/transactions", json={**body, "type": "refund"}, headers=headers
    )
    assert as_transaction.status_code == 422, as_transaction.text
    assert db.exec(select(Transaction).where(Transaction.org_id == org.id)).all() == []


def test_a_project_without_a_deal_id_books_on_the_projects_deal(
    db: Session, client: TestClient, analyst: tuple[Any, dict[str, str]]
) -> None:
    org, headers = analyst
    deal = make_deal(db, org, strategy="flip")
    project = make_project(db, org, deal_id=deal.id)
    db.flush()
    body = {"category": "rehab_labour", "amount": "300.00", "date": DAY}
    booked = client.post(
        f"{API}/expenses", json={**body, "project_id": str(project.id)}, headers=headers
    )
    assert booked.status_code == 201, booked.text
    assert booked.json()["transaction"]["deal_id"] == str(deal.id)
    same_deal = client.post(
        f"{API}/transactions",
        json={**body, "type": "payment", "project_id": str(project.id), "deal_id": str(deal.id)},
        headers=headers,
    )
    assert same_deal.status_code == 201, same_deal.text
    transfer = client.post(
        f"{API}/transactions",
        json={
            "type": "transfer",
            "amount": "5.00",
            "date": DAY,
            "account_id": str(uuid.uuid4()),
            "to_account_id": str(uuid.uuid4()),
            "project_id": str(project.id),
        },
        headers=headers,
    )
    assert transfer.status_code == 422 and "project" in transfer.json()["detail"]


# --- 3. a refund in finance reaches the project --------------------------------------------------


def _signed_spending(db: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> Decimal:
    """Ledger rehab spending on the project: expenses and payments less refunds."""
    from domain.finance.enums import TransactionType

    total = Decimal("0")
    for row in db.exec(
        select(Transaction).where(
            Transaction.org_id == org_id, Transaction.project_id == project_id
        )
    ):
        if row.category is not None and TransactionCategory(row.category) in REHAB_CATEGORIES:
            total -= TransactionType(row.type).signed(Decimal(row.amount))
    return total


def test_a_refund_in_finance_lowers_the_projects_spent_without_double_booking(
    db: Session,
) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    project = make_project(db, org, deal_id=deal.id)
    _project_expense(db, org, project, "1000.00", "labour")
    _book_in_finance(db, org)
    make_transaction(
        db,
        org,
        type="refund",
        category="rehab_labour",
        amount="250.00",
        date=DAY,
        project_id=project.id,
        description="Crew overbilled",
    )
    for event in _events(db, org.id, "transaction.created"):
        construction_subscribers.mirror_finance_transaction_on_project(db, event)
        construction_subscribers.mirror_finance_transaction_on_project(db, event)  # again
    progress = construction_service.progress(
        session=db, org_id=org.id, project_id=project.id, as_of=dt.date(2024, 12, 31)
    )
    assert progress.spent == Decimal("750.00")
    assert progress.spent == _signed_spending(db, org.id, project.id)
    # The project's own expense was not mirrored back; the credit published nothing.
    amounts = sorted(
        e.amount
        for e in db.exec(select(ProjectExpense).where(ProjectExpense.project_id == project.id))
    )
    assert amounts == [Decimal("-250.00"), Decimal("1000.00")]
    assert len(_events(db, org.id, "construction.expense.added")) == 1
    assert len(db.exec(select(Transaction).where(Transaction.org_id == org.id)).all()) == 2


def test_the_relay_mirrors_a_finance_refund_on_the_project(
    committed_db: Session, engine: Engine
) -> None:
    from workers import events as relay

    events.load_subscribers()
    db = committed_db
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    project = make_project(db, org, deal_id=deal.id)
    _project_expense(db, org, project, "2400.00", "materials")
    db.commit()
    relay.relay_once(inline=True)
    relay.relay_once(inline=True)  # finance's transaction.created
    service.record_transaction(
        session=db,
        org_id=org.id,
        transaction_in=TransactionCreate.model_validate(
            {
                "type": "refund",
                "category": "rehab_materials",
                "amount": "400.00",
                "date": DAY,
                "project_id": str(project.id),
            }
        ),
    )
    db.commit()
    relay.relay_once(inline=True)
    relay.relay_once(inline=True)
    with Session(engine) as fresh:
        progress = construction_service.progress(
            session=fresh, org_id=org.id, project_id=project.id, as_of=dt.date(2024, 12, 31)
        )
        assert progress.spent == Decimal("2000.00")
        assert progress.spent == _signed_spending(fresh, org.id, project.id)


# --- 4. a closed deal's price follows its booked purchase -----------------------------------------


def test_a_closed_deals_price_cannot_contradict_the_booked_purchase(
    db: Session, client: TestClient, analyst: tuple[Any, dict[str, str]]
) -> None:
    org, headers = analyst
    deal = make_deal(db, org, strategy="flip", purchase_price=Decimal("150000"))
    for status in (DealStatus.offer_made, DealStatus.under_contract, DealStatus.closed):
        deal_service.change_status(session=db, org_id=org.id, deal_id=deal.id, status=status)
    make_transaction(
        db, org, type="payment", category="purchase", amount="150000.00", deal_id=deal.id
    )
    db.flush()
    refused = client.put(
        f"{API}/deals/{deal.id}", json={"purchase_price": "149500"}, headers=headers
    )
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert "booked in the ledger at 150,000.00" in detail
    assert "Correct the booked purchase transaction" in detail
    assert client.get(f"{API}/deals/{deal.id}", headers=headers).json()["purchase_price"] in (
        "150000.00",
        "150000",
    )
    # The ledger corrected first (the seller's credit of 500 refunded): the price follows.
    make_transaction(db, org, type="refund", category="purchase", amount="500.00", deal_id=deal.id)
    db.flush()
    moved = client.put(f"{API}/deals/{deal.id}", json={"purchase_price": "149500"}, headers=headers)
    assert moved.status_code == 200, moved.text
    updates = [
        e
        for e in deal_service.timeline(session=db, org_id=org.id, deal_id=deal.id).entries
        if e.kind == DealEventKind.updated
    ]
    assert updates[-1].summary == "Deal updated: purchase_price 150,000.00 → 149,500.00"


def test_an_update_on_the_timeline_names_old_and_new_values(db: Session) -> None:
    from domain.deal.models import DealUpdate

    org = make_org(db)
    deal = make_deal(db, org, strategy="flip", purchase_price=Decimal("80000"))
    deal_service.update_deal(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        deal_in=DealUpdate.model_validate({"purchase_price": "85000", "strategy": "rental"}),
    )
    (update,) = [
        e
        for e in deal_service.timeline(session=db, org_id=org.id, deal_id=deal.id).entries
        if e.kind == DealEventKind.updated
    ]
    assert update.summary == (
        "Deal updated: purchase_price 80,000.00 → 85,000.00; strategy flip → rental"
    )


# --- 5. what_we_paid keeps the ledger's cents ---------------------------------------------------


def test_what_we_paid_keeps_the_ledgers_cents(db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org, role=Role.admin)
    deal = make_deal(db, org, strategy="flip", purchase_price=Decimal("150000"))
    for status in (DealStatus.offer_made, DealStatus.under_contract, DealStatus.closed):
        deal_service.change_status(session=db, org_id=org.id, deal_id=deal.id, status=status)
    make_transaction(db, org, category="closing_costs", amount="4321.57", date=DAY, deal_id=deal.id)
    db.flush()
    result = call_tool(what_we_paid, context_for(db, admin), property_id=str(deal.property_id))
    assert result["closing_costs"] == "$4,321.57"
    assert result["all_in"] == "$154,321.57"
    assert result["purchase_price"] == "$150,000"
