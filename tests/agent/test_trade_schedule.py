"""When do the trades start? Start dates from the live bids on the open projects.

Was: "when does the plumber start?" got a canned "I can't look up when a trade starts", although
every bid (typed in or taken on a contractor call) carries its start date and duration; and
"when does the rehab start?" went to a rehab estimate, while the project status it should give
did not even say the project's dates. Real graph, tools and database; ``checked_turn`` asserts
every figure in a reply came from that turn's tool results.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import User
from domain.auth.service import Principal
from domain.construction import service as construction_service
from domain.construction.enums import BidStatus, ProjectStatus
from domain.construction.models import Bid, BidCreate, ProjectUpdate
from tests.agent.turns import checked_turn
from tests.factories import (
    auth_headers,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_user,
)
from tools import tools_for_role

BOOKED = local_today() + dt.timedelta(days=10)  # Flow Plumbing, awarded on Kercheval
OFFERED = local_today() + dt.timedelta(days=5)  # Pipe Pros, open bid on Mack


@dataclass
class World:
    admin: User
    investor: User  # owns the Kercheval deal only
    org_id: uuid.UUID


def _bid(
    db: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    contractor_id: uuid.UUID,
    total: str,
    start: dt.date | None,
    days: int | None,
) -> uuid.UUID:
    bid = construction_service.create_bid(
        session=db,
        org_id=org_id,
        project_id=project_id,
        bid_in=BidCreate(
            contractor_id=contractor_id,
            total_amount=Decimal(total),
            start_date=start,
            duration_days=days,
        ),
    )
    return bid.id


@pytest.fixture
def world(committed_db: Session) -> World:
    """Kercheval (the investor's deal): Flow Plumbing awarded, Pipe Pros' bid rejected by the
    award. Mack (no investor): Pipe Pros and a roofer with open bids, and a withdrawn plumbing
    bid. A cancelled project with a plumbing bid, and another organisation's plumber."""
    db = committed_db
    org = make_org(db, "Start Dates Co")
    admin = make_user(db, org, Role.admin)
    investor = make_user(db, org, Role.investor)
    kercheval = make_property(
        db, org, address_line="14500 Kercheval Ave", city="Detroit", state="MI", zip_code="48215"
    )
    mack = make_property(
        db, org, address_line="9000 Mack Ave", city="Detroit", state="MI", zip_code="48214"
    )
    k_deal = make_deal(db, org, owner=investor, property_id=kercheval.id, strategy="flip")
    k_project = make_project(
        db, org, name="Rehab: 14500 Kercheval Ave", deal_id=k_deal.id, property_id=kercheval.id
    )
    m_project = make_project(db, org, name="Make-ready: 9000 Mack Ave", property_id=mack.id)
    gone = make_project(db, org, name="Rehab: 77 Gone St")
    flow = make_contractor(db, org, name="Flow Plumbing", trades=["plumbing"])
    pipes = make_contractor(db, org, name="Pipe Pros", trades=["plumbing"])
    drip = make_contractor(db, org, name="Drip Drop Plumbing", trades=["plumbing"])
    roofer = make_contractor(db, org, name="Ray's Roofing", trades=["roofing"])
    awarded = _bid(db, org.id, k_project.id, flow.id, "4800", BOOKED, 3)
    _bid(db, org.id, k_project.id, pipes.id, "5200", local_today() + dt.timedelta(days=2), 4)
    construction_service.award_bid(
        session=db, org_id=org.id, project_id=k_project.id, bid_id=awarded
    )
    _bid(db, org.id, m_project.id, pipes.id, "3900", OFFERED, 4)
    _bid(db, org.id, m_project.id, roofer.id, "9100", None, None)
    withdrawn = _bid(
        db, org.id, m_project.id, drip.id, "3500", local_today() + dt.timedelta(days=1), 2
    )
    row = db.get(Bid, withdrawn)  # no service call withdraws a bid: the row says so
    assert row is not None
    row.status = BidStatus.withdrawn
    db.add(row)
    _bid(db, org.id, gone.id, drip.id, "3000", local_today() + dt.timedelta(days=3), 2)
    construction_service.update_project(
        session=db, org_id=org.id, project_id=gone.id,
        project_in=ProjectUpdate(status=ProjectStatus.cancelled),
    )  # fmt: skip
    other = make_org(db, "Other Co")
    other_plumber = make_contractor(db, other, name="Elsewhere Plumbing", trades=["plumbing"])
    other_project = make_project(db, other, name="Rehab: 1 Other St")
    _bid(db, other.id, other_project.id, other_plumber.id, "100", local_today(), 1)
    db.commit()
    return World(admin=admin, investor=investor, org_id=org.id)


def test_the_service_lists_live_bids_on_open_projects_booked_first(
    world: World, committed_db: Session
) -> None:
    starts = construction_service.trade_starts(
        session=committed_db, org_id=world.org_id, trade="plumbers"
    )
    assert [(s.contractor.name, s.booked, s.bid.start_date) for s in starts] == [
        ("Flow Plumbing", True, BOOKED),
        ("Pipe Pros", False, OFFERED),
    ]
    assert starts[0].end_date == BOOKED + dt.timedelta(days=3)
    everyone = construction_service.trade_starts(session=committed_db, org_id=world.org_id)
    # The roofer's bid has no start date: listed last, never dropped.
    assert [s.contractor.name for s in everyone] == ["Flow Plumbing", "Pipe Pros", "Ray's Roofing"]
    assert everyone[-1].bid.start_date is None and everyone[-1].end_date is None
    investor = Principal(
        user_id=world.investor.id, org_id=world.org_id, role=Role.investor, email="i@x.dev"
    )
    mine = construction_service.trade_starts(
        session=committed_db, org_id=world.org_id, principal=investor
    )
    assert [s.contractor.name for s in mine] == ["Flow Plumbing"]


def test_when_does_the_plumber_start(world: World) -> None:
    result = checked_turn(world.admin, "when does the plumber start?")
    assert [(c.name, c.ok) for c in result.tool_calls] == [("trade_schedule", True)]
    assert dict(result.tool_calls[0].args) == {"trade": "plumbing"}
    reply = result.reply
    booked_end = (BOOKED + dt.timedelta(days=3)).isoformat()
    assert (
        f"Flow Plumbing at 14500 Kercheval Ave, Detroit, MI: {BOOKED.isoformat()}, 3 days "
        f"(to {booked_end}); booked (awarded bid), bid $4,800"
    ) in reply
    assert f"Pipe Pros at 9000 Mack Ave, Detroit, MI: {OFFERED.isoformat()}, 4 days" in reply
    assert "offered (bid not awarded yet), bid $3,900" in reply
    assert reply.index("Flow Plumbing") < reply.index("Pipe Pros")
    for absent in ("Drip Drop", "Elsewhere", "Ray's Roofing", "$5,200"):
        assert absent not in reply


def test_a_trade_on_one_project_and_an_unknown_start(world: World) -> None:
    result = checked_turn(world.admin, "when is the roofer starting on 9000 mack ave?")
    assert dict(result.tool_calls[0].args) == {"trade": "roofing", "project": "9000 mack ave"}
    assert "Start dates (roofing) on 9000 Mack Ave, Detroit, MI, from the bids:" in result.reply
    assert "Ray's Roofing: no start date given; offered (bid not awarded yet)" in result.reply
    nobody = checked_turn(world.admin, "when can the hvac guy come out?")
    assert dict(nobody.tool_calls[0].args) == {"trade": "hvac"}
    assert nobody.reply.startswith("No hvac contractor is in the directory")
    none_live = checked_turn(world.admin, "when's the plumber starting on 77 gone st?")
    assert [(c.name, c.ok) for c in none_live.tool_calls] == [("trade_schedule", False)]


def test_an_investor_sees_only_their_deals_projects(world: World) -> None:
    result = checked_turn(world.investor, "start dates?")
    assert [(c.name, c.ok) for c in result.tool_calls] == [("trade_schedule", True)]
    assert "Flow Plumbing" in result.reply
    assert "Mack" not in result.reply and "Pipe Pros" not in result.reply
    assert "trade_schedule" not in {t.name for t in tools_for_role(Role.contractor)}


def test_when_does_the_rehab_start_gives_the_projects_dates(world: World) -> None:
    result = checked_turn(world.admin, "when does the rehab on 14500 kercheval ave start?")
    assert [(c.name, c.ok) for c in result.tool_calls] == [("project_status", True)]
    # Awarding Flow Plumbing's bid set the project's start date from the bid.
    assert f"Start {BOOKED.isoformat()}" in result.reply
    asked = checked_turn(world.admin, "when does the rehab start?")
    assert asked.tool_calls == [] and asked.reply.startswith("Which project?")


def test_the_rest_list_pages_and_scopes_the_start_dates(
    world: World, client: TestClient, committed_db: Session
) -> None:
    admin = auth_headers(committed_db, world.admin)
    listed = client.get("/api/v1/projects/starts", params={"trade": "plumber"}, headers=admin)
    assert listed.status_code == 200, listed.text
    assert listed.headers["X-Total-Count"] == "2"
    rows = listed.json()
    assert [(r["contractor"], r["booked"], r["start_date"]) for r in rows] == [
        ("Flow Plumbing", True, BOOKED.isoformat()),
        ("Pipe Pros", False, OFFERED.isoformat()),
    ]
    assert rows[0]["end_date"] == (BOOKED + dt.timedelta(days=3)).isoformat()
    assert rows[0]["total_amount"] == "4800.00"
    assert rows[0]["project"] == "14500 Kercheval Ave, Detroit, MI"
    second = client.get("/api/v1/projects/starts", params={"limit": 1, "offset": 1}, headers=admin)
    assert second.headers["X-Total-Count"] == "3"
    assert [r["contractor"] for r in second.json()] == ["Pipe Pros"]
    investor = auth_headers(committed_db, world.investor)
    theirs = client.get("/api/v1/projects/starts", headers=investor)
    assert theirs.headers["X-Total-Count"] == "1"
    assert [r["contractor"] for r in theirs.json()] == ["Flow Plumbing"]
    bad = client.get("/api/v1/projects/starts", params={"limit": 0}, headers=admin)
    assert bad.status_code == 422


def test_a_one_day_job_reads_one_day() -> None:
    from agent.planner import _starts_reply

    row = {
        "contractor": "Hank Heating", "address": "1 A St", "start_date": "2026-12-10",
        "duration_days": 1, "end_date": "2026-12-11", "booked": False, "bid_total": "$3,900",
    }  # fmt: skip
    reply = _starts_reply({"trade": None, "starts": [row], "count": 1})
    assert "2026-12-10, 1 day (to 2026-12-11)" in reply
