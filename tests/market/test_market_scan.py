"""Scans: ingest, dedupe, price history, rejected rows, half-way failures and re-runs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import Session, col, select

from domain.auth.models import Organisation
from domain.market import service as market_service
from domain.market.enums import ListingStatus, ScanStatus
from domain.market.models import Opportunity, TrackedListing
from store.outbox import OutboxEvent
from tests.factories import listing_row, make_org, make_sold_market, run_market_scan


def _listings(db: Session, org: Organisation) -> list[TrackedListing]:
    return list(
        db.exec(
            select(TrackedListing)
            .where(TrackedListing.org_id == org.id)
            .order_by(col(TrackedListing.external_id))
        ).all()
    )


def _events(db: Session, org: Organisation, name: str) -> list[OutboxEvent]:
    return list(
        db.exec(
            select(OutboxEvent).where(OutboxEvent.org_id == org.id, OutboxEvent.name == name)
        ).all()
    )


def test_a_scan_stores_new_listings_normalised_and_rejects_bad_rows_with_reasons(
    db: Session,
) -> None:
    org = make_org(db)
    rows = [
        listing_row(1500, UnparsedAddress="1500 subject avenue"),
        listing_row(1502, ListPrice="$52,500"),
        listing_row(1504, ListPrice=None),
        listing_row(1506, UnparsedAddress=None),
        listing_row(1508, ListPrice="cheap"),
    ]
    scan = run_market_scan(db, org, rows)

    assert scan.status == ScanStatus.succeeded
    assert scan.counts["rows"] == 5
    assert (scan.counts["new"], scan.counts["rejected"]) == (2, 3)
    reasons = {r["line"]: r["reason"] for r in scan.rejections}
    # JSON feeds number their records from 1.
    assert reasons[3] == "ListPrice: a listing needs a list price"
    assert reasons[4].startswith("no street address")
    assert reasons[5] == "ListPrice: 'cheap' is not a number"
    first, second = _listings(db, org)
    assert (first.address_line, first.address_key, first.city, first.zip_code) == (
        "1500 Subject Ave",
        "1500 SUBJECT AVE",
        "Detroit",
        "48201",
    )
    assert second.list_price == Decimal("52500.00")
    assert first.status == ListingStatus.new
    assert first.property_data["days_on_market"] == 60
    assert [h["price"] for h in first.price_history] == ["45000.00"]
    found = _events(db, org, "listing.found")
    assert sorted(e.payload["external_id"] for e in found) == ["L-1500", "L-1502"]


def test_a_zero_price_row_is_rejected_and_the_rest_of_the_feed_is_scored(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)  # Detroit: comps and a Section 8 rent (rent / price) for scoring
    rows = [
        listing_row(1500, ListPrice="$0"),
        listing_row(1502),
        listing_row(1504, ListPrice="0.00"),
    ]
    scan = run_market_scan(db, org, rows)
    assert scan.status == ScanStatus.succeeded
    assert (scan.counts["new"], scan.counts["rejected"]) == (1, 2)
    assert [(r["line"], r["reason"]) for r in scan.rejections] == [
        (1, "ListPrice: '$0' is not a price (a listing needs a list price above $0)"),
        (3, "ListPrice: '0.00' is not a price (a listing needs a list price above $0)"),
    ]
    (listing,) = _listings(db, org)
    assert listing.external_id == "L-1502" and listing.score is not None
    (opp,) = db.exec(select(Opportunity).where(Opportunity.org_id == org.id)).all()
    assert opp.listing_id == listing.id


def test_an_opportunity_is_recorded_only_in_its_listings_organisation(db: Session) -> None:
    org, other = make_org(db), make_org(db, "Rival LLC")
    make_sold_market(db, org)
    run_market_scan(db, org, [listing_row(1500)])
    (listing,) = _listings(db, org)
    (opp,) = db.exec(select(Opportunity).where(Opportunity.org_id == org.id)).all()
    score, result = opp.score, market_service.ScoreResult("underwriting", Decimal(1), [], [])
    with pytest.raises(market_service.MarketNotFoundError):
        market_service.record_opportunity(
            session=db, org_id=other.id, listing=listing, result=result
        )
    db.refresh(opp)
    assert (opp.org_id, opp.score, opp.status) == (org.id, score, "open")
    assert db.exec(select(Opportunity).where(Opportunity.org_id == other.id)).all() == []


def test_a_rescan_is_idempotent_and_a_price_cut_is_recorded_and_rescored(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    rows = [listing_row(1500, ListPrice=80000), listing_row(1502, ListPrice=85000)]
    run_market_scan(db, org, rows)
    again = run_market_scan(db, org, rows)
    assert (again.counts["new"], again.counts["unchanged"], again.counts["updated"]) == (0, 2, 0)
    assert len(_events(db, org, "listing.found")) == 2  # none for the re-run

    before = _listings(db, org)[0].score
    cut = run_market_scan(db, org, [listing_row(1500, ListPrice=60000), rows[1]])
    assert (cut.counts["updated"], cut.counts["price_cuts"], cut.counts["unchanged"]) == (1, 1, 1)
    listing = _listings(db, org)[0]
    assert listing.list_price == Decimal("60000.00")
    assert [(h["price"], h["change"]) for h in listing.price_history] == [
        ("80000.00", None),
        ("60000.00", "-20000.00"),
    ]
    assert listing.price_history[1]["change_pct"] == "-25.00"
    # The cut is a signal: cut 25% from the first price seen, full points (10 of 10).
    cuts = next(c for c in listing.score_details["components"] if c["name"] == "price_cuts")
    assert (cuts["points"], cuts["inputs"]["original_price"]) == ("1", "80000.00")
    assert listing.score is not None and before is not None and listing.score > before


def test_the_same_address_from_another_source_is_the_same_listing(db: Session) -> None:
    org = make_org(db)
    run_market_scan(db, org, [listing_row(1500, ListingKey="MLS-1")])
    scan = run_market_scan(
        db,
        org,
        [listing_row(1500, ListingKey="Z-99", UnparsedAddress="1500 Subject Avenue")],
        source="zillow",
    )
    (listing,) = _listings(db, org)
    assert scan.counts["deduplicated_by_address"] == 1
    assert (listing.source, listing.external_id) == ("mls", "MLS-1")
    assert listing.property_data["also_listed_as"] == [{"source": "zillow", "external_id": "Z-99"}]
    assert len(_events(db, org, "listing.found")) == 1


def test_duplicates_inside_one_feed_are_rejected_with_the_first_line(db: Session) -> None:
    org = make_org(db)
    scan = run_market_scan(
        db,
        org,
        [
            listing_row(1500),
            listing_row(1500, ListPrice=50000),
            listing_row(1500, ListingKey="OTHER"),
        ],
    )
    assert scan.counts["new"] == 1
    assert [r["reason"] for r in scan.rejections] == [
        "listing L-1500 appears twice in the feed (first on line 1)",
        "same address as line 1 (1500 Subject Ave, 48201)",
    ]


def test_a_feed_without_a_price_column_fails_the_scan_with_the_reason(db: Session) -> None:
    org = make_org(db)
    row = listing_row(1500)
    del row["ListPrice"]
    with pytest.raises(market_service.MarketValidationError, match="list_price \\(ListPrice\\)"):
        run_market_scan(db, org, [row])
    scan = db.exec(
        select(market_service.MonitorScan).where(market_service.MonitorScan.org_id == org.id)
    ).one()
    assert scan.status == ScanStatus.failed
    assert "missing required columns" in (scan.error or "")
    assert _listings(db, org) == []


def test_a_scan_that_dies_after_a_batch_keeps_whole_batches_and_a_rerun_completes(
    db: Session,
) -> None:
    org = make_org(db)
    rows = [listing_row(1500 + 2 * i) for i in range(5)]

    def die_after_first_batch(done: int, total: int) -> None:
        raise RuntimeError(f"worker killed after {done} of {total}")

    with pytest.raises(RuntimeError, match="worker killed after 2 of 5"):
        run_market_scan(db, org, rows, batch_size=2, progress=die_after_first_batch)
    failed = db.exec(
        select(market_service.MonitorScan).where(market_service.MonitorScan.org_id == org.id)
    ).one()
    assert failed.status == ScanStatus.failed
    assert failed.error == "worker killed after 2 of 5"
    # The first batch is there in full (rows, history, score details, events); nothing else.
    kept = _listings(db, org)
    assert [listing.external_id for listing in kept] == ["L-1500", "L-1502"]
    assert all(listing.price_history and listing.score_details for listing in kept)
    assert len(_events(db, org, "listing.found")) == 2

    rerun = run_market_scan(db, org, rows, batch_size=2)
    assert rerun.status == ScanStatus.succeeded
    assert (rerun.counts["new"], rerun.counts["unchanged"]) == (3, 2)
    assert len(_listings(db, org)) == 5
    assert len(_events(db, org, "listing.found")) == 5


def test_listings_that_leave_the_market_close_their_opportunity(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    run_market_scan(db, org, [listing_row(1500)])
    opp = db.exec(select(Opportunity).where(Opportunity.org_id == org.id)).one()
    assert opp.status == "open"
    scan = run_market_scan(db, org, [listing_row(1500, StandardStatus="Pending")])
    db.refresh(opp)
    assert opp.status == "closed"
    assert scan.counts["opportunities_closed"] == 1
    assert _listings(db, org)[0].status == ListingStatus.pending


def test_another_organisation_sees_none_of_the_scans_listings(db: Session) -> None:
    org, other = make_org(db), make_org(db, "Rival LLC")
    make_sold_market(db, org)
    scan = run_market_scan(db, org, [listing_row(1500)])
    with pytest.raises(market_service.MarketNotFoundError):
        market_service.get_scan(session=db, org_id=other.id, scan_id=scan.id)
    assert market_service.latest_opportunities(session=db, org_id=other.id) == []
    status = market_service.monitor_status(session=db, org_id=other.id)
    assert (status.tracked_listings, status.open_opportunities, status.recent) == (0, 0, [])
    mine = market_service.monitor_status(session=db, org_id=org.id)
    assert (mine.tracked_listings, mine.open_opportunities) == (1, 1)
