"""Awarding bids trade by trade: a roofer for the roof, an HVAC company for the furnace."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from agent.planner import _award_reply
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.construction import service
from domain.construction.enums import BidStatus, ProjectStatus
from domain.construction.models import BidCreate, ProjectUpdate
from tests.factories import auth_headers, make_contractor, make_org, make_project, make_user
from tests.tools.helpers import call_tool, context_for
from tools.construction import award_bid as award_tool

API = "/api/v1"


def _bid(db: Session, project: Any, name: str, lines: dict[uuid.UUID, str], **fields: Any) -> Any:
    contractor = make_contractor(db, project_org(db, project), name=name)
    return service.create_bid(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        bid_in=BidCreate.model_validate(
            {
                "contractor_id": contractor.id,
                "line_items": [
                    {"scope_item_id": str(line), "amount": amount} for line, amount in lines.items()
                ],
                **fields,
            }
        ),
    )


def project_org(db: Session, project: Any) -> Organisation:
    org = db.get(Organisation, project.org_id)
    assert org is not None
    return org


def _award(db: Session, project: Any, bid: Any) -> Any:
    return service.award_bid(
        session=db, org_id=project.org_id, project_id=project.id, bid_id=bid.id
    )


def _setup(db: Session) -> tuple[Any, uuid.UUID, uuid.UUID]:
    """A project with a roof ($9,500 budgeted) and a furnace ($4,200): budget $13,700."""
    project = make_project(db, make_org(db))
    roof, furnace = service.list_scope_items(
        session=db, org_id=project.org_id, project_id=project.id
    )
    return project, roof.id, furnace.id


def test_roof_then_furnace_are_awarded_separately_and_the_budget_covers_both(
    db: Session,
) -> None:
    project, roof, furnace = _setup(db)
    ray = _bid(
        db, project, "Ray's Roofing", {roof: "9000"}, start_date="2027-03-01", duration_days=5
    )
    # Hank prices the furnace at $4,000 and adds a $150 permit fee on the whole bid.
    hank = _bid(
        db,
        project,
        "Hank's Heating",
        {furnace: "4000"},
        total_amount="4150",
        start_date="2027-03-10",
        duration_days=3,
    )
    other_roofer = _bid(db, project, "Top Roof", {roof: "8800"})
    both = _bid(db, project, "Do-It-All", {roof: "9100", furnace: "3900"})
    lump = _bid(db, project, "Lump Co", {}, total_amount="15000")

    first = _award(db, project, ray)
    assert set(first.rejected_bid_ids) == {other_roofer.id, both.id, lump.id}
    assert hank.status == BidStatus.received  # the furnace bid stays open
    # Roof at Ray's $9,000, the furnace still at its $4,200 budget.
    assert first.budget == Decimal("13200.00")
    assert first.scope_not_in_bid == [furnace] and first.scope_not_awarded == [furnace]
    assert first.accepted_bid_ids == [ray.id]
    assert first.project.status == ProjectStatus.in_progress
    assert (first.project.start_date, first.project.target_end_date) == (
        dt.date(2027, 3, 1),
        dt.date(2027, 3, 6),
    )

    second = _award(db, project, hank)
    assert second.rejected_bid_ids == []
    assert ray.status == hank.status == BidStatus.accepted
    # $9,000 roof + $4,000 furnace + Hank's $150 fee.
    assert second.budget == Decimal("13150.00")
    assert second.scope_not_in_bid == [roof] and second.scope_not_awarded == []
    assert second.accepted_bid_ids == [ray.id, hank.id]
    # The dates came from the first award, so the furnace's later finish extends the target.
    assert second.project.start_date == dt.date(2027, 3, 1)
    assert second.project.target_end_date == dt.date(2027, 3, 13)
    scope = service.list_scope_items(session=db, org_id=project.org_id, project_id=project.id)
    assert [s.budgeted_cost for s in scope] == [Decimal("9000.00"), Decimal("4000.00")]

    detail = service.project_detail(session=db, org_id=project.org_id, project_id=project.id)
    assert detail.accepted_bid_id == ray.id
    assert detail.accepted_bid_ids == [ray.id, hank.id]
    progress = service.progress(session=db, org_id=project.org_id, project_id=project.id)
    assert progress.budget == Decimal("13150.00")
    assert progress.budget_source == f"accepted bids {ray.id}, {hank.id}"
    leveled = service.level_bids(session=db, org_id=project.org_id, project_id=project.id)
    assert {b.bid_id for b in leveled.bids} == {ray.id, hank.id}
    starts = service.trade_starts(session=db, org_id=project.org_id, project_id=project.id)
    assert [(s.bid.id, s.booked) for s in starts] == [(ray.id, True), (hank.id, True)]


def test_progress_names_the_awarded_bid_and_the_lines_still_at_their_budget(
    db: Session,
) -> None:
    project, roof, _ = _setup(db)
    ray = _bid(db, project, "Ray's Roofing", {roof: "9000"})
    _award(db, project, ray)
    progress = service.progress(session=db, org_id=project.org_id, project_id=project.id)
    assert progress.budget == Decimal("13200.00")
    assert progress.budget_source == (
        f"accepted bid {ray.id} and 1 unawarded scope line(s) at their budgeted cost"
    )


def test_a_line_already_awarded_cannot_be_awarded_again(db: Session) -> None:
    project, roof, furnace = _setup(db)
    ray = _bid(db, project, "Ray's Roofing", {roof: "9000"})
    _award(db, project, ray)
    # Bids that came in after the roof was awarded.
    late_roof = _bid(db, project, "Late Roof", {roof: "8000"})
    roof_and_furnace = _bid(db, project, "Do-It-All", {roof: "8500", furnace: "3900"})
    lump = _bid(db, project, "Lump Co", {}, total_amount="12000")
    for bid in (late_roof, roof_and_furnace):
        with pytest.raises(service.ConstructionConflictError) as raised:
            _award(db, project, bid)
        assert f"scope line 'roof' ({roof}) is already covered by accepted bid {ray.id}" in str(
            raised.value
        )
    with pytest.raises(service.ConstructionConflictError, match="lump sum") as raised:
        _award(db, project, lump)
    assert str(ray.id) in str(raised.value)
    assert {b.status for b in (late_roof, roof_and_furnace, lump)} == {BidStatus.received}
    assert ray.status == BidStatus.accepted
    project_now = service.get_project(session=db, org_id=project.org_id, project_id=project.id)
    assert project_now.budget == Decimal("13200.00")
    # Awarding the same bid again is a conflict ("already awarded") and changes nothing.
    with pytest.raises(service.ConstructionConflictError, match="is already awarded"):
        _award(db, project, ray)
    db.refresh(project_now)
    assert project_now.budget == Decimal("13200.00")


def test_a_lump_sum_award_is_unchanged_and_then_covers_every_line(db: Session) -> None:
    project, roof, furnace = _setup(db)
    roof_bid = _bid(db, project, "Ray's Roofing", {roof: "9000"})
    furnace_bid = _bid(db, project, "Hank's Heating", {furnace: "4000"})
    lump = _bid(
        db, project, "Lump Co", {}, total_amount="15000", start_date="2027-04-01", duration_days=30
    )
    result = _award(db, project, lump)
    assert set(result.rejected_bid_ids) == {roof_bid.id, furnace_bid.id}
    assert result.budget == Decimal("15000.00")
    assert result.scope_updated == [] and result.scope_not_in_bid == []
    assert (result.project.start_date, result.project.target_end_date) == (
        dt.date(2027, 4, 1),
        dt.date(2027, 5, 1),
    )
    scope = service.list_scope_items(session=db, org_id=project.org_id, project_id=project.id)
    assert [s.budgeted_cost for s in scope] == [Decimal("9500.00"), Decimal("4200.00")]
    # A line bid that comes in later cannot take the roof from the lump sum.
    late = _bid(db, project, "Late Roof", {roof: "7000"})
    with pytest.raises(service.ConstructionConflictError, match=f"accepted bid {lump.id}"):
        _award(db, project, late)
    assert lump.status == BidStatus.accepted and late.status == BidStatus.received


def test_dates_a_user_set_after_the_first_award_are_left_alone(db: Session) -> None:
    project, roof, furnace = _setup(db)
    ray = _bid(
        db, project, "Ray's Roofing", {roof: "9000"}, start_date="2027-03-01", duration_days=5
    )
    hank = _bid(
        db, project, "Hank's Heating", {furnace: "4000"}, start_date="2027-03-20", duration_days=5
    )
    _award(db, project, ray)
    service.update_project(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        project_in=ProjectUpdate(target_end_date=dt.date(2027, 3, 15)),
    )
    result = _award(db, project, hank)
    assert result.project.target_end_date == dt.date(2027, 3, 15)


def test_award_tool_and_reply_say_bids_on_other_lines_stay_open(db: Session) -> None:
    project, roof, furnace = _setup(db)
    ray = _bid(db, project, "Ray's Roofing", {roof: "9000"})
    _bid(db, project, "Hank's Heating", {furnace: "4000"})
    analyst = context_for(db, make_user(db, project_org(db, project), Role.analyst))
    result = call_tool(award_tool, analyst, project=str(project.id), bid_id=str(ray.id))
    assert (result["budget"], result["rejected_bids"], result["open_bids"]) == ("$13,200", 0, 1)
    assert result["scope_lines_not_awarded"] == ["furnace"]
    assert "0 other bid(s) rejected, 1 open on other lines" in _award_reply(result)


def test_rest_award_trade_by_trade_409_and_org_isolation(client: TestClient, db: Session) -> None:
    project, roof, furnace = _setup(db)
    org = project_org(db, project)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    ray = _bid(db, project, "Ray's Roofing", {roof: "9000"})
    hank = _bid(db, project, "Hank's Heating", {furnace: "4000"})
    rival = _bid(db, project, "Top Roof", {roof: "8800"})
    url = f"{API}/projects/{project.id}/bids/{{}}/award"

    # Another organisation's analyst cannot see, let alone award, this project's bids.
    other = make_org(db)
    stranger = auth_headers(db, make_user(db, other, Role.analyst))
    refused = client.post(url.format(ray.id), headers=stranger)
    assert refused.status_code == 404, refused.text
    assert ray.status == BidStatus.received

    first = client.post(url.format(ray.id), headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["budget"] == "13200.00"
    assert body["rejected_bid_ids"] == [str(rival.id)]
    assert body["scope_not_awarded"] == [str(furnace)]
    listed = client.get(f"{API}/projects/{project.id}/bids", headers=headers).json()
    status = {b["bid_id"]: b["status"] for b in listed["bids"]}
    assert status == {str(ray.id): "accepted", str(hank.id): "received"}

    second = client.post(url.format(hank.id), headers=headers)
    assert second.status_code == 200, second.text
    assert second.json()["budget"] == "13000.00"
    assert second.json()["accepted_bid_ids"] == [str(ray.id), str(hank.id)]
    detail = client.get(f"{API}/projects/{project.id}", headers=headers).json()
    assert detail["accepted_bid_id"] == str(ray.id)
    assert detail["accepted_bid_ids"] == [str(ray.id), str(hank.id)]

    late = _bid(db, project, "Late Heat", {furnace: "3500"})
    again = client.post(url.format(late.id), headers=headers)
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"scope line 'furnace' ({furnace}) is already covered by accepted bid {hank.id}"
    )
