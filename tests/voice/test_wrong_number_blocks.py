"""A contractor whose number reached someone else is not called again until it is changed.

Derived from the calls table: the latest answered call to the contractor's current phone
decides. Bid requests (the tool, the event, the REST endpoints) skip them with the reason,
the dispatcher and the placing check never dial them, and a retry is not scheduled.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, select

from channels import voice as voice_channel
from cli.voice_commands import simulate_conversation
from domain.voice import service
from domain.voice.enums import CallOutcome, CallPurpose, CallStatus
from domain.voice.models import Call, CallSchedule
from domain.voice.subscribers import on_contractor_call_requested
from store.base import utcnow
from store.events import Event
from store.outbox import OutboxEvent, publish
from tests.factories import make_contractor, make_project, override_settings
from tests.tools.helpers import call_tool, context_for
from tests.voice.helpers import (
    PUBLIC,
    TOKEN,
    World,
    new_call_sid,
    poster,
    voice_settings,
    zone_with_local_hour,
)
from tools.voice import request_bids

ACCOUNT = "AC" + "3" * 32
CALLS_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
WRONG = ["sorry you've got the wrong number, there's no Ray here"]


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch, voice_max_concurrent_calls=10, voice_max_attempts=3)
    override_settings(monkeypatch, openai_api_key=None, llm_base_url=None)


def _twilio(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on calls go to Twilio's REST API (mocked with respx)."""
    override_settings(
        monkeypatch,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=SecretStr(TOKEN),
        twilio_voice_from="+13135550199",
    )


def _talk(client: TestClient, world: World, says: list[str], **body: Any) -> Call:
    """``POST /calls/initiate`` (the outbox: no Twilio) and play the conversation."""
    response = world.initiate(client, **body)
    assert response.status_code == 201, response.text
    call_id = uuid.UUID(response.json()["call"]["id"])
    conversation = simulate_conversation(
        poster(client), call_id=call_id, says=says, token=TOKEN, public_base_url=PUBLIC
    )
    assert set(conversation.statuses) == {200}
    call = world.db.get(Call, call_id)
    assert call is not None
    world.db.refresh(call)
    return call


def _wrong_number(client: TestClient, world: World, project_id: uuid.UUID) -> Call:
    call = _talk(client, world, WRONG, project_id=str(project_id))
    assert call.outcome == "wrong_number"
    return call


def _last_four(world: World) -> str:
    assert world.contractor.phone
    return world.contractor.phone[-4:]


def _no_full_number(text: str, world: World) -> None:
    assert world.contractor.phone
    assert world.contractor.phone not in text
    assert world.contractor.phone.lstrip("+") not in text


def test_the_next_call_is_refused_until_the_phone_is_changed(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    first = _wrong_number(client, world, world.project.id)
    again = world.initiate(client)
    assert again.status_code == 409, again.text
    detail = again.json()["detail"]
    day = (first.ended_at or first.created_at).date().isoformat()
    assert world.contractor.name in detail
    assert f"reached someone else on {day}" in detail and "update their phone first" in detail
    assert f"ending {_last_four(world)}" in detail
    _no_full_number(detail, world)
    # Scheduling for later is refused the same way.
    later = client.post(
        "/api/v1/calls/schedule",
        json={
            "contractor_id": str(world.contractor.id),
            "project_id": str(world.project.id),
            "purpose": "bid_request",
            "scheduled_for": (utcnow() + dt.timedelta(days=1)).isoformat(),
        },
        headers=world.headers(),
    )
    assert later.status_code == 409 and "reached someone else" in later.json()["detail"]
    # The availability endpoint says why they cannot be called now.
    slots = client.get("/api/v1/agents/availability", headers=world.headers()).json()
    (slot,) = [c for c in slots["contractors"] if c["contractor_id"] == str(world.contractor.id)]
    assert slot["callable_now"] is False and "reached someone else" in slot["reason"]
    # A new phone: callable again.
    changed = client.patch(
        f"/api/v1/contractors/{world.contractor.id}",
        json={"phone": "+13125550177"},
        headers=world.headers(),
    )
    assert changed.status_code == 200, changed.text
    fixed = world.initiate(client)
    assert fixed.status_code == 201, fixed.text
    assert fixed.json()["call"]["to_number"] == "+13125550177"


def test_a_later_answered_call_to_the_same_number_clears_it(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    _wrong_number(client, world, world.project.id)
    assert world.initiate(client).status_code == 409
    # The team checked: the number is right after all (a call answered by the contractor,
    # here made before the wrong-number call was known, ended later).
    ok = Call(
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        status=CallStatus.completed,
        to_number=world.contractor.phone or "",
        outcome=CallOutcome.declined,
        outcome_data={"finalized": True},
        ended_at=utcnow() + dt.timedelta(seconds=5),
    )
    db.add(ok)
    db.flush()
    assert world.initiate(client).status_code == 201


def test_a_bid_request_event_skips_them_with_the_reason_and_calls_the_next(
    client: TestClient, db: Session
) -> None:
    world = World(db)  # "Ray's Roofing"
    other = make_project(db, world.org)
    _wrong_number(client, world, other.id)
    second = make_contractor(db, world.org, name="Sam's Roofing", timezone=zone_with_local_hour(12))
    payload = {"project_id": str(world.project.id), "trade": "roofing", "count": 2}
    plan = service.plan_bid_calls(
        session=db,
        org_id=world.org.id,
        payload=payload,
        source_event_id=publish(
            db, org_id=world.org.id, name="contractor.call.requested", payload=payload
        ),
    )
    assert [s.contractor_id for s in plan.schedules] == [second.id]
    reason = plan.skipped[str(world.contractor.id)]
    assert "Ray's Roofing" in reason and "reached someone else on" in reason
    _no_full_number(reason, world)
    # Through the subscriber too: nothing scheduled for them.
    event_id = publish(
        db,
        org_id=world.org.id,
        name="contractor.call.requested",
        payload={"project_id": str(other.id), "contractor_id": str(world.contractor.id)},
    )
    on_contractor_call_requested(
        db,
        Event(
            id=event_id,
            org_id=world.org.id,
            name="contractor.call.requested",
            payload={"project_id": str(other.id), "contractor_id": str(world.contractor.id)},
            created_at=utcnow(),
        ),
    )
    assert not db.exec(select(CallSchedule).where(CallSchedule.source_event_id == event_id)).all()


def test_request_bids_names_the_contractor_skipped_and_why(client: TestClient, db: Session) -> None:
    world = World(db)
    other = make_project(db, world.org)
    first = _wrong_number(client, world, other.id)
    ctx = context_for(db, world.analyst)
    only = call_tool(request_bids, ctx, project=str(world.project.id), trade="roofing", count=3)
    day = (first.ended_at or first.created_at).date().isoformat()
    assert only["requested"] is False
    assert (
        f"Ray's Roofing skipped: their number (ending {_last_four(world)}) reached someone "
        f"else on {day}; update their phone first"
    ) in only["error"]
    _no_full_number(str(only), world)
    assert not db.exec(
        select(OutboxEvent).where(OutboxEvent.name == "contractor.call.requested")
    ).all()
    make_contractor(db, world.org, name="Sam's Roofing", timezone=zone_with_local_hour(12))
    asked = call_tool(request_bids, ctx, project=str(world.project.id), trade="roofing", count=3)
    assert asked["requested"] is True and asked["will_call"] == 1
    (skipped,) = asked["skipped"]
    assert skipped["contractor_id"] == str(world.contractor.id)
    assert skipped["reason"].startswith("Ray's Roofing skipped: their number (ending ")


@respx.mock
def test_a_call_queued_before_the_number_was_found_wrong_is_never_dialled(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(db)
    now = utcnow()
    service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        at=now,
        now=now,
    )
    (queued,) = service.claim_due_schedules(session=db, now=now)
    _wrong_number(client, world, make_project(db, world.org).id)
    _twilio(monkeypatch)
    route = respx.post(CALLS_URL).mock(
        return_value=httpx.Response(201, json={"sid": new_call_sid(), "status": "queued"})
    )
    assert voice_channel.place(db, queued) == "cancelled"
    assert not route.called
    assert queued.status == "canceled"
    assert "reached someone else" in (queued.note or "")
    _no_full_number(queued.note or "", world)
    schedule = db.get(CallSchedule, queued.schedule_id)
    assert schedule is not None and schedule.status == "cancelled"
    assert "reached someone else" in (schedule.reason or "")


def test_the_dispatcher_cancels_a_due_schedule_saying_why(client: TestClient, db: Session) -> None:
    world = World(db)
    later = utcnow() + dt.timedelta(minutes=5)
    pending = service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        at=later,
    ).schedule
    assert pending is not None
    _wrong_number(client, world, make_project(db, world.org).id)
    assert service.claim_due_schedules(session=db, now=later + dt.timedelta(minutes=1)) == []
    assert pending.status == "cancelled"
    assert (pending.reason or "").startswith("not called: contractor Ray's Roofing")
    assert "reached someone else" in (pending.reason or "")


def test_an_unanswered_call_is_not_retried_once_the_number_is_known_wrong(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    now = utcnow()
    service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        at=now,
        now=now,
    )
    (ringing,) = service.claim_due_schedules(session=db, now=now)
    service.mark_placed(session=db, call=ringing, call_sid=new_call_sid(), status="ringing")
    _wrong_number(client, world, make_project(db, world.org).id)
    schedule = service.record_status(session=db, call=ringing, status="no-answer")
    assert schedule is not None and schedule.status == "cancelled"
    assert "not called again" in (schedule.reason or "")
    assert "reached someone else" in (schedule.reason or "")


@respx.mock
def test_a_call_queued_to_the_old_number_dials_the_new_one_instead(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(db)
    now = utcnow()
    service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        at=now,
        now=now,
    )
    (queued,) = service.claim_due_schedules(session=db, now=now)
    old = queued.to_number
    _wrong_number(client, world, make_project(db, world.org).id)
    changed = client.patch(
        f"/api/v1/contractors/{world.contractor.id}",
        json={"phone": "+13125550166"},
        headers=world.headers(),
    )
    assert changed.status_code == 200, changed.text
    _twilio(monkeypatch)
    route = respx.post(CALLS_URL).mock(
        return_value=httpx.Response(201, json={"sid": new_call_sid(), "status": "queued"})
    )
    assert voice_channel.place(db, queued, now=now) == "rescheduled"
    assert not route.called and queued.status == "canceled"
    assert "phone changed since the call was queued" in (queued.note or "")
    assert old not in (queued.note or "")
    (again,) = service.claim_due_schedules(session=db, now=now + dt.timedelta(seconds=1))
    assert again.to_number == "+13125550166"
    assert voice_channel.place(db, again, now=now) == "placed"
    assert route.call_count == 1
    assert "To=%2B13125550166" in route.calls.last.request.content.decode()


def test_asking_again_about_the_same_project_at_once_says_to_fix_the_phone(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    _wrong_number(client, world, world.project.id)  # about this project, minutes ago
    payload = {"project_id": str(world.project.id), "contractor_id": str(world.contractor.id)}
    plan = service.plan_bid_calls(
        session=db,
        org_id=world.org.id,
        payload=payload,
        source_event_id=publish(
            db, org_id=world.org.id, name="contractor.call.requested", payload=payload
        ),
    )
    assert plan.schedules == []
    reason = plan.skipped[str(world.contractor.id)]
    assert "reached someone else" in reason and "within 24 hours" not in reason
