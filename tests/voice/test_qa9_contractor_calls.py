"""QA 9: who a bid request calls, which lines a call covers, a date confirmed on a call.

- "get two hvac bids" answered "Calling 1" while the one contractor had already bid (no call
  was scheduled): the request tool and the event handler now share one rule.
- A bid call read out lines already awarded; a start-date call every line, not the
  contractor's.
- A start date confirmed on a start-date call reached nobody: no action item, no date on the
  project's activity.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from agent.planner import REPLIES
from cli.voice_commands import simulate_conversation
from core.clock import local_today
from domain.construction import service as construction_service
from domain.construction.models import BidCreate
from domain.voice import service
from domain.voice.enums import CallPurpose
from domain.voice.models import Call
from store.outbox import OutboxEvent, publish
from tests.factories import make_contractor, override_settings
from tests.tools.helpers import call_tool, context_for
from tests.voice.helpers import PUBLIC, TOKEN, World, poster, voice_settings, zone_with_local_hour
from tools.voice import request_bids


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch, voice_max_concurrent_calls=10)
    override_settings(monkeypatch, openai_api_key=None, llm_base_url=None)


def _bid(world: World, contractor_id: uuid.UUID, lines: dict[uuid.UUID, str], **extra: Any) -> Any:
    return construction_service.create_bid(
        session=world.db,
        org_id=world.org.id,
        project_id=world.project.id,
        bid_in=BidCreate(
            contractor_id=contractor_id,
            line_items=[{"scope_item_id": k, "amount": Decimal(v)} for k, v in lines.items()],
            **extra,
        ),
    )


def test_request_bids_says_who_is_called_and_who_already_bid(db: Session) -> None:
    world = World(db)
    _bid(world, world.contractor.id, {world.roof.id: "9000"})
    ctx = context_for(db, world.analyst)
    refused = call_tool(request_bids, ctx, project=str(world.project.id), trade="roofing", count=2)
    assert refused["requested"] is False
    assert "Ray's Roofing skipped: already bid on this project" in refused["error"]

    sam = make_contractor(db, world.org, name="Sam's Roofing", timezone=zone_with_local_hour(12))
    asked = call_tool(request_bids, ctx, project=str(world.project.id), trade="roofing", count=2)
    assert asked["requested"] is True
    assert asked["will_call"] == 1 and asked["calling"] == ["Sam's Roofing"]
    assert [row["reason"] for row in asked["skipped"]] == [
        "Ray's Roofing skipped: already bid on this project"
    ]
    reply = REPLIES["request_bids"](asked)
    assert "Calling 1 roofing contractor(s)" in reply and ": Sam's Roofing." in reply
    assert "Ray's Roofing skipped: already bid on this project." in reply

    # The event the tool published schedules exactly whom the reply named.
    payload = {"project_id": str(world.project.id), "trade": "roofing", "count": 2}
    plan = service.plan_bid_calls(
        session=db,
        org_id=world.org.id,
        payload=payload,
        source_event_id=publish(
            db, org_id=world.org.id, name="contractor.call.requested", payload=payload
        ),
    )
    assert [s.contractor_id for s in plan.schedules] == [sam.id]
    assert plan.skipped == {
        str(world.contractor.id): "Ray's Roofing skipped: already bid on this project"
    }


def test_request_bids_does_not_count_a_contractor_called_an_hour_ago(db: Session) -> None:
    world = World(db)
    now = service.utcnow()
    service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        at=now + dt.timedelta(hours=2),
        now=now,
    )
    ctx = context_for(db, world.analyst)
    asked = call_tool(request_bids, ctx, project=str(world.project.id), trade="roofing", count=3)
    assert asked["requested"] is False
    why = "Ray's Roofing skipped: a call about this project is already scheduled"
    assert why in asked["error"]


def _awarded_roof(world: World) -> Any:
    """Another roofer's roof bid, awarded (the furnace stays open)."""
    hank = make_contractor(
        world.db, world.org, name="Hank Roofing", timezone=world.contractor.timezone
    )
    bid = _bid(
        world, hank.id, {world.roof.id: "8800"}, start_date=local_today() + dt.timedelta(days=3)
    )
    construction_service.award_bid(
        session=world.db, org_id=world.org.id, project_id=world.project.id, bid_id=bid.id
    )
    return hank


def _call_for(client: TestClient, world: World, contractor_id: uuid.UUID, purpose: str) -> Call:
    response = world.initiate(client, contractor_id=str(contractor_id), purpose=purpose)
    assert response.status_code == 201, response.text
    call = world.db.get(Call, uuid.UUID(response.json()["call"]["id"]))
    assert call is not None
    return call


def test_a_bid_call_covers_only_the_lines_still_open(client: TestClient, db: Session) -> None:
    world = World(db)
    _awarded_roof(world)
    call = _call_for(client, world, world.contractor.id, "bid_request")
    context = service.call_context(session=db, call=call)
    assert [line.component for line in context.scope] == ["furnace"]
    conversation = simulate_conversation(
        poster(client), call_id=call.id, says=["no thanks"], token=TOKEN, public_base_url=PUBLIC
    )
    greeting = next(text for speaker, text in conversation.lines if speaker == "agent")
    assert "furnace" in greeting and "roof (" not in greeting


def test_a_start_date_call_covers_the_contractors_awarded_lines(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    hank = _awarded_roof(world)
    call = _call_for(client, world, hank.id, "start_date")
    context = service.call_context(session=db, call=call)
    assert [line.component for line in context.scope] == ["roof"]
    # Nothing awarded to them: the whole scope, as before.
    other = _call_for(client, world, world.contractor.id, "start_date")
    assert [line.component for line in service.call_context(session=db, call=other).scope] == [
        "roof",
        "furnace",
    ]


def test_a_start_date_confirmed_on_a_call_is_an_action_item_and_on_the_activity(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    hank = _awarded_roof(world)
    call = _call_for(client, world, hank.id, "start_date")
    conversation = simulate_conversation(
        poster(client),
        call_id=call.id,
        says=["I can start December 9th, takes five days", "yes", "yes"],
        token=TOKEN,
        public_base_url=PUBLIC,
    )
    assert set(conversation.statuses) == {200}
    db.refresh(call)
    assert call.outcome == "availability_confirmed", conversation.lines
    data = call.outcome_data or {}
    start = (data.get("facts") or {}).get("start_date")
    assert start and start.endswith("-12-09")
    (item,) = [i for i in data["action_items"] if i["kind"] == "confirm_start"]
    assert item["date"] == start
    assert "Hank Roofing can start" in item["text"] and start in item["text"]
    assert "their awarded bid says" in item["text"]  # what the bid holds until they update it
    # The bid is not changed: a new date is for the team to accept.
    (bid,) = [
        b
        for b in construction_service.list_bids(
            session=db, org_id=world.org.id, project_id=world.project.id
        )
        if b.contractor_id == hank.id
    ]
    assert bid.start_date != dt.date.fromisoformat(start)
    # The project's activity (what contractor.responded's subscriber records) names the date.
    (event,) = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.name == "contractor.responded",
            OutboxEvent.payload["call_id"].astext == str(call.id),
        )
    ).all()
    activity = construction_service.record_contractor_response(
        session=db, org_id=world.org.id, event_id=event.id, payload=event.payload
    )
    assert activity.summary.startswith("Hank Roofing responded: on a start date call, can start")
    assert start in activity.summary and "5 days" in activity.summary
