"""Bids against scope lines, leveling line by line, and awarding one as the budget."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session

from domain.construction import service
from domain.construction.enums import BidStatus, ProjectStatus
from domain.construction.models import BidCreate
from tests.construction.helpers import published
from tests.factories import make_contractor, make_org, make_project


def _bid(db: Session, project: Any, contractor: Any, **fields: Any) -> Any:
    return service.create_bid(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        bid_in=BidCreate.model_validate({"contractor_id": contractor.id, **fields}),
    )


def _lines(db: Session, project: Any) -> dict[str, uuid.UUID]:
    scope = service.list_scope_items(session=db, org_id=project.org_id, project_id=project.id)
    return {s.component: s.id for s in scope}


def test_a_bid_totals_its_lines_and_is_announced(db: Session) -> None:
    org = make_org(db)
    project, roofer = make_project(db, org), make_contractor(db, org)
    line = _lines(db, project)
    bid = _bid(
        db,
        project,
        roofer,
        line_items=[
            {"scope_item_id": str(line["roof"]), "amount": "9000", "note": "30-year shingles"},
            {"scope_item_id": str(line["furnace"]), "amount": "4000.50"},
        ],
        duration_days=10,
    )
    assert bid.total_amount == Decimal("13000.50")
    assert bid.line_items[0] == {
        "scope_item_id": str(line["roof"]),
        "amount": "9000.00",
        "note": "30-year shingles",
    }
    assert service.get_project(session=db, org_id=org.id, project_id=project.id).status == (
        ProjectStatus.bidding
    )
    (payload,) = published(db, "bid.received", org.id)
    assert payload == {
        "project_id": str(project.id),
        "deal_id": None,
        "property_id": None,
        "bid_id": str(bid.id),
        "contractor_id": str(roofer.id),
        "contractor_name": "Ray's Roofing",
        "total_amount": "13000.50",
        "line_items": 2,
        "source": "manual",
        "call_id": None,
        "start_date": None,
        "duration_days": 10,
    }


def test_a_bid_on_another_projects_scope_line_is_refused(db: Session) -> None:
    org = make_org(db)
    project, elsewhere = make_project(db, org), make_project(db, org, name="Other job")
    roofer = make_contractor(db, org)
    foreign_line = _lines(db, elsewhere)["roof"]
    with pytest.raises(service.ConstructionInputError, match="is not part of project"):
        _bid(db, project, roofer, line_items=[{"scope_item_id": str(foreign_line), "amount": 1}])
    line = _lines(db, project)["roof"]
    with pytest.raises(service.ConstructionInputError, match="negative|greater than or equal"):
        _bid(db, project, roofer, line_items=[{"scope_item_id": str(line), "amount": "-5"}])
    with pytest.raises(service.ConstructionInputError, match="priced twice"):
        _bid(
            db,
            project,
            roofer,
            line_items=[
                {"scope_item_id": str(line), "amount": 1},
                {"scope_item_id": str(line), "amount": 2},
            ],
        )
    with pytest.raises(service.ConstructionInputError, match="total_amount or line_items"):
        _bid(db, project, roofer)
    with pytest.raises(service.NotFoundError, match="contractor"):
        _bid(db, project, make_contractor(db, make_org(db)), total_amount="100")
    assert service.list_bids(session=db, org_id=org.id, project_id=project.id) == []


def test_leveling_fills_missing_scope_and_names_the_lowest_complete_bid(db: Session) -> None:
    """Scope: roof 22 squares (budget $9,500), furnace 1 each (budget $4,200).

    A prices both ($9,000 + $4,000 = $13,000). B prices only the roof ($8,000): its furnace is
    filled at the line's own budget, $4,200 (the cost book's $3,500 row is only for a line with
    no budget), so B levels at $12,200, flagged. C is a $14,000 lump sum. Lowest complete: A;
    lowest leveled: B.
    """
    org = make_org(db)
    project = make_project(db, org)
    line = _lines(db, project)
    a = _bid(
        db,
        project,
        make_contractor(db, org, name="A"),
        line_items=[
            {"scope_item_id": str(line["roof"]), "amount": "9000"},
            {"scope_item_id": str(line["furnace"]), "amount": "4000"},
        ],
    )
    b = _bid(
        db,
        project,
        make_contractor(db, org, name="B"),
        line_items=[{"scope_item_id": str(line["roof"]), "amount": "8000"}],
    )
    c = _bid(db, project, make_contractor(db, org, name="C"), total_amount="14000")
    leveling = service.level_bids(session=db, org_id=org.id, project_id=project.id)
    by_id = {row.bid_id: row for row in leveling.bids}
    assert (by_id[a.id].complete, by_id[a.id].leveled_total) == (True, Decimal("13000.00"))
    b_row = by_id[b.id]
    assert (b_row.complete, b_row.leveled_total) == (False, Decimal("12200.00"))
    assert b_row.missing_scope_item_ids == [line["furnace"]]
    furnace = next(row for row in b_row.lines if row.flagged)
    assert (furnace.amount, furnace.source) == (Decimal("4200.00"), "budgeted cost")
    assert (by_id[c.id].itemised, by_id[c.id].complete) == (False, True)
    assert leveling.lowest_complete_bid_id == a.id
    assert leveling.lowest_leveled_bid_id == b.id
    assert leveling.basis == ["furnace: the line's budgeted cost $4,200.00"]


def test_a_line_the_catalogue_cannot_price_is_filled_with_its_budget(db: Session) -> None:
    org = make_org(db)
    project = make_project(
        db, org, scope=(("roof", "22", "squares", "9500"), ("dumpster rental", None, None, "650"))
    )
    line = _lines(db, project)
    _bid(
        db,
        project,
        make_contractor(db, org),
        line_items=[{"scope_item_id": str(line["roof"]), "amount": "8800"}],
    )
    (row,) = service.level_bids(session=db, org_id=org.id, project_id=project.id).bids
    assert row.leveled_total == Decimal("9450.00")
    assert [(r.source, r.flagged) for r in row.lines] == [("bid", False), ("budgeted cost", True)]


def test_awarding_a_bid_makes_it_the_budget_and_rejects_the_others(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)  # budget $13,700
    line = _lines(db, project)
    winner = _bid(
        db,
        project,
        make_contractor(db, org, name="A"),
        line_items=[
            {"scope_item_id": str(line["roof"]), "amount": "9000"},
            {"scope_item_id": str(line["furnace"]), "amount": "4000"},
        ],
        start_date="2027-03-01",
        duration_days=21,
    )
    loser = _bid(db, project, make_contractor(db, org, name="B"), total_amount="15000")
    result = service.award_bid(session=db, org_id=org.id, project_id=project.id, bid_id=winner.id)
    assert result.budget == Decimal("13000.00")
    assert result.rejected_bid_ids == [loser.id]
    assert loser.status == BidStatus.rejected and winner.status == BidStatus.accepted
    scope = service.list_scope_items(session=db, org_id=org.id, project_id=project.id)
    assert [s.budgeted_cost for s in scope] == [Decimal("9000.00"), Decimal("4000.00")]
    assert result.project.status == ProjectStatus.in_progress
    assert (str(result.project.start_date), str(result.project.target_end_date)) == (
        "2027-03-01",
        "2027-03-22",
    )
    with pytest.raises(service.ConstructionConflictError, match="rejected"):
        service.award_bid(session=db, org_id=org.id, project_id=project.id, bid_id=loser.id)
    with pytest.raises(service.NotFoundError):
        service.award_bid(session=db, org_id=org.id, project_id=project.id, bid_id=uuid.uuid4())
