"""QA pass 9 on bids: date windows, levelling what can still be awarded, exclusions, outliers,
cents in every bid reply, and WhatsApp notices to contractors when a bid is awarded."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from agent.planner import _bids_reply
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.construction import service
from domain.construction.enums import ActivityKind, BidSource
from domain.construction.models import Bid, BidCreate, ProjectActivity
from domain.whatsapp import service as whatsapp_service
from domain.whatsapp.models import Message
from store import events
from store.base import utcnow
from store.outbox import OutboxEvent
from tests.factories import auth_headers, make_contractor, make_org, make_project, make_user
from tests.tools.helpers import call_tool, context_for
from tools.construction import list_bids, my_bids, trade_schedule

API = "/api/v1"


def _lines(db: Session, project: Any) -> dict[str, uuid.UUID]:
    items = service.list_scope_items(session=db, org_id=project.org_id, project_id=project.id)
    return {item.component: item.id for item in items}


def _bid(db: Session, org: Organisation, project: Any, name: str, **fields: Any) -> Bid:
    contractor = make_contractor(db, org, name=name)
    return service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate.model_validate({"contractor_id": contractor.id, **fields}),
    )


def _award(db: Session, project: Any, bid: Bid) -> Any:
    return service.award_bid(
        session=db, org_id=project.org_id, project_id=project.id, bid_id=bid.id
    )


# --- 1. start dates: a window on the way in, robust reads of rows stored before -------------


@pytest.mark.parametrize("start", ["9999-12-25", "1900-01-01"])
def test_a_bid_start_date_far_ahead_or_far_back_is_a_422_naming_the_window(
    db: Session, client: TestClient, start: str
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    roof = _lines(db, project)["roof"]
    contractor = make_contractor(db, org)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    response = client.post(
        f"{API}/projects/{project.id}/bids",
        json={
            "contractor_id": str(contractor.id),
            "line_items": [{"scope_item_id": str(roof), "amount": "9000"}],
            "start_date": start,
            "duration_days": 30,
        },
        headers=headers,
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"start_date {start} is out of range" in detail
    assert "a year back" in detail and "two years ahead" in detail
    assert service.list_bids(session=db, org_id=org.id, project_id=project.id) == []
    soon = (utcnow().date() + dt.timedelta(days=20)).isoformat()
    ok = client.post(
        f"{API}/projects/{project.id}/bids",
        json={"contractor_id": str(contractor.id), "total_amount": "9000", "start_date": soon},
        headers=headers,
    )
    assert ok.status_code == 201, ok.text


def test_a_bad_start_date_stored_before_does_not_break_the_starts_or_the_award(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    roof = _lines(db, project)["roof"]
    bad = _bid(db, org, project, "Ray", line_items=[{"scope_item_id": str(roof), "amount": "9000"}])
    # A row written before dates were checked.
    bad.start_date, bad.duration_days = dt.date(9999, 12, 25), 30
    db.add(bad)
    db.flush()
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    for query in ("", f"?project_id={project.id}"):
        starts = client.get(f"{API}/projects/starts{query}", headers=headers)
        assert starts.status_code == 200, starts.text
        (row,) = starts.json()
        assert (row["start_date"], row["end_date"]) == ("9999-12-25", None)
    award = client.post(f"{API}/projects/{project.id}/bids/{bad.id}/award", headers=headers)
    assert award.status_code == 409, award.text
    assert "9999-12-25 is out of range" in award.json()["detail"]
    chat = call_tool(
        trade_schedule, context_for(db, make_user(db, org, Role.analyst)), said="start dates?"
    )
    assert "error" not in chat and chat["starts"][0]["end_date"] is None
    leveled = service.level_bids(session=db, org_id=org.id, project_id=project.id)
    assert leveled.bids[0].awardable is False and leveled.lowest_leveled_bid_id is None


def test_a_far_date_heard_on_a_call_keeps_the_bid_without_the_date(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)
    bid = _bid(
        db, org, project, "Rosa", total_amount="12000", start_date="9999-12-25",
        source=BidSource.call,
    )  # fmt: skip
    assert bid.start_date is None and bid.total_amount == Decimal("12000.00")
    notes = db.exec(
        select(ProjectActivity).where(
            ProjectActivity.project_id == project.id,
            ProjectActivity.kind == ActivityKind.contractor_response.value,
        )
    ).all()
    assert any("kept without its start date" in n.summary for n in notes)


def test_a_call_scheduled_years_ahead_is_a_422(db: Session, client: TestClient) -> None:
    org = make_org(db)
    project = make_project(db, org)
    contractor = make_contractor(db, org)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    response = client.post(
        f"{API}/calls/schedule",
        json={
            "contractor_id": str(contractor.id),
            "project_id": str(project.id),
            "scheduled_for": "9999-12-31T10:00:00-05:00",
        },
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert "too far ahead" in response.json()["detail"]


# --- 2. and 3. levelling: only what can be awarded is lowest; exclusions; outliers ----------


def test_levelling_after_a_line_award_never_names_a_bid_that_cannot_be_awarded(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    line = _lines(db, project)
    ray = _bid(
        db, org, project, "Ray", line_items=[{"scope_item_id": str(line["roof"]), "amount": "9000"}]
    )
    lump = _bid(db, org, project, "Lumpy", total_amount="5000")
    _award(db, project, ray)
    # The lump sum was rejected by the line award; a new one comes in afterwards.
    lump2 = _bid(db, org, project, "Lumpy Two", total_amount="5000")
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    late = client.post(
        f"{API}/projects/{project.id}/bids",
        json={
            "contractor_id": str(make_contractor(db, org, name="Late").id),
            "line_items": [{"scope_item_id": str(line["roof"]), "amount": "8000"}],
        },
        headers=headers,
    )
    assert late.status_code == 201, late.text
    assert late.json()["warnings"] and "roof already awarded" in late.json()["warnings"][0]
    leveling = client.get(f"{API}/projects/{project.id}/bids", headers=headers).json()
    by_id = {b["bid_id"]: b for b in leveling["bids"]}
    assert str(lump.id) not in by_id  # rejected
    assert by_id[str(lump2.id)]["awardable"] is False
    assert "would price that line twice" in by_id[str(lump2.id)]["not_awardable_reason"]
    assert by_id[late.json()["id"]]["awardable"] is False
    assert leveling["lowest_complete_bid_id"] is None
    assert leveling["lowest_leveled_bid_id"] is None
    # The chat does not tell the user to award it, and its header says what was used.
    analyst = context_for(db, make_user(db, org, Role.analyst))
    reply = _bids_reply(call_tool(list_bids, analyst, project=str(project.id)))
    assert "Lowest:" not in reply and "award bid" not in reply
    assert "cannot be awarded" in reply
    assert "priced at their budget" in reply and "cost book" not in reply


def test_levelling_shows_exclusions_and_flags_a_line_far_over_budget(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    project = make_project(db, org)  # roof $9,500, furnace $4,200
    line = _lines(db, project)
    hank = _bid(
        db, org, project, "Hank",
        line_items=[{"scope_item_id": str(line["furnace"]), "amount": "384200"}],
        exclusions="labour only",
    )  # fmt: skip
    rosa = _bid(db, org, project, "Rosa", total_amount="13000", exclusions="plus tax")
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    leveling = client.get(f"{API}/projects/{project.id}/bids", headers=headers).json()
    by_id = {b["bid_id"]: b for b in leveling["bids"]}
    assert by_id[str(hank.id)]["exclusions"] == "labour only"
    assert by_id[str(rosa.id)]["exclusions"] == "plus tax"
    assert by_id[str(hank.id)]["outliers"] == ["furnace $384,200.00 is 91.5x its budget $4,200.00"]
    (furnace,) = [x for x in by_id[str(hank.id)]["lines"] if x["component"] == "furnace"]
    assert furnace["outlier"] is True
    assert by_id[str(rosa.id)]["outliers"] == []
    analyst = context_for(db, make_user(db, org, Role.analyst))
    reply = _bids_reply(call_tool(list_bids, analyst, project=str(project.id)))
    assert "excludes labour only" in reply and "excludes plus tax" in reply
    assert "check: furnace $384,200.00 is 91.5x its budget" in reply


# --- 4. cents in every bid reply ------------------------------------------------------------


def test_bid_replies_keep_the_cents(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)
    soon = utcnow().date() + dt.timedelta(days=10)
    bid = _bid(db, org, project, "Hank", total_amount="385449.99", start_date=soon.isoformat())
    contractor = service.get_contractor(session=db, org_id=org.id, contractor_id=bid.contractor_id)
    mine = call_tool(
        my_bids, context_for(db, make_user(db, org, Role.contractor, phone_number=contractor.phone))
    )
    assert mine["bids"][0]["total"] == "$385,449.99"
    starts = call_tool(trade_schedule, context_for(db, make_user(db, org, Role.analyst)))
    assert starts["starts"][0]["bid_total"] == "$385,449.99"
    leveled = call_tool(
        list_bids, context_for(db, make_user(db, org, Role.analyst)), project=str(project.id)
    )
    assert leveled["bids"][0]["bid_total"] == "$385,449.99"


# --- 5. contractors hear about the award on WhatsApp ---------------------------------------


def _deliver_award_events(db: Session, org: Organisation) -> None:
    """Hand each ``bid.awarded`` outbox row to its subscribers, as the relay does (twice)."""
    events.load_subscribers()
    rows = db.exec(
        select(OutboxEvent).where(OutboxEvent.org_id == org.id, OutboxEvent.name == "bid.awarded")
    ).all()
    assert rows, "award_bid published no bid.awarded event"
    subscribers = events.subscribers("bid.awarded")
    assert subscribers, "nothing subscribes to bid.awarded"
    for row in rows:
        event = events.Event(id=row.id, org_id=row.org_id, name=row.name, payload=dict(row.payload))
        for _ in range(2):  # at-least-once: a redelivery queues nothing twice
            for sub in subscribers:
                sub.handler(db, event)


def test_the_winner_and_the_others_on_those_lines_are_told_on_whatsapp(db: Session) -> None:
    org = make_org(db, name="Acme Rehab")
    project = make_project(db, org)
    line = _lines(db, project)
    start = utcnow().date() + dt.timedelta(days=14)
    roof = {"scope_item_id": str(line["roof"]), "amount": "9000"}
    ray = _bid(db, org, project, "Ray", line_items=[roof], start_date=start.isoformat())
    rosa = _bid(db, org, project, "Rosa", line_items=[{**roof, "amount": "9800"}])
    gone = _bid(db, org, project, "Quiet", line_items=[{**roof, "amount": "9900"}])
    service.mark_contractor_opted_out(
        session=db, org_id=org.id, contractor_id=gone.contractor_id, reason="STOP"
    )
    hank = _bid(
        db, org, project, "Hank",
        line_items=[{"scope_item_id": str(line["furnace"]), "amount": "4000"}],
    )  # fmt: skip
    result = _award(db, project, ray)
    assert set(result.rejected_bid_ids) == {rosa.id, gone.id}
    _deliver_award_events(db, org)
    outbox = whatsapp_service.list_outbox(session=db, org_id=org.id, limit=50)
    phones: dict[uuid.UUID, str] = {
        c.id: str(c.phone)
        for c in (
            service.get_contractor(session=db, org_id=org.id, contractor_id=b.contractor_id)
            for b in (ray, rosa, gone, hank)
        )
    }
    by_phone: dict[str, list[str]] = {}
    for entry in outbox:
        by_phone.setdefault(entry.to, []).append(entry.body or "")
    (won,) = by_phone[phones[ray.contractor_id]]
    assert "Your bid for roof at" in won and "was accepted" in won
    assert f"{start:%B} {start.day}, {start.year}" in won and "Acme Rehab" in won
    (lost,) = by_phone[phones[rosa.contractor_id]]
    assert "not selected this time" in lost and "roof" in lost
    assert phones[gone.contractor_id] not in by_phone  # opted out
    assert phones[hank.contractor_id] not in by_phone  # the furnace bid is still open
    queued = db.exec(
        select(Message).where(
            Message.org_id == org.id, col(Message.idempotency_key).startswith("bid-award:")
        )
    ).all()
    assert len(queued) == 2
