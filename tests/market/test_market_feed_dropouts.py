"""Listings that leave a feed go off the market; several sources' statuses do not fight.

Scans run the way the worker runs them: a registered URL feed (``start_monitor``), read by
``feed_for``'s own ``UrlFeed`` with the feed's HTTP answer recorded by respx (only DNS is
fixed), into the real database.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from sqlmodel import Session, col, select

from domain.auth.models import Organisation
from domain.market import alerts as alert_service
from domain.market import service as market_service
from domain.market.enums import FeedKind, ListingSource, ListingStatus, ScanStatus
from domain.market.models import MonitorScan, Opportunity, TrackedListing
from domain.market.sources import SourceError
from tests.factories import (
    listing_row,
    make_org,
    make_sold_market,
    override_settings,
    run_market_scan,
)
from tests.market.test_market_alerts import _alerts, _configure, _investor

HOST = "feeds.example-mls.com"
MLS_URL = f"https://{HOST}/detroit/listings.json"
PORTAL_URL = f"https://{HOST}/portal/detroit.json"
OTHER_AREA_URL = f"https://{HOST}/ann-arbor/listings.json"


@pytest.fixture(autouse=True)
def _allowed_host(monkeypatch: pytest.MonkeyPatch) -> None:
    override_settings(monkeypatch, monitor_feed_allowed_hosts=HOST)


def _public(_host: str) -> list[str]:
    return ["93.184.216.34"]


def _scan_feed(
    db: Session,
    org: Organisation,
    rows: list[dict[str, Any]] | None = None,
    *,
    url: str = MLS_URL,
    source: ListingSource = ListingSource.mls,
    response: httpx.Response | None = None,
) -> MonitorScan:
    """Scan the registered feed at ``url`` once, the feed answering ``rows`` (or ``response``)."""
    feed_row, scan = market_service.start_monitor(
        session=db,
        org_id=org.id,
        spec=market_service.FeedSpec(kind=FeedKind.url, url=url, source=source),
    )
    feed = market_service.feed_for(
        session=db,
        org_id=org.id,
        kind=feed_row.kind,
        location=feed_row.location,
        source=feed_row.source,
        resolver=_public,
    )
    answer = response or httpx.Response(200, text=json.dumps(rows or []))
    with respx.mock:
        respx.get(url).mock(return_value=answer)
        try:
            return market_service.execute_scan(
                session=db, org_id=org.id, scan_id=scan.id, feed=feed
            )
        except (market_service.MarketError, SourceError):
            return market_service.get_scan(session=db, org_id=org.id, scan_id=scan.id)


def _listing(db: Session, org: Organisation, number: int) -> TrackedListing:
    listing = db.exec(
        select(TrackedListing).where(
            TrackedListing.org_id == org.id,
            TrackedListing.address_line == f"{number} Subject Ave",
        )
    ).one()
    db.refresh(listing)
    return listing


def _opportunity(db: Session, listing: TrackedListing) -> Opportunity:
    opp = db.exec(select(Opportunity).where(Opportunity.listing_id == listing.id)).one()
    db.refresh(opp)
    return opp


def test_a_listing_missing_from_two_complete_scans_goes_off_market_and_its_opportunity_closes(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    _scan_feed(db, org, [listing_row(1500), listing_row(1502), listing_row(1504)])
    house = _listing(db, org, 1500)
    assert _opportunity(db, house).status == "open"
    # A person dismissed 1504; the feed's word does not undo that.
    dismissed = _listing(db, org, 1504)
    dismissed.status = ListingStatus.dismissed
    db.add(dismissed)
    db.commit()

    # Sold off-feed (or withdrawn): the feed stops listing 1500 and 1504. One missed scan is
    # a grace period (feeds hiccup); the second one takes it off the market.
    first = _scan_feed(db, org, [listing_row(1502)])
    assert first.counts["complete_snapshot"] is True
    assert (first.counts["missing_from_feed"], first.counts["dropped_out"]) == (2, 0)
    assert _listing(db, org, 1500).status == ListingStatus.new  # still on the market
    assert _opportunity(db, house).status == "open"
    second = _scan_feed(db, org, [listing_row(1502)])
    assert second.status == ScanStatus.succeeded
    assert (second.counts["dropped_out"], second.counts["opportunities_closed"]) == (2, 2)

    house = _listing(db, org, 1500)
    assert house.status == ListingStatus.off_market
    assert _opportunity(db, house).status == "closed"
    last = house.property_data["status_history"][-1]
    assert (last["previous"], last["status"], last["scan_id"]) == (
        "new",
        "off_market",
        str(second.id),
    )
    assert "missing from 2 complete scans in a row" in last["reason"]
    dismissed = _listing(db, org, 1504)
    assert dismissed.status == ListingStatus.dismissed
    assert _opportunity(db, dismissed).status == "closed"
    assert dismissed.property_data["status_history"][-1]["reason"].endswith(
        "; kept dismissed (set by a person)"
    )
    assert _listing(db, org, 1502).status == ListingStatus.active
    # It no longer shows as an opportunity, and a newly configured investor is not told of it
    # (only of 1502, still on the market).
    still_open = market_service.latest_opportunities(session=db, org_id=org.id)
    assert [listing.address_line for _, listing in still_open] == ["1502 Subject Ave"]
    ivy = _investor(db, org)
    criteria = _configure(db, ivy, zip_codes=["48201"])
    alert_service.alert_existing_opportunities(
        session=db, org_id=org.id, criteria_id=criteria.id, event_id=None
    )
    assert [a.opportunity_id for a in _alerts(db, ivy)] == [still_open[0][0].id]


def test_a_dropped_listing_that_reappears_is_back_on_the_market_with_its_opportunity(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    _scan_feed(db, org, [listing_row(1500), listing_row(1502)])
    for _ in range(2):
        _scan_feed(db, org, [listing_row(1502)])
    house = _listing(db, org, 1500)
    assert house.status == ListingStatus.off_market
    assert _opportunity(db, house).status == "closed"

    back = _scan_feed(db, org, [listing_row(1500), listing_row(1502)])
    assert back.counts["relisted"] == 1
    house = _listing(db, org, 1500)
    assert house.status == ListingStatus.active
    assert "dropped_out" not in house.property_data
    assert _opportunity(db, house).status == "open"
    assert [(h["previous"], h["status"]) for h in house.property_data["status_history"]] == [
        ("new", "off_market"),
        ("off_market", "active"),
    ]
    assert house.property_data["status_history"][-1]["reason"] == "listed again by mls:L-1500"
    # The grace period starts again from nothing: one more missed scan does not drop it.
    _scan_feed(db, org, [listing_row(1502)])
    assert _listing(db, org, 1500).status == ListingStatus.active


def test_partial_failed_and_feedless_scans_never_count_as_a_listing_leaving(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    _scan_feed(db, org, [listing_row(1500), listing_row(1502)])
    rejected_row = listing_row(1506, ListPrice=None)
    next_page = httpx.Response(
        200,
        text=json.dumps({"value": [listing_row(1502)], "@odata.nextLink": f"{MLS_URL}?$skip=1"}),
    )
    for _ in range(2):
        # A row rejected: the scan read the feed, but not all of it went in.
        partial = _scan_feed(db, org, [listing_row(1502), rejected_row])
        assert partial.counts["complete_snapshot"] is False
        # One page of a longer RESO Web API answer.
        paged = _scan_feed(db, org, response=next_page)
        assert paged.counts["complete_snapshot"] is False
        # The source failing, or answering with no listings at all.
        failed = _scan_feed(db, org, response=httpx.Response(503))
        assert failed.status == ScanStatus.failed
        header_only = httpx.Response(200, text="ListingKey,UnparsedAddress,PostalCode,ListPrice\n")
        empty = _scan_feed(db, org, response=header_only)
        assert (empty.status, empty.counts["complete_snapshot"]) == (ScanStatus.succeeded, False)
        # A file given to the CLI (no feed): a one-off, not a snapshot of any area.
        run_market_scan(db, org, [listing_row(1502)])
    house = _listing(db, org, 1500)
    assert house.status == ListingStatus.new
    assert _opportunity(db, house).status == "open"

    # Two complete scans in a row without it, and only then, take it off the market; a file
    # given to the CLI that lists it in between is a newer report and starts the count again.
    _scan_feed(db, org, [listing_row(1502)])
    run_market_scan(db, org, [listing_row(1500)])
    _scan_feed(db, org, [listing_row(1502)])
    assert _listing(db, org, 1500).status == ListingStatus.active
    _scan_feed(db, org, [listing_row(1502)])
    assert _listing(db, org, 1500).status == ListingStatus.off_market


def test_a_house_another_feed_still_lists_stays_on_the_market(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    _scan_feed(db, org, [listing_row(1500), listing_row(1502)], url=MLS_URL)
    _scan_feed(
        db,
        org,
        [listing_row(1500, ListingKey="Z-1500")],
        url=PORTAL_URL,
        source=ListingSource.zillow,
    )
    # Another area's feed of the same source never lists 1500: that is none of its business.
    for _ in range(2):
        _scan_feed(db, org, [listing_row(1508, PostalCode="48104")], url=OTHER_AREA_URL)
    assert _listing(db, org, 1500).status == ListingStatus.active

    # The MLS feed stops listing it; the portal still does.
    for _ in range(3):
        _scan_feed(db, org, [listing_row(1502)], url=MLS_URL)
    house = _listing(db, org, 1500)
    assert house.status == ListingStatus.active
    assert _opportunity(db, house).status == "open"

    # Then the portal drops it too: no feed lists it any more.
    for _ in range(2):
        _scan_feed(db, org, [listing_row(1510)], url=PORTAL_URL, source=ListingSource.zillow)
    house = _listing(db, org, 1500)
    assert house.status == ListingStatus.off_market
    assert _opportunity(db, house).status == "closed"
    assert "and 1 other feed(s)" in house.property_data["status_history"][-1]["reason"]


def test_a_lagging_source_does_not_put_a_pending_house_back_on_the_market(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    mls = listing_row(1500)
    portal = listing_row(1500, ListingKey="Z-1500")
    run_market_scan(db, org, [mls], source="mls")
    run_market_scan(db, org, [portal], source="zillow")
    house = _listing(db, org, 1500)
    assert _opportunity(db, house).status == "open"

    # The MLS goes pending; the portal keeps saying "Active" for weeks.
    for _ in range(3):
        run_market_scan(db, org, [{**mls, "StandardStatus": "Pending"}], source="mls")
        last = run_market_scan(db, org, [portal], source="zillow")
    house = _listing(db, org, 1500)
    assert house.status == ListingStatus.pending
    assert _opportunity(db, house).status == "closed"
    assert last.counts["updated"] == 0  # the portal's repeat is not news: nothing re-scored
    assert [
        (h["previous"], h["status"], h["reason"]) for h in house.property_data["status_history"]
    ] == [("active", "pending", "reported by mls:L-1500")]

    # The deal falls through and the MLS lists it again: its own change is the latest news.
    run_market_scan(db, org, [mls], source="mls")
    house = _listing(db, org, 1500)
    assert house.status == ListingStatus.active
    assert _opportunity(db, house).status == "open"
    # The portal finally catches up with the old contract: that is a change of its own.
    run_market_scan(db, org, [{**portal, "StandardStatus": "Pending"}], source="zillow")
    assert _listing(db, org, 1500).status == ListingStatus.pending


def test_a_source_new_to_a_house_only_moves_it_further_along(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    run_market_scan(db, org, [listing_row(1500, StandardStatus="Pending")], source="mls")
    # A portal first seen listing it "Active" is behind the MLS: still pending.
    run_market_scan(db, org, [listing_row(1500, ListingKey="Z-1500")], source="zillow")
    assert _listing(db, org, 1500).status == ListingStatus.pending
    # Another portal first seen saying it sold knows more: sold.
    run_market_scan(
        db, org, [listing_row(1500, ListingKey="R-1500", StandardStatus="Closed")], source="redfin"
    )
    house = _listing(db, org, 1500)
    assert house.status == ListingStatus.sold
    assert house.property_data["status_by_source"] == {
        "mls:L-1500": "pending",
        "zillow:Z-1500": "active",
        "redfin:R-1500": "sold",
    }
    # No opportunity was ever opened for a house under contract.
    assert (
        db.exec(select(Opportunity).where(col(Opportunity.listing_id) == house.id)).first() is None
    )


def test_listings_tracked_before_feeds_were_remembered_still_leave_the_market(
    db: Session,
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    _scan_feed(db, org, [listing_row(1500), listing_row(1502)])
    # As stored before listings remembered their feeds: only the scan that saw them last.
    for number in (1500, 1502):
        old = _listing(db, org, number)
        old.property_data = {k: v for k, v in old.property_data.items() if k != "seen_in_feeds"}
        db.add(old)
    db.commit()
    for _ in range(2):
        _scan_feed(db, org, [listing_row(1502)])
    assert _listing(db, org, 1500).status == ListingStatus.off_market
    assert _listing(db, org, 1502).status == ListingStatus.active
