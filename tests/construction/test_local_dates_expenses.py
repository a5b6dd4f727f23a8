"""Dates people mean are the company's local dates (DEALDESK_TIMEZONE, default Detroit);
expenses dated far ahead are refused; a deal's rehab expense reaches its one open project.

The clock is frozen at 2026-12-01 01:00 UTC: 20:00 on November 30 in Detroit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import core.clock
from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction import subscribers as construction_subscribers
from domain.construction.enums import ProjectStatus
from domain.construction.models import ExpenseCreate, ProjectUpdate
from domain.finance import service as finance_service
from domain.market import models as market_models
from domain.voice import hours
from store.events import Event
from store.outbox import OutboxEvent
from tests.factories import auth_headers, make_deal, make_org, make_project, make_user
from tools import finance as finance_tools

API = "/api/v1"
NOW = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)
DETROIT_TODAY = dt.date(2026, 11, 30)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    """The company's clock says 2026-12-01T01:00Z (Nov 30, 8 pm in Detroit)."""
    monkeypatch.setattr(core.clock, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def team(db: Session) -> dict[str, Any]:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(db, org, strategy="flip")
    finance_service.open_deal_budget(
        session=db, org_id=org.id, deal_id=deal.id, estimated_repairs=Decimal("20000"), source="t"
    )
    project = make_project(db, org, deal_id=deal.id)
    db.flush()
    return {
        "org": org,
        "headers": auth_headers(db, analyst),
        "deal": deal,
        "project": project,
    }


def _deliver_transactions(db: Session, org_id: uuid.UUID) -> None:
    """What the relay does with finance's transactions: mirror those on a project."""
    db.flush()
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.org_id == org_id, OutboxEvent.name == "transaction.created")
        .order_by(col(OutboxEvent.created_at))
    ).all()
    for row in rows:
        event = Event(id=row.id, org_id=row.org_id, name=row.name, payload=row.payload)
        construction_subscribers.mirror_finance_transaction_on_project(db, event)
    db.flush()


# --- 1. "today" is the company's date ----------------------------------------------------------


def test_an_evening_expense_in_detroit_is_dated_that_day_not_the_utc_tomorrow(
    client: TestClient, team: dict[str, Any], frozen: dt.datetime
) -> None:
    response = client.post(
        f"{API}/projects/{team['project'].id}/expenses",
        json={"amount": "250.00", "category": "materials"},
        headers=team["headers"],
    )
    assert response.status_code == 201, response.text
    assert response.json()["spent_on"] == "2026-11-30"


def test_an_expense_booked_in_words_is_dated_the_local_day(
    db: Session, team: dict[str, Any], frozen: dt.datetime
) -> None:
    booking = construction_service.book_expense(
        session=db,
        org_id=team["org"].id,
        project_id=team["project"].id,
        amount=Decimal("300"),
        vendor="Home Depot",
    )
    assert booking.expense.spent_on == DETROIT_TODAY
    assert booking.progress.as_of == DETROIT_TODAY
    assert booking.progress.spent == Decimal("300.00")  # counted today, not "from tomorrow"
    assert not any("dated" in note for note in booking.notes)


def test_completing_a_project_in_the_evening_dates_it_the_local_day(
    db: Session, team: dict[str, Any], frozen: dt.datetime
) -> None:
    for status in (ProjectStatus.in_progress, ProjectStatus.completed):
        project = construction_service.update_project(
            session=db,
            org_id=team["org"].id,
            project_id=team["project"].id,
            project_in=ProjectUpdate(status=status),
        )
    assert project.completed_on == DETROIT_TODAY


@pytest.mark.parametrize("report", ["pnl", "cashflow"])
def test_reports_end_today_in_the_company_zone(
    client: TestClient, team: dict[str, Any], frozen: dt.datetime, report: str
) -> None:
    response = client.get(f"{API}/reports/{report}", headers=team["headers"])
    assert response.status_code == 200, response.text
    assert (response.json()["start"], response.json()["end"]) == ("2026-01-01", "2026-11-30")


def test_the_chat_tools_period_ends_today_in_the_company_zone(frozen: dt.datetime) -> None:
    assert finance_tools._period(None, None) == (dt.date(2026, 1, 1), DETROIT_TODAY)


def test_one_default_time_zone_constant() -> None:
    assert hours.DEFAULT_TIMEZONE is core.clock.DEFAULT_TIMEZONE
    assert market_models.DEFAULT_TIMEZONE is core.clock.DEFAULT_TIMEZONE
    from domain.construction import models as construction_models

    assert construction_models.DEFAULT_TIMEZONE is core.clock.DEFAULT_TIMEZONE


# --- 3. an expense dated months ahead is refused ------------------------------------------------


def test_a_project_expense_dated_months_ahead_is_refused_with_a_clear_422(
    client: TestClient, team: dict[str, Any], frozen: dt.datetime
) -> None:
    url = f"{API}/projects/{team['project'].id}/expenses"
    refused = client.post(
        url, json={"amount": "900", "spent_on": "2027-03-15"}, headers=team["headers"]
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "2027-03-15" in detail and "31 days ahead" in detail and "2026-11-30" in detail
    listed = client.get(url, headers=team["headers"]).json()
    assert listed == []  # nothing booked
    # The last day allowed (31 days ahead) is accepted; the next is not.
    ok = client.post(url, json={"amount": "900", "spent_on": "2026-12-31"}, headers=team["headers"])
    assert ok.status_code == 201, ok.text
    late = client.post(
        url, json={"amount": "900", "spent_on": "2027-01-01"}, headers=team["headers"]
    )
    assert late.status_code == 422, late.text


def test_booking_in_words_dated_months_ahead_is_refused(
    db: Session, team: dict[str, Any], frozen: dt.datetime
) -> None:
    with pytest.raises(construction_service.ConstructionInputError, match="31 days ahead"):
        construction_service.book_expense(
            session=db,
            org_id=team["org"].id,
            project_id=team["project"].id,
            amount=Decimal("300"),
            spent_on=dt.date(2027, 6, 1),
        )


# --- 4. POST /expenses on a deal reaches its one open project ----------------------------------


def test_a_rehab_expense_on_a_deal_reaches_its_one_open_project(
    client: TestClient, db: Session, team: dict[str, Any], frozen: dt.datetime
) -> None:
    headers, deal, project = team["headers"], team["deal"], team["project"]
    paid = client.post(
        f"{API}/projects/{project.id}/expenses",
        json={"amount": "12805.50", "category": "labour", "spent_on": "2026-11-20"},
        headers=headers,
    )
    assert paid.status_code == 201, paid.text
    response = client.post(
        f"{API}/expenses",
        json={
            "category": "rehab_materials",
            "amount": "2200.10",
            "date": "2026-11-25",
            "deal_id": str(deal.id),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["transaction"]["project_id"] == str(project.id)
    assert body["transaction"]["deal_id"] == str(deal.id)
    (note,) = body["notes"]
    assert str(project.id) in note and "one open" in note
    # The project's own expense reaches finance through its event; deliver both ways.
    from domain.finance import subscribers as finance_subscribers

    db.flush()
    for row in db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == team["org"].id,
            OutboxEvent.name == "construction.expense.added",
        )
    ).all():
        finance_subscribers.book_construction_expense(
            db, Event(id=row.id, org_id=row.org_id, name=row.name, payload=row.payload)
        )
    _deliver_transactions(db, team["org"].id)
    progress = client.get(f"{API}/projects/{project.id}/progress", headers=headers).json()
    budgets = client.get(f"{API}/budgets", params={"deal_id": str(deal.id)}, headers=headers)
    assert budgets.status_code == 200, budgets.text
    assert Decimal(progress["spent"]) == Decimal("15005.60")
    assert Decimal(budgets.json()["total_spent"]) == Decimal("15005.60")


def test_a_non_rehab_expense_on_a_deal_stays_on_the_deal(
    client: TestClient, team: dict[str, Any], frozen: dt.datetime
) -> None:
    response = client.post(
        f"{API}/expenses",
        json={
            "category": "insurance",
            "amount": "640.00",
            "date": "2026-11-25",
            "deal_id": str(team["deal"].id),
        },
        headers=team["headers"],
    )
    assert response.status_code == 201, response.text
    assert response.json()["transaction"]["project_id"] is None
    assert response.json()["notes"] == []


def test_a_deal_expense_is_not_routed_to_a_closed_project(
    client: TestClient, db: Session, team: dict[str, Any], frozen: dt.datetime
) -> None:
    construction_service.update_project(
        session=db,
        org_id=team["org"].id,
        project_id=team["project"].id,
        project_in=ProjectUpdate(status=ProjectStatus.cancelled),
    )
    db.flush()
    response = client.post(
        f"{API}/expenses",
        json={
            "category": "rehab_labour",
            "amount": "100.00",
            "date": "2026-11-25",
            "deal_id": str(team["deal"].id),
        },
        headers=team["headers"],
    )
    assert response.status_code == 201, response.text
    assert response.json()["transaction"]["project_id"] is None


def test_a_deal_expense_is_not_routed_to_another_organisations_project(
    client: TestClient, db: Session, team: dict[str, Any], frozen: dt.datetime
) -> None:
    route = construction_service.route_ledger_expense(
        session=db,
        org_id=make_org(db, "Other Co").id,
        deal_id=team["deal"].id,
        project_id=None,
        category="rehab_labour",
        day=DETROIT_TODAY,
    )
    assert (route.project_id, route.notes) == (None, [])


def test_a_deal_expense_for_a_project_dated_months_ahead_is_refused(
    client: TestClient, team: dict[str, Any], frozen: dt.datetime
) -> None:
    response = client.post(
        f"{API}/expenses",
        json={
            "category": "rehab_labour",
            "amount": "100.00",
            "date": "2027-04-01",
            "deal_id": str(team["deal"].id),
        },
        headers=team["headers"],
    )
    assert response.status_code == 422, response.text
    assert "31 days ahead" in response.json()["detail"]


def test_expense_create_default_is_documented_as_local() -> None:
    description = ExpenseCreate.model_fields["spent_on"].description or ""
    assert "time zone" in description and "31 days" in description
