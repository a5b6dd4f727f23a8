"""Projects start from a deal's rehab estimate; a flip or BRRRR deal under contract gets one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session, select

from domain.analysis import service as analysis_service
from domain.construction import service, subscribers
from domain.construction.models import Project, ProjectCreate, ScopeItemCreate
from domain.deal import service as deal_service
from domain.deal.enums import DealStatus
from tests.construction.helpers import event, published
from tests.factories import make_deal, make_org, make_project


def _under_contract(db: Session, deal: Any) -> dict[str, Any]:
    """Move a deal lead -> offer_made -> under_contract; return the last status event."""
    for status in (DealStatus.offer_made, DealStatus.under_contract):
        deal_service.change_status(
            session=db,
            org_id=deal.org_id,
            deal_id=deal.id,
            status=status,
        )
    return published(db, "deal.status.changed", deal.org_id)[-1]


def test_a_project_is_scoped_line_by_line_and_budgeted_from_its_scope(db: Session) -> None:
    org = make_org(db)
    project = make_project(db, org)  # roof 22 squares $9,500 + furnace $4,200
    scope = service.list_scope_items(session=db, org_id=org.id, project_id=project.id)
    assert [(s.component, s.quantity, s.unit, s.budgeted_cost) for s in scope] == [
        ("roof", Decimal("22"), "squares", Decimal("9500")),
        ("furnace", Decimal("1"), "each", Decimal("4200")),
    ]
    assert project.budget == Decimal("13700.00")
    (payload,) = published(db, "project.created", org.id)
    assert payload == {
        "project_id": str(project.id),
        "deal_id": None,
        "property_id": None,
        "name": "Rehab: 123 Main St",
        "status": "planning",
        "budget": "13700.00",
        "scope_items": 2,
        "scope_total": "13700.00",
        "scope_source": "scope given with the project",
        "by": "system",
    }


def test_flip_deal_put_under_contract_gets_one_project_from_its_estimate(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(
        db, org, strategy="flip", estimated_repairs=Decimal("25000"),
        purchase_price=Decimal("90000"),  # a deal goes under contract only at a price
    )  # fmt: skip
    created = event(org.id, "deal.created", **published(db, "deal.created", org.id)[0])
    subscribers.open_project_for_new_deal(db, created)  # a lead: no project yet
    assert service.project_for_deal(session=db, org_id=org.id, deal_id=deal.id) is None

    changed = event(org.id, "deal.status.changed", **_under_contract(db, deal))
    subscribers.open_project_when_under_contract(db, changed)
    subscribers.open_project_when_under_contract(db, changed)  # delivered again
    subscribers.open_project_for_new_deal(db, created)  # a late deal.created: still one
    projects = db.exec(select(Project).where(Project.deal_id == deal.id)).all()
    assert len(projects) == 1
    project = projects[0]
    assert project.property_id == deal.property_id
    assert project.budget == Decimal("25000.00")
    assert project.name.startswith("Rehab: ")
    # The scope is the one the property's analysis priced, line by line (before contingency).
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=deal.property_id
    )
    lines = service.list_scope_items(session=db, org_id=org.id, project_id=project.id)
    assert [(x.component, x.budgeted_cost) for x in lines] == [
        (item.component_name, item.line_total) for item in analysis.rehab.estimate.line_items
    ]
    assert project.scope_source == (
        f"{analysis.rehab.scope_source}, priced from the cost book; "
        "budget: the deal's estimated repairs $25,000.00"
    )
    assert len(published(db, "project.created", org.id)) == 1


@pytest.mark.parametrize(("strategy", "gets_project"), [("brrrr", True), ("rental", False)])
def test_only_rehab_strategies_get_projects(db: Session, strategy: str, gets_project: bool) -> None:
    org = make_org(db)
    deal = make_deal(
        db, org, strategy=strategy, estimated_repairs=Decimal("1000"),
        purchase_price=Decimal("90000"),  # a deal goes under contract only at a price
    )  # fmt: skip
    subscribers.open_project_when_under_contract(
        db, event(org.id, "deal.status.changed", **_under_contract(db, deal))
    )
    found = service.project_for_deal(session=db, org_id=org.id, deal_id=deal.id)
    assert (found is not None) is gets_project


def test_a_deal_has_one_project_and_other_organisations_deals_are_unknown(db: Session) -> None:
    org, other = make_org(db), make_org(db)
    deal = make_deal(db, org, strategy="flip")
    project = service.create_project(
        session=db,
        org_id=org.id,
        project_in=ProjectCreate(name="Phase 1", deal_id=deal.id),
        scope=[ScopeItemCreate(component="kitchen", budgeted_cost=Decimal("8000"))],
    )
    assert project.property_id == deal.property_id
    assert project.budget == Decimal("8000.00")
    with pytest.raises(service.ConstructionConflictError, match="already has project"):
        service.create_project(
            session=db, org_id=org.id, project_in=ProjectCreate(name="Again", deal_id=deal.id)
        )
    with pytest.raises(service.NotFoundError, match="deal"):
        service.create_project(
            session=db, org_id=other.id, project_in=ProjectCreate(name="X", deal_id=deal.id)
        )
    with pytest.raises(service.NotFoundError):
        service.get_project(session=db, org_id=other.id, project_id=project.id)


def test_a_deal_without_an_estimate_starts_from_its_propertys_priced_scope(db: Session) -> None:
    org = make_org(db)
    deal = make_deal(db, org, strategy="flip")
    project = service.create_project(
        session=db, org_id=org.id, project_in=ProjectCreate(name="No estimate", deal_id=deal.id)
    )
    lines = service.list_scope_items(session=db, org_id=org.id, project_id=project.id)
    assert lines and all(x.budgeted_cost and x.budgeted_cost > 0 for x in lines)
    # No deal figure: the budget is the priced scope's total.
    assert project.budget == sum(x.budgeted_cost for x in lines if x.budgeted_cost)
    assert project.scope_source is not None
    assert project.scope_source.endswith("priced from the cost book")
