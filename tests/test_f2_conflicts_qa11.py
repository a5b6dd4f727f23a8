"""A status change the state machine refuses is a 409 with ``allowed_next_statuses``.

Deals and construction projects both answer ``detail`` (unchanged) plus the machine-readable
``current_status``, ``requested_status`` and ``allowed_next_statuses``, and their routes
document that body in OpenAPI (the 409 response's model).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction.enums import ProjectStatus
from domain.deal import state_machine
from domain.deal.enums import DealStatus
from tests.factories import auth_headers, make_deal, make_org, make_project, make_user

API = "/api/v1"


def _conflict_schema(client: TestClient, path: str, method: str) -> dict[str, Any]:
    spec = client.get("/openapi.json")
    assert spec.status_code == 200, spec.text
    doc = spec.json()
    conflict = doc["paths"][f"{API}{path}"][method]["responses"]["409"]
    ref = conflict["content"]["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"detail", "allowed_next_statuses"} <= set(schema["required"]), schema
    assert schema["properties"]["allowed_next_statuses"]["type"] == "array", schema
    return schema


def test_a_refused_deal_status_lists_the_allowed_next_statuses(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    deal = make_deal(db, org)
    response = client.put(
        f"{API}/deals/{deal.id}/status", json={"status": "closed"}, headers=headers
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["detail"] == state_machine.refusal_message(DealStatus.lead, DealStatus.closed)
    assert body["current_status"] == "lead"
    assert body["requested_status"] == "closed"
    assert body["allowed_next_statuses"] == [
        s.value for s in state_machine.allowed_next(DealStatus.lead)
    ]
    assert body["allowed_next_statuses"], body

    schema = _conflict_schema(client, "/deals/{id}/status", "put")
    assert set(body) == set(schema["properties"])


def test_a_refused_project_status_lists_the_allowed_next_statuses(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    project = make_project(db, org)
    assert project.status == ProjectStatus.planning
    response = client.patch(
        f"{API}/projects/{project.id}", json={"status": "completed"}, headers=headers
    )
    assert response.status_code == 409, response.text
    body = response.json()
    allowed = construction_service.PROJECT_MOVES[ProjectStatus.planning]
    expected = construction_service.IllegalProjectMoveError(
        ProjectStatus.planning, ProjectStatus.completed, allowed
    )
    assert body["detail"] == str(expected)
    assert body["current_status"] == "planning"
    assert body["requested_status"] == "completed"
    assert body["allowed_next_statuses"] == sorted(s.value for s in allowed)
    db.refresh(project)
    assert project.status == ProjectStatus.planning

    schema = _conflict_schema(client, "/projects/{id}", "patch")
    assert set(body) == set(schema["properties"])


def test_other_project_conflicts_keep_their_plain_detail(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    project = make_project(db, org)
    moved = client.patch(
        f"{API}/projects/{project.id}", json={"status": "in_progress"}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    task = client.post(
        f"{API}/projects/{project.id}/tasks", json={"title": "Tear off roof"}, headers=headers
    )
    assert task.status_code == 201, task.text
    response = client.patch(
        f"{API}/projects/{project.id}", json={"status": "completed"}, headers=headers
    )
    assert response.status_code == 409, response.text
    assert set(response.json()) == {"detail"}
    assert "open task" in response.json()["detail"]
