"""Planner fixes from the day-in-the-life and numbers QA passes (2026-11-29, eleventh session)."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import Session, select

from agent.figures import figures_in
from agent.planner import Conversation, plan_for, short_id
from domain.auth.enums import Role
from domain.deal.models import Deal
from tests.agent.turns import checked_turn
from tests.factories import (
    make_deal,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
)


@pytest.mark.parametrize(
    "said",
    [
        "make it a deal",
        "ok make this a deal",
        "track it",
        "add it to the pipeline",
        "create a deal",
    ],
)
def test_a_deal_on_the_house_just_analysed(committed_db: Session, said: str) -> None:
    """Was "Sorry, I didn't understand that" ("create a deal": "Which property?") right after
    an analysis of the house."""
    db = committed_db
    org = make_org(db, "Pipeline Co")
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    analyst = make_user(db, org, Role.analyst)
    db.commit()
    thread = f"web:{uuid.uuid4().hex}"
    checked_turn(analyst, "1234 Subject Ave", thread)
    made = checked_turn(analyst, said, thread)
    assert [(c.name, c.ok, c.args) for c in made.tool_calls] == [
        ("create_deal", True, {"property_id": str(prop.id)})
    ]
    (deal,) = db.exec(select(Deal).where(Deal.org_id == org.id)).all()
    assert deal.property_id == prop.id
    assert made.reply.startswith(f"Created deal {deal.id.hex[:8]} on 1234 Subject Ave")


def test_make_it_a_deal_with_nothing_discussed_asks_which_house() -> None:
    plan = plan_for(Conversation(text="make it a deal", history=[], this_turn=[]))
    assert plan.tool is None and plan.reply is not None and plan.reply.startswith("Which property")


def test_replies_name_a_deal_by_its_short_id_which_the_tools_take(committed_db: Session) -> None:
    """Was the whole UUID ("deal 6cb341a0-d825-404f-8f9b-95f65f07a132") in every reply."""
    db = committed_db
    org = make_org(db, "Short Id Co")
    prop = make_subject_property(db, org)
    admin = make_user(db, org, Role.admin)
    deal = make_deal(db, org, property_id=prop.id)
    db.commit()
    listed = checked_turn(admin, "list deals")
    assert f"deal {deal.id.hex[:8]}" in listed.reply and str(deal.id) not in listed.reply
    status = checked_turn(admin, f"what's the status of deal {deal.id.hex[:8]}")
    assert [(c.name, c.ok) for c in status.tool_calls] == [("deal_offers", True)]


def test_a_short_id_is_not_a_figure_even_when_it_is_all_digits() -> None:
    assert short_id("12345678-0000-4000-8000-000000000000") == "12345678"
    assert figures_in("P&L for deal 12345678 (Main St): net $5") == figures_in("net $5")
