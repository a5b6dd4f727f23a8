""" "Stop my alerts" keeps the investor's criteria; "turn my alerts back on" resumes them.

Before, stopping saved empty criteria (active=false), so the ZIPs, price range and quiet hours
were gone, and a later "alert me" matched every opportunity in the organisation.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlmodel import Session

from agent.planner import Conversation, plan_for
from domain.auth.enums import Role
from domain.market import alerts as alert_service
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_user


def test_stopping_keeps_the_criteria_and_resuming_brings_them_back(
    committed_db: Session,
) -> None:
    org = make_org(committed_db)
    investor = make_user(committed_db, org, Role.investor, phone_number="+13135550177")
    committed_db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"

    checked_turn(
        investor,
        "alert me to flips in 48215 under $100k, quiet hours 9pm to 7am",
        thread,
        channel="whatsapp",
    )
    stopped = checked_turn(investor, "stop my alerts", thread, channel="whatsapp")
    assert stopped.reply.startswith("Deal alerts are off; your criteria are kept, and I only")

    committed_db.expire_all()
    criteria = alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id)
    assert criteria is not None and criteria.active is False
    assert criteria.zip_codes == ["48215"]
    assert criteria.max_price == Decimal("100000")
    assert criteria.quiet_hours_start is not None

    resumed = checked_turn(investor, "turn my alerts back on", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in resumed.tool_calls] == [
        ("configure_alerts", {"active": True})
    ]
    assert "48215" in resumed.reply
    committed_db.expire_all()
    criteria = alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id)
    assert criteria is not None and criteria.active is True
    assert (criteria.zip_codes, criteria.strategies) == (["48215"], ["flip"])


def test_stopping_alerts_that_were_never_set_saves_nothing_and_says_so(
    committed_db: Session,
) -> None:
    org = make_org(committed_db)
    investor = make_user(committed_db, org, Role.investor, phone_number="+13135550178")
    committed_db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"

    stopped = checked_turn(investor, "stop my alerts", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in stopped.tool_calls] == [
        ("configure_alerts", {"active": False})
    ]
    assert "you had none set up" in stopped.reply
    assert "criteria are kept" not in stopped.reply
    committed_db.expire_all()
    assert (
        alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id) is None
    )


@pytest.mark.parametrize(
    "said", ["mark my alerts off", "alerts off", "cancel my alerts", "I don't want alerts anymore"]
)
def test_more_ways_to_stop_alerts_stop_them(said: str) -> None:
    """'mark my alerts off' saved empty criteria: every opportunity, alerts on."""
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == ("configure_alerts", {"active": False})


@pytest.mark.parametrize("said", ["set up alerts", "alert me", "alerts please"])
def test_alerts_with_no_criteria_ask_for_them_instead_of_matching_everything(said: str) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert plan.tool is None and plan.reply is not None
    assert plan.reply.startswith("What should I alert you to?")


def test_every_opportunity_is_saved_only_when_asked_for() -> None:
    plan = plan_for(Conversation(text="alert me to all new deals", history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == ("configure_alerts", {})


def test_a_rehab_budget_in_a_max_offer_question_is_not_a_deals_budget() -> None:
    said = "max offer on 1234 Subject Ave with a 40k rehab budget"
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, dict(plan.args)) == (
        "max_offer",
        {"address": "1234 Subject Ave", "rehab_cost": "40000.00"},
    )


def test_a_question_about_an_alerted_house_leaves_the_alert_settings_alone(
    committed_db: Session,
) -> None:
    """Was: "I got an alert about 2718 Duff Ave, Ames, IA 50010 - what's it worth?" saved
    the address's ZIP as the user's only alert criterion (their price cap and strategy gone)
    and never answered the question."""
    org = make_org(committed_db)
    investor = make_user(committed_db, org, Role.investor, phone_number="+13135550178")
    committed_db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    checked_turn(investor, "alert me to flips in 48215 under $100k", thread, channel="whatsapp")
    asked = checked_turn(
        investor,
        "I got an alert about 2718 Duff Ave, Ames, IA 50010 - what's it worth?",
        thread,
        channel="whatsapp",
    )
    assert [c.name for c in asked.tool_calls] == ["analyze_property"]
    committed_db.expire_all()
    criteria = alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id)
    assert criteria is not None
    assert (criteria.zip_codes, criteria.max_price, criteria.strategies) == (
        ["48215"],
        Decimal("100000"),
        ["flip"],
    )


@pytest.mark.parametrize(
    ("said", "tool"),
    [
        ("I got an alert for 50010, why?", "my_alerts"),
        ("<img src=x onerror=alert(1)> 2718 Duff Ave", "analyze_property"),
        ("alert me to flips in 50014 under $150,000", "configure_alerts"),
        ("any flips in 48214 under 80k?", "latest_opportunities"),
    ],
)
def test_the_word_alert_beside_an_address_or_a_received_alert_sets_nothing(
    said: str, tool: str
) -> None:
    assert plan_for(Conversation(text=said, history=[], this_turn=[])).tool == tool


def test_stop_turns_an_investors_alerts_off_and_start_brings_them_back(
    committed_db: Session,
) -> None:
    """Was: "STOP" from an investor got "Sorry, I didn't understand that" and their deal
    alerts kept coming (only contractors could opt out)."""
    org = make_org(committed_db)
    investor = make_user(committed_db, org, Role.investor, phone_number="+13135550179")
    committed_db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    checked_turn(investor, "alert me to flips in 48215 under $100k", thread, channel="whatsapp")
    stopped = checked_turn(investor, "STOP", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in stopped.tool_calls] == [
        ("configure_alerts", {"active": False})
    ]
    assert "I only message you when you text me" in stopped.reply
    committed_db.expire_all()
    criteria = alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id)
    assert criteria is not None and criteria.active is False
    assert criteria.zip_codes == ["48215"]
    started = checked_turn(investor, "START", thread, channel="whatsapp")
    assert [(c.name, c.args) for c in started.tool_calls] == [
        ("configure_alerts", {"active": True})
    ]
    committed_db.expire_all()
    criteria = alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id)
    assert criteria is not None and criteria.active is True


@pytest.mark.parametrize(
    "said", ["STOP", "stop", "Stop.", "unsubscribe", "stop texting me", "opt out"]
)
def test_the_opt_out_words_stop_alerts(said: str) -> None:
    plan = plan_for(Conversation(text=said, history=[], this_turn=[]))
    assert (plan.tool, plan.args) == ("configure_alerts", {"active": False})


def test_start_without_an_earlier_stop_is_still_the_greeting() -> None:
    plan = plan_for(Conversation(text="start", history=[], this_turn=[]))
    assert plan.tool is None and plan.reply is not None and plan.reply.startswith("I'm dealdesk")


def test_start_with_no_alerts_saved_switches_nothing_on(committed_db: Session) -> None:
    """Was: STOP then START with no criteria saved created an "any area" subscription, and the
    next scan texted the investor an alert they never asked for."""
    org = make_org(committed_db)
    investor = make_user(committed_db, org, Role.investor, phone_number="+13135550180")
    committed_db.commit()
    thread = f"whatsapp:{uuid.uuid4().hex[:12]}"
    checked_turn(investor, "STOP", thread, channel="whatsapp")
    started = checked_turn(investor, "START", thread, channel="whatsapp")
    assert started.reply.startswith("You have no deal alerts set up, so there is nothing")
    committed_db.expire_all()
    assert (
        alert_service.get_criteria(session=committed_db, org_id=org.id, user_id=investor.id) is None
    )
