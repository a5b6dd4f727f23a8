"""Opportunities best first, with a stable order, and "why is it scored 79?".

Before: the list was ordered by ``updated_at``, so re-running an analysis on one opportunity
moved it to the top; there was no ``sort``; no endpoint showed one opportunity; and the
stored components' contributions did not add up to the score (a component that could not be
scored, e.g. no days on market, scales the others' weights up).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from domain.auth.enums import Role
from domain.market import service as market_service
from domain.market.enums import OpportunityStatus
from domain.market.models import Opportunity, TrackedListing
from domain.market.scoring import Figure, ListingFacts, ScoreInputs, score_listing
from store.base import utcnow
from tests.factories import (
    auth_headers,
    listing_row,
    make_org,
    make_sold_market,
    make_user,
    run_market_scan,
)
from tests.tools.helpers import call_tool, context_for
from tools.market import latest_opportunities

API = "/api/v1"
# Listing number -> (list price, days on market): four opportunities with distinct scores.
LISTINGS = {1500: (45000, 60), 1510: (30000, None), 1520: (38000, 20), 1530: (42000, 40)}


def _scan(db: Session) -> Any:
    """Organisation with the sold market and four cheap listings scored as opportunities."""
    org = make_org(db)
    make_sold_market(db, org)
    rows = [
        listing_row(n, ListPrice=price, DaysOnMarket=days) for n, (price, days) in LISTINGS.items()
    ]
    run_market_scan(db, org, rows)
    return org


def _opps(db: Session, org_id: uuid.UUID) -> list[tuple[Opportunity, TrackedListing]]:
    return market_service.list_opportunities(session=db, org_id=org_id, limit=200)


def _get(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}/opportunities/latest", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def test_the_list_is_best_first_and_a_reanalysed_one_keeps_its_place(
    client: TestClient, db: Session
) -> None:
    org = _scan(db)
    headers = auth_headers(db, make_user(db, org, Role.investor))
    rows = _opps(db, org.id)
    assert len(rows) >= 3, "the sold market makes these cheap houses opportunities"
    scores = [opp.score for opp, _ in rows]
    assert len(set(scores)) == len(scores), "distinct scores, so the order is the score's"
    worst = min(rows, key=lambda r: r[0].score or 0)[0]
    # Re-running an analysis on the worst one writes it again (its updated_at moves on).
    worst.updated_at = utcnow() + dt.timedelta(minutes=5)
    db.add(worst)
    db.flush()

    listed = _get(client, headers)
    got = [Decimal(o["score"]) for o in listed]
    assert got == sorted(got, reverse=True)
    assert listed[-1]["id"] == str(worst.id)
    # The service's default (the tool and the CLI) is the same order.
    assert [o.id for o, _ in market_service.latest_opportunities(session=db, org_id=org.id)] == [
        uuid.UUID(o["id"]) for o in listed
    ]


def test_ties_go_to_the_newest_listing_then_the_id_and_pages_are_stable(
    client: TestClient, db: Session
) -> None:
    org = _scan(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    rows = _opps(db, org.id)
    # Three opportunities tied on score; their listings first seen a day apart, oldest first.
    tied = rows[:3]
    base = utcnow() - dt.timedelta(days=10)
    for day, (opp, listing) in enumerate(tied):
        opp.score = Decimal("80.00")
        listing.created_at = base + dt.timedelta(days=day)
        # The oldest listing's opportunity is the one written last (re-analysed).
        opp.updated_at = utcnow() + dt.timedelta(minutes=10 - day)
        db.add_all([opp, listing])
    db.flush()
    expected_tie = [str(opp.id) for opp, _ in reversed(tied)]  # the newest listing first

    everything = _get(client, headers)
    tie = [o["id"] for o in everything if o["score"] == "80.00"]
    assert tie == expected_tie
    # One row a page, walked with offset: every opportunity once, in the same order.
    paged = [_get(client, headers, limit=1, offset=i)[0]["id"] for i in range(len(everything))]
    assert paged == [o["id"] for o in everything]
    assert len(set(paged)) == len(paged)


def test_sort_picks_another_order_and_an_unknown_one_is_a_422(
    client: TestClient, db: Session
) -> None:
    org = _scan(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    best = _get(client, headers)
    assert [o["id"] for o in _get(client, headers, sort="-score")] == [o["id"] for o in best]
    lowest = _get(client, headers, sort="score")
    assert [Decimal(o["score"]) for o in lowest] == sorted(Decimal(o["score"]) for o in best)
    cheap = [Decimal(o["listing"]["list_price"]) for o in _get(client, headers, sort="price")]
    assert cheap == sorted(cheap) and len(cheap) == len(best)
    dear = [Decimal(o["listing"]["list_price"]) for o in _get(client, headers, sort="-price")]
    assert dear == sorted(dear, reverse=True)
    listing_ids = [o["listing"]["id"] for o in _get(client, headers, sort="newest")]
    seen = {listing.id: listing.created_at for _, listing in _opps(db, org.id)}
    firsts = [seen[uuid.UUID(i)] for i in listing_ids]
    assert firsts == sorted(firsts, reverse=True)
    assert [o["listing"]["id"] for o in _get(client, headers, sort="oldest")] == listing_ids[::-1]

    bad = client.get(f"{API}/opportunities/latest", params={"sort": "hot"}, headers=headers)
    assert bad.status_code == 422
    assert "-score" in bad.text and "price" in bad.text
    with pytest.raises(market_service.MarketValidationError, match="sort must be one of"):
        market_service.latest_opportunities(session=db, org_id=org.id, sort="updated")
    # The schema documents the option and its values.
    spec = client.get("/openapi.json").json()
    params = spec["paths"][f"{API}/opportunities/latest"]["get"]["parameters"]
    (sort,) = [p for p in params if p["name"] == "sort"]
    assert "best first" in sort["description"]


def _sum(breakdown: dict[str, Any], key: str) -> Decimal:
    return sum((Decimal(c[key]) for c in breakdown["components"] if c[key] is not None), Decimal(0))


def test_one_opportunity_explains_its_score_with_points_that_add_up(
    client: TestClient, db: Session
) -> None:
    org = _scan(db)
    investor = make_user(db, org, Role.investor)
    headers = auth_headers(db, investor)
    no_days = next(o for o, listing in _opps(db, org.id) if listing.external_id == "L-1510")
    assert no_days.details["weights_used"] == "90"  # days on market left out: 90 of 100

    response = client.get(f"{API}/opportunities/{no_days.id}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(no_days.id) and body["listing"]["external_id"] == "L-1510"
    breakdown = body["score_breakdown"]
    assert breakdown["reproducible"] is True
    assert _sum(breakdown, "points") == Decimal(body["score"]) == Decimal(breakdown["score"])
    assert Decimal(breakdown["total_points"]) == Decimal(body["score"])
    assert _sum(breakdown, "max_points") == Decimal(100)
    parts = {c["name"]: c for c in breakdown["components"]}
    assert list(parts) == [
        "discount_to_value",
        "arv_spread",
        "rental_cash_flow",
        "section8_fit",
        "days_on_market",
        "price_cuts",
    ]
    days = parts["days_on_market"]
    assert (days["status"], days["points"], days["max_points"]) == ("not_scored", None, None)
    assert any("days_on_market not scored" in n for n in breakdown["notes"])
    discount = parts["discount_to_value"]
    assert discount["status"] == "scored"
    # Weight 30 of the 90 used: 33.33 points at most, all earned (far below the value).
    assert discount["max_points"] == "33.33" and discount["points"] == "33.33"
    assert discount["inputs"]["list_price"] == "30000.00"
    assert discount["inputs"]["as_is_value"]["amount"].endswith(".00")
    assert "comps" in discount["inputs"]["as_is_value"]["source"]
    assert parts["rental_cash_flow"]["inputs"]["formulas"]
    # The stored components' raw contributions do not add up to this score (80 of 90).
    raw = sum(Decimal(c["contribution"]) for c in no_days.details["components"] if c["points"])
    assert raw != no_days.score

    # Every item of the list carries it too, and each adds up.
    for item in _get(client, headers):
        assert item["score_breakdown"]["reproducible"] is True
        assert _sum(item["score_breakdown"], "points") == Decimal(item["score"])

    # The response model documents it.
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    read = schemas["OpportunityRead"]
    assert "score_breakdown" in read["properties"] and "score_breakdown" in read["required"]
    assert {"points", "max_points", "inputs", "name"} <= set(
        schemas["ScoreComponentRead"]["properties"]
    )


def test_one_opportunity_is_scoped_to_the_organisation(client: TestClient, db: Session) -> None:
    org = _scan(db)
    opp, _ = _opps(db, org.id)[0]
    rival = make_org(db, "Rival LLC")
    rival_headers = auth_headers(db, make_user(db, rival, Role.admin))
    assert client.get(f"{API}/opportunities/{opp.id}", headers=rival_headers).status_code == 404
    assert _get(client, rival_headers) == []
    own = auth_headers(db, make_user(db, org, Role.analyst))
    unknown = client.get(f"{API}/opportunities/{uuid.uuid4()}", headers=own)
    assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]
    assert client.get(f"{API}/opportunities/not-an-id", headers=own).status_code == 422
    contractor = auth_headers(db, make_user(db, org, Role.contractor))
    assert client.get(f"{API}/opportunities/{opp.id}", headers=contractor).status_code == 403
    # A closed one is still shown by id (the list hides it unless include_closed).
    opp.status = OpportunityStatus.closed
    db.add(opp)
    db.flush()
    assert client.get(f"{API}/opportunities/{opp.id}", headers=own).status_code == 200
    assert str(opp.id) not in [o["id"] for o in _get(client, own)]


def test_older_rows_say_their_points_cannot_be_restated(client: TestClient, db: Session) -> None:
    org = _scan(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    (first, _), (second, _), (third, _) = _opps(db, org.id)[:3]
    # A row stored before scores were explained: no components at all.
    first.details = {}
    # A row whose score an earlier scoring computed: its components give another number.
    second.score = Decimal("79.00")
    # A row whose components lack their weights.
    third.details = {
        **third.details,
        "components": [
            {k: v for k, v in c.items() if k != "weight"} for c in third.details["components"]
        ],
    }
    db.add_all([first, second, third])
    db.flush()

    def breakdown(opp: Opportunity) -> dict[str, Any]:
        response = client.get(f"{API}/opportunities/{opp.id}", headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["score_breakdown"]
        return result

    empty = breakdown(first)
    assert empty["reproducible"] is False and empty["components"] == []
    assert "without its components" in empty["notes"][0]
    mismatch = breakdown(second)
    assert mismatch["reproducible"] is False and mismatch["score"] == "79.00"
    assert "not the score 79.00" in mismatch["notes"][0]
    scored = [c for c in mismatch["components"] if c["status"] != "not_scored"]
    assert scored and all(c["status"] == "not_reproducible" for c in scored)
    assert all(c["points"] is None and c["max_points"] is None for c in scored)
    assert all(c["explanation"] for c in scored)  # what was stored is still shown
    no_weights = breakdown(third)
    assert no_weights["reproducible"] is False
    assert "its weight was not stored" in no_weights["notes"][0]


def test_points_add_up_for_any_scored_listing() -> None:
    """The breakdown restates every score ``score_listing`` can give, to the cent."""
    rng = random.Random(20261129)
    for _ in range(2000):
        price = Decimal(rng.randrange(5_000, 400_000))
        value = Decimal(rng.randrange(1_000, 500_000))
        inputs = ScoreInputs(
            listing=ListingFacts(
                list_price=price,
                original_price=price + Decimal(rng.choice([0, 0, rng.randrange(1, 60_000)])),
                original_price_source="history",
                days_on_market=rng.choice([None, rng.randrange(0, 200)]),
            ),
            as_is=rng.choice([None, Figure(value, "test")]),
            arv=Figure(value + Decimal(rng.randrange(0, 90_000)), "test"),
            rehab=rng.choice([None, Figure(Decimal(rng.randrange(0, 60_000)), "test")]),
            rent=rng.choice([None, Figure(Decimal(rng.randrange(400, 3_000)), "test")]),
            rent_is_section8=rng.choice([True, False]),
        )
        result = score_listing(inputs, underwrite=False)
        assert result.score is not None
        breakdown = market_service.explain_score(score=result.score, details=result.details())
        assert breakdown.reproducible, breakdown.notes
        points = [c.points for c in breakdown.components if c.points is not None]
        maxima = [c.max_points for c in breakdown.components if c.max_points is not None]
        assert sum(points, Decimal(0)) == result.score
        assert sum(maxima, Decimal(0)) == Decimal(100)
        for c in breakdown.components:
            if c.points is not None and c.max_points is not None:
                assert Decimal(0) <= c.points <= c.max_points


def test_the_chat_tool_carries_the_breakdown_and_the_order(db: Session) -> None:
    org = _scan(db)
    investor = make_user(db, org, Role.investor)
    result = call_tool(latest_opportunities, context_for(db, investor), limit=20)
    rows = result["opportunities"]
    assert [Decimal(r["score"]) for r in rows] == sorted(
        (Decimal(r["score"]) for r in rows), reverse=True
    )
    no_days = next(r for r in rows if r["address"].startswith("1510 "))
    breakdown = no_days["score_breakdown"]
    assert breakdown["points_add_up"] is True
    assert sum(
        (Decimal(c["points"]) for c in breakdown["components"] if c["points"] is not None),
        Decimal(0),
    ) == Decimal(no_days["score"])
    discount = breakdown["components"][0]
    assert discount["name"] == "discount_to_value"
    assert discount["figures"]["list_price"] == "$30,000"
    assert "comps" in breakdown["sources"]["as_is_value"]
    cheap = call_tool(latest_opportunities, context_for(db, investor), sort="price")
    prices = [int(r["list_price"].strip("$").replace(",", "")) for r in cheap["opportunities"]]
    assert prices == sorted(prices)
    rival = make_user(db, make_org(db, "Rival LLC"), Role.investor)
    assert call_tool(latest_opportunities, context_for(db, rival))["count"] == 0


def test_why_is_it_scored_takes_the_score_as_people_round_it(db: Session) -> None:
    """Was: "why is it scored 56?" of a 56.47 -> "none of the opportunities listed is '56'"."""
    org = _scan(db)
    investor = make_user(db, org, Role.investor)
    rows = call_tool(latest_opportunities, context_for(db, investor), limit=20)["opportunities"]
    fractional = next(r for r in rows if Decimal(r["score"]) != Decimal(r["score"]).to_integral())
    said = str(int(Decimal(fractional["score"])))
    result = call_tool(latest_opportunities, context_for(db, investor), limit=20, explain=said)
    assert fractional["address"] in [r["address"] for r in result["explained"]]
    exact = call_tool(
        latest_opportunities, context_for(db, investor), limit=20, explain=str(fractional["score"])
    )
    assert [r["address"] for r in exact["explained"]] == [fractional["address"]]
