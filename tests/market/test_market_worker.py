"""Scan jobs and the scheduler tick, run by a real RQ worker on the embedded Redis."""

from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlmodel import Session, select

from domain.market import service as market_service
from domain.market.enums import FeedKind, ScanStatus, ScanTrigger
from domain.market.models import MonitorScan
from tests.factories import make_org, override_settings
from workers import monitor as jobs
from workers.queues import get_queue


def _work(redis: Redis) -> None:
    SimpleWorker([get_queue("default")], connection=redis, serializer=JSONSerializer).work(
        burst=True
    )


def _scans(db: Session, org_id: object) -> list[MonitorScan]:
    db.expire_all()
    return list(db.exec(select(MonitorScan).where(MonitorScan.org_id == org_id)).all())


def test_a_queued_scan_runs_in_the_worker_and_a_bad_feed_fails_without_killing_it(
    committed_db: Session, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, monitor_feed_allowed_hosts="feeds.invalid")
    org = make_org(committed_db)
    _, bad = market_service.start_monitor(
        session=committed_db,
        org_id=org.id,
        spec=market_service.FeedSpec(kind=FeedKind.url, url="https://feeds.invalid/x.csv"),
    )
    _, good = market_service.start_monitor(
        session=committed_db, org_id=org.id, spec=market_service.FeedSpec(kind=FeedKind.demo)
    )
    committed_db.commit()
    jobs.enqueue_scan(org.id, bad.id)
    jobs.enqueue_scan(org.id, good.id)
    _work(redis)

    by_id = {scan.id: scan for scan in _scans(committed_db, org.id)}
    assert by_id[bad.id].status == ScanStatus.failed
    assert "does not resolve" in (by_id[bad.id].error or "")
    assert by_id[good.id].status == ScanStatus.succeeded
    assert by_id[good.id].counts["new"] == 50
    assert len(get_queue("default").failed_job_registry) == 0


def test_the_tick_queues_due_scheduled_scans_once(committed_db: Session, redis: Redis) -> None:
    org = make_org(committed_db)
    feed, first = market_service.start_monitor(
        session=committed_db,
        org_id=org.id,
        spec=market_service.FeedSpec(kind=FeedKind.demo, every_minutes=30),
        trigger=ScanTrigger.manual,
    )
    committed_db.commit()
    _work(redis)  # nothing enqueued for the first scan: it stays queued, so the tick waits
    feed.next_run_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    committed_db.add(feed)
    committed_db.commit()

    assert jobs.tick() == {"scans_queued": 0, "alerts_released": 0}  # one is still queued
    first_row = committed_db.get(MonitorScan, first.id)
    assert first_row is not None
    first_row.status = ScanStatus.succeeded
    committed_db.add(first_row)
    feed.next_run_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    committed_db.add(feed)
    committed_db.commit()

    assert jobs.tick() == {"scans_queued": 1, "alerts_released": 0}
    assert jobs.tick() == {"scans_queued": 0, "alerts_released": 0}  # not due again yet
    scheduled = [s for s in _scans(committed_db, org.id) if s.trigger == ScanTrigger.schedule]
    assert len(scheduled) == 1 and scheduled[0].job_id is not None
    committed_db.refresh(feed)
    assert feed.next_run_at is not None
    assert feed.next_run_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=29)
    _work(redis)
    (ran,) = [s for s in _scans(committed_db, org.id) if s.trigger == ScanTrigger.schedule]
    assert ran.status == ScanStatus.succeeded

    # One tick is kept scheduled: a second caller does not schedule another.
    assert jobs.schedule_tick() is True
    assert jobs.schedule_tick() is False
    assert len(get_queue("default").scheduled_job_registry.get_job_ids()) == 1
