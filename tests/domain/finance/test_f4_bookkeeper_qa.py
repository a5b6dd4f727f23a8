"""Bookkeeper QA findings: budget totals, duplicate expenses, voids, cash flow, vendor views."""

from __future__ import annotations

import csv
import io
import uuid
import warnings
from decimal import Decimal as D
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.auth.models import AuditLog
from domain.finance import service as finance_service
from domain.finance.models import TransactionRead
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


def _post(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = client.post(f"{API}{path}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _expense(
    client: TestClient, headers: dict[str, str], deal_id: Any, category: str, amount: str, **kw: Any
) -> Any:
    body = {"category": category, "amount": amount, "date": "2024-11-05", **kw}
    if deal_id is not None:
        body["deal_id"] = str(deal_id)
    return _post(client, "/expenses", body, headers)


# --- 1. budget totals ------------------------------------------------------------------------


def test_budget_totals_count_each_transaction_once(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = make_deal(db, org)
    rehab = _post(
        client, "/budgets", {"deal_id": str(deal.id), "allocated_amount": "40000"}, analyst
    )
    labour = _post(
        client,
        "/budgets",
        {"deal_id": str(deal.id), "category": "rehab_labour", "allocated_amount": "4000"},
        analyst,
    )
    _post(
        client,
        "/budgets",
        {"deal_id": str(deal.id), "category": "holding_costs", "allocated_amount": "1000"},
        analyst,
    )
    _expense(client, analyst, deal.id, "rehab_materials", "3305.60")
    _expense(client, analyst, deal.id, "rehab_labour", "11700.00")
    _expense(client, analyst, deal.id, "permits", "205.50")

    status = client.get(f"{API}/budgets", params={"deal_id": str(deal.id)}, headers=analyst)
    assert status.status_code == 200, status.text
    body = status.json()
    # Real spending once: 3,305.60 + 11,700 + 205.50 (it used to say 26,911.10).
    assert D(body["total_spent"]) == D("15211.10")
    # The labour line is part of the rehab line: 40,000 + 1,000 (it used to say 45,000).
    assert D(body["total_allocated"]) == D("41000.00")
    assert D(body["total_remaining"]) == D("25788.90")
    assert D(body["over_by"]) == D("0")
    lines = {line["budget_id"]: line for line in body["lines"]}
    labour_line = lines[labour["id"]]
    assert labour_line["within_budget_id"] == rehab["id"]
    assert lines[rehab["id"]]["within_budget_id"] is None
    # Each line keeps its own figures; over reads as over_by.
    assert (D(labour_line["spent"]), D(labour_line["remaining"])) == (D("11700"), D("-7700"))
    assert labour_line["over_budget"] is True and D(labour_line["over_by"]) == D("7700")
    assert D(lines[rehab["id"]]["spent"]) == D("15211.10")
    [overlap] = body["overlaps"]
    assert (overlap["budget_id"], overlap["overlaps_budget_id"]) == (labour["id"], rehab["id"])
    assert overlap["nested"] is True and D(overlap["shared_spent"]) == D("11700.00")


def test_budget_over_all_lines_says_over_by(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = make_deal(db, org)
    _post(client, "/budgets", {"deal_id": str(deal.id), "allocated_amount": "1000"}, analyst)
    _post(
        client,
        "/budgets",
        {"deal_id": str(deal.id), "category": "rehab_materials", "allocated_amount": "800"},
        analyst,
    )
    _expense(client, analyst, deal.id, "rehab_materials", "1500.00")
    body = client.get(f"{API}/budgets", params={"deal_id": str(deal.id)}, headers=analyst).json()
    assert (D(body["total_allocated"]), D(body["total_spent"])) == (D("1000"), D("1500"))
    assert (D(body["total_remaining"]), D(body["over_by"])) == (D("-500"), D("500"))
    assert body["over_budget"] is True


# --- 2. duplicates ---------------------------------------------------------------------------


def test_repeated_expense_is_booked_with_a_duplicate_warning(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = make_deal(db, org)
    same = {"counterparty": "Ace Plumbing", "description": "Rough-in, 2nd draw"}
    first = _expense(client, analyst, deal.id, "rehab_labour", "4000.00", **same)
    assert first["possible_duplicates"] == [] and first["warning"] is None
    second = _expense(client, analyst, deal.id, "rehab_labour", "4000.00", **same)
    assert second["possible_duplicates"] == [first["transaction"]["id"]]
    assert "Heads up: 1 other expense(s) of 4000.00" in second["warning"]
    # Another vendor is another receipt: no warning (the description is free text: two
    # people booking one receipt word it differently, so it does not tell them apart).
    other = _expense(
        client, analyst, deal.id, "rehab_labour", "4000.00", counterparty="Best Plumbing"
    )
    assert other["possible_duplicates"] == []
    # A voided one is no longer a live duplicate.
    _post(
        client,
        f"/transactions/{first['transaction']['id']}/void",
        {"reason": "booked twice"},
        analyst,
    )
    third = _expense(client, analyst, deal.id, "rehab_labour", "4000.00", **same)
    assert third["possible_duplicates"] == [second["transaction"]["id"]]


# --- 3. voids and the cash flow ----------------------------------------------------------------


def test_void_books_an_offsetting_entry_and_restores_balance_and_budget(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = make_deal(db, org)
    account = make_account(db, org)
    _post(
        client,
        "/budgets",
        {"deal_id": str(deal.id), "category": "permits", "allocated_amount": "500"},
        analyst,
    )
    booked = _expense(client, analyst, deal.id, "permits", "205.50", account_id=str(account.id))[
        "transaction"
    ]
    voided = client.post(
        f"{API}/transactions/{booked['id']}/void",
        json={"reason": "  entered   on the wrong deal "},
        headers=analyst,
    )
    assert voided.status_code == 201, voided.text
    body = voided.json()
    assert body["voided"]["id"] == booked["id"]
    reversal = body["reversal"]
    assert (reversal["type"], reversal["category"], reversal["amount"]) == (
        "refund",
        "permits",
        "205.50",
    )
    assert reversal["date"] == booked["date"] and reversal["deal_id"] == str(deal.id)
    assert reversal["description"] == (
        f"void of transaction {booked['id']}: entered on the wrong deal"
    )
    accounts = client.get(f"{API}/accounts", headers=analyst).json()
    assert [a["balance"] for a in accounts] == ["0.00"]
    budget = client.get(f"{API}/budgets", params={"deal_id": str(deal.id)}, headers=analyst)
    assert D(budget.json()["lines"][0]["spent"]) == D("0")
    audit = db.exec(
        select(AuditLog).where(
            AuditLog.org_id == org.id, AuditLog.action == "void", AuditLog.entity == "transaction"
        )
    ).all()
    assert [(a.entity_id, a.changes["reason"]) for a in audit] == [
        (booked["id"], "entered on the wrong deal")
    ]

    again = client.post(
        f"{API}/transactions/{booked['id']}/void", json={"reason": "again"}, headers=analyst
    )
    assert again.status_code == 409 and "already voided" in again.json()["detail"]
    of_void = client.post(
        f"{API}/transactions/{reversal['id']}/void", json={"reason": "undo"}, headers=analyst
    )
    assert of_void.status_code == 409 and "itself a void" in of_void.json()["detail"]


def test_void_refusals(db: Session, client: TestClient, org: Any, analyst: dict[str, str]) -> None:
    expense = make_transaction(db, org, category="repairs", amount="80.00", date="2024-03-10")
    rent = make_transaction(
        db, org, type="income", category="rents_received", amount="1200.00", date="2024-03-01"
    )
    url = f"{API}/transactions/{expense.id}/void"
    no_reason = client.post(url, json={}, headers=analyst)
    assert no_reason.status_code == 422
    blank = client.post(url, json={"reason": "   "}, headers=analyst)
    assert blank.status_code == 422
    investor = auth_headers(db, make_user(db, org, role=Role.investor))
    assert client.post(url, json={"reason": "x"}, headers=investor).status_code == 403
    other_org = make_org(db, "Other Co")
    stranger = auth_headers(db, make_user(db, other_org, role=Role.analyst))
    assert client.post(url, json={"reason": "x"}, headers=stranger).status_code == 404
    missing = client.post(
        f"{API}/transactions/{uuid.uuid4()}/void", json={"reason": "x"}, headers=analyst
    )
    assert missing.status_code == 404
    admin = auth_headers(db, make_user(db, org, role=Role.admin))
    closed = client.post(f"{API}/closed-periods", json={"month": "2024-03"}, headers=admin)
    assert closed.status_code == 201, closed.text
    refused = client.post(url, json={"reason": "x"}, headers=analyst)
    assert refused.status_code == 409 and "closed" in refused.json()["detail"]
    # Income is voided like an expense now (tests/domain/finance/test_f1_gaps_qa11.py), so
    # in a closed month it is refused the same way.
    income = client.post(
        f"{API}/transactions/{rent.id}/void", json={"reason": "x"}, headers=analyst
    )
    assert income.status_code == 409 and "closed" in income.json()["detail"]
    assert _total(client, analyst) == 2  # nothing was booked


def _total(client: TestClient, headers: dict[str, str], **params: Any) -> int:
    response = client.get(f"{API}/transactions", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])


def test_cashflow_does_not_count_a_void_as_money_in(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    make_transaction(
        db, org, type="income", category="rents_received", amount="1000.00", date="2024-11-01"
    )
    make_transaction(db, org, category="repairs", amount="500.00", date="2024-11-02")
    mistake = make_transaction(db, org, category="repairs", amount="234.56", date="2024-11-03")
    make_transaction(db, org, type="refund", category="repairs", amount="20.00", date="2024-11-04")
    finance_service.void_transaction(
        session=db, org_id=org.id, transaction_id=mistake.id, reason="typo"
    )
    flow = client.get(
        f"{API}/reports/cashflow",
        params={"start": "2024-11-01", "end": "2024-11-30"},
        headers=analyst,
    )
    assert flow.status_code == 200, flow.text
    november = flow.json()["rows"][0]
    # In: rent and the real vendor refund; the void cancels the mistake instead.
    assert (D(november["inflows"]), D(november["outflows"])) == (D("1020.00"), D("500.00"))
    assert D(november["net"]) == D("520.00")
    pnl = client.get(
        f"{API}/reports/pnl", params={"start": "2024-11-01", "end": "2024-11-30"}, headers=analyst
    ).json()
    assert D(pnl["total"]["expenses"]["repairs"]) == D("480.00")


def test_void_of_a_transfer_moves_the_money_back(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    checking = make_account(db, org, "Checking")
    savings = make_account(db, org, "Savings")
    transfer = make_transaction(
        db,
        org,
        type="transfer",
        category=None,
        amount="300.00",
        date="2024-11-05",
        account_id=checking.id,
        to_account_id=savings.id,
    )
    result = finance_service.void_transaction(
        session=db, org_id=org.id, transaction_id=transfer.id, reason="wrong account"
    )
    assert (result.reversal.account_id, result.reversal.to_account_id) == (savings.id, checking.id)
    db.refresh(checking)
    db.refresh(savings)
    assert (checking.balance, savings.balance) == (D("0.00"), D("0.00"))
    flow = client.get(
        f"{API}/reports/cashflow",
        params={"start": "2024-11-01", "end": "2024-11-30", "account_id": str(checking.id)},
        headers=analyst,
    ).json()
    assert (D(flow["inflows"]), D(flow["outflows"])) == (D("0"), D("0"))


# --- 4. vendor views -----------------------------------------------------------------------


def test_transactions_by_counterparty_and_pnl_by_counterparty(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    for vendor, amount in (
        ("Home Depot", "100.00"),
        ("HOME DEPOT #2231", "50.00"),
        ("Lowe's", "70.00"),
        ("50%_Off Paint", "10.00"),
    ):
        make_transaction(db, org, category="supplies", amount=amount, counterparty=vendor)
    make_transaction(db, org, category="supplies", amount="5.00")
    assert _total(client, analyst, counterparty="home depot") == 2
    assert _total(client, analyst, counterparty="%") == 1
    assert _total(client, analyst, counterparty="_") == 1
    blank = client.get(f"{API}/transactions", params={"counterparty": ""}, headers=analyst)
    assert blank.status_code == 422

    pnl = client.get(
        f"{API}/reports/pnl",
        params={"start": "2024-01-01", "end": "2024-12-31", "group_by": "counterparty"},
        headers=analyst,
    )
    assert pnl.status_code == 200, pnl.text
    groups = {g["key"]: D(g["total_expenses"]) for g in pnl.json()["groups"]}
    assert groups == {
        "50%_Off Paint": D("10.00"),
        "HOME DEPOT #2231": D("50.00"),
        "Home Depot": D("100.00"),
        "Lowe's": D("70.00"),
        "no_counterparty": D("5.00"),
    }


def test_pnl_by_deal_names_the_address(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = make_deal(db, org)
    make_transaction(db, org, category="repairs", amount="40.00", deal_id=deal.id)
    make_transaction(db, org, category="utilities", amount="9.00")
    params = {"start": "2024-01-01", "end": "2024-12-31", "group_by": "deal"}
    report = client.get(f"{API}/reports/pnl", params=params, headers=analyst)
    assert report.status_code == 200, report.text
    groups = {g["key"]: g for g in report.json()["groups"]}
    address = groups[str(deal.id)]["address"]
    assert address and address.endswith("Detroit, MI 48201")
    assert groups["no_deal"]["address"] is None
    text = client.get(
        f"{API}/reports/pnl", params={**params, "format": "csv"}, headers=analyst
    ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["address"] for r in rows if r["group"] == str(deal.id)} == {address}


# --- 5. serializer warnings -------------------------------------------------------------------


def test_reading_a_stored_transaction_does_not_warn(db: Session, org: Any) -> None:
    booked = make_transaction(db, org, category="permits", amount="12.00")
    db.commit()
    db.expire_all()
    row = finance_service.get_transaction(session=db, org_id=org.id, transaction_id=booked.id)
    assert row is not None and isinstance(row.type, str)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = TransactionRead.from_row(row)
        dumped = read.model_dump(mode="json")
    assert (dumped["type"], dumped["category"]) == ("expense", "permits")
