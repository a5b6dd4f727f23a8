"""QA pass: contractors answering bid calls as they really speak on the phone.

Each conversation is played against the signed webhooks (or the offline call graph, for the
agent's wording), and what is stored, scheduled and said back is checked.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from agent import call_graph
from cli.voice_commands import Conversation, simulate_conversation
from domain.construction import service as construction_service
from domain.voice.extraction import CallFacts, extract
from domain.voice.models import Call, CallSchedule
from store.outbox import OutboxEvent
from tests.factories import override_settings
from tests.voice.helpers import PUBLIC, TOKEN, World, poster, voice_settings
from tests.voice.test_voice_call_graph import CONTEXT

FRIDAY = dt.date(2026, 11, 27)


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch)
    override_settings(monkeypatch, openai_api_key=None, llm_base_url=None)


def _call(client: TestClient, world: World, says: list[str]) -> tuple[uuid.UUID, Conversation]:
    response = world.initiate(client)
    assert response.status_code == 201, response.text
    call_id = uuid.UUID(response.json()["call"]["id"])
    conversation = simulate_conversation(
        poster(client), call_id=call_id, says=says, token=TOKEN, public_base_url=PUBLIC
    )
    assert set(conversation.statuses) == {200}
    return call_id, conversation


def _agent(conversation: Conversation) -> list[str]:
    return [text for speaker, text in conversation.lines if speaker == "agent"]


def _local_today(world: World) -> dt.date:
    return dt.datetime.now(ZoneInfo(world.contractor.timezone)).date()


def _next_monday(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(0 - day.weekday() - 1) % 7 + 1)


def _call_row(db: Session, call_id: uuid.UUID) -> Call:
    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    return call


def _play(lines: list[str]) -> list[call_graph.AgentTurn]:
    turn = call_graph.greet(CONTEXT)
    turns = [turn]
    for line in lines:
        turn = call_graph.next_turn(
            CONTEXT, utterance=line, facts=turn.facts, dialogue=turn.dialogue, expect=turn.expect
        )
        turns.append(turn)
        if turn.done:
            break
    return turns


def test_one_price_for_the_roof_and_the_furnace_together_is_the_total(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id, conversation = _call(
        client,
        world,
        [
            "yeah so the whole thing, roof and furnace, all in twenty two five",
            "I could start in two weeks",
            "uh maybe ten days",
            "yeah insured and bonded",
            "correct",
        ],
    )
    confirm = next(t for t in _agent(conversation) if t.startswith("Let me confirm"))
    assert "$22,500 in total" in confirm and "furnace $22,500" not in confirm
    (bid,) = construction_service.list_bids(
        session=db, org_id=world.org.id, project_id=world.project.id
    )
    assert bid.total_amount == Decimal("22500.00")
    assert bid.line_items == []  # not booked against the furnace line alone
    assert _call_row(db, call_id).outcome == "bid_received"


def test_monday_after_next_is_a_week_after_the_coming_monday(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    _call(
        client,
        world,
        [
            "roof's eleven five, furnace forty two hundred",
            "nope that's everything",
            "uh I can start Monday after next",
            "three days",
            "yes",
            "yep",
        ],
    )
    (bid,) = construction_service.list_bids(
        session=db, org_id=world.org.id, project_id=world.project.id
    )
    assert bid.total_amount == Decimal("15700.00")
    assert bid.start_date == _next_monday(_local_today(world)) + dt.timedelta(days=7)


@pytest.mark.parametrize(
    ("said", "start", "duration"),
    [
        ("probably the week after next", dt.date(2026, 12, 7), None),
        ("I'm booked for three weeks so after that", dt.date(2026, 12, 18), None),
        ("we're slammed the next two weeks", dt.date(2026, 12, 11), None),
        ("Thursday after next, takes 3 days", dt.date(2026, 12, 10), 3),
        ("first week of March", dt.date(2027, 3, 1), None),
        ("not until the end of January", dt.date(2027, 1, 25), None),
        ("mid-December", dt.date(2026, 12, 15), None),
        ("the 2nd of march", dt.date(2027, 3, 2), None),
    ],
)
def test_relative_start_dates_contractors_say(
    said: str, start: dt.date, duration: int | None
) -> None:
    answer = extract(said, today=FRIDAY, expect="start_date")
    assert answer.start_date == start
    # Three weeks booked is when they are free, not three weeks of work.
    assert answer.duration_days == duration
    assert not answer.declined


def test_booked_up_for_three_weeks_is_a_start_date_not_a_refusal(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id, conversation = _call(
        client,
        world,
        [
            "roof eleven five, furnace forty two hundred",
            "nothing",
            "I'm booked up for three weeks",
            "four days",
            "yes insured",
            "yes",
        ],
    )
    assert not any(t.startswith("No problem, thanks for your time") for t in _agent(conversation))
    (bid,) = construction_service.list_bids(
        session=db, org_id=world.org.id, project_id=world.project.id
    )
    assert bid.start_date == _local_today(world) + dt.timedelta(days=21)
    assert bid.duration_days == 4
    assert _call_row(db, call_id).outcome == "bid_received"


def test_a_labour_only_price_is_stored_and_read_back_as_excluding_materials(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    _, conversation = _call(
        client,
        world,
        [
            "I'd say like 12k for the roof but that's for labour only, materials extra",
            "don't do furnaces",
            "Monday",
            "two days",
            "yes",
            "yes",
        ],
    )
    confirm = next(t for t in _agent(conversation) if t.startswith("Let me confirm"))
    assert "roof $12,000" in confirm
    assert "not including materials (the price is labour only)" in confirm
    (bid,) = construction_service.list_bids(
        session=db, org_id=world.org.id, project_id=world.project.id
    )
    assert bid.total_amount == Decimal("12000.00")
    assert bid.exclusions == "materials (the price is labour only)"


@pytest.mark.parametrize(
    ("said", "excluded"),
    [
        ("the roof is 14 grand plus materials", "materials"),
        ("roof 14 grand, materials extra", "materials"),
        ("roof like 14k plus tax", "tax"),
    ],
)
def test_materials_or_tax_on_top_are_an_exclusion(said: str, excluded: str) -> None:
    answer = extract(said, scope=CONTEXT.scope, today=FRIDAY, expect="prices")
    assert answer.exclusions == (excluded,)
    assert [p.amount for p in answer.line_prices] == [Decimal("14000")]


def test_busy_right_now_call_back_tomorrow_morning_schedules_the_callback(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id, conversation = _call(
        client, world, ["I'm on a roof right now, can you call back tomorrow morning"]
    )
    assert conversation.hung_up
    (said,) = _agent(conversation)[1:]
    assert said.startswith("Of course. We'll call you back on") and "at 10 AM" in said
    call = _call_row(db, call_id)
    assert call.outcome == "callback_requested"
    assert call.outcome_data["facts"]["start_date"] is None  # "right now" is not a start
    zone = ZoneInfo(world.contractor.timezone)
    tomorrow = _local_today(world) + dt.timedelta(days=1)
    (schedule,) = db.exec(
        select(CallSchedule).where(
            CallSchedule.contractor_id == world.contractor.id, CallSchedule.status == "scheduled"
        )
    ).all()
    assert schedule.scheduled_for == dt.datetime.combine(tomorrow, dt.time(10), tzinfo=zone)


@pytest.mark.parametrize(
    "said",
    [
        "I'll text you a quote later today",
        "I'll get you a quote by Friday",
        "I can email the numbers tomorrow",
    ],
)
def test_when_the_quote_comes_is_not_a_start_date(said: str) -> None:
    answer = extract(said, scope=CONTEXT.scope, today=FRIDAY, expect="prices")
    assert answer.start_date is None


def test_lines_the_contractor_does_not_do_are_skipped_not_misheard() -> None:
    turns = _play(
        [
            "roof's not my thing but furnace I can do forty-five hundred",
            "nothing else",
            "first thing Monday",
            "one day",
            "yes",
            "yes",
        ]
    )
    said = [t.text for t in turns]
    assert not any("And the roof?" in s for s in said)
    assert not any(s.startswith("Sorry, I didn't catch that") for s in said)
    assert turns[-1].facts["skipped_lines"] == ["roof-id"]
    assert turns[-1].facts["line_prices"] == {"f-id": "4500.00"}

    asked = _play(["roof is 9 grand", "don't do furnaces"])
    assert asked[-1].facts["skipped_lines"] == ["f-id"]
    assert not asked[-1].text.startswith("Sorry, I didn't catch that")
    # "furnace, no, I don't do furnaces" to the exclusions question is no exclusion.
    answer = extract(
        "furnace no I don't do furnaces", scope=CONTEXT.scope, today=FRIDAY, expect="exclusions"
    )
    assert answer.skipped_lines == ("f-id",) and answer.exclusions == ()
    question = extract("and the roof?", scope=CONTEXT.scope, today=FRIDAY, expect="exclusions")
    assert question.exclusions == ()


def test_who_is_this_is_answered_and_a_bare_ok_gets_the_price_question_again() -> None:
    turns = _play(["who is this?", "ok what do you need", "roof is 9 grand"])
    intro, again = turns[1].text, turns[2].text
    assert intro.startswith("This is the automated assistant of Acme Property Partners")
    assert intro.endswith("Could you give me a price for each line, or a total for the job?")
    assert again.endswith("Could you give me a price for each line, or a total for the job?")
    assert turns[3].facts["line_prices"] == {"roof-id": "9000.00"}
    assert turns[3].text.startswith("And the furnace?")


def test_i_need_to_see_it_first_books_a_site_visit_and_asks_nothing_about_a_price(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id, conversation = _call(
        client,
        world,
        ["I need to see it first before I give you a number", "uh I could swing by Tuesday", "yep"],
    )
    spoken = _agent(conversation)
    assert spoken[1] == "When could you come out to look at the property?"
    assert not any("doesn't include" in s for s in spoken)
    assert conversation.hung_up
    call = _call_row(db, call_id)
    assert call.outcome == "availability_confirmed"
    today = _local_today(world)
    tuesday = today + dt.timedelta(days=(1 - today.weekday() - 1) % 7 + 1)
    assert call.outcome_data["facts"]["site_visit"] == tuesday.isoformat()
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.name == "action.items.created")
        .order_by(col(OutboxEvent.created_at))
    ).all()
    kinds = [
        i["kind"]
        for r in rows
        if r.payload.get("call_id") == str(call_id)
        for i in r.payload["items"]
    ]
    assert "site_visit" in kinds


@pytest.mark.parametrize(
    "said",
    ["roof's eleven five, furnace forty two hundred", "the roof 11,500, furnace 4,200"],
)
def test_a_price_list_separated_by_commas_gives_each_line_its_own_price(said: str) -> None:
    answer = extract(said, scope=CONTEXT.scope, today=FRIDAY, expect="prices")
    prices = {p.scope_item_id: p.amount for p in answer.line_prices}
    assert prices == {"roof-id": Decimal("11500"), "f-id": Decimal("4200")}


def test_a_puzzled_hello_gets_the_introduction_again_not_a_miss() -> None:
    turns = _play(["uh hello?", "hello", "roof is 9 grand"])
    assert turns[1].text.startswith("This is the automated assistant of Acme Property Partners")
    assert turns[2].text.startswith("This is the automated assistant")  # no hang-up after two
    assert turns[3].facts["line_prices"] == {"roof-id": "9000.00"}
    # Someone who only ever says hello is not introduced for ever.
    lost = _play(["hello?", "hello?", "hello?", "hello?"])
    assert lost[-1].done and len(lost) == 5


def test_a_price_range_is_read_back_as_a_range_and_flagged_for_the_team(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id, conversation = _call(
        client,
        world,
        [
            "yeah so for the roof I'm looking at somewhere between eight and ten thousand",
            "no furnace",
            "nothing",
            "first week of March",
            "three days",
            "yes",
            "yes",
        ],
    )
    confirm = next(t for t in _agent(conversation) if t.startswith("Let me confirm"))
    assert "roof $8,000 to $10,000 (we'll note the top, $10,000)" in confirm
    assert "$10,000 in total" not in confirm
    (bid,) = construction_service.list_bids(
        session=db, org_id=world.org.id, project_id=world.project.id
    )
    assert bid.total_amount == Decimal("10000.00")
    (line,) = bid.line_items
    assert line["scope_item_id"] == str(world.roof.id)
    assert line["note"].startswith("said as $8,000 to $10,000")
    rows = db.exec(select(OutboxEvent).where(OutboxEvent.name == "action.items.created")).all()
    (firm,) = [
        i
        for r in rows
        if r.payload.get("call_id") == str(call_id)
        for i in r.payload["items"]
        if i["kind"] == "firm_price"
    ]
    assert firm["low"] == "8000.00" and firm["high"] == "10000.00"
    assert "get a firm price" in firm["text"]
    # Said twice, a plain price replaces the range.
    facts = extract("the roof is nine grand", scope=CONTEXT.scope, today=FRIDAY, expect="prices")

    first = CallFacts().merge(
        extract("roof 8 to 10 grand", scope=CONTEXT.scope, today=FRIDAY, expect="prices")
    )
    assert first.price_ranges == {"roof-id": "8000.00"}
    assert first.merge(facts).price_ranges == {}


def _scheduled(db: Session, world: World) -> CallSchedule:
    (schedule,) = db.exec(
        select(CallSchedule).where(
            CallSchedule.contractor_id == world.contractor.id, CallSchedule.status == "scheduled"
        )
    ).all()
    return schedule


def test_call_me_back_at_nine_tonight_is_nine_pm_so_the_next_morning(
    client: TestClient, db: Session
) -> None:
    world = World(db)  # noon where the contractor is; calls 08:00-20:00
    _, conversation = _call(
        client,
        world,
        ["yeah roof nine grand furnace three", "nothing", "call me back at 9 tonight"],
    )
    tomorrow = _local_today(world) + dt.timedelta(days=1)
    said = _agent(conversation)[-1]
    assert said == (
        "Of course. That's outside the hours we may call, so we'll call you back on "
        f"{tomorrow:%A, %B} {tomorrow.day} at 8 AM. Goodbye."
    )
    zone = ZoneInfo(world.contractor.timezone)
    schedule = _scheduled(db, world)
    assert schedule.scheduled_for == dt.datetime.combine(tomorrow, dt.time(8), tzinfo=zone)
    # "Nothing" to "and the furnace? ... or should I leave it out?" left it out.
    assert not any(t.startswith("Sorry, I didn't catch that") for t in _agent(conversation))


def test_call_me_back_at_four_said_in_the_evening_promises_tomorrow(
    client: TestClient, db: Session
) -> None:
    world = World(db, local_hour=19)
    _, conversation = _call(client, world, ["can you call me back at 4"])
    assert _agent(conversation)[-1] == "Of course. We'll call you back tomorrow at 4 PM. Goodbye."
    tomorrow = _local_today(world) + dt.timedelta(days=1)
    zone = ZoneInfo(world.contractor.timezone)
    schedule = _scheduled(db, world)
    assert schedule.scheduled_for == dt.datetime.combine(tomorrow, dt.time(16), tzinfo=zone)


@pytest.mark.parametrize("said", ["nothing", "leave it out", "skip it", "uh nah"])
def test_leave_it_out_to_a_line_question_skips_the_line(said: str) -> None:
    answer = extract(said, scope=CONTEXT.scope, today=FRIDAY, expect="line:f-id")
    assert answer.skipped_lines == ("f-id",) and not answer.declined


def test_a_wrong_number_ends_politely_and_asks_the_team_to_fix_the_phone(
    client: TestClient, db: Session
) -> None:
    world = World(db)
    call_id, conversation = _call(
        client, world, ["sorry you've got the wrong number, there's no Ray here"]
    )
    assert conversation.hung_up
    assert _agent(conversation)[-1] == "Sorry to have bothered you. Have a good day, goodbye."
    assert _call_row(db, call_id).outcome == "wrong_number"
    rows = db.exec(select(OutboxEvent)).all()
    items = [
        i
        for r in rows
        if r.name == "action.items.created" and r.payload.get("call_id") == str(call_id)
        for i in r.payload["items"]
    ]
    assert [i["kind"] for i in items] == ["fix_phone"]
    # Whoever answered is not the contractor: no contractor.responded for them.
    assert not [r for r in rows if r.name == "contractor.responded"]


def test_simulate_call_is_registered_even_when_the_voice_commands_were_imported_first() -> None:
    # As the voice tests do: cli.voice_commands is imported before the dealdesk app exists.
    script = (
        "import cli.voice_commands, typer\n"
        "from cli.main import app\n"
        "root = typer.main.get_command(app)\n"
        "print(sorted(root.commands['simulate'].commands), 'calls' in root.commands)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[-2] == "['call', 'whatsapp'] True"
