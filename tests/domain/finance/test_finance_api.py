"""The finance API: bookings, bad input (nothing written), roles and organisation scoping."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.auth.models import AuditLog
from tests.factories import (
    auth_headers,
    make_account,
    make_deal,
    make_org,
    make_transaction,
    make_user,
)

API = "/api/v1"


@pytest.fixture
def org(db: Session) -> Any:
    return make_org(db)


@pytest.fixture
def analyst(db: Session, org: Any) -> dict[str, str]:
    return auth_headers(db, make_user(db, org, role=Role.analyst))


def _total(client: TestClient, headers: dict[str, str], **params: Any) -> int:
    response = client.get(f"{API}/transactions", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])


def test_booking_moves_the_account_balance(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    created = client.post(
        f"{API}/accounts", json={"name": "Operating", "type": "checking"}, headers=analyst
    )
    assert created.status_code == 201, created.text
    account_id = created.json()["id"]
    assert created.json()["balance"] == "0.00"
    rent = client.post(
        f"{API}/transactions",
        json={
            "type": "income",
            "category": "rents_received",
            "amount": "1329.00",
            "date": "2024-02-01",
            "account_id": account_id,
        },
        headers=analyst,
    )
    assert rent.status_code == 201, rent.text
    assert rent.json()["signed_amount"] == "1329.00"
    assert rent.json()["schedule_e_line"] == 3
    expense = client.post(
        f"{API}/expenses",
        json={
            "category": "utilities",
            "amount": 87.5,
            "date": "2024-02-03",
            "account_id": account_id,
        },
        headers=analyst,
    )
    assert expense.status_code == 201, expense.text
    assert expense.json()["transaction"]["signed_amount"] == "-87.50"
    accounts = client.get(f"{API}/accounts", headers=analyst).json()
    assert [(a["name"], a["balance"]) for a in accounts] == [("Operating", "1241.50")]
    reconciled = client.post(f"{API}/accounts/{account_id}/reconcile", headers=analyst).json()
    assert (reconciled["balanced"], reconciled["ledger_balance"]) == (True, "1241.50")
    audited = db.exec(
        select(AuditLog).where(AuditLog.org_id == org.id, AuditLog.entity == "transaction")
    ).all()
    assert len(audited) == 2


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (12.345, "no more than 2 decimal places"),
        ("12.345", "no more than 2 decimal places"),
        ("-40.00", "greater than 0"),
        ("0", "greater than 0"),
        ("ten", "valid decimal"),
    ],
)
def test_bad_amounts_are_422_and_nothing_is_written(
    client: TestClient, analyst: dict[str, str], amount: Any, message: str
) -> None:
    response = client.post(
        f"{API}/expenses",
        json={"category": "repairs", "amount": amount, "date": "2024-02-03"},
        headers=analyst,
    )
    assert response.status_code == 422
    assert message in str(response.json()["detail"])
    assert _total(client, analyst) == 0


def test_closed_period_is_409_and_nothing_is_written(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    admin = auth_headers(db, make_user(db, org, role=Role.admin))
    assert (
        client.post(f"{API}/closed-periods", json={"month": "2024-01"}, headers=analyst).status_code
        == 403
    )
    closed = client.post(f"{API}/closed-periods", json={"month": "2024-01"}, headers=admin)
    assert closed.status_code == 201, closed.text
    assert (
        client.post(f"{API}/closed-periods", json={"month": "2024-01"}, headers=admin).status_code
        == 409
    )
    refused = client.post(
        f"{API}/expenses",
        json={"category": "repairs", "amount": "40.00", "date": "2024-01-31"},
        headers=analyst,
    )
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("The books for January 2024 are closed")
    assert _total(client, analyst) == 0
    assert client.delete(f"{API}/closed-periods/2024-01", headers=admin).status_code == 204
    reopened = client.post(
        f"{API}/expenses",
        json={"category": "repairs", "amount": "40.00", "date": "2024-01-31"},
        headers=analyst,
    )
    assert reopened.status_code == 201


def test_another_orgs_deal_and_account_are_404(
    db: Session, client: TestClient, analyst: dict[str, str]
) -> None:
    other = make_org(db, "Other Co")
    their_deal = make_deal(db, other, strategy="flip")
    their_account = make_account(db, other)
    for body in (
        {"deal_id": str(their_deal.id)},
        {"account_id": str(their_account.id)},
        {"deal_id": str(uuid.uuid4())},
        {"receipt_document_id": str(uuid.uuid4())},
    ):
        response = client.post(
            f"{API}/transactions",
            json={
                "type": "expense",
                "category": "repairs",
                "amount": "10.00",
                "date": "2024-03-01",
                **body,
            },
            headers=analyst,
        )
        assert response.status_code == 404, body
        assert "not found" in response.json()["detail"]
    assert _total(client, analyst) == 0
    budget = client.post(
        f"{API}/budgets",
        json={"deal_id": str(their_deal.id), "category": "repairs", "allocated_amount": "10.00"},
        headers=analyst,
    )
    assert budget.status_code == 404
    assert (
        client.get(
            f"{API}/budgets", params={"deal_id": str(their_deal.id)}, headers=analyst
        ).status_code
        == 404
    )


def test_transactions_are_listed_for_the_callers_org_only(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    owner = make_user(db, org, role=Role.investor)
    deal = make_deal(db, org, strategy="rental", owner=owner)
    for day in range(1, 8):
        client.post(
            f"{API}/expenses",
            json={
                "category": "repairs",
                "amount": "5.00",
                "date": f"2024-03-0{day}",
                "deal_id": str(deal.id),
            },
            headers=analyst,
        )
    investor = auth_headers(db, owner)
    page = client.get(
        f"{API}/transactions",
        params={"deal_id": str(deal.id), "limit": 3, "offset": 3},
        headers=investor,
    )
    assert page.status_code == 200
    assert page.headers["X-Total-Count"] == "7"
    assert [t["date"] for t in page.json()] == ["2024-03-04", "2024-03-03", "2024-03-02"]
    assert _total(client, analyst, start="2024-03-03", end="2024-03-05") == 3
    assert _total(client, analyst, category="utilities") == 0
    assert _total(client, analyst, type="expense") == 7
    stranger = auth_headers(db, make_user(db, make_org(db, "Stranger"), role=Role.admin))
    assert _total(client, stranger) == 0
    # Investors read; they do not book.
    refused = client.post(
        f"{API}/expenses",
        json={"category": "repairs", "amount": "5.00", "date": "2024-03-01"},
        headers=investor,
    )
    assert refused.status_code == 403
    contractor = auth_headers(db, make_user(db, org, role=Role.contractor))
    assert client.get(f"{API}/transactions", headers=contractor).status_code == 403


def test_budgets_through_the_api(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = make_deal(db, org, strategy="flip")
    body = {"deal_id": str(deal.id), "category": "rehab_materials", "allocated_amount": "1000.00"}
    first = client.post(f"{API}/budgets", json=body, headers=analyst)
    assert first.status_code == 201, first.text
    again = client.post(
        f"{API}/budgets", json={**body, "allocated_amount": "800.00"}, headers=analyst
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    refused = client.post(
        f"{API}/expenses",
        json={
            "category": "rehab_materials",
            "amount": "800.01",
            "date": "2024-04-01",
            "deal_id": str(deal.id),
            "enforce_budget": True,
        },
        headers=analyst,
    )
    assert refused.status_code == 409
    assert "nothing was booked" in refused.json()["detail"]
    booked = client.post(
        f"{API}/expenses",
        json={
            "category": "rehab_materials",
            "amount": "900.00",
            "date": "2024-04-01",
            "deal_id": str(deal.id),
        },
        headers=analyst,
    )
    assert booked.status_code == 201
    assert booked.json()["budgets"][0]["over_budget"] is True
    status = client.get(f"{API}/budgets", params={"deal_id": str(deal.id)}, headers=analyst).json()
    line = status["lines"][0]
    assert (line["allocated"], line["spent"], line["remaining"], line["over_by"]) == (
        "800.00",
        "900.00",
        "-100.00",
        "100.00",
    )
    negative = client.post(
        f"{API}/budgets", json={**body, "allocated_amount": "-1"}, headers=analyst
    )
    assert negative.status_code == 422
    income = client.post(
        f"{API}/budgets", json={**body, "category": "rents_received"}, headers=analyst
    )
    assert income.status_code == 422
    assert Decimal(status["total_spent"]) == Decimal("900.00")


def test_investor_lists_only_transactions_of_their_own_deals(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor)
    own = make_deal(db, org, owner=investor)
    other = make_deal(db, org)
    make_transaction(db, org, deal_id=own.id, amount="100.00")
    make_transaction(db, org, deal_id=other.id, amount="200.00")
    make_transaction(db, org, amount="300.00")  # company overhead, no deal
    headers = auth_headers(db, investor)

    listed = client.get("/api/v1/transactions", headers=headers)
    assert listed.status_code == 200
    assert [t["amount"] for t in listed.json()] == ["100.00"]
    assert (
        client.get(
            "/api/v1/transactions", params={"deal_id": str(other.id)}, headers=headers
        ).status_code
        == 404
    )

    admin = auth_headers(db, make_user(db, org, role=Role.admin))
    everything = client.get("/api/v1/transactions", headers=admin).json()
    assert sorted(t["amount"] for t in everything) == ["100.00", "200.00", "300.00"]
