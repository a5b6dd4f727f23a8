"""Deals over HTTP: roles, organisation scoping, the investor's own-deals rule, errors."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.enums import Role
from domain.auth.models import Organisation, User
from domain.deal.models import Deal
from store.outbox import OutboxEvent
from tests.factories import auth_headers, make_deal, make_org, make_property, make_user

API = "/api/v1"


def _property_id(db: Session, org: Organisation) -> str:
    # A property with no deal yet (a second open deal on one property is a 409).
    return str(make_property(db, org).id)


def _create(client: TestClient, db: Session, user: User, **body: Any) -> Any:
    return client.post(f"{API}/deals", json=body, headers=auth_headers(db, user))


def test_analyst_opens_a_deal_and_reads_it_back(client: TestClient, db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    property_id = _property_id(db, org)
    response = _create(
        client,
        db,
        analyst,
        property_id=property_id,
        strategy="section8_rental",
        deal_type="acquisition",
        purchase_price="72000.00",
        estimated_repairs="18500.50",
        team={"analyst": str(analyst.id)},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "lead"
    assert body["owner_user_id"] == str(analyst.id)
    assert body["purchase_price"] == "72000.00"
    assert body["allowed_next_statuses"] == ["analyzing", "offer_made", "dead", "passed"]
    read = client.get(f"{API}/deals/{body['id']}", headers=auth_headers(db, analyst))
    assert read.status_code == 200
    assert read.json()["estimated_repairs"] == "18500.50"
    assert read.json()["offers"] == [] and read.json()["documents"] == []
    created = db.exec(select(OutboxEvent).where(OutboxEvent.name == "deal.created")).all()
    assert body["id"] in {e.payload["deal_id"] for e in created}


def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    admin = make_user(db, org)
    property_id = _property_id(db, org)
    before = len(db.exec(select(Deal)).all())
    negative = _create(client, db, admin, property_id=property_id, purchase_price="-1000")
    assert negative.status_code == 422
    assert "greater than or equal to 0" in negative.text
    unknown_property = _create(client, db, admin, property_id=str(uuid.uuid4()))
    assert unknown_property.status_code == 404
    assert "not found in your organisation" in unknown_property.json()["detail"]
    bad_status = _create(client, db, admin, property_id=property_id, status="closed")
    assert bad_status.status_code == 422
    bad_strategy = _create(client, db, admin, property_id=property_id, strategy="timeshare")
    assert bad_strategy.status_code == 422
    assert len(db.exec(select(Deal)).all()) == before


def test_another_organisations_deal_is_not_found(client: TestClient, db: Session) -> None:
    org, other = make_org(db), make_org(db, "Rival Homes")
    admin = make_user(db, org)
    theirs = make_deal(db, other)
    headers = auth_headers(db, admin)
    for method, path, body in [
        ("GET", f"/deals/{theirs.id}", None),
        ("PUT", f"/deals/{theirs.id}", {"purchase_price": "1"}),
        ("PUT", f"/deals/{theirs.id}/status", {"status": "analyzing"}),
        ("POST", f"/deals/{theirs.id}/offers", {"offer_amount": "1000"}),
        ("GET", f"/deals/{theirs.id}/timeline", None),
        ("GET", f"/projections/{theirs.id}", None),
        ("GET", f"/deals/{uuid.uuid4()}", None),
    ]:
        response = client.request(method, f"{API}{path}", json=body, headers=headers)
        assert response.status_code == 404, (method, path, response.text)
    # A deal on another organisation's property cannot be opened either.
    assert _create(client, db, admin, property_id=str(theirs.property_id)).status_code == 404
    listed = client.get(f"{API}/deals", headers=headers).json()
    assert str(theirs.id) not in {d["id"] for d in listed}
    db.refresh(theirs)
    assert theirs.status == "lead"


def test_investor_sees_only_deals_they_own_or_are_on_the_team_of(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    investor = make_user(db, org, role=Role.investor)
    other_investor = make_user(db, org, role=Role.investor)
    owned = make_deal(db, org, owner=investor)
    on_team = make_deal(db, org, team={"investor": [str(investor.id)]})
    not_theirs = make_deal(db, org, owner=other_investor)
    headers = auth_headers(db, investor)

    listed = client.get(f"{API}/deals", headers=headers)
    assert listed.status_code == 200
    assert {d["id"] for d in listed.json()} == {str(owned.id), str(on_team.id)}
    assert client.get(f"{API}/deals/{owned.id}", headers=headers).status_code == 200
    assert client.get(f"{API}/deals/{on_team.id}/timeline", headers=headers).status_code == 200
    assert client.get(f"{API}/deals/{not_theirs.id}", headers=headers).status_code == 404
    assert client.get(f"{API}/deals/{not_theirs.id}/timeline", headers=headers).status_code == 404

    # Investors read; they do not change deals.
    refused = client.put(
        f"{API}/deals/{owned.id}/status", json={"status": "analyzing"}, headers=headers
    )
    assert refused.status_code == 403
    # Taking them off the team takes the deal out of their view.
    admin = make_user(db, org)
    client.put(f"{API}/deals/{on_team.id}", json={"team": {}}, headers=auth_headers(db, admin))
    listed = client.get(f"{API}/deals", headers=headers).json()
    assert {d["id"] for d in listed} == {str(owned.id)}


def test_contractors_have_no_access(client: TestClient, db: Session) -> None:
    org = make_org(db)
    contractor = make_user(db, org, role=Role.contractor)
    deal = make_deal(db, org)
    headers = auth_headers(db, contractor)
    assert client.get(f"{API}/deals", headers=headers).status_code == 403
    assert client.get(f"{API}/deals/{deal.id}", headers=headers).status_code == 403


def test_list_filters(client: TestClient, db: Session) -> None:
    org = make_org(db)
    admin = make_user(db, org)
    flip = make_deal(db, org, strategy="flip")
    rental = make_deal(db, org, strategy="rental", status="analyzing")
    headers = auth_headers(db, admin)

    def ids(**params: str) -> set[str]:
        response = client.get(f"{API}/deals", params=params, headers=headers)
        assert response.status_code == 200
        return {d["id"] for d in response.json()}

    assert ids(strategy="flip") == {str(flip.id)}
    assert ids(status="analyzing") == {str(rental.id)}
    assert ids(property_id=str(rental.property_id)) == {str(rental.id)}
    assert (
        client.get(f"{API}/deals", params={"status": "bogus"}, headers=headers).status_code == 422
    )


def test_illegal_status_change_answers_409_with_the_allowed_next_statuses(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(db, org)
    headers = auth_headers(db, analyst)
    refused = client.put(
        f"{API}/deals/{deal.id}/status", json={"status": "closed"}, headers=headers
    )
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "a deal cannot move from lead to closed; from lead it may move to: "
        "analyzing, offer_made, dead, passed",
        "current_status": "lead",
        "requested_status": "closed",
        "allowed_next_statuses": ["analyzing", "offer_made", "dead", "passed"],
    }
    moved = client.put(
        f"{API}/deals/{deal.id}/status",
        json={"status": "passed", "reason": "numbers do not work"},
        headers=headers,
    )
    assert moved.status_code == 200
    assert moved.json()["status"] == "passed"
    assert moved.json()["allowed_next_statuses"] == []
    again = client.put(f"{API}/deals/{deal.id}/status", json={"status": "lead"}, headers=headers)
    assert again.status_code == 409
    assert "passed is final" in again.json()["detail"]


def test_offers_over_http(client: TestClient, db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    deal = make_deal(db, org, purchase_price=Decimal("99000"))
    headers = auth_headers(db, analyst)
    zero = client.post(f"{API}/deals/{deal.id}/offers", json={"offer_amount": "0"}, headers=headers)
    assert zero.status_code == 422
    typo = client.post(
        f"{API}/deals/{deal.id}/offers",
        json={"offer_amount": "90000", "expiry": "tomorrow"},
        headers=headers,
    )
    assert typo.status_code == 422
    made = client.post(
        f"{API}/deals/{deal.id}/offers",
        json={
            "offer_amount": "90000",
            "terms": {
                "earnest_money": "2000",
                "financing": "hard_money",
                "inspection_days": 7,
                "closing_date": "2099-03-01",
                "appraisal_gap": "none",
            },
            "expires_at": "2099-01-15T17:00:00Z",
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    offer = made.json()
    assert offer["deal_status"] == "offer_made"
    assert offer["terms"]["appraisal_gap"] == "none"  # extra terms are kept
    assert offer["expires_at"] == "2099-01-15T17:00:00Z"
    accepted = client.put(
        f"{API}/deals/{deal.id}/offers/{offer['id']}/status",
        json={"status": "accepted"},
        headers=headers,
    )
    assert accepted.status_code == 200
    assert accepted.json()["deal_status"] == "under_contract"
    detail = client.get(f"{API}/deals/{deal.id}", headers=headers).json()
    assert detail["purchase_price"] == "90000.00"
    assert [o["status"] for o in detail["offers"]] == ["accepted"]
    withdrawn = client.put(
        f"{API}/deals/{deal.id}/offers/{offer['id']}/status",
        json={"status": "withdrawn"},
        headers=headers,
    )
    assert withdrawn.status_code == 409
    assert "final" in withdrawn.json()["detail"]
    missing = client.put(
        f"{API}/deals/{deal.id}/offers/{uuid.uuid4()}/status",
        json={"status": "accepted"},
        headers=headers,
    )
    assert missing.status_code == 404


def test_timeline_over_http_names_the_people(client: TestClient, db: Session) -> None:
    org = make_org(db)
    analyst = make_user(db, org, role=Role.analyst)
    headers = auth_headers(db, analyst)
    created = _create(client, db, analyst, property_id=_property_id(db, org)).json()
    client.put(f"{API}/deals/{created['id']}/status", json={"status": "analyzing"}, headers=headers)
    client.post(
        f"{API}/deals/{created['id']}/offers", json={"offer_amount": "50000"}, headers=headers
    )
    response = client.get(f"{API}/deals/{created['id']}/timeline", headers=headers)
    assert response.status_code == 200
    entries = response.json()["entries"]
    assert [(e["kind"], e["actor"]) for e in entries] == [
        ("created", analyst.email),
        ("status_changed", analyst.email),
        ("offer_made", analyst.email),
        ("status_changed", analyst.email),
    ]
    assert entries[-1]["details"]["to"] == "offer_made"


def test_update_refuses_unknown_fields_and_negative_figures(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    admin = make_user(db, org)
    deal = make_deal(db, org)
    headers = auth_headers(db, admin)
    assert (
        client.put(f"{API}/deals/{deal.id}", json={"status": "closed"}, headers=headers).status_code
        == 422
    )
    assert (
        client.put(
            f"{API}/deals/{deal.id}", json={"estimated_repairs": "-5"}, headers=headers
        ).status_code
        == 422
    )
    ok = client.put(
        f"{API}/deals/{deal.id}",
        json={"expected_profit": "-2500.00", "strategy": "brrrr"},
        headers=headers,
    )
    assert ok.status_code == 200
    assert (ok.json()["expected_profit"], ok.json()["strategy"]) == ("-2500.00", "brrrr")
