"""Jobs on the ``vision`` queue: analyse queued photos; and the worker's model preloader.

A job receives ids (the organisation and its queued analyses) and opens its own session per
photo, so one photo's outcome is committed before the next is read. A photo that cannot be
analysed ends as a stored ``failed`` (or ``not_configured``) analysis and the job still
succeeds, with each photo's outcome in its result; only infrastructure errors (database,
storage) raise, and RQ retries the job, which skips photos already finished.

No job is silently lost: ``requeue_stalled()`` enqueues again the analyses still ``queued`` a
while after they were accepted whose job will not run (Redis was down at enqueue or lost the
job, or the worker was killed mid-job: its transaction rolled back, the analysis is ``queued``
again); running one twice is harmless. It runs when a vision worker starts (``preload()``) and
every ``STALL_CHECK_INTERVAL_S`` on the ``vision`` queue (``requeue_stalled_job``: one chain,
``workers.main.keep_chain``, so a worker restart never adds a second), so a worker killed
mid-job is made good without waiting for the next worker start.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from domain.vision import model, service
from domain.vision.enums import AnalysisStatus
from domain.vision.models import PropertyAnalysis
from store.base import utcnow
from store.db import session_scope
from workers.queues import enqueue, get_queue

log = logging.getLogger(__name__)

QUEUE = "vision"
# A queued analysis whose job has not run after this long is enqueued again.
QUEUED_STALE_S = 600
# At most this many analyses per re-enqueued job.
REQUEUE_BATCH = 50
# How often the periodic stall check runs (the chain's interval).
STALL_CHECK_INTERVAL_S = 300
# The chain of stall checks (``workers.main.keep_chain``): one pending, whatever restarts.
STALL_CHAIN = "vision-stall-check"
# The job function the stall check looks for in the queue (``analyse_photos``).
ANALYSE_FUNC = "workers.vision.analyse_photos"


def analyse_photos(org_id: str, analysis_ids: Sequence[str]) -> dict[str, Any]:
    """Run the queued analyses; return each one's status and error, and counts by status."""
    outcomes: dict[str, dict[str, Any]] = {}
    for raw_id in analysis_ids:
        with session_scope() as session:
            try:
                analysis = service.run_analysis(
                    session=session, org_id=uuid.UUID(org_id), analysis_id=uuid.UUID(raw_id)
                )
            except service.VisionNotFoundError as exc:
                outcomes[raw_id] = {"status": "missing", "error": str(exc)}
                continue
            outcomes[raw_id] = {
                "status": str(analysis.status),
                "component": analysis.component,
                "condition": str(analysis.condition) if analysis.condition else None,
                "confidence_score": (
                    str(analysis.confidence_score) if analysis.confidence_score else None
                ),
                "error": analysis.error,
            }
    counts = Counter(o["status"] for o in outcomes.values())
    log.info("photo analyses run", extra={"org_id": org_id, "counts": dict(counts)})
    return {"analyses": outcomes, "counts": dict(counts)}


def enqueue_analyses(org_id: uuid.UUID, analysis_ids: Sequence[uuid.UUID]) -> str | None:
    """Put a job for the queued analyses on the ``vision`` queue; return its id (None if none)."""
    if not analysis_ids:
        return None
    job = enqueue(analyse_photos, str(org_id), [str(i) for i in analysis_ids], queue=QUEUE)
    return str(job.id)


def _analyses_of_live_jobs() -> set[uuid.UUID]:
    """The analyses a vision job that will still run names (queued, retrying, or started).

    A backlog longer than ``QUEUED_STALE_S`` is not lost work: the periodic check leaves its
    analyses to their jobs instead of enqueuing them again every interval.
    """
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from store.redis_client import get_redis
    from workers.main import job_will_run

    connection = get_redis()
    queue = get_queue(QUEUE)
    job_ids = {
        *queue.get_job_ids(),
        *queue.scheduled_job_registry.get_job_ids(cleanup=False),
        *queue.started_job_registry.get_job_ids(cleanup=False),
        *queue.deferred_job_registry.get_job_ids(cleanup=False),
    }
    named: set[uuid.UUID] = set()
    for job in Job.fetch_many(sorted(job_ids), connection=connection, serializer=JSONSerializer):
        if job is None or job.func_name != ANALYSE_FUNC or len(job.args) < 2:
            continue
        if job_will_run(connection, job.id):
            named.update(uuid.UUID(str(i)) for i in job.args[1])
    return named


def requeue_stalled(*, queued_stale_s: int = QUEUED_STALE_S) -> int:
    """Enqueue again the analyses left ``queued`` for ``queued_stale_s`` whose job will not run.

    System-wide (every organisation): it runs at worker start and on the periodic chain
    (``requeue_stalled_job``). Rows a job is analysing right now are locked and skipped; rows
    a pending job names are left to it (when Redis cannot say, every stale row is enqueued
    again: running one twice is harmless). Returns how many were enqueued again.
    """
    try:
        pending = _analyses_of_live_jobs()
    except Exception:  # noqa: BLE001 - a duplicate job is harmless; a lost analysis is not
        log.warning("could not list the pending vision jobs; re-enqueuing every stale analysis")
        pending = set()
    cutoff = utcnow() - timedelta(seconds=queued_stale_s)
    with session_scope() as session:
        rows = session.exec(
            select(PropertyAnalysis.id, PropertyAnalysis.org_id)
            .where(
                col(PropertyAnalysis.status) == AnalysisStatus.queued.value,
                col(PropertyAnalysis.created_at) < cutoff,
            )
            .order_by(col(PropertyAnalysis.created_at))
            .limit(1000)
            .with_for_update(skip_locked=True)
        ).all()
    lost = [(analysis_id, org_id) for analysis_id, org_id in rows if analysis_id not in pending]
    by_org: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for analysis_id, org_id in lost:
        by_org[org_id].append(analysis_id)
    for org_id, ids in by_org.items():
        for start in range(0, len(ids), REQUEUE_BATCH):
            enqueue_analyses(org_id, ids[start : start + REQUEUE_BATCH])
    if lost:
        log.warning("re-enqueued lost photo analyses", extra={"count": len(lost)})
    return len(lost)


def requeue_stalled_job() -> int:
    """Job: re-enqueue lost analyses, then schedule the next check (one chain)."""
    from workers.main import running_job_id

    try:
        return requeue_stalled()
    finally:
        schedule_stall_check(continuing=running_job_id())


def schedule_stall_check(*, continuing: str | None = None) -> bool:
    """Keep one stall check scheduled; ``continuing``: the check job scheduling its next.

    A worker start schedules one only when the chain has none that will still run; a check
    job continues the chain unless it is a duplicate (``workers.main.keep_chain``).
    """
    from workers.main import keep_chain

    try:
        return keep_chain(
            STALL_CHAIN,
            requeue_stalled_job,
            STALL_CHECK_INTERVAL_S,
            queue=QUEUE,
            current_job_id=continuing,
        )
    except Exception:  # noqa: BLE001 - scheduling must never break the caller
        log.exception("could not schedule the photo-analysis stall check")
        return False


def preload() -> None:
    """Keep the stall check scheduled, re-enqueue lost analyses, load the vision model once.

    All before the worker forks.
    """
    schedule_stall_check()
    requeue_stalled()
    if not model.is_configured():
        log.info("no vision model configured; photo analyses will say so")
        return
    classifier = model.get_classifier()
    log.info("vision model preloaded", extra={"model": classifier.model_ref})
