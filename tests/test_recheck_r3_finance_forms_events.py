"""Live re-check fixes (each reproduced twice): finance, form fields, the event log.

1. ``POST /transactions`` with a ``project_id`` skipped the 31-days-ahead limit a project
   expense has.
2. Budget lines of one category in different periods were labelled alike ("Utilities").
3. The 409 for voiding twice gave the UTC date of the first void, not the company's.
4. A one-value form field given twice was taken silently (the last one won).
5. ``GET /events?since=D&until=D`` read a bare date as UTC midnight (422 for one day).
6. Cash flow ``group_by=deal`` had no address (JSON or CSV).
7. ``market.insight.generated`` carried money as "63000.0" instead of two places.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, select

from core.clock import company_zone, local_today
from domain.auth.enums import Role
from domain.construction.models import ProjectPhoto
from domain.construction.service import MAX_EXPENSE_DAYS_AHEAD
from domain.finance.models import Transaction
from domain.valuation import service as valuation_service
from domain.valuation.subscribers import revalue_after_market_update
from store.events import Event
from store.outbox import OutboxEvent, publish
from tests.factories import (
    DEFAULT_PASSWORD,
    auth_headers,
    make_deal,
    make_org,
    make_project,
    make_sold_market,
    make_transaction,
    make_user,
)

API = "/api/v1"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- 1. project spending on POST /transactions --------------------------------------------


def test_project_spending_on_post_transactions_is_limited_to_31_days_ahead(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    deal = make_deal(db, org)
    project = make_project(db, org, deal_id=deal.id)
    too_far = local_today() + dt.timedelta(days=MAX_EXPENSE_DAYS_AHEAD + 1)
    for kind in ("expense", "payment"):
        body = {
            "type": kind,
            "project_id": str(project.id),
            "category": "rehab_labour",
            "amount": "8.00",
            "date": too_far.isoformat(),
        }
        answer = client.post(f"{API}/transactions", json=body, headers=headers)
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        assert f"date {too_far.isoformat()} is more than 31 days ahead" in detail, detail
    assert db.exec(select(Transaction).where(Transaction.org_id == org.id)).all() == []
    # Within the limit it is booked; with no project the ledger keeps its own rules.
    near = local_today() + dt.timedelta(days=MAX_EXPENSE_DAYS_AHEAD)
    ok = client.post(
        f"{API}/transactions",
        json={
            "type": "expense",
            "project_id": str(project.id),
            "category": "rehab_labour",
            "amount": "8.00",
            "date": near.isoformat(),
        },
        headers=headers,
    )
    assert ok.status_code == 201, ok.text
    no_project = client.post(
        f"{API}/transactions",
        json={
            "type": "expense",
            "deal_id": str(deal.id),
            "category": "utilities",
            "amount": "8.00",
            "date": too_far.isoformat(),
        },
        headers=headers,
    )
    assert no_project.status_code == 201, no_project.text


# --- 2. budget lines labelled with their period ---------------------------------------------


def test_budget_lines_of_one_category_are_labelled_with_their_periods(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    deal = make_deal(db, org)
    for start, end, amount in (
        ("2026-11-01", "2026-11-30", "200.00"),
        ("2026-11-01", "2026-12-15", "1000.00"),
        (None, None, "5000.00"),
    ):
        body: dict[str, Any] = {
            "deal_id": str(deal.id),
            "category": "utilities",
            "allocated_amount": amount,
        }
        if start:
            body |= {"period_start": start, "period_end": end}
        answer = client.post(f"{API}/budgets", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
    status_ = client.get(f"{API}/budgets", params={"deal_id": str(deal.id)}, headers=headers)
    assert status_.status_code == 200, status_.text
    labels = {line["allocated"]: line["label"] for line in status_.json()["lines"]}
    assert labels == {
        "200.00": "Utilities (November 2026)",
        "1000.00": "Utilities (2026-11-01 to 2026-12-15)",
        "5000.00": "Utilities",
    }, labels
    # The overlap note names the lines apart ("Utilities is part of Utilities" before).
    overlap_labels = {(o["label"], o["overlaps_label"]) for o in status_.json()["overlaps"]}
    assert ("Utilities (November 2026)", "Utilities (2026-11-01 to 2026-12-15)") in (overlap_labels)


# --- 3. the void's date is the company's ----------------------------------------------------


def test_voiding_twice_names_the_company_local_day_of_the_first_void(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    original = make_transaction(db, org, amount="40.00", date=local_today().isoformat())
    first = client.post(
        f"{API}/transactions/{original.id}/void", json={"reason": "typo"}, headers=headers
    )
    assert first.status_code == 201, first.text
    reversal = db.get(Transaction, uuid.UUID(first.json()["reversal"]["id"]))
    assert reversal is not None
    # 8 pm in Detroit on November 29 is already November 30 in UTC.
    evening = dt.datetime(2026, 11, 29, 20, 0, tzinfo=company_zone())
    reversal.created_at = evening.astimezone(dt.UTC)
    db.add(reversal)
    db.flush()
    again = client.post(
        f"{API}/transactions/{original.id}/void", json={"reason": "again"}, headers=headers
    )
    assert again.status_code == 409, again.text
    assert "already voided on 2026-11-29" in again.json()["detail"], again.text


# --- 4. a one-value form field given twice ----------------------------------------------------


def _repeat_error(response: Any, name: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    errors = [e for e in response.json()["detail"] if e["loc"] == ["body", name]]
    assert errors, response.text
    assert f"Form field {name!r} was given 2 times; it takes one value" in errors[0]["msg"]
    return errors[0]


def test_a_repeated_one_value_form_field_is_refused_naming_it(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    make_user(db, org, Role.analyst, email="ann@example.com", password=DEFAULT_PASSWORD)
    db.flush()
    two_users = client.post(
        f"{API}/auth/token",
        data={"username": ["nobody@example.com", "ann@example.com"], "password": DEFAULT_PASSWORD},
    )
    error = _repeat_error(two_users, "username")
    assert error["input"] == ["nobody@example.com", "ann@example.com"]
    two_passwords = client.post(
        f"{API}/auth/token",
        data={"username": "ann@example.com", "password": ["x", DEFAULT_PASSWORD]},
    )
    assert DEFAULT_PASSWORD not in two_passwords.text
    _repeat_error(two_passwords, "password")
    single = {"username": "ann@example.com", "password": DEFAULT_PASSWORD}
    assert client.post(f"{API}/auth/token", data=single).status_code == 200

    headers = auth_headers(db, make_user(db, org, Role.admin))
    project = make_project(db, org)
    png = ("front.png", _png(), "image/png")
    phases = client.post(
        f"{API}/projects/{project.id}/photos",
        files={"files": png},
        data={"phase": ["before", "after"]},
        headers=headers,
    )
    _repeat_error(phases, "phase")
    assert db.exec(select(ProjectPhoto).where(ProjectPhoto.org_id == org.id)).all() == []
    # A list-typed field may repeat.
    two_files = client.post(
        f"{API}/projects/{project.id}/photos",
        files=[("files", png), ("files", ("back.png", _png(), "image/png"))],
        data={"phase": "before"},
        headers=headers,
    )
    assert two_files.status_code == 201, two_files.text
    assert [p["phase"] for p in two_files.json()] == ["before", "before"]


# --- 5. the event log's bare dates are company-local days -------------------------------------


def _publish_at(db: Session, org_id: uuid.UUID, at: dt.datetime) -> uuid.UUID:
    event_id = publish(db, org_id=org_id, name="deal.created", payload={"deal_id": "d"})
    row = db.get(OutboxEvent, event_id)
    assert row is not None
    row.created_at = at
    db.add(row)
    db.flush()
    return event_id


def test_event_log_bare_dates_are_whole_company_local_days(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    zone = company_zone()
    evening_before = _publish_at(db, org.id, dt.datetime(2026, 11, 27, 22, 0, tzinfo=zone))
    morning = _publish_at(db, org.id, dt.datetime(2026, 11, 28, 0, 30, tzinfo=zone))
    evening = _publish_at(db, org.id, dt.datetime(2026, 11, 28, 20, 0, tzinfo=zone))
    next_day = _publish_at(db, org.id, dt.datetime(2026, 11, 29, 9, 0, tzinfo=zone))

    def ids(**params: str) -> list[str]:
        answer = client.get(f"{API}/events", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return [e["id"] for e in answer.json()]

    assert ids(since="2026-11-28", until="2026-11-28") == [str(evening), str(morning)]
    assert ids(until="2026-11-28") == [str(evening), str(morning), str(evening_before)]
    assert ids(since="2026-11-29") == [str(next_day)]
    # A full time stays a moment (no zone: UTC), until exclusive.
    assert ids(since="2026-11-28T05:00:00", until="2026-11-29T01:00:00") == [str(morning)]
    bad = client.get(f"{API}/events", params={"since": "2026-13-01"}, headers=headers)
    assert bad.status_code == 422 and "since" in bad.json()["detail"], bad.text


# --- 6. cash flow by deal carries the address -------------------------------------------------


def test_cashflow_by_deal_carries_each_deals_address(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.admin))
    deal = make_deal(db, org)
    make_transaction(db, org, amount="75.00", date="2026-03-02", deal_id=deal.id)
    make_transaction(
        db, org, type="income", category="rents_received", amount="900.00", date="2026-03-03"
    )
    params = {"start": "2026-01-01", "end": "2026-12-31", "group_by": "deal"}
    answer = client.get(f"{API}/reports/cashflow", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    by_key = {row["key"]: row for row in answer.json()["rows"]}
    address = by_key[str(deal.id)]["address"]
    assert address and "Main St" in address, by_key
    assert [row["address"] for key, row in by_key.items() if key != str(deal.id)] == [None]
    csv_answer = client.get(
        f"{API}/reports/cashflow", params={**params, "format": "csv"}, headers=headers
    )
    assert csv_answer.status_code == 200, csv_answer.text
    rows = list(csv.DictReader(io.StringIO(csv_answer.text)))
    assert {r["group"]: r["address"] for r in rows}[str(deal.id)] == address


# --- 7. market insight money has two places ---------------------------------------------------


def test_market_insight_money_is_a_two_place_decimal_string(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    valuation_service.reindex_comps(session=db, org_id=org.id)
    update = Event(uuid.uuid4(), org.id, "market.data.updated", {"zip_code": "48201"})
    revalue_after_market_update(db, update)
    [insight] = [
        e
        for e in db.exec(
            select(OutboxEvent).where(OutboxEvent.name == "market.insight.generated")
        ).all()
        if e.org_id == org.id
    ]
    db.refresh(insight)
    for key in ("median_price", "median_price_per_sqft"):
        value = insight.payload[key]
        assert isinstance(value, str) and re.fullmatch(r"\d+\.\d{2}", value), (key, value)
        assert Decimal(value) > 0
