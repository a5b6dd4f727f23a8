"""The explained score: a worked example by hand, and the shortlist valued by the real services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from domain.analysis.assumptions import DEFAULT_SCOPES, default_scope_name
from domain.market.enums import OpportunityStrategy
from domain.market.models import Opportunity, TrackedListing
from domain.market.scoring import Figure, ListingFacts, ScoreInputs, score_listing
from domain.pricing import service as pricing_service
from domain.pricing.models import ComponentInput
from domain.section8 import service as section8_service
from domain.valuation import service as valuation_service
from domain.valuation.enums import ValuationKind
from domain.valuation.models import SubjectAttributes
from store.outbox import OutboxEvent
from tests.factories import (
    ANALYSIS_MARKET_CENTRE,
    listing_row,
    make_org,
    make_sold_market,
    run_market_scan,
)


def _component(details: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in details["components"] if c["name"] == name)


def test_worked_example_score_from_its_components() -> None:
    # Listed at $70,000 (cut from $80,000), worth $100,000 as is, $120,000 renovated after a
    # $20,000 rehab, 45 days on the market, no rent known for the area.
    result = score_listing(
        ScoreInputs(
            listing=ListingFacts(
                list_price=Decimal("70000"),
                original_price=Decimal("80000"),
                original_price_source="OriginalListPrice",
                days_on_market=45,
            ),
            as_is=Figure(Decimal("100000"), "test"),
            arv=Figure(Decimal("120000"), "test"),
            rehab=Figure(Decimal("20000"), "test"),
            rent_missing="no FMR area for the city",
        ),
        underwrite=False,
    )
    details = result.details()
    # discount 30% -> 1 x 30; spread 30,000/120,000 = 25% of 35% -> 0.7143 x 25 = 17.86;
    # 45/90 days -> 0.5 x 10 = 5; cut 12.5% (>= 10%) -> 1 x 10 = 10; rent: left out.
    contributions = {c["name"]: c["contribution"] for c in details["components"]}
    assert contributions == {
        "discount_to_value": "30.00",
        "arv_spread": "17.86",
        "rental_cash_flow": None,
        "section8_fit": None,
        "days_on_market": "5.00",
        "price_cuts": "10.00",
    }
    # (30 + 17.8575 + 5 + 10) / (30 + 25 + 10 + 10) x 100 = 83.81
    assert result.score == Decimal("83.81")
    assert details["weights_used"] == "75"
    assert "rental_cash_flow: no FMR area for the city" in details["missing"]


def test_no_value_means_no_score_and_says_why() -> None:
    result = score_listing(
        ScoreInputs(
            listing=ListingFacts(list_price=Decimal("70000"), days_on_market=200),
            as_is_missing="no sales nearby",
            arv_missing="no sales nearby",
        ),
        underwrite=True,
    )
    assert result.score is None
    assert result.missing[0].startswith("no score")
    assert result.strategy is None


def test_a_shortlisted_listing_is_valued_with_comps_and_underwritten(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    scan = run_market_scan(db, org, [listing_row(1500)])
    assert (scan.counts["shortlisted"], scan.counts["opportunities_new"]) == (1, 1)
    listing = db.exec(select(TrackedListing).where(TrackedListing.org_id == org.id)).one()
    opp = db.exec(select(Opportunity).where(Opportunity.listing_id == listing.id)).one()

    # The as-is value and ARV are the valuation service's own comps values for the house.
    subject = SubjectAttributes(
        label="1500 Subject Ave",
        square_feet=1500,
        bedrooms=3,
        bathrooms=Decimal("1"),
        year_built=1950,
        latitude=ANALYSIS_MARKET_CENTRE[0],
        longitude=ANALYSIS_MARKET_CENTRE[1] + 0.01,
        zip_code="48201",
    )
    as_is = valuation_service.find_comps(session=db, org_id=org.id, subject=subject)
    arv = valuation_service.find_comps(
        session=db, org_id=org.id, subject=subject, kind=ValuationKind.arv
    )
    assert opp.as_is_value == as_is.value.quantize(Decimal("1"))
    assert opp.arv == arv.value.quantize(Decimal("1"))
    # Rehab: the cost book's default (average) scope for a 1,500 sqft house, 10% contingency.
    scope = DEFAULT_SCOPES[default_scope_name(None)]
    rehab = pricing_service.estimate_rehab(
        session=db,
        org_id=org.id,
        items=[ComponentInput(component=k, condition=c) for k, c in scope],
        square_feet=1500,
    )
    assert opp.rehab_estimate == rehab.total
    # Rent: Detroit's 2024 3-bedroom FMR ($1,329), the voucher's maximum contract rent.
    rent = section8_service.rent_analysis(session=db, org_id=org.id, bedrooms=3, area="Detroit")
    details = opp.details
    assert details["figures"]["rent"]["amount"] == str(rent.max_contract_rent) == "1329.00"

    assert details["stage"] == "underwriting"
    discount = _component(details, "discount_to_value")
    expected_pct = ((opp.as_is_value - Decimal(45000)) / opp.as_is_value * 100).quantize(
        Decimal("0.01")
    )
    assert discount["value"] == f"{expected_pct}%"
    assert discount["inputs"]["as_is_value"]["inputs"]["comp_ids"] == [
        str(c.property_id) for c in as_is.comps
    ]
    # The stored score is the weighted share of the components' points.
    used = [c for c in details["components"] if c["points"] is not None]
    total = sum((Decimal(c["weight"]) * Decimal(c["points"]) for c in used), Decimal(0))
    weights = sum((Decimal(c["weight"]) for c in used), Decimal(0))
    assert opp.score == (total / weights * 100).quantize(Decimal("0.01"))
    assert listing.score == opp.score
    # Strategy and return come from the underwriting service's analyses.
    strategies = details["underwriting"]["strategies"]
    assert set(strategies) == {"flip", "rental", "brrrr"}
    assert opp.strategy in set(OpportunityStrategy)
    assert strategies[str(opp.strategy)]["clears_thresholds"] is True

    (event,) = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org.id, OutboxEvent.name == "opportunity.identified"
        )
    ).all()
    assert event.payload["opportunity_id"] == str(opp.id)
    assert event.payload["score"] == str(opp.score)
    # Found again by a later scan: updated, not identified a second time.
    run_market_scan(db, org, [listing_row(1500, ListPrice=44000)])
    events = db.exec(
        select(OutboxEvent).where(
            OutboxEvent.org_id == org.id, OutboxEvent.name == "opportunity.identified"
        )
    ).all()
    assert len(events) == 1


def test_an_overpriced_listing_is_screened_but_is_no_opportunity(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    scan = run_market_scan(db, org, [listing_row(1500, ListPrice=250000, DaysOnMarket=2)])
    listing = db.exec(select(TrackedListing).where(TrackedListing.org_id == org.id)).one()
    assert scan.counts["opportunities_new"] == 0
    assert listing.score is not None and listing.score < Decimal(20)
    discount = _component(listing.score_details, "discount_to_value")
    assert discount["points"] == "0"
    assert discount["value"].startswith("-")


def test_a_zero_price_is_no_score_and_divides_nothing_by_it() -> None:
    # "$0" is price on request. With a Section 8 rent known the fit would be rent / price, and
    # without one a $0 house would look 100% below its value: neither may be scored.
    for underwrite in (False, True):
        result = score_listing(
            ScoreInputs(
                listing=ListingFacts(
                    list_price=Decimal(0), original_price=Decimal(80000), days_on_market=120
                ),
                as_is=Figure(Decimal("100000"), "test"),
                arv=Figure(Decimal("120000"), "test"),
                rehab=Figure(Decimal("20000"), "test"),
                rent=Figure(Decimal("1329"), "Detroit 3-bedroom FMR"),
                rent_is_section8=True,
            ),
            underwrite=underwrite,
        )
        assert (result.score, result.strategy, result.roi_pct) == (None, None, None)
        assert result.missing == [
            "no score: no list price: a listing needs a price above $0 to be scored"
        ]
        assert result.details()["figures"] == {"list_price": "0.00"}
