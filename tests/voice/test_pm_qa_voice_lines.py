"""PM QA: a price booked on the line that only mentions its word, a roofer asked about furnaces.

1. "...and the flooring for seven thousand one hundred" went to "Bath tile, ceramic, floor
   and tub surround" (listed first) instead of "Flooring: luxury vinyl plank".
2. "get two roofing bids for 1215 Kellogg Ave" read all 9 scope lines to the roofer and asked
   him line by line about the furnace and the water heater.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from cli.voice_commands import simulate_conversation
from domain.construction import service as construction_service
from domain.voice import service
from domain.voice.extraction import ScopeLine, extract
from domain.voice.models import Call
from store.outbox import OutboxEvent
from tests.factories import make_contractor, make_project, override_settings
from tests.voice.helpers import PUBLIC, TOKEN, World, poster, voice_settings, zone_with_local_hour
from workers.voice import place_now

TODAY = dt.date(2026, 11, 27)
BATH_TILE = ScopeLine("bath", "Bath tile, ceramic, floor and tub surround (per sqft)", None, "60")
LVP = ScopeLine("lvp", "Flooring: luxury vinyl plank (per sqft)", None, "900", "sqft")
CARPET = ScopeLine("carpet", "Flooring: carpet with pad (per sqft)", None, "400", "sqft")
ROOF = ScopeLine("roof", "Roof: architectural asphalt shingles", None, "22", "squares")


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, redis: object) -> None:
    voice_settings(monkeypatch)
    override_settings(monkeypatch, openai_api_key=None, llm_base_url=None)


def _prices(said: str, scope: list[ScopeLine], expect: str = "prices") -> dict[str, Decimal]:
    answer = extract(said, scope=scope, today=TODAY, expect=expect)
    return {p.scope_item_id: p.amount for p in answer.line_prices}


# --- 1. which line a price is for ----------------------------------------------------------


@pytest.mark.parametrize("scope", [[ROOF, BATH_TILE, LVP], [ROOF, LVP, BATH_TILE]])
def test_the_flooring_price_goes_to_the_flooring_line_in_either_order(
    scope: list[ScopeLine],
) -> None:
    said = "yeah the roof I told you already, and the flooring for seven thousand one hundred"
    assert _prices(said, scope) == {"lvp": Decimal("7100")}
    # The bath line's own words still name it, however the lines are listed.
    assert _prices("the bath floor tile is 350", scope) == {"bath": Decimal("350")}
    assert _prices("flooring 7100, bath tile 350", scope) == {
        "lvp": Decimal("7100"),
        "bath": Decimal("350"),
    }


@pytest.mark.parametrize("scope", [[LVP, CARPET], [CARPET, LVP]])
def test_two_lines_named_alike_never_get_the_price_by_their_order(
    scope: list[ScopeLine],
) -> None:
    answer = extract("the flooring is seven thousand one hundred", scope=scope, today=TODAY)
    assert answer.line_prices == ()  # not the first "Flooring: ..." line listed
    assert answer.total == Decimal("7100")  # kept as the total, as "roof and furnace, 22 5"
    # Asked about the carpet, the same words price the carpet.
    assert _prices("the flooring is 7100", scope, expect="line:carpet") == {
        "carpet": Decimal("7100")
    }


# --- 2. a bid call for one trade asks about that trade's lines -----------------------------

KELLOGG_SCOPE = (
    ("Roof: architectural asphalt shingles", "22", "squares", "8800"),
    ("Roof tear-off (one layer, labour and haul-off)", "22", "squares", "2200"),
    ("Gas furnace, 80k BTU high-efficiency, installed", "1", "each", "4200"),
    ("Water heater, 40-50 gal gas tank, installed", "1", "each", "1500"),
    ("Electrical panel upgrade, 200 A", "1", "each", "2500"),
    ("Plumbing repipe in PEX (per sqft of living area)", "1100", "sqft", "4400"),
    ("Flooring: luxury vinyl plank (per sqft)", "900", "sqft", "7200"),
    ("Bath tile, ceramic, floor and tub surround (per sqft)", "60", "sqft", "350"),
    ("Interior paint, walls / ceilings / trim (per sqft of floor)", "1100", "sqft", "3300"),
)


def _trade_call(db: Session, world: World, project_id: uuid.UUID, trade: str) -> Call:
    """``contractor.call.requested`` for a trade, dispatched: the call placed (outbox)."""
    plan = service.plan_bid_calls(
        session=db,
        org_id=world.org.id,
        payload={
            "project_id": str(project_id),
            "trade": trade,
            "count": 2,
            "purpose": "bid_request",
            "requested_by": str(world.analyst.id),
        },
        source_event_id=uuid.uuid4(),
    )
    assert len(plan.schedules) == 1, plan.skipped
    (call,) = service.claim_due_schedules(session=db)
    assert place_now(db, call.id) in ("placed", "recorded")
    return call


def test_a_roofing_bid_call_reads_and_asks_about_the_roof_lines_only(
    client: TestClient, db: Session
) -> None:
    world = World(db)  # Ray's Roofing, callable now
    project = make_project(db, world.org, name="Rehab: 1215 Kellogg Ave", scope=KELLOGG_SCOPE)
    items = {
        i.component: i.id
        for i in construction_service.list_scope_items(
            session=db, org_id=world.org.id, project_id=project.id
        )
    }
    call = _trade_call(db, world, project.id, "roofing")
    context = service.call_context(session=db, call=call)
    assert context.trade == "roofing" and context.scope_note is None
    assert [line.component for line in context.scope] == [c for c, *_ in KELLOGG_SCOPE[:2]]

    conversation = simulate_conversation(
        poster(client),
        call_id=call.id,
        says=[
            "shingles are eighty eight hundred and the tear off twenty two hundred",
            "nope that's everything",
            "I can start next Monday",
            "three days",
            "yes I'm insured",
            "yes",
        ],
        token=TOKEN,
        public_base_url=PUBLIC,
    )
    assert set(conversation.statuses) == {200}
    agent = " ".join(text for speaker, text in conversation.lines if speaker == "agent")
    assert "We're collecting roofing bids for Roof: architectural asphalt shingles" in agent
    for other in ("furnace", "Water heater", "panel", "Flooring", "Bath tile", "paint"):
        assert other not in agent
    (bid,) = construction_service.list_bids(session=db, org_id=world.org.id, project_id=project.id)
    assert bid.total_amount == Decimal("11000.00")
    assert {str(line["scope_item_id"]) for line in bid.line_items} == {
        str(items[KELLOGG_SCOPE[0][0]]),
        str(items[KELLOGG_SCOPE[1][0]]),
    }
    # The roofer is not chased for the furnace, the water heater and the rest.
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.name == "action.items.created")
        .order_by(col(OutboxEvent.created_at))
    ).all()
    kinds = [
        i["kind"]
        for r in rows
        if r.payload.get("call_id") == str(call.id)
        for i in r.payload["items"]
    ]
    assert "review_bid" in kinds and "find_bids" not in kinds


@pytest.mark.parametrize(
    ("trade", "expected"),
    [
        ("plumbers", {"Water heater", "Plumbing repipe in PEX"}),
        ("hvac", {"Gas furnace"}),
        ("electrician", {"Electrical panel upgrade"}),
        ("flooring", {"Flooring"}),
        ("general", {c.split(",")[0].split(" (")[0] for c, *_ in KELLOGG_SCOPE}),
    ],
)
def test_each_trade_gets_its_own_lines(trade: str, expected: set[str]) -> None:
    scope = [ScopeLine(str(n), c, None, q, u) for n, (c, q, u, _) in enumerate(KELLOGG_SCOPE)]
    lines, note = service.trade_scope(scope, trade)
    heads = {line.component.split(",")[0].split(" (")[0].split(":")[0] for line in lines}
    assert heads == {e.split(":")[0] for e in expected}
    assert note is None


def test_with_no_line_of_the_trade_the_whole_scope_is_asked_and_the_call_says_so(
    client: TestClient, db: Session
) -> None:
    world = World(db)  # a roof + furnace project
    make_contractor(
        db,
        world.org,
        name="Pete's Plumbing",
        trades=["plumbing"],
        timezone=zone_with_local_hour(12),
    )
    call = _trade_call(db, world, world.project.id, "plumbing")
    context = service.call_context(session=db, call=call)
    assert [line.component for line in context.scope] == ["roof", "furnace"]
    assert context.scope_note is not None and "no scope line" in context.scope_note
    assert context.to_json()["scope_note"] == context.scope_note
    conversation = simulate_conversation(
        poster(client), call_id=call.id, says=["hello?"], token=TOKEN, public_base_url=PUBLIC
    )
    greeting = next(text for speaker, text in conversation.lines if speaker == "agent")
    assert "none of the listed work is marked plumbing" in greeting
    assert "roof (22 squares) and furnace (1 each)" in greeting


TEAR_OFF = ScopeLine(
    "tear", "Roof tear-off (one layer, labour and haul-off)", None, "22", "squares"
)


@pytest.mark.parametrize("scope", [[ROOF, TEAR_OFF], [TEAR_OFF, ROOF]])
def test_two_roof_lines_each_get_the_price_said_with_their_own_words(
    scope: list[ScopeLine],
) -> None:
    said = "shingles are eighty eight hundred and the tear off twenty two hundred"
    assert _prices(said, scope) == {"roof": Decimal("8800"), "tear": Decimal("2200")}
