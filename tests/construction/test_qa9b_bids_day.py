"""QA 9b, a project manager's day (bids side).

- "award bid <id>" right after the chat leveled the bids asked "Which project?"; so did
  "what bids came in on lincoln way?".
- After an award, "what bids came in?" listed rejected bids as live and dropped exclusions.
- ``GET /projects/{id}/bids`` had no way to list the bids an award rejected.
- A contractor who texted that they can no longer do the job was still named the lowest.
- ``GET /action-items?kind=nope`` answered 200 with nothing instead of a 422.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from sqlmodel import Session

from agent.planner import REPLIES, Conversation, plan_for
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.construction import service
from domain.construction.models import Bid, BidCreate
from domain.inbox import service as inbox_service
from domain.inbox.enums import ActionItemStatus
from tests.factories import auth_headers, make_contractor, make_org, make_project, make_user
from tests.tools.helpers import call_tool, context_for
from tools.construction import list_bids

API = "/api/v1"
PROJECT_ID = "0b1c2d3e-0000-4000-8000-000000000001"
BID_ID = "cdb4326a-4c2f-4efa-a1db-f33e3ae24d05"


def _after(tool: str, result: dict[str, Any], said: str) -> Any:
    history: list[BaseMessage] = [
        HumanMessage("earlier"),
        AIMessage("", tool_calls=[{"name": tool, "args": {}, "id": "c1"}]),
        ToolMessage(json.dumps(result), tool_call_id="c1", name=tool),
        AIMessage("ok"),
        HumanMessage(said),
    ]
    return plan_for(Conversation.read(history))


LEVELED = {
    "project_id": PROJECT_ID,
    "name": "Rehab: 4120 Lincoln Way",
    "address": "4120 Lincoln Way, Ames, IA",
    "bids": [],
    "lowest_complete_bid_id": BID_ID,
}


# --- 2, 3. the planner finds the project ---------------------------------------------------


def test_award_bid_right_after_the_leveling_awards_it_on_that_project() -> None:
    plan = _after("list_bids", LEVELED, f"award bid {BID_ID}")
    assert (plan.tool, plan.args) == ("award_bid", {"project": PROJECT_ID, "bid_id": BID_ID})


def test_award_bid_with_a_bare_street_names_the_project() -> None:
    plan = plan_for(Conversation.read([HumanMessage("award bid cdb4326a on lincoln way")]))
    assert (plan.tool, plan.args) == ("award_bid", {"project": "lincoln way", "bid_id": "cdb4326a"})


def test_award_bid_with_no_project_anywhere_still_asks_which() -> None:
    plan = plan_for(Conversation.read([HumanMessage(f"award bid {BID_ID}")]))
    assert plan.tool is None and plan.reply is not None and "Which project?" in plan.reply


def test_what_bids_came_in_after_request_bids_is_that_project() -> None:
    requested = {"requested": True, "project_id": PROJECT_ID, "address": "4120 Lincoln Way"}
    plan = _after("request_bids", requested, "what bids came in?")
    assert (plan.tool, plan.args) == ("bids_received", {"project": PROJECT_ID})


def test_what_bids_came_in_on_a_bare_street_names_the_project() -> None:
    plan = plan_for(Conversation.read([HumanMessage("what bids came in on lincoln way?")]))
    assert (plan.tool, plan.args) == ("bids_received", {"project": "lincoln way"})
    plan = plan_for(Conversation.read([HumanMessage("any bids on kercheval?")]))
    assert (plan.tool, plan.args) == ("bids_received", {"project": "kercheval"})


# --- 4. bids received after an award --------------------------------------------------------


def test_bids_received_marks_rejected_and_accepted_bids_and_shows_exclusions() -> None:
    reply = REPLIES["bids_received"](
        {
            "project_id": PROJECT_ID,
            "address": "4120 Lincoln Way, Ames, IA",
            "count": 3,
            "bids": [
                {"contractor": "Ana Techos", "total": "$4,200", "lines": [],
                 "exclusions": "permits; materials", "status": "accepted", "source": "call"},
                {"contractor": "Ray Roofer", "total": "$4,800", "lines": [],
                 "exclusions": None, "status": "rejected", "source": "manual"},
                {"contractor": "Pete Plumber", "total": "$4,000", "lines": [],
                 "exclusions": None, "status": "received", "source": "manual"},
            ],
        }
    )  # fmt: skip
    ana, ray, pete = reply.splitlines()[1:]
    assert "excludes permits; materials" in ana and "— accepted" in ana
    assert "— rejected" in ray
    assert "—" not in pete


# --- 5, 6. levelling: rejected bids on request, a texted withdrawal flagged ------------------


def _bid(db: Session, org: Organisation, project: Any, name: str, amount: str) -> Bid:
    roof = service.list_scope_items(session=db, org_id=org.id, project_id=project.id)[0]
    contractor = make_contractor(db, org, name=name)
    return service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate.model_validate(
            {
                "contractor_id": contractor.id,
                "line_items": [{"scope_item_id": str(roof.id), "amount": amount}],
                "exclusions": "permits",
            }
        ),
    )


def test_rejected_bids_are_listed_on_request_after_an_award(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    ana = _bid(db, org, project, "Ana Techos", "4200")
    ray = _bid(db, org, project, "Ray Roofer", "4800")
    service.award_bid(session=db, org_id=org.id, project_id=project.id, bid_id=ana.id)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    plain = client.get(f"{API}/projects/{project.id}/bids", headers=headers)
    assert plain.status_code == 200, plain.text
    assert [b["bid_id"] for b in plain.json()["bids"]] == [str(ana.id)]
    full = client.get(
        f"{API}/projects/{project.id}/bids", params={"include_rejected": "true"}, headers=headers
    )
    assert full.status_code == 200, full.text
    rows = {b["bid_id"]: b for b in full.json()["bids"]}
    assert set(rows) == {str(ana.id), str(ray.id)}
    assert rows[str(ray.id)]["status"] == "rejected"
    assert rows[str(ray.id)]["awardable"] is False
    assert rows[str(ray.id)]["exclusions"] == "permits"
    assert full.json()["lowest_leveled_bid_id"] is None  # the accepted one is not awardable
    bad = client.get(
        f"{API}/projects/{project.id}/bids", params={"include_rejected": "maybe"}, headers=headers
    )
    assert bad.status_code == 422


def _withdrawal(db: Session, org: Organisation, project: Any, bid: Bid) -> uuid.UUID:
    (item,) = inbox_service.record_items(
        session=db,
        org_id=org.id,
        event_id=uuid.uuid4(),
        payload={
            "contractor_id": str(bid.contractor_id),
            "project_id": str(project.id),
            "channel": "whatsapp",
            "items": [
                {
                    "kind": "contractor_withdrew",
                    "text": "Ana Techos says they can no longer do it: call them "
                    '("No puedo hacer el trabajo de Lincoln, lo siento")',
                }
            ],
        },
    )
    return item.id


def test_a_bid_whose_contractor_texted_a_withdrawal_is_flagged_and_not_lowest(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    ana = _bid(db, org, project, "Ana Techos", "4200")
    ray = _bid(db, org, project, "Ray Roofer", "4800")
    item_id = _withdrawal(db, org, project, ana)
    analyst = make_user(db, org, Role.analyst)
    headers = auth_headers(db, analyst)
    body = client.get(f"{API}/projects/{project.id}/bids", headers=headers).json()
    rows = {b["bid_id"]: b for b in body["bids"]}
    assert rows[str(ana.id)]["withdrawal_reported"] is True
    assert rows[str(ana.id)]["withdrawal_action_item_id"] == str(item_id)
    assert rows[str(ana.id)]["withdrawal_reported_at"] is not None
    assert rows[str(ana.id)]["status"] == "received"  # the bid itself is unchanged
    assert rows[str(ray.id)]["withdrawal_reported"] is False
    assert body["lowest_leveled_bid_id"] == str(ray.id)  # roof-only bids: not complete

    # The chat's levelling says so too.
    result = call_tool(list_bids, context_for(db, analyst), project=str(project.id))
    assert str(result["lowest_leveled_bid_id"]) == str(ray.id)
    reply = REPLIES["list_bids"](json.loads(json.dumps(result, default=str)))
    ana_line = next(line for line in reply.splitlines() if "Ana Techos" in line)
    assert "can no longer do it" in ana_line
    assert f"Lowest: bid {ray.id.hex[:8]}" in reply

    # Once the team closes the item, Ana's bid is the lowest again.
    inbox_service.resolve_item(
        session=db,
        org_id=org.id,
        item_id=item_id,
        status=ActionItemStatus.dismissed,
        resolved_by=analyst.id,
    )
    body = client.get(f"{API}/projects/{project.id}/bids", headers=headers).json()
    assert body["lowest_leveled_bid_id"] == str(ana.id)
    assert all(b["withdrawal_reported"] is False for b in body["bids"])


def test_a_withdrawal_in_another_organisation_flags_nothing(db: Session) -> None:
    org, other = make_org(db), make_org(db)
    project = make_project(db, org)
    ana = _bid(db, org, project, "Ana Techos", "4200")
    other_project = make_project(db, other)
    inbox_service.record_items(
        session=db,
        org_id=other.id,
        event_id=uuid.uuid4(),
        payload={
            "contractor_id": str(ana.contractor_id),
            "project_id": str(project.id),
            "items": [{"kind": "contractor_withdrew", "text": "can't do it"}],
        },
    )
    assert other_project.id != project.id
    leveling = service.level_bids(session=db, org_id=org.id, project_id=project.id)
    assert leveling.bids[0].withdrawal_reported is False
    assert leveling.lowest_leveled_bid_id == ana.id


# --- 9. action items by kind ---------------------------------------------------------------


def test_an_unknown_action_item_kind_is_a_422_listing_the_kinds(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    response = client.get(f"{API}/action-items", params={"kind": "nope"}, headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "'nope'" in detail and "contractor_withdrew" in detail and "review_price" in detail
    known = client.get(f"{API}/action-items", params={"kind": "review_price"}, headers=headers)
    assert known.status_code == 200 and known.json() == []
