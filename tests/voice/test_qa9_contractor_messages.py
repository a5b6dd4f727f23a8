"""QA 9: what a contractor texts is kept for the team, whatever the language or wording.

Real graph, tools and database (``checked_turn``: every figure of a reply from the turn's tool
results). Ray's Roofing bid $8,502 on 825 Ridgewood Ave: roof $4,002 and furnace $4,500.
Before: Spanish messages ("el precio del techo es 4500 dolares") were refused as addresses
and dropped; "roof gonna be more like 4.8k" read as a new bid total; a price and a date in
one message kept only the date; "cant do it, sorry, got another job" was not a withdrawal.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, col, select

from agent.planner import Conversation, contractor_plan_for
from agent.runner import TurnResult
from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import User
from domain.construction import service as construction_service
from domain.construction.enums import ActivityKind
from domain.construction.models import Bid, BidCreate, ProjectActivity
from tests.agent.turns import checked_turn
from tests.factories import make_contractor, make_org, make_project, make_property, make_user

TODAY = dt.date(2026, 11, 28)


@dataclass
class Site:
    ray: User
    org_id: uuid.UUID
    project_id: uuid.UUID
    bid_id: uuid.UUID
    start: dt.date


@pytest.fixture
def site(committed_db: Session) -> Site:
    db = committed_db
    org = make_org(db, f"Contractor QA9 {uuid.uuid4().hex[:6]}")
    prop = make_property(
        db, org, address_line="825 Ridgewood Ave", city="Detroit", state="MI", zip_code="48215"
    )
    project = make_project(db, org, property_id=prop.id, name="Rehab: 825 Ridgewood Ave")
    roof, furnace = construction_service.list_scope_items(
        session=db, org_id=org.id, project_id=project.id
    )
    ray = make_contractor(db, org, name="Ray Alvarez")
    start = local_today() + dt.timedelta(days=10)
    bid = construction_service.create_bid(
        session=db, org_id=org.id, project_id=project.id,
        bid_in=BidCreate.model_validate({
            "contractor_id": ray.id, "start_date": start,
            "line_items": [{"scope_item_id": str(roof.id), "amount": "4002"},
                           {"scope_item_id": str(furnace.id), "amount": "4500"}],
        }),
    )  # fmt: skip
    user = make_user(db, org, Role.contractor, phone_number=ray.phone)
    db.commit()
    return Site(user, org.id, project.id, bid.id, start)


def _say(site: Site, text: str) -> TurnResult:
    return checked_turn(site.ray, text, channel="whatsapp")


def _items(db: Session, site: Site) -> list[dict[str, Any]]:
    db.expire_all()
    rows = db.exec(
        select(ProjectActivity)
        .where(
            ProjectActivity.org_id == site.org_id,
            ProjectActivity.kind == ActivityKind.contractor_response,
        )
        .order_by(col(ProjectActivity.created_at))
    ).all()
    return [item for row in rows for item in row.details["action_items"]]


def _plan(text: str) -> tuple[str | None, dict[str, Any]]:
    from langchain_core.messages import HumanMessage

    plan = contractor_plan_for(Conversation.read([HumanMessage(text)]), TODAY)
    args = {k: v for k, v in (plan.args or {}).items() if k != "message"}
    return plan.tool, args


@pytest.mark.parametrize(
    ("said", "kind", "facts"),
    [
        ("el precio del techo es 4500 dolares", "price", {"amount": "4500"}),
        ("no puedo empezar hasta el 10 de diciembre", "start_date", {"start_date": "2026-12-10"}),
        (
            "puedo empezar el lunes 7 de diciembre, son 5 dias",
            "start_date",
            {"start_date": "2026-12-07", "duration_days": 5},
        ),
        ("hola, una pregunta sobre 825 ridgewood", "other", {}),
        ("cant do it, sorry, got another job", "withdraw", {}),
        ("I have to pass on this one", "withdraw", {}),
        ("cannot make it", "withdraw", {}),
        ("can't do it until Monday", "start_date", {"start_date": "2026-11-30"}),
        (
            "sorry the roof price was wrong, its 4,250.50 not 4002. can also start dec 3 instead",
            "price",
            {"amount": "4250.50", "start_date": "2026-12-03"},
        ),
    ],
)
def test_what_a_contractor_texts_is_read_and_kept(
    said: str, kind: str, facts: dict[str, Any]
) -> None:
    assert _plan(said) == ("contractor_update", {"kind": kind, **facts})


def test_a_spanish_price_is_kept_for_the_team_not_refused(
    site: Site, committed_db: Session
) -> None:
    result = _say(site, "el precio del techo es 4500 dolares")
    assert [c.name for c in result.tool_calls] == ["contractor_update"]
    assert "not something I can do" not in result.reply
    (item,) = _items(committed_db, site)
    assert item["kind"] == "review_price" and item["amount"] == "4500.00"
    assert "el precio del techo es 4500 dolares" in item["text"]


def test_a_message_nothing_recognises_is_still_kept(site: Site, committed_db: Session) -> None:
    result = _say(site, "oye 825 ridgewood mañana temprano")
    assert "not something I can do" not in result.reply
    (item,) = _items(committed_db, site)
    assert item["kind"] == "read_message" and "oye 825 ridgewood" in item["text"]


def test_a_line_price_is_that_lines_price_not_a_new_bid_total(
    site: Site, committed_db: Session
) -> None:
    result = _say(site, "hey roof gonna be more like 4.8k materials went up")
    assert "new price of $4,800 for the roof at 825 Ridgewood Ave" in result.reply
    (item,) = _items(committed_db, site)
    assert item["kind"] == "review_price" and item["amount"] == "4800.00"
    assert item["text"].startswith(
        "Ray Alvarez says the roof line of 825 Ridgewood Ave, Detroit, MI is now $4,800.00 "
        "(the roof line on file: $4,002.00; bid received: $8,502.00, start "
    )
    assert item["line_on_file"] == "4002.00"
    bid = committed_db.get(Bid, site.bid_id)
    assert bid is not None and bid.total_amount == 8502  # for the team to accept


def test_a_price_and_a_date_in_one_message_are_both_kept(site: Site, committed_db: Session) -> None:
    today = local_today()
    day = today + dt.timedelta(days=5)
    said = (
        f"sorry the roof price was wrong, its 4,250.50 not 4002. can also start "
        f"{day:%b} {day.day} instead"
    )
    result = _say(site, said)
    assert "$4,250.50" in result.reply and day.isoformat() in result.reply
    price, start = _items(committed_db, site)
    assert price["kind"] == "review_price" and price["amount"] == "4250.50"
    assert "the roof line" in price["text"]
    assert start["kind"] == "confirm_start" and start["date"] == day.isoformat()


def test_cant_do_it_got_another_job_is_a_withdrawal(site: Site, committed_db: Session) -> None:
    result = _say(site, "cant do it, sorry, got another job")
    assert "can't do the job" in result.reply
    (item,) = _items(committed_db, site)
    assert item["kind"] == "contractor_withdrew"
