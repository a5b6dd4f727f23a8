"""A house with no living area on file: the assistant says the rehab budget is incomplete and
asks for the square footage; "it's 1,500 sqft" then completes the analysis (before, the tool
had no way to take it). Real graph, tools and database; every figure in a reply comes from
the turn's tool results.
"""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import Session

from agent.planner import Conversation, plan_for
from domain.auth.enums import Role
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_sold_market, make_subject_property, make_user


@pytest.mark.parametrize(
    ("said", "args"),
    [
        ("1234 Main St, 1100 sqft", {"address": "1234 Main St", "square_feet": 1100}),
        (
            "14500 Kercheval Ave 1,500 sq ft",
            {"address": "14500 Kercheval Ave", "square_feet": 1500},
        ),
        ("1500 square feet house at 88 Oak St", {"address": "88 Oak St", "square_feet": 1500}),
    ],
)
def test_a_size_with_an_address_is_the_houses_not_a_house_number(
    said: str, args: dict[str, object]
) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == ("analyze_property", args)


@pytest.mark.parametrize("said", ["flooring 900 sqft", "it's 1,100 sqft"])
def test_a_size_alone_is_never_read_as_an_address(said: str) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool is None  # was: analyze_property {"address": "900 sqft"}


def test_the_square_footage_completes_an_incomplete_analysis(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    make_subject_property(db, org, square_feet=None)
    analyst = make_user(db, org, Role.analyst)
    db.commit()
    thread = f"web:{uuid.uuid4().hex}"

    first = checked_turn(analyst, "1234 Subject Ave", thread)
    assert "(incomplete)" in first.reply
    assert "Note: the rehab budget is incomplete" in first.reply
    assert "send the square footage or your rehab budget." in first.reply

    second = checked_turn(analyst, "it's about 1,500 sqft", thread)
    calls = [(c.name, c.args.get("square_feet")) for c in second.tool_calls]
    assert calls == [("analyze_property", 1500)]
    assert "incomplete" not in second.reply
    assert "Values and rehab sized with the 1,500 sqft you gave." in second.reply
    assert "not size-adjusted" not in second.reply  # the given size valued the house too
