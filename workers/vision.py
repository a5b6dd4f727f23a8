"""Jobs on the ``vision`` queue: analyse queued photos; and the worker's model preloader.

A job receives ids (the organisation and its queued analyses) and opens its own session per
photo, so one photo's outcome is committed before the next is read. A photo that cannot be
analysed ends as a stored ``failed`` (or ``not_configured``) analysis and the job still
succeeds, with each photo's outcome in its result; only infrastructure errors (database,
storage) raise, and RQ retries the job, which skips photos already finished.

No job is silently lost: ``requeue_stalled()`` (run by ``preload()`` when a vision worker
starts) enqueues again the analyses still ``queued`` a while after they were accepted (Redis
was down at enqueue, or the worker was killed); running one twice is harmless.
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
from workers.queues import enqueue

log = logging.getLogger(__name__)

QUEUE = "vision"
# A queued analysis whose job has not run after this long is enqueued again.
QUEUED_STALE_S = 600
# At most this many analyses per re-enqueued job.
REQUEUE_BATCH = 50


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


def requeue_stalled(*, queued_stale_s: int = QUEUED_STALE_S) -> int:
    """Enqueue again the analyses left ``queued`` for ``queued_stale_s``; return how many.

    System-wide (every organisation): it runs at worker start. Rows a job is analysing right
    now are locked and skipped.
    """
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
    by_org: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for analysis_id, org_id in rows:
        by_org[org_id].append(analysis_id)
    for org_id, ids in by_org.items():
        for start in range(0, len(ids), REQUEUE_BATCH):
            enqueue_analyses(org_id, ids[start : start + REQUEUE_BATCH])
    if rows:
        log.warning("re-enqueued lost photo analyses", extra={"count": len(rows)})
    return len(rows)


def preload() -> None:
    """Re-enqueue lost analyses; load the vision model once, before the worker forks."""
    requeue_stalled()
    if not model.is_configured():
        log.info("no vision model configured; photo analyses will say so")
        return
    classifier = model.get_classifier()
    log.info("vision model preloaded", extra={"model": classifier.model_ref})
