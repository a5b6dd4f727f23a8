"""Security re-check (live QA, each reproduced twice).

- An investor on no deal changed the rehab, max offer and PDF cover of another investor's deal
  by posting a photo of its property (``/analyze/component-condition`` 200,
  ``/analyze/property-photos`` 202), and ran the model on a document they could not read.
  Now the rule of storing a valuation (``valuation_service.check_may_store``): 403, and a
  stored photo the caller cannot read is 404.
- A valuation dated in the future stayed the "latest" ARV for good: an ``as_of`` after today
  (company-local) is now a 422.
- ``POST /documents`` accepted entity types it never checks (``properties``,
  ``organisation``): now a 422 listing the accepted ones.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind
from domain.documents.models import Document
from domain.valuation.models import Valuation
from domain.vision.models import PropertyAnalysis
from tests.domain.documents.conftest import png_bytes
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_property,
    make_sold_market,
    make_subject_property,
    make_user,
)

API = "/api/v1"


def _photo(db: Session, org: Organisation, by: User, **link: Any) -> uuid.UUID:
    """A photo stored as an upload of ``by`` (linked as ``link`` says, else to nothing)."""
    document = documents_service.store_document(
        session=db,
        org_id=org.id,
        data=png_bytes(),
        filename="roof.png",
        declared_content_type="image/png",
        kind=DocumentKind.photo,
        uploaded_by=by.id,
        **link,
    )
    db.flush()
    return document.id


def _one_photo(
    client: TestClient,
    headers: dict[str, str],
    property_id: uuid.UUID,
    document_id: uuid.UUID | None = None,
) -> Any:
    if document_id is not None:
        return client.post(
            f"{API}/analyze/component-condition",
            data={"property_id": str(property_id), "document_id": str(document_id)},
            headers=headers,
        )
    return client.post(
        f"{API}/analyze/component-condition",
        data={"property_id": str(property_id)},
        files={"file": ("roof.png", png_bytes(), "image/png")},
        headers=headers,
    )


def _batch(
    client: TestClient,
    headers: dict[str, str],
    property_id: uuid.UUID,
    document_ids: list[uuid.UUID] | None = None,
) -> Any:
    if document_ids:
        return client.post(
            f"{API}/analyze/property-photos",
            data={"property_id": str(property_id), "document_ids": [str(d) for d in document_ids]},
            headers=headers,
        )
    return client.post(
        f"{API}/analyze/property-photos",
        data={"property_id": str(property_id)},
        files=[("files", ("roof.png", png_bytes(), "image/png"))],
        headers=headers,
    )


def _analyses(db: Session, property_id: uuid.UUID) -> int:
    return db.exec(
        select(func.count())
        .select_from(PropertyAnalysis)
        .where(PropertyAnalysis.property_id == property_id)
    ).one()


# --- 1. photos of another investor's deal --------------------------------------------------


def test_an_investor_cannot_add_photos_of_a_property_on_another_investors_deal(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    inv1 = make_user(db, org, role=Role.investor)
    inv2 = make_user(db, org, role=Role.investor)
    deal = make_deal(db, org, owner=inv1)
    as_inv2 = auth_headers(db, inv2)

    one = _one_photo(client, as_inv2, deal.property_id)
    assert one.status_code == 403, one.text
    assert "deal you are not on" in one.json()["detail"]
    batch = _batch(client, as_inv2, deal.property_id)
    assert batch.status_code == 403, batch.text
    # Nothing was stored: inv1's analysis prices no photo of inv2's.
    assert _analyses(db, deal.property_id) == 0
    assert (
        db.exec(
            select(func.count()).select_from(Document).where(Document.uploaded_by == inv2.id)
        ).one()
        == 0
    )


def test_the_deal_owner_the_team_and_any_investor_on_a_free_property_still_add_photos(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    inv1 = make_user(db, org, role=Role.investor)
    inv2 = make_user(db, org, role=Role.investor)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(db, org, owner=inv1)
    free = make_property(db, org)

    assert _one_photo(client, auth_headers(db, inv1), deal.property_id).status_code == 200
    assert _batch(client, auth_headers(db, inv1), deal.property_id).status_code == 202
    assert _one_photo(client, auth_headers(db, analyst), deal.property_id).status_code == 200
    assert _one_photo(client, auth_headers(db, inv2), free.id).status_code == 200
    assert _analyses(db, deal.property_id) == 3
    # A contractor has no access to photo analysis at all.
    contractor = make_user(db, org, role=Role.contractor)
    assert _one_photo(client, auth_headers(db, contractor), free.id).status_code == 403


def test_a_stored_photo_the_caller_cannot_read_is_not_found(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    inv1 = make_user(db, org, role=Role.investor)
    inv2 = make_user(db, org, role=Role.investor)
    deal = make_deal(db, org, owner=inv1)
    free = make_property(db, org)
    # inv1's photo linked to nothing, and one on inv1's deal: inv2 reads neither.
    loose = _photo(db, org, inv1)
    on_deal = _photo(db, org, inv1, entity_type="deal", entity_id=deal.id)
    as_inv2 = auth_headers(db, inv2)
    for document_id in (loose, on_deal):
        assert client.get(f"{API}/documents/{document_id}", headers=as_inv2).status_code == 404

        one = _one_photo(client, as_inv2, free.id, document_id)
        assert one.status_code == 404, one.text
        assert str(document_id) in one.json()["detail"]
        assert _batch(client, as_inv2, free.id, [document_id]).status_code == 404
    assert _analyses(db, free.id) == 0
    # The loose photo was not claimed for inv2's property either.
    assert db.get(Document, loose).entity_id is None  # type: ignore[union-attr]
    # Its uploader may still use it.
    assert _one_photo(client, auth_headers(db, inv1), free.id, loose).status_code == 200


# --- 2. future value dates -----------------------------------------------------------------


def test_a_valuation_dated_after_today_is_refused_on_every_route(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    tomorrow = local_today() + dt.timedelta(days=1)

    for route in ("/valuations/arv", "/valuations/calculate", "/comparables/analyze"):
        for as_of in ("2031-01-01", tomorrow.isoformat()):
            response = client.post(
                f"{API}{route}",
                json={"property_id": str(subject.id), "as_of": as_of},
                headers=headers,
            )
            assert response.status_code == 422, (route, as_of, response.text)
            assert "after today" in response.text, response.text
    assert db.exec(select(func.count()).select_from(Valuation)).one() == 0

    # Today (company-local) and earlier are still value dates.
    today = client.post(
        f"{API}/valuations/arv",
        json={"property_id": str(subject.id), "as_of": local_today().isoformat()},
        headers=headers,
    )
    assert today.status_code == 201, today.text
    assert today.json()["as_of"] == local_today().isoformat()


# --- 4. entity types an upload may be linked to --------------------------------------------


def test_an_upload_linked_to_an_unknown_entity_type_is_refused(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    prop = make_property(db, org)
    headers = auth_headers(db, analyst)

    for entity_type in ("properties", "organisation", "call"):
        response = client.post(
            f"{API}/documents",
            headers=headers,
            files={"file": ("front.png", png_bytes(), "image/png")},
            data={"kind": "photo", "entity_type": entity_type, "entity_id": str(prop.id)},
        )
        assert response.status_code == 422, (entity_type, response.text)
        body = response.json()
        assert body["reason"] == "invalid_link"
        assert entity_type in body["detail"]
        assert "deal, project, property" in body["detail"]
    assert db.exec(select(func.count()).select_from(Document)).one() == 0

    linked = client.post(
        f"{API}/documents",
        headers=headers,
        files={"file": ("front.png", png_bytes(), "image/png")},
        data={"kind": "photo", "entity_type": "property", "entity_id": str(prop.id)},
    )
    assert linked.status_code == 201, linked.text
