"""REST API QA (security and integrity): who may see which documents, and deletes that orphan.

- Documents not linked to a deal (property reports with the max offer, photos, other uploads)
  were listed and served to every contractor, and a report one investor asked for to every
  other investor.
- ``DELETE /properties/{id}`` deleted a property its deals and projects still named.
- ``DELETE /documents/{id}`` left a project photo listed whose bytes were gone.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.property.models import Property
from store.outbox import OutboxEvent
from tests.domain.documents.conftest import pdf_bytes, png_bytes
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_user,
    principal_for,
)

API = "/api/v1"
DOCS = f"{API}/documents"


def _stored(
    db: Session,
    org: Organisation,
    *,
    kind: DocumentKind,
    entity_type: str | None,
    entity_id: uuid.UUID | None,
    by: User | None,
    source: DocumentSource = DocumentSource.upload,
) -> str:
    """Store a document through the documents service (as the report job and uploads do)."""
    data = pdf_bytes() if kind == DocumentKind.report else png_bytes()
    document = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=data,
        filename="analysis.pdf" if kind == DocumentKind.report else "front.png",
        declared_content_type=None,
        kind=kind,
        source=source,
        entity_type=entity_type,
        entity_id=entity_id,
        uploaded_by=by.id if by else None,
    )
    db.flush()
    return str(document.id)


def _report(db: Session, org: Organisation, property_id: uuid.UUID, by: User | None) -> str:
    """A property-analysis PDF as ``workers.reports`` stores it (requester = uploader)."""
    return _stored(
        db,
        org,
        kind=DocumentKind.report,
        entity_type="property",
        entity_id=property_id,
        by=by,
        source=DocumentSource.worker,
    )


def _listed(client: TestClient, headers: dict[str, str], **params: Any) -> tuple[set[str], int]:
    """The ids ``GET /documents`` lists and the X-Total-Count it sends."""
    response = client.get(DOCS, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return {d["id"] for d in response.json()}, int(response.headers["x-total-count"])


def _reads(client: TestClient, headers: dict[str, str], document_id: str) -> tuple[int, int]:
    """Status codes of reading the metadata and downloading the bytes."""
    return (
        client.get(f"{DOCS}/{document_id}", headers=headers).status_code,
        client.get(f"{DOCS}/{document_id}/content", headers=headers).status_code,
    )


# --- 1. visibility -------------------------------------------------------------------------


def test_a_contractor_sees_only_their_own_uploads(client: TestClient, db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    investor = make_user(db, org, role=Role.investor)
    contractor = make_user(db, org, role=Role.contractor)
    prop = make_property(db, org)
    report = _report(db, org, prop.id, analyst)
    photo = _stored(
        db, org, kind=DocumentKind.photo, entity_type="property", entity_id=prop.id, by=investor
    )
    loose = _stored(db, org, kind=DocumentKind.other, entity_type=None, entity_id=None, by=analyst)
    headers = auth_headers(db, contractor)
    own = client.post(
        DOCS,
        headers=headers,
        files={"file": ("site.png", png_bytes(), "image/png")},
        data={"kind": "photo"},
    )
    assert own.status_code == 201, own.text

    assert _listed(client, headers, kind="report") == (set(), 0)
    assert _listed(client, headers, entity_id=str(prop.id)) == (set(), 0)
    assert _listed(client, headers) == ({own.json()["id"]}, 1)
    for hidden in (report, photo, loose):
        assert _reads(client, headers, hidden) == (404, 404)
        assert client.delete(f"{DOCS}/{hidden}", headers=headers).status_code == 404
    assert _reads(client, headers, own.json()["id"]) == (200, 200)
    # The team still sees everything of the organisation.
    team = auth_headers(db, analyst)
    assert _listed(client, team) == ({report, photo, loose, own.json()["id"]}, 4)


def test_a_report_is_seen_by_whoever_asked_and_the_team_not_other_investors(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    ivy = make_user(db, org, role=Role.investor)
    otto = make_user(db, org, role=Role.investor)
    prop = make_property(db, org)
    ivys_report = _report(db, org, prop.id, ivy)
    as_ivy, as_otto = auth_headers(db, ivy), auth_headers(db, otto)

    assert _listed(client, as_otto, entity_id=str(prop.id)) == (set(), 0)
    assert _listed(client, as_otto, kind="report") == (set(), 0)
    assert _reads(client, as_otto, ivys_report) == (404, 404)
    assert _listed(client, as_ivy, entity_id=str(prop.id)) == ({ivys_report}, 1)
    assert _reads(client, as_ivy, ivys_report) == (200, 200)
    assert _reads(client, auth_headers(db, analyst), ivys_report) == (200, 200)
    # The report link over a bearer token follows the same rule (it served Otto Ivy's PDF).
    assert client.get(f"/api/v1/reports/{ivys_report}", headers=as_otto).status_code == 404
    assert client.get(f"/api/v1/reports/{ivys_report}", headers=as_ivy).status_code == 200
    # The service applies the same rule to whoever calls it with a principal.
    seen = documents_service.list_documents(
        session=db, org_id=org.id, principal=principal_for(otto)
    )
    assert seen == []


def test_an_investor_sees_their_deals_property_documents_but_not_others_reports(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    otto = make_user(db, org, role=Role.investor)
    deal = make_deal(db, org, owner=otto)
    elsewhere = make_property(db, org)
    deal_photo = _stored(
        db,
        org,
        kind=DocumentKind.photo,
        entity_type="property",
        entity_id=deal.property_id,
        by=analyst,
    )
    other_photo = _stored(
        db, org, kind=DocumentKind.photo, entity_type="property", entity_id=elsewhere.id, by=None
    )
    # A report someone else asked for holds their analysis: not shown, even on Otto's property.
    team_report = _report(db, org, deal.property_id, analyst)
    own_report = _report(db, org, elsewhere.id, otto)
    headers = auth_headers(db, otto)

    assert _listed(client, headers) == ({deal_photo, own_report}, 2)
    assert _listed(client, headers, kind="photo") == ({deal_photo}, 1)
    assert _listed(client, headers, limit=1)[1] == 2
    assert _reads(client, headers, deal_photo) == (200, 200)
    assert _reads(client, headers, other_photo) == (404, 404)
    assert _reads(client, headers, team_report) == (404, 404)


# --- 2. deleting a property that deals or projects use ---------------------------------------


def _deleted_events(db: Session, property_id: uuid.UUID) -> int:
    rows = db.exec(select(OutboxEvent).where(OutboxEvent.name == "property.deleted")).all()
    return sum(1 for row in rows if row.payload.get("property_id") == str(property_id))


def test_a_property_with_a_deal_or_project_is_not_deleted(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    deal = make_deal(db, org, strategy="flip")
    make_project(db, org, deal_id=deal.id, property_id=deal.property_id)
    with_project_only = make_property(db, org)
    make_project(db, org, property_id=with_project_only.id, name="Rehab: no deal")

    refused = client.delete(f"{API}/properties/{deal.property_id}", headers=headers)

    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert ": 1 deal and 1 construction project refer to it" in detail, detail
    assert db.get(Property, deal.property_id) is not None
    assert client.get(f"{API}/deals/{deal.id}", headers=headers).status_code == 200
    assert _deleted_events(db, deal.property_id) == 0

    only_project = client.delete(f"{API}/properties/{with_project_only.id}", headers=headers)
    assert only_project.status_code == 409, only_project.text
    assert ": 1 construction project refers to it" in only_project.json()["detail"]
    assert db.get(Property, with_project_only.id) is not None

    # A property nothing refers to (a sold comp, with a report) is still deleted.
    comp = make_property(db, org)
    _report(db, org, comp.id, None)
    assert client.delete(f"{API}/properties/{comp.id}", headers=headers).status_code == 204
    assert _deleted_events(db, comp.id) == 1


# --- 3. deleting the document behind a project photo ----------------------------------------


def test_deleting_a_photos_document_removes_the_photo_from_its_project(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    deal = make_deal(db, org, strategy="flip")
    project = make_project(db, org, deal_id=deal.id)
    url = f"{API}/projects/{project.id}/photos"
    uploaded = client.post(
        url,
        files=[
            ("files", ("before.png", png_bytes(64, 48), "image/png")),
            ("files", ("after.png", png_bytes(32, 32), "image/png")),
        ],
        headers=headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    gone, kept = uploaded.json()

    deleted = client.delete(f"{DOCS}/{gone['document_id']}", headers=headers)

    assert deleted.status_code == 204, deleted.text
    listed = client.get(url, headers=headers)
    assert [p["id"] for p in listed.json()] == [kept["id"]]
    assert listed.headers["x-total-count"] == "1"
    assert _reads(client, headers, kept["document_id"]) == (200, 200)
