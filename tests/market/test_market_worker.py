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


def _ticked(**counts: int) -> dict[str, int]:
    """What a tick reports: every count 0 unless given."""
    zero = {"scans_queued": 0, "scans_expired": 0, "scans_requeued": 0, "alerts_released": 0}
    return {**zero, **counts}


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

    assert jobs.tick() == _ticked()  # one is still queued
    first_row = committed_db.get(MonitorScan, first.id)
    assert first_row is not None
    first_row.status = ScanStatus.succeeded
    committed_db.add(first_row)
    feed.next_run_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    committed_db.add(feed)
    committed_db.commit()

    assert jobs.tick() == _ticked(scans_queued=1)
    assert jobs.tick() == _ticked()  # not due again yet
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


def _age(db: Session, scan: MonitorScan, minutes: int, **values: object) -> None:
    """Make a scan look ``minutes`` old (created and last touched then), with ``values`` set."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
    row = db.get(MonitorScan, scan.id)
    assert row is not None
    for key, value in {"created_at": then, "updated_at": then, **values}.items():
        setattr(row, key, value)
    db.add(row)
    db.commit()


def test_scans_stuck_queued_or_running_are_failed_with_why_and_the_schedule_goes_on(
    committed_db: Session, redis: Redis
) -> None:
    # One feed's scan lost its job (queued 30 minutes, never ran); another's worker was killed
    # mid-scan (running, nothing committed for 30 minutes). Both feeds are due again.
    stuck: dict[str, MonitorScan] = {}
    for name, status in (("lost job", ScanStatus.queued), ("killed worker", ScanStatus.running)):
        org = make_org(committed_db, name)
        feed, scan = market_service.start_monitor(
            session=committed_db,
            org_id=org.id,
            spec=market_service.FeedSpec(kind=FeedKind.demo, every_minutes=30),
        )
        feed.next_run_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        committed_db.add(feed)
        committed_db.commit()
        _age(committed_db, scan, 30, status=status)
        stuck[name] = scan

    # 30 minutes is past STALE_SCAN_AFTER (20: four times the 300 s job timeout).
    assert jobs.tick() == _ticked(scans_expired=2, scans_queued=2)
    committed_db.expire_all()
    lost = committed_db.get(MonitorScan, stuck["lost job"].id)
    killed = committed_db.get(MonitorScan, stuck["killed worker"].id)
    assert lost is not None and killed is not None
    assert (lost.status, killed.status) == (ScanStatus.failed, ScanStatus.failed)
    assert (lost.error or "").startswith("still queued 20 minutes after it was created")
    assert (killed.error or "").startswith("no progress for 20 minutes")
    _work(redis)
    for scan in (lost, killed):
        scheduled = [
            s for s in _scans(committed_db, scan.org_id) if s.trigger == ScanTrigger.schedule
        ]
        assert [s.status for s in scheduled] == [ScanStatus.succeeded]


def test_a_queued_scan_whose_job_is_gone_is_enqueued_again(
    committed_db: Session, redis: Redis
) -> None:
    scans: dict[str, MonitorScan] = {}
    for name in ("enqueue failed", "job lost", "job waiting"):
        org = make_org(committed_db, name)
        _, scans[name] = market_service.start_monitor(
            session=committed_db, org_id=org.id, spec=market_service.FeedSpec(kind=FeedKind.demo)
        )
        committed_db.commit()
    lost_job = jobs.enqueue_scan(scans["job lost"].org_id, scans["job lost"].id)
    get_queue("default").fetch_job(lost_job).delete()  # type: ignore[union-attr]
    waiting_job = jobs.enqueue_scan(scans["job waiting"].org_id, scans["job waiting"].id)
    # Five minutes queued: past the two-minute grace, short of the 20 minutes that fail a scan.
    _age(committed_db, scans["enqueue failed"], 5)
    _age(committed_db, scans["job lost"], 5, job_id=lost_job)
    _age(committed_db, scans["job waiting"], 5, job_id=waiting_job)

    assert jobs.tick() == _ticked(scans_requeued=2)
    committed_db.expire_all()
    job_ids = {name: committed_db.get(MonitorScan, s.id).job_id for name, s in scans.items()}  # type: ignore[union-attr]
    assert job_ids["job waiting"] == waiting_job
    assert job_ids["enqueue failed"] is not None and job_ids["job lost"] != lost_job
    assert jobs.tick() == _ticked()  # their jobs are on the queue now
    _work(redis)
    for scan in scans.values():
        (ran,) = _scans(committed_db, scan.org_id)
        assert (ran.status, ran.counts["new"]) == (ScanStatus.succeeded, 50)
