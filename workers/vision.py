"""Jobs on the ``vision`` queue: analyse queued photos; and the worker's model preloader.

A job receives ids (the organisation and its queued analyses) and opens its own session per
photo, so one photo's outcome is committed before the next is read. A photo that cannot be
analysed ends as a stored ``failed`` (or ``not_configured``) analysis and the job still
succeeds, with each photo's outcome in its result; only infrastructure errors (database,
storage) raise, and RQ retries the job, which skips photos already finished.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from domain.vision import model, service
from store.db import session_scope
from workers.queues import enqueue

log = logging.getLogger(__name__)

QUEUE = "vision"


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


def preload() -> None:
    """Load the configured vision model once, before the worker forks (no-op when unset)."""
    if not model.is_configured():
        log.info("no vision model configured; photo analyses will say so")
        return
    classifier = model.get_classifier()
    log.info("vision model preloaded", extra={"model": classifier.model_ref})
