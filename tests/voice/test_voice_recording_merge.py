"""The recording rule: what only the recording said is added; what was confirmed stays.

Whisper itself runs in tests/voice/test_voice_recording.py; here its transcript is given as
text, so each rule is shown on its own. Figures: the default project's roof (22 squares)
and furnace lines (tests/factories.make_project).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from cli.voice_commands import simulate_conversation
from domain.construction import service as construction_service
from domain.voice import service
from domain.voice.extraction import (
    CallFacts,
    ScopeLine,
    contractor_side,
    facts_from_transcript,
    merge_recording,
)
from domain.voice.models import Call
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

CALL_DATE = dt.date(2026, 11, 27)  # a Friday
SCOPE = [ScopeLine("roof-id", "roof", None, "22", "squares"), ScopeLine("f-id", "furnace")]


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch, voice_record_calls=True)


def _facts(*answers: tuple[str | None, str]) -> CallFacts:
    return facts_from_transcript(answers, scope=SCOPE, today=CALL_DATE)


def test_confirmed_facts_stay_and_only_missed_ones_are_added() -> None:
    speech = _facts(("prices", "roof for eleven five"), ("line:f-id", "no, I don't do furnaces"))
    recording = _facts(
        (None, "the roof for twelve grand"),
        (None, "the furnace would be forty two hundred"),
        (None, "I can start next Monday, takes four days, permits are extra"),
    )
    merge = merge_recording(speech, recording)
    assert merge.facts.line_prices == {"roof-id": "11500.00"}  # as confirmed; no furnace
    assert (merge.facts.start_date, merge.facts.duration_days) == ("2026-11-30", 4)
    assert merge.facts.exclusions == ("permits",)
    assert merge.added == ("start_date", "duration_days", "exclusions")
    assert merge.disagreements == (
        {"fact": "line:roof-id", "speech": "11500.00", "recording": "12000.00"},
        {"fact": "line:f-id", "speech": "not priced on the call", "recording": "4200.00"},
    )
    assert merge.sources == {
        "line:roof-id": "speech",
        "start_date": "recording",
        "duration_days": "recording",
        "exclusions": "recording",
    }


def test_a_total_from_the_recording_counts_only_when_the_call_had_no_price() -> None:
    unpriced = merge_recording(_facts(), _facts((None, "fifteen thousand for everything")))
    assert (unpriced.facts.total, unpriced.added) == ("15000.00", ("total",))
    priced = merge_recording(
        _facts(("prices", "the roof for 11,500")),
        _facts((None, "fifteen thousand for the whole job")),
    )
    assert priced.facts.total is None and priced.added == () and priced.disagreements == ()


def test_the_agents_voice_in_a_mixed_recording_is_not_taken_as_the_contractors() -> None:
    agent = [
        "Let me confirm what I heard: roof $11,500, start Monday, November 30. Is that right?",
        "When is the earliest you could start?",
    ]
    segments = [
        "Let me confirm what I heard, roof $11,500, start Monday November 30th.",
        "Is that right?",
        "Yeah, that's right.",
        "I can start on the 3rd.",
    ]
    assert contractor_side(segments, agent) == [
        "Is that right?",  # too short to tell whose it is: kept (it carries no fact)
        "Yeah, that's right.",
        "I can start on the 3rd.",
    ]


def _finished_call(client: TestClient, db: Session, world: World, says: list[str]) -> Call:
    response = world.initiate(client)
    assert response.status_code == 201, response.text
    call_id = uuid.UUID(response.json()["call"]["id"])
    simulate_conversation(
        poster(client), call_id=call_id, says=says, token=TOKEN, public_base_url=PUBLIC
    )
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    return call


def _hear(db: Session, call: Call, *segments: str) -> dict[str, object]:
    """The recording noted, transcribed as ``segments`` and merged into the call."""
    service.note_recording(
        session=db, call=call, recording_sid="RE" + uuid.uuid4().hex, url="x", duration_s=9
    )
    service.store_recording_transcript(
        session=db, call=call, text=" ".join(segments), model="test", segments=segments
    )
    return service.apply_recording_transcript(session=db, call=call)


def test_a_price_only_the_recording_has_becomes_the_calls_bid(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call = _finished_call(client, db, world, ["hmm", "sorry, what"])
    assert call.outcome == "unclear" and call.bid_id is None
    merge = _hear(db, call, "I can do the roof for eleven five.", "I can start next Monday.")
    assert merge["added"] == [f"line:{world.roof.id}", "start_date"]
    assert merge["bid_created"] is True
    (bid,) = construction_service.list_bids(
        session=db, org_id=world.org.id, project_id=world.project.id
    )
    assert (bid.total_amount, bid.source, bid.call_id) == (Decimal("11500.00"), "call", call.id)
    assert bid.start_date is not None and bid.start_date.weekday() == 0
    assert (call.outcome, call.bid_id) == ("bid_received", bid.id)
    assert set(call.outcome_data["fact_sources"].values()) == {"recording"}
    kinds = [item["kind"] for item in call.outcome_data["action_items"]]
    assert "review_bid" in kinds
    # Once per recording: merging again changes nothing.
    assert service.apply_recording_transcript(session=db, call=call) == merge
    assert (
        len(
            construction_service.list_bids(
                session=db, org_id=world.org.id, project_id=world.project.id
            )
        )
        == 1
    )


def test_a_recording_merged_before_the_status_callback_goes_into_the_bid(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    response = world.initiate(client)
    call_id = uuid.UUID(response.json()["call"]["id"])
    call_sid = new_call_sid()
    url = f"{PUBLIC}{WEBHOOK}/{call_id}"
    # Answered; the contractor hangs up after the greeting; Twilio's status is not in yet.
    assert post_signed(client, f"{url}/answer", call_params(call_sid)).status_code == 200
    call = db.get(Call, call_id)
    assert call is not None and not call.outcome_data.get("finalized")
    merge = _hear(db, call, "The roof for 11,500, the furnace for 4,200. Takes two weeks.")
    assert merge["bid_updated"] is False and "bid_created" not in merge
    completed = call_params(call_sid, CallStatus="completed", CallDuration="20")
    assert post_signed(client, f"{url}/status", completed).status_code == 200
    db.refresh(call)
    bid = construction_service.bid_for_call(session=db, org_id=world.org.id, call_id=call.id)
    assert bid is not None and call.bid_id == bid.id
    assert (bid.total_amount, bid.duration_days) == (Decimal("15700.00"), 14)  # 11,500 + 4,200
    assert call.outcome_data["fact_sources"] == {
        f"line:{world.roof.id}": "recording",
        f"line:{world.furnace.id}": "recording",
        "duration_days": "recording",
    }


def test_update_bid_changes_a_received_bid_and_refuses_an_awarded_one(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call = _finished_call(client, db, world, ["the roof for eleven thousand", "nope"])
    assert call.bid_id is not None
    bid = construction_service.update_bid(
        session=db,
        org_id=world.org.id,
        bid_id=call.bid_id,
        line_items=[
            {"scope_item_id": world.roof.id, "amount": "11000"},
            {"scope_item_id": world.furnace.id, "amount": "4200"},
        ],
        duration_days=5,
    )
    assert (bid.total_amount, bid.duration_days) == (Decimal("15200.00"), 5)  # 11,000 + 4,200
    with pytest.raises(construction_service.ConstructionInputError, match="not part of project"):
        construction_service.update_bid(
            session=db,
            org_id=world.org.id,
            bid_id=bid.id,
            line_items=[{"scope_item_id": uuid.uuid4(), "amount": "1"}],
        )
    with pytest.raises(construction_service.NotFoundError):
        construction_service.update_bid(session=db, org_id=world.org.id, bid_id=uuid.uuid4())
    construction_service.award_bid(
        session=db, org_id=world.org.id, project_id=world.project.id, bid_id=bid.id
    )
    with pytest.raises(construction_service.ConstructionConflictError, match="only a received"):
        construction_service.update_bid(
            session=db, org_id=world.org.id, bid_id=bid.id, start_date=CALL_DATE
        )
