"""Asked to be called back: the time said is read (not taken for a start date, a timeline or a
price), promised back in words, and a call is scheduled for it inside the callee's hours."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from agent.call_graph import lead_reply, template_reply
from cli.voice_commands import read_twiml
from domain.voice import hours, service
from domain.voice.extraction import CallbackTime, CallFacts, callback_promise, extract
from domain.voice.lead import LeadFacts, extract_lead
from domain.voice.models import Call, CallSchedule
from store.outbox import OutboxEvent
from tests.factories import make_org
from tests.voice.helpers import (
    PUBLIC,
    WEBHOOK,
    World,
    call_params,
    new_call_sid,
    post_signed,
    voice_settings,
)
from tests.voice.test_voice_lead_calls import DETROIT, _recorded_lead_call

SATURDAY = dt.date(2026, 11, 28)
DETROIT_ZONE = ZoneInfo(DETROIT)


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch)


# --- what was said ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "day", "clock", "minutes"),
    [
        ("Call me back Tuesday at 3", dt.date(2026, 12, 1), "15:00", None),
        ("Can you call me back tomorrow afternoon?", dt.date(2026, 11, 29), "14:00", None),
        ("I'm driving, call me back in an hour", None, None, 60),
        ("Call me back in half an hour please", None, None, 30),
        ("Bad time, try me Thursday", dt.date(2026, 12, 3), None, None),
        ("Call me tomorrow at 10:30 am", dt.date(2026, 11, 29), "10:30", None),
        ("Give me a call back on Monday morning", dt.date(2026, 11, 30), "10:00", None),
        ("Call me back at noon", None, "12:00", None),
    ],
)
def test_the_time_a_callback_is_asked_for_is_read(
    said: str, day: dt.date | None, clock: str | None, minutes: int | None
) -> None:
    answer = extract(said, today=SATURDAY, expect="prices")
    assert answer.callback
    assert answer.callback_when is not None
    assert (answer.callback_when.day, answer.callback_when.clock) == (day, clock)
    assert answer.callback_when.in_minutes == minutes
    # The callback's day and clock are not a start date, a site visit or a price.
    assert answer.start_date is None and answer.site_visit is None
    assert answer.total is None and answer.line_prices == ()


def test_a_callback_without_a_time_and_dates_outside_the_callback_phrase() -> None:
    plain = extract("Sorry, call me back", today=SATURDAY, expect="prices")
    assert plain.callback and plain.callback_when is None
    # The date belongs to the start, said in its own clause or sentence.
    start = extract("Call me back, I can start Monday", today=SATURDAY, expect="prices")
    assert start.callback and start.callback_when is None
    assert start.start_date == dt.date(2026, 11, 30)
    before = extract("I can start on the 5th. Call me later.", today=SATURDAY, expect="prices")
    assert before.start_date == dt.date(2026, 12, 5) and before.callback_when is None
    # A day more than two months out is not taken as a callback time.
    far = extract("Call me back in 6 months", today=SATURDAY, expect="prices")
    assert far.callback and far.callback_when is None
    # An opt-out is never a callback.
    out = extract("Don't call me again", today=SATURDAY, expect="prices")
    assert not out.callback and out.callback_when is None


@pytest.mark.parametrize("expect", ["timeline", "asking_price", "condition", "occupancy"])
def test_a_sellers_callback_time_is_not_a_timeline_a_price_or_a_condition(expect: str) -> None:
    answer = extract_lead("I'm at work, call me back Tuesday at 3", today=SATURDAY, expect=expect)
    assert answer.callback
    assert answer.callback_when == CallbackTime(
        day=dt.date(2026, 12, 1), clock="15:00", heard="call me back tuesday at 3"
    )
    assert answer.sell_by is None and answer.asking_price is None
    assert answer.condition is None and answer.occupancy is None
    # What else the seller said in the same breath is still read.
    leaks = extract_lead(
        "The roof leaks and the furnace is old. Call me back tomorrow",
        today=SATURDAY,
        expect="condition",
    )
    assert leaks.condition == "The roof leaks and the furnace is old"
    assert leaks.callback_when is not None and leaks.callback_when.day == dt.date(2026, 11, 29)
    both = extract_lead(
        "We want 120. Call me back tomorrow at 5 pm", today=SATURDAY, expect="asking_price"
    )
    assert both.asking_price is not None and int(both.asking_price) == 120_000
    assert both.callback_when is not None and both.callback_when.clock == "17:00"


def test_a_callback_time_is_kept_with_the_facts_and_junk_is_not_read_back() -> None:
    when = CallbackTime(day=dt.date(2026, 12, 1), clock="15:00", heard="tuesday at 3")
    facts = CallFacts(callback=True, callback_when=when)
    assert CallFacts.from_json(facts.to_json()) == facts
    lead = LeadFacts(callback=True, callback_when=when)
    assert LeadFacts.from_json(lead.to_json()) == lead
    # A later time said replaces an earlier one; an answer without one keeps it.
    later = facts.merge(extract("call me back Wednesday at 4 pm", today=SATURDAY))
    assert later.callback_when is not None and later.callback_when.day == dt.date(2026, 12, 2)
    assert later.merge(extract("yes", today=SATURDAY)).callback_when == later.callback_when
    for junk in (
        {"date": "not a date", "time": "25:00", "in_minutes": -5},
        {"time": "3pm"},
        {"in_minutes": 10_000},
        "tuesday",
        None,
    ):
        assert CallbackTime.from_json(junk) is None


def test_the_agent_promises_the_time_it_heard() -> None:
    when = CallbackTime(day=dt.date(2026, 12, 1), clock="15:00")
    assert callback_promise(when) == "We'll call you back on Tuesday, December 1 at 3 PM."
    assert callback_promise(CallbackTime(in_minutes=60)) == "We'll call you back in about an hour."
    assert callback_promise(CallbackTime(clock="10:30")) == "We'll call you back at 10:30 AM."
    assert callback_promise(None) == "We'll call you back another day."
    plan = {"kind": "goodbye_callback", "done": True}
    lead_text = lead_reply(plan, LeadFacts(callback=True, callback_when=when), {})
    assert lead_text == "Of course. We'll call you back on Tuesday, December 1 at 3 PM. Goodbye."
    assert "another day" in lead_reply(plan, LeadFacts(callback=True), {})
    context = {"contractor_name": "Sam", "scope": [], "project_label": "12 Oak St"}
    contractor_text = template_reply(plan, CallFacts(callback=True, callback_when=when), context)
    assert "on Tuesday, December 1 at 3 PM" in contractor_text


def test_a_time_outside_the_callees_hours_is_not_promised() -> None:
    lead = (hours.lead_window(DETROIT),)  # 09:00-20:00 Monday-Saturday
    now = _detroit(SATURDAY, 10)
    tuesday_three = CallbackTime(day=dt.date(2026, 12, 1), clock="15:00")
    assert callback_promise(tuesday_three, windows=lead, now=now) == (
        "We'll call you back on Tuesday, December 1 at 3 PM."
    )
    sunday = CallbackTime(day=dt.date(2026, 11, 29), clock="09:00")
    assert callback_promise(sunday, windows=lead, now=now) == (
        "That's outside the hours we may call, so we'll call you back on Monday, November 30 "
        "at 9 AM."
    )
    late = CallbackTime(day=dt.date(2026, 12, 1), clock="21:30")
    assert callback_promise(late, windows=lead, now=now).endswith(
        "on Wednesday, December 2 at 9 AM."
    )
    passed = CallbackTime(day=SATURDAY, clock="08:00")
    assert callback_promise(passed, windows=lead, now=now) == (
        "That time has passed, so we'll call you back on Saturday, November 28 at 10:05 AM."
    )
    # "Call me back today": later today, not at midnight (which had passed).
    today = CallbackTime(day=SATURDAY)
    assert callback_promise(today, windows=lead, now=now) == (
        "We'll call you back on Saturday, November 28."
    )
    slot = service.callback_slot(today, said_at=now, now=now, windows=lead)
    assert slot.when == now + hours.LATER_TODAY


# --- when the call is placed --------------------------------------------------------------


def _detroit(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=DETROIT_ZONE)


def test_the_asked_for_moment_on_the_callees_clock() -> None:
    said = _detroit(SATURDAY, 10)

    def moment(**when: object) -> dt.datetime | None:
        values: dict[str, object] = {"day": None, "clock": None, "in_minutes": None, **when}
        return hours.requested_moment(said_at=said, zone=DETROIT_ZONE, **values)  # type: ignore[arg-type]

    assert moment() is None
    assert moment(in_minutes=60) == said + dt.timedelta(hours=1)
    assert moment(day=dt.date(2026, 12, 1), clock=dt.time(15)) == _detroit(dt.date(2026, 12, 1), 15)
    # A day alone starts at midnight (the calling window opens it); a clock alone is today's,
    # or tomorrow's once it has passed.
    assert moment(day=dt.date(2026, 12, 1)) == _detroit(dt.date(2026, 12, 1), 0)
    assert moment(clock=dt.time(15)) == _detroit(SATURDAY, 15)
    assert moment(clock=dt.time(9)) == _detroit(dt.date(2026, 11, 29), 9)


def test_a_callback_slot_keeps_the_asked_time_inside_the_hours_and_says_why_not() -> None:
    lead = (hours.lead_window(DETROIT),)  # 09:00-20:00 Monday-Saturday
    now = _detroit(SATURDAY, 10)
    tuesday_three = _detroit(dt.date(2026, 12, 1), 15)
    kept = hours.callback_slot(tuesday_three, now=now, windows=lead)
    assert kept.when == tuesday_three
    assert kept.text == "Tue Dec 1 at 15:00 (America/Detroit)"
    # Sunday 09:00: no lead is called on a Sunday, so Monday 09:00, and the team is told why.
    sunday = hours.callback_slot(_detroit(dt.date(2026, 11, 29), 9), now=now, windows=lead)
    assert sunday.when == _detroit(dt.date(2026, 11, 30), 9)
    assert "they asked for Sun Nov 29 09:00, outside the calling hours" in sunday.text
    # 21:00 is after hours: the next morning.
    late = hours.callback_slot(_detroit(dt.date(2026, 12, 1), 21), now=now, windows=lead)
    assert late.when == _detroit(dt.date(2026, 12, 2), 9)
    # A moment already past (or within 5 minutes): 5 minutes from now.
    past = hours.callback_slot(now - dt.timedelta(hours=1), now=now, windows=lead)
    assert past.when == now + hours.CALLBACK_MIN_DELAY and "which had passed" in past.text
    # Nothing asked: a day later, inside the hours (Saturday 10:00 → Monday 09:00 for a lead).
    none = hours.callback_slot(None, now=now, windows=lead)
    assert none.when == _detroit(dt.date(2026, 11, 30), 9) and none.asked is None


# --- end to end through the signed webhooks -----------------------------------------------


def _say(client: TestClient, call_id: uuid.UUID, sid: str, turn: int, speech: str) -> str:
    response = post_signed(
        client,
        f"{PUBLIC}{WEBHOOK}/{call_id}/gather?turn={turn}",
        call_params(sid, CallStatus="in-progress", SpeechResult=speech, Confidence="0.9"),
    )
    assert response.status_code == 200, response.text
    return str(response.text)


def _answer(client: TestClient, call_id: uuid.UUID, sid: str) -> None:
    response = post_signed(
        client,
        f"{PUBLIC}{WEBHOOK}/{call_id}/answer",
        call_params(sid, CallStatus="in-progress", AnsweredBy="human"),
    )
    assert response.status_code == 200, response.text


def _action_items(db: Session, call_id: uuid.UUID) -> list[dict[str, object]]:
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.name == "action.items.created")
        .order_by(col(OutboxEvent.created_at))
    ).all()
    return [
        item
        for row in rows
        if row.payload["call_id"] == str(call_id)
        for item in row.payload["items"]
    ]


def test_a_contractor_is_called_back_at_the_time_they_asked_for(
    client: TestClient, db: Session
) -> None:
    world = World(db)  # it is noon where the contractor is; calls 08:00-20:00 every day
    response = world.initiate(client)
    assert response.status_code == 201, response.text
    call_id = uuid.UUID(response.json()["call"]["id"])
    sid = new_call_sid()
    _answer(client, call_id, sid)
    turn = read_twiml(_say(client, call_id, sid, 1, "I'm on a roof, call me back tomorrow at 2 pm"))
    zone = ZoneInfo(world.contractor.timezone)
    tomorrow = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    assert turn.hangup
    assert turn.says[0] == (
        f"Of course. We'll call you back on {tomorrow:%A, %B} {tomorrow.day} at 2 PM. Goodbye."
    )
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    assert call.outcome == "callback_requested" and call.bid_id is None
    (schedule,) = db.exec(
        select(CallSchedule).where(
            CallSchedule.contractor_id == world.contractor.id, CallSchedule.status == "scheduled"
        )
    ).all()
    assert schedule.scheduled_for == dt.datetime.combine(tomorrow, dt.time(14), tzinfo=zone)
    assert schedule.project_id == world.project.id and schedule.purpose == "bid_request"
    assert f"asked to be called back on call {call_id}" in (schedule.reason or "")
    assert "tomorrow at 2 pm" in (schedule.reason or "")
    (item,) = [i for i in _action_items(db, call_id) if i["kind"] == "call_back"]
    assert f"the agent calls back {tomorrow:%a %b} {tomorrow.day} at 14:00" in str(item["text"])


def test_a_seller_is_called_back_when_they_asked_with_the_consent_they_gave(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    call_id = _recorded_lead_call(db, org.id)
    first = db.get(Call, call_id)
    assert first is not None and first.schedule_id is not None
    sid = new_call_sid()
    _answer(client, call_id, sid)
    turn = read_twiml(_say(client, call_id, sid, 1, "I'm at work, call me back tomorrow at 5 pm"))
    today = dt.datetime.now(DETROIT_ZONE).date()
    tomorrow = today + dt.timedelta(days=1)
    # A lead is never called on a Sunday: the agent promises the time the call will really be.
    monday = tomorrow + dt.timedelta(days=1)
    promised = (
        "That's outside the hours we may call, so we'll call you back on "
        f"{monday:%A, %B} {monday.day} at 9 AM."
        if tomorrow.weekday() == 6
        else f"We'll call you back on {tomorrow:%A, %B} {tomorrow.day} at 5 PM."
    )
    assert turn.hangup and turn.says[0] == f"Of course. {promised} Goodbye."
    db.refresh(first)
    assert first.outcome == "callback_requested"
    again = db.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == org.id,
            CallSchedule.purpose == "lead_qualification",
            CallSchedule.status == "scheduled",
        )
    ).one()
    # A lead is never called on a Sunday: tomorrow at 17:00, or Monday at 09:00.
    expected = (
        _detroit(tomorrow + dt.timedelta(days=1), 9)
        if tomorrow.weekday() == 6
        else _detroit(tomorrow, 17)
    )
    assert again.scheduled_for == expected
    assert again.to_number == first.to_number == "+13135550142"
    original = db.get(CallSchedule, first.schedule_id)
    assert original is not None and original.status == "completed"
    # The consent, the lead and the address travel with it; the dispatcher checks them again.
    assert again.details["consent_source"] == "web form 2026-11-20"
    assert again.details["lead_id"] == "L-42" and again.details["callback_of"] == str(call_id)
    assert service.has_consent(again.details)
    (item,) = [i for i in _action_items(db, call_id) if i["kind"] == "call_back"]
    assert "asked to be called back: the agent calls back" in str(item["text"])
    # It is placed when due, like the first call.
    placed = service.claim_due_schedules(session=db, now=expected + dt.timedelta(minutes=1))
    assert [c.schedule_id for c in placed] == [again.id]
    assert placed[0].purpose == "lead_qualification" and placed[0].to_number == "+13135550142"


def test_a_seller_on_the_do_not_call_list_is_not_called_back(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    call_id = _recorded_lead_call(db, org.id)
    call = db.get(Call, call_id)
    assert call is not None and call.to_number is not None
    # Listed by the team while the call was on (another channel's opt-out, say).
    service.mark_number_opted_out(
        session=db, org_id=org.id, phone_number=call.to_number, reason="asked by text"
    )
    sid = new_call_sid()
    _answer(client, call_id, sid)
    _say(client, call_id, sid, 1, "Bad time, call me back Monday")
    pending = db.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == org.id,
            col(CallSchedule.status).in_(["scheduled", "in_progress"]),
        )
    ).all()
    assert pending == []
    (item,) = [i for i in _action_items(db, call_id) if i["kind"] == "call_back"]
    assert "not scheduled: the number is on the do-not-call list" in str(item["text"])
