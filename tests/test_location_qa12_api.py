"""QA 12: a ``201 Created`` says where the new resource is (``Location``), and documents it.

The rule the sweep holds every create to: a ``POST {collection}`` answering 201 whose resource
has its own ``GET {collection}/{id}`` sends and documents ``Location``; one with no such GET
(offers, transactions, expenses, budgets, bids, tasks, milestones, photos, market data,
valuations ...) documents none, so no client follows a header to nothing.
"""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session

from app import API_PREFIX, app
from domain.auth.enums import Role
from tests.factories import auth_headers, make_org, make_property, make_user

API = API_PREFIX
SCHEMA = app.openapi()
_PARAM = re.compile(r"^\{[^/{}]+\}$")


def _creates() -> list[tuple[str, dict]]:
    """Every POST under the API prefix that answers 201, with its operation."""
    return [
        (path, item["post"])
        for path, item in SCHEMA["paths"].items()
        if path.startswith(API + "/") and "201" in item.get("post", {}).get("responses", {})
    ]


def _has_own_get(collection: str) -> bool:
    """True when ``GET {collection}/{param}`` exists."""
    for path, item in SCHEMA["paths"].items():
        if "get" in item and path.startswith(collection + "/"):
            if _PARAM.match(path.removeprefix(collection + "/")):
                return True
    return False


CREATES = _creates()


def test_the_sweep_finds_the_creates() -> None:
    paths = {path for path, _ in CREATES}
    assert {f"{API}/properties", f"{API}/deals", f"{API}/expenses", f"{API}/budgets"} <= paths
    assert len(CREATES) >= 20


@pytest.mark.parametrize(("path", "operation"), CREATES, ids=[p for p, _ in CREATES])
def test_a_201_documents_location_exactly_when_its_resource_has_a_get(
    path: str, operation: dict
) -> None:
    headers = operation["responses"]["201"].get("headers", {})
    if _has_own_get(path):
        assert "Location" in headers, f"POST {path}: 201 without Location documented"
        assert headers["Location"]["schema"]["type"] == "string"
        # The 201's body is still documented next to the header.
        assert operation["responses"]["201"].get("content"), path
    else:
        assert "Location" not in headers, f"POST {path}: Location but no GET {path}/{{id}}"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_creates_send_a_location_that_reads_the_resource(db: Session, client: TestClient) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    prop = make_property(db, org)
    made = {
        "properties": client.post(
            f"{API}/properties",
            json={"address_line": "14500 Kercheval Ave", "city": "Detroit", "state": "MI"},
            headers=headers,
        ),
        "deals": client.post(
            f"{API}/deals",
            json={"property_id": str(prop.id), "strategy": "flip", "purchase_price": "95000"},
            headers=headers,
        ),
        "projects": client.post(f"{API}/projects", json={"name": "Rehab"}, headers=headers),
        "contractors": client.post(
            f"{API}/contractors", json={"name": "Ace Roofing"}, headers=headers
        ),
        "users": client.post(
            f"{API}/users", json={"email": "new.hire@example.com"}, headers=headers
        ),
        "documents": client.post(
            f"{API}/documents",
            files={"file": ("front.png", _png(), "image/png")},
            data={"kind": "photo"},
            headers=headers,
        ),
    }
    for collection, answer in made.items():
        assert answer.status_code == 201, (collection, answer.text)
        location = answer.headers.get("Location")
        assert location == f"{API}/{collection}/{answer.json()['id']}", collection
        read = client.get(location, headers=headers)
        assert read.status_code == 200, (collection, read.text)
        assert read.json()["id"] == answer.json()["id"]


def test_a_create_without_its_own_get_sends_no_location(db: Session, client: TestClient) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    answer = client.post(
        f"{API}/budgets", json={"category": "utilities", "allocated_amount": "100"}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    assert "Location" not in answer.headers


def test_a_refused_create_sends_no_location(db: Session, client: TestClient) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    body = {"address_line": "14500 Kercheval Ave", "city": "Detroit", "state": "MI"}
    assert client.post(f"{API}/properties", json=body, headers=headers).status_code == 201
    duplicate = client.post(f"{API}/properties", json=body, headers=headers)
    assert duplicate.status_code == 409
    assert "Location" not in duplicate.headers
