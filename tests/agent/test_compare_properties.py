"""Comparing houses in the chat ("compare X and Y", "which is the better deal, X or Y?").

Was: two addresses in one message got "Send them one per message". Now ``compare_properties``
analyses each house as ``analyze_property`` does and ``analysis_service.compare_analyses`` names
the leader as a flip (highest profit) and as a rental (highest cash flow). Real graph, tools and
database; ``checked_turn`` asserts every figure in the reply came from the tool result.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from domain.analysis import service as analysis_service
from domain.auth.enums import Role
from domain.auth.models import User
from domain.property.models import Property
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_sold_market, make_subject_property, make_user


@pytest.fixture
def investor(committed_db: Session) -> User:
    db = committed_db
    org = make_org(db)
    make_sold_market(db, org)
    make_subject_property(db, org)  # 1234 Subject Ave, listed at $45,000
    make_subject_property(
        db, org, address_line="1300 Subject Ave", list_price=Decimal(90000), condition_rating=6
    )
    user = make_user(db, org, Role.investor)
    db.commit()
    return user


def test_two_houses_side_by_side_with_the_leaders(investor: User, committed_db: Session) -> None:
    turn = checked_turn(investor, "which is the better deal, 1234 Subject Ave or 1300 Subject Ave?")
    assert [c.name for c in turn.tool_calls] == ["compare_properties"]
    reply = turn.reply
    assert "1234 Subject Ave" in reply and "1300 Subject Ave" in reply
    # The leaders are the analyses' own: recompute them from the service.
    props = {p.address_line: p for p in _props(committed_db, investor)}
    analyses = [
        analysis_service.analyze_property(
            session=committed_db, org_id=investor.org_id, property_id=props[a].id
        )
        for a in ("1234 Subject Ave", "1300 Subject Ave")
    ]
    ranked = analysis_service.compare_analyses(analyses)
    assert ranked.best_flip is not None and ranked.best_rental is not None
    assert (
        f"Best flip: {ranked.best_flip.figures.address} ({ranked.best_flip.figures.flip_profit} "
        "profit)." in reply
    )
    assert f"Best rental: {ranked.best_rental.figures.address}" in reply


def test_the_same_house_twice_is_refused(investor: User) -> None:
    reply = checked_turn(investor, "compare 1234 Subject Ave and 1234 subject avenue").reply
    assert "the same house" in reply


def _props(db: Session, user: User) -> list[Property]:
    return list(db.exec(select(Property).where(Property.org_id == user.org_id)).all())


def test_after_a_comparison_the_report_asks_which_and_the_second_one_is_that_house(
    investor: User,
) -> None:
    """Was: "send me the report" after a comparison sent the PDF of whichever house the
    thread analysed before, without asking."""
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    checked_turn(investor, "compare 1234 Subject Ave and 1300 Subject Ave", thread)
    asked = checked_turn(investor, "send me the report", thread)
    assert asked.tool_calls == []
    assert asked.reply == (
        "Which of the two houses? Say 'report for' and its address, or 'the first one' (or "
        "'the second one' ...) and then 'report'."
    )
    second = checked_turn(investor, "the second one", thread)
    assert [c.name for c in second.tool_calls] == ["analyze_property"]
    assert second.tool_calls[0].args["address"].startswith("1300 Subject Ave")


def test_follow_ups_right_after_a_comparison_ask_which_house(investor: User) -> None:
    """Was: "show me the 5 year projection", "and as a rental?" or "max offer?" right after a
    comparison answered for a house analysed before it, without saying so."""
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    checked_turn(investor, "1234 Subject Ave", thread)
    checked_turn(investor, "compare 1234 Subject Ave and 1300 Subject Ave", thread)
    for said in ("show me the 5 year projection", "and as a rental?", "max offer?", "the ARV?"):
        asked = checked_turn(investor, said, thread)
        assert asked.tool_calls == [], said
        assert asked.reply.startswith("Which of the two houses?"), (said, asked.reply)
