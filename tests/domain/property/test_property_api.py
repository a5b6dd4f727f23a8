"""Properties through the REST API: CRUD, org scoping, roles, validation and events."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.metrics import REGISTRY
from domain.auth import service as auth_service
from domain.auth.enums import Role
from store.outbox import OutboxEvent
from tests.factories import auth_headers, make_org, make_property, make_user

API = "/api/v1/properties"

KERCHEVAL = {
    "address_line": "14500 kercheval avenue apt 2",
    "city": "detroit",
    "state": "Michigan",
    "zip_code": "48215-1234",
    "property_type": "single_family",
    "status": "active",
    "list_price": "65000",
    "square_feet": 1150,
    "bedrooms": 3,
    "bathrooms": "1.5",
    "year_built": 1924,
    "latitude": 42.3751,
    "longitude": -82.9712,
    "features": {"basement": True, "garage": "detached"},
}


def _events(db: Session, name: str, property_id: str) -> list[OutboxEvent]:
    """Outbox rows named ``name`` about ``property_id``."""
    rows = db.exec(select(OutboxEvent).where(OutboxEvent.name == name)).all()
    return [row for row in rows if row.payload.get("property_id") == property_id]


@pytest.fixture
def analyst_headers(db: Session) -> dict[str, str]:
    org = make_org(db, "Eastside Rehab")
    return auth_headers(db, make_user(db, org, role=Role.analyst))


def test_create_normalises_the_address_and_announces_it(
    client: TestClient, db: Session, analyst_headers: dict[str, str]
) -> None:
    before = REGISTRY.get_sample_value("properties_created_total", {"origin": "api"}) or 0
    response = client.post(API, json=KERCHEVAL, headers=analyst_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert REGISTRY.get_sample_value("properties_created_total", {"origin": "api"}) == before + 1
    assert body["address_line"] == "14500 Kercheval Ave #2"
    assert (body["city"], body["state"], body["zip_code"]) == ("Detroit", "MI", "48215")
    assert body["address_key"] == "14500 KERCHEVAL AVE #2"
    assert float(body["list_price"]) == 65000

    created = _events(db, "property.created", body["id"])
    assert len(created) == 1 and created[0].payload["address_line"] == "14500 Kercheval Ave #2"
    audit = auth_service.list_audit(
        session=db, org_id=uuid.UUID(body["org_id"]), entity="property", entity_id=body["id"]
    )
    assert [entry.action for entry in audit] == ["create"]

    # The other way of typing the same address finds it.
    found = client.get(
        API, params={"address": "14500 Kercheval Ave #2"}, headers=analyst_headers
    ).json()
    assert [item["id"] for item in found["items"]] == [body["id"]]


def test_read_update_delete_with_events(
    client: TestClient, db: Session, analyst_headers: dict[str, str]
) -> None:
    created = client.post(API, json=KERCHEVAL, headers=analyst_headers).json()
    url = f"{API}/{created['id']}"
    assert client.get(url, headers=analyst_headers).json()["bedrooms"] == 3

    changed = client.put(url, json={"list_price": "59900", "bedrooms": 4}, headers=analyst_headers)
    assert changed.status_code == 200, changed.text
    assert float(changed.json()["list_price"]) == 59900 and changed.json()["bedrooms"] == 4
    updates = _events(db, "property.updated", created["id"])
    assert len(updates) == 1
    assert updates[0].payload["changed_fields"] == ["bedrooms", "list_price"]
    assert updates[0].payload["changes"]["bedrooms"] == {"from": 3, "to": 4}

    # The same values again change nothing and announce nothing.
    client.put(url, json={"list_price": "59900.00"}, headers=analyst_headers)
    assert len(_events(db, "property.updated", created["id"])) == 1

    # A new address is normalised again.
    moved = client.put(
        url, json={"address_line": "14502 Kercheval Avenue"}, headers=analyst_headers
    )
    assert moved.json()["address_key"] == "14502 KERCHEVAL AVE"
    assert moved.json()["zip_code"] == "48215"

    deleted = client.delete(url, headers=analyst_headers)
    assert deleted.status_code == 204
    assert client.get(url, headers=analyst_headers).status_code == 404
    gone = _events(db, "property.deleted", created["id"])
    assert len(gone) == 1 and gone[0].payload["address_line"] == "14502 Kercheval Ave"
    assert client.delete(url, headers=analyst_headers).status_code == 404


def test_other_organisations_get_404(client: TestClient, db: Session) -> None:
    org_a, org_b = make_org(db, "Org A"), make_org(db, "Org B")
    prop = make_property(db, org_a, address_line="1 Main St", city="Detroit")
    outsider = auth_headers(db, make_user(db, org_b, role=Role.admin))
    url = f"{API}/{prop.id}"
    assert client.get(url, headers=outsider).status_code == 404
    assert client.put(url, json={"bedrooms": 2}, headers=outsider).status_code == 404
    assert client.delete(url, headers=outsider).status_code == 404
    assert client.get(f"{url}/images", headers=outsider).status_code == 404
    assert (
        client.post(
            f"{url}/market-data",
            json={"data_type": "rent_estimate", "value": {"rent_monthly": 1}},
            headers=outsider,
        ).status_code
        == 404
    )
    assert client.get(API, headers=outsider).json()["total"] == 0
    assert client.get(API, params={"address": "1 Main St"}, headers=outsider).json()["items"] == []


def test_roles_investors_read_contractors_do_not(client: TestClient, db: Session) -> None:
    org = make_org(db)
    prop = make_property(db, org)
    investor = auth_headers(db, make_user(db, org, role=Role.investor))
    contractor = auth_headers(db, make_user(db, org, role=Role.contractor))
    assert client.get(f"{API}/{prop.id}", headers=investor).status_code == 200
    assert client.post(f"{API}/search", json={}, headers=investor).status_code == 200
    assert client.post(API, json=KERCHEVAL, headers=investor).status_code == 403
    assert client.put(f"{API}/{prop.id}", json={"bedrooms": 1}, headers=investor).status_code == 403
    assert client.delete(f"{API}/{prop.id}", headers=investor).status_code == 403
    assert client.get(API, headers=contractor).status_code == 403
    assert client.get(f"{API}/{prop.id}", headers=contractor).status_code == 403
    assert client.get(API).status_code == 401


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"square_feet": -100}, "square_feet", "greater than 0"),
        ({"square_feet": 0}, "square_feet", "greater than 0"),
        ({"bedrooms": 21}, "bedrooms", "at most 20"),
        ({"bedrooms": -1}, "bedrooms", "at least 0"),
        ({"bathrooms": "25"}, "bathrooms", "at most 20"),
        ({"year_built": 1650}, "year_built", "at least 1700"),
        ({"year_built": 3000}, "year_built", "at most"),
        ({"latitude": 91}, "latitude", "at most 90"),
        ({"longitude": -181}, "longitude", "at least -180"),
        ({"list_price": "-1"}, "list_price", "at least 0"),
        ({"close_price": "-5"}, "close_price", "at least 0"),
    ],
)
def test_out_of_range_values_get_422_naming_the_field(
    client: TestClient,
    analyst_headers: dict[str, str],
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    response = client.post(API, json={**KERCHEVAL, **change}, headers=analyst_headers)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and message in e["msg"] for e in errors), errors


def test_bad_addresses_get_422_with_a_message(
    client: TestClient, db: Session, analyst_headers: dict[str, str]
) -> None:
    unreadable = client.post(API, json={"address_line": "hello world"}, headers=analyst_headers)
    assert unreadable.status_code == 422
    assert "house number" in unreadable.json()["detail"]
    nowhere = client.post(API, json={"bedrooms": 3}, headers=analyst_headers)
    assert nowhere.status_code == 422
    assert "latitude and longitude" in nowhere.json()["detail"]
    bad_state = client.post(
        API, json={"address_line": "1 Main St", "state": "Narnia"}, headers=analyst_headers
    )
    assert bad_state.status_code == 422 and "state" in bad_state.json()["detail"]
    lookup = client.get(API, params={"address": "somewhere nice"}, headers=analyst_headers)
    assert lookup.status_code == 422
    # Nothing was stored by the refused requests.
    assert client.get(API, headers=analyst_headers).json()["total"] == 0


def test_duplicate_mls_number_is_a_conflict(
    client: TestClient, analyst_headers: dict[str, str]
) -> None:
    first = client.post(API, json={**KERCHEVAL, "mls_number": "2240001"}, headers=analyst_headers)
    assert first.status_code == 201
    second = client.post(
        API,
        json={"address_line": "1 Main St", "mls_number": "2240001"},
        headers=analyst_headers,
    )
    assert second.status_code == 409 and "2240001" in second.json()["detail"]


def test_list_is_paginated_with_a_total(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.investor))
    ids = {str(make_property(db, org).id) for _ in range(3)}
    first = client.get(API, params={"limit": 2}, headers=headers).json()
    second = client.get(API, params={"limit": 2, "offset": 2}, headers=headers).json()
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert {item["id"] for item in first["items"] + second["items"]} == ids


def test_images_are_listed_in_order(
    client: TestClient, db: Session, analyst_headers: dict[str, str]
) -> None:
    prop = client.post(API, json=KERCHEVAL, headers=analyst_headers).json()
    url = f"{API}/{prop['id']}/images"
    for name in ("front", "kitchen"):
        added = client.post(
            url,
            json={"url": f"https://img.example.com/{name}.jpg", "type": "exterior"},
            headers=analyst_headers,
        )
        assert added.status_code == 201, added.text
    listed = client.get(url, headers=analyst_headers).json()
    assert [image["url"].rsplit("/", 1)[1] for image in listed] == ["front.jpg", "kitchen.jpg"]
    assert [image["order_index"] for image in listed] == [0, 1]
    refused = client.post(url, json={"url": "javascript:alert(1)"}, headers=analyst_headers)
    assert refused.status_code == 422
    missing = client.get(f"{API}/{uuid.uuid4()}/images", headers=analyst_headers)
    assert missing.status_code == 404


def test_market_data_rows(client: TestClient, analyst_headers: dict[str, str]) -> None:
    prop = client.post(API, json=KERCHEVAL, headers=analyst_headers).json()
    url = f"{API}/{prop['id']}/market-data"
    rent = client.post(
        url,
        json={"data_type": "rent_estimate", "value": {"rent_monthly": 1250}, "source": "HUD"},
        headers=analyst_headers,
    )
    assert rent.status_code == 201, rent.text
    client.post(
        url,
        json={"data_type": "tax_assessment", "value": {"assessed": 41000}},
        headers=analyst_headers,
    )
    everything = client.get(url, headers=analyst_headers).json()
    assert len(everything) == 2
    rents = client.get(url, params={"data_type": "rent_estimate"}, headers=analyst_headers).json()
    assert [(r["value"], r["source"]) for r in rents] == [({"rent_monthly": "1250.00"}, "HUD")]
    bad = client.post(url, json={"data_type": "horoscope", "value": {}}, headers=analyst_headers)
    assert bad.status_code == 422


def test_openapi_documents_the_property_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, methods in {
        "/api/v1/properties": {"get", "post"},
        "/api/v1/properties/{id}": {"get", "put", "delete"},
        "/api/v1/properties/search": {"post"},
        "/api/v1/properties/{id}/images": {"get", "post"},
        "/api/v1/properties/{id}/market-data": {"get", "post"},
    }.items():
        assert methods <= set(paths[path]), path
        assert all(paths[path][method].get("summary") for method in methods)
