"""A newer callback moves the one already scheduled; the site visit's time reaches the team (F12).

QA: a second "call me back Friday at 4pm" was promised by the agent but left as "not scheduled
again: ... already scheduled (... Thursday)", and a third "call me back on the 10th" the same;
a site visit agreed "Monday at 10am" reached the action item and the activity summary as a day
with no time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from cli.voice_commands import simulate_conversation
from domain.voice import service
from domain.voice.enums import CallOutcome, CallPurpose, CallStatus, ScheduleStatus
from domain.voice.extraction import CallbackTime, CallFacts
from domain.voice.lead import LeadFacts
from domain.voice.models import Call, CallSchedule
from store.base import utcnow
from store.outbox import OutboxEvent
from tests.factories import make_org
from tests.voice.helpers import PUBLIC, TOKEN, World, poster, voice_settings
from tests.voice.test_voice_lead_calls import DETROIT, _plan, _recorded_lead_call


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch)


def _events(db: Session, name: str, call_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.name == name, OutboxEvent.payload["call_id"].astext == str(call_id))
        .order_by(col(OutboxEvent.created_at))
    ).all()
    return [row.payload for row in rows]


def _call_back_item(db: Session, call_id: uuid.UUID) -> str:
    (item,) = [
        item
        for event in _events(db, "action.items.created", call_id)
        for item in event["items"]
        if item["kind"] == "call_back"
    ]
    return str(item["text"])


def _play(client: TestClient, world: World, say: str) -> tuple[uuid.UUID, str]:
    """A bid call placed now (as ``simulate call`` places it) where the contractor says ``say``."""
    response = world.initiate(client)
    assert response.status_code == 201, response.text
    call_id = uuid.UUID(response.json()["call"]["id"])
    conversation = simulate_conversation(
        poster(client), call_id=call_id, says=[say], token=TOKEN, public_base_url=PUBLIC
    )
    assert set(conversation.statuses) == {200}
    spoken = [text for speaker, text in conversation.lines if speaker == "agent"]
    return call_id, spoken[-1]


def _pending(db: Session, world: World) -> CallSchedule:
    (schedule,) = db.exec(
        select(CallSchedule).where(
            CallSchedule.contractor_id == world.contractor.id,
            col(CallSchedule.status).in_(["scheduled", "in_progress"]),
        )
    ).all()
    db.refresh(schedule)
    return schedule


def _short(moment: dt.datetime) -> str:
    return f"{moment:%a %b} {moment.day} at {moment:%H:%M}"


def test_a_newer_callback_moves_the_one_already_scheduled(client: TestClient, db: Session) -> None:
    world = World(db)  # noon where the contractor is; calls 08:00-20:00 every day
    tz = world.contractor.timezone
    zone = ZoneInfo(tz)

    _, said = _play(client, world, "I'm busy right now, call me back Thursday at 3pm")
    first = _pending(db, world)
    thursday = first.scheduled_for.astimezone(zone)
    assert (thursday.weekday(), thursday.hour) == (3, 15)
    assert f"on {thursday:%A, %B} {thursday.day} at 3 PM" in said

    call_id, said = _play(client, world, "Sure, call me back Friday at 4pm with the details")
    moved = _pending(db, world)
    friday = moved.scheduled_for.astimezone(zone)
    # The same schedule, at the time the agent promised: nothing left at Thursday.
    assert moved.id == first.id and moved.status == "scheduled"
    assert (friday.weekday(), friday.hour, friday.minute) == (4, 16, 0)
    assert f"We'll call you back on {friday:%A, %B} {friday.day} at 4 PM." in said
    text = _call_back_item(db, call_id)
    assert "not scheduled again" not in text
    assert f"was moved from {_short(thursday)} to {_short(friday)} ({tz})" in text
    assert f"asked to be called back on call {call_id}" in (moved.reason or "")
    assert "moved from" in (moved.reason or "")

    call_id, said = _play(client, world, "Can you call me back on the 10th?")
    tenth = _pending(db, world).scheduled_for.astimezone(zone)
    assert tenth.day == 10 and _pending(db, world).id == first.id
    today = dt.datetime.now(zone).date()
    if today.day != 10:  # "the 10th" said on the 10th is later today, not its opening
        # A day alone: the opening of the contractor's calling hours that day.
        assert (tenth.hour, tenth.minute) == (8, 0)
        assert f"on {tenth:%A, %B} {tenth.day}" in said
    text = _call_back_item(db, call_id)
    assert f"was moved from {_short(friday)} to {_short(tenth)} ({tz})" in text


def test_a_sellers_newer_callback_moves_the_lead_call_already_scheduled(db: Session) -> None:
    org = make_org(db)
    first = db.get(Call, _recorded_lead_call(db, org.id))
    assert first is not None and first.schedule_id is not None
    original = db.get(CallSchedule, first.schedule_id)
    assert original is not None
    # The first call ended with a call to the seller still scheduled (another lead event).
    original.status = ScheduleStatus.completed
    db.add(original)
    db.flush()
    now = utcnow()
    waiting = _plan(db, org.id, now + dt.timedelta(days=3))
    assert waiting.status == "scheduled"
    day = dt.datetime.now(ZoneInfo(DETROIT)).date() + dt.timedelta(days=7)
    if day.weekday() == 6:
        day += dt.timedelta(days=1)  # a lead is never called on a Sunday
    when = CallbackTime(day=day, clock="11:00", heard="call me back next week at 11")
    first.status = CallStatus.completed
    first.started_at = first.ended_at = now
    first.outcome_data = {"facts": LeadFacts(callback=True, callback_when=when).to_json()}
    db.add(first)
    db.flush()
    service.finalize_call(session=db, call=first, now=now)
    pending = db.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == org.id,
            col(CallSchedule.status).in_(["scheduled", "in_progress"]),
        )
    ).all()
    assert [s.id for s in pending] == [waiting.id]
    db.refresh(waiting)
    expected = dt.datetime.combine(day, dt.time(11), tzinfo=ZoneInfo(DETROIT))
    assert waiting.scheduled_for == expected
    assert waiting.details["callback_of"] == str(first.id)
    assert service.has_consent(waiting.details)
    text = _call_back_item(db, first.id)
    assert "was moved from" in text and f"to {_short(expected)} ({DETROIT})" in text


def test_the_site_visit_time_is_in_the_action_item_and_the_activity_summary(
    client: TestClient, db: Session
) -> None:
    world = World(db)  # noon where the contractor is
    tz = world.contractor.timezone
    response = world.initiate(client, purpose="scheduling")
    assert response.status_code == 201, response.text
    call_id = uuid.UUID(response.json()["call"]["id"])
    conversation = simulate_conversation(
        poster(client),
        call_id=call_id,
        says=["Site visit Monday at 10am works for me", "I could start on the 10th", "yes"],
        token=TOKEN,
        public_base_url=PUBLIC,
    )
    assert set(conversation.statuses) == {200}
    zone = ZoneInfo(tz)
    today = dt.datetime.now(zone).date()
    monday = today + dt.timedelta(days=(0 - today.weekday()) % 7 or 7)
    starts = dt.datetime.combine(monday, dt.time(10), tzinfo=zone).astimezone(dt.UTC)
    starts_text = starts.strftime("%Y-%m-%dT%H:%M:%SZ")

    (visit,) = [
        item
        for event in _events(db, "action.items.created", call_id)
        for item in event["items"]
        if item["kind"] == "site_visit"
    ]
    assert visit["text"].endswith(f"on {monday:%A, %B} {monday.day} at 10 AM ({tz})")
    assert visit["date"] == monday.isoformat()
    assert (visit["time"], visit["timezone"], visit["starts_at"]) == ("10:00", tz, starts_text)
    # The call keeps the same item (what GET /calls shows).
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    (kept,) = [i for i in call.outcome_data["action_items"] if i["kind"] == "site_visit"]
    assert kept["time"] == "10:00" and kept["starts_at"] == starts_text
    # The appointment event and the activity summary say the same moment.
    (appointment,) = [
        a for a in _events(db, "appointment.scheduled", call_id) if a["kind"] == "site_visit"
    ]
    assert appointment["starts_at"] == starts_text
    (responded,) = _events(db, "contractor.responded", call_id)
    assert (
        f"site visit on {monday:%A, %B} {monday.day} at 10 AM "
        f"({monday.isoformat()} 10:00 {tz})" in responded["summary"]
    )


def test_a_site_visit_without_a_clock_says_the_day_only() -> None:
    facts = CallFacts(site_visit="2026-12-01")
    context = service.CallContext(
        call_id=uuid.uuid4(),
        purpose=CallPurpose.scheduling,
        company="Acme",
        contractor_name="Bob",
        project_label="123 Qa St",
        scope=(),
        today=dt.date(2026, 11, 28),
        callback_number=None,
    )
    (item,) = service.action_items(facts, context, CallOutcome.availability_confirmed)
    assert item["text"] == "Bob visits 123 Qa St on Tuesday, December 1"
    assert (item["time"], item["timezone"], item["starts_at"]) == (None, None, None)
