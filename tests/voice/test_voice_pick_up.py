"""The contractor picks up and says who they are: "Yes, this is Ray." is not a miss.

Was: the agent's greeting ends with the price question, so "Yes, this is Ray." or "Speaking."
got "Sorry, I didn't catch that." and counted towards hanging up as unclear. Now it is thanked
once and the question asked again; the second time it is a miss as before.
"""

from __future__ import annotations

import pytest

from tests.voice.test_voice_qa_contractors import (  # the first pass's call helpers
    _play,
    _settings,  # noqa: F401 (autouse fixture)
)


@pytest.mark.parametrize(
    "said",
    ["Yes, this is Ray.", "Speaking.", "yeah that's me", "Hey, how are you?", "this is him"],
)
def test_picking_up_is_thanked_and_the_question_asked_again(said: str) -> None:
    greeting, answer = _play([said])
    assert not answer.done
    assert answer.text.startswith("Thanks. ") and "didn't catch" not in answer.text
    # The same question again: the greeting's last question is repeated word for word.
    assert answer.text.removeprefix("Thanks. ") in greeting.text
    assert answer.expect == greeting.expect


def test_the_call_goes_on_to_the_price_after_picking_up() -> None:
    turns = _play(["Yes, this is Ray.", "Roof is 8,000 and the furnace 3,800."])
    assert turns[-1].facts["line_prices"] == {"roof-id": "8000.00", "f-id": "3800.00"}
    assert turns[-1].expect == "exclusions"  # on to the next question, no miss on the way
    assert turns[-1].dialogue["misses"] == 0


def test_a_second_pick_up_line_is_a_miss_not_a_loop() -> None:
    turns = _play(["Yes, this is Ray.", "yes this is ray"])
    assert turns[-1].text.startswith("Sorry, I didn't catch that.")
