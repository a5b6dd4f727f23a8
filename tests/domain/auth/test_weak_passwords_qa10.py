"""The most guessable passwords are refused (the security pass: POST /users took "password").

NIST SP 800-63B: at least 8 characters (as before) and not a password an attacker tries first
(a common one, one repeated character, a straight run of keys); no composition rules.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.passwords import weak_password_reason
from tests.factories import auth_headers, make_org, make_user


@pytest.mark.parametrize(
    "password", ["password", "Password1", "12345678", "aaaaaaaa", "qwertyuiop"]
)
def test_a_guessable_password_is_refused_on_create_and_change(
    client: TestClient, db: Session, password: str
) -> None:
    org = make_org(db)
    admin = make_user(db, org, Role.admin)
    headers = auth_headers(db, admin)
    body = {"email": "new.analyst@example.com", "role": "analyst", "password": password}
    created = client.post("/api/v1/users", json=body, headers=headers)
    assert created.status_code == 422, created.text
    assert "guess" in created.text or "common" in created.text
    changed = client.patch(
        f"/api/v1/users/{admin.id}", json={"password": password}, headers=headers
    )
    assert changed.status_code == 422, changed.text


def test_a_passphrase_is_accepted(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    body = {
        "email": "new.analyst@example.com",
        "role": "analyst",
        "password": "tile grout 42 kercheval",
    }
    assert client.post("/api/v1/users", json=body, headers=headers).status_code == 201


@pytest.mark.parametrize(
    ("password", "refused"),
    [("iloveyou", True), ("abcdefgh", True), ("9876543210", True), ("correct horse 9", False)],
)
def test_the_rule(password: str, refused: bool) -> None:
    assert (weak_password_reason(password) is not None) is refused
