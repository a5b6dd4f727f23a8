"""Signing out ends an access token on the server; signing out everywhere ends all of them.

Against the real database: a signed-out token gets 401 on every endpoint, the same user's
other sign-ins and API tokens keep working, and both actions are in the audit log.
"""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth import security
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import Organisation, RevokedAccessToken, User
from store.base import utcnow
from tests.factories import (
    DEFAULT_PASSWORD,
    auth_headers,
    bearer,
    make_api_token,
    make_org,
    make_user,
)

API = "/api/v1"
# Protected endpoints of different modules and access levels (analysts may use them all).
PROTECTED = ["/users/me", "/auth/tokens", "/audit-log", "/deals", "/auth/roles"]


@pytest.fixture
def analyst(db: Session) -> User:
    """An analyst with a password, so they can sign in through the API."""
    org = make_org(db)
    return make_user(db, org, role=Role.analyst, password=DEFAULT_PASSWORD)


def sign_in(client: TestClient, user: User) -> str:
    """A fresh access token from ``POST /auth/token``."""
    response = client.post(
        f"{API}/auth/token", data={"username": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def status_of(client: TestClient, token: str, path: str = "/users/me") -> int:
    """The status ``GET path`` gets with ``token``."""
    return client.get(API + path, headers=bearer(token)).status_code


def audit_actions(db: Session, user: User) -> list[str]:
    """The actions recorded on ``user``'s audit entries, oldest first."""
    entries = auth_service.list_audit(
        session=db, org_id=user.org_id, entity="user", entity_id=user.id
    )
    return [entry.action for entry in reversed(entries)]


def legacy_token(user: User, *, minutes: int = 30) -> str:
    """An access token as issued before sign-out existed: no ``jti`` and no ``sep`` claim."""
    now = utcnow()
    payload = {
        "sub": str(user.id),
        "org": str(user.org_id),
        "role": str(user.role),
        "typ": security.ACCESS_TOKEN_TYPE,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "pwd": security.password_fingerprint(user.hashed_password),
    }
    return jwt.encode(payload, security.signing_key(), algorithm=security.JWT_ALGORITHM)


def test_logout_ends_that_token_everywhere_and_leaves_other_sign_ins(
    client: TestClient, db: Session, analyst: User
) -> None:
    laptop, phone = sign_in(client, analyst), sign_in(client, analyst)
    assert laptop != phone  # two sign-ins in the same second are still two sessions
    assert [status_of(client, laptop, path) for path in PROTECTED] == [200] * len(PROTECTED)

    response = client.post(f"{API}/auth/logout", headers=bearer(laptop))

    assert response.status_code == 204
    for path in PROTECTED:
        refused = client.get(API + path, headers=bearer(laptop))
        assert refused.status_code == 401, path
        assert "invalid_token" in refused.headers["www-authenticate"]
    assert status_of(client, phone) == 200
    assert audit_actions(db, analyst)[-1] == "logout"
    entry = auth_service.list_audit(session=db, org_id=analyst.org_id, entity="user")[0]
    assert entry.actor_user_id == analyst.id and entry.actor == analyst.email
    assert entry.changes["session"].startswith("jti:")


def test_logout_with_a_signed_out_invalid_or_missing_token_is_401(
    client: TestClient, db: Session, analyst: User
) -> None:
    token = sign_in(client, analyst)
    assert client.post(f"{API}/auth/logout", headers=bearer(token)).status_code == 204

    again = client.post(f"{API}/auth/logout", headers=bearer(token))
    garbage = client.post(f"{API}/auth/logout", headers=bearer("not.a.token"))
    tampered = client.post(f"{API}/auth/logout", headers=bearer(sign_in(client, analyst) + "x"))
    missing = client.post(f"{API}/auth/logout")
    everywhere = client.post(f"{API}/auth/logout-all", headers=bearer(token))

    assert [again.status_code, garbage.status_code, tampered.status_code] == [401, 401, 401]
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert everywhere.status_code == 401
    # Only the one successful sign-out was audited.
    assert audit_actions(db, analyst).count("logout") == 1
    assert "logout_all" not in audit_actions(db, analyst)


def test_logout_all_ends_every_access_token_and_a_new_sign_in_works(
    client: TestClient, db: Session, analyst: User
) -> None:
    laptop, phone, caller = (sign_in(client, analyst) for _ in range(3))
    direct = auth_headers(db, analyst)  # issued by the service, not the endpoint
    colleague = make_user(db, db.get_one(Organisation, analyst.org_id), role=Role.analyst)
    assert [status_of(client, token) for token in (laptop, phone, caller)] == [200, 200, 200]
    assert client.get(f"{API}/users/me", headers=direct).status_code == 200

    response = client.post(f"{API}/auth/logout-all", headers=bearer(caller))

    assert response.status_code == 204
    for token in (laptop, phone, caller):
        assert [status_of(client, token, path) for path in PROTECTED] == [401] * len(PROTECTED)
    assert client.get(f"{API}/users/me", headers=direct).status_code == 401
    # Another user of the same organisation is not signed out.
    assert client.get(f"{API}/users/me", headers=auth_headers(db, colleague)).status_code == 200

    fresh = sign_in(client, analyst)
    assert status_of(client, fresh) == 200
    assert client.post(f"{API}/auth/logout", headers=bearer(fresh)).status_code == 204
    assert status_of(client, fresh) == 401
    assert audit_actions(db, analyst)[-3:] == ["logout_all", "login", "logout"]


def test_api_tokens_survive_logout_and_logout_all(
    client: TestClient, db: Session, analyst: User
) -> None:
    _, api_token = make_api_token(db, analyst, name="nightly export")
    session_token = sign_in(client, analyst)

    assert client.post(f"{API}/auth/logout", headers=bearer(session_token)).status_code == 204
    assert status_of(client, api_token) == 200
    assert (
        client.post(f"{API}/auth/logout-all", headers=auth_headers(db, analyst)).status_code == 204
    )
    assert [status_of(client, api_token, path) for path in PROTECTED] == [200] * len(PROTECTED)

    # An API token cannot be "signed out": it is revoked explicitly, and keeps working here.
    refused = client.post(f"{API}/auth/logout", headers=bearer(api_token))
    assert refused.status_code == 400
    assert "DELETE /api/v1/auth/tokens" in refused.json()["detail"]
    assert status_of(client, api_token) == 200


def test_logout_all_with_an_api_token_ends_the_users_sessions_but_not_the_api_token(
    client: TestClient, db: Session, analyst: User
) -> None:
    _, api_token = make_api_token(db, analyst)
    session_token = sign_in(client, analyst)

    assert client.post(f"{API}/auth/logout-all", headers=bearer(api_token)).status_code == 204

    assert status_of(client, session_token) == 401
    assert status_of(client, api_token) == 200
    assert audit_actions(db, analyst)[-1] == "logout_all"


def test_tokens_issued_before_sign_out_existed_keep_working_and_can_be_signed_out(
    client: TestClient, db: Session, analyst: User
) -> None:
    old_a, old_b = legacy_token(analyst, minutes=30), legacy_token(analyst, minutes=31)
    assert "jti" not in jwt.decode(old_a, options={"verify_signature": False})
    assert status_of(client, old_a) == 200 and status_of(client, old_b) == 200

    assert client.post(f"{API}/auth/logout", headers=bearer(old_a)).status_code == 204

    assert status_of(client, old_a) == 401
    assert status_of(client, old_b) == 200
    assert client.post(f"{API}/auth/logout-all", headers=bearer(old_b)).status_code == 204
    assert status_of(client, old_b) == 401


def test_sign_out_keeps_one_row_per_token_until_it_expires_and_prunes_expired_ones(
    db: Session, analyst: User
) -> None:
    principal = auth_service.Principal.from_user(analyst)
    token = auth_service.issue_access_token(user=analyst)
    other = auth_service.issue_access_token(user=analyst)
    db.add(
        RevokedAccessToken(
            revocation_key="jti:long-gone",
            org_id=analyst.org_id,
            user_id=analyst.id,
            expires_at=utcnow() - timedelta(seconds=1),
        )
    )
    db.flush()

    auth_service.sign_out(session=db, token=token, principal=principal)
    auth_service.sign_out(session=db, token=token, principal=principal)  # harmless twice

    keys = db.exec(select(RevokedAccessToken.revocation_key)).all()
    claims = security.decode_access_token(token)
    assert claims is not None and claims.token_id is not None
    assert keys == [f"jti:{claims.token_id}"]
    row = db.get_one(RevokedAccessToken, keys[0])
    assert row.expires_at == claims.expires_at
    assert auth_service.resolve_token(session=db, token=token) is None
    assert auth_service.resolve_token(session=db, token=other) == principal

    # Signing out everywhere makes the per-token rows redundant: they go.
    assert auth_service.sign_out_everywhere(session=db, principal=principal) == 1
    assert db.exec(select(RevokedAccessToken)).all() == []
    assert auth_service.resolve_token(session=db, token=other) is None
    assert analyst.session_epoch == 1
    assert (
        auth_service.resolve_token(session=db, token=auth_service.issue_access_token(user=analyst))
        == principal
    )


def test_sign_out_refuses_another_users_token(db: Session, analyst: User) -> None:
    someone = make_user(db, db.get_one(Organisation, analyst.org_id), role=Role.analyst)
    token = auth_service.issue_access_token(user=someone)

    with pytest.raises(auth_service.NotAnAccessTokenError):
        auth_service.sign_out(
            session=db, token=token, principal=auth_service.Principal.from_user(analyst)
        )

    assert auth_service.resolve_token(session=db, token=token) is not None


@pytest.mark.parametrize(
    ("claim", "value"), [("jti", 7), ("jti", ""), ("jti", "x" * 65), ("sep", "1"), ("sep", True)]
)
def test_access_tokens_with_malformed_session_claims_are_refused(
    db: Session, analyst: User, claim: str, value: object
) -> None:
    payload = jwt.decode(legacy_token(analyst), options={"verify_signature": False})
    good = jwt.encode(payload | {"sep": 0}, security.signing_key(), algorithm="HS256")
    bad = jwt.encode(payload | {claim: value}, security.signing_key(), algorithm="HS256")

    assert auth_service.resolve_token(session=db, token=good) is not None
    assert security.decode_access_token(bad) is None
    assert auth_service.resolve_token(session=db, token=bad) is None
