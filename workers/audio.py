"""Transcription jobs on the ``transcribe`` queue, and the worker's Whisper preloader.

A job receives ids (organisation, walkthrough), opens its own sessions and runs the steps of
``domain.audio.service`` each in its own transaction: claim, transcribe (outside any
transaction), store the transcript, extract conditions and price the rehab.

Failures:

- A recording that cannot be transcribed (corrupt, silent, too long, not audio, gone) or a
  missing model is a *permanent* failure: the reason is stored on the walkthrough
  (``failed``, ``error``, ``error_code``) and the job returns normally with it, so the worker
  carries on and RQ does not retry what cannot succeed.
- Anything else (the database or storage briefly away ...) is *transient*: the error is
  stored, marked as retrying, and re-raised so RQ's ``Retry`` runs the job again; when the
  retries are spent the walkthrough says so (``retries_exhausted``).

The job is safe to run twice: ``claim_transcription`` lets one job at a time work a
walkthrough and skips finished ones.

``preload()`` runs once when a worker of the ``transcribe`` queue starts. That worker does not
fork (``workers.main``: CTranslate2 hangs in a child forked from a process that loaded a
model, see ``domain.audio.whisper``), so the model preload loads (assembling and verifying the
weights on first use) serves every job the worker runs. It also re-enqueues walkthroughs whose
job was lost (accepted but never started, or claimed by a worker that died).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from rq import get_current_job
from rq.job import Job
from sqlmodel import Session, col, select

from core.config import get_settings
from domain.audio import service as audio_service
from domain.audio import whisper
from domain.audio.enums import AudioErrorCode, WalkthroughStatus
from domain.audio.models import Walkthrough
from store.base import utcnow
from store.db import get_engine, session_scope
from workers.queues import enqueue

log = logging.getLogger(__name__)

QUEUE = "transcribe"
# A queued walkthrough whose job has not started after this long is enqueued again.
QUEUED_STALE_S = 600


def enqueue_transcription(
    org_id: uuid.UUID | str, walkthrough_id: uuid.UUID | str, job_id: str
) -> Job:
    """Put one transcription job for the walkthrough on the ``transcribe`` queue."""
    job: Job = enqueue(
        transcribe_walkthrough, str(org_id), str(walkthrough_id), queue=QUEUE, job_id=job_id
    )
    return job


def transcribe_walkthrough(org_id: str, walkthrough_id: str) -> dict[str, Any]:
    """Transcribe a walkthrough's recording, extract its conditions and price the rehab."""
    org = uuid.UUID(org_id)
    wid = uuid.UUID(walkthrough_id)
    job = get_current_job()
    with session_scope() as session:
        claim = audio_service.claim_transcription(
            session=session, org_id=org, walkthrough_id=wid, job_id=job.id if job else None
        )
    if claim is None:
        return {"walkthrough_id": walkthrough_id, "status": "skipped"}
    try:
        figures: dict[str, Any] = {}
        if claim.stage == "transcribe":
            if claim.document_id is None:
                raise audio_service.InvalidWalkthroughInput("The walkthrough has no recording.")
            with Session(get_engine()) as session:
                transcript = audio_service.transcribe_recording(
                    session=session,
                    org_id=org,
                    document_id=claim.document_id,
                    max_duration_s=get_settings().audio_max_duration_s,
                )
            figures = {
                "duration_s": transcript.duration_s,
                "wall_s": transcript.wall_s,
                "language": transcript.language,
                "model": transcript.model,
            }
            with session_scope() as session:
                audio_service.record_transcript(
                    session=session, org_id=org, walkthrough_id=wid, transcript=transcript
                )
        with session_scope() as session:
            result = audio_service.extract_and_estimate(
                session=session, org_id=org, walkthrough_id=wid
            )
            summary = {
                "conditions": len(result.conditions),
                "rehab_total": result.rehab_estimate["total"],
            }
    except Exception as exc:
        return _fail(org, wid, exc, job)
    log.info("walkthrough transcribed", extra={"walkthrough_id": walkthrough_id, **figures})
    return {"walkthrough_id": walkthrough_id, "status": "completed", **figures, **summary}


def _fail(org: uuid.UUID, wid: uuid.UUID, exc: Exception, job: Job | None) -> dict[str, Any]:
    """Store why the job failed; return for a permanent failure, re-raise a transient one."""
    failure = audio_service.failure_for(exc)
    if failure is None and isinstance(exc, audio_service.InvalidWalkthroughInput):
        failure = (AudioErrorCode.document_missing, str(exc))
    if failure is not None:
        code, message = failure
        with session_scope() as session:
            audio_service.record_failure(
                session=session, org_id=org, walkthrough_id=wid, code=code, message=message
            )
        log.warning(
            "walkthrough failed", extra={"walkthrough_id": str(wid), "error_code": code.value}
        )
        return {
            "walkthrough_id": str(wid),
            "status": "failed",
            "error_code": code.value,
            "error": message,
        }
    retries_left = (job.retries_left or 0) if job is not None else 0
    if retries_left:
        code = AudioErrorCode.transient
        message = f"{type(exc).__name__}: {exc} (will retry; {retries_left} retries left)"
    else:
        code = AudioErrorCode.retries_exhausted
        message = f"{type(exc).__name__}: {exc} (gave up: no retries left)"
    try:
        with session_scope() as session:
            audio_service.record_failure(
                session=session, org_id=org, walkthrough_id=wid, code=code, message=message
            )
    except Exception:
        log.exception("could not record the failure", extra={"walkthrough_id": str(wid)})
    raise exc


def _job_lost(job_id: str | None) -> bool:
    """True when the walkthrough's job will not run (gone, ended, or its worker died).

    When Redis cannot tell, the job is taken as alive: enqueuing would fail anyway.
    """
    if job_id is None:
        return True
    from store.redis_client import get_redis
    from workers.main import job_will_run

    try:
        return not job_will_run(get_redis(), job_id)
    except Exception:  # noqa: BLE001 - Redis unreachable: leave the walkthrough for later
        log.warning("could not look up a transcription job", extra={"job_id": job_id})
        return False


def _forget_job(job_id: str) -> None:
    """Delete a dead transcription job, so RQ never retries it next to its replacement."""
    from rq.serializers import JSONSerializer

    from store.redis_client import get_redis

    try:
        job = Job.fetch_many([job_id], connection=get_redis(), serializer=JSONSerializer)[0]
        if job is not None:
            job.delete()
    except Exception:  # noqa: BLE001 - a retry of it finds the walkthrough taken and stops
        log.warning("could not delete a lost transcription job", extra={"job_id": job_id})


def requeue_stalled(*, queued_stale_s: int = QUEUED_STALE_S) -> int:
    """Enqueue again the walkthroughs whose job was lost; return how many.

    Lost means ``queued`` for ``queued_stale_s`` and its job will not run (gone from Redis),
    or ``transcribing`` while its job will not run (its worker was killed: found at once) or
    for longer than the job timeout. System-wide: it runs at worker start and with every
    WhatsApp sweep (``workers.whatsapp.sweep_job``).
    """
    now = utcnow()
    stale_claim = now - timedelta(seconds=audio_service.STALE_CLAIM_S)
    dead_jobs: list[str] = []
    with session_scope() as session:
        rows = session.exec(
            select(Walkthrough)
            .where(
                (
                    (col(Walkthrough.status) == WalkthroughStatus.queued.value)
                    & (col(Walkthrough.updated_at) < now - timedelta(seconds=queued_stale_s))
                )
                | (
                    (col(Walkthrough.status) == WalkthroughStatus.transcribing.value)
                    & (
                        (col(Walkthrough.started_at) < stale_claim)
                        | col(Walkthrough.job_id).is_not(None)
                    )
                )
            )
            .limit(500)
            .with_for_update(skip_locked=True)
        ).all()
        jobs = []
        for walkthrough in rows:
            stale = walkthrough.started_at is not None and walkthrough.started_at < stale_claim
            transcribing = walkthrough.status == WalkthroughStatus.transcribing
            lost = _job_lost(walkthrough.job_id)
            if not lost and not (transcribing and stale):
                continue
            if lost and transcribing and walkthrough.job_id:
                dead_jobs.append(walkthrough.job_id)
            walkthrough.job_id = audio_service.new_job_id(walkthrough.id)
            if transcribing:
                walkthrough.status = WalkthroughStatus.queued
            session.add(walkthrough)
            jobs.append((walkthrough.org_id, walkthrough.id, walkthrough.job_id))
    for job_id in dead_jobs:
        _forget_job(job_id)
    for org_id, walkthrough_id, job_id in jobs:
        enqueue_transcription(org_id, walkthrough_id, job_id)
    if jobs:
        log.warning("re-enqueued lost transcription jobs", extra={"count": len(jobs)})
    return len(jobs)


def preload() -> None:
    """In the (non-forking) transcribe worker: re-enqueue lost jobs; load Whisper once."""
    requeue_stalled()
    loaded = whisper.get_model()
    log.info("whisper model ready", extra={"path": str(loaded.path), "model": loaded.label})
