"""A contractor with two bids on one job is not asked "which job is it?" (security/QA pass,
2026-11-29): the reply named the same address twice and the update was filed as ambiguous."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session, col, select

from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction.enums import ActivityKind
from domain.construction.models import BidCreate, ProjectActivity
from tests.agent.turns import checked_turn
from tests.factories import make_contractor, make_org, make_project, make_property, make_user


def test_two_bids_on_one_job_are_one_job(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db, "One job, two bids")
    ray = make_contractor(db, org, name="Ray Alvarez")
    prop = make_property(
        db, org, address_line="123 Demo Secret St", city="Ames", state="IA", zip_code="50010"
    )
    project = make_project(db, org, property_id=prop.id, name="Rehab: 123 Demo Secret St")
    for total in ("9200", "9400"):  # his first price, then a revised one
        construction_service.create_bid(
            session=db, org_id=org.id, project_id=project.id,
            bid_in=BidCreate(contractor_id=ray.id, total_amount=Decimal(total)),
        )  # fmt: skip
    user = make_user(db, org, Role.contractor, phone_number=ray.phone)
    db.commit()
    result = checked_turn(user, "cant start till the 10th", channel="whatsapp")
    assert [c.name for c in result.tool_calls] == ["contractor_update"]
    assert "which job is it" not in result.reply and "123 Demo Secret St" in result.reply
    db.expire_all()
    (activity,) = db.exec(
        select(ProjectActivity)
        .where(
            ProjectActivity.org_id == org.id,
            ProjectActivity.kind == ActivityKind.contractor_response,
        )
        .order_by(col(ProjectActivity.created_at))
    ).all()
    assert activity.project_id == project.id
