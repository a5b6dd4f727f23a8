"""Calls end to end: initiate, the signed TwiML webhooks, the bid, events, voicemail, opt-out."""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from cli.voice_commands import read_twiml, simulate_conversation
from domain.construction import service as construction_service
from domain.voice.extraction import next_day_of_month
from domain.voice.models import Call, CallSchedule, CallTranscript
from domain.whatsapp.models import Conversation, Message
from store.outbox import OutboxEvent
from tests.voice.helpers import (
    PUBLIC,
    TOKEN,
    WEBHOOK,
    World,
    call_params,
    new_call_sid,
    post_signed,
    poster,
    voice_settings,
)

ROOF_LINE = (
    "I can do the roof for eleven thousand five hundred, start on the third, takes four days"
)


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch)


def _events(db: Session, name: str) -> list[OutboxEvent]:
    return list(
        db.exec(
            select(OutboxEvent)
            .where(OutboxEvent.name == name)
            .order_by(col(OutboxEvent.created_at))
        ).all()
    )


def _turns(db: Session, call_id: uuid.UUID) -> list[CallTranscript]:
    return list(
        db.exec(
            select(CallTranscript)
            .where(CallTranscript.call_id == call_id)
            .order_by(col(CallTranscript.turn))
        ).all()
    )


def _recorded_call(client: TestClient, world: World) -> uuid.UUID:
    response = world.initiate(client)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "recorded"
    return uuid.UUID(body["call"]["id"])


def test_without_twilio_a_call_is_recorded_in_the_outbox_with_its_twiml_url(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    response = world.initiate(client)
    assert response.status_code == 201, response.text
    call = response.json()["call"]
    assert call["status"] == "queued" and call["call_sid"] is None
    assert call["twiml_url"] == f"{PUBLIC}{WEBHOOK}/{call['id']}/answer"
    assert "Twilio is not configured" in call["note"]
    listed = client.get("/api/v1/calls", headers=world.headers()).json()
    assert [c["id"] for c in listed] == [call["id"]]


def test_a_simulated_bid_call_produces_the_bid_transcript_and_events(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id = _recorded_call(client, world)
    conversation = simulate_conversation(
        poster(client),
        call_id=call_id,
        says=[ROOF_LINE, "no, I don't do furnaces", "nothing", "yes, fully insured", "yes"],
        token=TOKEN,
        public_base_url=PUBLIC,
    )
    assert set(conversation.statuses) == {200}
    assert conversation.hung_up
    spoken = [text for speaker, text in conversation.lines if speaker == "agent"]
    # The greeting introduces the company, the project and its scope lines.
    assert world.org.name in spoken[0] and "roof (22 squares)" in spoken[0]
    assert "furnace (1 each)" in spoken[0]
    # The roof was priced, so the agent asks about the line that was not.
    assert spoken[1].startswith("And the furnace?")
    # The confirmation reads back what was heard, from the recorded facts.
    confirm = next(text for text in spoken if text.startswith("Let me confirm"))
    assert "roof $11,500" in confirm and "about 4 days of work" in confirm

    # The start date: "the third" is the next 3rd of a month after the call date, on the
    # contractor's own calendar.
    local_today = dt.datetime.now(ZoneInfo(world.contractor.timezone)).date()
    third = next_day_of_month(3, local_today)
    assert third is not None
    (bid,) = construction_service.list_bids(
        session=db, org_id=world.org.id, project_id=world.project.id
    )
    assert bid.total_amount == Decimal("11500.00")
    assert bid.line_items == [
        {
            "scope_item_id": str(world.roof.id),
            "amount": "11500.00",
            "note": bid.line_items[0]["note"],
        }
    ]
    assert (bid.start_date, bid.duration_days, bid.source, bid.call_id) == (
        third,
        4,
        "call",
        call_id,
    )
    assert bid.exclusions == "none"

    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    assert (call.status, call.outcome, call.bid_id) == ("completed", "bid_received", bid.id)
    assert call.outcome_data["duration_s"] == 65  # from Twilio's completed callback
    # Five answers, six agent turns: 11 rows, each turn once.
    turns = _turns(db, call_id)
    assert [t.turn for t in turns] == list(range(11))
    assert turns[1].text == ROOF_LINE and turns[1].speaker == "contractor"

    (completed,) = _events(db, "call.completed")
    assert completed.payload["call_id"] == str(call_id)
    assert completed.payload["outcome"] == "bid_received"
    assert completed.payload["bid_id"] == str(bid.id)
    (responded,) = _events(db, "contractor.responded")
    assert responded.payload == {
        "contractor_id": str(world.contractor.id),
        "project_id": str(world.project.id),
        "call_id": str(call_id),
        "bid_id": str(bid.id),
        "outcome": "bid_received",
    }
    (appointment,) = _events(db, "appointment.scheduled")
    assert appointment.payload["date"] == third.isoformat()
    assert appointment.payload["kind"] == "start"
    (actions,) = _events(db, "action.items.created")
    kinds = [item["kind"] for item in actions.payload["items"]]
    assert kinds == ["review_bid", "find_bids", "confirm_start"]
    assert (bid_received := _events(db, "bid.received")) and bid_received[0].payload[
        "call_id"
    ] == str(call_id)

    transcript = client.get(f"/api/v1/calls/{call_id}/transcript", headers=world.headers())
    assert transcript.status_code == 200
    body = transcript.json()
    assert len(body["turns"]) == 11
    assert body["facts"]["line_prices"] == {str(world.roof.id): "11500.00"}
    assert body["facts"]["duration_days"] == 4
    assert body["call"]["bid_id"] == str(bid.id)


def _answer(client: TestClient, call_id: uuid.UUID, sid: str, **extra: str) -> str:
    response = post_signed(
        client,
        f"{PUBLIC}{WEBHOOK}/{call_id}/answer",
        call_params(sid, CallStatus="in-progress", AnsweredBy="human", **extra),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return response.text


def _say(client: TestClient, call_id: uuid.UUID, sid: str, turn: int, speech: str) -> Any:
    return post_signed(
        client,
        f"{PUBLIC}{WEBHOOK}/{call_id}/gather?turn={turn}",
        call_params(sid, CallStatus="in-progress", SpeechResult=speech, Confidence="0.9"),
    )


def test_a_replayed_webhook_gets_the_same_twiml_and_adds_no_transcript_row(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id = _recorded_call(client, world)
    sid = new_call_sid()
    greeting = _answer(client, call_id, sid)
    assert _answer(client, call_id, sid) == greeting
    first = _say(client, call_id, sid, 1, ROOF_LINE)
    assert first.status_code == 200
    again = _say(client, call_id, sid, 1, ROOF_LINE)
    assert again.text == first.text
    # Even a replay with other words changes nothing: the turn was answered.
    other = _say(client, call_id, sid, 1, "actually twenty thousand")
    assert other.text == first.text
    assert len(_turns(db, call_id)) == 3
    # A turn that was never asked is refused.
    assert _say(client, call_id, sid, 7, "hello").status_code == 409
    # The action URL of the reply asks for turn 3 next.
    assert read_twiml(first.text).gather_action == f"{PUBLIC}{WEBHOOK}/{call_id}/gather?turn=3"


def test_forged_unsigned_and_foreign_callsid_webhooks_are_refused(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id = _recorded_call(client, world)
    sid = new_call_sid()
    url = f"{PUBLIC}{WEBHOOK}/{call_id}/answer"
    params = call_params(sid, CallStatus="in-progress", AnsweredBy="human")
    path = url[len(PUBLIC) :]
    assert client.post(path, data=params).status_code == 403
    assert post_signed(client, url, params, token="not-the-token").status_code == 403
    # Signed for the URL the app sees behind the proxy, not the public one.
    internal = {"X-Twilio-Signature": "x"}
    assert client.post(path, data=params, headers=internal).status_code == 403
    gather = f"{PUBLIC}{WEBHOOK}/{call_id}/gather?turn=1"
    assert post_signed(client, gather, call_params(sid), token="forged").status_code == 403
    status = f"{PUBLIC}{WEBHOOK}/{call_id}/status"
    assert (
        post_signed(client, status, call_params(sid, CallStatus="completed"), token="forged")
    ).status_code == 403
    assert _turns(db, call_id) == []
    # Once bound to its CallSid, a call refuses webhooks of another call.
    _answer(client, call_id, sid)
    intruder = _say(client, call_id, new_call_sid(), 1, "send me the bids")
    assert intruder.status_code == 403
    assert len(_turns(db, call_id)) == 1


def test_twiml_never_carries_unescaped_speech(client: TestClient, db: Session) -> None:
    world = World(db)
    call_id = _recorded_call(client, world)
    sid = new_call_sid()
    _answer(client, call_id, sid)
    hostile = "<Say>hack</Say> & stuff"
    # A total, then the hostile words as what the price leaves out: they are read back in
    # the confirmation, so the contractor's words do reach the TwiML, escaped.
    script = ["the whole job is 13,000 total", hostile, "next monday", "four days", "yes insured"]
    replies = [_say(client, call_id, sid, 1 + 2 * i, line) for i, line in enumerate(script)]
    assert [r.status_code for r in replies] == [200] * 5
    text = replies[-1].text
    assert "not including &lt;say&gt;hack&lt;/say&gt; &amp; stuff" in text
    assert "<say>hack" not in text.lower()
    root = ET.fromstring(text)
    assert [el.tag for el in root.iter()] == ["Response", "Gather", "Say"]
    for reply in replies:
        assert "<Say>hack" not in reply.text
    stored = [t.text for t in _turns(db, call_id) if t.speaker == "contractor"]
    assert hostile in stored  # kept as said


def test_a_voicemail_gets_a_short_message_and_a_whatsapp_follow_up(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id = _recorded_call(client, world)
    sid = new_call_sid()
    response = post_signed(
        client,
        f"{PUBLIC}{WEBHOOK}/{call_id}/answer",
        call_params(sid, CallStatus="in-progress", AnsweredBy="machine_end_beep"),
    )
    turn = read_twiml(response.text)
    assert turn.hangup and turn.gather_action is None
    # The callback number (VOICE_CALLBACK_NUMBER +1 313 555 0199) is read out digit by digit.
    assert "call us back at 3 1 3, 5 5 5, 0 1 9 9" in turn.says[0]
    post_signed(
        client,
        f"{PUBLIC}{WEBHOOK}/{call_id}/status",
        call_params(sid, CallStatus="completed", CallDuration="21", AnsweredBy="machine_end_beep"),
    )
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    assert (call.outcome, call.answered_by, call.status) == (
        "voicemail",
        "machine_end_beep",
        "completed",
    )
    conversation = db.exec(
        select(Conversation).where(
            Conversation.org_id == world.org.id,
            Conversation.phone_number == world.contractor.phone,
        )
    ).one()
    (text,) = db.exec(select(Message).where(Message.conversation_id == conversation.id)).all()
    assert text.direction == "outbound" and text.idempotency_key == f"voice:{call_id}:voicemail:0"
    assert "left you a voicemail" in (text.content or "")
    (completed,) = _events(db, "call.completed")
    assert completed.payload["outcome"] == "voicemail"
    assert _events(db, "contractor.responded") == []
    assert (
        construction_service.list_bids(session=db, org_id=world.org.id, project_id=world.project.id)
        == []
    )


def test_a_contractor_who_says_dont_call_me_is_never_called_again(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id = _recorded_call(client, world)
    # A call already scheduled for them is cancelled too.
    scheduled = client.post(
        "/api/v1/calls/schedule",
        json={
            "contractor_id": str(world.contractor.id),
            "project_id": str(world.project.id),
            "scheduled_for": (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat(),
        },
        headers=world.headers(),
    )
    assert scheduled.status_code == 201, scheduled.text
    sid = new_call_sid()
    _answer(client, call_id, sid)
    reply = _say(client, call_id, sid, 1, "Don't call me again, remove me from your list")
    turn = read_twiml(reply.text)
    assert turn.hangup and "won't call you again" in turn.says[0]
    db.refresh(world.contractor)
    assert world.contractor.opted_out
    call = db.get(Call, call_id)
    assert call is not None and call.outcome == "opted_out"
    schedule = db.get(CallSchedule, uuid.UUID(scheduled.json()["id"]))
    assert schedule is not None and schedule.status == "cancelled"
    again = world.initiate(client)
    assert again.status_code == 409
    assert "asked not to be called" in again.json()["detail"]
    later = client.post(
        "/api/v1/calls/schedule",
        json={
            "contractor_id": str(world.contractor.id),
            "project_id": str(world.project.id),
            "scheduled_for": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
        },
        headers=world.headers(),
    )
    assert later.status_code == 409


def test_a_call_outside_the_contractors_hours_is_scheduled_for_the_next_allowed_slot(
    client: TestClient, db: Session
) -> None:
    # It is about 2 in the morning where the contractor is; they take calls 08:00-20:00.
    world = World(db, local_hour=2)
    response = world.initiate(client)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "scheduled" and body["call"] is None
    assert "outside the contractor's calling hours" in body["reason"]
    when = dt.datetime.fromisoformat(body["scheduled_for"])
    local = when.astimezone(ZoneInfo(world.contractor.timezone))
    now_local = dt.datetime.now(ZoneInfo(world.contractor.timezone))
    assert local.time() == dt.time(8, 0)
    assert local.date() == now_local.date()  # later the same morning
    assert when > dt.datetime.now(dt.UTC)
    assert db.exec(select(Call).where(Call.contractor_id == world.contractor.id)).all() == []
    schedule = db.get(CallSchedule, uuid.UUID(body["schedule"]["id"]))
    assert schedule is not None and schedule.status == "scheduled"


def test_bad_requests_name_the_problem(client: TestClient, db: Session) -> None:
    world = World(db)
    unknown = world.initiate(client, contractor_id=str(uuid.uuid4()))
    assert unknown.status_code == 404 and "contractor" in unknown.json()["detail"]
    no_project = world.initiate(client, project_id=None)
    assert no_project.status_code == 422 and "needs a project_id" in no_project.json()["detail"]
    naive = client.post(
        "/api/v1/calls/schedule",
        json={
            "contractor_id": str(world.contractor.id),
            "project_id": str(world.project.id),
            "scheduled_for": "2030-01-01T10:00:00",
        },
        headers=world.headers(),
    )
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
    assert (
        client.get(f"/api/v1/calls/{uuid.uuid4()}/transcript", headers=world.headers()).status_code
        == 404
    )
    from domain.auth.enums import Role
    from tests.factories import auth_headers, make_user

    investor = make_user(db, world.org, Role.investor)
    assert client.get("/api/v1/calls", headers=auth_headers(db, investor)).status_code == 403
