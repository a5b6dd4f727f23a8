"""QA pass on the market monitor and alerts, as an investor who relies on them.

Each test pins one defect found by using the monitor the way an investor does: real scans of
RESO rows into the real database, alerts queued in the real WhatsApp outbox.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from domain.market import alerts as alert_service
from domain.market import service as market_service
from domain.market.enums import AlertStatus, ListingSource
from domain.market.models import (
    AlertCriteria,
    Opportunity,
    TrackedListing,
)
from domain.whatsapp import service as whatsapp_service
from store.base import utcnow
from tests.factories import (
    listing_row,
    make_org,
    make_property,
    make_sold_market,
    run_market_scan,
)
from tests.market.test_market_alerts import _alerts, _configure, _investor


def test_a_price_cut_that_brings_an_open_opportunity_into_range_alerts_the_investor(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    ivy = _investor(db, org)
    _configure(db, ivy, zip_codes=["48201"], max_price=Decimal("50000"))
    # At $60,000 the house is already an opportunity, but above Ivy's $50,000 ceiling.
    run_market_scan(db, org, [listing_row(1500, ListPrice=60000)])
    opp = db.exec(select(Opportunity).where(Opportunity.org_id == org.id)).one()
    assert opp.status == "open"
    assert _alerts(db, ivy) == []
    # The seller cuts to $48,000: the same opportunity now matches what Ivy asked for.
    scan = run_market_scan(db, org, [listing_row(1500, ListPrice=48000)])
    assert scan.counts["opportunities_updated"] == 1
    (alert,) = _alerts(db, ivy)
    assert (alert.status, alert.opportunity_id) == (AlertStatus.queued, opp.id)
    assert "listed at $48,000" in alert.message
    # Seen again unchanged, or cut once more: still one alert (no spam).
    run_market_scan(db, org, [listing_row(1500, ListPrice=48000)])
    run_market_scan(db, org, [listing_row(1500, ListPrice=46000)])
    assert len(_alerts(db, ivy)) == 1
    assert len(whatsapp_service.list_outbox(session=db, org_id=org.id)) == 1


def test_held_alerts_follow_quiet_hours_changed_while_they_wait(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    ivy = _investor(db, org)
    # Quiet from an hour ago to two hours from now, Detroit time (wrapping midnight or not).
    local = utcnow().astimezone(ZoneInfo("America/Detroit"))

    def at(hours: int) -> dt.time:
        return (local + dt.timedelta(hours=hours)).time().replace(second=0, microsecond=0)

    quiet = {"quiet_hours_start": at(-1), "quiet_hours_end": at(2), "timezone": "America/Detroit"}
    _configure(db, ivy, **quiet)
    run_market_scan(db, org, [listing_row(1500)])
    (alert,) = _alerts(db, ivy)
    assert alert.status == AlertStatus.held and alert.send_after is not None
    first_end = alert.send_after
    # While it waits, Ivy extends her quiet hours by two hours: nothing may reach her before.
    criteria = _configure(db, ivy, **{**quiet, "quiet_hours_end": at(4)})
    new_end = alert_service.quiet_until(criteria, first_end)
    assert new_end is not None and new_end > first_end
    assert alert_service.release_held_alerts(session=db, now=first_end) == 0
    db.refresh(alert)
    assert (alert.status, alert.send_after) == (AlertStatus.held, new_end)
    assert whatsapp_service.list_outbox(session=db, org_id=org.id) == []
    assert alert_service.release_held_alerts(session=db, now=new_end) == 1
    db.refresh(alert)
    assert alert.status == AlertStatus.queued
    (entry,) = whatsapp_service.list_outbox(session=db, org_id=org.id)
    assert entry.to == "+13135550123"


def test_turning_quiet_hours_off_releases_held_alerts_at_the_next_tick(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    ivy = _investor(db, org)
    local = utcnow().astimezone(ZoneInfo("America/Detroit"))
    start = (local - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
    _configure(db, ivy, quiet_hours_start=start, quiet_hours_end=end, timezone="America/Detroit")
    run_market_scan(db, org, [listing_row(1500)])
    (alert,) = _alerts(db, ivy)
    assert alert.status == AlertStatus.held
    _configure(db, ivy)  # no quiet hours any more
    assert alert_service.release_held_alerts(session=db, now=utcnow()) == 1
    db.refresh(alert)
    assert alert.status == AlertStatus.queued


def test_quiet_hours_in_the_repeated_hour_of_a_dst_fall_back_end_later_not_earlier() -> None:
    criteria = AlertCriteria(
        org_id=None,  # type: ignore[arg-type]
        user_id=None,  # type: ignore[arg-type]
        quiet_hours_start=dt.time(0, 30),
        quiet_hours_end=dt.time(1, 30),
        timezone="America/New_York",
    )
    # 1 November 2026, New York falls back at 02:00 EDT: 01:00-02:00 happens twice.
    # 06:15 UTC is 01:15 EST (the second pass): quiet until 01:30 EST = 06:30 UTC.
    now = dt.datetime(2026, 11, 1, 6, 15, tzinfo=dt.UTC)
    until = alert_service.quiet_until(criteria, now)
    assert until == dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)
    # 05:15 UTC is 01:15 EDT (the first pass): quiet until 01:30 EDT = 05:30 UTC.
    first = dt.datetime(2026, 11, 1, 5, 15, tzinfo=dt.UTC)
    assert alert_service.quiet_until(criteria, first) == dt.datetime(
        2026, 11, 1, 5, 30, tzinfo=dt.UTC
    )


def test_two_sources_listing_one_house_at_different_prices_invent_no_price_cuts(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    mls = [listing_row(1500, ListPrice=45000)]
    zillow = [listing_row(1500, ListingKey="Z-1500", ListPrice=42000)]
    for _ in range(3):
        run_market_scan(db, org, mls, source="mls")
        last = run_market_scan(db, org, zillow, source="zillow")
    (listing,) = db.exec(select(TrackedListing).where(TrackedListing.org_id == org.id)).all()
    assert listing.source == ListingSource.mls
    # Neither source ever changed its price: no price history beyond the first price.
    assert [entry["price"] for entry in listing.price_history] == ["45000.00"]
    assert last.counts["price_cuts"] == 0
    assert listing.property_data["also_listed_as"][0]["external_id"] == "Z-1500"
    # A real cut on either source is still a price change.
    run_market_scan(
        db, org, [listing_row(1500, ListingKey="Z-1500", ListPrice=40000)], source="zillow"
    )
    db.refresh(listing)
    assert [entry["price"] for entry in listing.price_history] == ["45000.00", "40000.00"]
    assert listing.list_price == Decimal("40000.00")


def test_a_relisting_under_a_new_id_on_the_same_source_takes_its_new_price(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    run_market_scan(db, org, [listing_row(1500, ListPrice=45000)])
    run_market_scan(db, org, [listing_row(1500, ListPrice=45000, StandardStatus="Withdrawn")])
    # Relisted a month later under a new MLS number, $6,000 lower.
    run_market_scan(db, org, [listing_row(1500, ListingKey="L-1500-R", ListPrice=39000)])
    (listing,) = db.exec(select(TrackedListing).where(TrackedListing.org_id == org.id)).all()
    assert (listing.list_price, listing.status) == (Decimal("39000.00"), "active")
    assert [entry["price"] for entry in listing.price_history] == ["45000.00", "39000.00"]
    opp = db.exec(select(Opportunity).where(Opportunity.listing_id == listing.id)).one()
    assert opp.status == "open"


def test_an_analysis_that_lifts_an_open_opportunity_into_range_alerts_the_investor(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    ivy = _investor(db, org)
    _configure(db, ivy, min_score=Decimal("75"))
    run_market_scan(db, org, [listing_row(1500, ListPrice=70000)])
    opp = db.exec(select(Opportunity).where(Opportunity.org_id == org.id)).one()
    assert opp.score is not None and opp.score < 75
    assert _alerts(db, ivy) == []
    prop = make_property(
        db, org, address_line="1500 Subject Ave", city="Detroit", state="MI", zip_code="48201"
    )
    # The analyst's analysis finds far more value than the estimates did.
    market_service.apply_analysis(
        session=db,
        org_id=org.id,
        property_id=prop.id,
        payload={"as_is_value": "140000", "arv": "160000", "rehab_total": "10000"},
        event_id=uuid.uuid4(),
    )
    db.refresh(opp)
    assert opp.score is not None and opp.score >= 75
    (alert,) = _alerts(db, ivy)
    assert (alert.status, alert.opportunity_id) == (AlertStatus.queued, opp.id)
