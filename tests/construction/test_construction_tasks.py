"""Tasks with dependencies, completion events, milestones, and inspections and call responses."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session

from domain.construction import service, subscribers
from domain.construction.enums import BidSource, TaskStatus
from domain.construction.models import MilestoneCreate, TaskCreate, TaskUpdate
from domain.voice.enums import CallPurpose
from domain.voice.models import Call
from tests.construction.helpers import event, published
from tests.factories import make_contractor, make_org, make_project


def _task(db: Session, project: Any, title: str, **fields: Any) -> Any:
    return service.create_task(
        session=db,
        org_id=project.org_id,
        project_id=project.id,
        task_in=TaskCreate.model_validate({"title": title, **fields}),
    )


def _set(db: Session, task: Any, **fields: Any) -> Any:
    return service.update_task(
        session=db,
        org_id=task.org_id,
        project_id=task.project_id,
        task_id=task.id,
        task_in=TaskUpdate.model_validate(fields),
    )


def test_a_task_waits_for_its_dependencies_then_completes_with_an_event(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)
    roofer = make_contractor(db, org)
    demo = _task(db, project, "Demo", due_date="2027-03-05")
    roof = _task(db, project, "Roof", depends_on=[str(demo.id)], assignee_contractor_id=roofer.id)
    with pytest.raises(service.ConstructionConflictError, match="Demo"):
        _set(db, roof, status="done")
    assert roof.status == TaskStatus.todo and published(db, "task.completed", org.id) == []
    _set(db, demo, status="done")
    _set(db, roof, status="done")
    _set(db, roof, status="done")  # already done: no second event
    payloads = published(db, "task.completed", org.id)
    assert [p["title"] for p in payloads] == ["Demo", "Roof"]
    assert payloads[1]["assignee_contractor_id"] == str(roofer.id)
    assert set(payloads[1]) == {
        "project_id",
        "deal_id",
        "property_id",
        "task_id",
        "title",
        "completed_at",
        "due_date",
        "assignee_contractor_id",
        "scope_item_id",
        "by",
    }


def test_self_cyclic_and_cross_project_dependencies_are_refused(db: Session) -> None:
    org = make_org(db)
    project, other = make_project(db, org), make_project(db, org, name="Other")
    a = _task(db, project, "A")
    b = _task(db, project, "B", depends_on=[str(a.id)])
    with pytest.raises(service.ConstructionInputError, match="itself"):
        _set(db, a, depends_on=[str(a.id)])
    with pytest.raises(service.ConstructionInputError, match="cycle"):
        _set(db, a, depends_on=[str(b.id)])
    foreign = _task(db, other, "Elsewhere")
    with pytest.raises(service.ConstructionInputError, match="another project"):
        _task(db, project, "C", depends_on=[str(foreign.id)])
    with pytest.raises(service.NotFoundError):
        _task(db, project, "D", depends_on=[str(uuid.uuid4())])
    assert a.depends_on == []


def test_milestones_are_reached_once(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)
    demo = service.create_milestone(
        session=db,
        org_id=org.id,
        project_id=project.id,
        milestone_in=MilestoneCreate(name="Demo done", target_date=dt.date(2027, 3, 1)),
    )
    with pytest.raises(service.ConstructionConflictError):
        service.create_milestone(
            session=db,
            org_id=org.id,
            project_id=project.id,
            milestone_in=MilestoneCreate(name="demo"),
        )
    at = dt.datetime(2027, 3, 4, 15, tzinfo=dt.UTC)
    for _ in range(2):
        service.reach_milestone(
            session=db, org_id=org.id, project_id=project.id, milestone_id=demo.id, at=at
        )
    (payload,) = published(db, "milestone.reached", org.id)
    assert (payload["name"], payload["days_late"], payload["target_date"]) == (
        "Demo done",
        3,
        "2027-03-01",
    )


def test_a_passed_inspection_reaches_its_milestone_and_a_failed_one_adds_a_task(
    db: Session,
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    service.create_milestone(
        session=db,
        org_id=org.id,
        project_id=project.id,
        milestone_in=MilestoneCreate(name="Rough-in inspection passed"),
    )
    passed = event(
        org.id, "inspection.completed", project_id=str(project.id), name="rough-in", passed=True
    )
    subscribers.record_inspection(db, passed)
    subscribers.record_inspection(db, passed)  # redelivered
    (reached,) = published(db, "milestone.reached", org.id)
    assert reached["name"] == "Rough-in inspection passed"
    assert reached["source"] == f"inspection.completed:{passed.id}"

    failed = event(
        org.id,
        "inspection.completed",
        project_id=str(project.id),
        kind="final",
        passed=False,
        notes="GFCI missing in kitchen",
        reinspection_date="2027-04-02",
    )
    subscribers.record_inspection(db, failed)
    subscribers.record_inspection(db, failed)
    (task,) = service.list_tasks(session=db, org_id=org.id, project_id=project.id)
    assert (task.title, task.due_date) == ("Re-inspection: final", dt.date(2027, 4, 2))
    assert task.description == "The final inspection failed: GFCI missing in kitchen"


def test_a_contractor_response_with_a_price_becomes_a_bid_once_per_call(db: Session) -> None:
    org = make_org(db)
    project, roofer = make_project(db, org), make_contractor(db, org)
    roof = service.list_scope_items(session=db, org_id=org.id, project_id=project.id)[0]
    call = Call(
        org_id=org.id,
        contractor_id=roofer.id,
        project_id=project.id,
        purpose=CallPurpose.bid_request,
        to_number=roofer.phone or "+13135550100",
    )
    db.add(call)
    db.flush()
    call_id = call.id
    said = {
        "contractor_id": str(roofer.id),
        "project_id": str(project.id),
        "call_id": str(call_id),
        "bid_amount": "8700",
        "scope_item_id": str(roof.id),
        "start_date": "2027-03-08",
        "summary": "can start the 8th",
    }
    first = event(org.id, "contractor.responded", **said)
    subscribers.record_contractor_response(db, first)
    subscribers.record_contractor_response(db, first)  # redelivered
    subscribers.record_contractor_response(db, event(org.id, "contractor.responded", **said))
    (bid,) = service.list_bids(session=db, org_id=org.id, project_id=project.id)
    assert (bid.total_amount, bid.source, bid.call_id) == (
        Decimal("8700.00"),
        BidSource.call,
        call_id,
    )
    assert bid.line_items == [{"scope_item_id": str(roof.id), "amount": "8700.00", "note": None}]

    # A call id that is not this organisation's is not kept on the bid: the response says so.
    stranger = event(
        org.id,
        "contractor.responded",
        **(said | {"call_id": str(uuid.uuid4()), "bid_amount": "9100"}),
    )
    subscribers.record_contractor_response(db, stranger)
    second = [
        b for b in service.list_bids(session=db, org_id=org.id, project_id=project.id) if b != bid
    ]
    assert [(b.total_amount, b.call_id) for b in second] == [(Decimal("9100.00"), None)]

    note = event(
        org.id,
        "contractor.responded",
        contractor_id=str(roofer.id),
        project_id=str(project.id),
        summary="busy until April",
    )
    subscribers.record_contractor_response(db, note)
    detail = service.project_detail(session=db, org_id=org.id, project_id=project.id)
    assert "Ray's Roofing responded: busy until April" in [a.summary for a in detail.activity]
    assert "Ray's Roofing bid $8,700.00 on a call: can start the 8th" in [
        a.summary for a in detail.activity
    ]
