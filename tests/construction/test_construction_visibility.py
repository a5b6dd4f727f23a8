"""An investor sees a rehab project only through a deal they own or are on (API and tools)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from tests.factories import auth_headers, make_deal, make_org, make_project, make_user
from tests.tools.helpers import call_tool, context_for
from tools.construction import list_bids, project_status


def test_an_investor_sees_projects_on_their_own_deals_only(db: Session, client: TestClient) -> None:
    org = make_org(db)
    ivy = make_user(db, org, Role.investor)
    olaf = make_user(db, org, Role.investor)
    analyst = make_user(db, org, Role.analyst)
    ivy_deal = make_deal(db, org, owner=ivy)
    olaf_deal = make_deal(db, org, owner=olaf)
    mine = make_project(db, org, deal_id=ivy_deal.id, name="Ivy's rehab")
    theirs = make_project(db, org, deal_id=olaf_deal.id, name="Olaf's rehab")
    unattached = make_project(db, org, name="Office repairs")

    listed = client.get("/api/v1/projects", headers=auth_headers(db, ivy))
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()] == [str(mine.id)]
    for project in (theirs, unattached):
        for path in ("", "/progress", "/bids", "/tasks", "/photos", "/expenses", "/milestones"):
            response = client.get(
                f"/api/v1/projects/{project.id}{path}", headers=auth_headers(db, ivy)
            )
            assert response.status_code == 404, (path, response.text)
    assert (
        client.get(
            f"/api/v1/projects/{mine.id}/progress", headers=auth_headers(db, ivy)
        ).status_code
        == 200
    )

    team = client.get("/api/v1/projects", headers=auth_headers(db, analyst)).json()
    assert {p["id"] for p in team} == {str(mine.id), str(theirs.id), str(unattached.id)}

    ctx = context_for(db, ivy, channel="whatsapp")
    assert call_tool(project_status, ctx, project=str(mine.id))["project_id"] == str(mine.id)
    refused = call_tool(project_status, ctx, project=str(theirs.id))
    assert "not found" in refused["error"] and "Olaf" not in str(refused)
    assert "not found" in call_tool(list_bids, ctx, project=theirs.id.hex[:8])["error"]
