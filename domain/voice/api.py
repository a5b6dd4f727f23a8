"""Calls API: call a contractor now or later, read calls and transcripts, see availability.

Admins and analysts only. Errors: 404 for an unknown call, contractor or project (or one of
another organisation); 409 for a contractor who opted out of calls, one whose current number
reached someone else on the last answered call (until their phone is changed), or one whose
call about the project is already scheduled; 422 for invalid values
(no phone, a project purpose without a project, a time without a time zone or in the past).

``POST /calls/initiate`` places the call at once (201), or without Twilio credentials records
it in the outbox (201, ``status: recorded``). Outside the contractor's calling hours, or with
every call slot busy, it is scheduled for the next allowed moment instead (202, with
``scheduled_for`` and the reason).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from core.config import get_settings
from core.deps import SessionDep, Writer
from core.paging import Offset, send_total, total_count
from core.timestamps import utc, utc_text
from domain.auth.service import record_audit
from domain.voice import service
from domain.voice.enums import CallPurpose, CallStatus, ScheduleStatus
from domain.voice.models import (
    AgentAvailability,
    Call,
    CallRead,
    CallRequest,
    CallSchedule,
    CallTranscriptRead,
    ContractorAvailability,
    InitiateResult,
    LeadCallRequest,
    ScheduleRead,
    ScheduleRequest,
    TranscriptTurnRead,
)
from store.base import utcnow

router = APIRouter(tags=["calls"])

CallId = Annotated[uuid.UUID, Path(alias="id", description="The call's id")]

# How far ahead a call may be scheduled: later than a year is a typo (9999-12-31), not a plan.
MAX_SCHEDULE_AHEAD_DAYS = 365

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such call, contractor or project in your organisation"},
    409: {
        "description": "The contractor opted out of calls, their current number reached "
        "someone else on the last answered call (update their phone first), or a call to them "
        "about the project is already scheduled"
    },
    422: {"description": "A value is invalid; the message says which"},
}


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn the service's typed errors into HTTP errors with its message."""
    try:
        yield
    except service.CallNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except (service.OptedOut, service.ScheduleConflict) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except service.VoiceInputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc


def call_read(call: Call) -> CallRead:
    """The API view of a call, with its TwiML URL."""
    return CallRead.model_validate(call, update={"twiml_url": service.twiml_url(call.id)})


def schedule_read(schedule: CallSchedule) -> ScheduleRead:
    """The API view of a scheduled call (times in UTC, as a later read gives them)."""
    return ScheduleRead.model_validate(
        schedule,
        update={
            "scheduled_for": utc(schedule.scheduled_for),
            "created_at": utc(schedule.created_at),
        },
    )


@router.post(
    "/calls/initiate",
    response_model=InitiateResult,
    status_code=status.HTTP_201_CREATED,
    summary="Call a contractor now about a project (or schedule it for their next allowed hour)",
    responses=_ERRORS
    | {202: {"model": InitiateResult, "description": "Scheduled for later; the reason says why"}},
)
def initiate_call(
    body: CallRequest, session: SessionDep, principal: Writer, response: Response
) -> InitiateResult:
    """Place a call to ask for a bid, to schedule work or to follow up.

    Placed through Twilio at once, or recorded in the outbox without Twilio credentials.
    Outside the contractor's calling hours (their own, default 08:00-20:00 in their time
    zone) the call is not placed: it is scheduled for the next allowed moment (202).
    """
    from workers import voice as voice_jobs

    with _mapped_errors():
        result = service.request_call(
            session=session,
            org_id=principal.org_id,
            contractor_id=body.contractor_id,
            project_id=body.project_id,
            purpose=body.purpose,
            requested_by=principal.user_id,
        )
    target = result.call or result.schedule
    assert target is not None
    record_audit(
        session=session,
        principal=principal,
        action="initiate" if result.call else "schedule",
        entity="call" if result.call else "call_schedule",
        entity_id=target.id,
        changes={
            "contractor_id": str(body.contractor_id),
            "project_id": str(body.project_id) if body.project_id else None,
            "purpose": body.purpose.value,
            "reason": result.reason,
        },
    )
    session.commit()
    if result.schedule is not None:
        voice_jobs.schedule_dispatch_at(result.schedule.scheduled_for)
        response.status_code = status.HTTP_202_ACCEPTED
        return InitiateResult(
            status="scheduled",
            schedule=schedule_read(result.schedule),
            scheduled_for=utc(result.schedule.scheduled_for),
            reason=result.reason,
        )
    assert result.call is not None
    outcome = voice_jobs.place_now(session, result.call.id)
    session.commit()
    call = service.get_call(session=session, org_id=principal.org_id, call_id=result.call.id)
    return InitiateResult(
        status={"placed": "placed", "recorded": "recorded"}.get(outcome, outcome),
        call=call_read(call),
        reason=call.note,
    )


@router.post(
    "/calls/schedule",
    response_model=ScheduleRead,
    status_code=status.HTTP_201_CREATED,
    summary="Schedule a call to a contractor (moved into their calling hours)",
    responses=_ERRORS,
)
def schedule_call(body: ScheduleRequest, session: SessionDep, principal: Writer) -> ScheduleRead:
    """Schedule a call for ``scheduled_for``, moved into the contractor's hours if needed.

    A time outside the contractor's hours moves to the next allowed moment (``reason`` says
    so). No answer or busy is retried up to ``VOICE_MAX_ATTEMPTS`` times with back-off.
    """
    from workers import voice as voice_jobs

    latest = utcnow() + dt.timedelta(days=MAX_SCHEDULE_AHEAD_DAYS)
    if body.scheduled_for.tzinfo is not None and body.scheduled_for > latest:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"scheduled_for {body.scheduled_for.isoformat()} is too far ahead: a call "
            f"can be scheduled at most {MAX_SCHEDULE_AHEAD_DAYS} days ahead (until "
            f"{latest.date().isoformat()})",
        )
    with _mapped_errors():
        result = service.request_call(
            session=session,
            org_id=principal.org_id,
            contractor_id=body.contractor_id,
            project_id=body.project_id,
            purpose=body.purpose,
            requested_by=principal.user_id,
            at=body.scheduled_for,
        )
    assert result.schedule is not None
    record_audit(
        session=session,
        principal=principal,
        action="schedule",
        entity="call_schedule",
        entity_id=result.schedule.id,
        changes={
            "contractor_id": str(body.contractor_id),
            "scheduled_for": utc_text(result.schedule.scheduled_for),
            "reason": result.reason,
        },
    )
    session.commit()
    # Best effort after the commit: with Redis down the periodic dispatcher places it.
    voice_jobs.schedule_dispatch_at(result.schedule.scheduled_for)
    return schedule_read(result.schedule)


@router.post(
    "/calls/leads",
    response_model=ScheduleRead,
    status_code=status.HTTP_201_CREATED,
    summary="Qualify a seller lead by phone (only with their consent to automated calls)",
    responses=_ERRORS,
)
def submit_lead(body: LeadCallRequest, session: SessionDep, principal: Writer) -> ScheduleRead:
    """Record a seller lead and plan the qualification call (``lead.qualification.needed``).

    With ``consent_to_call: true`` and a ``consent_source`` the voice agent calls the lead
    09:00-20:00 Mon-Sat in their ``timezone`` (``status: scheduled``); without consent the
    call is left to the team (``status: for_team``, ``reason`` says why). A number on the
    do-not-call list, or with a lead call already pending, is recorded ``cancelled``.
    """
    from workers import voice as voice_jobs

    with _mapped_errors():
        schedule = service.submit_lead(
            session=session, org_id=principal.org_id, lead=body, requested_by=principal.user_id
        )
    record_audit(
        session=session,
        principal=principal,
        action="submit_lead",
        entity="call_schedule",
        entity_id=schedule.id,
        changes={"status": str(schedule.status), "consent_to_call": body.consent_to_call},
    )
    session.commit()
    if schedule.status == ScheduleStatus.scheduled:
        voice_jobs.schedule_dispatch_at(schedule.scheduled_for)
    return schedule_read(schedule)


@router.get(
    "/calls/schedules",
    response_model=list[ScheduleRead],
    summary="Calls scheduled, left to the team, done or cancelled (X-Total-Count: how many)",
    responses=total_count("scheduled calls"),
)
def list_schedules(
    response: Response,
    session: SessionDep,
    principal: Writer,
    schedule_status: Annotated[ScheduleStatus | None, Query(alias="status")] = None,
    purpose: CallPurpose | None = None,
    project_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 50,
    offset: Offset = 0,
) -> list[ScheduleRead]:
    """Scheduled calls, soonest first (every status unless one is given)."""
    rows = service.list_schedules(
        session=session,
        org_id=principal.org_id,
        status=schedule_status,
        project_id=project_id,
        purpose=purpose,
        limit=limit,
        offset=offset,
    )
    total = service.count_schedules(
        session=session,
        org_id=principal.org_id,
        status=schedule_status,
        project_id=project_id,
        purpose=purpose,
    )
    send_total(response, total)
    return [schedule_read(row) for row in rows]


@router.get(
    "/calls",
    response_model=list[CallRead],
    summary="List calls, the outbox included (X-Total-Count gives the number matching)",
    responses=total_count("calls"),
)
def list_calls(
    response: Response,
    session: SessionDep,
    principal: Writer,
    contractor_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    call_status: Annotated[CallStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 50,
    offset: Offset = 0,
) -> list[CallRead]:
    """The organisation's calls, newest first; queued calls not placed say why in ``note``."""
    calls = service.list_calls(
        session=session,
        org_id=principal.org_id,
        contractor_id=contractor_id,
        project_id=project_id,
        status=call_status,
        limit=limit,
        offset=offset,
    )
    total = service.count_calls(
        session=session,
        org_id=principal.org_id,
        contractor_id=contractor_id,
        project_id=project_id,
        status=call_status,
    )
    send_total(response, total)
    return [call_read(call) for call in calls]


@router.get(
    "/calls/{id}/transcript",
    response_model=CallTranscriptRead,
    summary="A call's transcript and what was taken from it",
    responses=_ERRORS,
)
def get_transcript(call_id: CallId, session: SessionDep, principal: Writer) -> CallTranscriptRead:
    """Every turn of the call in order, the facts heard and the action items.

    Facts: prices per scope line (or a total), start date, duration, exclusions, insurance.
    """
    with _mapped_errors():
        call = service.get_call(session=session, org_id=principal.org_id, call_id=call_id)
        turns = service.list_transcript(session=session, org_id=principal.org_id, call_id=call_id)
    data = call.outcome_data or {}
    return CallTranscriptRead(
        call=call_read(call),
        turns=[TranscriptTurnRead.model_validate(turn) for turn in turns],
        facts=data.get("facts") or {},
        action_items=list(data.get("action_items") or []),
        fact_sources=dict(data.get("fact_sources") or {}),
        recording_transcript=(data.get("recording_transcript") or {}).get("text"),
    )


@router.get(
    "/agents/availability",
    response_model=AgentAvailability,
    summary="Free call slots, scheduled calls, and which contractors can be called now",
)
def get_availability(
    session: SessionDep,
    principal: Writer,
    trade: Annotated[str | None, Query(max_length=100, description="e.g. roofing")] = None,
) -> AgentAvailability:
    """How many calls may start now, what is scheduled, and who may be called now.

    For each contractor: whether a call is allowed now (their hours in their time zone,
    opted out, no phone) and, if not, from when.
    """
    found = service.availability(session=session, org_id=principal.org_id, trade=trade)
    return AgentAvailability(
        checked_at=found.checked_at,
        max_concurrent_calls=found.max_concurrent_calls,
        active_calls=found.active_calls,
        free_slots=found.free_slots,
        twilio_configured=get_settings().twilio_configured,
        upcoming=[schedule_read(s) for s in found.upcoming],
        contractors=[
            ContractorAvailability(
                contractor_id=slot.contractor.id,
                name=slot.contractor.name,
                trades=list(slot.contractor.trades or []),
                callable_now=slot.callable_now,
                reason=slot.reason,
                local_time=slot.local_time,
                window=slot.window,
                next_allowed_at=slot.next_allowed_at,
            )
            for slot in found.contractors
        ],
    )
