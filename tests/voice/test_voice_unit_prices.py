"""Unit rates ("1,500 per square") are multiplied out or asked about, and cents are kept."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from agent import call_graph
from domain.voice.enums import CallPurpose
from domain.voice.extraction import CallFacts, ScopeLine, extract, parse_amount
from domain.voice.service import CallContext
from tests.factories import override_settings

CALL_DATE = dt.date(2026, 11, 27)
# The roof is scoped at 20 squares, the furnace as 1 each, the gutters at 140 linear feet.
ROOF = ScopeLine("roof-id", "roof", None, "20", "squares")
FURNACE = ScopeLine("f-id", "furnace", None, "1", "each")
GUTTERS = ScopeLine("g-id", "gutters", None, "140", "linear ft")
SCOPE = [ROOF, FURNACE]
CONTEXT = CallContext(
    call_id=uuid.uuid4(),
    purpose=CallPurpose.bid_request,
    company="Acme Property Partners",
    contractor_name="Ray",
    project_label="14500 Kercheval Ave, Detroit, MI",
    scope=(ROOF, FURNACE),
    today=CALL_DATE,
    callback_number="+13135550199",
)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    override_settings(monkeypatch, openai_api_key=None, llm_base_url=None)


@pytest.mark.parametrize(
    ("said", "line", "price", "rate"),
    [
        # 20 squares x $1,500 = $30,000
        ("it's 1,500 per square for the roof", "roof-id", "30000.00", "1500.00"),
        ("the roof is fifteen hundred a square", "roof-id", "30000.00", "1500.00"),
        ("roof, 20 squares at 1500 each", "roof-id", "30000.00", "1500.00"),
        # 140 ft x $9 = $1,260
        ("gutters are $9 a linear foot", "g-id", "1260.00", "9.00"),
        # 1 each x $4,200
        ("the furnace is 4200 each", "f-id", "4200.00", "4200.00"),
    ],
)
def test_a_rate_in_the_lines_unit_is_multiplied_by_its_quantity(
    said: str, line: str, price: str, rate: str
) -> None:
    answer = extract(said, scope=[*SCOPE, GUTTERS], today=CALL_DATE, expect="prices")
    (found,) = answer.line_prices
    assert (found.scope_item_id, found.amount, found.rate) == (line, Decimal(price), Decimal(rate))
    assert answer.total is None and answer.unit_rates == ()


def test_a_rate_in_another_unit_is_not_a_price_but_a_question() -> None:
    answer = extract("the roof is $4 a square foot", scope=SCOPE, today=CALL_DATE, expect="prices")
    assert answer.line_prices == () and answer.total is None
    assert [(r.key, r.spoken) for r in answer.unit_rates] == [("roof-id", "$4 per square foot")]
    facts = CallFacts().merge(answer)
    assert not facts.priced and facts.unit_rates == {"roof-id": "$4 per square foot"}


def test_a_rate_is_never_taken_as_the_whole_jobs_total() -> None:
    # No line named, and no line counted in square feet: the total is asked for.
    answer = extract("about 6 dollars a square foot", scope=SCOPE, today=CALL_DATE, expect="prices")
    assert answer.total is None and answer.line_prices == ()
    assert [r.key for r in answer.unit_rates] == ["total"]


@pytest.mark.parametrize(
    ("said", "amount"),
    [
        ("nine thousand nine hundred ninety nine dollars and fifty cents", "9999.50"),
        ("$9,999 and 50 cents", "9999.50"),
        ("twelve hundred dollars and five cents", "1200.05"),
        ("eleven thousand five hundred dollars", "11500.00"),
    ],
)
def test_cents_after_dollars_are_kept(said: str, amount: str) -> None:
    assert parse_amount(said) == Decimal(amount)


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


def test_the_read_back_shows_how_a_rate_makes_the_line_price(offline: None) -> None:
    turns = _play(
        [
            "it's 1,500 per square for the roof, and the furnace forty two hundred",
            "nothing",
            "next monday",
            "three days",
            "yes insured",
            "yes",
        ]
    )
    assert turns[1].facts["line_prices"] == {"roof-id": "30000.00", "f-id": "4200.00"}
    confirm = next(t for t in turns if t.expect == "confirm")
    assert confirm.text.startswith(
        "Let me confirm what I heard: roof 20 squares at $1,500 = $30,000; furnace $4,200;"
    )
    assert turns[-1].done


def test_a_rate_in_another_unit_makes_the_agent_ask_for_the_lines_total(offline: None) -> None:
    turns = _play(["the roof is $4 a square foot", "call it nine thousand"])
    asked = turns[1]
    assert asked.expect == "line_total:roof-id"
    assert asked.text == (
        "You said $4 per square foot for the roof. I have the roof as 20 squares. "
        "What would the roof come to in total?"
    )
    assert turns[2].facts["line_prices"] == {"roof-id": "9000.00"}
    assert turns[2].facts["unit_rates"] == {}
    assert turns[2].expect == "line:f-id"  # on to the furnace
