"""Never phoning a contractor twice, or when they may not be called, and never losing a call.

Repeated "get bids" requests, Redis down after a schedule is committed, a retry placed after
hours or after an opt-out, calls stuck queued, numbers Twilio will never ring, calls nobody
spoke on, and lead-qualification calls left to the team.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from channels import voice as voice_channel
from domain.construction import service as construction_service
from domain.voice import service
from domain.voice.enums import CallOutcome, CallPurpose, ScheduleStatus
from domain.voice.models import Call, CallSchedule
from store.outbox import OutboxEvent
from tests.factories import make_contractor, override_settings
from tests.voice.helpers import (
    TOKEN,
    World,
    new_call_sid,
    voice_settings,
    zone_with_local_hour,
)
from workers import voice as voice_jobs

ACCOUNT = "AC" + "2" * 32
CALLS_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json"


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    voice_settings(monkeypatch, voice_max_attempts=3, voice_retry_backoff_minutes=30)


@pytest.fixture
def twilio_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twilio credentials and a calling number: calls go to Twilio's REST API (respx)."""
    override_settings(
        monkeypatch,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=SecretStr(TOKEN),
        twilio_voice_from="+13135550199",
    )


def _events(db: Session, name: str) -> list[dict[str, Any]]:
    rows = db.exec(
        select(OutboxEvent).where(OutboxEvent.name == name).order_by(col(OutboxEvent.created_at))
    ).all()
    return [row.payload for row in rows]


def _bid_request(world: World, count: int = 3) -> dict[str, Any]:
    return {"project_id": str(world.project.id), "trade": "roofing", "count": count}


def _pending(db: Session, world: World) -> list[CallSchedule]:
    return list(
        db.exec(
            select(CallSchedule).where(
                CallSchedule.project_id == world.project.id,
                col(CallSchedule.status).in_(["scheduled", "in_progress"]),
            )
        ).all()
    )


# --- 1. a second "get bids" request --------------------------------------------------------


def test_asking_for_bids_again_never_phones_the_roofers_already_being_called(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, voice_max_concurrent_calls=10)
    world = World(db)  # "Ray's Roofing", noon where they are
    noon = zone_with_local_hour(12)
    second = make_contractor(db, world.org, name="B Roofing", timezone=noon)
    third = make_contractor(db, world.org, name="C Roofing", timezone=noon)
    direct = make_contractor(db, world.org, name="Zed Roofing", timezone=noon)
    now = dt.datetime.now(dt.UTC)
    first = service.plan_bid_calls(
        session=db,
        org_id=world.org.id,
        payload=_bid_request(world),
        source_event_id=uuid.uuid4(),
        now=now,
    )
    assert len(first.schedules) == 3
    # The dispatcher claims them: the schedules are in_progress, the calls ring.
    claimed = service.claim_due_schedules(session=db, now=now)
    assert len(claimed) == 3
    # Zed Roofing was phoned from POST /calls/initiate (no schedule): it is ringing.
    placed = service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=direct.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        now=now,
    ).call
    assert placed is not None
    service.mark_placed(session=db, call=placed, call_sid=new_call_sid(), status="ringing")

    again = service.plan_bid_calls(
        session=db,
        org_id=world.org.id,
        payload=_bid_request(world),
        source_event_id=uuid.uuid4(),
        now=now + dt.timedelta(minutes=2),
    )
    assert again.schedules == []
    being_called = {s.contractor_id for s in first.schedules}
    assert being_called == {world.contractor.id, second.id, third.id}
    assert set(again.skipped) == {str(c) for c in being_called | {direct.id}}
    assert all("under way" in why for key, why in again.skipped.items() if key != str(direct.id))
    assert "ringing now" in again.skipped[str(direct.id)]
    # One pending schedule per roofer, and four calls in all: nobody is phoned twice.
    assert len(_pending(db, world)) == 3
    calls = db.exec(select(Call).where(Call.project_id == world.project.id)).all()
    assert len(calls) == 4


def test_a_voicemail_left_an_hour_ago_is_not_followed_by_a_second_call(db: Session) -> None:
    world = World(db)
    now = dt.datetime.now(dt.UTC)
    service.plan_bid_calls(
        session=db,
        org_id=world.org.id,
        payload=_bid_request(world, 1),
        source_event_id=uuid.uuid4(),
        now=now,
    )
    (call,) = service.claim_due_schedules(session=db, now=now)
    call.outcome = CallOutcome.voicemail
    service.record_status(session=db, call=call, status="completed", now=now)
    later = service.plan_bid_calls(
        session=db,
        org_id=world.org.id,
        payload=_bid_request(world, 1),
        source_event_id=uuid.uuid4(),
        now=now + dt.timedelta(hours=1),
    )
    assert later.schedules == []
    assert (
        "(voicemail); not called again within 24 hours" in later.skipped[str(world.contractor.id)]
    )


def test_the_database_holds_one_pending_call_per_contractor_and_project(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    body = {
        "contractor_id": str(world.contractor.id),
        "project_id": str(world.project.id),
        "scheduled_for": when,
    }
    first = client.post("/api/v1/calls/schedule", json=body, headers=world.headers())
    assert first.status_code == 201, first.text
    second = client.post("/api/v1/calls/schedule", json=body, headers=world.headers())
    assert second.status_code == 409
    assert "already scheduled" in second.json()["detail"]
    assert first.json()["id"] in second.json()["detail"]
    # Even written past the service, a second pending row is refused by the index.
    with pytest.raises(IntegrityError), db.begin_nested():
        db.add(
            CallSchedule(
                org_id=world.org.id,
                contractor_id=world.contractor.id,
                project_id=world.project.id,
                purpose=CallPurpose.follow_up,
                scheduled_for=dt.datetime.now(dt.UTC),
                status=ScheduleStatus.in_progress,
            )
        )
        db.flush()


def test_two_requests_at_once_schedule_each_roofer_once(
    committed_db: Session, engine: Engine
) -> None:
    world = World(committed_db)
    make_contractor(committed_db, world.org, name="B Roofing", timezone=zone_with_local_hour(12))
    committed_db.commit()
    now = dt.datetime.now(dt.UTC)
    first = service.plan_bid_calls(
        session=committed_db,
        org_id=world.org.id,
        payload=_bid_request(world, 2),
        source_event_id=uuid.uuid4(),
        now=now,
    )
    assert len(first.schedules) == 2  # not committed yet: the other request cannot see them
    results: dict[str, Any] = {}

    def other_request() -> None:
        with Session(engine) as session:
            results["plan"] = service.plan_bid_calls(
                session=session,
                org_id=world.org.id,
                payload=_bid_request(world, 2),
                source_event_id=uuid.uuid4(),
                now=now,
            )
            session.commit()

    worker = threading.Thread(target=other_request)
    worker.start()
    worker.join(timeout=1)  # it waits on the unique index (or has not inserted yet)
    committed_db.commit()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert results["plan"].schedules == []
    assert len(results["plan"].skipped) == 2
    committed_db.expire_all()
    assert len(_pending(committed_db, world)) == 2


# --- 2. Redis down after the schedule is committed ---------------------------------------


def _dead_redis() -> Redis:
    """A Redis client for a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=1)


def test_with_redis_down_a_scheduled_call_is_accepted_once_and_dispatched_later(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import store.redis_client
    import workers.queues

    world = World(db)
    night = make_contractor(db, world.org, name="Night Roofing", timezone=zone_with_local_hour(2))
    dead = _dead_redis()
    monkeypatch.setattr(workers.queues, "get_redis", lambda: dead)
    monkeypatch.setattr(store.redis_client, "get_redis", lambda: dead)
    when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    response = client.post(
        "/api/v1/calls/schedule",
        json={
            "contractor_id": str(world.contractor.id),
            "project_id": str(world.project.id),
            "scheduled_for": when.isoformat(),
        },
        headers=world.headers(),
    )
    assert response.status_code == 201, response.text
    # Outside hours, /calls/initiate schedules too: also answered, not a 500.
    initiated = world.initiate(client, contractor_id=str(night.id))
    assert initiated.status_code == 202, initiated.text
    schedule = db.get(CallSchedule, uuid.UUID(response.json()["id"]))
    assert schedule is not None and schedule.status == "scheduled"
    # The periodic dispatcher places it when it falls due.
    (call,) = service.claim_due_schedules(session=db, now=when + dt.timedelta(minutes=1))
    assert call.schedule_id == schedule.id and call.contractor_id == world.contractor.id


# --- 4. checked again right before Twilio is asked ---------------------------------------


def _queued_call(db: Session, world: World, now: dt.datetime) -> Call:
    service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        at=now,
        now=now,
    )
    (call,) = service.claim_due_schedules(session=db, now=now)
    return call


@respx.mock
def test_a_retry_that_runs_after_hours_is_moved_to_the_next_morning_not_placed(
    db: Session, twilio_account: None
) -> None:
    world = World(db, local_hour=19)
    route = respx.post(CALLS_URL).mock(
        return_value=httpx.Response(201, json={"sid": new_call_sid(), "status": "queued"})
    )
    local = dt.datetime.now(ZoneInfo(world.contractor.timezone))
    # Queued at 19:58 local; Twilio was down and RQ's retry runs at 20:04.
    queued_at = local.replace(hour=19, minute=58, second=0, microsecond=0)
    retry_at = queued_at + dt.timedelta(minutes=6)
    call = _queued_call(db, world, queued_at)
    assert voice_channel.place(db, call, now=retry_at) == "rescheduled"
    assert not route.called
    assert call.status == "canceled" and "calls are allowed 08:00-20:00" in (call.note or "")
    schedule = db.get(CallSchedule, call.schedule_id)
    assert schedule is not None and schedule.status == "scheduled"
    next_morning = schedule.scheduled_for.astimezone(local.tzinfo)
    assert (next_morning.time(), next_morning.date()) == (
        dt.time(8, 0),
        queued_at.date() + dt.timedelta(days=1),
    )
    assert schedule.attempts == 0  # the call never rang: no attempt spent
    # The next morning it is placed.
    (again,) = service.claim_due_schedules(session=db, now=schedule.scheduled_for)
    assert voice_channel.place(db, again, now=schedule.scheduled_for) == "placed"
    assert route.call_count == 1


@respx.mock
def test_a_contractor_who_opted_out_since_is_never_dialled(
    db: Session, twilio_account: None
) -> None:
    world = World(db)
    route = respx.post(CALLS_URL).mock(
        return_value=httpx.Response(201, json={"sid": new_call_sid(), "status": "queued"})
    )
    now = dt.datetime.now(dt.UTC)
    call = _queued_call(db, world, now)
    construction_service.mark_contractor_opted_out(
        session=db, org_id=world.org.id, contractor_id=world.contractor.id, reason="by text"
    )
    assert voice_channel.place(db, call, now=now) == "cancelled"
    assert not route.called
    assert call.status == "canceled" and "asked not to be called" in (call.note or "")
    schedule = db.get(CallSchedule, call.schedule_id)
    assert schedule is not None and schedule.status == "cancelled"


# --- 5. calls stuck queued ---------------------------------------------------------------


def test_a_call_never_placed_is_swept_retried_and_finally_closed(db: Session) -> None:
    world = World(db)
    now = dt.datetime.now(dt.UTC)
    call = _queued_call(db, world, now)  # placing it crashed: no CallSid, schedule in_progress
    schedule = db.get(CallSchedule, call.schedule_id)
    assert schedule is not None and schedule.status == "in_progress"
    # Outbox calls (no Twilio) stay queued by design and are left alone.
    outbox = service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=make_contractor(db, world.org, timezone=world.contractor.timezone).id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        now=now,
    ).call
    assert outbox is not None
    service.mark_recorded(session=db, call=outbox, note="recorded only: Twilio is not configured")
    assert service.sweep_stuck_calls(session=db, now=now + dt.timedelta(minutes=5)) == []
    later = now + dt.timedelta(minutes=20)
    assert service.sweep_stuck_calls(session=db, now=later) == [call]
    assert call.status == "failed" and "never placed" in (call.note or "")
    assert schedule.status == "scheduled" and "attempt 1 of 3" in (schedule.reason or "")
    assert outbox.status == "queued"
    due = schedule.scheduled_for
    for attempt in (2, 3):
        (retry,) = service.claim_due_schedules(session=db, now=due)
        assert retry.attempt == attempt
        swept_at = due + dt.timedelta(minutes=20)
        assert service.sweep_stuck_calls(session=db, now=swept_at) == [retry]
        due = schedule.scheduled_for
    assert schedule.status == "failed"
    assert schedule.reason == "failed on all 3 attempts; giving up"


def test_the_periodic_dispatcher_sweeps_a_call_whose_placing_crashed(
    committed_db: Session, redis: object
) -> None:
    world = World(committed_db)
    now = dt.datetime.now(dt.UTC)
    call = _queued_call(committed_db, world, now)
    committed_db.commit()  # claimed and committed; then the worker died before placing it
    counts = voice_jobs.dispatch_due(now=now + dt.timedelta(minutes=20))
    assert (counts["swept"], counts["claimed"]) == (1, 0)
    committed_db.expire_all()
    swept = committed_db.get(Call, call.id)
    schedule = committed_db.get(CallSchedule, call.schedule_id)
    assert swept is not None and swept.status == "failed"
    assert schedule is not None and schedule.status == "scheduled"
    assert schedule.scheduled_for > now + dt.timedelta(minutes=20)  # retried with back-off


# --- 6. a number Twilio will never ring --------------------------------------------------


@respx.mock
def test_an_invalid_number_fails_the_schedule_at_once_and_asks_to_fix_it(
    db: Session, twilio_account: None
) -> None:
    world = World(db)
    respx.post(CALLS_URL).mock(
        return_value=httpx.Response(
            400, json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}
        )
    )
    now = dt.datetime.now(dt.UTC)
    call = _queued_call(db, world, now)
    assert voice_channel.place(db, call, now=now) == "failed"
    schedule = db.get(CallSchedule, call.schedule_id)
    assert schedule is not None and schedule.status == "failed"
    assert "fix the contractor's number" in (schedule.reason or "")
    assert "21211" in (schedule.reason or "")
    assert service.claim_due_schedules(session=db, now=now + dt.timedelta(days=1)) == []
    (items,) = _events(db, "action.items.created")
    (item,) = items["items"]
    assert item["kind"] == "fix_number" and item["code"] == 21211
    assert item["text"].startswith(f"Fix {world.contractor.name}'s phone number (ending ")
    (completed,) = _events(db, "call.completed")
    assert completed["will_retry"] is False


@respx.mock
def test_twilio_busy_for_a_moment_is_still_retried(db: Session, twilio_account: None) -> None:
    world = World(db)
    respx.post(CALLS_URL).mock(
        return_value=httpx.Response(503, json={"code": 20503, "message": "down", "status": 503})
    )
    now = dt.datetime.now(dt.UTC)
    call = _queued_call(db, world, now)
    with pytest.raises(voice_channel.TransientPlaceError):
        voice_channel.place(db, call, now=now)
    assert call.status == "queued"  # RQ tries again; the sweep retries it if that fails


# --- 7. calls nobody spoke on ------------------------------------------------------------


@pytest.mark.parametrize("status", ["canceled", "completed"])
def test_a_call_the_contractor_said_nothing_on_is_no_response(db: Session, status: str) -> None:
    world = World(db)
    now = dt.datetime.now(dt.UTC)
    call = _queued_call(db, world, now)
    service.mark_placed(session=db, call=call, call_sid=new_call_sid(), status="ringing")
    service.record_status(session=db, call=call, status=status, now=now)
    assert call.status == status
    assert [e["status"] for e in _events(db, "call.completed")] == [status]
    assert _events(db, "contractor.responded") == []


# --- 8. lead qualification calls ---------------------------------------------------------


def test_a_lead_to_qualify_is_left_to_the_team_not_shown_as_an_overdue_call(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    schedule = service.plan_lead_call(
        session=db,
        org_id=world.org.id,
        payload={"lead_id": "L-7", "name": "Pat Seller", "phone": "(313) 555-0142"},
        source_event_id=uuid.uuid4(),
    )
    assert schedule.status == "for_team"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    assert service.claim_due_schedules(session=db, now=later) == []
    body = client.get("/api/v1/agents/availability", headers=world.headers()).json()
    assert body["upcoming"] == []
    (created,) = _events(db, "action.items.created")
    (item,) = created["items"]
    assert item["kind"] == "call_lead"
    assert item["text"].startswith("Call the lead Pat Seller at +13135550142")
    assert item["schedule_id"] == str(schedule.id)
