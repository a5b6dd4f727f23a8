"""The construction endpoints: served, documented, scoped to the caller's organisation."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session

from app import app
from domain.auth.enums import Role
from domain.vision import service as vision_service
from domain.vision import subscribers as vision_subscribers
from tests.construction.helpers import event, published
from tests.factories import (
    auth_headers,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_user,
)

API = "/api/v1"


def _png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 90, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _analyst(db: Session) -> tuple[Any, dict[str, str]]:
    org = make_org(db)
    return org, auth_headers(db, make_user(db, org, Role.analyst))


def test_every_construction_route_is_documented() -> None:
    paths = app.openapi()["paths"]
    construction = {
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "construction" in operation.get("tags", [])
    }
    for method, path in [
        ("GET", "/projects"),
        ("POST", "/projects"),
        ("GET", "/projects/{id}"),
        ("GET", "/projects/{id}/bids"),
        ("POST", "/projects/{id}/bids"),
        ("POST", "/projects/{id}/bids/{bidId}/award"),
        ("POST", "/projects/{id}/tasks"),
        ("PATCH", "/projects/{id}/tasks/{taskId}"),
        ("POST", "/projects/{id}/photos"),
        ("GET", "/projects/{id}/progress"),
        ("POST", "/projects/{id}/expenses"),
        ("POST", "/projects/{id}/milestones"),
        ("GET", "/contractors"),
        ("POST", "/contractors"),
        ("PATCH", "/contractors/{id}"),
    ]:
        assert (method, API + path) in construction
    for method, path in construction:
        operation = paths[path][method.lower()]
        assert operation.get("summary") and operation.get("description"), (method, path)


def test_a_project_from_the_api_walks_through_bids_tasks_and_progress(
    db: Session, client: TestClient
) -> None:
    org, headers = _analyst(db)
    deal = make_deal(db, org, strategy="flip", estimated_repairs=Decimal("20000"))
    created = client.post(
        f"{API}/projects",
        json={
            "name": "Rehab: 88 Elm",
            "deal_id": str(deal.id),
            "scope": [
                {"component": "roof", "quantity": "20", "unit": "squares", "budgeted_cost": "9000"},
                {"component": "paint", "budgeted_cost": "3000"},
            ],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    project = created.json()
    assert project["property_id"] == str(deal.property_id)
    assert (project["budget"], project["scope_total"]) == ("12000.00", "12000.00")
    roof_id, paint_id = (line["id"] for line in project["scope"])
    pid = project["id"]

    again = client.post(
        f"{API}/projects", json={"name": "x", "deal_id": str(deal.id)}, headers=headers
    )
    assert again.status_code == 409

    contractor = make_contractor(db, org)
    bid = client.post(
        f"{API}/projects/{pid}/bids",
        json={
            "contractor_id": str(contractor.id),
            "line_items": [
                {"scope_item_id": roof_id, "amount": "8500"},
                {"scope_item_id": paint_id, "amount": "2500"},
            ],
        },
        headers=headers,
    )
    assert bid.status_code == 201, bid.text
    assert bid.json()["total_amount"] == "11000.00"
    leveling = client.get(f"{API}/projects/{pid}/bids", headers=headers).json()
    assert leveling["lowest_complete_bid_id"] == bid.json()["id"]
    award = client.post(f"{API}/projects/{pid}/bids/{bid.json()['id']}/award", headers=headers)
    assert award.status_code == 200 and award.json()["budget"] == "11000.00"

    first = client.post(f"{API}/projects/{pid}/tasks", json={"title": "Demo"}, headers=headers)
    second = client.post(
        f"{API}/projects/{pid}/tasks",
        json={"title": "Roof", "depends_on": [first.json()["id"]]},
        headers=headers,
    )
    assert second.status_code == 201
    blocked = client.patch(
        f"{API}/projects/{pid}/tasks/{second.json()['id']}",
        json={"status": "done"},
        headers=headers,
    )
    assert blocked.status_code == 409 and "Demo" in blocked.json()["detail"]
    self_dep = client.patch(
        f"{API}/projects/{pid}/tasks/{first.json()['id']}",
        json={"depends_on": [first.json()["id"]]},
        headers=headers,
    )
    assert self_dep.status_code == 422 and "itself" in self_dep.json()["detail"]
    done = client.patch(
        f"{API}/projects/{pid}/tasks/{first.json()['id']}", json={"status": "done"}, headers=headers
    )
    assert done.status_code == 200 and done.json()["completed_at"]

    expense = client.post(
        f"{API}/projects/{pid}/expenses",
        json={"amount": "2750", "scope_item_id": roof_id, "category": "materials"},
        headers=headers,
    )
    assert expense.status_code == 201, expense.text
    milestone = client.post(
        f"{API}/projects/{pid}/milestones", json={"name": "Demo done"}, headers=headers
    )
    reached = client.post(
        f"{API}/projects/{pid}/milestones/{milestone.json()['id']}/reach", headers=headers
    )
    assert reached.status_code == 200 and reached.json()["reached_at"]

    progress = client.get(f"{API}/projects/{pid}/progress", headers=headers).json()
    # 1 of 2 tasks done; $2,750 of the $11,000 awarded budget spent (25.0 %).
    assert progress["percent_complete_by_tasks"] == "50.0"
    assert (progress["spent"], progress["percent_complete_by_budget"]) == ("2750.00", "25.0")
    assert progress["budget_source"] == f"accepted bid {bid.json()['id']}"
    assert progress["lines"][0]["spent"] == "2750.00"

    listed = client.get(f"{API}/projects", params={"deal_id": str(deal.id)}, headers=headers)
    assert [p["id"] for p in listed.json()] == [pid]
    detail = client.get(f"{API}/projects/{pid}", headers=headers).json()
    assert detail["accepted_bid_id"] == bid.json()["id"]
    assert detail["status"] == "in_progress"


def test_photos_are_checked_stored_and_sent_to_the_vision_worker(
    db: Session, client: TestClient
) -> None:
    org, headers = _analyst(db)
    deal = make_deal(db, org, strategy="flip")
    project = make_project(db, org, deal_id=deal.id)
    url = f"{API}/projects/{project.id}/photos"
    uploaded = client.post(
        url,
        files=[
            ("files", ("before.png", _png(), "image/png")),
            ("files", ("roof.jpg", _jpeg(), "image/jpeg")),
        ],
        data={"phase": "before", "caption": "street side"},
        headers=headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    photos = uploaded.json()
    assert [(p["width_px"], p["height_px"], p["phase"]) for p in photos] == [
        (64, 48, "before"),
        (64, 64, "before"),
    ]
    (payload,) = published(db, "property.photos.uploaded", org.id)
    assert payload["property_id"] == str(deal.property_id)
    assert payload["document_ids"] == [p["document_id"] for p in photos]
    assert (payload["project_id"], payload["source"]) == (str(project.id), "construction")
    document = client.get(f"{API}/documents/{photos[0]['document_id']}", headers=headers)
    assert document.status_code == 200

    # The vision subscriber reads this payload: one analysis per photo (no model here, so
    # each says so rather than guessing).
    delivered = event(org.id, "property.photos.uploaded", **payload)
    vision_subscribers.analyse_uploaded_photos(db, delivered)
    analyses = vision_service.analyses_for_event(session=db, org_id=org.id, event_id=delivered.id)
    assert sorted(str(a.document_id) for a in analyses) == sorted(payload["document_ids"])

    listed = client.get(url, headers=headers).json()
    assert {p["id"] for p in listed} == {p["id"] for p in photos}


def test_bad_photos_are_refused_with_the_reason(db: Session, client: TestClient) -> None:
    org, headers = _analyst(db)
    project = make_project(db, org)
    url = f"{API}/projects/{project.id}/photos"
    text = client.post(
        url, files={"files": ("notes.txt", b"hello there", "text/plain")}, headers=headers
    )
    assert text.status_code == 422 and "notes.txt" in text.json()["detail"]
    corrupt = _jpeg()[:300] + b"\x00" * 40
    broken = client.post(url, files={"files": ("bad.jpg", corrupt, "image/jpeg")}, headers=headers)
    assert broken.status_code == 422
    assert "corrupt" in broken.json()["detail"] and "bad.jpg" in broken.json()["detail"]
    huge = _jpeg()[:20] + b"\x00" * (5 * 1024 * 1024 + 10)
    too_big = client.post(url, files={"files": ("big.jpg", huge, "image/jpeg")}, headers=headers)
    assert too_big.status_code == 422 and "MB" in too_big.json()["detail"]
    # One good photo and one bad one: nothing is kept.
    mixed = client.post(
        url,
        files=[
            ("files", ("ok.png", _png(), "image/png")),
            ("files", ("bad.jpg", corrupt, "image/jpeg")),
        ],
        headers=headers,
    )
    assert mixed.status_code == 422
    assert client.get(url, headers=headers).json() == []
    assert published(db, "property.photos.uploaded", org.id) == []


def test_unknown_ids_are_404_and_other_organisations_rows_are_invisible(
    db: Session, client: TestClient
) -> None:
    org, headers = _analyst(db)
    project = make_project(db, org)
    contractor = make_contractor(db, org)
    outsider = auth_headers(db, make_user(db, make_org(db), Role.admin))
    pid = project.id
    for path in (
        f"/projects/{pid}",
        f"/projects/{pid}/progress",
        f"/projects/{pid}/bids",
        f"/projects/{pid}/tasks",
        f"/contractors/{contractor.id}",
        f"/projects/{uuid.uuid4()}",
    ):
        response = client.get(API + path, headers=outsider)
        assert response.status_code == 404, path
    assert client.get(f"{API}/projects", headers=outsider).json() == []
    stolen = client.post(
        f"{API}/projects/{pid}/bids",
        json={"contractor_id": str(contractor.id), "total_amount": "1"},
        headers=outsider,
    )
    assert stolen.status_code == 404
    # The other organisation's contractor cannot bid on our project either.
    foreign = make_contractor(db, make_org(db))
    response = client.post(
        f"{API}/projects/{pid}/bids",
        json={"contractor_id": str(foreign.id), "total_amount": "1"},
        headers=headers,
    )
    assert response.status_code == 404 and "contractor" in response.json()["detail"]
    bad_line = client.post(
        f"{API}/projects/{pid}/bids",
        json={
            "contractor_id": str(contractor.id),
            "line_items": [{"scope_item_id": str(uuid.uuid4()), "amount": "5"}],
        },
        headers=headers,
    )
    assert bad_line.status_code == 422 and "is not part of project" in bad_line.json()["detail"]
    investor = auth_headers(db, make_user(db, org, Role.investor))
    # A project on no deal of theirs is not an investor's to read (see test_..._visibility).
    assert client.get(f"{API}/projects/{pid}/progress", headers=investor).status_code == 404
    assert (
        client.post(
            f"{API}/projects/{pid}/tasks", json={"title": "x"}, headers=investor
        ).status_code
        == 403
    )
