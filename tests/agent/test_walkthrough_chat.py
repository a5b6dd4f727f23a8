"""Walkthrough notes and rehab estimates typed into the chat (investor QA).

Was: "rehab estimate for <address>: roof is shot, furnace is original, kitchen cabinets are
worn, twelve windows need replacing, the basement has water" priced the roof and cabinets and
silently dropped the rest (the planner kept only chunks with its own condition words), and a
texted walkthrough ("Walked 1215 Kellogg today. Roof is shot, ...") was not understood at all,
so a later report priced the default scope. Now the estimate reads the words with the
walkthrough extractor (every component priced or listed as not priced), and a texted
walkthrough goes to ``walkthrough_notes``: stored as a voice note's transcript is, so the
analysis and the PDF that follow use those conditions. The written grade "poor" is read too.
"""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import Session

from domain.audio.extraction import Condition, extract_from_text
from domain.auth.enums import Role
from domain.auth.models import User
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_sold_market, make_subject_property, make_user


@pytest.fixture
def investor(committed_db: Session) -> User:
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    make_subject_property(db, org)  # 1234 Subject Ave, 1,500 sqft
    user = make_user(db, org, Role.investor)
    db.commit()
    return user


def test_a_texted_walkthrough_is_kept_and_the_report_uses_it(investor: User) -> None:
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    note = "Walked 1234 Subject Ave today. Roof is shot, furnace is original, basement has water"
    walked = checked_turn(investor, note, thread, channel="whatsapp")
    assert [c.name for c in walked.tool_calls] == ["walkthrough_notes"]
    reply = walked.reply
    assert reply.startswith("Saved your walkthrough of 1234 Subject Ave")
    for component in ("roof", "furnace", "drain tile", "sump pump"):
        assert component in reply, component
    assert "Verdict: " in reply  # the analysis on those conditions follows
    # What the walkthrough did not mention is no longer priced: said (as the voice note says).
    assert "Only what you mentioned is priced now, not the default scope." in reply
    # "report" next is about that house, priced on the walkthrough.
    report = checked_turn(investor, "send me the report", thread, channel="whatsapp")
    assert [c.name for c in report.tool_calls] == ["generate_report"]
    assert "1234 Subject Ave" in report.reply


def test_notes_after_an_analysis_are_about_that_house(investor: User) -> None:
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    checked_turn(investor, "1234 Subject Ave", thread, channel="whatsapp")
    walked = checked_turn(
        investor, "roof is shot, furnace is original, 12 windows are cracked", thread, "whatsapp"
    )
    assert [c.name for c in walked.tool_calls] == ["walkthrough_notes"]
    assert "property_id" in walked.tool_calls[0].args
    assert "windows x12" in walked.reply


def test_a_rehab_estimate_in_plain_words_drops_nothing(investor: User) -> None:
    text = (
        "rehab estimate for 1234 Subject Ave: roof is shot, furnace is original, kitchen "
        "cabinets are worn, twelve windows need replacing, the basement has water"
    )
    result = checked_turn(investor, text)
    assert [c.name for c in result.tool_calls] == ["estimate_rehab"]
    assert "notes" in result.tool_calls[0].args
    for component in ("roof", "furnace", "cabinets", "windows", "drain tile", "sump pump"):
        assert component in result.reply.lower(), component


def test_walkthrough_notes_without_a_house_ask_which(investor: User) -> None:
    reply = checked_turn(investor, "roof is shot, furnace is original, basement has water").reply
    assert reply.startswith("Which property?")


def test_the_written_grade_poor_is_read() -> None:
    found = {f.component: f.condition for f in extract_from_text("roof poor, 12 windows poor")}
    assert found == {"roof": Condition.poor, "windows": Condition.poor}
    (roof,) = extract_from_text("the roof is in poor condition")
    assert roof.condition is Condition.poor


def test_a_rooms_gut_said_after_its_grade_is_the_rooms_not_the_houses() -> None:
    """Was: "Kitchen is dated and needs a full gut" priced a $74,750 whole-house gut (and folded
    the carpet into it); the gut belongs to the kitchen named in the clause before."""
    found = {
        f.component
        for f in extract_from_text(
            "Kitchen is dated and needs a full gut, carpet is worn out, water heater is leaking"
        )
    }
    assert "gut rehab" not in found
    assert {"kitchen cabinets", "countertops", "kitchen appliances", "carpet"} <= found
    # The whole house still is one when the house is what needs it.
    assert [f.component for f in extract_from_text("the house needs a full gut")] == ["gut rehab"]


def test_a_kitchen_graded_as_a_whole_is_listed_not_dropped(investor: User) -> None:
    text = "rehab estimate for 1234 Subject Ave: the kitchen is outdated and the carpet is worn"
    reply = checked_turn(investor, text).reply
    assert "not priced: kitchen: a room graded as a whole is not one cost-book line" in reply
    assert "carpet" in reply
