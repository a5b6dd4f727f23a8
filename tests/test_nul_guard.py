"""Text with a NUL character is a 422, never a 500 (PostgreSQL text cannot hold U+0000).

Was: ``POST /accounts {"name": "a\\u0000b"}`` and about fifteen other writes and searches
failed in the database with a 500 and dropped the keep-alive connection. Now
``core.nul_guard.NulTextMiddleware`` refuses a NUL in the query string, a JSON body or a form
body with a 422 naming it; uploads (binary) and Twilio's signed webhooks (stored with NUL made
visible, ``tests/test_webhook_signed_fuzz.py``) pass as before.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.nul_guard import NUL_DETAIL
from domain.auth.enums import Role
from domain.finance.models import Account
from tests.factories import auth_headers, make_org, make_user

API = "/api/v1"


def test_json_query_and_form_text_with_nul_is_a_422(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    cases = [
        client.post(
            f"{API}/accounts", json={"name": "a\u0000b", "type": "checking"}, headers=headers
        ),
        client.post(f"{API}/properties/search", json={"text": "elm\u0000"}, headers=headers),
        client.get(f"{API}/properties?city=%00", headers=headers),
        client.get(f"{API}/deals?status=lead%00", headers=headers),
        client.post(f"{API}/auth/token", data={"username": "x\u0000@example.com", "password": "p"}),
    ]
    for response in cases:
        assert response.status_code == 422, response.text
        assert response.json() == {"detail": NUL_DETAIL}
    assert db.exec(select(Account).where(Account.org_id == org.id)).all() == []


def test_text_without_nul_and_an_escaped_backslash_still_work(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    # The six characters \u0000 (an escaped backslash, then "u0000") are not a NUL.
    made = client.post(
        f"{API}/accounts", json={"name": "Ops \\u0000 account", "type": "checking"}, headers=headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "Ops \\u0000 account"


def test_binary_uploads_with_nul_bytes_pass(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    pdf = b"%PDF-1.4\n" + b"\x00" * 64 + b"\n%%EOF\n"
    response = client.post(
        f"{API}/documents",
        files={"file": ("scan.pdf", pdf, "application/pdf")},
        data={"kind": "other"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    stored = client.get(f"{API}/documents/{response.json()['id']}/content", headers=headers)
    assert stored.content == pdf
