"""Product decisions on who may do what: uploads naming a deal, and the contractor directory.

- An upload naming a deal (``entity_type=deal``) that the caller could not open through the
  deal API is refused with the deal API's own 404 ("deal <id> not found") and nothing is
  stored: an unknown deal, another organisation's deal (404, not 403), an investor's deal they
  are not on. Contractors have no access to deals (403, as on the deal endpoints).
- The contractor directory (names, phones, emails) is for the team: admins and analysts,
  the roles that manage construction. Investors are outside partners: 403. The agent's tools
  follow the same line: an investor's tools never list contractors' contact details.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.construction import service as construction_service
from domain.construction.models import BidCreate
from domain.documents.models import Document
from store.storage import local_root
from tests.factories import (
    auth_headers,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools import TOOLS_BY_NAME, tools_for_role

API = "/api/v1"
DOCS = f"{API}/documents"
PDF_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _upload(client: TestClient, headers: dict[str, str], deal_id: Any) -> Any:
    return client.post(
        DOCS,
        headers=headers,
        files={"file": ("purchase agreement.pdf", PDF_BYTES, "application/pdf")},
        data={"kind": "contract", "entity_type": "deal", "entity_id": str(deal_id)},
    )


def _documents(db: Session, org: Organisation) -> int:
    statement = select(func.count()).select_from(Document).where(Document.org_id == org.id)
    return int(db.exec(statement).one())


def _stored_files(org: Organisation) -> list[Path]:
    """The files kept for ``org`` in the local store (keys start with the organisation id)."""
    root = local_root() / str(org.id)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- 3. an upload naming a deal the caller cannot open ---------------------------------------


def test_an_upload_naming_an_unknown_deal_is_not_found_and_stores_nothing(
    client: TestClient, db: Session
) -> None:
    org = make_org(db, name="Upload Org")
    analyst = auth_headers(db, make_user(db, org, Role.analyst))
    missing = uuid.uuid4()

    refused = _upload(client, analyst, missing)
    assert refused.status_code == 404, refused.text
    # The deal endpoints' own wording for the same id.
    from_deals = client.get(f"{API}/deals/{missing}", headers=analyst)
    assert from_deals.status_code == 404
    assert refused.json()["detail"] == from_deals.json()["detail"] == f"deal {missing} not found"
    assert _documents(db, org) == 0
    assert _stored_files(org) == []

    # The same upload naming a deal the organisation has goes in (and its bytes are kept).
    deal = make_deal(db, org)
    accepted = _upload(client, analyst, deal.id)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["entity_id"] == str(deal.id)
    assert _documents(db, org) == 1
    assert len(_stored_files(org)) == 1


def test_an_upload_naming_another_organisations_deal_is_404_not_403(
    client: TestClient, db: Session
) -> None:
    org = make_org(db, name="Upload Org")
    other = make_org(db, name="Other Org")
    theirs = make_deal(db, other)
    for role in (Role.admin, Role.analyst, Role.investor):
        headers = auth_headers(db, make_user(db, org, role))
        refused = _upload(client, headers, theirs.id)
        assert refused.status_code == 404, (role, refused.text)
        assert refused.json()["detail"] == f"deal {theirs.id} not found"
    assert _documents(db, org) == 0 and _documents(db, other) == 0
    assert _stored_files(org) == []


def test_an_upload_follows_the_deal_apis_visibility_for_investors_and_contractors(
    client: TestClient, db: Session
) -> None:
    org = make_org(db, name="Upload Org")
    owner = make_user(db, org, Role.investor)
    outsider = make_user(db, org, Role.investor)
    deal = make_deal(db, org, owner=owner)

    # An investor not on the deal cannot open it, so cannot attach to it either.
    not_on_it = _upload(client, auth_headers(db, outsider), deal.id)
    assert not_on_it.status_code == 404
    assert not_on_it.json()["detail"] == f"deal {deal.id} not found"
    opened = client.get(f"{API}/deals/{deal.id}", headers=auth_headers(db, outsider))
    assert opened.status_code == 404
    # Contractors have no access to deals: 403, as on the deal endpoints.
    contractor = auth_headers(db, make_user(db, org, Role.contractor))
    forbidden = _upload(client, contractor, deal.id)
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "contractors have no access to deals"
    assert _documents(db, org) == 0
    assert _stored_files(org) == []

    # The deal's owner may.
    own = _upload(client, auth_headers(db, owner), deal.id)
    assert own.status_code == 201, own.text
    assert _documents(db, org) == 1


# --- 4. the contractor directory is for the team ---------------------------------------------


def test_investors_cannot_read_the_contractor_directory(client: TestClient, db: Session) -> None:
    org = make_org(db, name="Directory Org")
    contractor = make_contractor(db, org, email="ray.roofer@example.com")
    one = f"{API}/contractors/{contractor.id}"

    investor = auth_headers(db, make_user(db, org, Role.investor))
    for url in (f"{API}/contractors", f"{API}/contractors?trade=roofing", one):
        refused = client.get(url, headers=investor)
        assert refused.status_code == 403, (url, refused.text)
        assert contractor.phone not in refused.text
        assert "ray.roofer@example.com" not in refused.text
        assert refused.json()["detail"] == (
            "This needs one of the roles: admin, analyst (you are investor)"
        )

    # The roles that manage construction read it, phone and email included.
    for role in (Role.admin, Role.analyst):
        headers = auth_headers(db, make_user(db, org, role))
        listed = client.get(f"{API}/contractors", headers=headers)
        assert listed.status_code == 200, listed.text
        assert [(c["phone"], c["email"]) for c in listed.json()] == [
            (contractor.phone, "ray.roofer@example.com")
        ]
        assert client.get(one, headers=headers).json()["phone"] == contractor.phone


def test_an_investors_tools_never_show_contractor_contacts(db: Session) -> None:
    org = make_org(db, name="Directory Org")
    contractor = make_contractor(db, org, email="ray.roofer@example.com")
    investor = make_user(db, org, Role.investor)
    deal = make_deal(db, org, owner=investor)
    project = make_project(db, org, deal_id=deal.id)
    construction_service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate(contractor_id=contractor.id, total_amount=Decimal("12500")),
    )

    # The tools that go through the contractor directory are the team's only.
    directory_tools = {"request_bids", "call_status"}
    investor_tools = {t.name for t in tools_for_role(Role.investor)}
    assert directory_tools.isdisjoint(investor_tools)
    assert directory_tools <= {t.name for t in tools_for_role(Role.analyst)}
    # Even when called directly (past the role policy), they refuse an investor.
    ctx = context_for(db, investor)
    refused = call_tool(TOOLS_BY_NAME["call_status"], ctx, project=str(project.id))
    assert refused == {"error": "not allowed for the investor role"}
    refused = call_tool(
        TOOLS_BY_NAME["request_bids"], ctx, project=str(project.id), trade="roofing"
    )
    assert refused == {"error": "not allowed for the investor role"}

    # The bid tools an investor has name the contractor on their own project, no contacts.
    for name in ("bids_received", "list_bids"):
        result = call_tool(TOOLS_BY_NAME[name], ctx, project=str(project.id))
        assert "error" not in result, result
        text = json.dumps(result)
        assert contractor.name in text
        assert contractor.phone not in text and "ray.roofer@example.com" not in text
