"""Accepting an awarded contractor's new start ("ray says he can't start till the 10th").

Service, REST and chat tool on the real database: the bid's start moves (audited), the
project's start and target end follow when they came from that bid, the contractor's open
``confirm_start`` action items on the project are closed, and a bid not awarded, a closed
project or a past date is refused. All of ``reschedule_bid``, the route and the
``reschedule_contractor`` tool are new: every test here fails on the old code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import AuditLog, Organisation
from domain.construction import service
from domain.construction.enums import ActivityKind, BidStatus, ProjectStatus
from domain.construction.models import BidCreate, ProjectActivity, ProjectUpdate
from domain.inbox import service as inbox_service
from domain.inbox.enums import ActionItemStatus
from tests.factories import (
    auth_headers,
    make_contractor,
    make_org,
    make_project,
    make_property,
    make_user,
    principal_for,
)
from tests.tools.helpers import call_tool, context_for
from tools import ROLE_TOOL_NAMES
from tools.construction import reschedule_contractor

API = "/api/v1"


def _day(days: int) -> dt.date:
    return local_today() + dt.timedelta(days=days)


def _org(db: Session, project: Any) -> Organisation:
    org = db.get(Organisation, project.org_id)
    assert org is not None
    return org


def _bid(
    db: Session, project: Any, name: str, line: str, amount: str, start: int, days: int
) -> Any:
    """A bid from a new contractor ``name`` on the scope line ``line``, starting in ``start``
    days and lasting ``days`` days."""
    items = {
        s.component: s.id
        for s in service.list_scope_items(session=db, org_id=project.org_id, project_id=project.id)
    }
    contractor = make_contractor(db, _org(db, project), name=name)
    return service.create_bid(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        bid_in=BidCreate.model_validate(
            {
                "contractor_id": contractor.id,
                "line_items": [{"scope_item_id": str(items[line]), "amount": amount}],
                "start_date": _day(start).isoformat(),
                "duration_days": days,
            }
        ),
    )


def _award(db: Session, project: Any, bid: Any) -> None:
    service.award_bid(session=db, org_id=project.org_id, project_id=project.id, bid_id=bid.id)


def _confirm_start(db: Session, project: Any, contractor_id: uuid.UUID, day: dt.date) -> Any:
    """The action item a contractor's "can't start till ..." text leaves (as the relay would)."""
    (item,) = inbox_service.record_items(
        session=db,
        org_id=project.org_id,
        event_id=uuid.uuid4(),
        payload={
            "contractor_id": str(contractor_id),
            "project_id": str(project.id),
            "channel": "whatsapp",
            "items": [
                {
                    "kind": "confirm_start",
                    "text": f"Ray asks to start on {day.isoformat()}: confirm with them and "
                    'update the bid ("can\'t start till the 10th")',
                    "date": day.isoformat(),
                }
            ],
        },
    )
    return item


def _roofed(db: Session) -> tuple[Any, Any]:
    """A project whose roof is awarded to Ray: start in 5 days, 4 days (project: d5 to d9)."""
    project = make_project(db, make_org(db))
    ray = _bid(db, project, "Ray's Roofing", "roof", "9000", start=5, days=4)
    _award(db, project, ray)
    assert (project.start_date, project.target_end_date) == (_day(5), _day(9))
    return project, ray


def _reschedule(db: Session, project: Any, bid: Any, start: dt.date, **kw: Any) -> Any:
    return service.reschedule_bid(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        bid_id=bid.id,
        start_date=start,
        **kw,
    )


# --- service --------------------------------------------------------------------------------


def test_a_later_start_moves_the_bid_and_the_project_and_closes_the_confirm_item(
    db: Session,
) -> None:
    project, ray = _roofed(db)
    org = _org(db, project)
    analyst = make_user(db, org, Role.analyst)
    item = _confirm_start(db, project, ray.contractor_id, _day(12))
    # Another contractor's item on the project, and Ray's on another project, stay open.
    hank = make_contractor(db, org, name="Hank's Heating")
    theirs = _confirm_start(db, project, hank.id, _day(12))
    elsewhere = make_project(db, org, name="Rehab: 9 Elm St")
    other_job = _confirm_start(db, elsewhere, ray.contractor_id, _day(12))

    result = _reschedule(
        db,
        project,
        ray,
        _day(12),
        reason="can't start till the 12th",
        principal=principal_for(analyst),
    )

    assert (ray.start_date, ray.duration_days, ray.status) == (_day(12), 4, BidStatus.accepted)
    assert (project.start_date, project.target_end_date) == (_day(12), _day(16))
    assert result.changed and result.project_start_moved and result.contractor == "Ray's Roofing"
    assert (result.old_start_date, result.new_start_date) == (_day(5), _day(12))
    assert (result.target_end_before, result.target_end_after) == (_day(9), _day(16))
    assert result.project_dates_note is None
    assert result.action_items_resolved == [item.id]
    db.refresh(item)
    assert item.status == ActionItemStatus.done and item.resolved_by == analyst.id
    assert item.resolution_note is not None and _day(12).isoformat() in item.resolution_note
    for untouched in (theirs, other_job):
        db.refresh(untouched)
        assert untouched.status == ActionItemStatus.open

    audits = db.exec(
        select(AuditLog)
        .where(AuditLog.org_id == org.id, AuditLog.entity_id == str(ray.id))
        .order_by(col(AuditLog.created_at))
    ).all()
    assert audits[-1].changes == {
        "start_date": {"from": _day(5).isoformat(), "to": _day(12).isoformat()},
        "reason": "can't start till the 12th",
    }
    assert audits[-1].actor == analyst.email
    (activity,) = db.exec(
        select(ProjectActivity).where(
            ProjectActivity.project_id == project.id,
            ProjectActivity.kind == ActivityKind.bid_rescheduled.value,
        )
    ).all()
    assert "Ray's Roofing's start moved" in activity.summary


def test_a_project_start_set_by_hand_stays_and_the_result_says_why(db: Session) -> None:
    project, ray = _roofed(db)
    service.update_project(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        project_in=ProjectUpdate(start_date=_day(3), target_end_date=_day(30)),
    )

    result = _reschedule(db, project, ray, _day(12), duration_days=6)

    assert (ray.start_date, ray.duration_days) == (_day(12), 6)
    assert (project.start_date, project.target_end_date) == (_day(3), _day(30))
    assert not result.project_start_moved
    assert result.project_dates_note is not None and "not this bid's" in result.project_dates_note


def test_a_start_set_by_hand_on_the_bids_day_moves_with_it_and_the_end_by_as_many_days(
    db: Session,
) -> None:
    project, ray = _roofed(db)
    # A person set the dates (the start on Ray's day, a later end): no longer the awards'.
    service.update_project(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        project_in=ProjectUpdate(target_end_date=_day(20)),
    )

    result = _reschedule(db, project, ray, _day(8))

    assert (project.start_date, project.target_end_date) == (_day(8), _day(23))
    assert result.project_start_moved


def test_with_two_trades_the_project_spans_the_awarded_bids_after_the_move(db: Session) -> None:
    project = make_project(db, make_org(db))
    ray = _bid(db, project, "Ray's Roofing", "roof", "9000", start=5, days=4)
    hank = _bid(db, project, "Hank's Heating", "furnace", "4000", start=7, days=10)
    _award(db, project, ray)
    _award(db, project, hank)
    assert (project.start_date, project.target_end_date) == (_day(5), _day(17))

    # Ray moves past Hank's start: the project starts with Hank and ends with Hank.
    _reschedule(db, project, ray, _day(12))
    assert (project.start_date, project.target_end_date) == (_day(7), _day(17))

    # Hank slips too: the project ends with him (and a later award still extends it).
    _reschedule(db, project, hank, _day(15))
    assert (project.start_date, project.target_end_date) == (_day(12), _day(25))


def test_a_later_award_still_extends_a_rescheduled_projects_end(db: Session) -> None:
    project, ray = _roofed(db)
    _reschedule(db, project, ray, _day(12))
    hank = _bid(db, project, "Hank's Heating", "furnace", "4000", start=14, days=10)

    _award(db, project, hank)

    # The dates were still the ones bids set: the furnace's end extends the target end.
    assert (project.start_date, project.target_end_date) == (_day(12), _day(24))


def test_a_project_without_a_start_takes_the_new_one(db: Session) -> None:
    project = make_project(db, make_org(db))
    contractor = make_contractor(db, _org(db, project), name="Pat's Painting")
    bid = service.create_bid(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        bid_in=BidCreate.model_validate(
            {"contractor_id": str(contractor.id), "total_amount": "3900"}
        ),
    )
    _award(db, project, bid)
    assert project.start_date is None

    result = _reschedule(db, project, bid, _day(10), duration_days=3)

    assert (project.start_date, project.target_end_date) == (_day(10), _day(13))
    assert result.old_start_date is None and result.project_start_moved


@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        ("received", service.ConstructionConflictError, "only an awarded bid"),
        ("cancelled", service.ConstructionConflictError, "cancelled"),
        ("past", service.ConstructionInputError, "in the past"),
        ("far", service.ConstructionInputError, "out of range"),
        ("other project", service.NotFoundError, "not found"),
    ],
)
def test_refusals_change_nothing(db: Session, case: str, error: type, words: str) -> None:
    project, ray = _roofed(db)
    start = _day(12)
    bid = ray
    if case == "received":
        bid = _bid(db, project, "Hank's Heating", "furnace", "4000", start=7, days=10)
    elif case == "cancelled":
        service.update_project(
            session=db,
            org_id=project.org_id,
            project_id=project.id,
            project_in=ProjectUpdate(status=ProjectStatus.cancelled),
        )
    elif case == "past":
        start = _day(-1)
    elif case == "far":
        start = _day(800)
    elif case == "other project":
        project = make_project(db, _org(db, project), name="Rehab: 9 Elm St")
    before = (bid.start_date, project.start_date, project.target_end_date)

    with pytest.raises(error, match=words):
        _reschedule(db, project, bid, start)

    assert (bid.start_date, project.start_date, project.target_end_date) == before


# --- REST -----------------------------------------------------------------------------------


def test_rest_reschedule_writer_only_with_404_409_422(client: TestClient, db: Session) -> None:
    project, ray = _roofed(db)
    org = _org(db, project)
    item = _confirm_start(db, project, ray.contractor_id, _day(12))
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    url = f"{API}/projects/{project.id}/bids/{ray.id}/reschedule"
    body = {"start_date": _day(12).isoformat(), "reason": "rain"}

    investor = client.post(
        url, json=body, headers=auth_headers(db, make_user(db, org, Role.investor))
    )
    assert investor.status_code == 403, investor.text
    stranger = auth_headers(db, make_user(db, make_org(db, "Rival"), Role.analyst))
    assert client.post(url, json=body, headers=stranger).status_code == 404
    bad = client.post(url, json={**body, "start_date": _day(-3).isoformat()}, headers=headers)
    assert bad.status_code == 422 and "in the past" in bad.json()["detail"]
    extra = client.post(url, json={**body, "colour": "red"}, headers=headers)
    assert extra.status_code == 422
    assert ray.start_date == _day(5)

    done = client.post(url, json=body, headers=headers)

    assert done.status_code == 200, done.text
    data = done.json()
    assert data["bid"]["start_date"] == _day(12).isoformat()
    assert data["project"]["start_date"] == _day(12).isoformat()
    assert data["project"]["target_end_date"] == _day(16).isoformat()
    assert (data["project_start_before"], data["target_end_before"]) == (
        _day(5).isoformat(),
        _day(9).isoformat(),
    )
    assert data["action_items_resolved"] == [str(item.id)]

    hank = _bid(db, project, "Hank's Heating", "furnace", "4000", start=7, days=10)
    open_bid = client.post(
        f"{API}/projects/{project.id}/bids/{hank.id}/reschedule", json=body, headers=headers
    )
    assert open_bid.status_code == 409 and "only an awarded bid" in open_bid.json()["detail"]

    operation = client.app.openapi()["paths"][  # type: ignore[attr-defined]
        f"{API}/projects/{{id}}/bids/{{bidId}}/reschedule"
    ]["post"]
    assert operation["summary"].startswith("Accept an awarded contractor's new start date")
    assert {"404", "409", "422"} <= set(operation["responses"])


# --- the chat tool --------------------------------------------------------------------------


def test_tool_moves_rays_start_by_name_and_says_what_moved(db: Session) -> None:
    project, ray = _roofed(db)
    org = _org(db, project)
    _confirm_start(db, project, ray.contractor_id, _day(10))
    analyst = context_for(db, make_user(db, org, Role.analyst))

    result = call_tool(
        reschedule_contractor,
        analyst,
        project=str(project.id),
        contractor="ray",
        start_date=_day(10),
        reason="ray says he can't start till the 10th",
    )

    assert "error" not in result, result
    assert (result["contractor"], result["new_start_date"]) == (
        "Ray's Roofing",
        _day(10).isoformat(),
    )
    assert result["old_start_date"] == _day(5).isoformat()
    assert result["project_start"] == {
        "from": _day(5).isoformat(),
        "to": _day(10).isoformat(),
        "moved": True,
    }
    assert result["target_end"] == {"from": _day(9).isoformat(), "to": _day(14).isoformat()}
    assert result["action_items_closed"] == 1
    assert result["summary"].startswith("Ray's Roofing now starts Rehab: 123 Main St on ")
    assert "the project now starts" in result["summary"]
    assert ray.start_date == _day(10)


def test_tool_refuses_an_open_bid_and_investors(db: Session) -> None:
    project, _ray = _roofed(db)
    org = _org(db, project)
    _bid(db, project, "Hank's Heating", "furnace", "4000", start=7, days=10)
    analyst = context_for(db, make_user(db, org, Role.analyst))

    refused = call_tool(
        reschedule_contractor,
        analyst,
        project=str(project.id),
        contractor="hank",
        start_date=_day(10),
    )
    assert "not awarded" in refused["error"]

    investor = context_for(db, make_user(db, org, Role.investor))
    denied = call_tool(
        reschedule_contractor,
        investor,
        project=str(project.id),
        contractor="ray",
        start_date=_day(10),
    )
    assert "error" in denied and project.start_date == _day(5)
    assert "reschedule_contractor" in ROLE_TOOL_NAMES[Role.analyst]
    assert "reschedule_contractor" not in ROLE_TOOL_NAMES[Role.investor]


def test_tool_by_street_and_first_name_dates_an_undated_project(db: Session) -> None:
    """As the eval's "pat says he cant start till the 10th on mack": Pat's lump sum on the
    Mack Ave project was awarded without a start, so the project takes the new one."""
    org = make_org(db)
    mack = make_property(
        db, org, address_line="9000 Mack Ave", city="Detroit", state="MI", zip_code="48214"
    )
    project = make_project(db, org, property_id=mack.id, name="Make-ready: 9000 Mack Ave")
    pat = make_contractor(db, org, name="Pat's Painting", company=None)
    bid = service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate.model_validate({"contractor_id": str(pat.id), "total_amount": "3900"}),
    )
    _award(db, project, bid)
    analyst = context_for(db, make_user(db, org, Role.analyst))

    result = call_tool(
        reschedule_contractor, analyst, project="mack", contractor="pat", start_date=_day(10)
    )

    assert "error" not in result, result
    assert result["summary"].startswith("Pat's Painting now starts 9000 Mack Ave")
    assert f"the project now starts {_day(10):%a %b} {_day(10).day}" in result["summary"]
    assert (project.start_date, result["old_start_date"]) == (_day(10), None)
