"""The auth REST API: sign-in, who may do what, and organisation scoping."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from tests.factories import (
    DEFAULT_PASSWORD,
    auth_headers,
    bearer,
    make_api_token,
    make_org,
    make_user,
)

API = "/api/v1"


@pytest.fixture
def two_orgs(db: Session) -> dict[str, tuple[Organisation, User]]:
    """Two organisations, each with an admin."""
    org_a, org_b = make_org(db, "Alpha Homes"), make_org(db, "Beta Rentals")
    return {
        "a": (org_a, make_user(db, org_a, email="admin@alpha.example")),
        "b": (org_b, make_user(db, org_b, email="admin@beta.example")),
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/me"),
        ("GET", "/users"),
        ("POST", "/users"),
        ("GET", "/auth/tokens"),
        ("POST", "/auth/tokens"),
        ("DELETE", f"/auth/tokens/{uuid.uuid4()}"),
        ("GET", "/audit-log"),
    ],
)
def test_calls_without_a_token_get_401_with_a_bearer_challenge(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, API + path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_calls_with_a_bad_token_get_401_invalid_token(client: TestClient) -> None:
    for token in ("garbage", "dd_" + "x" * 40, "a.b.c"):
        response = client.get(f"{API}/users/me", headers=bearer(token))
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "invalid_token" in response.headers["www-authenticate"]
    basic = client.get(f"{API}/users/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


def test_password_sign_in_returns_an_access_token_that_works(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.analyst, email="ana@example.com", password=DEFAULT_PASSWORD)

    wrong = client.post(
        f"{API}/auth/token", data={"username": "ana@example.com", "password": "not-it-at-all"}
    )
    response = client.post(
        f"{API}/auth/token", data={"username": "Ana@Example.com", "password": DEFAULT_PASSWORD}
    )

    assert wrong.status_code == 401 and "access_token" not in wrong.json()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    me = client.get(f"{API}/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == str(user.id) and me.json()["role"] == "analyst"
    assert "hashed_password" not in me.json()


def test_investor_and_analyst_cannot_manage_users(client: TestClient, db: Session) -> None:
    org = make_org(db)
    new_user = {"email": "someone@example.com", "role": "admin"}
    for role in (Role.investor, Role.analyst, Role.contractor):
        headers = auth_headers(db, make_user(db, org, role=role))
        created = client.post(f"{API}/users", json=new_user, headers=headers)
        listed = client.get(f"{API}/users", headers=headers)
        assert created.status_code == 403, role
        assert listed.status_code == 403, role
    admin_list = client.get(f"{API}/users", headers=auth_headers(db, make_user(db, org)))
    assert "someone@example.com" not in {u["email"] for u in admin_list.json()}


def test_audit_log_is_for_admins_and_analysts_only(client: TestClient, db: Session) -> None:
    org = make_org(db)
    statuses = {
        role: client.get(
            f"{API}/audit-log", headers=auth_headers(db, make_user(db, org, role=role))
        ).status_code
        for role in Role
    }
    assert statuses == {
        Role.admin: 200,
        Role.analyst: 200,
        Role.investor: 403,
        Role.contractor: 403,
    }


def test_admin_creates_a_user_and_the_change_is_audited(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, email="boss@example.com"))

    response = client.post(
        f"{API}/users",
        json={
            "email": "Investor@Example.com",
            "phone_number": "+1 313 555 0199",
            "role": "investor",
            "password": "long-enough-password",
        },
        headers=headers,
    )
    duplicate = client.post(f"{API}/users", json={"email": "investor@example.com"}, headers=headers)
    bad_phone = client.post(
        f"{API}/users", json={"email": "p@example.com", "phone_number": "555-0199"}, headers=headers
    )

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["email"] == "investor@example.com"
    assert created["phone_number"] == "+13135550199"
    assert created["org_id"] == str(org.id)
    assert duplicate.status_code == 409
    assert bad_phone.status_code == 422
    audit = client.get(
        f"{API}/audit-log", params={"entity": "user", "entity_id": created["id"]}, headers=headers
    ).json()
    assert [(e["action"], e["actor"]) for e in audit] == [("create", "boss@example.com")]
    assert audit[0]["changes"]["role"] == "investor"
    assert "password" not in audit[0]["changes"]
    # The new user can sign in with the password the admin set.
    signed_in = client.post(
        f"{API}/auth/token",
        data={"username": "investor@example.com", "password": "long-enough-password"},
    )
    assert signed_in.status_code == 200


def test_deactivated_user_is_locked_out_at_once(client: TestClient, db: Session) -> None:
    org = make_org(db)
    admin_headers = auth_headers(db, make_user(db, org))
    analyst = make_user(db, org, role=Role.analyst)
    analyst_headers = auth_headers(db, analyst)
    _, api_token = make_api_token(db, analyst)
    assert client.get(f"{API}/users/me", headers=analyst_headers).status_code == 200

    response = client.patch(
        f"{API}/users/{analyst.id}", json={"is_active": False}, headers=admin_headers
    )

    assert response.status_code == 200 and response.json()["is_active"] is False
    assert client.get(f"{API}/users/me", headers=analyst_headers).status_code == 401
    assert client.get(f"{API}/users/me", headers=bearer(api_token)).status_code == 401


def test_api_token_is_shown_once_works_and_stops_working_when_revoked(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    user = make_user(db, org, role=Role.investor)
    headers = auth_headers(db, user)

    created = client.post(
        f"{API}/auth/tokens", json={"name": "zapier", "expires_in_days": 30}, headers=headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert token.startswith("dd_") and body["prefix"] == token[:11]
    assert body["expires_at"] is not None

    listed = client.get(f"{API}/auth/tokens", headers=headers).json()
    assert [t["id"] for t in listed] == [body["id"]]
    assert "token" not in listed[0] and "token_hash" not in listed[0]
    me = client.get(f"{API}/users/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["id"] == str(user.id)

    revoked = client.delete(f"{API}/auth/tokens/{body['id']}", headers=headers)
    assert revoked.status_code == 204
    assert client.get(f"{API}/users/me", headers=bearer(token)).status_code == 401
    # A revoked token leaves the list (it is gone), and revoking it again is a 404.
    assert client.get(f"{API}/auth/tokens", headers=headers).json() == []

    admin_headers = auth_headers(db, make_user(db, org))
    audit = client.get(
        f"{API}/audit-log", params={"entity_id": body["id"]}, headers=admin_headers
    ).json()
    assert [e["action"] for e in audit] == ["revoke", "create"]
    assert {e["actor_user_id"] for e in audit} == {str(user.id)}


def test_non_admin_cannot_see_or_revoke_a_colleagues_token(client: TestClient, db: Session) -> None:
    org = make_org(db)
    owner = make_user(db, org, role=Role.analyst)
    colleague_headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    row, token = make_api_token(db, owner)

    assert client.get(f"{API}/auth/tokens", headers=colleague_headers).json() == []
    assert (
        client.delete(f"{API}/auth/tokens/{row.id}", headers=colleague_headers).status_code == 404
    )
    assert client.get(f"{API}/users/me", headers=bearer(token)).status_code == 200


def test_an_organisation_never_sees_another_organisations_users(
    client: TestClient, db: Session, two_orgs: dict[str, tuple[Organisation, User]]
) -> None:
    (org_a, admin_a), (_, admin_b) = two_orgs["a"], two_orgs["b"]
    headers_a = auth_headers(db, admin_a)

    listed = client.get(f"{API}/users", headers=headers_a).json()
    by_id = client.get(f"{API}/users/{admin_b.id}", headers=headers_a)
    patched = client.patch(
        f"{API}/users/{admin_b.id}", json={"full_name": "Hijacked"}, headers=headers_a
    )

    assert [u["email"] for u in listed] == ["admin@alpha.example"]
    assert {u["org_id"] for u in listed} == {str(org_a.id)}
    assert by_id.status_code == 404
    assert patched.status_code == 404
    assert client.get(f"{API}/users/{admin_a.id}", headers=headers_a).status_code == 200
    db.refresh(admin_b)
    assert admin_b.full_name is None


def test_an_organisation_never_sees_another_organisations_tokens(
    client: TestClient, db: Session, two_orgs: dict[str, tuple[Organisation, User]]
) -> None:
    (_, admin_a), (_, admin_b) = two_orgs["a"], two_orgs["b"]
    token_b, plaintext_b = make_api_token(db, admin_b, name="beta integration")
    token_a, _ = make_api_token(db, admin_a, name="alpha integration")
    headers_a = auth_headers(db, admin_a)

    listed = client.get(f"{API}/auth/tokens", headers=headers_a).json()
    revoke = client.delete(f"{API}/auth/tokens/{token_b.id}", headers=headers_a)

    assert [t["id"] for t in listed] == [str(token_a.id)]
    assert revoke.status_code == 404
    assert client.get(f"{API}/users/me", headers=bearer(plaintext_b)).status_code == 200


def test_an_organisation_never_sees_another_organisations_audit_log(
    client: TestClient, db: Session, two_orgs: dict[str, tuple[Organisation, User]]
) -> None:
    (org_a, admin_a), (_, admin_b) = two_orgs["a"], two_orgs["b"]
    headers_a, headers_b = auth_headers(db, admin_a), auth_headers(db, admin_b)
    client.post(f"{API}/users", json={"email": "b-hire@example.com"}, headers=headers_b)

    log_a = client.get(f"{API}/audit-log", headers=headers_a).json()
    log_b = client.get(f"{API}/audit-log", headers=headers_b).json()
    b_entry = next(e for e in log_b if e["changes"].get("email") == "b-hire@example.com")

    assert log_a and log_b
    assert not {e["id"] for e in log_a} & {e["id"] for e in log_b}
    assert all("b-hire" not in str(e["changes"]) for e in log_a)
    assert client.get(f"{API}/audit-log/{b_entry['id']}", headers=headers_a).status_code == 404
    assert client.get(f"{API}/audit-log/{b_entry['id']}", headers=headers_b).status_code == 200
    assert (
        client.get(f"{API}/audit-log/{log_a[0]['id']}", headers=headers_a).json()["id"]
        == (log_a[0]["id"])
    )
    assert str(org_a.id)  # org A's own log is not empty: its creation is audited


def test_last_admin_cannot_lock_the_organisation_out(client: TestClient, db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org)

    response = client.patch(
        f"{API}/users/{admin.id}", json={"role": "analyst"}, headers=auth_headers(db, admin)
    )

    assert response.status_code == 409
    assert "admin" in response.json()["detail"]


def test_audit_entry_of_a_request_carries_its_request_id(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org)) | {"X-Request-ID": "req-audit-0042"}

    created = client.post(f"{API}/users", json={"email": "traced@example.com"}, headers=headers)

    entries = client.get(
        f"{API}/audit-log", params={"entity_id": created.json()["id"]}, headers=headers
    ).json()
    assert [e["correlation_id"] for e in entries] == ["req-audit-0042"]
