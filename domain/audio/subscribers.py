"""What the audio module does when events arrive (idempotent by event id; never commits).

- ``walkthrough.started`` (``property_id``): record the walkthrough as ``started`` (awaiting
  its recording), keyed by the event id, so a second delivery records nothing new.
- ``audio.uploaded`` (``document_id``, ``property_id``, optionally ``walkthrough_id`` of a
  started walkthrough): start the walkthrough's transcription: the row becomes ``queued``
  in the delivery's transaction, and the job is enqueued only after that transaction
  commits (a job never runs before its row exists). A second delivery of the same event
  finds the walkthrough it started and does nothing.

Payloads that name no valid property or recording are logged and dropped (retrying cannot
fix them); anything else that fails raises, and the relay retries the delivery.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from typing import Any

from sqlalchemy import event as sa_event
from sqlmodel import Session

from domain.audio import service
from domain.audio.models import Walkthrough
from store.events import Event, subscribe

log = logging.getLogger(__name__)


def _uuid(payload: dict[str, Any], name: str) -> uuid.UUID | None:
    value = payload.get(name)
    if value in (None, ""):
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        log.warning("event payload has an invalid %s %r", name, value)
        return None


def _enqueue_after_commit(session: Session, org_id: uuid.UUID, walkthrough: Walkthrough) -> None:
    """Enqueue the transcription job once the delivery's transaction has committed."""
    job_args = (org_id, walkthrough.id, walkthrough.job_id)

    def _after_commit(committed: Any) -> None:
        # RQ lives in workers/: imported here, when a job is due, not when domain loads.
        jobs = importlib.import_module("workers.audio")
        try:
            jobs.enqueue_transcription(*job_args)
        except Exception:
            # The row stays queued; the worker's start-up sweep enqueues it again.
            log.exception(
                "could not enqueue transcription", extra={"walkthrough_id": str(job_args[1])}
            )

    sa_event.listen(session, "after_commit", _after_commit, once=True)


@subscribe("walkthrough.started")
def record_started_walkthrough(session: Session, event: Event) -> None:
    """Record an announced walkthrough (awaiting its recording)."""
    if event.org_id is None:
        return
    property_id = _uuid(event.payload, "property_id")
    if property_id is None:
        log.warning("walkthrough.started without a property_id", extra={"event_id": str(event.id)})
        return
    if service.find_by_source_event(session=session, org_id=event.org_id, event_id=event.id):
        return
    service.record_started(
        session=session, org_id=event.org_id, property_id=property_id, source_event_id=event.id
    )


@subscribe("audio.uploaded")
def transcribe_uploaded_audio(session: Session, event: Event) -> None:
    """Start transcribing an uploaded walkthrough recording."""
    if event.org_id is None:
        return
    document_id = _uuid(event.payload, "document_id")
    property_id = _uuid(event.payload, "property_id")
    if document_id is None or property_id is None:
        log.warning(
            "audio.uploaded needs document_id and property_id", extra={"event_id": str(event.id)}
        )
        return
    if service.find_by_source_event(session=session, org_id=event.org_id, event_id=event.id):
        return
    started_id = _uuid(event.payload, "walkthrough_id")
    if started_id is not None:
        started = session.get(Walkthrough, started_id)
        if started is not None and started.document_id == document_id:
            return  # this recording was attached to it by an earlier delivery
    try:
        walkthrough = service.start_walkthrough(
            session=session,
            org_id=event.org_id,
            property_id=property_id,
            document_id=document_id,
            source_event_id=event.id,
            started_walkthrough_id=started_id,
        )
    except service.InvalidWalkthroughInput as exc:
        log.warning("audio.uploaded dropped: %s", exc, extra={"event_id": str(event.id)})
        return
    _enqueue_after_commit(session, event.org_id, walkthrough)
