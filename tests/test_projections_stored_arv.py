"""GET /projections/{dealId} runs a flip, BRRRR or wholesale deal on the stored ARV.

Was: the deal row has no ARV, so without ``?arv=`` such a projection answered 422 even when the
deal's property already had an after-repair valuation (``POST /valuations/arv``). Now, with no
``arv`` given, it uses the property's latest stored ARV valuation of the caller's organisation
and says so in ``arv_source`` (valuation id and date; "as given" when ``arv`` is passed, which
still wins), flags a stale one (over 180 days old, or marked due for re-valuation) without
refusing, and with none stored answers 422 saying how to get one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.valuation import service as valuation_service
from domain.valuation.models import Valuation
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
)

API = "/api/v1"
D = Decimal
# Always over 180 days before "today" from here on; the factory's market sold through 2024.
OLD_AS_OF = dt.date(2025, 1, 15)


def _market(db: Session, name: str) -> tuple[Organisation, Any]:
    """An organisation with a small sold market and an unsold subject house in it."""
    org = make_org(db, name)
    make_sold_market(db, org)
    return org, make_subject_property(db, org)


def _arv_by_api(client: TestClient, headers: dict[str, str], property_id: uuid.UUID) -> Any:
    response = client.post(
        f"{API}/valuations/arv", json={"property_id": str(property_id)}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def _projection(
    client: TestClient, headers: dict[str, str], deal_id: uuid.UUID, **params: str
) -> Any:
    return client.get(f"{API}/projections/{deal_id}", params=params, headers=headers)


def test_flip_runs_on_the_latest_stored_arv_and_says_so(client: TestClient, db: Session) -> None:
    org, subject = _market(db, "Stored ARV Org")
    headers = auth_headers(db, make_user(db, org, role=Role.analyst))
    older = valuation_service.after_repair_value(
        session=db, org_id=org.id, property_id=subject.id, as_of=OLD_AS_OF
    )
    latest = _arv_by_api(client, headers, subject.id)
    # An as-is valuation made after it is not an ARV and is never used as one.
    valuation_service.value_property(session=db, org_id=org.id, property_id=subject.id)
    assert D(latest["value"]) != older.value
    deal = make_deal(
        db,
        org,
        property_id=subject.id,
        strategy="flip",
        purchase_price=D("45000"),
        estimated_repairs=D("30000"),
    )

    response = _projection(client, headers, deal.id)

    assert response.status_code == 200, response.text
    body = response.json()
    arv = D(latest["value"])
    assert D(body["analysis"]["inputs"]["arv"]) == arv
    # The 70 % rule on the stored ARV: ARV × 70 % − $30,000 repairs.
    assert D(body["analysis"]["max_offer_by_rule"]) == (arv * D("0.7") - D("30000")).quantize(
        D("0.01")
    )
    source = body["arv_source"]
    assert source["source"] == "stored valuation"
    assert source["valuation_id"] == latest["id"]
    assert source["valuation_date"] == latest["as_of"]
    assert D(source["value"]) == arv
    assert source["stale"] is False and source["stale_reason"] is None
    assert (
        source["age_days"]
        == (valuation_service.today() - dt.date.fromisoformat(latest["as_of"])).days
    )
    assert body["sources"]["arv"] == f"valuation {latest['id']} ({latest['as_of']})"
    # The same valuation GET /valuations/{propertyId} calls the latest ARV.
    stored = client.get(f"{API}/valuations/{subject.id}", headers=headers).json()
    assert stored["latest_arv"]["id"] == source["valuation_id"]
    # The echoed assumptions stay the caller's: no ARV was given.
    assert body["assumptions"]["arv"] is None


def test_brrrr_and_wholesale_also_use_the_stored_arv(client: TestClient, db: Session) -> None:
    org, subject = _market(db, "Stored ARV Strategies Org")
    headers = auth_headers(db, make_user(db, org))
    latest = _arv_by_api(client, headers, subject.id)
    deal = make_deal(db, org, property_id=subject.id, strategy="brrrr", purchase_price=D("45000"))

    brrrr = _projection(client, headers, deal.id, rent_monthly="1400")
    wholesale = _projection(client, headers, deal.id, strategy="wholesale")

    for response in (brrrr, wholesale):
        assert response.status_code == 200, response.text
        assert D(response.json()["analysis"]["inputs"]["arv"]) == D(latest["value"])
        assert response.json()["arv_source"]["valuation_id"] == latest["id"]
    # Refinanced at 75 % of the stored ARV.
    assert D(brrrr.json()["analysis"]["refinance_loan_amount"]) == (
        D(latest["value"]) * D("0.75")
    ).quantize(D("0.01"))


def test_an_explicit_arv_still_wins_and_reads_as_given(client: TestClient, db: Session) -> None:
    org, subject = _market(db, "Given ARV Org")
    headers = auth_headers(db, make_user(db, org))
    _arv_by_api(client, headers, subject.id)
    deal = make_deal(db, org, property_id=subject.id, strategy="flip", purchase_price=D("45000"))

    response = _projection(client, headers, deal.id, arv="123456")

    assert response.status_code == 200, response.text
    body = response.json()
    assert D(body["analysis"]["inputs"]["arv"]) == D("123456")
    assert body["arv_source"]["source"] == "as given"
    assert D(body["arv_source"]["value"]) == D("123456")
    assert body["arv_source"]["valuation_id"] is None
    assert body["arv_source"]["stale"] is False
    assert body["sources"]["arv"] == "as given"


def test_no_stored_arv_answers_422_saying_how_to_get_one(client: TestClient, db: Session) -> None:
    org, subject = _market(db, "No ARV Org")
    headers = auth_headers(db, make_user(db, org))
    # An as-is valuation is not an ARV.
    valuation_service.value_property(session=db, org_id=org.id, property_id=subject.id)
    deal = make_deal(db, org, property_id=subject.id, strategy="wholesale", purchase_price=D("1"))

    response = _projection(client, headers, deal.id)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "a wholesale projection needs an ARV" in detail
    assert "POST /valuations/arv" in detail and str(subject.id) in detail
    assert "?arv=" in detail


def test_a_stale_arv_is_used_but_flagged(client: TestClient, db: Session) -> None:
    org, subject = _market(db, "Stale ARV Org")
    headers = auth_headers(db, make_user(db, org))
    old = valuation_service.after_repair_value(
        session=db, org_id=org.id, property_id=subject.id, as_of=OLD_AS_OF
    )
    deal = make_deal(db, org, property_id=subject.id, strategy="flip", purchase_price=D("45000"))

    response = _projection(client, headers, deal.id)

    assert response.status_code == 200, response.text
    source = response.json()["arv_source"]
    assert source["valuation_id"] == str(old.id)
    assert source["valuation_date"] == OLD_AS_OF.isoformat()
    assert source["age_days"] > 180
    assert source["stale"] is True
    assert f"valued as of {OLD_AS_OF}" in source["stale_reason"]
    assert "POST /valuations/arv" in source["stale_reason"]
    assert D(response.json()["analysis"]["inputs"]["arv"]) == old.value

    # A current ARV is not stale, until an event marks it due for re-valuation.
    fresh = _arv_by_api(client, headers, subject.id)
    current = _projection(client, headers, deal.id).json()["arv_source"]
    assert (current["valuation_id"], current["stale"]) == (fresh["id"], False)
    valuation_service.mark_revaluation_due(
        session=db, org_id=org.id, property_id=subject.id, reason="the property was updated"
    )
    flagged = _projection(client, headers, deal.id).json()["arv_source"]
    assert flagged["valuation_id"] == fresh["id"] and flagged["stale"] is True
    assert "the property was updated" in flagged["stale_reason"]


def test_another_organisations_valuation_is_never_used(client: TestClient, db: Session) -> None:
    org_a, subject_a = _market(db, "ARV Org A")
    org_b, subject_b = _market(db, "ARV Org B")
    headers_a = auth_headers(db, make_user(db, org_a))
    headers_b = auth_headers(db, make_user(db, org_b))
    deal = make_deal(db, org_a, property_id=subject_a.id, strategy="flip", purchase_price=D("1"))
    # Org B's own ARV, made through the service, then keyed to A's property id and made the
    # newest row of all: a row only the organisation filter keeps out.
    theirs = valuation_service.after_repair_value(
        session=db, org_id=org_b.id, property_id=subject_b.id
    )
    theirs.property_id = subject_a.id
    theirs.value = D("999999")
    theirs.created_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    db.add(theirs)
    db.flush()

    # A has no ARV of its own: B's row does not count.
    missing = _projection(client, headers_a, deal.id)
    assert missing.status_code == 422, missing.text
    assert "POST /valuations/arv" in missing.json()["detail"]

    ours = _arv_by_api(client, headers_a, subject_a.id)
    response = _projection(client, headers_a, deal.id)
    assert response.status_code == 200, response.text
    assert response.json()["arv_source"]["valuation_id"] == ours["id"]
    assert D(response.json()["analysis"]["inputs"]["arv"]) == D(ours["value"])
    assert db.get(Valuation, theirs.id) is not None  # B's row is still there, just unseen
    # And B cannot project A's deal at all.
    assert _projection(client, headers_b, deal.id).status_code == 404


def test_an_investor_gets_the_stored_arv_on_their_own_deal_only(
    client: TestClient, db: Session
) -> None:
    org, subject = _market(db, "Investor ARV Org")
    owner = make_user(db, org, role=Role.investor)
    other = make_user(db, org, role=Role.investor)
    stored = _arv_by_api(client, auth_headers(db, make_user(db, org)), subject.id)
    deal = make_deal(
        db, org, owner=owner, property_id=subject.id, strategy="flip", purchase_price=D("45000")
    )

    mine = _projection(client, auth_headers(db, owner), deal.id)
    assert mine.status_code == 200, mine.text
    assert mine.json()["arv_source"]["valuation_id"] == stored["id"]
    assert _projection(client, auth_headers(db, other), deal.id).status_code == 404
