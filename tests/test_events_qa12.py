"""Event payloads, write-echoed timestamps and market-data money (twelfth REST QA, F9.1-3).

The README: money is a decimal string with exactly two places; timestamps are UTC with ``Z``.
Events carried ``"purchase_price": "70000"``, ``"amount": "65000"``, ``"value": "153012"`` and
times with ``+00:00`` or the caller's ``-05:00``; photos and market data echoed the time
as sent (zone-less too); market data kept money as floats (``1450.123``).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, col, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.construction import service as construction_service
from domain.construction.enums import TaskStatus
from domain.construction.models import (
    BidCreate,
    ExpenseCreate,
    MilestoneCreate,
    TaskCreate,
    TaskUpdate,
)
from domain.deal import service as deal_service
from domain.deal.models import OfferCreate, OfferTerms
from domain.property import subscribers as property_subscribers
from domain.property.enums import MarketDataType
from domain.property.models import MarketData
from domain.valuation import service as valuation_service
from store.base import utcnow
from store.events import Event
from store.outbox import OutboxEvent, normalise_payload
from tests.factories import (
    auth_headers,
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_sold_market,
    make_subject_property,
    make_user,
    principal_for,
)

API = "/api/v1"
TWO_PLACES = re.compile(r"-?\d+\.\d{2}")
# Any ISO date-time with a clock (a bare date or a bare "10:00" is no moment).
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}.*")
# Money keys of the payloads published below (rates and scores such as ``confidence`` are not).
MONEY_KEYS = frozenset(
    {
        "purchase_price",
        "estimated_repairs",
        "expected_profit",
        "amount",
        "value",
        "low",
        "high",
        "budget",
        "budget_before",
        "scope_total",
        "total_amount",
        "earnest_money",
    }
)


def _walk(item: Any, path: str = "") -> list[tuple[str, str, Any]]:
    """(path, key, value) for every key at any depth."""
    found: list[tuple[str, str, Any]] = []
    if isinstance(item, dict):
        for key, value in item.items():
            found.append((f"{path}.{key}", key, value))
            found += _walk(value, f"{path}.{key}")
    elif isinstance(item, list):
        for i, value in enumerate(item):
            found += _walk(value, f"{path}[{i}]")
    return found


def _payloads(db: Session, org_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    db.flush()
    rows = db.exec(
        select(OutboxEvent)
        .where(OutboxEvent.org_id == org_id)
        .order_by(col(OutboxEvent.created_at), col(OutboxEvent.id))
    ).all()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(row.payload)
    return by_name


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_outbox_writes_every_moment_in_utc_with_z_and_leaves_other_decimals() -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    payload = normalise_payload(
        {
            "aware": dt.datetime(2027, 1, 1, 10, 0, tzinfo=eastern),
            "utc": dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.UTC),
            "naive": dt.datetime(2026, 11, 28, 15, 0),
            "text": "2026-11-28T15:00:00+00:00",
            "nested": [{"at": "2027-01-01T10:00:00-05:00"}],
            "day": dt.date(2026, 11, 28),
            "clock": "10:00",
            "rate_pct": Decimal("7.5"),
            "score": Decimal("0.823"),
            "said": "call me at 2026-11-28T10:00:00-05:00 please",
        }
    )
    assert payload["aware"] == "2027-01-01T15:00:00Z"
    assert payload["utc"] == payload["naive"] == payload["text"] == "2026-11-28T15:00:00Z"
    assert payload["nested"] == [{"at": "2027-01-01T15:00:00Z"}]
    assert payload["day"] == "2026-11-28" and payload["clock"] == "10:00"
    # The outbox cannot tell money from a rate: decimals keep their digits.
    assert payload["rate_pct"] == "7.5" and payload["score"] == "0.823"
    assert payload["said"] == "call me at 2026-11-28T10:00:00-05:00 please"


def test_events_published_by_the_services_carry_two_place_money_and_utc_z_times(
    db: Session,
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, Role.analyst)
    principal = principal_for(analyst)
    eastern = dt.timezone(dt.timedelta(hours=-5))

    # deal.created and offer.received
    deal = make_deal(
        db,
        org,
        purchase_price=Decimal("70000"),
        estimated_repairs=Decimal("25000.5"),
        expected_profit=Decimal("-1500"),
    )
    deal_service.make_offer(
        session=db,
        org_id=org.id,
        deal_id=deal.id,
        offer_in=OfferCreate(
            offer_amount=Decimal("65000"),
            terms=OfferTerms(earnest_money=Decimal("1000"), inspection_days=10),
            status="submitted",
            expires_at=dt.datetime(2027, 1, 1, 10, 0, tzinfo=eastern),
        ),
        principal=principal,
    )

    # valuation.completed (and its market model)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    valuation = valuation_service.value_property(
        session=db, org_id=org.id, property_id=subject.id, principal=principal
    )
    median = valuation.inputs["market_model"]["median_price"]
    assert isinstance(median, str) and TWO_PLACES.fullmatch(median), median

    # construction: project.created, bid.received, task.completed, milestone.reached, expense
    prop = make_property(db, org)
    project = make_project(db, org, property_id=prop.id, budget=Decimal("13700"))
    contractor = make_contractor(db, org)
    construction_service.create_bid(
        session=db,
        org_id=org.id,
        project_id=project.id,
        bid_in=BidCreate(contractor_id=contractor.id, total_amount=Decimal("12000")),
        principal=principal,
    )
    task = construction_service.create_task(
        session=db,
        org_id=org.id,
        project_id=project.id,
        task_in=TaskCreate(title="Tear off"),
        principal=principal,
    )
    construction_service.update_task(
        session=db,
        org_id=org.id,
        project_id=project.id,
        task_id=task.id,
        task_in=TaskUpdate(status=TaskStatus.done),
        principal=principal,
    )
    milestone = construction_service.create_milestone(
        session=db,
        org_id=org.id,
        project_id=project.id,
        milestone_in=MilestoneCreate(name="Roof on", target_date=local_today()),
        principal=principal,
    )
    construction_service.reach_milestone(
        session=db,
        org_id=org.id,
        project_id=project.id,
        milestone_id=milestone.id,
        principal=principal,
    )
    construction_service.add_expense(
        session=db,
        org_id=org.id,
        project_id=project.id,
        expense_in=ExpenseCreate(amount=Decimal("250")),
        principal=principal,
    )

    events = _payloads(db, org.id)
    (created,) = events["deal.created"]
    assert created["purchase_price"] == "70000.00"
    assert created["estimated_repairs"] == "25000.50"
    assert created["expected_profit"] == "-1500.00"
    (offer,) = events["offer.received"]
    assert offer["amount"] == "65000.00"
    assert offer["terms"]["earnest_money"] == "1000.00"
    assert offer["terms"]["inspection_days"] == 10
    assert offer["expires_at"] == "2027-01-01T15:00:00Z"
    assert offer["submitted_at"].endswith("Z"), offer["submitted_at"]
    (valued,) = events["valuation.completed"]
    assert valued["value"] == f"{valuation.value:.2f}"
    assert TWO_PLACES.fullmatch(valued["low"]) and TWO_PLACES.fullmatch(valued["high"])
    assert valued["confidence"] == str(valuation.confidence)  # a score, not money: as it was
    (project_created,) = events["project.created"]
    assert project_created["budget"] == "13700.00"
    assert project_created["scope_total"] == "13700.00"
    (bid,) = events["bid.received"]
    assert bid["total_amount"] == "12000.00"
    (completed,) = events["task.completed"]
    assert completed["completed_at"].endswith("Z") and "+00:00" not in completed["completed_at"]
    (reached,) = events["milestone.reached"]
    assert reached["reached_at"].endswith("Z") and "+00:00" not in reached["reached_at"]
    (expense,) = events["construction.expense.added"]
    assert expense["amount"] == "250.00"

    # The sweep: every payload published above, every key at any depth.
    swept = 0
    for name, payloads in events.items():
        for payload in payloads:
            for path, key, value in _walk(payload):
                where = f"{name}{path}"
                if isinstance(value, str) and MOMENT.fullmatch(value):
                    assert value.endswith("Z"), f"{where} = {value!r}"
                    swept += 1
                if key in MONEY_KEYS and value is not None:
                    assert isinstance(value, str) and TWO_PLACES.fullmatch(value), (
                        f"{where} = {value!r}"
                    )
                    swept += 1
    assert swept >= 15

    # The property module's copy of the valuation (a ``valuation`` market data row).
    (row,) = db.exec(select(OutboxEvent).where(OutboxEvent.name == "valuation.completed")).all()
    event = Event(
        id=row.id,
        name=row.name,
        payload=row.payload,
        org_id=row.org_id,
        created_at=row.created_at,
        correlation_id=row.correlation_id,
    )
    property_subscribers.store_valuation_summary(db, event)
    (stored,) = db.exec(
        select(MarketData).where(
            MarketData.property_id == subject.id, MarketData.data_type == "valuation"
        )
    ).all()
    assert stored.value["value"] == f"{valuation.value:.2f}"


def test_photo_taken_at_needs_a_zone_is_answered_in_utc_and_is_not_in_the_future(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    project = make_project(db, org)
    url = f"{API}/projects/{project.id}/photos"

    def upload(taken_at: str) -> Any:
        return client.post(
            url,
            files={"files": ("front.png", _png(), "image/png")},
            data={"taken_at": taken_at},
            headers=headers,
        )

    naive = upload("2026-11-28T10:00:00")
    assert naive.status_code == 422 and "needs a time zone" in naive.text, naive.text
    eastern = upload("2026-11-28T10:00:00-05:00")
    assert eastern.status_code == 201, eastern.text
    assert eastern.json()[0]["taken_at"] == "2026-11-28T15:00:00Z"
    listed = client.get(url, headers=headers).json()
    assert [p["taken_at"] for p in listed] == ["2026-11-28T15:00:00Z"]
    later = (utcnow() + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = upload(later)
    assert future.status_code == 422 and "future" in future.text, future.text
    # A camera clock a minute ahead is fine.
    skew = (utcnow() + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert upload(skew).status_code == 201


def test_market_data_money_has_cents_and_times_are_utc(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    prop = make_property(db, org)
    url = f"{API}/properties/{prop.id}/market-data"

    fractional = client.post(
        url,
        json={"data_type": "rent_estimate", "value": {"rent_monthly": 1450.123}},
        headers=headers,
    )
    assert fractional.status_code == 422 and "two decimal places" in fractional.text
    zone_less = client.post(
        url,
        json={
            "data_type": "rent_estimate",
            "value": {"rent_monthly": 1450},
            "recorded_at": "2026-11-28T10:00:00",
        },
        headers=headers,
    )
    assert zone_less.status_code == 422 and "needs a time zone" in zone_less.text
    written = client.post(
        url,
        json={
            "data_type": "rent_estimate",
            "value": {"rent_monthly": 1450.1, "beds": 3, "vacancy_pct": 7.5},
            "recorded_at": "2026-11-28T10:00:00-05:00",
        },
        headers=headers,
    )
    assert written.status_code == 201, written.text
    body = written.json()
    assert body["value"] == {"rent_monthly": "1450.10", "beds": 3, "vacancy_pct": 7.5}
    assert body["recorded_at"] == "2026-11-28T15:00:00Z"
    valuation = client.post(
        url,
        json={"data_type": "valuation", "value": {"value": 137943, "confidence": 0.8}},
        headers=headers,
    )
    assert valuation.status_code == 201, valuation.text
    assert valuation.json()["value"] == {"value": "137943.00", "confidence": 0.8}

    # A row stored before the check (a float rent, a valuation without cents) reads with cents.
    db.add(
        MarketData(
            org_id=org.id,
            property_id=prop.id,
            data_type=MarketDataType.valuation,
            value={"value": "153012", "low": 140000, "confidence": 0.7},
            recorded_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
    )
    db.flush()
    rows = client.get(url, headers=headers).json()
    by_recorded = {r["recorded_at"]: r["value"] for r in rows}
    assert by_recorded["2026-11-28T15:00:00Z"]["rent_monthly"] == "1450.10"
    assert by_recorded["2026-01-01T00:00:00Z"] == {
        "value": "153012.00",
        "low": "140000.00",
        "confidence": 0.7,
    }
