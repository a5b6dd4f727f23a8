"""The team's inbox: action items from contractors' calls and texts are stored once per event,
listed and closed over the API (team only, per organisation), and read in the chat.

Was: ``action.items.created`` had no subscriber and there was no list of open action items,
so a contractor's question, their "can't do it" or a new price was pushed out of the project
status (its last three activities) and nobody saw it.
"""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from agent.planner import ONLY_OPEN_PROJECT, Conversation, plan_for
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.construction import service as construction_service
from domain.inbox.models import ActionItem
from store import events
from store.events import Event
from store.outbox import OutboxEvent, publish
from tests.agent.turns import checked_turn
from tests.factories import (
    auth_headers,
    make_contractor,
    make_org,
    make_project,
    make_property,
    make_user,
)

BASE = "/api/v1/action-items"


def _project(db: Session, org: Organisation) -> uuid.UUID:
    prop = make_property(
        db, org, address_line="825 Ridgewood Ave", city="Detroit", state="MI", zip_code="48215"
    )
    return make_project(db, org, name="Rehab: 825 Ridgewood Ave", property_id=prop.id).id


def _deliver(db: Session, name: str = "action.items.created") -> int:
    """Run the inbox subscriber on every such event in the outbox, twice (as a redelivery)."""
    events.load_subscribers()
    sub = events.get_subscriber(name, "domain.inbox.subscribers.store_action_items")
    assert sub is not None, "nothing subscribes the inbox to action.items.created"
    rows = db.exec(select(OutboxEvent).where(OutboxEvent.name == name)).all()
    for row in rows:
        event = Event(
            id=row.id, org_id=row.org_id, name=row.name, payload=dict(row.payload),
            created_at=row.created_at,
        )  # fmt: skip
        for _ in range(2):
            with db.begin_nested():
                sub.handler(db, event)
                db.flush()
    return len(rows)


def _items(db: Session, org: Organisation, project_id: uuid.UUID, contractor_id: uuid.UUID) -> None:
    publish(
        db,
        org_id=org.id,
        name="action.items.created",
        payload={
            "call_id": str(uuid.uuid4()),
            "contractor_id": str(contractor_id),
            "project_id": str(project_id),
            "items": [
                {"kind": "review_bid", "text": "Review Ray's bid of $9,800", "amount": "9800.00"},
                {"kind": "question", "text": "Ray asks whether the dumpster is on us"},
                "not an item",
            ],
        },
    )


def test_a_texted_update_and_a_call_land_in_the_inbox_once(db: Session) -> None:
    org = make_org(db)
    project_id = _project(db, org)
    ray = make_contractor(db, org)
    construction_service.record_contractor_update(
        session=db, org_id=org.id, contractor_id=ray.id, kind="question",
        message="is the dumpster on you or on me?", channel="whatsapp",
    )  # fmt: skip
    _items(db, org, project_id, ray.id)
    assert _deliver(db) == 2
    rows = db.exec(select(ActionItem).where(ActionItem.org_id == org.id)).all()
    assert sorted((str(r.source), str(r.status)) for r in rows) == [
        ("call", "open"),
        ("call", "open"),
        ("message", "open"),
    ]
    texted = next(r for r in rows if str(r.source) == "message")
    assert (texted.contractor_id, texted.channel) == (ray.id, "whatsapp")
    assert "dumpster" in texted.text
    assert len(rows) == 3  # delivered twice, stored once; the non-object item skipped
    bid = next(r for r in rows if r.kind == "review_bid")
    assert (bid.project_id, bid.contractor_id, bid.facts) == (
        project_id,
        ray.id,
        {"amount": "9800.00"},
    )


def test_the_api_lists_filters_and_resolves_for_the_team_only(
    db: Session, client: TestClient
) -> None:
    org, other = make_org(db), make_org(db, "Other Co")
    project_id = _project(db, org)
    ray = make_contractor(db, org)
    _items(db, org, project_id, ray.id)
    _items(db, other, _project(db, other), make_contractor(db, other).id)
    _deliver(db)
    analyst = auth_headers(db, make_user(db, org, Role.analyst))

    listed = client.get(BASE, params={"project_id": str(project_id)}, headers=analyst)
    assert listed.status_code == 200, listed.text
    assert listed.headers["X-Total-Count"] == "2"
    first = listed.json()[0]
    assert first["project"].startswith("825 Ridgewood Ave") and first["contractor"] == ray.name
    assert first["status"] == "open"
    only = client.get(BASE, params={"kind": "question"}, headers=analyst).json()
    assert [i["kind"] for i in only] == ["question"]

    item_id = first["id"]
    assert client.get(f"{BASE}/{item_id}", headers=analyst).json()["id"] == item_id
    refused = client.post(
        f"{BASE}/{item_id}/resolve", json={"status": "done", "x": 1}, headers=analyst
    )
    assert refused.status_code == 422
    wrong = client.post(f"{BASE}/{item_id}/resolve", json={"status": "open"}, headers=analyst)
    assert wrong.status_code == 422
    done = client.post(
        f"{BASE}/{item_id}/resolve",
        json={"status": "done", "note": "answered Ray"},
        headers=analyst,
    )
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["resolution_note"]) == ("done", "answered Ray")
    again = client.post(f"{BASE}/{item_id}/resolve", json={"status": "dismissed"}, headers=analyst)
    assert again.status_code == 409 and "already done" in again.json()["detail"]
    assert client.get(BASE, headers=analyst).headers["X-Total-Count"] == "1"  # open ones
    closed = client.get(BASE, params={"status": "done"}, headers=analyst)
    assert closed.headers["X-Total-Count"] == "1"

    theirs = client.get(BASE, headers=auth_headers(db, make_user(db, other, Role.admin))).json()
    assert client.get(f"{BASE}/{theirs[0]['id']}", headers=analyst).status_code == 404
    foreign = f"{BASE}/{theirs[0]['id']}/resolve"
    assert client.post(foreign, json={"status": "done"}, headers=analyst).status_code == 404
    for role in (Role.investor, Role.contractor):
        headers = auth_headers(db, make_user(db, org, role))
        assert client.get(BASE, headers=headers).status_code == 403
        assert client.get(f"{BASE}/{item_id}", headers=headers).status_code == 403
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/action-items", "/api/v1/action-items/{id}/resolve"} <= set(paths)


def test_planner_phrasings() -> None:
    def plan(text: str) -> tuple[str | None, dict[str, object]]:
        found = plan_for(Conversation(text=text, history=[], this_turn=[]))
        return found.tool, dict(found.args)

    bid = "3f2b1c4d-1111-2222-3333-444455556666"
    assert plan(f"award bid {bid} on the ridgewood rehab") == (
        "award_bid",
        {"project": "ridgewood", "bid_id": bid},
    )
    assert plan("how is the rehab on ridgewood going?") == (
        "project_status",
        {"project": "ridgewood"},
    )
    # "schedule" is no street: the one open project (the tool names the open ones if several)
    assert plan("is the rehab on schedule?") == ("project_status", {"project": ONLY_OPEN_PROJECT})
    assert plan("what did the contractors say on the ridgewood rehab?") == (
        "action_items",
        {"project": "ridgewood"},
    )
    assert plan("what needs my attention?") == ("action_items", {})
    assert plan("any action items?") == ("action_items", {})


def test_chat_lists_open_items_closes_the_first_and_the_status_counts_them(
    committed_db: Session,
) -> None:
    db = committed_db
    org = make_org(db)
    project_id = _project(db, org)
    ray = make_contractor(db, org)
    _items(db, org, project_id, ray.id)
    _deliver(db)
    pm = make_user(db, org, Role.analyst)
    investor = make_user(db, org, Role.investor)
    db.commit()

    thread = f"web:{uuid.uuid4().hex}"
    listed = checked_turn(pm, "what did the contractors say on the ridgewood rehab?", thread)
    assert [(c.name, c.ok) for c in listed.tool_calls] == [("action_items", True)]
    assert "2 open action items on 825 Ridgewood Ave" in listed.reply
    assert "Ray asks whether the dumpster is on us" in listed.reply
    assert ray.name in listed.reply

    status = checked_turn(pm, "how is the ridgewood rehab going?")
    assert "2 open action items" in status.reply

    done = checked_turn(pm, "done with the first one", thread)
    assert [(c.name, c.ok) for c in done.tool_calls] == [("action_items", True)]
    assert "Marked done:" in done.reply and "1 open action item" in done.reply

    refused = checked_turn(investor, "what needs my attention?")
    assert refused.tool_calls == []
    assert (
        "open action item" not in checked_turn(investor, "how is the ridgewood rehab going?").reply
    )
