"""A callback request on every kind of call: its day and time are never a start date.

QA found that on start-date and availability calls "I'm on a job right now, call me back
Friday" was recorded as a start on Friday (or today, from "right now"), the call going on as if
a start had been given. Now, on every call kind (and a seller lead's timeline and walkthrough):
no date is taken from the callback phrase or from "right now" / "today" said as why now is
bad; the call ends with the callback promised; and a real start said in the same breath ("I
can start on the 10th, but call me back at 9 to confirm") is still read and said back.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, select

from agent import call_graph
from cli.voice_commands import Conversation, simulate_conversation
from domain.voice.enums import CallPurpose
from domain.voice.extraction import extract, next_day_of_month
from domain.voice.lead import extract_lead
from domain.voice.models import Call, CallSchedule
from store.outbox import OutboxEvent
from tests.factories import override_settings
from tests.voice.helpers import PUBLIC, TOKEN, World, poster, voice_settings
from tests.voice.test_voice_call_graph import COMPLETIONS, CONTEXT, _completion

FRIDAY = dt.date(2026, 11, 27)  # the call date of CONTEXT
NEXT_FRIDAY = dt.date(2026, 12, 4)


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch)
    override_settings(monkeypatch, openai_api_key=None, llm_base_url=None)


# --- what is read ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "day", "clock"),
    [
        ("call me back at 9 tonight", FRIDAY, "21:00"),
        ("can you call me back tomorrow morning", dt.date(2026, 11, 28), "10:00"),
        ("I'm driving, call me Tuesday at 3", dt.date(2026, 12, 1), "15:00"),
        # "right now" is why now is bad: not the callback's day, not a start.
        ("I'm on a job right now, call me back Friday", NEXT_FRIDAY, None),
        ("I'm driving right now. Call me Thursday.", dt.date(2026, 12, 3), None),
        ("Busy right now, call me next week", dt.date(2026, 11, 30), None),
        ("I'm busy today, call me tomorrow", dt.date(2026, 11, 28), None),
        ("I can't start today, call me tomorrow", dt.date(2026, 11, 28), None),
        # "then" is the day said just before it.
        ("I'll be free tomorrow after 5, call me back then", dt.date(2026, 11, 28), "17:00"),
    ],
)
@pytest.mark.parametrize("expect", ["start_date", "duration", "site_visit", "confirm", None])
def test_a_callback_time_is_no_start_date_or_visit_whatever_was_asked(
    said: str, day: dt.date, clock: str | None, expect: str | None
) -> None:
    answer = extract(said, scope=CONTEXT.scope, today=FRIDAY, expect=expect)
    assert answer.callback
    assert answer.start_date is None and answer.start_heard is None
    assert answer.site_visit is None
    assert answer.callback_when is not None
    assert (answer.callback_when.day, answer.callback_when.clock) == (day, clock)


@pytest.mark.parametrize(
    ("said", "start", "clock"),
    [
        (
            "I can start on the 10th, but call me back at 9 to confirm",
            dt.date(2026, 12, 10),
            "09:00",
        ),
        ("call me back at 9, I can start on the 10th", dt.date(2026, 12, 10), "09:00"),
        ("I can start today, call me back later", FRIDAY, None),
        # A start word before the day keeps it the start; "then" has no day of its own.
        ("I start the 10th, call me back then", dt.date(2026, 12, 10), None),
    ],
)
def test_a_real_start_said_with_a_callback_is_still_read(
    said: str, start: dt.date, clock: str | None
) -> None:
    answer = extract(said, scope=CONTEXT.scope, today=FRIDAY, expect="start_date")
    assert answer.callback and answer.start_date == start
    assert (answer.callback_when.clock if answer.callback_when else None) == clock


@pytest.mark.parametrize("expect", ["timeline", "walkthrough", "interested"])
def test_a_sellers_busy_now_is_no_timeline_or_walkthrough(expect: str) -> None:
    answer = extract_lead("I'm at work right now, call me back Friday", today=FRIDAY, expect=expect)
    assert answer.callback
    assert answer.sell_by is None and answer.walkthrough_date is None
    assert answer.callback_when is not None and answer.callback_when.day == NEXT_FRIDAY


# --- the call graph, every contractor call kind ------------------------------------------

KINDS = [
    CallPurpose.start_date,
    CallPurpose.availability,
    CallPurpose.scheduling,
    CallPurpose.follow_up,
    CallPurpose.bid_request,
]


def _first_answer(purpose: CallPurpose, said: str) -> call_graph.AgentTurn:
    context = replace(CONTEXT, purpose=purpose)
    greeting = call_graph.greet(context)
    return call_graph.next_turn(
        context,
        utterance=said,
        facts=greeting.facts,
        dialogue=greeting.dialogue,
        expect=greeting.expect,
    )


@pytest.mark.parametrize("purpose", KINDS)
@pytest.mark.parametrize(
    ("said", "promise"),
    [
        ("I'm on a job right now, call me back Friday", "on Friday, December 4"),
        ("Busy right now, call me next week", "on Monday, November 30"),
        ("I'm driving, call me Tuesday at 3", "on Tuesday, December 1 at 3 PM"),
        ("I'll be free tomorrow, call me back then", "on Saturday, November 28"),
    ],
)
def test_a_callback_ends_every_kind_of_call_with_no_start_date(
    purpose: CallPurpose, said: str, promise: str
) -> None:
    turn = _first_answer(purpose, said)
    assert turn.done
    assert turn.text == f"Of course. We'll call you back {promise}. Goodbye."
    assert turn.facts["start_date"] is None and turn.facts["site_visit"] is None
    assert turn.facts["callback"] is True


@pytest.mark.parametrize("purpose", [p for p in KINDS if p != CallPurpose.scheduling])
def test_a_start_said_with_a_callback_is_kept_and_the_call_ends_with_the_promise(
    purpose: CallPurpose,
) -> None:
    turn = _first_answer(purpose, "I can start on the 10th, but call me back at 9 to confirm")
    assert turn.done
    assert turn.text == (
        "Of course. I have you down starting Thursday, December 10. "
        "We'll call you back at 9 AM. Goodbye."
    )
    assert turn.facts["start_date"] == "2026-12-10"
    assert turn.facts["heard"]["start_date"] == "the 10th"


def test_a_price_said_with_a_callback_still_goes_on_with_the_bid_call() -> None:
    turn = _first_answer(CallPurpose.bid_request, "roof's 11 grand, call me back if anything")
    assert not turn.done and turn.facts["line_prices"] == {"roof-id": "11000.00"}


@respx.mock
def test_with_a_model_the_callback_day_is_not_taken_for_a_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    override_settings(monkeypatch, openai_api_key=SecretStr("sk-test-not-real"))

    def answer(request: httpx.Request) -> httpx.Response:
        # The model reads the callback's Friday as the start (and as a site visit).
        content = json.dumps(
            {"start_date": NEXT_FRIDAY.isoformat(), "site_visit": NEXT_FRIDAY.isoformat()}
        )
        return httpx.Response(200, json=_completion(content))

    respx.post(COMPLETIONS).mock(side_effect=answer)
    turn = _first_answer(CallPurpose.start_date, "I'm on a job right now, call me back Friday")
    assert turn.done and turn.text.endswith("We'll call you back on Friday, December 4. Goodbye.")
    assert turn.facts["start_date"] is None and turn.facts["site_visit"] is None


# --- end to end: what the call stores, schedules and announces ---------------------------


def _local_today(world: World) -> dt.date:
    return dt.datetime.now(ZoneInfo(world.contractor.timezone)).date()


def _next_friday(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(4 - day.weekday() - 1) % 7 + 1)


def _play(client: TestClient, world: World, purpose: str, says: list[str]) -> tuple[Call, Any]:
    response = world.initiate(client, purpose=purpose)
    assert response.status_code == 201, response.text
    call_id = uuid.UUID(response.json()["call"]["id"])
    conversation: Conversation = simulate_conversation(
        poster(client), call_id=call_id, says=says, token=TOKEN, public_base_url=PUBLIC
    )
    assert set(conversation.statuses) == {200}
    call = world.db.get(Call, call_id)
    assert call is not None
    world.db.refresh(call)
    return call, conversation


def _events(db: Session, name: str, call: Call) -> list[dict[str, Any]]:
    rows = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.name == name, OutboxEvent.payload["call_id"].astext == str(call.id)
        )
    ).all()
    return [row.payload for row in rows]


def _scheduled(db: Session, world: World) -> CallSchedule:
    (schedule,) = db.exec(
        select(CallSchedule).where(
            CallSchedule.contractor_id == world.contractor.id, CallSchedule.status == "scheduled"
        )
    ).all()
    return schedule


@pytest.mark.parametrize("purpose", ["start_date", "availability"])
def test_a_callback_on_a_start_date_call_is_stored_as_a_callback_not_a_start(
    client: TestClient, db: Session, purpose: str
) -> None:
    world = World(db)  # noon where the contractor is; calls 08:00-20:00
    call, conversation = _play(
        client, world, purpose, ["I'm on a job right now, call me back Friday"]
    )
    friday = _next_friday(_local_today(world))
    said = [text for speaker, text in conversation.lines if speaker == "agent"][-1]
    assert conversation.hung_up
    # A day with no hour is promised as that day (its calling hours open it), not as "outside
    # the hours we may call".
    assert said == f"Of course. We'll call you back on {friday:%A, %B} {friday.day}. Goodbye."
    data = call.outcome_data or {}
    assert call.outcome == "callback_requested"
    assert data["facts"]["start_date"] is None and "start_date" not in data["facts"]["heard"]
    assert data["facts"]["callback_when"]["date"] == friday.isoformat()
    kinds = [item["kind"] for item in data["action_items"]]
    assert "call_back" in kinds and "confirm_start" not in kinds
    assert not any("can start" in str(item["text"]) for item in data["action_items"])
    # No event claims a start: no appointment, no agreed summary on the project's activity.
    assert _events(db, "appointment.scheduled", call) == []
    (responded,) = _events(db, "contractor.responded", call)
    assert responded["outcome"] == "callback_requested" and "summary" not in responded
    (completed,) = _events(db, "call.completed", call)
    assert completed["outcome"] == "callback_requested"
    schedule = _scheduled(db, world)
    zone = ZoneInfo(world.contractor.timezone)
    assert schedule.scheduled_for.astimezone(zone).date() == friday
    assert schedule.purpose == purpose


def test_a_start_and_a_callback_in_one_answer_keep_the_start_and_schedule_the_callback(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call, conversation = _play(
        client,
        world,
        "availability",
        ["I can start on the 10th, but call me back at 4 to confirm"],
    )
    start = next_day_of_month(10, _local_today(world))
    assert start is not None
    said = [text for speaker, text in conversation.lines if speaker == "agent"][-1]
    assert conversation.hung_up
    assert said.startswith(
        f"Of course. I have you down starting {start:%A, %B} {start.day}. We'll call you back"
    )
    assert "4 PM" in said
    data = call.outcome_data or {}
    assert call.outcome == "availability_confirmed"
    assert data["facts"]["start_date"] == start.isoformat()
    kinds = [item["kind"] for item in data["action_items"]]
    assert "confirm_start" in kinds and "call_back" in kinds
    (appointment,) = _events(db, "appointment.scheduled", call)
    assert appointment["date"] == start.isoformat() and appointment["heard"] == "the 10th"
    schedule = _scheduled(db, world)
    local = schedule.scheduled_for.astimezone(ZoneInfo(world.contractor.timezone))
    assert local.hour == 16
