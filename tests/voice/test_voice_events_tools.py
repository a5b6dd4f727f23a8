"""The voice module's subscribers, the agent's voice tools, and the availability endpoint."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction.enums import BidSource
from domain.construction.models import BidCreate, ProjectCreate
from domain.voice.models import CallSchedule
from domain.voice.subscribers import on_contractor_call_requested, on_lead_qualification_needed
from store.base import utcnow
from store.events import Event
from store.outbox import OutboxEvent, publish
from tests.factories import make_contractor, make_property, make_user
from tests.tools.helpers import call_tool, context_for
from tests.voice.helpers import World, voice_settings, zone_with_local_hour
from tools.voice import bids_received, call_status, request_bids


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    voice_settings(monkeypatch)


def _event(db: Session, org_id: uuid.UUID, name: str, payload: dict[str, Any]) -> Event:
    event_id = publish(db, org_id=org_id, name=name, payload=payload)
    return Event(id=event_id, org_id=org_id, name=name, payload=payload, created_at=utcnow())


def _schedules(db: Session, event: Event) -> list[CallSchedule]:
    return list(db.exec(select(CallSchedule).where(CallSchedule.source_event_id == event.id)).all())


def test_a_trade_request_schedules_calls_to_up_to_count_contractors_once(db: Session) -> None:
    world = World(db)  # a roofer, callable now
    noon = zone_with_local_hour(12)
    second = make_contractor(db, world.org, name="B Roofing", timezone=noon)
    opted = make_contractor(db, world.org, name="A Roofing", timezone=noon)
    construction_service.mark_contractor_opted_out(
        session=db, org_id=world.org.id, contractor_id=opted.id, reason="asked"
    )
    make_contractor(db, world.org, name="C Roofing", timezone=noon)
    make_contractor(db, world.org, name="Pipes", trades=["plumbing"], timezone=noon)
    event = _event(
        db,
        world.org.id,
        "contractor.call.requested",
        {
            "project_id": str(world.project.id),
            "trade": "roofing",
            "count": 2,
            "purpose": "bid_request",
        },
    )
    on_contractor_call_requested(db, event)
    on_contractor_call_requested(db, event)  # delivered twice: one effect
    schedules = _schedules(db, event)
    # By name: "B Roofing", "C Roofing" ... the opted-out "A Roofing" is never scheduled.
    assert [s.contractor_id for s in schedules] == [second.id, schedules[1].contractor_id]
    assert opted.id not in {s.contractor_id for s in schedules}
    assert len(schedules) == 2
    assert all(s.status == "scheduled" and s.project_id == world.project.id for s in schedules)
    assert all(s.scheduled_for <= utcnow() for s in schedules)  # callable now: due now


def test_a_request_for_an_unknown_project_schedules_nothing(db: Session) -> None:
    world = World(db)
    event = _event(
        db,
        world.org.id,
        "contractor.call.requested",
        {"project_id": str(uuid.uuid4()), "trade": "roofing"},
    )
    on_contractor_call_requested(db, event)
    assert _schedules(db, event) == []


def test_a_lead_is_recorded_with_its_phone_or_refused_without_one(db: Session) -> None:
    world = World(db)
    with_phone = _event(
        db,
        world.org.id,
        "lead.qualification.needed",
        {"lead_id": "L-1", "name": "Pat Seller", "phone": "(313) 555-0142"},
    )
    on_lead_qualification_needed(db, with_phone)
    on_lead_qualification_needed(db, with_phone)
    (scheduled,) = _schedules(db, with_phone)
    assert (scheduled.purpose, scheduled.status, scheduled.to_number) == (
        "lead_qualification",
        "for_team",
        "+13135550142",
    )
    assert scheduled.contractor_id is None and scheduled.details["name"] == "Pat Seller"
    without = _event(db, world.org.id, "lead.qualification.needed", {"lead_id": "L-2"})
    on_lead_qualification_needed(db, without)
    (refused,) = _schedules(db, without)
    assert refused.status == "cancelled"
    assert "no usable phone number" in (refused.reason or "")


def test_the_team_asks_for_bids_and_later_what_came_in(db: Session) -> None:
    world = World(db)
    prop = make_property(
        db,
        world.org,
        address_line="14500 Kercheval Ave",
        city="Detroit",
        state="MI",
        zip_code="48215",
    )
    project = construction_service.create_project(
        session=db,
        org_id=world.org.id,
        project_in=ProjectCreate(name="Kercheval rehab", property_id=prop.id),
    )
    ctx = context_for(db, world.analyst)
    asked = call_tool(request_bids, ctx, project="14500 Kercheval", trade="roofers", count=3)
    assert asked["requested"] is True and asked["trade"] == "roofing"
    assert asked["project_id"] == str(project.id)
    (event,) = db.exec(
        select(OutboxEvent).where(OutboxEvent.name == "contractor.call.requested")
    ).all()
    assert event.payload["count"] == 3 and event.payload["requested_by"] == str(world.analyst.id)
    # The voice module serves the request: a call is scheduled for the roofer.
    on_contractor_call_requested(
        db, Event(id=event.id, org_id=world.org.id, name=event.name, payload=event.payload)
    )
    status = call_tool(call_status, ctx, project=str(project.id))
    assert [s["contractor"] for s in status["scheduled"]] == [world.contractor.name]
    assert call_tool(bids_received, ctx, project="14500 Kercheval")["count"] == 0
    construction_service.create_bid(
        session=db,
        org_id=world.org.id,
        project_id=project.id,
        bid_in=BidCreate(
            contractor_id=world.contractor.id,
            total_amount=Decimal("11500"),
            source=BidSource.call,
            start_date=dt.date(2026, 12, 3),
            duration_days=4,
        ),
    )
    came_in = call_tool(bids_received, ctx, project="14500 Kercheval")
    (bid,) = came_in["bids"]
    assert (bid["contractor"], bid["total"], bid["duration_days"]) == (
        world.contractor.name,
        "$11,500",
        4,
    )
    # A bid with cents keeps them ("$1,249.99"), as the bid comparison shows it.
    construction_service.create_bid(
        session=db,
        org_id=world.org.id,
        project_id=project.id,
        bid_in=BidCreate(
            contractor_id=world.contractor.id,
            total_amount=Decimal("1249.99"),
            source=BidSource.call,
        ),
    )
    totals = {b["total"] for b in call_tool(bids_received, ctx, project="14500 Kercheval")["bids"]}
    assert totals == {"$11,500", "$1,249.99"}
    # Nobody of a trade on file: the tool says so instead of asking for calls.
    none = call_tool(request_bids, ctx, project=str(project.id), trade="masonry")
    assert "no contractor on file does masonry" in none["error"]
    # Investors may read bids but not order calls.
    investor_ctx = context_for(db, make_user(db, world.org, Role.investor))
    assert (
        "not allowed"
        in call_tool(request_bids, investor_ctx, project=str(project.id), trade="roofing")["error"]
    )


def test_availability_lists_free_slots_and_who_can_be_called_now(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    night = make_contractor(db, world.org, name="Night Owl", timezone=zone_with_local_hour(3))
    response = client.get("/api/v1/agents/availability", headers=world.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["max_concurrent_calls"], body["active_calls"], body["free_slots"]) == (3, 0, 3)
    assert body["twilio_configured"] is False
    rows = {row["name"]: row for row in body["contractors"]}
    assert rows[world.contractor.name]["callable_now"] is True
    owl = rows[night.name]
    assert owl["callable_now"] is False and owl["reason"].startswith("outside calling hours")
    assert owl["local_time"].startswith("03:")
    assert owl["next_allowed_at"] is not None
    # A call recorded in the outbox (no Twilio) holds no line; one ringing does.
    assert world.initiate(client).status_code == 201
    again = client.get("/api/v1/agents/availability", headers=world.headers()).json()
    assert again["free_slots"] == 3
    from domain.voice.enums import CallStatus
    from domain.voice.models import Call

    (call,) = db.exec(select(Call).where(Call.contractor_id == world.contractor.id)).all()
    call.status = CallStatus.ringing
    db.add(call)
    db.flush()
    ringing = client.get("/api/v1/agents/availability", headers=world.headers()).json()
    assert (ringing["active_calls"], ringing["free_slots"]) == (1, 2)
