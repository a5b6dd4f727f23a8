"""F1 (QA 11): income booked by mistake is voided like an expense; deal performance as of a
day (GET /deals/{id}/performance?as_of= and the deal_performance tool)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import AuditLog
from domain.finance.models import Transaction
from store.outbox import OutboxEvent
from tests.factories import (
    auth_headers,
    make_account,
    make_deal,
    make_org,
    make_transaction,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools.deal import deal_performance

API = "/api/v1"


@pytest.fixture
def org(db: Session) -> Any:
    return make_org(db)


@pytest.fixture
def analyst(db: Session, org: Any) -> dict[str, str]:
    return auth_headers(db, make_user(db, org, role=Role.analyst))


def _get(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(f"{API}{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _flip(db: Session, org: Any) -> Any:
    """A flip bought in January, rehabbed in February, sold on June 30 (2024)."""
    deal = make_deal(
        db, org, strategy="flip", purchase_price=D("100000"), estimated_repairs=D("30000")
    )
    for kind, category, amount, day in (
        ("expense", "purchase", "100000.00", "2024-01-10"),
        ("expense", "rehab_labour", "20000.00", "2024-02-01"),
        ("expense", "selling_costs", "10800.00", "2024-06-30"),
        ("income", "sale_proceeds", "180000.00", "2024-06-30"),
    ):
        make_transaction(
            db, org, type=kind, category=category, amount=amount, date=day, deal_id=deal.id
        )
    return deal


# --- 4. voiding income ----------------------------------------------------------------------


def test_income_booked_by_mistake_is_voided_everywhere(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = make_deal(db, org, strategy="flip")
    account = make_account(db, org)
    make_transaction(
        db, org, type="income", category="rents_received", amount="1500.00", date="2024-05-01",
        deal_id=deal.id, account_id=account.id,
    )  # fmt: skip
    mistake = make_transaction(
        db, org, type="income", category="rents_received", amount="1500.00", date="2024-05-02",
        deal_id=deal.id, account_id=account.id, counterparty="Tenant",
    )  # fmt: skip
    make_transaction(
        db, org, category="rehab_materials", amount="400.00", date="2024-05-03", deal_id=deal.id
    )
    _get(client, "/budgets", analyst, deal_id=str(deal.id))  # a deal budget view works before
    response = client.post(
        f"{API}/transactions/{mistake.id}/void",
        json={"reason": "rent booked twice"},
        headers=analyst,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    reversal = body["reversal"]
    assert body["voided"]["id"] == str(mistake.id)
    assert (reversal["category"], reversal["amount"], reversal["date"]) == (
        "rents_received", "1500.00", "2024-05-02",
    )  # fmt: skip
    period = {"start": "2024-01-01", "end": "2024-12-31", "deal_id": str(deal.id)}
    pnl = _get(client, "/reports/pnl", analyst, **period)["total"]
    assert D(pnl["income"]["rents_received"]) == D("1500.00")  # the first rent only
    assert D(pnl["total_income"]) == D("1500.00") and D(pnl["net"]) == D("1100.00")
    assert "rents_received" not in pnl["expenses"]
    flow = _get(client, "/reports/cashflow", analyst, **period)
    assert (D(flow["inflows"]), D(flow["outflows"])) == (D("1500.00"), D("400.00"))
    budgets = _get(client, "/budgets", analyst, deal_id=str(deal.id))
    assert "rents_received" not in budgets["unbudgeted_spending"]
    assert budgets["unbudgeted_spending"] == {"rehab_materials": "400.00"}
    accounts = _get(client, "/accounts", analyst)
    assert [a["balance"] for a in accounts] == ["1500.00"]
    # Event and audit as for an expense's void; a second void is refused.
    announced = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org.id,
            OutboxEvent.name == "transaction.created",
            col(OutboxEvent.payload)["voids_transaction_id"].astext == str(mistake.id),
        )
    ).all()
    assert len(announced) == 1
    assert announced[0].payload["transaction_id"] == reversal["id"]
    audit = db.exec(
        select(AuditLog).where(
            AuditLog.org_id == org.id, AuditLog.action == "void", AuditLog.entity == "transaction"
        )
    ).all()
    assert [(a.entity_id, a.changes["reason"]) for a in audit] == [
        (str(mistake.id), "rent booked twice")
    ]
    again = client.post(
        f"{API}/transactions/{mistake.id}/void", json={"reason": "again"}, headers=analyst
    )
    assert again.status_code == 409 and "already voided" in again.json()["detail"]
    void_row = db.get(Transaction, reversal["id"])
    assert void_row is not None and void_row.project_id is None


def test_voided_sale_proceeds_leave_a_flip_unsold_in_its_performance(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = _flip(db, org)
    sale = db.exec(
        select(Transaction).where(
            Transaction.deal_id == deal.id, Transaction.category == "sale_proceeds"
        )
    ).one()
    voided = client.post(
        f"{API}/transactions/{sale.id}/void", json={"reason": "not closed yet"}, headers=analyst
    )
    assert voided.status_code == 201, voided.text
    body = _get(client, f"/deals/{deal.id}/performance", analyst, arv="180000")
    lines = {line["key"]: line for line in body["lines"]}
    assert body["state"] == "realised so far"
    assert lines["sale_price"]["actual"] is None
    assert lines["profit"]["label"] == "Profit so far (not sold)"
    assert body["ledger"]["total_income"] == "0.00"
    assert body["ledger"]["net"] == "-130800.00"


# --- 5. deal performance as of a day ---------------------------------------------------------


def test_performance_as_of_counts_the_ledger_up_to_that_day(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = _flip(db, org)
    path = f"/deals/{deal.id}/performance"
    now = _get(client, path, analyst, arv="180000")
    assert now["state"] == "realised" and now["period_end"] == local_today().isoformat()
    march = _get(client, path, analyst, arv="180000", as_of="2024-03-31")
    lines = {line["key"]: line for line in march["lines"]}
    assert march["period_end"] == "2024-03-31" and march["state"] == "realised so far"
    assert march["ledger"]["net"] == "-120000.00"
    assert lines["sale_price"]["actual"] is None and lines["selling_costs"]["actual"] is None
    assert lines["rehab"]["actual"] == "20000.00"
    assert "2024-03-31" in march["ledger"]["basis"]
    # The projection is the deal's (same on both days).
    assert lines["purchase_price"]["projected"] == now["lines"][1]["projected"]
    # The last day is inclusive.
    sold = _get(client, path, analyst, arv="180000", as_of="2024-06-30")
    assert sold["state"] == "realised" and sold["ledger"]["net"] == "49200.00"


def test_performance_as_of_after_today_is_refused(
    db: Session, client: TestClient, org: Any, analyst: dict[str, str]
) -> None:
    deal = _flip(db, org)
    tomorrow = (local_today() + dt.timedelta(days=1)).isoformat()
    response = client.get(
        f"{API}/deals/{deal.id}/performance", params={"as_of": tomorrow}, headers=analyst
    )
    assert response.status_code == 422, response.text
    assert "after today" in response.json()["detail"]
    bad = client.get(
        f"{API}/deals/{deal.id}/performance", params={"as_of": "March"}, headers=analyst
    )
    assert bad.status_code == 422


def test_deal_performance_tool_takes_as_of(db: Session, org: Any) -> None:
    deal = _flip(db, org)
    user = make_user(db, org, role=Role.analyst)
    result = call_tool(
        deal_performance, context_for(db, user), deal=str(deal.id), as_of="2024-03-31"
    )
    assert result["period"]["end"] in ("2024-03-31", dt.date(2024, 3, 31))
    assert result["state"] == "realised so far"
