"""Deals and projects named by their street alone: "the kercheval rehab", "the mack ave deal".

Was: "how is the kercheval rehab going?" asked "Which project?"; "budget for the mack ave
deal", "move the mack ave deal to ...", "close the mack deal" asked which deal; and "what's
the p&l on the kercheval deal?" answered with the whole organisation's P&L. Now a street
without a house number finds the one deal or project the caller may see on it (an active one
over ended ones), matched as whole words ("mack" never finds Mackinaw St), and several on
one street ask for the house number. Real graph, tools and database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session

from agent.runner import TurnResult
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.construction import service as construction_service
from domain.deal import service as deal_service
from domain.deal.enums import DealStatus
from domain.property.service import street_name
from tests.agent.turns import checked_turn
from tests.factories import make_deal, make_org, make_project, make_property, make_user


@dataclass
class World:
    admin: User
    investor: User  # owns the Kercheval deal only
    org_id: uuid.UUID
    mack_deal: uuid.UUID


def _place(db: Session, org: Organisation, line: str) -> Any:
    return make_property(db, org, address_line=line, city="Detroit", state="MI", zip_code="48214")


@pytest.fixture
def world(committed_db: Session) -> World:
    """Kercheval: the investor's deal and its rehab. Mack Ave: an active deal at 9000 and a
    dead one at 9100. Mackinaw St: a deal (never "mack"). Grand Blvd: two open projects.
    Another organisation: a rehab on its own Kercheval Ave."""
    db = committed_db
    org = make_org(db, "Street Names Co")
    admin = make_user(db, org, Role.admin)
    investor = make_user(db, org, Role.investor)
    kercheval = _place(db, org, "14500 Kercheval Ave")
    k_deal = make_deal(db, org, owner=investor, property_id=kercheval.id, strategy="flip")
    make_project(
        db,
        org,
        name="Rehab: 14500 Kercheval Ave",
        deal_id=k_deal.id,
        property_id=kercheval.id,
    )
    mack = make_deal(db, org, property_id=_place(db, org, "9000 Mack Ave").id, strategy="rental")
    dead = make_deal(db, org, property_id=_place(db, org, "9100 Mack Ave").id, strategy="flip")
    deal_service.change_status(session=db, org_id=org.id, deal_id=dead.id, status=DealStatus.dead)
    make_deal(db, org, property_id=_place(db, org, "300 Mackinaw St").id, strategy="flip")
    for line in ("100 E Grand Blvd", "200 E Grand Blvd"):
        make_project(db, org, name=f"Rehab: {line}", property_id=_place(db, org, line).id)
    other = make_org(db, "Other Streets Co")
    theirs = _place(db, other, "14600 Kercheval Ave")
    make_project(db, other, name="Rehab: 14600 Kercheval Ave", property_id=theirs.id)
    db.commit()
    return World(admin=admin, investor=investor, org_id=org.id, mack_deal=mack.id)


def _calls(result: TurnResult) -> list[tuple[str, bool]]:
    return [(c.name, c.ok) for c in result.tool_calls]


def test_street_name_reads_a_street_without_a_house_number() -> None:
    assert street_name("Kercheval") == "kercheval"
    assert street_name("mack ave") == street_name("Mack Avenue") == "mack"
    assert street_name("E Grand Blvd") == "e grand"
    assert street_name("9000 Mack Ave") is None  # a house number: an address, not a street
    assert street_name("ave") is None


def test_the_services_match_whole_words_in_the_callers_organisation(
    world: World, committed_db: Session
) -> None:
    mack = deal_service.deals_on_street(
        session=committed_db, org_id=world.org_id, street="mack avenue"
    )
    assert len(mack) == 2 and world.mack_deal in {d.id for d in mack}  # not Mackinaw St
    kercheval = construction_service.projects_on_street(
        session=committed_db, org_id=world.org_id, street="kercheval"
    )
    assert [p.name for p in kercheval] == ["Rehab: 14500 Kercheval Ave"]  # not the other org's


def test_a_project_by_its_street(world: World) -> None:
    result = checked_turn(world.admin, "how is the kercheval rehab going?")
    assert _calls(result) == [("project_status", True)]
    assert dict(result.tool_calls[0].args) == {"project": "kercheval"}
    assert result.reply.startswith("Rehab: 14500 Kercheval Ave (14500 Kercheval Ave")
    start = checked_turn(world.admin, "when does the kercheval rehab start?")
    assert _calls(start) == [("project_status", True)]
    assert "No start date set" in start.reply


def test_two_projects_on_one_street_ask_for_the_house_number(world: World) -> None:
    result = checked_turn(world.admin, "how's the grand rehab going?")
    assert _calls(result) == [("project_status", False)]
    assert "100 E Grand Blvd" in result.reply and "200 E Grand Blvd" in result.reply
    assert "house number" in result.reply
    # The investor sees neither (no deal of theirs): nothing about them leaks.
    hidden = checked_turn(world.investor, "how's the grand rehab going?")
    assert _calls(hidden) == [("project_status", False)]
    assert "Grand Blvd" not in hidden.reply.replace("'grand'", "")


def test_a_deal_by_its_street_prefers_the_active_one(world: World) -> None:
    budget = checked_turn(world.admin, "budget for the mack ave deal")
    assert _calls(budget) == [("budget_status", True)]
    expected = f"Budget for deal {world.mack_deal.hex[:8]} (9000 Mack Ave, Detroit, MI 48214)"
    assert expected in budget.reply
    status = checked_turn(world.admin, "status of the mack deal")
    assert _calls(status) == [("deal_offers", True)]
    assert "9000 Mack Ave" in status.reply and "Mackinaw" not in status.reply
    pnl = checked_turn(world.admin, "what's the p&l on the kercheval deal?")
    assert _calls(pnl) == [("pnl", True)]
    assert dict(pnl.tool_calls[0].args) == {"deal": "kercheval"}
    moved = checked_turn(world.admin, "move the mack ave deal to analyzing")
    assert _calls(moved) == [("change_deal_status", True)]
    assert "9000 Mack Ave" in moved.reply


def test_an_investor_finds_only_their_own_deal_by_street(world: World) -> None:
    mine = checked_turn(world.investor, "budget for the kercheval deal")
    assert _calls(mine) == [("budget_status", True)]
    theirs = checked_turn(world.investor, "budget for the mack ave deal")
    assert _calls(theirs) == [("budget_status", False)]
    assert "9000" not in theirs.reply
