"""The pricing endpoints: estimates, the catalogue, edits with history, roles and bad input."""

from __future__ import annotations

import uuid
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.auth.models import AuditLog
from tests.factories import auth_headers, make_org, make_user

ESTIMATE = "/api/v1/valuations/component-costs"
COSTS = "/api/v1/component-costs"


def test_estimate_endpoint_prices_free_text_components(client: TestClient, db: Session) -> None:
    """1,000 sqft: roof 1,000 x 1.15 / 100 = 11.5 -> 12 squares x $400 = $4,800;
    interior paint fair: 50% of ($0.75 + $2.25) = $1.50 x 1,000 sqft = $1,500;
    subtotal $6,300, 10% contingency $630, total $6,930."""
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor)
    response = client.post(
        ESTIMATE,
        json={
            "items": [
                {"component": "new roof", "condition": "poor"},
                {"component": "paint", "condition": "Fair", "notes": "scuffed walls"},
                {"component": "jacuzzi", "condition": "poor"},
            ],
            "square_feet": 1000,
        },
        headers=auth_headers(db, investor),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    lines = {line["component_key"]: line for line in body["line_items"]}
    assert lines["roof_shingles"]["quantity"] == "12"
    assert lines["roof_shingles"]["line_total"] == "4800.00"
    assert lines["interior_paint"]["action"] == "repair"
    assert lines["interior_paint"]["unit_total"] == "1.5000"  # 0.375 + 1.125
    assert lines["interior_paint"]["notes"] == "scuffed walls"
    assert (body["subtotal"], body["contingency"], body["total"]) == (
        "6300.00",
        "630.00",
        "6930.00",
    )
    assert body["unpriced"][0]["component"] == "jacuzzi"
    assert body["unpriced"][0]["reason"] == "unknown_component"


def test_estimate_bad_input_is_422(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    for body, needle in [
        ({"items": []}, "items"),
        ({"items": [{"component": "roof", "condition": "terrible"}]}, "condition"),
        ({"items": [{"component": "roof"}], "contingency_pct": 150}, "contingency_pct"),
        ({"items": [{"component": "roof", "quantity": -3}]}, "quantity"),
        ({"items": [{"component": "roof"}], "square_feet": -10}, "square_feet"),
    ]:
        response = client.post(ESTIMATE, json=body, headers=headers)
        assert response.status_code == 422, body
        assert needle in response.text


def test_contractors_cannot_see_costs(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.contractor))
    assert client.get(COSTS, headers=headers).status_code == 403
    assert (
        client.post(ESTIMATE, json={"items": [{"component": "roof"}]}, headers=headers).status_code
        == 403
    )


def test_edit_cost_through_the_api(client: TestClient, db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    investor = make_user(db, org, role=Role.investor)
    headers = auth_headers(db, analyst)
    catalogue = client.get(COSTS, headers=headers).json()
    assert len(catalogue) >= 29
    heater = next(row for row in catalogue if row["component_key"] == "water_heater")
    assert (heater["unit"], heater["total_cost"]) == ("each", "1500.00")
    assert client.get(COSTS, params={"category": "kitchen"}, headers=headers).json()

    url = f"{COSTS}/{heater['id']}"
    refused = client.put(
        url, json={"labor_cost": "700", "reason": "x"}, headers=auth_headers(db, investor)
    )
    assert refused.status_code == 403
    assert (
        client.put(url, json={"labor_cost": "-1", "reason": "x"}, headers=headers).status_code
        == 422
    )
    no_reason = client.put(url, json={"labor_cost": "700"}, headers=headers)
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    nothing = client.put(url, json={"reason": "just because"}, headers=headers)
    assert nothing.status_code == 422 and "material_cost" in nothing.text

    updated = client.put(
        url, json={"labor_cost": "700", "reason": "plumber's new rate"}, headers=headers
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["total_cost"] == "1600.00"
    history = client.get(f"{url}/history", headers=headers).json()
    assert [(h["old_cost"], h["new_cost"], h["updated_by"]) for h in history] == [
        ("1500.00", "1600.00", analyst.email)
    ]
    estimate = client.post(
        ESTIMATE,
        json={
            "items": [{"component": "hot water tank", "condition": "poor"}],
            "contingency_pct": 0,
        },
        headers=headers,
    ).json()
    assert estimate["total"] == "1600.00"
    audit = db.exec(
        select(AuditLog).where(AuditLog.entity == "component_cost", AuditLog.org_id == org.id)
    ).one()
    assert audit.entity_id == heater["id"] and audit.actor == analyst.email

    # Another organisation sees neither the row nor its history, and keeps its own price.
    other_headers = auth_headers(db, make_user(db, make_org(db, "Rival"), role=Role.admin))
    assert (
        client.put(url, json={"labor_cost": "1", "reason": "x"}, headers=other_headers).status_code
        == 404
    )
    assert client.get(f"{url}/history", headers=other_headers).status_code == 404
    theirs = client.post(
        ESTIMATE,
        json={"items": [{"component": "water heater", "condition": "poor"}], "contingency_pct": 0},
        headers=other_headers,
    ).json()
    assert theirs["total"] == str(Decimal("1500.00"))
    assert client.get(f"{COSTS}/{uuid.uuid4()}/history", headers=headers).status_code == 404
