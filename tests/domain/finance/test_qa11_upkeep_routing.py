"""A repair booked in the ledger after a rental's first rent is an operating cost: it is not
routed to the deal's rehab project (eleventh session's second QA pass)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from core.clock import local_today
from domain.auth.enums import Role
from domain.finance import service as finance_service
from domain.finance.enums import TransactionCategory, TransactionType
from domain.finance.models import TransactionCreate
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_user,
)


def test_a_repair_after_the_first_rent_stays_off_the_rehab_project(
    db: Session, client: TestClient
) -> None:
    """Was booked to the project ("its spent counts it too") while the deal's rehab budget and
    its performance counted it as operating: project spent and the rehab line disagreed."""
    org = make_org(db, "Upkeep Routing Co")
    prop = make_property(db, org)
    deal = make_deal(db, org, property_id=prop.id, strategy="brrrr")
    project = make_project(db, org, deal_id=deal.id, property_id=prop.id)
    today = local_today()
    finance_service.record_transaction(
        session=db,
        org_id=org.id,
        transaction_in=TransactionCreate(
            type=TransactionType.income,
            category=TransactionCategory.rents_received,
            amount=Decimal("1200.00"),
            date=today - dt.timedelta(days=10),
            deal_id=deal.id,
        ),
    )
    headers = auth_headers(db, make_user(db, org, Role.analyst))

    def post(amount: str, days_ago: int) -> dict[str, Any]:
        response = client.post(
            "/api/v1/expenses",
            json={
                "category": "repairs",
                "amount": amount,
                "date": (today - dt.timedelta(days=days_ago)).isoformat(),
                "deal_id": str(deal.id),
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    before = post("300.00", 20)
    after = post("450.00", 2)
    assert before["transaction"]["project_id"] == str(project.id)  # before the rent: rehab
    assert after["transaction"]["project_id"] is None
    assert any("operating cost" in n for n in after["notes"]), after["notes"]
