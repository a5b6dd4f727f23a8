"""Security and access QA: defects found probing sign-in, tokens, links, logs and bodies."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session

from channels import signing
from core.body_limit import MAX_BODY_BYTES
from core.observability import mask, setup_logging
from core.ratelimit import LOGIN_FAILURE_WINDOW_SECONDS, LOGIN_FAILURES_ALLOWED
from domain.auth import security
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import UserUpdate
from tests.factories import DEFAULT_PASSWORD, auth_headers, bearer, make_org, make_user

API = "/api/v1"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The application's JSON logging, written into a buffer for the test to read."""
    stream = io.StringIO()
    setup_logging("DEBUG", stream=stream)
    yield stream
    setup_logging("INFO")


# --- signed report links ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sig", ["é" * 43, "\u2603", "abc\u00ff"], ids=["accents", "snowman", "latin1"]
)
def test_a_report_link_with_a_non_ascii_signature_is_refused_not_a_server_error(
    client: TestClient, db: Session, sig: str
) -> None:
    org = make_org(db)
    params = {"org": str(org.id), "exp": str(int(time.time()) + 600), "sig": sig}

    response = client.get(f"{API}/reports/{uuid.uuid4()}", params=params)

    assert response.status_code == 403
    assert "invalid or has expired" in response.json()["detail"]


def test_a_valid_report_link_still_verifies_and_a_tampered_one_does_not() -> None:
    org_id, document_id = uuid.uuid4(), uuid.uuid4()
    link = signing.report_url(document_id, org_id=org_id, ttl_s=60)
    sig = link.url.split("sig=")[1]

    ok = signing.verify(
        org_id=org_id, document_id=document_id, expires_at=link.expires_at, signature=sig
    )
    other_org = signing.verify(
        org_id=uuid.uuid4(), document_id=document_id, expires_at=link.expires_at, signature=sig
    )

    assert ok is True
    assert other_org is False


def test_a_signed_report_links_signature_never_reaches_the_access_log(
    client: TestClient, db: Session, log_stream: io.StringIO
) -> None:
    org = make_org(db)
    link = signing.report_url(uuid.uuid4(), org_id=org.id)
    sig = link.url.split("sig=")[1]
    path_and_query = link.url[link.url.index(API) :]

    client.get(path_and_query)

    logged = log_stream.getvalue()
    assert "sig=***" in logged  # the access log line with the query was written, masked
    assert sig not in logged
    assert mask(f'{{"sig": "{sig}"}}') == '{"sig": "***"}'


# --- access tokens and passwords ---------------------------------------------------------------


def test_a_new_password_ends_access_tokens_issued_under_the_old_one(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    admin = make_user(db, org)
    user = make_user(db, org, Role.analyst, email="stolen@qa.example", password=DEFAULT_PASSWORD)
    signed_in = client.post(
        f"{API}/auth/token", data={"username": "stolen@qa.example", "password": DEFAULT_PASSWORD}
    )
    old_token = signed_in.json()["access_token"]
    assert client.get(f"{API}/users/me", headers=bearer(old_token)).status_code == 200

    reset = client.patch(
        f"{API}/users/{user.id}",
        json={"password": "a-brand-new-password"},
        headers=auth_headers(db, admin),
    )

    assert reset.status_code == 200
    refused = client.get(f"{API}/users/me", headers=bearer(old_token))
    assert refused.status_code == 401
    signed_in_again = client.post(
        f"{API}/auth/token",
        data={"username": "stolen@qa.example", "password": "a-brand-new-password"},
    )
    new_token = signed_in_again.json()["access_token"]
    assert client.get(f"{API}/users/me", headers=bearer(new_token)).status_code == 200


def test_an_access_token_without_the_password_fingerprint_is_refused(db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, Role.analyst, password=DEFAULT_PASSWORD)
    db.flush()
    bare = security.create_access_token(user_id=user.id, org_id=org.id, role=Role.analyst)

    assert auth_service.resolve_token(session=db, token=bare) is None
    issued = auth_service.issue_access_token(user=user)
    assert auth_service.resolve_token(session=db, token=issued) is not None


def test_changing_only_a_users_name_keeps_their_sessions(db: Session) -> None:
    org = make_org(db)
    user = make_user(db, org, Role.investor, password=DEFAULT_PASSWORD)
    token = auth_service.issue_access_token(user=user)

    auth_service.update_user(
        session=db, org_id=org.id, user_id=user.id, user_in=UserUpdate(full_name="Renamed")
    )

    principal = auth_service.resolve_token(session=db, token=token)
    assert principal is not None and principal.user_id == user.id


# --- request bodies ------------------------------------------------------------------------------


def test_an_oversized_json_body_is_refused_before_sign_in_is_checked(client: TestClient) -> None:
    body = b'{"name": "' + b"a" * (MAX_BODY_BYTES + 10) + b'"}'

    response = client.post(
        f"{API}/auth/tokens", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_an_oversized_body_sent_without_a_length_is_cut_off_with_413(
    client: TestClient, db: Session
) -> None:
    headers = auth_headers(db, make_user(db, make_org(db)))
    chunk = b"a" * 65536

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk
        yield b'"}'

    response = client.post(
        f"{API}/auth/tokens",
        content=chunks(),
        headers={**headers, "content-type": "application/json", "Idempotency-Key": "qa-big"},
    )

    assert response.status_code == 413


def test_ordinary_bodies_and_uploads_still_go_through(client: TestClient, db: Session) -> None:
    headers = auth_headers(db, make_user(db, make_org(db)))

    created = client.post(f"{API}/auth/tokens", json={"name": "laptop"}, headers=headers)
    upload = client.post(
        f"{API}/documents",
        headers=headers,
        files={"file": ("notes.txt", b"x" * (MAX_BODY_BYTES + 1000), "text/plain")},
        data={"kind": "other"},
    )

    assert created.status_code == 201
    assert upload.status_code != 413, upload.text


# --- sign-in guessing ------------------------------------------------------------------------


def _sign_in(client: TestClient, email: str, password: str) -> int:
    form = {"username": email, "password": password}
    return client.post(f"{API}/auth/token", data=form).status_code


def test_repeated_wrong_passwords_lock_that_account_out_here_even_with_the_right_one(
    client: TestClient, db: Session, redis: Redis
) -> None:
    make_user(db, make_org(db), email="target@qa.example", password=DEFAULT_PASSWORD)
    db.flush()

    guesses = [
        _sign_in(client, "target@qa.example", f"guess-{n:04d}")
        for n in range(LOGIN_FAILURES_ALLOWED)
    ]
    blocked = client.post(
        f"{API}/auth/token", data={"username": "Target@qa.example", "password": DEFAULT_PASSWORD}
    )

    assert guesses == [401] * LOGIN_FAILURES_ALLOWED
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= LOGIN_FAILURE_WINDOW_SECONDS
    # Unknown accounts are throttled the same way, so a 429 tells nothing about who exists.
    for n in range(LOGIN_FAILURES_ALLOWED):
        assert _sign_in(client, "nobody@qa.example", f"guess-{n:04d}") == 401
    assert _sign_in(client, "nobody@qa.example", "one-more-guess") == 429


def test_a_successful_sign_in_clears_earlier_failures(
    client: TestClient, db: Session, redis: Redis
) -> None:
    make_user(db, make_org(db), email="typo@qa.example", password=DEFAULT_PASSWORD)
    db.flush()
    for n in range(LOGIN_FAILURES_ALLOWED - 1):
        assert _sign_in(client, "typo@qa.example", f"typo-{n:04d}") == 401

    assert _sign_in(client, "typo@qa.example", DEFAULT_PASSWORD) == 200
    for n in range(LOGIN_FAILURES_ALLOWED - 1):
        assert _sign_in(client, "typo@qa.example", f"again-{n:04d}") == 401
    assert _sign_in(client, "typo@qa.example", DEFAULT_PASSWORD) == 200
