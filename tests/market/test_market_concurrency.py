"""Scans at the same time, on separate sessions against the real database (threads).

A scan handed to two workers runs once (the claim is one atomic UPDATE); two feeds listing the
same house, scanned at once, track it once (ingest is serialised per organisation).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.market import service as market_service
from domain.market.enums import ListingSource, ScanStatus, ScanTrigger
from domain.market.models import MonitorScan, Opportunity, TrackedListing
from domain.market.sources import FeedRows
from domain.pricing import service as pricing_service
from domain.valuation import service as valuation_service
from store.outbox import OutboxEvent
from tests.factories import listing_feed, listing_row, make_org, make_sold_market

WAIT_S = 10


def _scan(db: Session, org_id: Any, source: ListingSource) -> MonitorScan:
    scan = market_service.create_file_scan(
        session=db, org_id=org_id, label=f"{source} feed", source=source, trigger=ScanTrigger.cli
    )
    db.commit()
    return scan


def _run(engine: Engine, org_id: Any, scan_id: Any, feed: Any, out: dict[str, Any]) -> None:
    """Run a scan on its own session, as a worker process would; keep its result or error."""
    name = threading.current_thread().name
    try:
        with Session(engine, expire_on_commit=False) as session:
            scan = market_service.execute_scan(
                session=session, org_id=org_id, scan_id=scan_id, feed=feed
            )
            out[name] = scan.status
    except Exception as exc:  # noqa: BLE001 - reported by the test's assertions
        out[name] = exc


class _HeldFeed:
    """A feed whose read waits until the test lets it go (the first worker is mid-scan)."""

    source = ListingSource.mls
    label = "held feed"

    def __init__(self) -> None:
        self.readers: list[str] = []
        self.reading = threading.Event()
        self.release = threading.Event()

    def fetch(self) -> FeedRows:
        self.readers.append(threading.current_thread().name)
        self.reading.set()
        self.release.wait(WAIT_S)
        rows: FeedRows = listing_feed([listing_row(1500)]).fetch()
        return rows


def test_a_scan_handed_to_two_workers_at_once_runs_once(
    committed_db: Session, engine: Engine
) -> None:
    org = make_org(committed_db)
    scan = _scan(committed_db, org.id, ListingSource.mls)
    feed, results = _HeldFeed(), dict[str, Any]()
    first = threading.Thread(
        target=_run, args=(engine, org.id, scan.id, feed, results), name="first"
    )
    second = threading.Thread(
        target=_run, args=(engine, org.id, scan.id, feed, results), name="second"
    )
    first.start()
    assert feed.reading.wait(WAIT_S)  # the first worker has claimed the scan and is reading
    second.start()
    second.join(WAIT_S)
    feed.release.set()
    first.join(WAIT_S)

    assert feed.readers == ["first"]  # the second worker never read the feed
    assert results == {"second": ScanStatus.running, "first": ScanStatus.succeeded}
    committed_db.expire_all()
    done = committed_db.get(MonitorScan, scan.id)
    assert done is not None and (done.status, done.counts["new"]) == (ScanStatus.succeeded, 1)
    found = committed_db.exec(
        select(OutboxEvent).where(OutboxEvent.org_id == org.id, OutboxEvent.name == "listing.found")
    ).all()
    assert len(found) == 1


def test_two_feeds_listing_one_house_scanned_at_once_track_it_once(
    committed_db: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org(committed_db)
    make_sold_market(committed_db, org)  # so the house is an opportunity
    # What the first scan of an organisation builds once (the comp index, the cost book):
    # built now, so neither scan waits on the other's first build.
    valuation_service.reindex_comps(session=committed_db, org_id=org.id)
    pricing_service.ensure_catalogue(session=committed_db, org_id=org.id)
    committed_db.commit()
    feeds = {
        "mls": listing_feed([listing_row(1500, ListingKey="MLS-1")]),
        "zillow": listing_feed(
            [listing_row(1500, ListingKey="Z-99", UnparsedAddress="1500 Subject Avenue")]
        ),
    }
    scans = {name: _scan(committed_db, org.id, ListingSource(name)) for name in feeds}
    for name, feed in feeds.items():
        feed.source = ListingSource(name)

    # Both scans value the house they think is new side by side, unless one waits for the
    # other's batch to commit: then the wait times out and the second finds the house tracked.
    side_by_side = threading.Barrier(2, timeout=3)
    estimate = market_service.batch_estimate

    def valued_side_by_side(*args: Any, **kwargs: Any) -> Any:
        try:
            side_by_side.wait()
        except threading.BrokenBarrierError:
            pass
        return estimate(*args, **kwargs)

    monkeypatch.setattr(market_service, "batch_estimate", valued_side_by_side)
    results: dict[str, Any] = {}
    threads = [
        threading.Thread(
            target=_run, args=(engine, org.id, scans[name].id, feeds[name], results), name=name
        )
        for name in feeds
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S * 3)

    assert results == {"mls": ScanStatus.succeeded, "zillow": ScanStatus.succeeded}
    committed_db.expire_all()
    (listing,) = committed_db.exec(
        select(TrackedListing).where(TrackedListing.org_id == org.id)
    ).all()
    other = {"mls": "zillow", "zillow": "mls"}[listing.source]
    assert listing.property_data["also_listed_as"] == [
        {"source": other, "external_id": "MLS-1" if other == "mls" else "Z-99"}
    ]
    opportunities = committed_db.exec(select(Opportunity).where(Opportunity.org_id == org.id)).all()
    assert [o.listing_id for o in opportunities] == [listing.id]
