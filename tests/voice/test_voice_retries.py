"""Placing calls through Twilio (mocked with respx), retries after no answer, the dispatcher."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, col, select

from domain.voice import service
from domain.voice.enums import CallPurpose
from domain.voice.models import Call, CallSchedule
from store.outbox import OutboxEvent
from tests.factories import override_settings
from tests.voice.helpers import (
    PUBLIC,
    TOKEN,
    WEBHOOK,
    World,
    call_params,
    new_call_sid,
    post_signed,
    voice_settings,
)
from workers import voice as voice_jobs

ACCOUNT = "AC" + "1" * 32
CALLS_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json"


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch, voice_max_attempts=3, voice_retry_backoff_minutes=30)


@pytest.fixture
def twilio_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twilio credentials and a calling number: calls go to Twilio's REST API."""
    override_settings(
        monkeypatch,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=SecretStr(TOKEN),
        twilio_voice_from="+13135550199",
    )


def _twilio_call(sid: str, status: str = "queued") -> dict[str, object]:
    return {"sid": sid, "status": status, "account_sid": ACCOUNT, "to": "+1", "from": "+1"}


@respx.mock
def test_initiate_places_the_call_through_twilios_rest_api(
    client: TestClient, db: Session, twilio_account: None
) -> None:
    world = World(db)
    sid = new_call_sid()
    route = respx.post(CALLS_URL).mock(return_value=httpx.Response(201, json=_twilio_call(sid)))
    response = world.initiate(client)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "placed"
    assert (body["call"]["call_sid"], body["call"]["status"]) == (sid, "queued")
    form = parse_qs(route.calls.last.request.content.decode())
    call_id = body["call"]["id"]
    assert form["To"] == [world.contractor.phone]
    assert form["From"] == ["+13135550199"]
    assert form["Url"] == [f"{PUBLIC}{WEBHOOK}/{call_id}/answer"]
    assert form["StatusCallback"] == [f"{PUBLIC}{WEBHOOK}/{call_id}/status"]
    assert form["MachineDetection"] == ["DetectMessageEnd"]
    assert set(form["StatusCallbackEvent"]) == {"initiated", "ringing", "answered", "completed"}


@respx.mock
def test_a_call_twilio_refuses_for_its_number_fails_without_a_retry(
    client: TestClient, db: Session, twilio_account: None
) -> None:
    world = World(db)
    respx.post(CALLS_URL).mock(
        return_value=httpx.Response(
            400, json={"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}
        )
    )
    response = world.initiate(client)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "failed"
    assert "Twilio refused the call: HTTP 400 (code 21211)" in body["call"]["note"]
    call = db.get(Call, uuid.UUID(body["call"]["id"]))
    assert call is not None and call.status == "failed"
    # 21211 (invalid number) never rings: no retry is scheduled, the team fixes the number.
    assert call.schedule_id is None
    assert (
        db.exec(select(CallSchedule).where(CallSchedule.contractor_id == world.contractor.id)).all()
        == []
    )
    (kind,) = [item["kind"] for item in call.outcome_data["action_items"]]
    assert kind == "fix_number"


def _completed_events(db: Session) -> list[dict[str, object]]:
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.name == "call.completed")
        .order_by(col(OutboxEvent.created_at))
    ).all()
    return [row.payload for row in rows]


def test_no_answer_is_retried_with_back_off_up_to_the_limit_then_fails(
    client: TestClient, db: Session
) -> None:
    # Noon for the contractor: every retry below still falls inside 08:00-20:00.
    world = World(db, local_hour=12)
    t0 = dt.datetime.now(dt.UTC)
    first = service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        now=t0,
    ).call
    assert first is not None
    db.commit()
    # Attempt 1: Twilio reports no answer (through the signed status webhook).
    sid = new_call_sid()
    response = post_signed(
        client,
        f"{PUBLIC}{WEBHOOK}/{first.id}/status",
        call_params(sid, CallStatus="no-answer"),
    )
    assert response.status_code == 200
    db.refresh(first)
    assert (first.status, first.outcome) == ("no-answer", "no_answer")
    schedule = db.get(CallSchedule, first.schedule_id)
    assert schedule is not None and schedule.status == "scheduled"
    # Back-off: 30 minutes after the first attempt.
    delay = schedule.scheduled_for - t0
    assert dt.timedelta(minutes=30) <= delay < dt.timedelta(minutes=31)

    # Nothing is due before its time.
    assert (
        service.claim_due_schedules(
            session=db, now=schedule.scheduled_for - dt.timedelta(minutes=1)
        )
        == []
    )
    attempts = [first]
    statuses = ["busy", "no-answer"]
    for expected_delay, status in zip((60, None), statuses, strict=True):
        due = schedule.scheduled_for
        (call,) = service.claim_due_schedules(session=db, now=due)
        assert call.attempt == len(attempts) + 1 and call.schedule_id == schedule.id
        attempts.append(call)
        service.record_status(session=db, call=call, status=status, now=due)
        db.refresh(schedule)
        if expected_delay is not None:
            assert schedule.status == "scheduled"
            assert schedule.scheduled_for - due == dt.timedelta(minutes=expected_delay)
    assert schedule.status == "failed"
    assert schedule.reason == "no answer on all 3 attempts; giving up"
    assert [c.attempt for c in attempts] == [1, 2, 3]
    events = _completed_events(db)
    assert [e["outcome"] for e in events] == ["no_answer"] * 3
    assert [e["will_retry"] for e in events] == [True, True, False]
    # Given up: nothing more is ever claimed.
    assert service.claim_due_schedules(session=db, now=due + dt.timedelta(days=1)) == []


def test_a_due_schedule_is_moved_into_hours_or_cancelled_after_an_opt_out(db: Session) -> None:
    world = World(db, local_hour=2)
    now = dt.datetime.now(dt.UTC)
    scheduled = service.request_call(
        session=db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        at=now,
        now=now,
    ).schedule
    assert scheduled is not None and scheduled.scheduled_for > now
    # Forced due at night: the dispatcher does not call, it moves the call to 08:00.
    scheduled.scheduled_for = now
    db.add(scheduled)
    db.flush()
    assert service.claim_due_schedules(session=db, now=now) == []
    assert scheduled.scheduled_for > now and "calling hours" in (scheduled.reason or "")
    from domain.construction import service as construction_service

    construction_service.mark_contractor_opted_out(
        session=db, org_id=world.org.id, contractor_id=world.contractor.id, reason="test"
    )
    assert service.claim_due_schedules(session=db, now=scheduled.scheduled_for) == []
    assert scheduled.status == "cancelled" and "asked not to be called" in (scheduled.reason or "")


def test_the_dispatcher_places_due_calls_once(committed_db: Session, redis: object) -> None:
    world = World(committed_db, local_hour=12)
    now = dt.datetime.now(dt.UTC)
    schedule = service.request_call(
        session=committed_db,
        org_id=world.org.id,
        contractor_id=world.contractor.id,
        project_id=world.project.id,
        purpose=CallPurpose.bid_request,
        at=now + dt.timedelta(seconds=5),
        now=now,
    ).schedule
    assert schedule is not None
    committed_db.commit()
    later = now + dt.timedelta(minutes=1)
    assert voice_jobs.dispatch_due(now=later)["claimed"] == 1
    assert voice_jobs.dispatch_due(now=later)["claimed"] == 0
    committed_db.expire_all()
    (call,) = committed_db.exec(select(Call).where(Call.schedule_id == schedule.id)).all()
    assert call.status == "queued" and "Twilio is not configured" in (call.note or "")
    json.dumps(voice_jobs.dispatch_due(now=later))  # a job's result is JSON
