"""An ``offset`` past PostgreSQL's bigint was a 500 (``NumericValueOutOfRange``) on every paged
list; every list now takes 0 to ``MAX_OFFSET`` and answers 422 beyond it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from core.paging import MAX_OFFSET
from domain.auth.enums import Role
from tests.factories import auth_headers, make_org, make_user

HUGE = 9_223_372_036_854_775_808  # 2**63: one past bigint


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/deals",
        "/api/v1/transactions",
        "/api/v1/properties",
        "/api/v1/projects",
        "/api/v1/audit-log",
        "/api/v1/documents",
        "/api/v1/action-items",
        "/api/v1/users",
    ],
)
def test_an_offset_past_the_deepest_page_is_a_422(
    client: TestClient, db: Session, path: str
) -> None:
    headers = auth_headers(db, make_user(db, make_org(db), Role.admin))
    for offset in (HUGE, MAX_OFFSET + 1):
        answer = client.get(f"{path}?offset={offset}", headers=headers)
        assert answer.status_code == 422, (path, offset, answer.text)
        assert "offset" in answer.text
    deepest = client.get(f"{path}?offset={MAX_OFFSET}", headers=headers)
    assert deepest.status_code == 200, deepest.text
    body = deepest.json()
    assert (body["items"] if isinstance(body, dict) else body) == []  # /properties is an envelope


def test_a_search_body_offset_past_the_deepest_page_is_a_422(
    client: TestClient, db: Session
) -> None:
    headers = auth_headers(db, make_user(db, make_org(db), Role.admin))
    answer = client.post("/api/v1/properties/search", json={"offset": HUGE}, headers=headers)
    assert answer.status_code == 422, answer.text
    ok = client.post("/api/v1/properties/search", json={"offset": MAX_OFFSET}, headers=headers)
    assert ok.status_code == 200, ok.text
