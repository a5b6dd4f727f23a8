"""QA pass over deals and documents: defects an acquisitions manager hit, each pinned here."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind
from tests.domain.documents.conftest import png_bytes
from tests.factories import auth_headers, make_deal, make_org, make_user, principal_for

API = "/api/v1"
DOCS = f"{API}/documents"
PDF_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _offer(client: TestClient, headers: dict[str, str], deal_id: Any, amount: str) -> Any:
    response = client.post(
        f"{API}/deals/{deal_id}/offers", json={"offer_amount": amount}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def _offer_status(
    client: TestClient, headers: dict[str, str], deal_id: Any, offer_id: str, status: str
) -> Any:
    return client.put(
        f"{API}/deals/{deal_id}/offers/{offer_id}/status",
        json={"status": status},
        headers=headers,
    )


# --- deals ---------------------------------------------------------------------------------


def test_a_second_offer_cannot_be_accepted_once_one_is(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    deal = make_deal(db, org, purchase_price=Decimal("99000"))
    first = _offer(client, headers, deal.id, "90000")
    second = _offer(client, headers, deal.id, "95000")
    accepted = _offer_status(client, headers, deal.id, first["id"], "accepted")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["deal_status"] == "under_contract"

    again = _offer_status(client, headers, deal.id, second["id"], "accepted")

    assert again.status_code == 409, again.text
    assert "already has an accepted offer" in again.json()["detail"]
    detail = client.get(f"{API}/deals/{deal.id}", headers=headers).json()
    assert detail["purchase_price"] == "90000.00"  # the contract price stays the accepted one
    assert [o["status"] for o in detail["offers"]] == ["accepted", "submitted"]
    # The losing offer can still be closed out.
    rejected = _offer_status(client, headers, deal.id, second["id"], "rejected")
    assert rejected.status_code == 200, rejected.text


def test_offers_on_a_dead_deal_cannot_be_countered_only_closed_out(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    deal = make_deal(db, org)
    offer = _offer(client, headers, deal.id, "80000")
    dead = client.put(f"{API}/deals/{deal.id}/status", json={"status": "dead"}, headers=headers)
    assert dead.status_code == 200, dead.text

    countered = _offer_status(client, headers, deal.id, offer["id"], "countered")

    assert countered.status_code == 409, countered.text
    assert "dead" in countered.json()["detail"]
    withdrawn = _offer_status(client, headers, deal.id, offer["id"], "withdrawn")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["deal_status"] == "dead"


# --- documents: a misleading extension ------------------------------------------------------


def _upload(
    client: TestClient,
    headers: dict[str, str],
    data: bytes,
    filename: str,
    content_type: str,
    kind: str = "other",
    **form: str,
) -> Any:
    return client.post(
        DOCS,
        headers=headers,
        files={"file": (filename, data, content_type)},
        data={"kind": kind, **form},
    )


def test_a_pdf_named_like_a_photo_downloads_with_a_pdf_extension(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    response = _upload(
        client, headers, PDF_BYTES, "signed contract.jpg", "application/octet-stream", "contract"
    )
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["content_type"] == "application/pdf"
    assert doc["filename"] == "signed contract.pdf"
    download = client.get(f"{DOCS}/{doc['id']}/content", headers=headers)
    assert download.status_code == 200
    assert 'filename="signed contract.pdf"' in download.headers["content-disposition"]


def test_extensions_that_fit_the_format_are_kept(db: Session) -> None:
    org = make_org(db)

    def stored_name(data: bytes, filename: str, declared: str, kind: DocumentKind) -> str:
        return documents_service.store_document(
            session=db,
            org_id=org.id,
            data=data,
            filename=filename,
            declared_content_type=declared,
            kind=kind,
        ).filename

    assert stored_name(png_bytes(), "kitchen.PNG", "image/png", DocumentKind.photo) == "kitchen.PNG"
    assert stored_name(b"a,b\n1,2\n", "comps.csv", "text/plain", DocumentKind.other) == "comps.csv"
    assert stored_name(b"notes", "notes.md", "text/plain", DocumentKind.other) == "notes.md"
    assert stored_name(png_bytes(), "front.jpeg", "", DocumentKind.photo) == "front.png"
    assert stored_name(PDF_BYTES, "scan", "", DocumentKind.receipt) == "scan"


# --- documents: a deal's documents follow the deal's visibility ------------------------------


def _deal_document(
    client: TestClient, db: Session, org: Organisation, analyst: User, deal_id: Any
) -> str:
    response = _upload(
        client,
        auth_headers(db, analyst),
        PDF_BYTES,
        "purchase agreement.pdf",
        "application/pdf",
        "contract",
        entity_type="deal",
        entity_id=str(deal_id),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_an_investor_sees_a_deals_documents_only_while_on_the_deal(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    investor = make_user(db, org, role=Role.investor)
    deal = make_deal(db, org, owner=analyst)
    document_id = _deal_document(client, db, org, analyst, deal.id)
    as_investor = auth_headers(db, investor)

    def investor_sees() -> tuple[bool, int, int]:
        listed = client.get(DOCS, headers=as_investor)
        assert listed.status_code == 200
        return (
            document_id in {d["id"] for d in listed.json()},
            client.get(f"{DOCS}/{document_id}", headers=as_investor).status_code,
            client.get(f"{DOCS}/{document_id}/content", headers=as_investor).status_code,
        )

    assert investor_sees() == (False, 404, 404)
    added = client.put(
        f"{API}/deals/{deal.id}",
        json={"team": {"investor": str(investor.id)}},
        headers=auth_headers(db, analyst),
    )
    assert added.status_code == 200, added.text
    assert investor_sees() == (True, 200, 200)
    removed = client.put(
        f"{API}/deals/{deal.id}", json={"team": {}}, headers=auth_headers(db, analyst)
    )
    assert removed.status_code == 200, removed.text
    assert investor_sees() == (False, 404, 404)
    # Admins and analysts still see it; so does the service with no principal (jobs).
    assert client.get(f"{DOCS}/{document_id}", headers=auth_headers(db, analyst)).status_code == 200
    found = documents_service.get_document(
        session=db, org_id=org.id, document_id=uuid.UUID(document_id)
    )
    assert found is not None


def test_a_contractor_sees_no_deal_documents_but_keeps_other_ones(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    contractor = make_user(db, org, role=Role.contractor)
    deal = make_deal(db, org, owner=analyst)
    deal_doc = _deal_document(client, db, org, analyst, deal.id)
    own = _upload(
        client, auth_headers(db, contractor), png_bytes(), "site.png", "image/png", "photo"
    )
    assert own.status_code == 201, own.text

    listed = {d["id"] for d in client.get(DOCS, headers=auth_headers(db, contractor)).json()}
    assert own.json()["id"] in listed
    assert deal_doc not in listed
    # The service applies the same rule for whoever calls it with the contractor's principal.
    through_service = documents_service.list_documents(
        session=db, org_id=org.id, principal=principal_for(contractor)
    )
    assert {str(d.id) for d in through_service} == {own.json()["id"]}
    headers = auth_headers(db, contractor)
    assert client.get(f"{DOCS}/{deal_doc}/content", headers=headers).status_code == 404
    assert client.delete(f"{DOCS}/{deal_doc}", headers=headers).status_code == 404


def test_utf16_text_is_refused_as_text_not_called_audio(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    # Excel's "Unicode text" export: UTF-16 little-endian with a byte-order mark.
    exported = "address\tprice\n12 Elm St\t95000\n".encode("utf-16")
    assert exported.startswith(b"\xff\xfe")

    response = _upload(client, headers, exported, "comps.csv", "text/csv")

    assert response.status_code == 415, response.text
    assert response.json()["reason"] == "unsupported_type"
    assert "UTF-16" in response.json()["detail"]
    assert "audio" not in response.json()["detail"]
    # A real MP3 (ID3 tag) is still an MP3.
    mp3 = _upload(client, headers, b"ID3\x03\x00" + b"\x00" * 64, "memo.mp3", "audio/mpeg")
    assert mp3.status_code == 201, mp3.text
    assert mp3.json()["content_type"] == "audio/mpeg"
