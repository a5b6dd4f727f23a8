"""Jobs of the market monitor: run a scan, and the scheduler tick that keeps scans coming.

- ``run_scan(org_id, scan_id)`` (default queue): reads the scan's feed and runs it to the end
  (``market_service.execute_scan``, which commits per batch). A feed that cannot be read or
  lacks a required column fails the scan with its reason and the job ends (retrying would
  only fail again); other errors fail the scan and raise, so RQ retries it: a re-run resumes,
  because rows already ingested come back unchanged.
- ``tick()``: fails scans stuck queued or running (``market_service.STALE_SCAN_AFTER``, four
  times the job timeout: the job was lost or its worker killed) so no feed's schedule stops,
  queues a scan for every scheduled feed that is due (all organisations), enqueues again a
  queued scan whose job is gone from the queue, and
  releases alerts held for quiet hours whose hours are over; then the next tick is scheduled
  ``MONITOR_TICK_S`` later, the way the WhatsApp sweeper schedules itself
  (``schedule_tick``: one chain, ``workers.main.keep_chain``, so a worker restart never adds a
  second; it needs a worker started ``--with-scheduler``, as ``dealdesk worker`` does). The tick is
  started by ``POST /monitor/start`` for a scheduled feed and by ``preload()`` when a default
  worker starts.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from rq.job import JobStatus

from core.config import get_settings
from domain.market import alerts as alert_service
from domain.market import service as market_service
from domain.market.sources import SourceError
from store.db import get_engine, session_scope
from workers.queues import enqueue, get_queue

log = logging.getLogger(__name__)

QUEUE = "default"
# The chain of ticks (``workers.main.keep_chain``): one tick pending, whatever restarts.
TICK_CHAIN = "market-tick"


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


def _job_alive(job_id: str | None) -> bool:
    """True when the scan's job is still on the queue: waiting, running or due a retry."""
    if not job_id:
        return False
    try:
        job = get_queue(QUEUE).fetch_job(job_id)
    except Exception:  # noqa: BLE001 - Redis unreachable: cannot tell, so do not enqueue twice
        log.exception("could not look up a scan's job", extra={"job_id": job_id})
        return True
    if job is None:
        return False
    return job.get_status(refresh=False) not in (
        JobStatus.FINISHED,
        JobStatus.FAILED,
        JobStatus.STOPPED,
        JobStatus.CANCELED,
    )


def _enqueue_and_record(org_id: uuid.UUID, scan_id: uuid.UUID, what: str) -> bool:
    """Enqueue a scan's job and remember its id; False (logged) when the queue is down."""
    try:
        job_id = enqueue_scan(org_id, scan_id)
    except Exception:  # noqa: BLE001 - Redis down: the scan stays queued; a later tick retries
        log.exception("could not enqueue a %s scan", what, extra={"scan_id": str(scan_id)})
        return False
    with session_scope() as session:
        market_service.set_job_id(session=session, org_id=org_id, scan_id=scan_id, job_id=job_id)
    return True


def tick() -> dict[str, int]:
    """Expire stuck scans, queue due scheduled scans, re-enqueue lost jobs, release alerts.

    A scan stuck queued or running past ``STALE_SCAN_AFTER`` is failed with the reason first,
    so its feed's schedule goes on in the same tick; a queued scan whose job is gone from the
    queue (the enqueue failed, Redis lost it) is enqueued again.
    """
    with session_scope() as session:
        expired = market_service.expire_stale_scans(session=session)
    if expired:
        log.warning(
            "market scans stuck queued or running were marked failed",
            extra={"scan_ids": [str(i) for i in expired]},
        )
    queued: list[tuple[uuid.UUID, uuid.UUID]] = []
    with session_scope() as session:
        for feed in market_service.due_feeds(session=session):
            scan = market_service.schedule_scan(session=session, feed=feed)
            if scan is not None:
                queued.append((scan.org_id, scan.id))
    with session_scope() as session:
        waiting = [
            (scan.org_id, scan.id)
            for scan in market_service.scans_awaiting_job(session=session)
            if not _job_alive(scan.job_id)
        ]
    requeued = sum(_enqueue_and_record(o, s, "lost") for o, s in waiting)
    for org_id, scan_id in queued:
        _enqueue_and_record(org_id, scan_id, "scheduled")
    released = 0
    try:
        with session_scope() as session:
            released = alert_service.release_held_alerts(session=session)
    except Exception:  # noqa: BLE001 - the scans above are queued; alerts wait for the next tick
        log.exception("could not release held market alerts")
    counts = {
        "scans_queued": len(queued),
        "scans_expired": len(expired),
        "scans_requeued": requeued,
        "alerts_released": released,
    }
    if any(counts.values()):
        log.info("market monitor tick", extra=counts)
    return counts


def tick_job() -> dict[str, int]:
    """Job: one tick, then schedule the next (needs a worker with the scheduler)."""
    from workers.main import running_job_id

    try:
        return tick()
    finally:
        schedule_tick(continuing=running_job_id())


def schedule_tick(*, continuing: str | None = None) -> bool:
    """Keep one tick scheduled; ``continuing``: the id of the tick job scheduling its next.

    A caller (a worker start, ``POST /monitor/start``) schedules one only when the chain has
    no tick that will still run; a tick job continues the chain unless it is a duplicate.
    """
    from workers.main import keep_chain

    try:
        return keep_chain(
            TICK_CHAIN,
            tick_job,
            get_settings().monitor_tick_s,
            queue=QUEUE,
            current_job_id=continuing,
        )
    except Exception:  # noqa: BLE001 - scheduling must never break the caller
        log.exception("could not schedule the market monitor tick")
        return False


def preload() -> None:
    """Import the monitor's modules and make sure the tick is scheduled (worker start)."""
    import domain.market.estimates  # noqa: F401

    schedule_tick()
