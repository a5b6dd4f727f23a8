"""What the call agent says aloud: components as words (eleventh session's QA)."""

from __future__ import annotations

from agent.call_graph import question, scope_sentence
from domain.voice.extraction import ScopeLine


def test_a_component_key_is_read_as_words() -> None:
    """Was "And the water_heater?" read aloud."""
    line = ScopeLine(id="l1", component="water_heater", quantity="1", unit="each")
    assert scope_sentence([line]) == "water heater (1 each)"
    context = {"scope": [{"id": "l1", "component": "water_heater", "quantity": "1"}]}
    assert question("line:l1", context).startswith("And the water heater? What would you charge")


def test_a_walkthrough_at_3_is_3_pm() -> None:
    """Was a walkthrough day with no time: "Tuesday at 3" had no am/pm."""
    from domain.voice.extraction import clock_in, normalise

    assert clock_in(normalise("Tuesday at 3")) == "15:00"
    assert clock_in(normalise("tuesday at 10")) == "10:00"
    assert clock_in(normalise("Tuesday at 3 PM")) == "15:00"
