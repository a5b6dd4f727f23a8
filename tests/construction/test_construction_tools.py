"""The construction tools, called as the tools node calls them."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session

from domain.auth.enums import Role
from domain.construction import service
from domain.construction.enums import BidStatus
from domain.construction.models import BidCreate, ExpenseCreate
from tests.factories import (
    make_contractor,
    make_org,
    make_project,
    make_property,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools.construction import award_bid, list_bids, my_bids, project_status


def _setup(db: Session) -> tuple:
    org = make_org(db)
    prop = make_property(
        db, org, address_line="14500 Kercheval Ave", city="Detroit", state="MI", zip_code="48215"
    )
    project = make_project(db, org, property_id=prop.id)
    roof, furnace = service.list_scope_items(session=db, org_id=org.id, project_id=project.id)
    cheap = service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate.model_validate(
            {
                "contractor_id": make_contractor(db, org, name="A").id,
                "line_items": [{"scope_item_id": str(roof.id), "amount": "8000"}],
            }
        ),
    )
    full = service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate.model_validate(
            {
                "contractor_id": make_contractor(db, org, name="B").id,
                "line_items": [
                    {"scope_item_id": str(roof.id), "amount": "9000"},
                    {"scope_item_id": str(furnace.id), "amount": "4000"},
                ],
            }
        ),
    )
    return org, project, cheap, full


def test_project_status_by_address_reports_progress(db: Session) -> None:
    org, project, _, _ = _setup(db)
    service.add_expense(
        session=db,
        org_id=org.id,
        project_id=project.id,
        expense_in=ExpenseCreate(amount=Decimal("1370")),
    )
    ctx = context_for(db, make_user(db, org, Role.analyst))
    result = call_tool(project_status, ctx, project="14500 kercheval avenue")
    assert result["project_id"] == str(project.id)
    # $1,370 of the $13,700 budget: 10.0 %.
    assert (result["budget"], result["spent"], result["percent_of_budget_spent"]) == (
        "$13,700",
        "$1,370",
        "10.0",
    )
    assert result["address"].startswith("14500 Kercheval Ave")
    by_prefix = call_tool(project_status, ctx, project=project.id.hex[:8])
    assert by_prefix["project_id"] == str(project.id)
    assert "error" in call_tool(project_status, ctx, project="99 Nowhere Rd")


def test_list_bids_levels_and_award_bid_changes_the_budget(db: Session) -> None:
    org, project, cheap, full = _setup(db)
    analyst = context_for(db, make_user(db, org, Role.analyst))
    leveled = call_tool(list_bids, analyst, project=str(project.id))
    assert leveled["lowest_complete_bid_id"] == str(full.id)
    cheap_row = next(b for b in leveled["bids"] if b["bid_id"] == str(cheap.id))
    # Roof $8,000 + furnace filled at its own budget, $4,200.
    assert (cheap_row["complete"], cheap_row["leveled_total"]) == (False, "$12,200")
    assert cheap_row["missing_lines"] == ["furnace"]

    investor = context_for(db, make_user(db, org, Role.investor))
    refused = call_tool(award_bid, investor, project=str(project.id), bid_id=str(full.id))
    assert "not allowed" in refused["error"]
    awarded = call_tool(award_bid, analyst, project=str(project.id), bid_id=full.id.hex[:8])
    assert (awarded["budget"], awarded["rejected_bids"]) == ("$13,000", 1)
    db.refresh(cheap)
    assert cheap.status == BidStatus.rejected
    again = call_tool(award_bid, analyst, project=str(project.id), bid_id=str(cheap.id))
    assert "rejected" in again["error"]


def test_my_bids_shows_a_contractor_only_their_own_bids(db: Session) -> None:
    org, project, cheap, full = _setup(db)
    # The contractor who sent the $8,000 roof-only bid ("A") signs in with that phone number.
    a = service.get_contractor(session=db, org_id=org.id, contractor_id=cheap.contractor_id)
    user = make_user(db, org, Role.contractor, phone_number=a.phone)
    result = call_tool(my_bids, context_for(db, user))
    assert result["contractor"] == "A" and result["count"] == 1
    (bid,) = result["bids"]
    assert (bid["bid_id"], bid["total"], bid["status"]) == (str(cheap.id), "$8,000", "received")
    assert str(full.id) not in str(result) and "$13,000" not in str(result)  # B's 9,000 + 4,000
    # A contractor account whose number is on no contractor record sees nothing.
    stranger = make_user(db, org, Role.contractor, phone_number="+13125550999")
    assert "not linked to a contractor" in call_tool(my_bids, context_for(db, stranger))["error"]
