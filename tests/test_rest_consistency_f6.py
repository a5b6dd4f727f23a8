"""REST consistency (API QA pass): duplicate addresses, UTC ``Z`` timestamps, money with cents
in the deal timeline, and the project status-move message."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.deal import service as deal_service
from domain.deal.enums import DealEventKind
from domain.property import service as property_service
from domain.property.models import PropertyCreate
from store.outbox import publish
from tests.factories import auth_headers, make_org, make_project, make_user
from tests.voice.helpers import World, voice_settings

API = "/api/v1"
# A UTC moment as every response writes it (Pydantic's form): no "+00:00", no other offset.
UTC_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
TWO_PLACES = re.compile(r"-?\d+\.\d{2}")

HOUSE: dict[str, Any] = {
    "address_line": "14500 Kercheval Ave Apt 2",
    "city": "Detroit",
    "state": "MI",
}


def _analyst(db: Session) -> tuple[Any, dict[str, str]]:
    org = make_org(db)
    return org, auth_headers(db, make_user(db, org, Role.analyst))


# --- 1. the same address twice ------------------------------------------------------------


def test_a_second_create_at_the_same_address_and_unit_is_a_409_naming_the_first(
    client: TestClient, db: Session
) -> None:
    _, headers = _analyst(db)
    first = client.post(f"{API}/properties", json={**HOUSE, "zip_code": "48215"}, headers=headers)
    assert first.status_code == 201, first.text
    # The same house typed another way (unit designator, suffix spelt out, no ZIP).
    again = client.post(
        f"{API}/properties",
        json={"address_line": "14500 kercheval avenue #2", "city": "Detroit", "state": "MI"},
        headers=headers,
    )
    assert again.status_code == 409, again.text
    body = again.json()
    assert body["existing_id"] == first.json()["id"]
    assert first.json()["id"] in body["detail"] and "allow_duplicate=true" in body["detail"]
    listed = client.get(f"{API}/properties", headers=headers).json()
    assert listed["total"] == 1
    # Asked for on purpose, a second one is made.
    forced = client.post(
        f"{API}/properties?allow_duplicate=true",
        json={**HOUSE, "zip_code": "48215"},
        headers=headers,
    )
    assert forced.status_code == 201, forced.text
    assert forced.json()["id"] != first.json()["id"]
    # Another unit, no unit, another city or state, another organisation: not the same house.
    for other in (
        {**HOUSE, "address_line": "14500 Kercheval Ave Apt 3"},
        {**HOUSE, "address_line": "14500 Kercheval Ave"},
        {**HOUSE, "city": "Grand Rapids"},
        {**HOUSE, "city": "Toledo", "state": "OH"},
        {**HOUSE, "zip_code": "48214"},
    ):
        made = client.post(f"{API}/properties", json=other, headers=headers)
        assert made.status_code == 201, (other, made.text)
    _, elsewhere = _analyst(db)
    assert client.post(f"{API}/properties", json=HOUSE, headers=elsewhere).status_code == 201
    # Coordinates only: no address to compare.
    point = {"latitude": 42.37, "longitude": -82.95}
    assert client.post(f"{API}/properties", json=point, headers=headers).status_code == 201
    assert client.post(f"{API}/properties", json=point, headers=headers).status_code == 201


def test_the_service_create_used_by_imports_tools_and_the_seed_still_creates(
    db: Session,
) -> None:
    org = make_org(db)
    one = property_service.create(session=db, org_id=org.id, property_in=PropertyCreate(**HOUSE))
    two = property_service.create(session=db, org_id=org.id, property_in=PropertyCreate(**HOUSE))
    assert one.id != two.id
    with pytest.raises(property_service.DuplicateAddressError) as refused:
        property_service.create(
            session=db,
            org_id=org.id,
            property_in=PropertyCreate(**HOUSE),
            refuse_same_address=True,
        )
    assert refused.value.existing_id == one.id


# --- 2. call schedules: UTC with Z ----------------------------------------------------------


def test_a_scheduled_call_answers_in_utc_the_same_as_the_list(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch, redis: object
) -> None:
    voice_settings(monkeypatch)
    world = World(db)
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    local = when.astimezone(dt.timezone(dt.timedelta(hours=-6))).replace(microsecond=0)
    body = {
        "contractor_id": str(world.contractor.id),
        "project_id": str(world.project.id),
        "scheduled_for": local.isoformat(),
    }
    made = client.post(f"{API}/calls/schedule", json=body, headers=world.headers())
    assert made.status_code == 201, made.text
    scheduled = made.json()["scheduled_for"]
    assert UTC_Z.fullmatch(scheduled), scheduled
    assert UTC_Z.fullmatch(made.json()["created_at"])
    listed = client.get(f"{API}/calls/schedules", headers=world.headers())
    assert listed.status_code == 200, listed.text
    [row] = [s for s in listed.json() if s["id"] == made.json()["id"]]
    assert row["scheduled_for"] == scheduled
    twice = client.post(f"{API}/calls/schedule", json=body, headers=world.headers())
    assert twice.status_code == 409, twice.text
    assert f"for {scheduled})" in twice.json()["detail"]
    assert "+00:00" not in twice.json()["detail"]


# --- 2 and 3. the deal timeline: UTC with Z, money with cents -------------------------------


def _money_values(details: dict[str, Any]) -> list[Any]:
    found: list[Any] = []

    def walk(item: Any, money: bool) -> None:
        if isinstance(item, dict):
            for key, value in item.items():
                walk(
                    value,
                    key in deal_service.TIMELINE_MONEY_KEYS or (money and key in ("from", "to")),
                )
        elif money and item is not None:
            found.append(item)

    walk(details, False)
    return found


def test_the_deal_timeline_shows_money_with_cents_and_times_in_utc(
    client: TestClient, db: Session
) -> None:
    org, headers = _analyst(db)
    prop = client.post(f"{API}/properties", json=HOUSE, headers=headers).json()
    deal = client.post(
        f"{API}/deals",
        json={"property_id": prop["id"], "strategy": "flip", "purchase_price": "140000"},
        headers=headers,
    )
    assert deal.status_code == 201, deal.text
    deal_id = deal.json()["id"]
    changed = client.put(
        f"{API}/deals/{deal_id}", json={"expected_profit": "20000"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    offer = client.post(
        f"{API}/deals/{deal_id}/offers", json={"offer_amount": "135000"}, headers=headers
    )
    assert offer.status_code == 201, offer.text
    # Another module's event not recorded yet (read from the outbox) and an entry stored the
    # old way: money without cents, a time with +00:00.
    publish(
        db,
        org_id=org.id,
        name="valuation.completed",
        payload={"property_id": prop["id"], "value": Decimal("128907"), "kind": "as_is"},
    )
    row = deal_service.get_deal(session=db, org_id=org.id, deal_id=uuid.UUID(deal_id))
    deal_service.record_event(
        session=db,
        deal=row,
        kind=DealEventKind.payment,
        summary="Payment completed: $500.00",
        details={"amount": "500", "paid_at": "2026-12-04T10:00:00-06:00", "note": "earnest"},
        actor="system",
    )
    db.flush()

    timeline = client.get(f"{API}/deals/{deal_id}/timeline", headers=headers)
    assert timeline.status_code == 200, timeline.text
    entries = timeline.json()["entries"]
    by_kind = {e["kind"]: e for e in entries}
    assert by_kind["created"]["details"]["purchase_price"] == "140000.00"
    assert by_kind["updated"]["details"]["changes"]["expected_profit"]["to"] == "20000.00"
    assert by_kind["offer_made"]["details"]["amount"] == "135000.00"
    assert UTC_Z.fullmatch(by_kind["offer_made"]["details"]["submitted_at"])
    assert by_kind["valuation"]["details"]["value"] == "128907.00"
    payment = by_kind["payment"]["details"]
    assert payment == {"amount": "500.00", "paid_at": "2026-12-04T16:00:00Z", "note": "earnest"}
    for entry in entries:
        assert UTC_Z.fullmatch(entry["at"]), entry
        for value in _money_values(entry["details"]):
            assert isinstance(value, str) and TWO_PLACES.fullmatch(value), (entry, value)
        assert "+00:00" not in str(entry["details"]), entry

    read = client.get(f"{API}/deals/{deal_id}", headers=headers)
    assert read.status_code == 200, read.text
    history = read.json()["timeline"]
    assert history and all(UTC_Z.fullmatch(line["at"]) for line in history), history
    # A history line stored before (isoformat, +00:00) reads the same way.
    row.timeline = [{"status": "lead", "at": "2026-11-01T12:30:00.250000+00:00", "by": "x"}]
    db.add(row)
    db.flush()
    again = client.get(f"{API}/deals/{deal_id}", headers=headers).json()["timeline"]
    assert again == [{"status": "lead", "at": "2026-11-01T12:30:00.250000Z", "by": "x"}]


# --- 4. the project status-move 409 ---------------------------------------------------------


def test_a_refused_project_move_reads_plainly(client: TestClient, db: Session) -> None:
    org, headers = _analyst(db)
    project = make_project(db, org)

    def patch(status: str) -> Any:
        return client.patch(
            f"{API}/projects/{project.id}", json={"status": status}, headers=headers
        )

    assert patch("in_progress").status_code == 200
    refused = patch("planning")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "An in-progress project cannot move to planning; from in progress it can move to: "
        "cancelled, completed, on hold"
    )
    assert patch("on_hold").status_code == 200
    assert patch("completed").json()["detail"] == (
        "An on-hold project cannot move to completed; from on hold it can move to: "
        "bidding, cancelled, in progress, planning"
    )
