"""The voice channel: placing calls through Twilio, and the TwiML webhooks of a call.

Placing (``place_call``): ``client.calls.create(to, from_, url=<answer URL>,
status_callback=<status URL>, machine_detection="DetectMessageEnd")`` through the httpx-based
Twilio client (tests mock it with respx). Answering-machine detection runs synchronously, so
the answer webhook already knows whether a person or a machine picked up: a machine gets a
short message with the callback number (and a WhatsApp text follows), a person the greeting.
Without Twilio credentials the call stays ``queued`` in the outbox with its TwiML URL, and
``dealdesk simulate call`` plays a contractor against these same webhooks.

Webhooks (all under ``/api/v1/webhook/voice/{callId}/``, all checked against Twilio's
signature on PUBLIC_BASE_URL + path + query, forged or unsigned: 403):

- ``answer``: the greeting (turn 0) as ``<Gather input="speech"><Say>…</Say></Gather>``.
- ``gather?turn=N``: the contractor's words (``SpeechResult``) are turn N, the agent's reply
  turn N+1 (from ``agent.call_graph``). A replayed post for a turn already answered gets the
  same TwiML and writes nothing; a turn that was never asked is refused (409).
- ``status``: Twilio's status callback (no answer and busy are retried; an answered call is
  finalised: bid, action items, events).
- ``recording``: a finished recording (the inbound track: the contractor's voice) is noted
  once per ``RecordingSid``; a ``RecordingUrl`` off Twilio's hosts is refused (400, never
  fetched); jobs fetch, store and transcribe it, and merge what only it said into the call.

Every ``<Say>`` is built with ``VoiceResponse``, which escapes the text: nothing the
contractor or a model says can add TwiML.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import Response
from sqlmodel import Session
from twilio.twiml.voice_response import VoiceResponse

from channels import twilio_client
from channels.whatsapp import TwilioForm
from core.config import get_settings
from core.deps import SessionDep
from core.observability import mask
from domain.voice import service
from domain.voice.models import Call
from domain.voice.service import StoredTurn

log = logging.getLogger(__name__)

router = APIRouter(tags=["voice"])

VOICE = "Polly.Joanna"
LANGUAGE = "en-US"
# Twilio's SpeechResult is short; anything longer is cut before it is stored or read.
MAX_SPEECH_CHARS = 2000
XML = "application/xml"
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]

CallId = Annotated[uuid.UUID, Path(alias="callId", description="The call's id")]


# --- TwiML -------------------------------------------------------------------------------


def twiml(call_id: uuid.UUID, turn: StoredTurn) -> str:
    """The TwiML for an agent turn: say it and listen for the answer, or say it and hang up."""
    response = VoiceResponse()
    if turn.done:
        response.say(turn.text, voice=VOICE, language=LANGUAGE)
        response.hangup()
        return str(response)
    gather = response.gather(
        input="speech",
        action=service.webhook_url(call_id, "gather", turn=turn.turn + 1),
        method="POST",
        speech_timeout="auto",
        action_on_empty_result=True,
        language=LANGUAGE,
    )
    gather.say(turn.text, voice=VOICE, language=LANGUAGE)
    return str(response)


def hangup_twiml(text: str | None = None) -> str:
    """TwiML that (optionally says something and) ends the call."""
    response = VoiceResponse()
    if text:
        response.say(text, voice=VOICE, language=LANGUAGE)
    response.hangup()
    return str(response)


def _xml(body: str) -> Response:
    return Response(content=body, media_type=XML)


# --- placing calls -----------------------------------------------------------------------


def outbox_note() -> str | None:
    """Why calls cannot be placed through Twilio now (None when they can)."""
    settings = get_settings()
    if not settings.twilio_configured:
        return (
            "recorded only: Twilio is not configured (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN); "
            "play it with `dealdesk simulate call --call <id> --say ...`"
        )
    if not settings.twilio_voice_from:
        return "recorded only: TWILIO_VOICE_FROM (the number calls come from) is not set"
    return None


class TransientPlaceError(RuntimeError):
    """Twilio could not be reached or asked us to retry; placing is tried again."""


def place(session: Session, call: Call, now: dt.datetime | None = None) -> str:
    """Place a queued call through Twilio (or record it in the outbox); the caller commits.

    Returns ``placed``, ``recorded``, ``failed`` (a permanent 4xx: not retried, an action
    item asks to fix the number), or ``rescheduled``/``cancelled`` when the contractor may not
    be called any more right before Twilio is asked (outside their hours by now, opted out
    since: ``service.check_before_placing``); raises ``TransientPlaceError`` for a network
    failure or a 5xx/429 from Twilio (the call stays queued to be tried again).
    """
    import httpx
    from twilio.base.exceptions import TwilioException, TwilioRestException

    settings = get_settings()
    if call.status != "queued" or call.call_sid:
        return "skipped"
    note = outbox_note()
    client = twilio_client.build_rest_client(settings) if note is None else None
    if client is None:
        service.mark_recorded(session=session, call=call, note=note or "recorded only")
        return "recorded"
    kwargs: dict[str, Any] = {
        "to": call.to_number,
        "from_": settings.twilio_voice_from,
        "url": service.twiml_url(call.id),
        "method": "POST",
        "status_callback": service.webhook_url(call.id, "status"),
        "status_callback_event": STATUS_EVENTS,
        "status_callback_method": "POST",
        "machine_detection": "DetectMessageEnd",
        "timeout": 25,
    }
    if settings.voice_record_calls:
        # The inbound track only: the contractor's voice (the agent's words are in the turns).
        kwargs |= {
            "record": True,
            "recording_track": "inbound",
            "recording_status_callback": service.webhook_url(call.id, "recording"),
            "recording_status_callback_event": ["completed"],
        }
    check = service.check_before_placing(session=session, call=call, now=now)
    if not check.allowed:
        log.info(
            "call not placed",
            extra={"call_id": str(call.id), "outcome": check.outcome, "reason": check.reason},
        )
        return check.outcome or "cancelled"
    try:
        created = client.calls.create(**kwargs)
    except TwilioRestException as exc:
        error = f"Twilio refused the call: HTTP {exc.status} (code {exc.code}): {exc.msg}"
        if exc.status == 429 or exc.status >= 500:
            raise TransientPlaceError(error) from exc
        service.mark_place_failed(
            session=session,
            call=call,
            error=error,
            permanent=True,
            code=exc.code if isinstance(exc.code, int) else None,
        )
        return "failed"
    except (httpx.HTTPError, TwilioException) as exc:
        raise TransientPlaceError(f"Twilio could not be reached: {type(exc).__name__}") from exc
    service.mark_placed(
        session=session, call=call, call_sid=str(created.sid), status=str(created.status)
    )
    log.info("call placed", extra={"call_id": str(call.id), "to": mask(call.to_number)})
    return "placed"


# --- webhooks ----------------------------------------------------------------------------


def _locked_call(session: Session, call_id: uuid.UUID, params: dict[str, str]) -> Call:
    """The call a signed webhook names, locked, and tied to the webhook's CallSid (else 403)."""
    call = service.lock_call(session=session, call_id=call_id)
    if call is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"call {call_id} not found")
    try:
        service.bind_call_sid(session=session, call=call, call_sid=params.get("CallSid", ""))
    except service.WebhookRefused as exc:
        log.warning("refused a voice webhook", extra={"call_id": str(call_id)})
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    return call


def _deliver_whatsapp(message_ids: list[uuid.UUID]) -> None:
    """Send the queued WhatsApp follow-up (the WhatsApp sweeper retries what this misses)."""
    if not message_ids:
        return
    try:
        from workers import whatsapp as whatsapp_jobs
        from workers.queues import enqueue

        for message_id in message_ids:
            enqueue(whatsapp_jobs.send_outbound, str(message_id), queue="default")
        whatsapp_jobs.schedule_sweeper()
    except Exception:
        log.exception("could not enqueue the voicemail follow-up; the sweeper will send it")


@router.post(
    "/webhook/voice/{callId}/answer",
    summary="Twilio's voice webhook when a call is answered: the greeting (or a voicemail)",
    response_class=Response,
    responses={
        200: {"content": {XML: {}}, "description": "TwiML"},
        403: {"description": "missing or invalid X-Twilio-Signature, or another CallSid"},
        404: {"description": "no such call"},
    },
)
def answer_webhook(call_id: CallId, params: TwilioForm, session: SessionDep) -> Response:
    """Greet the contractor and listen (a person), or leave a message (a machine)."""
    from agent import call_graph

    call = _locked_call(session, call_id, params)
    existing = service.stored_turn(session=session, call=call, turn=0)
    if existing is not None:
        session.commit()
        return _xml(twiml(call.id, existing))
    if call.status in service.TERMINAL_STATUSES:
        session.commit()
        return _xml(hangup_twiml())
    answered_by = (params.get("AnsweredBy") or "").strip() or None
    context = service.call_context(session=session, call=call)
    queued: list[uuid.UUID] = []
    if answered_by in service.MACHINE_ANSWERS:
        turn, queued = service.leave_voicemail(
            session=session, call=call, context=context, answered_by=answered_by or "machine"
        )
        service.end_conversation(session=session, call=call)
    else:
        turn = service.open_conversation(
            session=session, call=call, greeting=call_graph.greet(context), answered_by=answered_by
        )
    session.commit()
    _deliver_whatsapp(queued)
    return _xml(twiml(call.id, turn))


def _confidence(raw: str | None) -> Decimal | None:
    try:
        value = Decimal(str(raw)) if raw else None
    except InvalidOperation:
        return None
    if value is None or not value.is_finite() or not 0 <= value <= 1:
        return None
    return value.quantize(Decimal("0.01"))


@router.post(
    "/webhook/voice/{callId}/gather",
    summary="Twilio's voice webhook with the contractor's words: the agent's next turn",
    response_class=Response,
    responses={
        200: {"content": {XML: {}}, "description": "TwiML"},
        403: {"description": "missing or invalid X-Twilio-Signature, or another CallSid"},
        404: {"description": "no such call"},
        409: {"description": "a turn that was never asked"},
    },
)
def gather_webhook(
    call_id: CallId,
    params: TwilioForm,
    session: SessionDep,
    turn: Annotated[int, Query(ge=1, le=1000, description="the turn this answer is")],
) -> Response:
    """Store what the contractor said (once per turn) and answer with the agent's next turn."""
    from agent import call_graph

    call = _locked_call(session, call_id, params)
    expected = service.expected_turn(session=session, call=call)
    final = (call.outcome_data or {}).get("final_turn")
    if turn < expected:
        # A replay: the answer to this turn was stored; say the same reply again.
        replay = service.stored_turn(session=session, call=call, turn=turn + 1)
        session.commit()
        return _xml(twiml(call.id, replay) if replay else hangup_twiml())
    if turn > expected or final is not None or expected == 0:
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"turn {turn} was not asked on call {call_id}"
        )
    heard = (params.get("SpeechResult") or "").strip()[:MAX_SPEECH_CHARS]
    context = service.call_context(session=session, call=call)
    data = call.outcome_data or {}
    reply = call_graph.next_turn(
        context,
        utterance=heard,
        facts=data.get("facts"),
        dialogue=data.get("dialogue"),
        expect=data.get("expect"),
    )
    stored = service.record_exchange(
        session=session,
        call=call,
        turn=turn,
        heard=heard,
        confidence=_confidence(params.get("Confidence")),
        reply=reply,
    )
    if stored.done:
        service.end_conversation(session=session, call=call)
    session.commit()
    return _xml(twiml(call.id, stored))


def _whole_seconds(raw: str | None) -> int | None:
    """A duration Twilio gives in whole seconds; None for anything else.

    ``str.isdigit`` passes "²" (``int`` refuses it) and ``int`` refuses over 4,300 digits:
    only ASCII digits, at most eight of them (three years), are read.
    """
    value = (raw or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 8:
        return None
    return int(value)


def _kick_dispatcher(schedule: Any) -> None:
    """Make sure the dispatcher runs when a retry falls due."""
    if schedule is None or schedule.status != "scheduled":
        return
    try:
        from workers import voice as voice_jobs

        voice_jobs.schedule_dispatch_at(schedule.scheduled_for)
    except Exception:
        log.exception("could not schedule the call dispatcher; its periodic run will retry")


@router.post(
    "/webhook/voice/{callId}/status",
    summary="Twilio's call status callback: retries, voicemail follow-up, the call's outcome",
    response_class=Response,
    responses={
        200: {"content": {XML: {}}, "description": "empty TwiML"},
        403: {"description": "missing or invalid X-Twilio-Signature, or another CallSid"},
        404: {"description": "no such call"},
    },
)
def status_webhook(call_id: CallId, params: TwilioForm, session: SessionDep) -> Response:
    """Record the call's status; a final one finishes the call (retry, or bid and events)."""
    call = _locked_call(session, call_id, params)
    try:
        schedule = service.record_status(
            session=session,
            call=call,
            status=(params.get("CallStatus") or "").strip(),
            answered_by=(params.get("AnsweredBy") or "").strip() or None,
            duration_s=_whole_seconds(params.get("CallDuration")),
        )
    except service.VoiceInputError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    session.commit()
    _kick_dispatcher(schedule)
    return _xml(str(VoiceResponse()))


@router.post(
    "/webhook/voice/{callId}/recording",
    summary="Twilio's recording callback: store the recording and transcribe it",
    response_class=Response,
    responses={
        200: {"content": {XML: {}}, "description": "empty TwiML"},
        400: {"description": "a RecordingUrl that is not on Twilio's hosts (never fetched)"},
        403: {"description": "missing or invalid X-Twilio-Signature, or another CallSid"},
    },
)
def recording_webhook(call_id: CallId, params: TwilioForm, session: SessionDep) -> Response:
    """Note a finished recording once and enqueue the job that stores and transcribes it.

    Once per ``RecordingSid``: a replayed callback enqueues nothing. A ``RecordingUrl`` that
    is not https on Twilio's hosts is refused (400) and never fetched.
    """
    call = _locked_call(session, call_id, params)
    new = False
    sid = (params.get("RecordingSid") or "").strip()
    url = (params.get("RecordingUrl") or "").strip()
    if params.get("RecordingStatus", "completed") == "completed" and sid and url:
        try:
            twilio_client.check_media_url(url)
        except twilio_client.MediaRefused as exc:
            session.rollback()
            log.warning(
                "refused a recording URL off Twilio's hosts",
                extra={"call_id": str(call_id), "host": (urlsplit(url).hostname or "")[:100]},
            )
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, detail=f"RecordingUrl refused: {exc}"
            ) from exc
        new = service.note_recording(
            session=session,
            call=call,
            recording_sid=sid[:64],
            url=url[:500],
            duration_s=_whole_seconds(params.get("RecordingDuration")),
        )
    session.commit()
    if new:
        try:
            from workers import voice as voice_jobs
            from workers.queues import enqueue

            enqueue(voice_jobs.store_recording, str(call.id), queue="default")
        except Exception:
            log.exception("could not enqueue the recording job", extra={"call_id": str(call_id)})
    return _xml(str(VoiceResponse()))
