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
