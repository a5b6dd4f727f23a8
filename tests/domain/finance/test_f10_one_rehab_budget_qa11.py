"""F10 (QA 11): one rehab budget of record per deal.

Was (1215 Kellogg Ave, a flip with estimated repairs $40,000 and a rehab project): after the
awards the project's budget said one figure, the deal's finance rehab line (``GET /budgets``)
still said the $40,000 it opened with, and the analysis used the deal's $40,000 "instead of
the estimate's". Now the project's budget, once it has one, is the rehab budget of record:
the finance rehab line follows it (award, PATCH) unless a person set it by hand, and the
analysis and the deal projection use it. A later award whose bid starts earlier moves the
project's start earlier while the dates are still the ones awards set.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.clock import local_today
from domain.analysis import service as analysis_service
from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.construction import service as construction_service
from domain.construction.models import BidCreate, ProjectUpdate
from domain.deal.projection import ProjectionAssumptions, deal_figures
from domain.finance import subscribers
from domain.finance.models import Budget
from store.events import Event
from store.outbox import OutboxEvent
from tests.factories import (
    auth_headers,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_sold_market,
    make_subject_property,
    make_user,
)

API = "/api/v1"

# What finance does with each event the relay would deliver to it.
_FINANCE = {
    "deal.created": subscribers.open_deal_budget,
    "project.created": subscribers.follow_new_project_budget,
    "bid.awarded": subscribers.follow_awarded_project_budget,
    "project.budget.changed": subscribers.follow_changed_project_budget,
}


def _deliver(db: Session, org: Organisation) -> int:
    """Deliver every finance event of ``org`` in the outbox, in order (again: at-least-once)."""
    db.flush()
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.org_id == org.id, col(OutboxEvent.name).in_(list(_FINANCE)))
        .order_by(col(OutboxEvent.created_at), col(OutboxEvent.id))
    ).all()
    for row in rows:
        event = Event(id=row.id, org_id=row.org_id, name=row.name, payload=row.payload)
        with db.begin_nested():
            _FINANCE[row.name](db, event)
            db.flush()
    return len(rows)


def _rehab_line(db: Session, deal: Any) -> Budget:
    return db.exec(
        select(Budget)
        .where(Budget.deal_id == deal.id, col(Budget.category).is_(None))
        .execution_options(populate_existing=True)
    ).one()


def _bid(db: Session, org: Organisation, project: Any, name: str, **fields: Any) -> Any:
    contractor = make_contractor(db, org, name=name)
    return construction_service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate.model_validate({"contractor_id": contractor.id, **fields}),
    )


def _award(db: Session, project: Any, bid: Any) -> Any:
    return construction_service.award_bid(
        session=db, org_id=project.org_id, project_id=project.id, bid_id=bid.id
    )


def _lines(db: Session, project: Any) -> dict[str, Any]:
    items = construction_service.list_scope_items(
        session=db, org_id=project.org_id, project_id=project.id
    )
    return {item.component: item.id for item in items}


def _kellogg(db: Session, org: Organisation, **deal_fields: Any) -> tuple[Any, Any]:
    """A flip with estimated repairs $40,000 and its project (roof $9,500 + furnace $4,200)."""
    deal = make_deal(db, org, strategy="flip", estimated_repairs=D("40000"), **deal_fields)
    db.flush()
    project = make_project(db, org, deal_id=deal.id, property_id=deal.property_id)
    return deal, project


def test_the_finance_rehab_line_follows_the_project_budget_through_awards(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    deal, project = _kellogg(db, org)
    _deliver(db, org)
    line = _rehab_line(db, deal)
    # The project's budget ($13,700, its scope) is the rehab budget of record, not $40,000.
    assert line.allocated_amount == D("13700.00")
    assert line.source == f"project:{project.id}"

    roof = _lines(db, project)["roof"]
    bid = _bid(
        db, org, project, "Ray Roofing", total_amount=D("11000"),
        line_items=[{"scope_item_id": str(roof), "amount": "11000"}],
    )  # fmt: skip
    assert _award(db, project, bid).budget == D("15200.00")  # 11,000 + the furnace's 4,200
    _deliver(db, org)
    _deliver(db, org)  # delivered again: the same figure, nothing more
    assert _rehab_line(db, deal).allocated_amount == D("15200.00")

    body = client.get(f"{API}/budgets", params={"deal_id": str(deal.id)}, headers=headers)
    assert body.status_code == 200, body.text
    status = body.json()
    assert D(status["total_allocated"]) == D("15200.00")
    assert D(status["project_budget"]) == D("15200.00")
    assert status["project_id"] == str(project.id)
    assert "rehab project's budget" in status["rehab_budget_source"]
    assert status["notes"] == []


def test_a_rehab_line_set_by_a_person_is_left_as_set_and_get_budgets_says_it_differs(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.admin))
    deal, project = _kellogg(db, org)
    _deliver(db, org)
    set_by_hand = client.post(
        f"{API}/budgets",
        json={"deal_id": str(deal.id), "allocated_amount": "38000.00"},
        headers=headers,
    )
    assert set_by_hand.status_code in (200, 201), set_by_hand.text
    assert set_by_hand.json()["source"] == "api"

    patched = client.patch(
        f"{API}/projects/{project.id}", json={"budget": "21000.00"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    changed = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org.id, OutboxEvent.name == "project.budget.changed"
        )
    ).one()
    assert changed.payload["project_id"] == str(project.id)
    _deliver(db, org)
    assert _rehab_line(db, deal).allocated_amount == D("38000.00")  # the person's figure

    status = client.get(f"{API}/budgets", params={"deal_id": str(deal.id)}, headers=headers)
    assert status.status_code == 200, status.text
    body = status.json()
    assert D(body["project_budget"]) == D("21000.00")
    assert "set by a person" in body["rehab_budget_source"]
    assert len(body["notes"]) == 1
    assert "$21,000.00" in body["notes"][0] and "$38,000.00" in body["notes"][0]
    assert "a person set" in body["notes"][0]


def test_a_patched_project_budget_moves_a_line_nobody_set_by_hand(
    db: Session, client: TestClient
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, role=Role.admin))
    deal, project = _kellogg(db, org)
    _deliver(db, org)
    patched = client.patch(
        f"{API}/projects/{project.id}", json={"budget": "27295.00"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    _deliver(db, org)
    assert _rehab_line(db, deal).allocated_amount == D("27295.00")


def test_the_analysis_and_the_projection_use_the_project_budget_of_record(
    db: Session,
) -> None:
    org = make_org(db, "F10 Analysis Org")
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    deal, _ = _kellogg(db, org, property_id=subject.id, purchase_price=D("30000"))

    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=deal.property_id, deal_id=deal.id
    )
    assert analysis.rehab_total_source == "the rehab project's budget"
    note = next(n for n in analysis.notes if "rehab project's budget" in n)
    assert note.startswith("rehab $13,700 from the rehab project's budget")
    assert f"deal {deal.id}'s estimated repairs $40,000" in note

    # A what-if rehab still wins over everything, naming the project's budget it replaced.
    what_if = analysis_service.analyze_property(
        session=db,
        org_id=org.id,
        property_id=deal.property_id,
        deal_id=deal.id,
        rehab_cost=D("30000"),
    )
    assert what_if.rehab_total_source == "as given"
    assert any("instead of the rehab project's budget $13,700" in n for n in what_if.notes)

    figures = deal_figures(
        session=db,
        org_id=org.id,
        deal=deal,
        prop=subject,
        assumptions=ProjectionAssumptions(),
    )
    assert figures.rehab == D("13700.00")
    assert figures.sources["rehab_cost"].startswith("project.budget (the rehab project's budget")
    assert "$40,000.00" in figures.sources["rehab_cost"]


def test_an_award_starting_earlier_moves_the_start_while_awards_set_the_dates(
    db: Session,
) -> None:
    org = make_org(db)
    project = make_project(db, org)
    lines = _lines(db, project)
    today = local_today()
    roof = _bid(
        db, org, project, "Ray Roofing", total_amount=D("9000"),
        line_items=[{"scope_item_id": str(lines["roof"]), "amount": "9000"}],
        start_date=today + dt.timedelta(days=10), duration_days=10,
    )  # fmt: skip
    furnace = _bid(
        db, org, project, "Hal Heating", total_amount=D("4000"),
        line_items=[{"scope_item_id": str(lines["furnace"]), "amount": "4000"}],
        start_date=today + dt.timedelta(days=4), duration_days=3,
    )  # fmt: skip
    first = _award(db, project, roof).project
    assert first.start_date == today + dt.timedelta(days=10)
    second = _award(db, project, furnace).project
    assert second.start_date == today + dt.timedelta(days=4)  # was left at day 10
    assert second.target_end_date == today + dt.timedelta(days=20)  # the roof still ends last


def test_an_earlier_award_leaves_dates_a_person_set(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)
    lines = _lines(db, project)
    today = local_today()
    roof = _bid(
        db, org, project, "Ray Roofing", total_amount=D("9000"),
        line_items=[{"scope_item_id": str(lines["roof"]), "amount": "9000"}],
        start_date=today + dt.timedelta(days=10), duration_days=10,
    )  # fmt: skip
    _award(db, project, roof)
    construction_service.update_project(
        session=db,
        org_id=org.id,
        project_id=project.id,
        project_in=ProjectUpdate(start_date=today + dt.timedelta(days=12)),
    )
    furnace = _bid(
        db, org, project, "Hal Heating", total_amount=D("4000"),
        line_items=[{"scope_item_id": str(lines["furnace"]), "amount": "4000"}],
        start_date=today + dt.timedelta(days=4), duration_days=3,
    )  # fmt: skip
    assert _award(db, project, furnace).project.start_date == today + dt.timedelta(days=12)
