"""analysis.completed: a tracked listing is re-scored with its property's analysis, once."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session, select

from domain.market.models import Opportunity, TrackedListing
from domain.market.subscribers import on_analysis_completed
from store.base import utcnow
from store.events import Event, subscribers
from store.outbox import publish
from tests.factories import listing_row, make_org, make_property, make_sold_market, run_market_scan


def _event(db: Session, org_id: object, payload: dict[str, object]) -> Event:
    event_id = publish(db, org_id=org_id, name="analysis.completed", payload=payload)  # type: ignore[arg-type]
    return Event(
        id=event_id,
        org_id=org_id,  # type: ignore[arg-type]
        name="analysis.completed",
        payload={k: str(v) for k, v in payload.items()},
        created_at=utcnow(),
    )


def test_the_market_module_serves_its_catalogue_subscriptions() -> None:
    names = {s.handler_path for s in subscribers("analysis.completed")}
    assert "domain.market.subscribers:on_analysis_completed" in names
    names = {s.handler_path for s in subscribers("monitor.configured")}
    assert names == {"domain.market.subscribers:on_monitor_configured"}


def test_an_analysis_of_a_tracked_listing_replaces_its_estimates(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    run_market_scan(db, org, [listing_row(1500, ListPrice=80000)])
    listing = db.exec(select(TrackedListing).where(TrackedListing.org_id == org.id)).one()
    before = listing.score
    # The team analysed the same house (typed differently) and found it worth more.
    prop = make_property(
        db, org, address_line="1500 Subject Avenue", city="Detroit", state="MI", zip_code="48201"
    )
    event = _event(
        db,
        org.id,
        {
            "property_id": prop.id,
            "as_is_value": "130000",
            "arv": "160000",
            "rehab_total": "12000",
        },
    )
    on_analysis_completed(db, event)
    db.refresh(listing)
    details = listing.score_details
    assert details["overrides"] == ["arv", "as_is", "rehab"]
    assert details["figures"]["as_is_value"]["amount"] == "130000.00"
    assert details["figures"]["as_is_value"]["source"].startswith(f"analysis of property {prop.id}")
    assert details["figures"]["rehab"]["amount"] == "12000.00"
    assert listing.property_data["analysis"]["event_id"] == str(event.id)
    # $80,000 against $130,000 as is: 38.46% off, full discount points.
    discount = next(c for c in details["components"] if c["name"] == "discount_to_value")
    assert (discount["value"], discount["points"]) == ("38.46%", "1")
    assert listing.score is not None and before is not None and listing.score > before
    opp = db.exec(select(Opportunity).where(Opportunity.listing_id == listing.id)).one()
    assert (opp.as_is_value, opp.arv, opp.rehab_estimate) == (
        Decimal("130000"),
        Decimal("160000"),
        Decimal("12000"),
    )
    # Delivered again: nothing changes.
    updated = opp.updated_at
    on_analysis_completed(db, event)
    db.refresh(opp)
    assert opp.updated_at == updated


def test_an_analysis_of_a_property_that_is_no_listing_changes_nothing(db: Session) -> None:
    org = make_org(db)
    run_market_scan(db, org, [listing_row(1500)])
    other = make_property(
        db, org, address_line="77 Elsewhere St", city="Detroit", state="MI", zip_code="48201"
    )
    on_analysis_completed(db, _event(db, org.id, {"property_id": other.id, "arv": "1"}))
    listing = db.exec(select(TrackedListing).where(TrackedListing.org_id == org.id)).one()
    assert "analysis" not in listing.property_data
