"""Defects found walking the README's REST workflow on a fresh data directory.

The README promises that money is always a decimal string with two places, the same from a
write as from a later read. Each test failed before its fix: a budget line with nothing spent
(or nothing allocated) read "0", and the answers of ``POST /projects/{id}/scope`` and
``POST /alerts/configure`` echoed the amounts as sent ("11000") while a later GET read
"11000.00".
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import auth_headers, make_deal, make_org, make_project, make_user

API = "/api/v1"


def test_a_budget_line_with_nothing_spent_reads_two_places(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org))
    deal = make_deal(db, org, strategy="flip")

    for category, allocated in (("rehab_materials", "10000"), ("utilities", "0")):
        created = client.post(
            f"{API}/budgets",
            headers=headers,
            json={"deal_id": str(deal.id), "category": category, "allocated_amount": allocated},
        )
        assert created.status_code in (200, 201), created.text

    status = client.get(f"{API}/budgets", headers=headers, params={"deal_id": str(deal.id)})

    assert status.status_code == 200, status.text
    lines = {line["category"]: line for line in status.json()["lines"]}
    assert (lines["rehab_materials"]["allocated"], lines["rehab_materials"]["spent"]) == (
        "10000.00",
        "0.00",
    )
    assert lines["rehab_materials"]["remaining"] == "10000.00"
    assert (lines["utilities"]["allocated"], lines["utilities"]["spent"]) == ("0.00", "0.00")
    assert status.json()["total_spent"] == "0.00"


def test_added_scope_lines_answer_money_as_a_later_read_does(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org))
    project = make_project(db, org)

    added = client.post(
        f"{API}/projects/{project.id}/scope",
        headers=headers,
        json=[
            {"component": "roof", "quantity": 20, "unit": "square", "budgeted_cost": "11000"},
            {"component": "furnace", "budgeted_cost": 4500},
        ],
    )

    assert added.status_code == 201, added.text
    written = {line["id"]: line for line in added.json()}
    assert [(line["budgeted_cost"], line["quantity"]) for line in added.json()] == [
        ("11000.00", "20.00"),
        ("4500.00", None),
    ]
    read = client.get(f"{API}/projects/{project.id}", headers=headers).json()["scope"]
    for line in read:
        if line["id"] in written:
            assert line["budgeted_cost"] == written[line["id"]]["budgeted_cost"]
            assert line["quantity"] == written[line["id"]]["quantity"]


def test_configured_alert_prices_answer_as_a_later_read_does(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org))

    configured = client.post(
        f"{API}/alerts/configure",
        headers=headers,
        json={"zip_codes": ["50010"], "min_price": 50000, "max_price": "200000"},
    )

    assert configured.status_code == 200, configured.text
    assert (configured.json()["min_price"], configured.json()["max_price"]) == (
        "50000.00",
        "200000.00",
    )
    read = client.get(f"{API}/alerts/criteria", headers=headers)
    assert read.status_code == 200, read.text
    assert (read.json()["min_price"], read.json()["max_price"]) == ("50000.00", "200000.00")


def test_a_misspelt_search_filter_is_refused_not_ignored(client: TestClient, db: Session) -> None:
    """Was: ``{"query": "kercheval"}`` (the field is ``text``) answered every property."""
    headers = auth_headers(db, make_user(db, make_org(db)))
    response = client.post(f"{API}/properties/search", headers=headers, json={"query": "kercheval"})
    assert response.status_code == 422, response.text
    assert "query" in response.text
    assert (
        client.post(
            f"{API}/properties/search", headers=headers, json={"text": "kercheval"}
        ).status_code
        == 200
    )


def test_a_category_of_the_wrong_kind_says_so_in_plain_english(
    client: TestClient, db: Session
) -> None:
    """Was: "a income needs an income category"."""
    headers = auth_headers(db, make_user(db, make_org(db)))
    response = client.post(
        f"{API}/transactions",
        headers=headers,
        json={"type": "income", "category": "repairs", "amount": "100", "date": "2026-11-01"},
    )
    assert response.status_code == 422, response.text
    assert "an income needs an income category" in response.text
