"""Deals by period: "which deals closed in October?", "what closed last month?", "any new deals
this week?", "deals that went under contract in Q3".

With a status, a period keeps the deals that moved into that status in it (by their timeline:
a deal closed in September and edited in October did not close in October); without one, the
deals opened in it. The same filter serves the service, ``GET /api/v1/deals?since=&until=``
(paged, with ``X-Total-Count``) and the agent's ``list_deals`` tool. Real database throughout.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from agent.planner import period_in
from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.deal import service as deal_service
from domain.deal.enums import DealEventKind, DealStatus
from domain.deal.models import Deal, DealEvent, DealUpdate
from tests.agent.turns import checked_turn
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_property,
    make_user,
    principal_for,
)

UTC = dt.UTC
PIPELINE = {
    DealStatus.analyzing: [DealStatus.analyzing],
    DealStatus.offer_made: [DealStatus.offer_made],
    DealStatus.under_contract: [DealStatus.offer_made, DealStatus.under_contract],
    DealStatus.closed: [DealStatus.offer_made, DealStatus.under_contract, DealStatus.closed],
}


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    """``day`` at ``hour`` o'clock UTC."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=UTC)


def move(db: Session, org: Organisation, deal: Deal, *statuses: DealStatus) -> None:
    """Move ``deal`` through ``statuses`` with the deal service (as the system)."""
    for target in statuses:
        deal_service.change_status(session=db, org_id=org.id, deal_id=deal.id, status=target)


def backdate(db: Session, deal: Deal, status: DealStatus, when: dt.datetime) -> None:
    """Say the deal entered ``status`` at ``when`` (its timeline entries moving it there)."""
    rows = db.exec(
        select(DealEvent).where(
            DealEvent.deal_id == deal.id,
            col(DealEvent.kind).in_([DealEventKind.created, DealEventKind.status_changed]),
        )
    ).all()
    moved = [
        row for row in rows if (row.details.get("to") or row.details.get("status")) == status.value
    ]
    assert moved, f"deal {deal.id} never entered {status.value}"
    for row in moved:
        row.occurred_at = when
        db.add(row)
    if any(row.kind == DealEventKind.created for row in moved):
        deal.created_at = when
    db.add(deal)
    db.flush()


def opened(db: Session, deal: Deal, when: dt.datetime) -> None:
    """Say the deal was opened at ``when`` (its row and its creation entry)."""
    deal.created_at = when
    db.add(deal)
    for row in db.exec(
        select(DealEvent).where(
            DealEvent.deal_id == deal.id, DealEvent.kind == DealEventKind.created
        )
    ):
        row.occurred_at = when
        db.add(row)
    db.flush()


def deal_in(
    db: Session,
    org: Organisation,
    status: DealStatus,
    entered: dt.datetime,
    *,
    owner: User | None = None,
    created: dt.datetime | None = None,
    address: str | None = None,
) -> Deal:
    """A deal moved to ``status`` that entered it at ``entered`` (opened at ``created``)."""
    prop = make_property(
        db, org, **({"address_line": address, "city": "Detroit", "state": "MI"} if address else {})
    )
    # A price: a deal goes under contract only at one.
    deal: Deal = make_deal(
        db, org, owner=owner, property_id=prop.id, purchase_price=Decimal("90000")
    )
    move(db, org, deal, *PIPELINE[status])
    opened(db, deal, created or entered - dt.timedelta(days=20))
    backdate(db, deal, status, entered)
    return deal


def ids(deals: list[Deal]) -> set[uuid.UUID]:
    return {d.id for d in deals}


OCT = (dt.date(2025, 10, 1), dt.date(2025, 10, 31))


# --- the service ---------------------------------------------------------------------------


def test_closed_in_a_month_is_by_the_closing_date_not_the_last_edit(db: Session) -> None:
    org = make_org(db)
    closed_oct = deal_in(db, org, DealStatus.closed, at(dt.date(2025, 10, 14)))
    closed_oct_last_day = deal_in(db, org, DealStatus.closed, at(dt.date(2025, 10, 31), 23))
    closed_sep = deal_in(db, org, DealStatus.closed, at(dt.date(2025, 9, 20)))
    # Closed in September, edited in October: still closed in September.
    deal_service.update_deal(
        session=db, org_id=org.id, deal_id=closed_sep.id,
        deal_in=DealUpdate(purchase_price=Decimal("91000")),
    )  # fmt: skip
    closed_sep.updated_at = at(dt.date(2025, 10, 10))
    db.add(closed_sep)
    db.flush()
    # Went under contract in October and is still under contract: not closed.
    contract_oct = deal_in(db, org, DealStatus.under_contract, at(dt.date(2025, 10, 5)))
    other_org = make_org(db, "Elsewhere LLC")
    deal_in(db, other_org, DealStatus.closed, at(dt.date(2025, 10, 15)))

    def closed(since: dt.date | None, until: dt.date | None) -> set[uuid.UUID]:
        return ids(
            deal_service.list_deals(
                session=db, org_id=org.id, status=DealStatus.closed, since=since, until=until
            )
        )

    assert closed(*OCT) == {closed_oct.id, closed_oct_last_day.id}
    assert closed(dt.date(2025, 9, 1), dt.date(2025, 9, 30)) == {closed_sep.id}
    assert closed(dt.date(2025, 10, 15), None) == {closed_oct_last_day.id}
    assert closed(None, dt.date(2025, 10, 14)) == {closed_sep.id, closed_oct.id}
    under_contract = deal_service.list_deals(
        session=db, org_id=org.id, status=DealStatus.under_contract, since=OCT[0], until=OCT[1]
    )
    assert ids(under_contract) == {contract_oct.id}
    assert (
        deal_service.count_deals(
            session=db, org_id=org.id, status=DealStatus.closed, since=OCT[0], until=OCT[1]
        )
        == 2
    )


def test_the_latest_entry_into_the_status_counts_and_a_new_deal_counts_from_creation(
    db: Session,
) -> None:
    org = make_org(db)
    # analyzing in August, an offer in September, back to analyzing in October.
    back: Deal = make_deal(db, org, property_id=make_property(db, org).id)
    move(db, org, back, DealStatus.analyzing, DealStatus.offer_made, DealStatus.analyzing)
    opened(db, back, at(dt.date(2025, 7, 20)))
    moves = db.exec(
        select(DealEvent)
        .where(DealEvent.deal_id == back.id, DealEvent.kind == DealEventKind.status_changed)
        .order_by(col(DealEvent.seq))
    ).all()
    for row, day in zip(
        moves, (dt.date(2025, 8, 2), dt.date(2025, 9, 3), dt.date(2025, 10, 9)), strict=True
    ):
        row.occurred_at = at(day)
        db.add(row)
    # Created straight into analyzing on 3 October.
    prop = make_property(db, org)
    direct = make_deal(db, org, property_id=prop.id, status="analyzing")
    opened(db, direct, at(dt.date(2025, 10, 3)))
    db.flush()

    def analyzing(since: dt.date, until: dt.date) -> set[uuid.UUID]:
        return ids(
            deal_service.list_deals(
                session=db, org_id=org.id, status=DealStatus.analyzing, since=since, until=until
            )
        )

    assert analyzing(*OCT) == {back.id, direct.id}
    assert analyzing(dt.date(2025, 8, 1), dt.date(2025, 8, 31)) == set()
    # No status: the deals opened in the period.
    opened_oct = deal_service.list_deals(session=db, org_id=org.id, since=OCT[0], until=OCT[1])
    assert ids(opened_oct) == {direct.id}


def test_an_investor_sees_only_their_own_deals_in_a_period(db: Session) -> None:
    org = make_org(db)
    investor = make_user(db, org, Role.investor)
    theirs = deal_in(db, org, DealStatus.closed, at(dt.date(2025, 10, 7)), owner=investor)
    deal_in(db, org, DealStatus.closed, at(dt.date(2025, 10, 8)))
    principal = principal_for(investor)
    found = deal_service.list_deals(
        session=db, org_id=org.id, principal=principal, status=DealStatus.closed,
        since=OCT[0], until=OCT[1],
    )  # fmt: skip
    assert ids(found) == {theirs.id}
    assert (
        deal_service.count_deals(
            session=db,
            org_id=org.id,
            principal=principal,
            status=DealStatus.closed,
            since=OCT[0],
            until=OCT[1],
        )  # fmt: skip
        == 1
    )


def test_a_period_that_ends_before_it_starts_is_refused(db: Session) -> None:
    org = make_org(db)
    with pytest.raises(deal_service.DealValidationError, match="on or before"):
        deal_service.list_deals(
            session=db, org_id=org.id, since=dt.date(2025, 10, 31), until=dt.date(2025, 10, 1)
        )


# --- the API -------------------------------------------------------------------------------


def test_api_pages_deals_closed_in_a_period_with_the_total(db: Session, client: TestClient) -> None:
    org = make_org(db)
    analyst = make_user(db, org, Role.analyst)
    investor = make_user(db, org, Role.investor)
    october = {
        deal_in(db, org, DealStatus.closed, at(dt.date(2025, 10, day)), owner=owner).id
        for day, owner in ((2, investor), (12, None), (30, None))
    }
    deal_in(db, org, DealStatus.closed, at(dt.date(2025, 9, 29)), owner=investor)
    deal_in(db, org, DealStatus.under_contract, at(dt.date(2025, 10, 4)))
    query: dict[str, str | int] = {
        "status": "closed",
        "since": "2025-10-01",
        "until": "2025-10-31",
        "limit": 2,
    }

    first = client.get("/api/v1/deals", params=query, headers=auth_headers(db, analyst))
    second = client.get(
        "/api/v1/deals", params=query | {"offset": 2}, headers=auth_headers(db, analyst)
    )
    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["X-Total-Count"] == second.headers["X-Total-Count"] == "3"
    assert len(first.json()) == 2 and len(second.json()) == 1
    assert {uuid.UUID(d["id"]) for d in first.json() + second.json()} == october

    # No status: deals opened in the period (all five were opened 20 days before).
    opened_sep = client.get(
        "/api/v1/deals",
        params={"since": "2025-09-01", "until": "2025-09-30"},
        headers=auth_headers(db, analyst),
    )
    assert opened_sep.status_code == 200 and opened_sep.headers["X-Total-Count"] == "4"

    mine = client.get(
        "/api/v1/deals", params=query | {"limit": 50}, headers=auth_headers(db, investor)
    )
    assert mine.status_code == 200 and mine.headers["X-Total-Count"] == "1"
    assert [d["status"] for d in mine.json()] == ["closed"]
    assert uuid.UUID(mine.json()[0]["id"]) in october


def test_api_refuses_since_after_until(db: Session, client: TestClient) -> None:
    org = make_org(db)
    analyst = make_user(db, org, Role.analyst)
    response = client.get(
        "/api/v1/deals",
        params={"since": "2025-11-01", "until": "2025-10-01"},
        headers=auth_headers(db, analyst),
    )
    assert response.status_code == 422
    assert "since" in response.json()["detail"]
    from app import app

    listing = app.openapi()["paths"]["/api/v1/deals"]["get"]
    documented = {p["name"]: p.get("description", "") for p in listing["parameters"]}
    assert "entered `status`" in documented["since"] and "inclusive" in documented["until"]


# --- the agent -----------------------------------------------------------------------------


@dataclass
class Team:
    admin: User
    investor: User
    closed_last_month: str
    closed_before_edited_last_month: str
    opened_this_week: str
    contract_q3_investor: str
    contract_q3_other: str


@pytest.fixture
def team(committed_db: Session) -> Team:
    """Deals around last month, this week and Q3, committed for the agent's own sessions."""
    db = committed_db
    today = local_today()
    last_month = period_in("last month", today)
    q3 = period_in("in Q3", today)
    assert last_month and q3
    org = make_org(db, "Periods Co")
    admin = make_user(db, org, Role.admin)
    investor = make_user(db, org, Role.investor)
    long_ago = at(last_month[0] - dt.timedelta(days=100))
    closed = deal_in(
        db, org, DealStatus.closed, at(last_month[0] + dt.timedelta(days=9)),
        created=long_ago, address="4100 Kercheval Ave",
    )  # fmt: skip
    before = deal_in(
        db, org, DealStatus.closed, at(last_month[0] - dt.timedelta(days=3)),
        created=long_ago, address="4200 Mack Ave",
    )  # fmt: skip
    deal_service.update_deal(
        session=db, org_id=org.id, deal_id=before.id,
        deal_in=DealUpdate(purchase_price=Decimal("88000")),
    )  # fmt: skip
    before.updated_at = at(last_month[0] + dt.timedelta(days=4))
    db.add(before)
    ours = deal_in(
        db, org, DealStatus.under_contract, at(q3[0] + dt.timedelta(days=20)),
        owner=investor, created=long_ago, address="4300 Gratiot Ave",
    )  # fmt: skip
    other = deal_in(
        db, org, DealStatus.under_contract, at(q3[0] + dt.timedelta(days=21)),
        created=long_ago, address="4400 Harper Ave",
    )  # fmt: skip
    new = make_deal(
        db, org, property_id=make_property(
            db, org, address_line="4500 Chene St", city="Detroit", state="MI"
        ).id,
    )  # fmt: skip
    db.commit()
    return Team(
        admin=admin,
        investor=investor,
        closed_last_month=str(closed.id),
        closed_before_edited_last_month=str(before.id),
        opened_this_week=str(new.id),
        contract_q3_investor=str(ours.id),
        contract_q3_other=str(other.id),
    )


def test_chat_which_deals_closed_in_a_month_and_last_month(team: Team) -> None:
    start, end, _ = period_in("last month") or (None, None, None)
    month = calendar.month_name[start.month]  # type: ignore[union-attr]
    for said in (f"which deals closed in {month}?", "what closed last month?"):
        reply = checked_turn(team.admin, said).reply
        assert team.closed_last_month[:8] in reply, reply
        assert team.closed_before_edited_last_month[:8] not in reply, reply
        assert team.contract_q3_other[:8] not in reply, reply
        assert f"closed from {start} to {end}" in reply, reply


def test_chat_new_deals_this_week(team: Team) -> None:
    today = local_today()
    monday = today - dt.timedelta(days=today.weekday())
    reply = checked_turn(team.admin, "any new deals this week?").reply
    assert f"New deals opened from {monday} to {today} (1)" in reply, reply
    assert team.opened_this_week[:8] in reply and team.closed_last_month[:8] not in reply, reply


def test_chat_deals_that_went_under_contract_in_q3_for_an_investor(team: Team) -> None:
    start, end, _ = period_in("in Q3") or (None, None, None)
    reply = checked_turn(team.investor, "deals that went under contract in Q3").reply
    assert f"went under contract from {start} to {end} (1)" in reply, reply
    assert team.contract_q3_investor[:8] in reply and team.contract_q3_other[:8] not in reply, reply
