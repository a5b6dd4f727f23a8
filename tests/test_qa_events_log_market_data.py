"""Events QA: ``market.data.updated`` is published (so ``market.insight.generated`` can be),
the organisation's event log is readable at ``GET /api/v1/events``, and every documented 4xx
in the OpenAPI schema has a JSON body.

Before: nothing published ``market.data.updated`` (the valuation handler that generates
insights never ran), there was no event log endpoint, most documented 404/409/422/403
answers had no ``content``, and ``POST /properties`` documented a 404 a create cannot give.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.property import service as property_service
from domain.property.importer import import_records
from store import events
from store.outbox import OutboxEvent, publish
from tests.factories import (
    auth_headers,
    make_org,
    make_property,
    make_sold_market,
    make_user,
)
from workers import events as relay

EVENTS = "/api/v1/events"


def _events(session: Session, org: Organisation, name: str) -> list[OutboxEvent]:
    return list(
        session.exec(
            select(OutboxEvent).where(OutboxEvent.org_id == org.id, OutboxEvent.name == name)
        ).all()
    )


def _settle() -> None:
    """Relay until nothing is left to deliver (handlers publish follow-up events)."""
    for _ in range(4):
        relay.relay_once(inline=True, limit=500)


# --- 1. market.data.updated, and the insight it leads to -----------------------------------


@pytest.fixture
def live_client(committed_db: Session, redis: Redis) -> Iterator[TestClient]:
    """An API client whose requests commit for real (the relay reads what they wrote)."""
    from app import app

    with TestClient(app) as test_client:
        yield test_client


def test_recording_market_data_publishes_an_update_and_the_area_gets_an_insight(
    committed_db: Session, engine: Engine, live_client: TestClient
) -> None:
    events.load_subscribers()
    org = make_org(committed_db)
    make_sold_market(committed_db, org)  # 24 sales in 48201
    subject = make_property(committed_db, org, zip_code="48201", neighborhood="Midtown")
    headers = auth_headers(committed_db, make_user(committed_db, org, Role.analyst))
    committed_db.commit()
    _settle()

    answer = live_client.post(
        f"/api/v1/properties/{subject.id}/market-data",
        json={"data_type": "rent_estimate", "value": {"rent_monthly": 1450}, "source": "zillow"},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    _settle()

    with Session(engine) as fresh:
        (update,) = _events(fresh, org, "market.data.updated")
        assert update.payload["zip_codes"] == ["48201"]
        assert update.payload["neighborhoods"] == ["Midtown"]
        assert update.payload["market_data"][0]["id"] == answer.json()["id"]
        # The row is recorded once: the property module's own subscriber adds no copy.
        rows = property_service.list_market_data(
            session=fresh, org_id=org.id, property_id=subject.id
        )
        assert [str(r.id) for r in rows] == [answer.json()["id"]]
        insights = _events(fresh, org, "market.insight.generated")
        by_zip = {i.payload["zip_code"]: i for i in insights}
        assert by_zip["48201"].payload["sales"] == 24
        assert by_zip["48201"].payload["source_event_id"] == str(update.id)

    # The event log shows both, newest first.
    log = live_client.get(EVENTS, params={"type": "market.insight.generated"}, headers=headers)
    assert log.status_code == 200, log.text
    assert {e["payload"]["source_event_id"] for e in log.json()} == {str(update.id)}


SALES = (
    "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ClosePrice,CloseDate,"
    "LivingArea,BedroomsTotal,BathroomsFull,YearBuilt,Latitude,Longitude,SubdivisionName\n"
    + "".join(
        f"S{i},{100 + i} Oak St,Detroit,MI,{zip_code},{90000 + 1000 * i},2024-0{1 + i % 6}-15,"
        f"{1200 + 10 * i},3,1,1950,42.33,{-83.05 + 0.001 * i},{hood}\n"
        for i, (zip_code, hood) in enumerate(
            [("48201", "Midtown")] * 4 + [("48207", "Lafayette Park")] * 4
        )
    )
)


def _import(session: Session, org: Organisation, text: str, kind: str = "sales") -> Any:
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return import_records(
        session=session,
        org_id=org.id,
        rows=rows,
        kind=kind,
        source="qa-mls",
        columns=list(reader.fieldnames or []),
    )


def test_a_sales_import_publishes_one_update_naming_its_areas_and_each_gets_an_insight(
    committed_db: Session, engine: Engine
) -> None:
    events.load_subscribers()
    org = make_org(committed_db)
    summary = _import(committed_db, org, SALES)
    assert summary.inserted == 8

    (update,) = _events(committed_db, org, "market.data.updated")
    assert update.payload["origin"] == "import"
    assert update.payload["zip_codes"] == ["48201", "48207"]
    assert update.payload["neighborhoods"] == ["Lafayette Park", "Midtown"]
    assert update.payload["counts"]["inserted"] == 8
    assert "property_id" not in update.payload and "property_ids" not in update.payload
    # A sales import publishes no per-property events: the insight still counts its sales.
    assert _events(committed_db, org, "property.created") == []
    _settle()

    with Session(engine) as fresh:
        insights = _events(fresh, org, "market.insight.generated")
        areas = {(i.payload["zip_code"], i.payload["neighborhood"]): i.payload for i in insights}
        assert {key: p["sales"] for key, p in areas.items()} == {
            ("48201", None): 4,
            ("48207", None): 4,
            (None, "Midtown"): 4,
            (None, "Lafayette Park"): 4,
        }

    # The same file again changes nothing: no second update.
    again = _import(committed_db, org, SALES)
    assert again.unchanged == 8
    # Nor does a listings import (asking prices are not sales).
    listings = (
        "ListingKey,UnparsedAddress,City,StateOrProvince,PostalCode,ListPrice\n"
        "L1,12 Elm St,Detroit,MI,48201,45000\n"
    )
    assert _import(committed_db, org, listings, kind="listings").inserted == 1
    assert len(_events(committed_db, org, "market.data.updated")) == 1


# --- 2. the event log -------------------------------------------------------------------


def _publish_at(
    db: Session, org: Organisation, name: str, at: dt.datetime, **payload: Any
) -> uuid.UUID:
    event_id = publish(db, org_id=org.id, name=name, payload=payload)
    row = db.get(OutboxEvent, event_id)
    assert row is not None
    row.created_at = at
    db.add(row)
    db.flush()
    return event_id


T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_the_event_log_lists_the_organisations_events_newest_first_with_filters(
    client: TestClient, db: Session
) -> None:
    org, other = make_org(db), make_org(db, "Other Homes LLC")
    prop_id = uuid.uuid4()
    first = _publish_at(db, org, "property.created", T0, property_id=prop_id)
    second = _publish_at(db, org, "deal.created", T0 + dt.timedelta(hours=1), deal_id="d-1")
    third = _publish_at(
        db, org, "property.updated", T0 + dt.timedelta(hours=2), property_ids=[str(prop_id)]
    )
    theirs = _publish_at(db, other, "property.created", T0, property_id=prop_id)
    headers = auth_headers(db, make_user(db, org, Role.analyst))

    def ids(**params: Any) -> tuple[list[str], str]:
        answer = client.get(EVENTS, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return [e["id"] for e in answer.json()], answer.headers["X-Total-Count"]

    assert ids(since=T0.isoformat()) == ([str(third), str(second), str(first)], "3")
    assert str(theirs) not in ids()[0]
    assert ids(since=T0.isoformat(), limit=1, offset=1) == ([str(second)], "3")
    assert ids(type="deal.created") == ([str(second)], "1")
    assert ids(since=(T0 + dt.timedelta(minutes=30)).isoformat(), until="2026-03-01T13:30:00")[
        0
    ] == [str(second)]
    # The id anywhere in the payload (property_id, or an entry of property_ids).
    assert ids(entity_id=str(prop_id)) == ([str(third), str(first)], "2")
    body = client.get(EVENTS, params={"type": "deal.created"}, headers=headers).json()[0]
    assert body["type"] == "deal.created" and body["payload"] == {"deal_id": "d-1"}
    assert body["dispatched_at"] is None


def test_the_event_log_masks_secret_looking_values(client: TestClient, db: Session) -> None:
    org = make_org(db)
    _publish_at(db, org, "call.completed", T0, api_key="sk-live-abc", note="token=abcdef123456")
    answer = client.get(EVENTS, headers=auth_headers(db, make_user(db, org, Role.admin)))
    assert answer.status_code == 200, answer.text
    payload = answer.json()[0]["payload"]
    assert payload["api_key"] == "***"
    assert "abcdef123456" not in payload["note"]


@pytest.mark.parametrize("role", [Role.investor, Role.contractor])
def test_the_event_log_is_refused_to_investors_and_contractors(
    client: TestClient, db: Session, role: Role
) -> None:
    org = make_org(db)
    answer = client.get(EVENTS, headers=auth_headers(db, make_user(db, org, role)))
    assert answer.status_code == 403, answer.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"type": "property.exploded"}, "unknown event name"),
        ({"since": "2026-03-02T00:00:00", "until": "2026-03-01T00:00:00"}, "must be later"),
    ],
)
def test_the_event_log_refuses_bad_filters_clearly(
    client: TestClient, db: Session, params: dict[str, str], message: str
) -> None:
    org = make_org(db)
    answer = client.get(
        EVENTS, params=params, headers=auth_headers(db, make_user(db, org, Role.analyst))
    )
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["detail"]


# --- 3. OpenAPI error bodies -------------------------------------------------------------


def test_every_documented_4xx_has_a_json_body_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    missing = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for code, response in operation.get("responses", {}).items():
                if not str(code).startswith("4"):
                    continue
                body = response.get("content", {}).get("application/json", {})
                if not body.get("schema"):
                    missing.append(f"{method.upper()} {path} {code}")
    assert missing == []
    assert set(schema["components"]["schemas"]) >= {"ErrorDetail", "HTTPValidationError"}
    deals = schema["paths"]["/api/v1/deals/{id}"]["get"]["responses"]
    assert deals["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorDetail"
    }
    invalid = schema["paths"]["/api/v1/deals"]["post"]["responses"]["422"]
    assert invalid["content"]["application/json"]["schema"]["oneOf"] == [
        {"$ref": "#/components/schemas/ErrorDetail"},
        {"$ref": "#/components/schemas/HTTPValidationError"},
    ]


def test_creating_a_property_documents_no_404(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "404" not in paths["/api/v1/properties"]["post"]["responses"]
    assert "404" in paths["/api/v1/properties/{id}"]["put"]["responses"]
