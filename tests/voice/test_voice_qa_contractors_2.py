"""QA pass 2: loose start dates, a price to come another way, half days, a whole job refused.

Each conversation is played against the signed webhooks (or the offline call graph, for the
agent's wording), and what is stored, scheduled and said back is checked.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from domain.construction import service as construction_service
from domain.voice.extraction import CallFacts, extract
from store.outbox import OutboxEvent
from tests.voice.helpers import World
from tests.voice.test_voice_call_graph import CONTEXT
from tests.voice.test_voice_qa_contractors import (  # the first pass's call helpers
    FRIDAY,
    _agent,
    _call,
    _call_row,
    _local_today,
    _play,
    _settings,  # noqa: F401 (autouse fixture)
)


def _items(db: Session, call_id: uuid.UUID) -> list[dict[str, object]]:
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.name == "action.items.created")
        .order_by(col(OutboxEvent.created_at))
    ).all()
    return [
        item
        for row in rows
        if row.payload.get("call_id") == str(call_id)
        for item in row.payload["items"]
    ]


# --- 1. start dates said loosely -----------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "today", "start"),
    [
        # The holidays run to New Year's: the first working day after it (Jan 2 2027 is a
        # Saturday), also when said in early November; said in January, the next working day.
        ("not till after the holidays", FRIDAY, dt.date(2027, 1, 4)),
        ("not till after the holidays", dt.date(2026, 11, 5), dt.date(2027, 1, 4)),
        ("after the holidays", dt.date(2027, 1, 12), dt.date(2027, 1, 13)),
        ("after the first of the year", FRIDAY, dt.date(2027, 1, 4)),
        ("probably after the first of the year", dt.date(2027, 6, 3), dt.date(2028, 1, 3)),
        # The last weekday of the month; with fewer than 3 days left, of next month.
        ("end of the month", FRIDAY, dt.date(2026, 11, 30)),
        ("end of the month", dt.date(2026, 11, 28), dt.date(2026, 12, 31)),
        ("end of the month", dt.date(2026, 10, 20), dt.date(2026, 10, 30)),
        # The first weekday of next month (Nov 1 2026 is a Sunday; Jan 1 is a holiday).
        ("next month", dt.date(2026, 10, 5), dt.date(2026, 11, 2)),
        ("next month", dt.date(2026, 12, 9), dt.date(2027, 1, 4)),
        ("in a couple of weeks", FRIDAY, dt.date(2026, 12, 11)),
        ("maybe a couple of weeks", FRIDAY, dt.date(2026, 12, 11)),
    ],
)
def test_start_dates_said_loosely(said: str, today: dt.date, start: dt.date) -> None:
    answer = extract(said, scope=CONTEXT.scope, today=today, expect="start_date")
    assert answer.start_date == start
    assert answer.duration_days is None  # "a couple of weeks" to the start question is a wait
    assert not answer.declined


def test_after_the_holidays_is_read_back_with_the_date_taken_for_it(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    _, conversation = _call(
        client,
        world,
        [
            "roof's eleven five, furnace forty two hundred",
            "nothing",
            "not till after the holidays",
            "three days",
            "yes insured",
            "yes",
        ],
    )
    today = _local_today(world)
    (bid,) = construction_service.list_bids(
        session=db, org_id=world.org.id, project_id=world.project.id
    )
    start = bid.start_date
    assert start is not None and start > today and start.weekday() < 5
    confirm = next(t for t in _agent(conversation) if t.startswith("Let me confirm"))
    assert f"starting after the holidays, so about {start:%A, %B} {start.day}" in confirm
    if today.month != 1:  # in January it is the next working day (the dated cases above)
        new_year = dt.date(today.year + 1, 1, 2)
        while new_year.weekday() >= 5:
            new_year += dt.timedelta(days=1)
        assert start == new_year


# --- 2. a price to come another way ----------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "outcome", "kind", "close", "wording"),
    [
        (
            "you'd have to call my office for that",
            "refer_to_office",
            "call_office",
            "we'll call your office",
            "Call ",
        ),
        (
            "talk to my office manager, she does all the pricing",
            "refer_to_office",
            "call_office",
            "we'll call your office",
            "'s office",
        ),
        ("I'll text you a quote", "quote_to_follow", "await_quote", "look out", "will text"),
        ("I'll email you a quote tonight", "quote_to_follow", "await_quote", "look out", "email"),
        (
            "send me the details and I'll get you a number",
            "quote_to_follow",
            "send_details",
            "we'll send you the details",
            "Send ",
        ),
    ],
)
def test_a_price_to_come_another_way_ends_the_call_with_an_action_item(
    client: TestClient, db: Session, said: str, outcome: str, kind: str, close: str, wording: str
) -> None:
    world = World(db)
    call_id, conversation = _call(client, world, [said])
    assert conversation.hung_up
    goodbye = _agent(conversation)[-1]
    assert goodbye.startswith("Thanks") and close in goodbye and goodbye.endswith("Goodbye.")
    call = _call_row(db, call_id)
    assert call.outcome == outcome
    assert call.bid_id is None
    assert (
        construction_service.list_bids(session=db, org_id=world.org.id, project_id=world.project.id)
        == []
    )
    items = _items(db, call_id)
    assert [i["kind"] for i in items] == [kind]
    assert world.contractor.name in str(items[0]["text"]) and wording in str(items[0]["text"])


def test_a_quote_promised_after_a_price_is_still_the_bid() -> None:
    turns = _play(["roof is nine grand, I'll email you the furnace number"])
    assert not turns[-1].done
    assert turns[-1].facts["line_prices"] == {"roof-id": "9000.00"}
    facts = CallFacts.from_json(turns[-1].facts)
    assert facts.follow_up == "email" and facts.priced


# --- 3. half days round up; every line refused is the whole job ----------------------------


@pytest.mark.parametrize(
    ("said", "days"),
    [("a day and a half", 2), ("two and a half days", 3), ("probably a week and a half", 11)],
)
def test_half_days_round_up_to_whole_days(said: str, days: int) -> None:
    assert extract(said, today=FRIDAY, expect="duration").duration_days == days


@pytest.mark.parametrize(
    "said", ["I don't do roofs or furnaces", "nah we don't do roofing and furnaces, sorry"]
)
def test_every_line_refused_is_a_refusal_of_the_job(
    client: TestClient, db: Session, said: str
) -> None:
    answer = extract(said, scope=CONTEXT.scope, today=FRIDAY, expect="prices")
    assert set(answer.skipped_lines) == {"roof-id", "f-id"} and answer.declined
    world = World(db)
    call_id, conversation = _call(client, world, [said])
    assert conversation.hung_up
    assert _agent(conversation)[-1].startswith("No problem, thanks for your time")
    assert _call_row(db, call_id).outcome == "declined"
