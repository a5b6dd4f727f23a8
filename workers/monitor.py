"""Jobs of the market monitor: run a scan, and the scheduler tick that keeps scans coming.

- ``run_scan(org_id, scan_id)`` (default queue): reads the scan's feed and runs it to the end
  (``market_service.execute_scan``, which commits per batch). A feed that cannot be read or
  lacks a required column fails the scan with its reason and the job ends (retrying would
  only fail again); other errors fail the scan and raise, so RQ retries it: a re-run resumes,
  because rows already ingested come back unchanged.
- ``tick()``: queues a scan for every scheduled feed that is due (all organisations) and
  releases alerts held for quiet hours whose hours are over; then the next tick is scheduled
  ``MONITOR_TICK_S`` later, the way the WhatsApp sweeper schedules itself
  (``schedule_tick``: ``enqueue_in`` with a Redis lease so only one tick is ever pending; it
  needs a worker started ``--with-scheduler``, as ``dealdesk worker`` does). The tick is
  started by ``POST /monitor/start`` for a scheduled feed and by ``preload()`` when a default
  worker starts.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from core.config import get_settings
from domain.market import alerts as alert_service
from domain.market import service as market_service
from domain.market.sources import SourceError
from store.db import get_engine, session_scope
from workers.queues import enqueue, get_queue

log = logging.getLogger(__name__)

QUEUE = "default"
TICK_LEASE_KEY = "dealdesk:market:tick"


def enqueue_scan(org_id: uuid.UUID, scan_id: uuid.UUID) -> str:
    """Put a scan job on the queue; return the job id."""
    job = enqueue(run_scan, str(org_id), str(scan_id), queue=QUEUE)
    return str(job.id)


def run_scan(org_id: str, scan_id: str) -> dict[str, Any]:
    """Job: run one scan to the end; return its status and counts."""
    from sqlmodel import Session

    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            scan = market_service.execute_scan(
                session=session, org_id=uuid.UUID(org_id), scan_id=uuid.UUID(scan_id)
            )
        except (market_service.MarketError, SourceError) as exc:
            # Saved on the scan as failed; the feed itself is the problem, so no retry.
            log.warning("market scan failed", extra={"scan_id": scan_id, "error": str(exc)})
            return {"scan_id": scan_id, "status": "failed", "error": str(exc)}
        result = {"scan_id": scan_id, "status": str(scan.status), "counts": scan.counts}
    log.info("market scan finished", extra=result)
    return result


def tick() -> dict[str, int]:
    """Queue due scheduled scans and release held alerts (every organisation)."""
    queued: list[tuple[uuid.UUID, uuid.UUID]] = []
    with session_scope() as session:
        for feed in market_service.due_feeds(session=session):
            scan = market_service.schedule_scan(session=session, feed=feed)
            if scan is not None:
                queued.append((scan.org_id, scan.id))
    with session_scope() as session:
        released = alert_service.release_held_alerts(session=session)
    for org_id, scan_id in queued:
        try:
            job_id = enqueue_scan(org_id, scan_id)
        except Exception:  # noqa: BLE001 - Redis down: the scan stays queued, visible in status
            log.exception("could not enqueue a scheduled scan", extra={"scan_id": str(scan_id)})
            continue
        with session_scope() as session:
            market_service.set_job_id(
                session=session, org_id=org_id, scan_id=scan_id, job_id=job_id
            )
    counts = {"scans_queued": len(queued), "alerts_released": released}
    if any(counts.values()):
        log.info("market monitor tick", extra=counts)
    return counts


def tick_job() -> dict[str, int]:
    """Job: one tick, then schedule the next (needs a worker with the scheduler)."""
    try:
        return tick()
    finally:
        schedule_tick(force=True)


def schedule_tick(*, force: bool = False) -> bool:
    """Keep one tick scheduled: a Redis lease stops callers from scheduling duplicates."""
    from store.redis_client import get_redis

    interval = get_settings().monitor_tick_s
    try:
        redis = get_redis()
        if force:
            redis.set(TICK_LEASE_KEY, "1", ex=interval * 3)
        elif not redis.set(TICK_LEASE_KEY, "1", ex=interval * 3, nx=True):
            return False
        get_queue(QUEUE).enqueue_in(timedelta(seconds=interval), tick_job, job_timeout=120)
        return True
    except Exception:  # noqa: BLE001 - scheduling must never break the caller
        log.exception("could not schedule the market monitor tick")
        return False


def preload() -> None:
    """Import the monitor's modules and make sure the tick is scheduled (worker start)."""
    import domain.market.estimates  # noqa: F401

    schedule_tick()
