"""Password hashing, access tokens (JWT) and API token values."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

import jwt

from domain.auth import security
from domain.auth.enums import Role


def test_password_hash_is_salted_argon2_and_verifies_only_the_right_password() -> None:
    first = security.hash_password("s3cret-password")
    second = security.hash_password("s3cret-password")

    assert first.startswith("$argon2id$")
    assert "s3cret-password" not in first
    assert first != second  # salted
    assert security.verify_password("s3cret-password", first)
    assert security.verify_password("s3cret-password", second)
    assert not security.verify_password("s3cret-Password", first)
    assert not security.verify_password("s3cret-password", None)
    assert not security.verify_password("s3cret-password", "not-a-hash")


def test_weaker_hash_is_flagged_for_rehash() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw-123456")
    assert security.password_needs_rehash(weak)
    assert not security.password_needs_rehash(security.hash_password("pw-123456"))


def test_access_token_round_trips_its_claims() -> None:
    user_id, org_id = uuid.uuid4(), uuid.uuid4()
    token = security.create_access_token(user_id=user_id, org_id=org_id, role=Role.investor)

    claims = security.decode_access_token(token)

    assert claims is not None
    assert (claims.user_id, claims.org_id, claims.role) == (user_id, org_id, Role.investor)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["sub"] == str(user_id) and payload["org"] == str(org_id)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_access_token_lifetime_follows_settings() -> None:
    from core.config import get_settings

    token = security.create_access_token(user_id=uuid.uuid4(), org_id=uuid.uuid4(), role=Role.admin)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == get_settings().access_token_minutes * 60


def test_expired_foreign_or_tampered_access_tokens_are_rejected() -> None:
    user_id, org_id = uuid.uuid4(), uuid.uuid4()

    def sign(expires_delta: timedelta | None = None, secret: str | None = None) -> str:
        return security.create_access_token(
            user_id=user_id,
            org_id=org_id,
            role=Role.admin,
            expires_delta=expires_delta,
            secret=secret,
        )

    expired = sign(expires_delta=timedelta(seconds=-1))
    foreign = sign(secret="some-other-secret")
    good = sign()
    header, payload, signature = good.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"admin"', b'"analyst"')
    ).decode()
    unsigned = jwt.encode(
        {"sub": str(user_id), "org": str(org_id), "role": "admin", "typ": "access", "exp": 9e9},
        key="",
        algorithm="none",
    )

    assert security.decode_access_token(expired) is None
    assert security.decode_access_token(foreign) is None
    assert security.decode_access_token(f"{header}.{forged_payload}.{signature}") is None
    assert security.decode_access_token(unsigned) is None
    assert security.decode_access_token("not.a.jwt") is None
    assert security.decode_access_token(good) is not None


def test_access_token_missing_the_org_claim_is_rejected() -> None:
    claims = {"sub": str(uuid.uuid4()), "role": "admin", "typ": "access", "exp": 9e9}
    complete = jwt.encode(
        claims | {"org": str(uuid.uuid4())}, security.signing_key(), algorithm="HS256"
    )
    without_org = jwt.encode(claims, security.signing_key(), algorithm="HS256")

    assert security.decode_access_token(complete) is not None
    assert security.decode_access_token(without_org) is None


def test_api_tokens_are_random_prefixed_and_stored_as_sha256() -> None:
    token = security.generate_api_token()
    other = security.generate_api_token()

    assert re.fullmatch(r"dd_[A-Za-z0-9_-]{40}", token)
    assert token != other
    assert security.is_api_token(token)
    assert not security.is_api_token("dd_short")
    assert security.hash_api_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert security.api_token_display_prefix(token) == token[:11]
    assert security.api_token_display_prefix(token) != security.api_token_display_prefix(other)
