"""Paged lists say how many rows match over all pages (``X-Total-Count``): deals, projects,
documents and calls took ``limit``/``offset`` but never said how many there were, so a client
could not tell the last page from a full one. The count follows the list's filters and what
the caller may see."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind
from domain.voice.enums import CallPurpose, CallStatus
from domain.voice.models import Call
from tests.factories import auth_headers, make_deal, make_org, make_project, make_user


def _page(client: TestClient, path: str, headers: dict[str, str]) -> tuple[int, int]:
    answer = client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    return len(answer.json()), int(answer.headers["X-Total-Count"])


def test_deals_count_every_page_and_only_what_the_caller_sees(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    admin = make_user(db, org, Role.admin)
    investor = make_user(db, org, Role.investor)
    for _ in range(3):
        make_deal(db, org, owner=investor, strategy="flip")
    make_deal(db, org, owner=admin, strategy="rental")
    make_deal(db, make_org(db))  # another organisation's: never counted
    team = auth_headers(db, admin)
    assert _page(client, "/api/v1/deals?limit=2", team) == (2, 4)
    assert _page(client, "/api/v1/deals?limit=2&offset=2", team) == (2, 4)
    assert _page(client, "/api/v1/deals?strategy=flip&limit=1", team) == (1, 3)
    assert _page(client, "/api/v1/deals?limit=10", auth_headers(db, investor)) == (3, 3)


def test_projects_count_every_page(client: TestClient, db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org, Role.admin)
    for n in range(3):
        make_project(db, org, name=f"Rehab {n}")
    assert _page(client, "/api/v1/projects?limit=1", auth_headers(db, admin)) == (1, 3)
    assert _page(client, "/api/v1/projects?status=completed", auth_headers(db, admin)) == (0, 0)


def test_documents_count_every_page(client: TestClient, db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org, Role.admin)
    for n in range(3):
        documents_service.store_document(
            session=db, org_id=org.id, data=f"note {n}".encode(), filename=f"n{n}.txt",
            declared_content_type="text/plain", kind=DocumentKind.other,
        )  # fmt: skip
    assert _page(client, "/api/v1/documents?limit=2", auth_headers(db, admin)) == (2, 3)
    assert _page(client, "/api/v1/documents?kind=report", auth_headers(db, admin)) == (0, 0)


def test_calls_count_every_page(client: TestClient, db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org, Role.admin)
    for n, call_status in enumerate([CallStatus.queued, CallStatus.queued, CallStatus.completed]):
        db.add(
            Call(
                org_id=org.id, purpose=CallPurpose.bid_request, status=call_status,
                to_number=f"+1313555010{n}",
            )
        )  # fmt: skip
    db.flush()
    assert _page(client, "/api/v1/calls?limit=1", auth_headers(db, admin)) == (1, 3)
    assert _page(client, "/api/v1/calls?status=queued", auth_headers(db, admin)) == (2, 2)
