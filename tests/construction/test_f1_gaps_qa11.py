"""F1 (QA 11): one receipt booked on a project and in the ledger is warned about on both
routes; a project refund shows on the project's activity; a refund dated before the money it
refunds was spent is refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction import subscribers as construction_subscribers
from domain.finance import subscribers as finance_subscribers
from store.events import Event
from store.outbox import OutboxEvent
from tests.factories import auth_headers, make_deal, make_org, make_project, make_user

API = "/api/v1"
DAY = "2024-03-05"


def _deliver(db: Session, org_id: uuid.UUID) -> None:
    """What the relay delivers: project expenses to finance, finance's rows back (mirror)."""
    db.flush()
    for name, handler in (
        ("construction.expense.added", finance_subscribers.book_construction_expense),
        ("construction.expense.voided", finance_subscribers.book_construction_expense_void),
        ("transaction.created", construction_subscribers.mirror_finance_transaction_on_project),
    ):
        rows = db.exec(
            select(OutboxEvent)
            .where(OutboxEvent.org_id == org_id, OutboxEvent.name == name)
            .order_by(col(OutboxEvent.created_at))
        ).all()
        for r in rows:
            handler(db, Event(id=r.id, org_id=r.org_id, name=r.name, payload=r.payload))
    db.flush()


@pytest.fixture
def job(db: Session) -> dict[str, Any]:
    """A flip deal with its rehab project (roof $9,500, furnace $4,200)."""
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    deal = make_deal(db, org, strategy="flip")
    project = make_project(db, org, deal_id=deal.id)
    roof = next(
        s
        for s in construction_service.list_scope_items(
            session=db, org_id=org.id, project_id=project.id
        )
        if s.component == "roof"
    )
    db.flush()
    return {"org": org, "headers": headers, "deal": deal, "project": project, "roof": roof}


def _on_project(client: TestClient, job: dict[str, Any], **body: Any) -> Any:
    payload = {"category": "materials", "spent_on": DAY, **body}
    return client.post(
        f"{API}/projects/{job['project'].id}/expenses", json=payload, headers=job["headers"]
    )


def _in_ledger(client: TestClient, job: dict[str, Any], **body: Any) -> Any:
    payload = {"category": "rehab_materials", "date": DAY, "deal_id": str(job["deal"].id), **body}
    return client.post(f"{API}/expenses", json=payload, headers=job["headers"])


# --- 1. duplicate warnings across the two routes ------------------------------------------------


def test_ledger_expense_warns_of_the_same_receipt_booked_on_the_project(
    db: Session, client: TestClient, job: dict[str, Any]
) -> None:
    booked = _on_project(client, job, amount="612.40", vendor="Home Depot", description="tile")
    assert booked.status_code == 201, booked.text
    assert booked.json()["possible_duplicates"] == [] and booked.json()["warning"] is None
    expense_id = booked.json()["id"]
    # Before finance has booked the project expense's ledger row ...
    first = _in_ledger(client, job, amount="612.40", counterparty="  home   DEPOT ")
    assert first.status_code == 201, first.text
    assert first.json()["possible_duplicates"] == [expense_id]
    assert "Heads up: 1 other expense(s) of 612.40" in first.json()["warning"]
    assert f"/projects/{job['project'].id}/expenses/{expense_id}/void" in first.json()["warning"]
    _deliver(db, job["org"].id)
    # ... and after: the project expense is reported once, never its ledger row as well.
    second = _in_ledger(client, job, amount="612.40", counterparty="Home Depot")
    assert second.status_code == 201, second.text
    assert second.json()["possible_duplicates"] == [expense_id, first.json()["transaction"]["id"]]
    # Another vendor, amount or day is another receipt.
    for other in (
        {"amount": "612.40", "counterparty": "Lowe's"},
        {"amount": "612.41", "counterparty": "Home Depot"},
        {"amount": "612.40", "counterparty": "Home Depot", "date": "2024-03-06"},
    ):
        response = _in_ledger(client, job, **other)
        assert response.status_code == 201, response.text
        assert response.json()["possible_duplicates"] == [], other


def test_project_expense_warns_of_the_same_receipt_booked_in_the_ledger(
    db: Session, client: TestClient, job: dict[str, Any]
) -> None:
    ledger = _in_ledger(client, job, amount="250.00", counterparty="ACE Supply")
    assert ledger.status_code == 201, ledger.text
    transaction_id = ledger.json()["transaction"]["id"]
    _deliver(db, job["org"].id)  # the ledger row is mirrored onto the project: not a 2nd hit
    booked = _on_project(
        client, job, amount="250", vendor="ace supply", scope_item_id=str(job["roof"].id)
    )
    assert booked.status_code == 201, booked.text
    body = booked.json()
    assert body["possible_duplicates"] == [transaction_id]
    assert body["warning"].startswith("Heads up: 1 other expense(s) of 250.00 dated 2024-03-05")
    assert f"POST /projects/{job['project'].id}/expenses/{body['id']}/void" in body["warning"]
    # Booked all the same; a second project booking sees both earlier ones.
    again = _on_project(client, job, amount="250", vendor="Ace Supply")
    assert again.json()["possible_duplicates"] == [transaction_id, body["id"]]


def test_voided_bookings_and_refunds_raise_no_warning(
    db: Session, client: TestClient, job: dict[str, Any]
) -> None:
    assert _on_project(client, job, amount="500", vendor="Ace Supply").status_code == 201
    first = _on_project(client, job, amount="90", vendor="Home Depot").json()
    void = client.post(
        f"{API}/projects/{job['project'].id}/expenses/{first['id']}/void",
        json={"reason": "typo"},
        headers=job["headers"],
    )
    assert void.status_code == 201, void.text
    _deliver(db, job["org"].id)
    again = _in_ledger(client, job, amount="90.00", counterparty="Home Depot")
    assert again.json()["possible_duplicates"] == []
    refund = _on_project(client, job, amount="90", vendor="Home Depot", refund=True)
    assert refund.status_code == 201, refund.text
    assert refund.json()["possible_duplicates"] == [] and refund.json()["warning"] is None


def test_possible_duplicates_is_documented_on_the_project_expense_response(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/api/v1/projects/{id}/expenses"]["post"]
    ref = post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert "same receipt" in schema["properties"]["possible_duplicates"]["description"]


# --- 2. a refund on the project's activity --------------------------------------------------------


def test_refund_leaves_an_activity_entry(client: TestClient, job: dict[str, Any]) -> None:
    roof = str(job["roof"].id)
    assert _on_project(client, job, amount="600", vendor="Home Depot", scope_item_id=roof)
    refund = _on_project(
        client, job, amount="45.20", vendor="Home Depot", scope_item_id=roof, refund=True,
        description="returned tile",
    )  # fmt: skip
    assert refund.status_code == 201, refund.text
    detail = client.get(f"{API}/projects/{job['project'].id}", headers=job["headers"]).json()
    [entry] = [a for a in detail["activity"] if a["kind"] == "expense_refunded"]
    assert entry["summary"].startswith(
        "Refund of 45.20 (materials, roof line) dated 2024-03-05 from Home Depot booked by"
    )
    assert entry["summary"].endswith(": returned tile")
    assert entry["details"]["expense_id"] == refund.json()["id"]
    assert entry["details"]["amount"] == "-45.20"


# --- 3. a refund dated before the money was spent -----------------------------------------------


def test_refund_dated_before_the_expense_is_refused(
    client: TestClient, job: dict[str, Any]
) -> None:
    roof = str(job["roof"].id)
    spent = _on_project(
        client, job, amount="600", vendor="Home Depot", scope_item_id=roof, spent_on="2024-11-20"
    )
    assert spent.status_code == 201, spent.text
    early = _on_project(
        client, job, amount="100", vendor="Home Depot", scope_item_id=roof, refund=True,
        spent_on="2024-11-10",
    )  # fmt: skip
    assert early.status_code == 422, early.text
    detail = early.json()["detail"]
    assert (
        "dated 2024-11-10" in detail and "0.00 net spent on the 'roof' line by that day" in detail
    )
    # Without a line, the project's spent by that day holds it back the same way.
    loose = _on_project(client, job, amount="100", refund=True, spent_on="2024-11-10")
    assert loose.status_code == 422 and "by that day" in loose.json()["detail"], loose.text
    # On or after the expense's day it is fine.
    same_day = _on_project(
        client, job, amount="100", vendor="Home Depot", scope_item_id=roof, refund=True,
        spent_on="2024-11-20",
    )  # fmt: skip
    assert same_day.status_code == 201, same_day.text
