"""Idempotency-Key: a retried write is answered from storage and runs once (real Redis)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.construction import service as construction_service
from store.redis_client import get_redis
from tests.factories import auth_headers, make_org, make_project, make_user


def _expenses(db: Session, org_id, project_id) -> list:  # type: ignore[no-untyped-def]
    return construction_service.list_expenses(session=db, org_id=org_id, project_id=project_id)


def test_a_retried_expense_is_booked_once_and_answered_the_same(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    url = f"/api/v1/projects/{project.id}/expenses"
    body = {"amount": "1370.00", "description": "roof tear-off deposit"}
    keyed = {**headers, "Idempotency-Key": "b3f1c7e2-retry-1"}

    first = client.post(url, json=body, headers=keyed)
    again = client.post(url, json=body, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(_expenses(db, org.id, project.id)) == 1

    # The same key for another request is a client error, and books nothing.
    other = client.post(url, json={**body, "amount": "99.00"}, headers=keyed)
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    # Without a key, or with a new one, each request is its own.
    assert client.post(url, json=body, headers=headers).status_code == 201
    new_key = {**headers, "Idempotency-Key": "b3f1c7e2-retry-2"}
    assert client.post(url, json=body, headers=new_key).status_code == 201
    assert len(_expenses(db, org.id, project.id)) == 3


def test_keys_belong_to_their_caller_and_bad_keys_are_refused(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    url = f"/api/v1/projects/{project.id}/expenses"
    body = {"amount": "50.00"}
    ann = auth_headers(db, make_user(db, org, Role.analyst))
    bob = auth_headers(db, make_user(db, org, Role.admin))
    for headers in (ann, bob):
        response = client.post(url, json=body, headers={**headers, "Idempotency-Key": "same"})
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    assert len(_expenses(db, org.id, project.id)) == 2
    bad = client.post(url, json=body, headers={**ann, "Idempotency-Key": "has space"})
    assert bad.status_code == 422 and "Idempotency-Key" in bad.json()["detail"]
    # A refused request (403 for an investor) is remembered too: the retry gets the same 403.
    investor = {**auth_headers(db, make_user(db, org, Role.investor)), "Idempotency-Key": "k"}
    assert client.post(url, json=body, headers=investor).status_code == 403
    replay = client.post(url, json=body, headers=investor)
    assert replay.status_code == 403 and replay.headers["idempotent-replayed"] == "true"


def test_token_responses_are_never_stored(db: Session, client: TestClient) -> None:
    org = make_org(db)
    make_user(db, org, Role.analyst, email="ann@example.com", password="correct horse 9")
    db.flush()
    form = {"username": "ann@example.com", "password": "correct horse 9"}
    first = client.post("/api/v1/auth/token", data=form, headers={"Idempotency-Key": "t1"})
    again = client.post("/api/v1/auth/token", data=form, headers={"Idempotency-Key": "t1"})
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in again.headers
    assert list(get_redis().scan_iter("idempotency:*")) == []
