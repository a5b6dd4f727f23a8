"""Jobs of the voice channel: place calls, dispatch scheduled calls and retries, recordings.

- ``place_now(session, call_id)``: place a queued call right away (``POST /calls/initiate``);
  when Twilio cannot be reached the call stays queued and ``place_call`` is enqueued.
- ``place_call(call_id)`` (default queue): the same as a job, retried by RQ; when the retries
  are spent the call counts as failed (and is retried later like an unanswered one).
- ``dispatch_due()`` (default): first sweep calls left ``queued`` without a CallSid (never
  placed: a crash, a lost job) into a failure retried per their schedule
  (``service.sweep_stuck_calls``), then turn due ``call_schedules`` (scheduled calls, retries
  after no answer or busy, requests from ``contractor.call.requested``) into calls and place
  them. It reschedules itself every ``DISPATCH_INTERVAL_S`` (a Redis lease keeps one loop); a
  retry also gets a run at its own time (``schedule_dispatch_at``, best effort: with Redis
  down the periodic run picks it up).
- Placing checks the contractor again right before Twilio is asked (opted out since, outside
  their hours by the time a retry runs): the call is then cancelled unplaced and its schedule
  cancelled or moved to their next allowed hour (``service.check_before_placing``).
- ``store_recording(call_id)``: fetch a finished recording from Twilio (its API host only,
  once per ``RecordingSid``), store it as a document, then ``transcribe_recording``
  (transcribe queue, Whisper), which keeps the transcript on the call and merges into the
  call what only the recording said (``service.apply_recording_transcript``).

The database is the source of truth: a schedule is claimed with ``SKIP LOCKED`` and becomes a
call row before Twilio is asked, so a dispatcher that runs twice places each call once.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from rq import get_current_job
from sqlmodel import Session

from channels import voice as voice_channel
from store.base import utcnow
from store.db import session_scope

log = logging.getLogger(__name__)

QUEUE = "default"
DISPATCH_INTERVAL_S = 30
# The chain of dispatches (``workers.main.keep_chain``): one pending, whatever restarts.
DISPATCH_CHAIN = "voice-dispatcher"


def _final_attempt() -> bool:
    job = get_current_job()
    if job is None:
        return True
    return not (job.retries_left and job.retries_left > 0)


def place_now(session: Session, call_id: uuid.UUID) -> str:
    """Place a committed, queued call in the caller's session; the caller commits after.

    Returns ``placed``, ``recorded``, ``failed``, ``rescheduled``/``cancelled`` (not callable
    any more) or ``retrying`` (Twilio unreachable: a job tries again; if it cannot be
    enqueued, the dispatcher's sweep retries the call later).
    """
    from domain.voice import service

    call = service.lock_call(session=session, call_id=call_id)
    if call is None:
        return "missing"
    try:
        return voice_channel.place(session, call)
    except voice_channel.TransientPlaceError as exc:
        call.note = str(exc)[:2000]
        session.add(call)
        session.flush()
        try:
            from workers.queues import enqueue

            enqueue(place_call, str(call_id), queue=QUEUE)
        except Exception:
            log.exception("could not enqueue a call; the dispatcher's sweep retries it")
        return "retrying"


def place_call(call_id: str) -> str:
    """Job: place one queued call (raises to be retried while Twilio is unreachable)."""
    from domain.voice import service

    cid = uuid.UUID(call_id)
    with session_scope() as session:
        call = service.lock_call(session=session, call_id=cid)
        if call is None:
            return "missing"
        try:
            return voice_channel.place(session, call)
        except voice_channel.TransientPlaceError as exc:
            if not _final_attempt():
                raise
            service.mark_place_failed(session=session, call=call, error=str(exc))
            return "failed"


def dispatch_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Place every due scheduled call; returns counts of what happened."""
    from domain.voice import service

    counts = {"swept": 0, "claimed": 0, "placed": 0, "recorded": 0, "failed": 0, "retrying": 0}
    try:
        with session_scope() as session:
            counts["swept"] = len(service.sweep_stuck_calls(session=session, now=now))
    except Exception:
        log.exception("sweeping calls never placed failed")
    with session_scope() as session:
        calls = service.claim_due_schedules(session=session, now=now)
        ids = [call.id for call in calls]
    counts["claimed"] = len(ids)
    for call_id in ids:
        try:
            with session_scope() as session:
                outcome = place_now(session, call_id)
        except Exception:
            log.exception("placing a scheduled call failed", extra={"call_id": str(call_id)})
            outcome = "failed"
        counts[outcome] = counts.get(outcome, 0) + 1
    if ids or counts["swept"]:
        log.info("voice dispatch", extra=counts)
    return counts


def dispatch_job() -> dict[str, int]:
    """Job: one dispatch, then schedule the next (needs a worker with the scheduler)."""
    from workers.main import running_job_id

    try:
        return dispatch_due()
    finally:
        schedule_dispatcher(continuing=running_job_id())


def schedule_dispatcher(*, continuing: str | None = None) -> bool:
    """Keep one dispatch scheduled; ``continuing``: the dispatch job scheduling its next.

    One chain, whatever restarts (``workers.main.keep_chain``): a caller schedules a dispatch
    only when none will still run; a duplicate chain left from before ends.
    """
    from workers.main import keep_chain

    try:
        return keep_chain(
            DISPATCH_CHAIN,
            dispatch_job,
            DISPATCH_INTERVAL_S,
            queue=QUEUE,
            current_job_id=continuing,
        )
    except Exception:
        log.exception("could not schedule the call dispatcher")
        return False


def schedule_dispatch_at(when: dt.datetime) -> bool:
    """Run a dispatch at ``when`` (a retry's time), and keep the periodic loop alive.

    Best effort, called after the schedule is committed: with Redis unreachable it logs and
    returns False (never raises), and the periodic dispatcher places the call when it is due.
    """
    from workers.queues import get_queue

    try:
        get_queue(QUEUE).enqueue_at(max(when, utcnow()), dispatch_due, job_timeout=120)
    except Exception:
        log.exception("could not schedule a dispatch; the periodic dispatcher will place it")
        return False
    schedule_dispatcher()
    return True


def preload() -> None:
    """Import the call graph before the worker forks, and make sure dispatching runs."""
    import importlib

    importlib.import_module("agent.call_graph")
    schedule_dispatcher()


# --- recordings --------------------------------------------------------------------------


def store_recording(call_id: str) -> dict[str, Any]:
    """Job: download a call's recording from Twilio, store it, and enqueue its transcription.

    Once per recording: a call whose recording is stored already is not fetched again. The
    URL is checked again here (Twilio's API host only); a refused, oversized or unreadable
    recording is noted on the call and the job ends (retrying cannot help); a network error
    is raised for RQ to retry, and noted once the retries are spent.
    """
    from channels import twilio_client
    from core.config import get_settings
    from domain.documents import service as documents_service
    from domain.documents.enums import DocumentKind, DocumentSource
    from domain.voice import service
    from domain.voice.models import Call
    from workers.queues import enqueue

    cid = uuid.UUID(call_id)
    with session_scope() as session:
        call = session.get(Call, cid)
        if call is None:
            return {"call_id": call_id, "status": "missing"}
        if call.recording_document_id is not None:
            return {"call_id": call_id, "status": "already stored"}
        recording = (call.outcome_data or {}).get("recording") or {}
        url = str(recording.get("url") or "")
    if not url:
        return {"call_id": call_id, "status": "no recording"}
    settings = get_settings()
    problem: str | None = None
    try:
        # Twilio serves a recording as WAV (8 kHz mono on the inbound track) at <url>.wav.
        media = twilio_client.fetch_media(
            url if url.endswith((".wav", ".mp3")) else f"{url}.wav",
            max_bytes=settings.max_upload_bytes,
            settings=settings,
        )
    except (twilio_client.MediaRefused, twilio_client.MediaTooLarge) as exc:
        problem = f"not fetched: {exc}"
    except twilio_client.MediaFetchError as exc:
        if not _final_attempt():
            raise
        problem = f"not fetched after retries: {exc}"
    if problem is not None:
        _recording_problem(cid, problem)
        return {"call_id": call_id, "status": "refused", "reason": problem}
    sniffed = documents_service.sniff_content_type(media.data) or ""
    extension = {"audio/wav": ".wav", "audio/mpeg": ".mp3"}.get(sniffed, "")
    with session_scope() as session:
        call = service.lock_call(session=session, call_id=cid)
        if call is None:
            return {"call_id": call_id, "status": "missing"}
        if call.recording_document_id is not None:  # a second job got here first
            return {"call_id": call_id, "status": "already stored"}
        try:
            with session.begin_nested():
                document = documents_service.store_document(
                    session=session,
                    org_id=call.org_id,
                    data=media.data,
                    filename=f"call-{call.id}{extension}",
                    declared_content_type=media.content_type,
                    kind=DocumentKind.voice_note,
                    source=DocumentSource.voice_call,
                    entity_type="call",
                    entity_id=call.id,
                )
        except documents_service.DocumentRejected as exc:
            service.recording_problem(session=session, call=call, reason=f"not stored: {exc}")
            return {"call_id": call_id, "status": "refused", "reason": str(exc)}
        service.attach_recording(session=session, call=call, document_id=document.id)
    enqueue(transcribe_recording, call_id, queue="transcribe")
    return {"call_id": call_id, "status": "stored", "document_id": str(document.id)}


def _recording_problem(call_id: uuid.UUID, reason: str) -> None:
    from domain.voice import service

    log.warning("recording not stored", extra={"call_id": str(call_id), "reason": reason})
    with session_scope() as session:
        call = service.lock_call(session=session, call_id=call_id)
        if call is not None:
            service.recording_problem(session=session, call=call, reason=reason)


def transcribe_recording(call_id: str) -> dict[str, Any]:
    """Job (transcribe queue): Whisper's transcript of a stored call recording, then its facts.

    Whisper runs once per recording (a replayed job finds the transcript kept); the facts
    only the recording holds are merged into the call by
    ``service.apply_recording_transcript`` (bid update, action items) in the transaction that
    keeps the transcript. A recording Whisper cannot read is noted on the call.
    """
    from domain.audio import whisper
    from domain.documents import service as documents_service
    from domain.voice import service
    from domain.voice.models import Call

    cid = uuid.UUID(call_id)
    with session_scope() as session:
        call = session.get(Call, cid)
        if call is None or call.recording_document_id is None:
            return {"call_id": call_id, "status": "no recording"}
        already = service.recording_transcribed(call)
        data = (
            b""
            if already
            else documents_service.read_document_bytes(
                session=session, org_id=call.org_id, document_id=call.recording_document_id
            )
        )
    transcript = None
    if not already:
        try:
            transcript = whisper.transcribe(data, max_duration_s=3600)
        except (whisper.AudioError, whisper.WhisperModelError) as exc:
            _recording_problem(cid, f"not transcribed: {exc}")
            return {"call_id": call_id, "status": "failed", "reason": str(exc)}
    with session_scope() as session:
        call = service.lock_call(session=session, call_id=cid)
        if call is None:
            return {"call_id": call_id, "status": "missing"}
        if transcript is not None and not service.recording_transcribed(call):
            service.store_recording_transcript(
                session=session,
                call=call,
                text=transcript.text,
                model=transcript.model,
                segments=[segment.text for segment in transcript.segments],
            )
        merge = service.apply_recording_transcript(session=session, call=call)
    return {
        "call_id": call_id,
        "status": "already transcribed" if already else "transcribed",
        "words": len(transcript.text.split()) if transcript else None,
        "added": merge.get("added", []),
        "disagreements": len(merge.get("disagreements", [])),
    }
