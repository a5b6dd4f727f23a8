"""The rule-based reading of what contractors say: money, dates, durations, intents, lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from domain.voice.extraction import (
    CallFacts,
    ScopeLine,
    extract,
    facts_from_transcript,
    next_day_of_month,
    normalise,
    parse_amount,
    parse_duration_days,
    parse_exclusions,
    parse_start_date,
    wants_opt_out,
)

# A Friday.
CALL_DATE = dt.date(2026, 11, 27)
SCOPE = [ScopeLine("roof-id", "roof", None, "22", "squares"), ScopeLine("f-id", "furnace")]


@pytest.mark.parametrize(
    ("said", "amount"),
    [
        ("eleven thousand five hundred", "11500"),
        ("11.5k", "11500"),
        ("$11,500", "11500"),
        ("eleven point five thousand", "11500"),
        ("forty two hundred", "4200"),
        ("twelve grand", "12000"),
        ("11 thousand 500", "11500"),
        ("one hundred and fifty dollars", "150"),
        ("$950", "950"),
        ("a hundred bucks", "100"),
    ],
)
def test_amounts_in_words_and_digits(said: str, amount: str) -> None:
    assert parse_amount(said) == Decimal(amount)


@pytest.mark.parametrize(
    "said",
    ["22 squares", "four days", "come at 10 am", "march 2027", "march 3rd, 2027", "the 3rd"],
)
def test_quantities_times_and_dates_are_not_money(said: str) -> None:
    assert parse_amount(said) is None


def test_normalise_reads_numbers_and_ordinals() -> None:
    assert normalise("Twenty-Third of March, eleven five") == "23rd of march, 11 5"


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("start on the third", dt.date(2026, 12, 3)),  # the next 3rd after Nov 27
        ("start on the twenty eighth", dt.date(2026, 11, 28)),
        ("the 27th", dt.date(2026, 12, 27)),  # today is the 27th: the next one
        ("next Monday", dt.date(2026, 11, 30)),
        ("March 3rd", dt.date(2027, 3, 3)),
        ("the 3rd of march", dt.date(2027, 3, 3)),
        ("tomorrow", dt.date(2026, 11, 28)),
        ("I can start in two weeks", dt.date(2026, 12, 11)),
        ("12/15", dt.date(2026, 12, 15)),
        ("right away", dt.date(2026, 11, 28)),
    ],
)
def test_start_dates_are_relative_to_the_call_date(said: str, expected: dt.date) -> None:
    assert parse_start_date(said, after=CALL_DATE) == expected


def test_the_31st_skips_months_without_one() -> None:
    assert next_day_of_month(31, dt.date(2027, 1, 31)) == dt.date(2027, 3, 31)


@pytest.mark.parametrize(
    ("said", "days"),
    [
        ("takes four days", 4),
        ("about two weeks", 14),
        ("3 to 4 days", 4),
        ("a couple of days", 2),
        ("a week", 7),
        ("sixteen hours", 2),
        ("I can start in two weeks", None),  # when, not how long
        ("booked two weeks out", None),
    ],
)
def test_durations(said: str, days: int | None) -> None:
    assert parse_duration_days(said) == days


def test_a_bare_number_is_days_only_when_the_question_was_how_long() -> None:
    assert parse_duration_days("about five") is None
    assert parse_duration_days("about five", bare_number_is_days=True) == 5


@pytest.mark.parametrize(
    ("said", "opted_out"),
    [
        ("don't call me", True),
        ("remove me from your list", True),
        ("please stop calling this number", True),
        ("take me off your list", True),
        ("put me on your do not call list", True),
        ("don't call me before 9", False),
        ("call me back later", False),
        ("I don't do furnaces", False),
    ],
)
def test_opt_out(said: str, opted_out: bool) -> None:
    assert wants_opt_out(said) is opted_out


def test_exclusions() -> None:
    assert parse_exclusions("that doesn't include permits, and I can start monday") == ["permits"]
    assert parse_exclusions("excluding the dumpster.") == ["dumpster"]
    assert parse_exclusions("price is fine but disposal is extra") == ["disposal"]
    assert parse_exclusions("everything is included") == []


def test_the_acceptance_sentence() -> None:
    answer = extract(
        "I can do the roof for eleven thousand five hundred, start on the third, takes four days",
        scope=SCOPE,
        today=CALL_DATE,
        expect="prices",
    )
    assert [(p.scope_item_id, p.amount) for p in answer.line_prices] == [
        ("roof-id", Decimal("11500.00"))
    ]
    assert (answer.start_date, answer.duration_days, answer.total) == (
        dt.date(2026, 12, 3),
        4,
        None,
    )


def test_each_amount_goes_to_the_line_named_beside_it() -> None:
    answer = extract(
        "roof is 11,500 and the furnace forty two hundred", scope=SCOPE, today=CALL_DATE
    )
    assert {p.scope_item_id: p.amount for p in answer.line_prices} == {
        "roof-id": Decimal("11500.00"),
        "f-id": Decimal("4200.00"),
    }
    total = extract("fifteen thousand for everything", scope=SCOPE, today=CALL_DATE)
    assert (total.total, total.line_prices) == (Decimal("15000.00"), ())
    asked = extract("about 4,500", scope=SCOPE, today=CALL_DATE, expect="line:f-id")
    assert [p.scope_item_id for p in asked.line_prices] == ["f-id"]
    skipped = extract("no, I don't do furnaces", scope=SCOPE, today=CALL_DATE, expect="line:f-id")
    assert skipped.skipped_lines == ("f-id",) and not skipped.declined


def test_facts_accumulate_and_a_later_price_replaces_an_earlier_one() -> None:
    facts = facts_from_transcript(
        [
            ("prices", "roof for ten thousand"),
            ("exclusions", "nope"),
            ("confirm", "no, the roof is eleven thousand"),
            ("insurance", "yes"),
        ],
        scope=SCOPE,
        today=CALL_DATE,
    )
    assert facts.line_prices == {"roof-id": "11000.00"}
    assert facts.exclusions_answered and facts.exclusions == ()
    assert facts.insured is True
    assert facts.bid_total() == Decimal("11000.00")
    assert CallFacts.from_json(facts.to_json()) == facts


@pytest.mark.parametrize(
    ("said", "amount"),
    [
        # Contractor shorthand for thousands, with a cue that a price is being given.
        ("the roof for eleven five", "11500"),
        ("roof is eleven-five", "11500"),
        ("it's twelve and a half", "12500"),
        ("about twelve and a half grand", "12500"),
        ("nine grand", "9000"),  # a money word: no cue needed
        ("I'd do it for 11 5", "11500"),
    ],
)
def test_thousands_shorthand_with_a_price_cue(said: str, amount: str) -> None:
    assert parse_amount(said) == Decimal(amount)


@pytest.mark.parametrize(
    "said",
    [
        "eleven five",  # no cue and no price asked: could be anything
        "we'll be there at eleven five",  # "at": a time, not a price
        "call me at three one three five five five",  # a run of digits
        "two and a half days",  # a duration
        "I have twelve five guys",  # a count
        "start on march eleven",  # a date
    ],
)
def test_thousands_shorthand_is_not_read_without_a_price(said: str) -> None:
    assert parse_amount(said) is None


def test_shorthand_answers_a_price_question_without_a_cue() -> None:
    assert parse_amount("eleven five", price_asked=True) == Decimal("11500")
    assert parse_amount("twelve and a half", price_asked=True) == Decimal("12500")
    # Asked for the prices: each figure goes to the line named beside it.
    answer = extract(
        "roof eleven five, and the furnace four five", scope=SCOPE, today=CALL_DATE, expect="prices"
    )
    assert {p.scope_item_id: p.amount for p in answer.line_prices} == {
        "roof-id": Decimal("11500.00"),
        "f-id": Decimal("4500.00"),
    }
    # Asked about the furnace line: "twelve and a half" is $12,500 for that line.
    asked = extract("twelve and a half", scope=SCOPE, today=CALL_DATE, expect="line:f-id")
    assert [(p.scope_item_id, p.amount) for p in asked.line_prices] == [
        ("f-id", Decimal("12500.00"))
    ]
    # Asked how long: "eleven five" is no price.
    assert extract("eleven five", scope=SCOPE, today=CALL_DATE, expect="duration").total is None


def test_and_a_half_also_reads_durations() -> None:
    assert normalise("twelve and a half") == "12.5"
    assert parse_duration_days("two and a half days") == 3  # rounded up to whole days
