"""QA pass 9: contractors' spoken numbers and dates read as they meant them.

"four thousand two fifty" is $4,250 (not $4,002), "between thirty eight hundred and forty two
hundred" a $3,800-$4,200 range (not $384,200), "Wednesday December 9th" December 9 (not the
coming Wednesday), and "twelve fifty" to a price question $1,250 (not "I'm having trouble
hearing you"); the neighbours that already worked stay as they were.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from domain.voice.extraction import (
    ScopeLine,
    extract,
    facts_from_transcript,
    normalise,
    parse_amount,
    parse_start_date,
    time_of_day,
)

# A Saturday: the QA calls' date.
TODAY = dt.date(2026, 11, 28)
SCOPE = [
    ScopeLine("roof-id", "roof", None, "20", "squares"),
    ScopeLine("furnace-id", "furnace", None, "1", "each"),
    ScopeLine("wh-id", "water heater", None, "1", "each"),
]


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("four thousand two fifty", "4250"),
        ("four thousand two fifty five", "4255"),
        ("four thousand two hundred fifty", "4250"),
        ("two thousand five", "2005"),
        ("three thousand and fifty", "3050"),
        ("three thousand and five hundred", "3500"),
        ("a thousand two hundred", "1200"),
        ("one hundred and fifty", "150"),
        ("a hundred and twenty thousand", "120000"),
        ("eleven thousand five hundred", "11500"),
        ("between thirty eight hundred and forty two hundred", "between 3800 and 4200"),
        ("thirty eight hundred forty two hundred", "3800 4200"),
        ("thirty eight hundred to forty two hundred", "3800 to 4200"),
        ("between two thousand and twenty five hundred", "between 2000 and 2500"),
        ("between two thousand and three thousand", "between 2000 and 3000"),
        ("between two and three thousand", "between 2 and 3000"),
        ("forty two fifty", "42 50"),  # the reader decides (a price when one is asked)
        ("twelve fifty", "12 50"),
        ("eleven five", "11 5"),
    ],
)
def test_normalise_reads_compound_numbers(said: str, expected: str) -> None:
    assert normalise(said) == expected


@pytest.mark.parametrize(
    ("said", "price_asked", "amount"),
    [
        ("I can do the roof for four thousand two fifty", False, "4250"),
        ("four thousand two hundred fifty", False, "4250"),
        ("two thousand five", False, "2005"),
        ("three thousand and fifty", False, "3050"),
        ("a thousand two hundred", False, "1200"),
        ("forty two fifty", True, "4250"),
        ("twelve fifty", True, "1250"),
        ("water heater, twelve fifty installed", True, "1250"),
        ("the water heater for twelve fifty", False, "1250"),  # a cue, no question needed
        ("nineteen ninety nine", True, "1999"),
        ("eleven five", True, "11500"),
        ("eleven-five", True, "11500"),
        ("twenty two five", True, "22500"),
        ("twelve and a half", True, "12500"),
        ("the roof for twenty twenty five", False, "2025"),  # a price cue beats a year
        ("call it twelve fifty", False, "1250"),
    ],
)
def test_spoken_prices(said: str, price_asked: bool, amount: str) -> None:
    assert parse_amount(said, price_asked=price_asked) == Decimal(amount)


@pytest.mark.parametrize(
    ("said", "price_asked"),
    [
        ("twelve fifty", False),  # no price asked, no cue
        ("at twelve fifty", False),  # a time
        ("we'll be there at ten thirty", True),  # a time, even to a price question
        ("I'm there by eleven fifteen", True),
        ("twelve fifty pm", True),
        ("in twenty twenty six", True),  # a year
        ("early twenty twenty seven", True),
        ("twelve fifty squares", True),  # a quantity
        ("call me at three one three five five five", True),  # a run of digits
        ("fifteen fifty five twelve", True),
        ("start on march twelve", True),  # a date
    ],
)
def test_times_years_and_runs_are_not_prices(said: str, price_asked: bool) -> None:
    assert parse_amount(said, price_asked=price_asked) is None


@pytest.mark.parametrize(
    ("said", "line", "price", "low"),
    [
        (
            "furnace between thirty eight hundred and forty two hundred",
            "furnace-id",
            "4200",
            "3800",
        ),
        ("furnace thirty eight hundred to forty two hundred", "furnace-id", "4200", "3800"),
        ("the furnace is between two and three thousand", "furnace-id", "3000", "2000"),
        ("roof between two thousand and twenty five hundred", "roof-id", "2500", "2000"),
        ("roof between eight and ten thousand", "roof-id", "10000", "8000"),
        ("the roof for three thousand and fifty", "roof-id", "3050", None),
        ("the roof for four thousand two fifty", "roof-id", "4250", None),
    ],
)
def test_ranges_keep_the_top_and_note_the_bottom(
    said: str, line: str, price: str, low: str | None
) -> None:
    answer = extract(said, scope=SCOPE, today=TODAY, expect="prices")
    assert {p.scope_item_id: p.amount for p in answer.line_prices} == {line: Decimal(price)}
    assert answer.total is None
    assert dict(answer.price_ranges) == ({line: f"{low}.00"} if low else {})


def test_the_qa_calls_are_read_back_as_said() -> None:
    ray = facts_from_transcript(
        [("prices", "I can do the roof for four thousand two fifty, and the furnace for 4.5k")],
        scope=SCOPE,
        today=TODAY,
    )
    assert ray.line_prices == {"roof-id": "4250.00", "furnace-id": "4500.00"}
    hank = facts_from_transcript(
        [
            (
                "prices",
                "furnace between thirty eight hundred and forty two hundred, water heater "
                "1,249.99, I don't do roofs",
            )
        ],
        scope=SCOPE,
        today=TODAY,
    )
    assert hank.line_prices == {"furnace-id": "4200.00", "wh-id": "1249.99"}
    assert hank.price_ranges == {"furnace-id": "3800.00"}
    assert hank.skipped_lines == ("roof-id",)
    # Asked about the water heater: "twelve fifty installed" is its price, not a miss.
    heater = extract(
        "water heater, twelve fifty installed", scope=SCOPE, today=TODAY, expect="line:wh-id"
    )
    assert [(p.scope_item_id, p.amount) for p in heater.line_prices] == [
        ("wh-id", Decimal("1250.00"))
    ]


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("I can start Wednesday December 9th instead", dt.date(2026, 12, 9)),
        ("start on Wednesday, December 9", dt.date(2026, 12, 9)),
        ("December 9th", dt.date(2026, 12, 9)),
        ("start on Wednesday the 9th of December", dt.date(2026, 12, 9)),
        ("start Monday the 7th", dt.date(2026, 12, 7)),
        ("start Wednesday 12/9", dt.date(2026, 12, 9)),
        # The weekday contradicts the date (December 9, 2026 is a Wednesday): the date wins.
        ("start Thursday December 9th", dt.date(2026, 12, 9)),
        # A weekday alone is still the coming one.
        ("start Wednesday", dt.date(2026, 12, 2)),
        ("start next Wednesday", dt.date(2026, 12, 2)),
        ("start Wednesday, and it takes until December 9th", dt.date(2026, 12, 2)),
    ],
)
def test_an_explicit_date_wins_over_its_weekday(said: str, expected: dt.date) -> None:
    assert dt.date(2026, 12, 9).weekday() == 2  # a Wednesday
    assert parse_start_date(said, after=TODAY) == expected


def test_the_start_heard_keeps_the_weekday_and_the_date() -> None:
    answer = extract(
        "I can start Wednesday December 9th instead", scope=SCOPE, today=TODAY, expect="start_date"
    )
    assert answer.start_date == dt.date(2026, 12, 9)
    assert answer.start_heard == "wednesday december 9th"
    callback = extract(
        "call me back Wednesday December 9th", scope=SCOPE, today=TODAY, expect="prices"
    )
    assert callback.callback_when is not None
    assert callback.callback_when.day == dt.date(2026, 12, 9)


def test_twelve_fifty_as_a_time_stays_a_time() -> None:
    asked_start = extract(
        "I can be there at twelve fifty", scope=SCOPE, today=TODAY, expect="start_date"
    )
    assert asked_start.line_prices == () and asked_start.total is None
    visit = extract(
        "I can swing by at ten thirty to take a look", scope=SCOPE, today=TODAY, expect="prices"
    )
    assert visit.line_prices == () and visit.total is None
    callback = extract("call me back at twelve fifty", scope=SCOPE, today=TODAY, expect="prices")
    assert callback.line_prices == () and callback.total is None
    assert callback.callback_when is not None and callback.callback_when.clock == "12:50"
    assert time_of_day("twelve fifty pm") == "12:50"
    assert time_of_day("three pm") == "15:00"
