"""POST /properties/{id}/analysis: the full deal analysis over REST, with what-ifs.

Real database and the analysis service (the same one the agent's tool and the PDF use).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from domain.auth.enums import Role
from store.outbox import OutboxEvent
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
)


def _url(property_id: object) -> str:
    return f"/api/v1/properties/{property_id}/analysis"


def test_an_analyst_gets_the_full_analysis_and_an_event(client: TestClient, db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)  # listed at $45,000
    headers = auth_headers(db, make_user(db, org, Role.analyst))

    response = client.post(_url(prop.id), json={}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["property_id"] == str(prop.id)
    price = body["purchase_price"]
    assert (Decimal(price["amount"]), price["source"]) == (Decimal(45000), "list price")
    assert Decimal(body["as_is"]["value"]) > 0 and body["as_is"]["comps"]
    assert Decimal(body["arv"]["value"]) > 0
    assert body["verdict"]["label"]
    assert body["max_offer"]["formula"].startswith("ARV $")
    events = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org.id, OutboxEvent.name == "analysis.completed"
        )
    ).all()
    assert [e.payload["property_id"] for e in events] == [str(prop.id)]


def test_what_ifs_change_the_figures_they_should(client: TestClient, db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    base = client.post(_url(prop.id), json={}, headers=headers).json()

    what_if = client.post(
        _url(prop.id),
        json={"purchase_price": "30000", "rehab_cost": "20000"},
        headers=headers,
    )

    assert what_if.status_code == 200, what_if.text
    body = what_if.json()
    price = body["purchase_price"]
    assert (Decimal(price["amount"]), price["source"]) == (Decimal(30000), "price as given")
    assert "price $30,000 as given, instead of the list price $45,000" in body["notes"]
    assert Decimal(body["max_offer"]["rehab_total"]) == Decimal("20000.00")
    assert Decimal(body["flip"]["profit"]) > Decimal(base["flip"]["profit"])
    assert body["arv"]["value"] == base["arv"]["value"]  # a price does not move the values


def test_a_deal_price_is_used_and_an_investor_only_sees_their_deals(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    owner = make_user(db, org, Role.investor)
    other = make_user(db, org, Role.investor)
    deal = make_deal(db, org, owner=owner, property_id=prop.id, purchase_price=Decimal("41000"))

    mine = client.post(
        _url(prop.id), json={"deal_id": str(deal.id)}, headers=auth_headers(db, owner)
    )
    assert mine.status_code == 200, mine.text
    assert Decimal(mine.json()["purchase_price"]["amount"]) == Decimal(41000)

    theirs = client.post(
        _url(prop.id), json={"deal_id": str(deal.id)}, headers=auth_headers(db, other)
    )
    assert theirs.status_code == 404


def test_bad_requests_are_refused_and_nothing_is_published(client: TestClient, db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    elsewhere = make_org(db)
    foreign = make_subject_property(db, elsewhere)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    other_deal = make_deal(db, org)  # on another property

    cases = [
        (_url(uuid.uuid4()), {}, 404),
        (_url(foreign.id), {}, 404),
        (_url(prop.id), {"deal_id": str(uuid.uuid4())}, 404),
        (_url(prop.id), {"deal_id": str(other_deal.id)}, 422),
        (_url(prop.id), {"purchase_price": "0"}, 422),
        (_url(prop.id), {"purchase_price": "-5"}, 422),
        (_url(prop.id), {"rehab_cost": "99999999"}, 422),
        (_url(prop.id), {"square_feet": 0}, 422),
        (_url(prop.id), {"components": [{"component": "roof", "condition": "awful"}]}, 422),
        (_url(prop.id), {"price": "30000"}, 422),  # unknown field, not silently ignored
    ]
    for url, body, expected in cases:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == expected, (body, response.text)
    assert (
        db.exec(
            select(OutboxEvent).where(
                OutboxEvent.name == "analysis.completed", OutboxEvent.org_id == org.id
            )
        ).all()
        == []
    )

    contractor = make_user(db, org, Role.contractor)
    denied = client.post(_url(prop.id), json={}, headers=auth_headers(db, contractor))
    assert denied.status_code == 403
