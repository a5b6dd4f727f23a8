"""QA 12: an ``Idempotency-Key`` protects the user's retry, whatever token or key order it uses.

Before, the key was scoped to the access token: signing in again (or a second device) and
retrying booked the expense twice, and a JSON body with the same content but its keys in
another order was "used for a different request" (422).
"""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.construction.models import Contractor
from domain.finance.models import Transaction
from tests.factories import auth_headers, make_deal, make_org, make_user

API = "/api/v1"


def _expense_body(deal_id: str) -> dict[str, str]:
    return {
        "deal_id": deal_id,
        "amount": "412.50",
        "category": "utilities",
        "description": "water bill",
        "date": local_today().isoformat(),
    }


def test_a_retry_after_signing_in_again_is_replayed_not_booked_twice(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    user = make_user(db, org, Role.analyst)
    deal = make_deal(db, org)
    first_sign_in, second_sign_in = auth_headers(db, user), auth_headers(db, user)
    assert first_sign_in != second_sign_in  # two tokens of one user
    body = _expense_body(str(deal.id))

    first = client.post(
        f"{API}/expenses", json=body, headers=first_sign_in | {"Idempotency-Key": "exp-1"}
    )
    assert first.status_code == 201, first.text
    again = client.post(
        f"{API}/expenses", json=body, headers=second_sign_in | {"Idempotency-Key": "exp-1"}
    )
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    booked = db.exec(select(Transaction).where(Transaction.org_id == org.id)).all()
    assert len(booked) == 1


def test_the_same_key_from_another_user_is_their_own(db: Session, client: TestClient) -> None:
    org = make_org(db)
    ann = auth_headers(db, make_user(db, org, Role.analyst))
    bob = auth_headers(db, make_user(db, org, Role.analyst))
    body = {"name": "Ace Roofing"}
    for headers in (ann, bob):
        answer = client.post(
            f"{API}/contractors", json=body, headers=headers | {"Idempotency-Key": "same"}
        )
        assert answer.status_code == 201, answer.text
        assert "Idempotent-Replayed" not in answer.headers
    assert len(db.exec(select(Contractor).where(Contractor.org_id == org.id)).all()) == 2


def test_the_same_json_with_its_keys_in_another_order_is_the_same_request(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst)) | {
        "Idempotency-Key": "order-1",
        "Content-Type": "application/json",
    }
    ordered = json.dumps({"name": "Ace Roofing", "trades": ["roofing"], "company": "Ace"})
    shuffled = json.dumps(
        {"company": "Ace", "trades": ["roofing"], "name": "Ace Roofing"}, indent=2
    )

    first = client.post(f"{API}/contractors", content=ordered, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post(f"{API}/contractors", content=shuffled, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    # Different content is still a different request.
    other = json.dumps({"company": "Ace", "trades": ["plumbing"], "name": "Ace Roofing"})
    refused = client.post(f"{API}/contractors", content=other, headers=headers)
    assert refused.status_code == 422
    assert "different request" in refused.json()["detail"]


def test_a_replayed_201_carries_its_location(db: Session, client: TestClient) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst)) | {"Idempotency-Key": "loc-1"}
    first = client.post(f"{API}/contractors", json={"name": "Ace Roofing"}, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post(f"{API}/contractors", json={"name": "Ace Roofing"}, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert first.headers["Location"] == f"{API}/contractors/{first.json()['id']}"


def test_a_401_is_not_kept_for_the_user(db: Session, client: TestClient) -> None:
    """The caller is named by the token's claims: a refused token's 401 must not be replayed."""
    org = make_org(db)
    user = make_user(db, org, Role.analyst)
    signed_out = auth_headers(db, user)
    assert client.post(f"{API}/auth/logout", headers=signed_out).status_code in (200, 204)
    refused = client.post(
        f"{API}/contractors",
        json={"name": "Ace Roofing"},
        headers=signed_out | {"Idempotency-Key": "after-logout"},
    )
    assert refused.status_code == 401
    fresh = client.post(
        f"{API}/contractors",
        json={"name": "Ace Roofing"},
        headers=auth_headers(db, user) | {"Idempotency-Key": "after-logout"},
    )
    assert fresh.status_code == 201, fresh.text
