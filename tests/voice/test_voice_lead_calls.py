"""Seller lead-qualification calls: placed only with consent, in the lead's hours, never after an
opt-out; the conversation through the real (signed) webhooks; answers, events and retries."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, col, select

from channels import voice as voice_channel
from cli.voice_commands import read_twiml, simulate_conversation
from domain.auth.enums import Role
from domain.voice import hours, service
from domain.voice.lead import extract_lead, house_price, sell_timeline
from domain.voice.models import Call, CallSchedule, CallTranscript, DoNotCall
from domain.voice.subscribers import on_lead_qualification_needed
from domain.whatsapp.models import Message
from store.base import utcnow
from store.events import Event
from store.outbox import OutboxEvent, publish
from tests.factories import auth_headers, make_org, make_user, override_settings
from tests.voice.helpers import (
    PUBLIC,
    TOKEN,
    WEBHOOK,
    call_params,
    new_call_sid,
    post_signed,
    poster,
    voice_settings,
)

ACCOUNT = "AC" + "2" * 32
CALLS_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
DETROIT = "America/Detroit"
# Wednesday 2 December 2026, 12:00 in Detroit (EST, UTC-5): inside a lead's hours.
WEDNESDAY_NOON = dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.UTC)
ADDRESS = "123 Main St, Detroit, MI 48215"


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch)


@pytest.fixture
def twilio_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twilio credentials and a calling number: calls go to Twilio's REST API (respx)."""
    override_settings(
        monkeypatch,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=SecretStr(TOKEN),
        twilio_voice_from="+13135550199",
    )


def _payload(**extra: Any) -> dict[str, Any]:
    return {
        "lead_id": "L-42",
        "name": "Pat Seller",
        "phone": "(313) 555-0142",
        "address": ADDRESS,
        "consent_to_call": True,
        "consent_source": "web form 2026-11-20",
        "timezone": DETROIT,
        **extra,
    }


def _plan(db: Session, org_id: uuid.UUID, now: dt.datetime, **payload: Any) -> CallSchedule:
    return service.plan_lead_call(
        session=db,
        org_id=org_id,
        payload=_payload(**payload),
        source_event_id=uuid.uuid4(),
        now=now,
    )


def _events(db: Session, name: str) -> list[dict[str, Any]]:
    rows = db.exec(
        select(OutboxEvent).where(OutboxEvent.name == name).order_by(col(OutboxEvent.created_at))
    ).all()
    return [row.payload for row in rows]


def _queued_lead_call(db: Session, org_id: uuid.UUID, now: dt.datetime) -> Call:
    """A consented lead scheduled and claimed by the dispatcher (queued, not yet placed)."""
    schedule = _plan(db, org_id, now)
    assert schedule.status == "scheduled"
    (call,) = service.claim_due_schedules(session=db, now=now)
    assert call.schedule_id == schedule.id
    return call


def _recorded_lead_call(db: Session, org_id: uuid.UUID) -> uuid.UUID:
    """A lead call claimed now and recorded in the outbox (no Twilio), ready to be played.

    The lead's time zone is the one where it is noon now on a weekday when there is one;
    ``ignore_hours`` is not needed: the webhooks do not check hours (the call is live).
    """
    now = utcnow()
    call = _queued_lead_call(db, org_id, _in_hours(now))
    outcome = voice_channel.place(db, call, now=_in_hours(now))
    assert outcome == "recorded"
    db.flush()
    return call.id


def _in_hours(now: dt.datetime) -> dt.datetime:
    """``now`` if it is within Detroit's lead hours, else the next opening (for placing)."""
    return hours.next_allowed(now, hours.lead_window(DETROIT))


def _local_today() -> dt.date:
    return dt.datetime.now(ZoneInfo(DETROIT)).date()


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _say(client: TestClient, call_id: uuid.UUID, sid: str, turn: int, speech: str) -> Any:
    return post_signed(
        client,
        f"{PUBLIC}{WEBHOOK}/{call_id}/gather?turn={turn}",
        call_params(sid, CallStatus="in-progress", SpeechResult=speech, Confidence="0.9"),
    )


def _answer(client: TestClient, call_id: uuid.UUID, sid: str, answered_by: str = "human") -> Any:
    return post_signed(
        client,
        f"{PUBLIC}{WEBHOOK}/{call_id}/answer",
        call_params(sid, CallStatus="in-progress", AnsweredBy=answered_by),
    )


# --- scheduling: consent, hours, one pending call per number ------------------------------


@respx.mock
def test_a_consented_lead_is_scheduled_now_and_placed_by_the_dispatcher(
    db: Session, twilio_account: None
) -> None:
    org = make_org(db)
    sid = new_call_sid()
    route = respx.post(CALLS_URL).mock(
        return_value=httpx.Response(
            201, json={"sid": sid, "status": "queued", "account_sid": ACCOUNT}
        )
    )
    before = utcnow()
    event_id = publish(db, org_id=org.id, name="lead.qualification.needed", payload=_payload())
    event = Event(
        id=event_id,
        org_id=org.id,
        name="lead.qualification.needed",
        payload=_payload(),
        created_at=before,
    )
    on_lead_qualification_needed(db, event)
    on_lead_qualification_needed(db, event)  # delivered twice: one schedule
    (schedule,) = db.exec(select(CallSchedule).where(CallSchedule.source_event_id == event_id))
    assert (schedule.purpose, schedule.status, schedule.to_number) == (
        "lead_qualification",
        "scheduled",
        "+13135550142",
    )
    assert schedule.details["consent_source"] == "web form 2026-11-20"
    # Due now when it is within the lead's hours in Detroit, else at their next opening.
    window = hours.lead_window(DETROIT)
    due = schedule.scheduled_for
    assert hours.is_allowed(due, window)
    assert before <= due <= hours.next_allowed(before, window) + dt.timedelta(seconds=30)
    assert (schedule.reason is None) == hours.is_allowed(before, window)
    assert _events(db, "action.items.created") == []  # nothing for the team to do yet

    (call,) = service.claim_due_schedules(session=db, now=due)
    assert (call.to_number, call.purpose, call.contractor_id) == (
        "+13135550142",
        "lead_qualification",
        None,
    )
    assert voice_channel.place(db, call, now=due) == "placed"
    assert (call.call_sid, schedule.status) == (sid, "in_progress")
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["To"] == ["+13135550142"]
    assert form["Url"] == [f"{PUBLIC}{WEBHOOK}/{call.id}/answer"]
    assert form["MachineDetection"] == ["DetectMessageEnd"]


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"consent_to_call": None, "consent_source": None}, "no consent at all"),
        ({"consent_to_call": False}, "consent refused"),
        ({"consent_to_call": "true"}, "consent not a JSON true"),
        ({"consent_source": "  "}, "no source recorded with the consent"),
        ({"consent_source": None}, "no source recorded with the consent"),
    ],
)
@respx.mock
def test_without_recorded_consent_the_lead_is_left_to_the_team_and_never_dialled(
    db: Session, twilio_account: None, payload: dict[str, Any], why: str
) -> None:
    org = make_org(db)
    route = respx.post(CALLS_URL).mock(return_value=httpx.Response(201, json={}))
    schedule = _plan(db, org.id, WEDNESDAY_NOON, **payload)
    assert schedule.status == "for_team", why
    assert "no prior express consent" in (schedule.reason or "")
    assert service.claim_due_schedules(session=db, now=WEDNESDAY_NOON + dt.timedelta(days=2)) == []
    assert not route.called
    (created,) = _events(db, "action.items.created")
    (item,) = created["items"]
    assert item["kind"] == "call_lead" and item["reason"] == "no_consent"
    assert item["text"].startswith("Call the lead Pat Seller at +13135550142 about 123 Main St")
    assert "did not call because no consent to automated calls was recorded" in item["text"]


@pytest.mark.parametrize(
    ("now", "zone", "expected_local"),
    [
        # Wednesday 07:30 in Detroit: later the same morning.
        (dt.datetime(2026, 12, 2, 12, 30, tzinfo=dt.UTC), DETROIT, dt.datetime(2026, 12, 2, 9)),
        # Wednesday 20:00 in Detroit (the end is exclusive): Thursday 09:00.
        (dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC), DETROIT, dt.datetime(2026, 12, 3, 9)),
        # Saturday 21:00 in Detroit: never on Sunday, so Monday 09:00.
        (dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC), DETROIT, dt.datetime(2026, 12, 7, 9)),
        # Sunday noon in Los Angeles (the payload's zone): Monday 09:00 there.
        (
            dt.datetime(2026, 12, 6, 20, 0, tzinfo=dt.UTC),
            "America/Los_Angeles",
            dt.datetime(2026, 12, 7, 9),
        ),
        # An unknown zone: the company default (Detroit); Sunday 10:00 there → Monday 09:00.
        (
            dt.datetime(2026, 12, 6, 15, 0, tzinfo=dt.UTC),
            "Mars/Olympus",
            dt.datetime(2026, 12, 7, 9),
        ),
    ],
)
def test_outside_the_leads_hours_the_call_is_due_at_the_next_nine_oclock(
    db: Session, now: dt.datetime, zone: str, expected_local: dt.datetime
) -> None:
    org = make_org(db)
    schedule = _plan(db, org.id, now, timezone=zone)
    used = zone if zone != "Mars/Olympus" else DETROIT
    assert schedule.status == "scheduled"
    assert schedule.scheduled_for == expected_local.replace(tzinfo=ZoneInfo(used))
    assert "outside the lead's calling hours (09:00-20:00 Mon-Sat" in (schedule.reason or "")
    assert service.claim_due_schedules(session=db, now=now) == []
    (call,) = service.claim_due_schedules(session=db, now=schedule.scheduled_for)
    assert call.schedule_id == schedule.id


def test_one_pending_lead_call_per_number(db: Session) -> None:
    org = make_org(db)
    first = _plan(db, org.id, WEDNESDAY_NOON)
    second = _plan(db, org.id, WEDNESDAY_NOON, phone="+1 313 555 0142", lead_id="L-43")
    assert first.status == "scheduled"
    assert second.status == "cancelled"
    assert f"already scheduled (schedule {first.id})" in (second.reason or "")
    other = make_org(db)  # another organisation may call the same number
    assert _plan(db, other.id, WEDNESDAY_NOON).status == "scheduled"
    assert len(service.claim_due_schedules(session=db, now=WEDNESDAY_NOON)) == 2


# --- right before dialling ----------------------------------------------------------------


@respx.mock
def test_an_opt_out_or_the_hours_are_checked_again_right_before_dialling(
    db: Session, twilio_account: None
) -> None:
    org = make_org(db)
    route = respx.post(CALLS_URL).mock(return_value=httpx.Response(201, json={}))
    call = _queued_lead_call(db, org.id, WEDNESDAY_NOON)
    # The job runs late: 21:00 in Detroit. Not placed; moved to Thursday 09:00.
    late = WEDNESDAY_NOON + dt.timedelta(hours=9)
    assert voice_channel.place(db, call, now=late) == "rescheduled"
    schedule = db.get(CallSchedule, call.schedule_id)
    assert schedule is not None and schedule.status == "scheduled"
    assert schedule.scheduled_for == dt.datetime(2026, 12, 3, 9, tzinfo=ZoneInfo(DETROIT))
    assert call.status == "canceled" and "for the lead" in (call.note or "")
    # Claimed again in hours, but the number opted out in the meantime: cancelled, not dialled.
    (again,) = service.claim_due_schedules(session=db, now=schedule.scheduled_for)
    service.mark_number_opted_out(
        session=db, org_id=org.id, phone_number="+13135550142", reason="asked by text"
    )
    assert voice_channel.place(db, again, now=schedule.scheduled_for) == "cancelled"
    assert schedule.status == "cancelled" and "do-not-call" in (schedule.reason or "")
    assert not route.called


# --- the conversation ---------------------------------------------------------------------


def test_a_lead_call_takes_the_answers_and_publishes_them(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    voice_settings(monkeypatch, voice_record_calls=True)
    org = make_org(db)
    call_id = _recorded_lead_call(db, org.id)
    conversation = simulate_conversation(
        poster(client),
        call_id=call_id,
        says=[
            "Yes, I still want to sell",
            "in two months",
            "one twenty",
            "it needs a new roof and the furnace is old",
            "there's a tenant in it",
            "next Thursday at three pm",
            "yes that's right",
        ],
        token=TOKEN,
        public_base_url=PUBLIC,
    )
    assert set(conversation.statuses) == {200} and conversation.hung_up
    spoken = [text for speaker, text in conversation.lines if speaker == "agent"]
    greeting = spoken[0]
    assert f"this is the automated assistant of {org.name}" in greeting
    assert f"calling about {ADDRESS}, which you asked us about selling" in greeting
    assert "This call may be recorded." in greeting
    assert greeting.endswith("Are you still interested in selling?")
    assert spoken[1:6] == [
        "When would you like to have it sold?",
        "What price are you hoping to get for it?",
        "What condition is the house in? Does it need any repairs?",
        "Does anyone live there now: you, a tenant, or is it vacant?",
        "When would be a good time for us to come walk through the house?",
    ]
    today = _local_today()
    sell_by = _add_months(today, 2)
    thursday = today + dt.timedelta(days=(3 - today.weekday() - 1) % 7 + 1)
    assert spoken[6] == (
        "Let me confirm what I have: you'd like to sell within 2 months; asking $120,000; "
        "condition: it needs a new roof and the furnace is old; the house is tenant-occupied; "
        f"a walkthrough on {thursday:%A, %B} {thursday.day} at 15:00. Is that right?"
    )
    assert spoken[7].endswith("Goodbye.")

    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    answers = {
        "interested": True,
        "sell_by": sell_by.isoformat(),
        "timeline": "in 2 months",
        "asking_price": "120000.00",
        "condition": "it needs a new roof and the furnace is old",
        "occupancy": "tenant",
        "walkthrough_date": thursday.isoformat(),
        "walkthrough_time": "15:00",
    }
    assert (call.status, call.outcome) == ("completed", "qualified")
    assert call.outcome_data["answers"] == answers
    schedule = db.get(CallSchedule, call.schedule_id)
    assert schedule is not None and schedule.status == "completed"

    (completed,) = _events(db, "call.completed")
    assert completed["answers"] == answers
    assert "to_number" not in completed and "+13135550142" not in str(completed)
    assert (completed["purpose"], completed["outcome"], completed["lead_id"]) == (
        "lead_qualification",
        "qualified",
        "L-42",
    )
    (appointment,) = _events(db, "appointment.scheduled")
    assert {k: appointment[k] for k in ("kind", "date", "time", "timezone", "lead_id")} == {
        "kind": "walkthrough",
        "date": thursday.isoformat(),
        "time": "15:00",
        "timezone": DETROIT,
        "lead_id": "L-42",
    }
    assert appointment["call_id"] == str(call_id) and appointment["address"] == ADDRESS
    (actions,) = _events(db, "action.items.created")
    summary, walkthrough = actions["items"]
    assert summary["kind"] == "qualified_lead"
    assert summary["text"] == (
        f"Seller of {ADDRESS}: asking $120,000, wants to sell within 2 months, tenant-occupied, "
        "condition: it needs a new roof and the furnace is old, "
        f"walkthrough {thursday.isoformat()} 15:00"
    )
    assert walkthrough["kind"] == "walkthrough" and walkthrough["date"] == thursday.isoformat()
    assert actions["lead_id"] == "L-42" and actions["call_id"] == str(call_id)
    assert _events(db, "contractor.responded") == []


def test_a_lead_no_longer_selling_ends_the_call_politely(client: TestClient, db: Session) -> None:
    org = make_org(db)
    call_id = _recorded_lead_call(db, org.id)
    conversation = simulate_conversation(
        poster(client),
        call_id=call_id,
        says=["No, we decided to keep the house", "this is never said"],
        token=TOKEN,
        public_base_url=PUBLIC,
    )
    assert conversation.hung_up
    spoken = [text for speaker, text in conversation.lines if speaker == "agent"]
    assert len(spoken) == 2 and spoken[1].startswith("No problem, thanks for letting us know")
    said = [text for speaker, text in conversation.lines if speaker == "contractor"]
    assert said == ["No, we decided to keep the house"]
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    assert call.outcome == "declined"
    # The transcript names the seller as the lead (not as a contractor).
    rows = db.exec(
        select(CallTranscript)
        .where(CallTranscript.call_id == call_id)
        .order_by(col(CallTranscript.turn))
    ).all()
    assert [(r.speaker, r.text) for r in rows][:2] == [
        ("agent", rows[0].text),
        ("lead", "No, we decided to keep the house"),
    ]
    assert call.outcome_data["answers"]["interested"] is False
    assert _events(db, "appointment.scheduled") == []
    (actions,) = _events(db, "action.items.created")
    assert [item["kind"] for item in actions["items"]] == ["lead_not_selling"]


def test_a_lead_who_opts_out_is_never_called_again(client: TestClient, db: Session) -> None:
    org = make_org(db)
    call_id = _recorded_lead_call(db, org.id)
    sid = new_call_sid()
    assert _answer(client, call_id, sid).status_code == 200
    reply = _say(client, call_id, sid, 1, "Take me off your list and don't call me again")
    turn = read_twiml(reply.text)
    assert turn.hangup and "won't call you again" in turn.says[0]
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    assert call.outcome == "opted_out"
    (listed,) = db.exec(select(DoNotCall).where(DoNotCall.org_id == org.id)).all()
    assert listed.phone_number == "+13135550142" and listed.call_id == call_id
    assert "take me off your list" in listed.reason.lower()
    # A new request for the same seller, consent and all, is refused and never dialled.
    later = _plan(db, org.id, WEDNESDAY_NOON + dt.timedelta(days=7), phone="313-555-0142")
    assert later.status == "cancelled" and "do-not-call list" in (later.reason or "")
    assert service.claim_due_schedules(session=db, now=WEDNESDAY_NOON + dt.timedelta(days=8)) == []
    kinds = [
        item["kind"] for event in _events(db, "action.items.created") for item in event["items"]
    ]
    assert kinds == ["lead_opted_out", "lead_opted_out"]


def test_replayed_and_forged_webhooks_are_refused_on_a_lead_call(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    call_id = _recorded_lead_call(db, org.id)
    sid = new_call_sid()
    url = f"{PUBLIC}{WEBHOOK}/{call_id}/answer"
    params = call_params(sid, CallStatus="in-progress", AnsweredBy="human")
    assert client.post(url[len(PUBLIC) :], data=params).status_code == 403
    assert post_signed(client, url, params, token="forged").status_code == 403
    greeting = _answer(client, call_id, sid)
    assert greeting.status_code == 200
    assert _answer(client, call_id, sid).text == greeting.text  # a replay: same TwiML
    first = _say(client, call_id, sid, 1, "yes")
    assert first.status_code == 200 and "When would you like to have it sold?" in first.text
    assert _say(client, call_id, sid, 1, "no, not interested").text == first.text
    assert _say(client, call_id, new_call_sid(), 3, "in a month").status_code == 403
    assert _say(client, call_id, sid, 9, "in a month").status_code == 409
    rows = db.exec(select(CallTranscript).where(CallTranscript.call_id == call_id)).all()
    assert len(rows) == 3  # greeting, "yes", the timeline question


# --- voicemail and retries ----------------------------------------------------------------


def test_a_lead_voicemail_leaves_the_callback_number_and_sends_no_text(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    call_id = _recorded_lead_call(db, org.id)
    sid = new_call_sid()
    turn = read_twiml(_answer(client, call_id, sid, answered_by="machine_end_beep").text)
    assert turn.hangup
    assert "calling about 123 Main St" in turn.says[0]
    assert "call us back at 3 1 3, 5 5 5, 0 1 9 9" in turn.says[0]
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    assert call.outcome == "voicemail"
    assert "whatsapp_followup" not in call.outcome_data
    assert db.exec(select(Message)).all() == []
    (actions,) = _events(db, "action.items.created")
    assert [item["kind"] for item in actions["items"]] == ["await_reply"]


def test_an_unanswered_lead_call_is_retried_in_the_leads_hours_then_given_up(
    db: Session,
) -> None:
    org = make_org(db)
    call = _queued_lead_call(db, org.id, WEDNESDAY_NOON)
    service.mark_placed(session=db, call=call, call_sid=new_call_sid(), status="ringing")
    schedule = service.record_status(session=db, call=call, status="no-answer", now=WEDNESDAY_NOON)
    assert schedule is not None and schedule.status == "scheduled"
    assert schedule.scheduled_for == WEDNESDAY_NOON + dt.timedelta(minutes=30)
    # The second try is not answered at 19:50 local: the retry waits for Thursday 09:00.
    evening = dt.datetime(2026, 12, 3, 0, 50, tzinfo=dt.UTC)
    (second,) = service.claim_due_schedules(session=db, now=evening)
    service.mark_placed(session=db, call=second, call_sid=new_call_sid(), status="ringing")
    service.record_status(session=db, call=second, status="busy", now=evening)
    assert schedule.scheduled_for == dt.datetime(2026, 12, 3, 9, tzinfo=ZoneInfo(DETROIT))
    (third,) = service.claim_due_schedules(session=db, now=schedule.scheduled_for)
    service.mark_placed(session=db, call=third, call_sid=new_call_sid(), status="ringing")
    service.record_status(session=db, call=third, status="no-answer", now=schedule.scheduled_for)
    assert schedule.status == "failed" and "giving up" in (schedule.reason or "")
    assert [e["will_retry"] for e in _events(db, "call.completed")] == [True, True, False]


def test_the_availability_endpoint_shows_a_scheduled_lead_call(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, Role.analyst)
    schedule = _plan(db, org.id, dt.datetime(2026, 12, 6, 15, 0, tzinfo=dt.UTC))
    body = client.get("/api/v1/agents/availability", headers=auth_headers(db, analyst)).json()
    (upcoming,) = body["upcoming"]
    assert upcoming["id"] == str(schedule.id) and upcoming["purpose"] == "lead_qualification"
    assert upcoming["to_number"] == "+13135550142"


# --- reading a seller's answers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "price"),
    [
        ("one twenty", "120000"),
        ("$120k", "120000"),
        ("a hundred and twenty thousand", "120000"),
        ("about one twenty five", "125000"),
        ("I'd take 95", "95000"),
        ("two hundred fifty thousand dollars", "250000"),
        ("$89,900", "89900"),
        # What is owed is not the price: the figure after the price word is.
        ("I owe 50, want 120", "120000"),
        ("we still owe about 80 thousand on it, hoping to get 140 thousand", "140000"),
        # Speech recognition ends sentences with a period or a comma after the figure.
        ("We want 120.", "120000"),
        ("About one twenty five.", "125000"),
        ("Maybe 95, if you close fast", "95000"),
    ],
)
def test_house_prices_are_read_the_way_sellers_say_them(said: str, price: str) -> None:
    found = house_price(said, price_asked=True)
    assert found is not None and found[0] == Decimal(price)


def test_a_price_said_to_another_question_is_read_right_after_a_price_word() -> None:
    assert house_price("We want 120.", price_asked=False) == (Decimal("120000.00"), "120")
    assert house_price("I'd take one twenty five", price_asked=False) is not None
    assert house_price("I want to sell in 2 months", price_asked=False) is None
    assert house_price("we want 30 days to move out", price_asked=False) is None
    assert house_price("we have 120 days", price_asked=False) is None  # no price word


def test_no_thanks_ends_the_interest_only_when_asked_about_selling() -> None:
    today = dt.date(2026, 11, 28)
    assert extract_lead("No thanks", today=today, expect="interested").interested is False
    walkthrough = extract_lead("No thanks", today=today, expect="walkthrough")
    assert walkthrough.interested is None and walkthrough.walkthrough_date is None
    # Saying they are not selling ends it whatever was asked.
    sold = extract_lead("Actually we already sold it", today=today, expect="walkthrough")
    assert sold.interested is False


def test_a_number_that_is_no_house_price_is_not_one() -> None:
    assert house_price("one twenty", price_asked=False) is None  # not asked: not money
    assert house_price("I need 3 weeks", price_asked=True) is None
    assert house_price("call me at 5 pm", price_asked=True) is None


def test_timelines_become_dates() -> None:
    today = dt.date(2026, 11, 28)
    assert sell_timeline("in two months", today=today) == (dt.date(2027, 1, 28), "in 2 months")
    assert sell_timeline("by spring", today=today) == (dt.date(2027, 3, 1), "by spring")
    assert sell_timeline("March 3rd", today=today) == (dt.date(2027, 3, 3), "march 3rd")
    assert sell_timeline("before the end of the year", today=today) == (
        dt.date(2026, 12, 31),
        "end of the year",
    )
    assert sell_timeline("not sure yet", today=today) is None


@pytest.mark.parametrize(
    ("said", "occupancy"),
    [
        ("there's a tenant, pays 900 a month", "tenant"),
        ("it's vacant right now", "vacant"),
        ("I live there with my family", "owner_occupied"),
        ("hmm, not sure", None),
    ],
)
def test_occupancy_is_one_of_three(said: str, occupancy: str | None) -> None:
    answer = extract_lead(said, today=dt.date(2026, 11, 28), expect="occupancy")
    assert answer.occupancy == occupancy


def test_a_walkthrough_time_and_an_opt_out_are_heard() -> None:
    today = dt.date(2026, 11, 28)  # a Saturday
    answer = extract_lead("next Thursday at three pm", today=today, expect="walkthrough")
    assert (answer.walkthrough_date, answer.walkthrough_time) == (dt.date(2026, 12, 3), "15:00")
    assert extract_lead("take me off your list", today=today, expect="timeline").opted_out


# --- the API: the team (or its CRM) submits a lead ------------------------------------------


def test_the_team_submits_leads_through_the_api_and_sees_the_schedules(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    headers = auth_headers(db, analyst)
    body = {
        "phone": "(313) 555-0142",
        "address": ADDRESS,
        "name": "Pat Seller",
        "lead_id": "L-42",
        "timezone": DETROIT,
        "consent_to_call": True,
        "consent_source": "web form 2026-11-20",
    }
    consented = client.post("/api/v1/calls/leads", json=body, headers=headers)
    assert consented.status_code == 201, consented.text
    scheduled = consented.json()
    assert (scheduled["purpose"], scheduled["status"], scheduled["to_number"]) == (
        "lead_qualification",
        "scheduled",
        "+13135550142",
    )
    # The event is on record, and the voice subscriber finds the call already planned.
    (event,) = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org.id, OutboxEvent.name == "lead.qualification.needed"
        )
    ).all()
    assert event.payload["consent_source"] == "web form 2026-11-20"
    on_lead_qualification_needed(
        db, Event(id=event.id, name=event.name, org_id=org.id, payload=event.payload)
    )
    assert len(db.exec(select(CallSchedule).where(CallSchedule.org_id == org.id)).all()) == 1

    # The same number again while that call is pending: recorded, not scheduled twice.
    again = client.post("/api/v1/calls/leads", json=body, headers=headers).json()
    assert again["status"] == "cancelled" and "already" in again["reason"]
    # No consent: the team calls (the reason says why the agent did not).
    unconsented = client.post(
        "/api/v1/calls/leads",
        json={"phone": "313-555-0143", "address": "9 Elm St, Detroit, MI"},
        headers=headers,
    ).json()
    assert unconsented["status"] == "for_team"
    assert "consent" in unconsented["reason"]

    listed = client.get(
        "/api/v1/calls/schedules?purpose=lead_qualification", headers=headers
    ).json()
    assert sorted(s["status"] for s in listed) == ["cancelled", "for_team", "scheduled"]
    pending = client.get("/api/v1/calls/schedules?status=scheduled", headers=headers).json()
    assert [s["id"] for s in pending] == [scheduled["id"]]
    other = make_user(db, make_org(db, "Other Co"), role=Role.admin)
    assert client.get("/api/v1/calls/schedules", headers=auth_headers(db, other)).json() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phone": "12"}, "phone"),
        ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not a time zone"),
        ({"consent_source": None}, "consent_to_call needs a consent_source"),
        ({"consent_source": "   "}, "consent_to_call needs a consent_source"),
        ({"consent_to_call": "yes please"}, "valid boolean"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_lead_is_refused_with_a_message_and_nothing_is_recorded(
    client: TestClient, db: Session, change: dict[str, Any], message: str
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.admin))
    body = {
        "phone": "(313) 555-0142",
        "address": ADDRESS,
        "consent_to_call": True,
        "consent_source": "web form 2026-11-20",
        **change,
    }
    response = client.post("/api/v1/calls/leads", json=body, headers=headers)
    assert response.status_code == 422
    assert message in str(response.json()["detail"])
    assert db.exec(select(CallSchedule).where(CallSchedule.org_id == org.id)).all() == []
    assert db.exec(select(OutboxEvent).where(OutboxEvent.org_id == org.id)).all() == []


def test_investors_cannot_submit_leads(client: TestClient, db: Session) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor)
    response = client.post(
        "/api/v1/calls/leads",
        json={"phone": "(313) 555-0142", "address": ADDRESS},
        headers=auth_headers(db, investor),
    )
    assert response.status_code == 403


def test_the_qualify_lead_tool_is_the_teams_and_passes_consent_only_when_given(
    db: Session,
) -> None:
    from tests.tools.helpers import call_tool, context_for
    from tools.voice import qualify_lead

    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    asked = "qualify Pat Seller at (313) 555-0142, consent: Web form  2026-11-20"
    # A consent the user never gave is refused, whatever the model passes.
    invented = call_tool(
        qualify_lead,
        context_for(db, analyst),
        said="qualify Pat Seller at (313) 555-0142 about 123 Main St",
        phone="(313) 555-0142",
        address=ADDRESS,
        consent_source="web form 2026-11-20",
    )
    assert "consent_source must be the user's own words" in invented["error"]
    assert db.exec(select(CallSchedule).where(CallSchedule.org_id == org.id)).all() == []
    consented = call_tool(
        qualify_lead,
        context_for(db, analyst),
        said=asked,
        phone="(313) 555-0142",
        address=ADDRESS,
        name="Pat Seller",
        consent_source="web form 2026-11-20",
        timezone=DETROIT,
    )
    assert (consented["status"], consented["will_call"], consented["to_number"]) == (
        "scheduled",
        True,
        "+13135550142",
    )
    schedule = db.get(CallSchedule, uuid.UUID(consented["schedule_id"]))
    assert schedule is not None and schedule.details["consent_source"] == "web form 2026-11-20"
    no_consent = call_tool(
        qualify_lead, context_for(db, analyst), phone="313-555-0143", address=ADDRESS
    )
    assert (no_consent["status"], no_consent["will_call"]) == ("for_team", False)
    blank = call_tool(
        qualify_lead,
        context_for(db, analyst),
        said="consent:    ",
        phone="313-555-0144",
        address=ADDRESS,
        consent_source="   ",
    )
    assert blank["status"] == "for_team"
    bad = call_tool(qualify_lead, context_for(db, analyst), phone="1234", address=ADDRESS)
    assert "error" in bad and "phone" in bad["error"].lower()
    # Even if a model called it for an investor, the tool refuses (the role policy's 2nd line).
    investor = make_user(db, org, role=Role.investor)
    refused = call_tool(
        qualify_lead, context_for(db, investor), phone="313-555-0145", address=ADDRESS
    )
    assert refused == {"error": "not allowed for the investor role"}
    numbers = {s.to_number for s in db.exec(select(CallSchedule)).all()}
    assert "+13135550145" not in numbers


@pytest.mark.parametrize(
    "said", ["consent: none", "consent: no", "consent: not given", "consent - n/a", "consent: -"]
)
def test_a_consent_that_says_there_was_none_never_has_the_lead_dialled(
    db: Session, said: str
) -> None:
    from agent.planner import Conversation, plan_for
    from tests.tools.helpers import call_tool, context_for
    from tools.voice import qualify_lead

    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    text = f"call the seller at (313) 555-0142 about {ADDRESS}, {said}"
    plan = plan_for(Conversation(text=text, history=[], this_turn=[]))
    assert plan.tool == "qualify_lead"
    result = call_tool(qualify_lead, context_for(db, analyst), said=text, **plan.args)
    assert (result["status"], result["will_call"]) == ("for_team", False)
    (schedule,) = db.exec(select(CallSchedule).where(CallSchedule.org_id == org.id)).all()
    assert schedule.status == "for_team"
    assert "consent_to_call" not in schedule.details
    assert service.claim_due_schedules(session=db, now=utcnow()) == []


def test_the_api_does_not_take_a_consent_source_of_none_as_consent(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.admin))
    response = client.post(
        "/api/v1/calls/leads",
        json={
            "phone": "(313) 555-0142",
            "address": ADDRESS,
            "consent_to_call": True,
            "consent_source": "None",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "for_team"
    assert "consent" in response.json()["reason"]


# --- a lead without a time zone: the number's area code, else both coasts -----------------


def test_a_lead_without_a_time_zone_is_called_in_their_area_codes_hours() -> None:
    assert hours.number_timezones("+12135550142") == ("America/Los_Angeles",)
    assert hours.number_timezones("(313) 555-0142") == ("America/New_York",)
    assert hours.number_timezones("+12085550100") == ("America/Boise", "America/Los_Angeles")
    assert hours.number_timezones("+18005550142") == ()  # toll-free: anywhere
    assert hours.number_timezones("not a number") == ()
    coasts = hours.lead_windows(None, "+18005550142")
    assert [w.timezone for w in coasts] == list(hours.MAINLAND_EXTREMES)
    assert [w.timezone for w in hours.lead_windows("Asia/Tokyo", "+12135550142")] == ["Asia/Tokyo"]
    # Wednesday 14:00 UTC is 09:00 in New York but 06:00 in Los Angeles.
    wednesday_9_eastern = dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC)
    pacific = hours.lead_windows(None, "+12135550142")
    assert not hours.allowed_in_all(wednesday_9_eastern, pacific)
    assert hours.next_allowed_in_all(wednesday_9_eastern, pacific) == dt.datetime(
        2026, 12, 2, 17, 0, tzinfo=dt.UTC
    )
    # Both coasts: from 12:00 Eastern (09:00 Pacific) to 20:00 Eastern (17:00 Pacific).
    assert hours.next_allowed_in_all(wednesday_9_eastern, coasts) == dt.datetime(
        2026, 12, 2, 17, 0, tzinfo=dt.UTC
    )
    eastern_8pm = dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC)  # Wed 20:00 ET, 17:00 PT
    assert not hours.allowed_in_all(eastern_8pm, coasts)
    assert hours.allowed_in_all(eastern_8pm - dt.timedelta(minutes=1), coasts)
    # Boise (Mountain) and Los Angeles (Pacific): 09:00 Pacific is the later opening.
    idaho = hours.lead_windows(None, "+12085550100")
    assert hours.next_allowed_in_all(wednesday_9_eastern, idaho) == dt.datetime(
        2026, 12, 2, 17, 0, tzinfo=dt.UTC
    )


def test_a_pacific_lead_without_a_time_zone_is_not_dialled_at_six_in_the_morning(
    db: Session,
) -> None:
    org = make_org(db)
    wednesday_9_eastern = dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC)
    schedule = service.plan_lead_call(
        session=db,
        org_id=org.id,
        payload=_payload(phone="(213) 555-0142", timezone=None),
        source_event_id=uuid.uuid4(),
        now=wednesday_9_eastern,
    )
    assert schedule.status == "scheduled"
    assert schedule.scheduled_for == dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.UTC)
    assert "America/Los_Angeles" in (schedule.reason or "")
    # Nor by the dispatcher, nor right before dialling.
    assert service.claim_due_schedules(session=db, now=wednesday_9_eastern) == []
    (call,) = service.claim_due_schedules(session=db, now=schedule.scheduled_for)
    assert service.check_before_placing(session=db, call=call, now=schedule.scheduled_for).allowed
