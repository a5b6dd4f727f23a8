"""QA 9b, a project manager's day (voice side).

- A contractor texting a line's new price ("roof gonna be more like 4.8k", "el techo va a
  costar 4500") was read as a plain message: no price for the team.
- Action items from a call that produced a bid had no ``bid_id``.
- "get two roofing bids" never named the roofer who opted out as skipped.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import HumanMessage
from sqlmodel import Session, col, select

from agent.planner import REPLIES, Conversation, contractor_plan_for
from cli.voice_commands import simulate_conversation
from domain.construction import service as construction_service
from domain.inbox import service as inbox_service
from domain.voice.models import Call
from store.outbox import OutboxEvent
from tests.factories import make_contractor, override_settings
from tests.tools.helpers import call_tool, context_for
from tests.voice.helpers import PUBLIC, TOKEN, World, poster, voice_settings, zone_with_local_hour
from tools.voice import request_bids

TODAY = dt.date(2026, 11, 28)
ROOF_LINE = (
    "I can do the roof for eleven thousand five hundred, start on the third, takes four days"
)


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch, voice_max_concurrent_calls=10)
    override_settings(monkeypatch, openai_api_key=None, llm_base_url=None)


def _plan(text: str) -> tuple[str | None, dict[str, Any]]:
    plan = contractor_plan_for(Conversation.read([HumanMessage(text)]), TODAY)
    return plan.tool, {k: v for k, v in (plan.args or {}).items() if k != "message"}


# --- 1. a texted line price ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "amount"),
    [
        ("roof gonna be more like 4.8k", "4800"),
        ("roof gonna be 4.8k", "4800"),
        ("el techo va a costar 4500", "4500"),
        ("the furnace will be 5,200", "5200"),
        ("el techo sale en 4500", "4500"),
    ],
)
def test_a_texted_line_price_is_a_price(said: str, amount: str) -> None:
    tool, args = _plan(said)
    assert (tool, args["kind"]) == ("contractor_update", "price")
    assert float(args["amount"]) == float(amount)


@pytest.mark.parametrize(
    "said",
    ["the roof will be done in 3 days", "roof will be done by 1030", "the roof is 20 years old"],
)
def test_a_line_with_a_be_verb_but_no_price_is_not_a_price(said: str) -> None:
    _, args = _plan(said)
    assert args["kind"] != "price" and "amount" not in args


# --- 7. a call's action items carry the bid it produced -------------------------------------


def test_action_items_from_a_call_that_produced_a_bid_carry_its_id(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    response = world.initiate(client)
    assert response.status_code == 201, response.text
    call_id = uuid.UUID(response.json()["call"]["id"])
    simulate_conversation(
        poster(client),
        call_id=call_id,
        says=[ROOF_LINE, "no, I don't do furnaces", "nothing", "yes, fully insured", "yes"],
        token=TOKEN,
        public_base_url=PUBLIC,
    )
    (bid,) = construction_service.list_bids(
        session=db, org_id=world.org.id, project_id=world.project.id
    )
    call = db.get(Call, call_id)
    assert call is not None and call.bid_id == bid.id
    (event,) = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.name == "action.items.created", OutboxEvent.org_id == world.org.id)
        .order_by(col(OutboxEvent.created_at))
    ).all()
    assert event.payload["bid_id"] == str(bid.id)
    # The inbox subscriber keeps it on every item of the call.
    stored = inbox_service.record_items(
        session=db, org_id=world.org.id, event_id=event.id, payload=dict(event.payload)
    )
    assert stored and {row.bid_id for row in stored} == {bid.id}
    assert {row.call_id for row in stored} == {call_id}


# --- 8. the opted-out contractor is named as skipped ----------------------------------------


def test_request_bids_names_the_opted_out_roofer_as_skipped(db: Session) -> None:
    world = World(db)  # Ray's Roofing
    make_contractor(db, world.org, name="Sam's Roofing", timezone=zone_with_local_hour(12))
    make_contractor(
        db, world.org, name="Olga Optout", opted_out=True, timezone=zone_with_local_hour(12)
    )
    ctx = context_for(db, world.analyst)
    asked = call_tool(request_bids, ctx, project=str(world.project.id), trade="roofing", count=2)
    assert asked["requested"] is True
    assert asked["will_call"] == 2 and sorted(asked["calling"]) == [
        "Ray's Roofing",
        "Sam's Roofing",
    ]
    assert asked["contractors_on_file"] == 3
    assert [row["reason"] for row in asked["skipped"]] == [
        "Olga Optout skipped: asked not to be called"
    ]
    reply = REPLIES["request_bids"](asked)
    assert "(3 on file)" in reply and "Olga Optout skipped: asked not to be called." in reply


def test_request_bids_with_every_roofer_opted_out_says_so(db: Session) -> None:
    world = World(db, opted_out=True)
    ctx = context_for(db, world.analyst)
    asked = call_tool(request_bids, ctx, project=str(world.project.id), trade="roofing", count=2)
    assert asked["requested"] is False
    assert "Ray's Roofing skipped: asked not to be called" in asked["error"]
