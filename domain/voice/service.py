"""Contractor and seller-lead calls: requesting, scheduling, retrying, transcripts, outcomes.

Every function is keyword-only and flushes, never commits (the caller owns the transaction).
Contractors, projects and bids belong to the construction module and are reached only through
``domain.construction.service``.

A call's life:

1. ``request_call`` checks the contractor (exists, has a phone, has not opted out, and the
   last answered call to their current phone did not reach someone else: 409) and the
   project, then either creates a ``queued`` call to place now or, outside the
   contractor's hours (or with every call slot busy), a ``call_schedules`` row for the next
   allowed moment. ``claim_due_schedules`` turns due schedules into calls (the dispatcher job).
2. The channel (``channels/voice.py``) places it through Twilio, or records it in the outbox
   (``mark_recorded``) when Twilio is not configured.
3. Webhooks write the conversation turn by turn (``answer``, ``record_exchange``), each turn
   once (``UNIQUE(call_id, turn)``), so a replayed webhook finds its turn already answered.
4. ``record_status`` ends it: an answered call is finalised (``finalize_call``: a bid through
   the construction service, action items, events); no answer, busy or failed is retried with
   back-off up to ``VOICE_MAX_ATTEMPTS`` and then marked failed; a voicemail gets a WhatsApp
   text. ``call.completed`` is published for every call that ends.
5. With ``VOICE_RECORD_CALLS=true`` the call is recorded (the inbound track: the contractor's
   voice). The recording callback is noted once per ``RecordingSid``; jobs fetch it from
   Twilio's API host, store it as a document and transcribe it with Whisper
   (``store_recording_transcript``); ``apply_recording_transcript`` then reads the
   contractor's side with the same extraction as the live speech results.

The recording rule (``extraction.merge_recording``): what the contractor said live and heard
read back is what they confirmed, and the recording never changes it. The recording only
fills what the live speech results missed: a scope line's price not heard on the call (not
one the contractor said they would not price), a total when the call gave no price at all, a
start date, site visit, duration, exclusions or insurance not heard. Where the recording says
something else than a confirmed fact, the confirmed value stays and a ``check_recording``
action item asks the team to listen. ``outcome_data["fact_sources"]`` says where each fact
came from (``speech`` or ``recording``); an added bid figure updates the call's bid through
``construction_service.update_bid`` (or creates the bid when the call gave no price).

Seller leads (``plan_lead_call``, from ``lead.qualification.needed``): an AI (artificial-voice)
call to a consumer needs their prior express consent under US law (the TCPA), so a lead is
dialled only when the event recorded ``consent_to_call: true`` with a ``consent_source``; else
the call is left ``for_team`` with an action item saying consent is missing. A consented lead
is scheduled in their hours (``hours.lead_windows``: 09:00-20:00 Mon-Sat in the lead's time
zone, else every zone of their number's area code, else both mainland coasts), one pending
call per number (a partial unique index), and claimed and placed by the dispatcher like a
contractor call. Right before Twilio is asked
(``check_before_placing``) consent, the do-not-call list and the hours are checked again. A
lead who says "don't call me" goes on the organisation's do-not-call list
(``mark_number_opted_out``, keyed on the E.164 number) and is never dialled again. The
conversation's answers (``domain.voice.lead.LeadFacts``: interest, timeline, asking price,
condition, occupancy, walkthrough) are stored on the call (``outcome_data["answers"]``) and
published with ``call.completed``; an agreed walkthrough publishes ``appointment.scheduled``
(kind ``walkthrough``), and ``action.items.created`` gives the team a one-line summary. A
voicemail leaves the callback number and no text message (no messaging consent).

Events: ``call.completed``, ``appointment.scheduled`` (a start date, site visit or walkthrough
agreed), ``action.items.created``, ``contractor.responded`` (construction subscribes).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from core.config import get_settings
from core.paging import count_rows
from core.timestamps import utc_text
from domain.auth import service as auth_service
from domain.construction import service as construction_service
from domain.construction.enums import BidSource, BidStatus
from domain.construction.models import BidCreate, Contractor, Project, ScopeItem
from domain.pricing.catalogue import DEFAULT_CATALOGUE
from domain.pricing.service import match_component
from domain.voice import hours
from domain.voice.enums import (
    CallOutcome,
    CallPurpose,
    CallStatus,
    ScheduleStatus,
    Speaker,
)
from domain.voice.extraction import (
    BID_FACTS,
    RECORDING,
    SPEECH,
    CallbackTime,
    CallFacts,
    RecordingMerge,
    ScopeLine,
    contractor_side,
    dollars,
    fact_values,
    facts_from_transcript,
    merge_recording,
    spoken_clock,
    spoken_date,
)
from domain.voice.lead import LeadFacts, team_summary
from domain.voice.models import (
    PENDING_SCHEDULE_STATUSES,
    Call,
    CallSchedule,
    CallTranscript,
    DoNotCall,
    LeadCallRequest,
)
from store.base import utcnow
from store.outbox import normalise_payload, publish

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
WEBHOOK_PREFIX = f"{API_PREFIX}/webhook/voice"
MAX_LIST_LIMIT = 200
# A queued call not placed within this long no longer holds a call slot.
SLOT_HOLD = dt.timedelta(minutes=10)
# With every slot busy, a call waits this long and tries again.
BUSY_RETRY = dt.timedelta(minutes=5)
# A contractor called about a project this recently is not called about it again by a
# "get bids" request (the first call may still ring, or they may answer the voicemail).
RECENT_CALL = dt.timedelta(hours=24)
# A call still queued without a CallSid this long after it was last touched was never placed
# (RQ's retries of ``place_call`` span about six minutes): the dispatcher's sweep fails it.
STALE_QUEUED = dt.timedelta(minutes=15)
# The partial unique index: one pending schedule per (organisation, project, contractor).
PENDING_INDEX = "uq_call_schedules_pending_contractor_project"
# The partial unique index: one pending lead-qualification schedule per (organisation, number).
PENDING_LEAD_INDEX = "uq_call_schedules_pending_lead_number"
# What ``lead.qualification.needed`` details keep (the lead's own words are not stored).
LEAD_DETAIL_KEYS = ("lead_id", "name", "property_id", "deal_id", "address", "listing_id", "source")
# Twilio error codes that say the number itself is wrong: fix it, do not retry.
NUMBER_ERRORS = frozenset({13223, 13224, 21211, 21214, 21217, 21401, 21407})
# Twilio statuses after which nothing more happens on the call.
TERMINAL_STATUSES = frozenset(
    {
        CallStatus.completed,
        CallStatus.busy,
        CallStatus.no_answer,
        CallStatus.failed,
        CallStatus.canceled,
    }
)
RETRY_STATUSES = frozenset({CallStatus.busy, CallStatus.no_answer, CallStatus.failed})
ACTIVE_STATUSES = (CallStatus.initiated, CallStatus.ringing, CallStatus.in_progress)
# What answering-machine detection says when a machine (or fax) picked up.
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)
# Purposes that talk about a project (and so need one).
PROJECT_PURPOSES = frozenset(
    {CallPurpose.bid_request, CallPurpose.scheduling, CallPurpose.follow_up}
)


class VoiceError(Exception):
    """Base class of the voice module's errors."""


class CallNotFound(VoiceError, LookupError):
    """No such call (or contractor, project) in the organisation."""


class VoiceInputError(VoiceError, ValueError):
    """A value the voice agent cannot work with (the message says which)."""


class OptedOut(VoiceError):
    """The contractor asked not to be called: no call is ever placed to them (HTTP 409)."""


class WrongNumber(OptedOut):
    """The last answered call to the contractor's current phone reached someone else.

    Treated like an opt-out (HTTP 409, skipped, a queued call cancelled) until their phone is
    changed: derived from the calls table, nothing is stored for it.
    """


class ScheduleConflict(VoiceError):
    """A call to the contractor about the project is already scheduled (HTTP 409)."""


class CallConflict(ScheduleConflict):
    """The same call (contractor, project, purpose) is already queued or in progress (409)."""

    def __init__(self, message: str, *, existing_id: uuid.UUID) -> None:
        """Keep the live call's id, for the caller to show."""
        super().__init__(message)
        self.existing_id = existing_id


class WebhookRefused(VoiceError):
    """A webhook that does not belong to the call it names (another CallSid, a turn not asked)."""


# --- reading calls -----------------------------------------------------------------------


def twiml_url(call_id: uuid.UUID, *, base: str | None = None) -> str:
    """Where Twilio fetches a call's first TwiML (on PUBLIC_BASE_URL, or ``base``)."""
    root = (base or get_settings().public_base_url).rstrip("/")
    return f"{root}{WEBHOOK_PREFIX}/{call_id}/answer"


def webhook_url(call_id: uuid.UUID, action: str, **query: int | str) -> str:
    """The public URL of one of a call's webhooks (``gather``, ``status``, ``recording``)."""
    base = f"{get_settings().public_base_url.rstrip('/')}{WEBHOOK_PREFIX}/{call_id}/{action}"
    if query:
        base += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return base


def get_call(*, session: Session, org_id: uuid.UUID, call_id: uuid.UUID) -> Call:
    """One call of the organisation; ``CallNotFound`` otherwise."""
    call = session.exec(select(Call).where(Call.id == call_id, Call.org_id == org_id)).first()
    if call is None:
        raise CallNotFound(f"call {call_id} not found")
    return call


def lock_call(*, session: Session, call_id: uuid.UUID) -> Call | None:
    """A call by id, locked for this transaction (webhooks: the row carries its organisation)."""
    return session.exec(select(Call).where(Call.id == call_id).with_for_update()).first()


def _calls_query(
    *,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID | None,
    project_id: uuid.UUID | None,
    status: CallStatus | None,
) -> SelectOfScalar[Call]:
    """The organisation's calls, filtered (no order, no paging)."""
    statement = select(Call).where(Call.org_id == org_id)
    if contractor_id is not None:
        statement = statement.where(Call.contractor_id == contractor_id)
    if project_id is not None:
        statement = statement.where(Call.project_id == project_id)
    if status is not None:
        statement = statement.where(Call.status == status)
    return statement


def list_calls(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    status: CallStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Call]:
    """The organisation's calls, newest first."""
    statement = _calls_query(
        org_id=org_id, contractor_id=contractor_id, project_id=project_id, status=status
    ).order_by(col(Call.created_at).desc(), col(Call.id))
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    return list(session.exec(statement.limit(limit).offset(max(0, offset))))


def count_calls(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    status: CallStatus | None = None,
) -> int:
    """How many calls ``list_calls`` with these filters would list over all pages."""
    return count_rows(
        session,
        _calls_query(
            org_id=org_id, contractor_id=contractor_id, project_id=project_id, status=status
        ),
    )


def list_transcript(
    *, session: Session, org_id: uuid.UUID, call_id: uuid.UUID
) -> list[CallTranscript]:
    """A call's turns in order."""
    get_call(session=session, org_id=org_id, call_id=call_id)
    return list(
        session.exec(
            select(CallTranscript)
            .where(CallTranscript.org_id == org_id, CallTranscript.call_id == call_id)
            .order_by(col(CallTranscript.turn))
        )
    )


def get_schedule(*, session: Session, org_id: uuid.UUID, schedule_id: uuid.UUID) -> CallSchedule:
    """One scheduled call of the organisation; ``CallNotFound`` otherwise."""
    schedule = session.exec(
        select(CallSchedule).where(CallSchedule.id == schedule_id, CallSchedule.org_id == org_id)
    ).first()
    if schedule is None:
        raise CallNotFound(f"scheduled call {schedule_id} not found")
    return schedule


def _schedules_query(
    *,
    org_id: uuid.UUID,
    status: ScheduleStatus | None,
    project_id: uuid.UUID | None,
    purpose: CallPurpose | None,
) -> SelectOfScalar[CallSchedule]:
    """The organisation's scheduled calls, filtered (no order, no paging)."""
    statement = select(CallSchedule).where(CallSchedule.org_id == org_id)
    if status is not None:
        statement = statement.where(CallSchedule.status == status)
    if project_id is not None:
        statement = statement.where(CallSchedule.project_id == project_id)
    if purpose is not None:
        statement = statement.where(CallSchedule.purpose == purpose)
    return statement


def list_schedules(
    *,
    session: Session,
    org_id: uuid.UUID,
    status: ScheduleStatus | None = ScheduleStatus.scheduled,
    project_id: uuid.UUID | None = None,
    purpose: CallPurpose | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[CallSchedule]:
    """Scheduled calls, soonest first."""
    statement = _schedules_query(
        org_id=org_id, status=status, project_id=project_id, purpose=purpose
    ).order_by(col(CallSchedule.scheduled_for), col(CallSchedule.id))
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    return list(session.exec(statement.limit(limit).offset(max(offset, 0))))


def count_schedules(
    *,
    session: Session,
    org_id: uuid.UUID,
    status: ScheduleStatus | None = ScheduleStatus.scheduled,
    project_id: uuid.UUID | None = None,
    purpose: CallPurpose | None = None,
) -> int:
    """How many scheduled calls ``list_schedules`` with these filters would list."""
    return count_rows(
        session,
        _schedules_query(org_id=org_id, status=status, project_id=project_id, purpose=purpose),
    )


# --- who may be called, and when ---------------------------------------------------------


def call_window(contractor: Contractor) -> hours.CallWindow:
    """The contractor's calling hours (their own, or the default window) in their time zone."""
    settings = get_settings()
    return hours.window_for(
        timezone=contractor.timezone,
        start=contractor.preferred_contact_start,
        end=contractor.preferred_contact_end,
        default_start=settings.voice_call_window_start,
        default_end=settings.voice_call_window_end,
    )


def _contractor(session: Session, org_id: uuid.UUID, contractor_id: uuid.UUID) -> Contractor:
    try:
        return construction_service.get_contractor(
            session=session, org_id=org_id, contractor_id=contractor_id
        )
    except construction_service.NotFoundError as exc:
        raise CallNotFound(str(exc)) from exc


def _project(session: Session, org_id: uuid.UUID, project_id: uuid.UUID) -> Project:
    try:
        return construction_service.get_project(
            session=session, org_id=org_id, project_id=project_id
        )
    except construction_service.NotFoundError as exc:
        raise CallNotFound(str(exc)) from exc


def _last_four(number: str | None) -> str:
    """A phone number as messages and logs show it: its last four digits only."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    return digits[-4:]


def wrong_number_calls(
    *, session: Session, org_id: uuid.UUID, contractors: Sequence[Contractor]
) -> dict[uuid.UUID, Call]:
    """The contractors whose current phone reached someone else, each with that call.

    For each contractor the latest answered call (an outcome other than no answer) to the
    number now on file decides: ``wrong_number`` blocks calls to them until the phone is
    changed. Calls to an earlier number, and calls never answered, do not count.
    """
    phones = {c.id: c.phone for c in contractors if c.phone}
    if not phones:
        return {}
    ended = func.coalesce(col(Call.ended_at), col(Call.created_at))
    rows = session.exec(
        select(Call)
        .where(
            Call.org_id == org_id,
            col(Call.contractor_id).in_(list(phones)),
            col(Call.to_number).in_(sorted(set(phones.values()))),
            col(Call.outcome).is_not(None),
            col(Call.outcome) != CallOutcome.no_answer.value,
        )
        .order_by(
            col(Call.contractor_id),
            col(Call.to_number),
            ended.desc(),
            col(Call.created_at).desc(),
            col(Call.id),
        )
        .distinct(col(Call.contractor_id), col(Call.to_number))
    ).all()
    return {
        call.contractor_id: call
        for call in rows
        if call.contractor_id is not None
        and phones.get(call.contractor_id) == call.to_number
        and call.outcome == CallOutcome.wrong_number
    }


def wrong_number_reason(call: Call) -> str:
    """Why a contractor is not called: their number (masked) reached someone else, and when."""
    when = (call.ended_at or call.created_at).date().isoformat()
    return (
        f"their number (ending {_last_four(call.to_number)}) reached someone else on {when}; "
        "update their phone first"
    )


def check_callable(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID,
    project_id: uuid.UUID | None,
    purpose: CallPurpose,
) -> Contractor:
    """The contractor, if a call about the project may ever be placed to them.

    ``CallNotFound`` for an unknown contractor or project, ``OptedOut`` for a contractor who
    asked not to be called, ``WrongNumber`` (an ``OptedOut``) for one whose current number
    reached someone else on the last answered call, ``VoiceInputError`` for no phone, a lead
    purpose, or a project purpose without a project.
    """
    purpose = CallPurpose(purpose)
    if purpose == CallPurpose.lead_qualification:
        raise VoiceInputError(
            "lead qualification calls go to sellers, not contractors; they are scheduled "
            "from lead.qualification.needed events"
        )
    contractor = _contractor(session, org_id, contractor_id)
    if contractor.opted_out:
        raise OptedOut(
            f"contractor {contractor.name} ({contractor.id}) asked not to be called; "
            "no call will be placed to them"
        )
    if not contractor.phone:
        raise VoiceInputError(f"contractor {contractor.name} ({contractor.id}) has no phone")
    wrong = wrong_number_calls(session=session, org_id=org_id, contractors=[contractor])
    if contractor.id in wrong:
        raise WrongNumber(
            f"contractor {contractor.name} ({contractor.id}) is not called: "
            f"{wrong_number_reason(wrong[contractor.id])} "
            f"(PATCH {API_PREFIX}/contractors/{contractor.id})"
        )
    if project_id is not None:
        _project(session, org_id, project_id)
    elif purpose in PROJECT_PURPOSES:
        raise VoiceInputError(f"a {purpose.value} call needs a project_id")
    return contractor


def active_calls(*, session: Session, org_id: uuid.UUID, now: dt.datetime | None = None) -> int:
    """Calls holding a line now: ringing or talking, or queued to be placed a moment ago."""
    now = now or utcnow()
    ringing = col(Call.status).in_([s.value for s in ACTIVE_STATUSES])
    just_queued = and_(
        col(Call.status) == CallStatus.queued.value,
        col(Call.note).is_(None),
        col(Call.updated_at) > now - SLOT_HOLD,
    )
    count = session.exec(
        select(func.count())
        .select_from(Call)
        .where(Call.org_id == org_id, or_(ringing, just_queued))
    ).one()
    return int(count)


def _lock_org_calls(session: Session, org_id: uuid.UUID) -> None:
    """Serialise the organisation's new calls until this transaction ends.

    A transaction-scoped advisory lock keyed on the organisation: a second request waits here,
    then counts the call slots and looks for a live duplicate with the first one's call
    committed, so neither ``VOICE_MAX_CONCURRENT_CALLS`` nor the duplicate guard is a
    check-then-insert race.
    """
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"voice.calls:{org_id}"},
    )


def _recorded_only() -> Any:
    """Calls Twilio was never asked to place (recorded in the outbox)."""
    return or_(
        col(Call.outcome_data)["recorded_only"].as_boolean().is_(True),
        func.coalesce(col(Call.note), "").startswith("recorded only"),
    )


def live_call(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID,
    project_id: uuid.UUID | None,
    purpose: CallPurpose,
    now: dt.datetime | None = None,
) -> Call | None:
    """The contractor's queued or in-progress call about the project for ``purpose``, if any.

    A call only recorded in the outbox (no Twilio) stays ``queued`` for good, so it counts for
    ``STALE_QUEUED`` after it was last touched, as long as a never-placed call would.
    """
    now = now or utcnow()
    live = col(Call.status).in_(
        [CallStatus.queued.value, *(status.value for status in ACTIVE_STATUSES)]
    )
    stale_record = and_(_recorded_only(), col(Call.updated_at) < now - STALE_QUEUED)
    same_project = (
        col(Call.project_id).is_(None) if project_id is None else Call.project_id == project_id
    )
    return session.exec(
        select(Call)
        .where(
            Call.org_id == org_id,
            Call.contractor_id == contractor_id,
            same_project,
            Call.purpose == CallPurpose(purpose),
            live,
            ~stale_record,
        )
        .order_by(col(Call.created_at).desc())
    ).first()


@dataclass(frozen=True)
class CallRequestResult:
    """A call to place now, or the schedule it was put on instead (and why)."""

    call: Call | None
    schedule: CallSchedule | None
    reason: str | None = None


def _new_schedule(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID | None,
    project_id: uuid.UUID | None,
    purpose: CallPurpose,
    when: dt.datetime,
    reason: str | None,
    requested_by: uuid.UUID | None,
    source_event_id: uuid.UUID | None = None,
    to_number: str | None = None,
    details: dict[str, Any] | None = None,
    status: ScheduleStatus = ScheduleStatus.scheduled,
) -> CallSchedule:
    schedule = CallSchedule(
        org_id=org_id,
        contractor_id=contractor_id,
        project_id=project_id,
        purpose=purpose,
        scheduled_for=when,
        status=status,
        attempts=0,
        max_attempts=get_settings().voice_max_attempts,
        to_number=to_number,
        requested_by=requested_by,
        source_event_id=source_event_id,
        reason=reason,
        details=details or {},
    )
    lead = purpose == CallPurpose.lead_qualification and to_number is not None
    if status in PENDING_SCHEDULE_STATUSES and lead:
        try:
            with session.begin_nested():
                session.add(schedule)
                session.flush()
        except IntegrityError as exc:
            if PENDING_LEAD_INDEX not in str(exc.orig):
                raise
            assert to_number is not None
            existing_lead = pending_lead_schedule(
                session=session, org_id=org_id, to_number=to_number
            )
            raise ScheduleConflict(
                "a lead qualification call to this number is already "
                + (
                    f"{existing_lead.status} (schedule {existing_lead.id})"
                    if existing_lead
                    else "pending"
                )
            ) from exc
        return schedule
    if not (status in PENDING_SCHEDULE_STATUSES and contractor_id and project_id):
        session.add(schedule)
        session.flush()
        return schedule
    try:
        with session.begin_nested():
            session.add(schedule)
            session.flush()
    except IntegrityError as exc:
        if PENDING_INDEX not in str(exc.orig):
            raise
        assert contractor_id is not None and project_id is not None
        existing = pending_schedule(
            session=session, org_id=org_id, contractor_id=contractor_id, project_id=project_id
        )
        when_text = utc_text(existing.scheduled_for) if existing else "?"
        raise ScheduleConflict(
            f"a call to contractor {contractor_id} about project {project_id} is already "
            + (
                f"{existing.status} (schedule {existing.id}, for {when_text})"
                if existing
                else "pending"
            )
        ) from exc
    return schedule


def pending_schedule(
    *, session: Session, org_id: uuid.UUID, contractor_id: uuid.UUID, project_id: uuid.UUID
) -> CallSchedule | None:
    """The contractor's scheduled or in-progress call about the project, if any."""
    return session.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == org_id,
            CallSchedule.contractor_id == contractor_id,
            CallSchedule.project_id == project_id,
            col(CallSchedule.status).in_([s.value for s in PENDING_SCHEDULE_STATUSES]),
        )
    ).first()


def pending_lead_schedule(
    *, session: Session, org_id: uuid.UUID, to_number: str
) -> CallSchedule | None:
    """The scheduled or in-progress lead-qualification call to ``to_number``, if any."""
    return session.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == org_id,
            CallSchedule.to_number == to_number,
            CallSchedule.purpose == CallPurpose.lead_qualification,
            col(CallSchedule.status).in_([s.value for s in PENDING_SCHEDULE_STATUSES]),
        )
    ).first()


def _new_call(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor: Contractor,
    project_id: uuid.UUID | None,
    purpose: CallPurpose,
    requested_by: uuid.UUID | None,
    schedule: CallSchedule | None = None,
    attempt: int = 1,
) -> Call:
    call = Call(
        org_id=org_id,
        contractor_id=contractor.id,
        project_id=project_id,
        schedule_id=schedule.id if schedule else None,
        purpose=purpose,
        status=CallStatus.queued,
        to_number=contractor.phone or "",
        from_number=get_settings().twilio_voice_from,
        attempt=attempt,
        requested_by=requested_by,
        outcome_data={},
    )
    session.add(call)
    session.flush()
    return call


def request_call(
    *,
    session: Session,
    org_id: uuid.UUID,
    contractor_id: uuid.UUID,
    project_id: uuid.UUID | None,
    purpose: CallPurpose,
    requested_by: uuid.UUID | None = None,
    at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    source_event_id: uuid.UUID | None = None,
    ignore_hours: bool = False,
) -> CallRequestResult:
    """A call to place now, or a schedule for later (``at``, outside hours, no free slot).

    Raises ``CallNotFound``, ``OptedOut`` or ``VoiceInputError`` (see ``check_callable``),
    ``CallConflict`` (a ``ScheduleConflict``) when a call now is asked for while the same call
    (contractor, project, purpose) is queued or in progress (``live_call``), and
    ``ScheduleConflict`` when a call to be scheduled is already pending for the contractor and
    project. ``ignore_hours`` (simulated calls only) skips the hours and call-slot checks;
    an opted-out contractor is refused all the same. A call now takes the organisation's call
    lock (``_lock_org_calls``) first: requests at once are answered one after the other.
    """
    now = now or utcnow()
    contractor = check_callable(
        session=session,
        org_id=org_id,
        contractor_id=contractor_id,
        project_id=project_id,
        purpose=purpose,
    )
    window = call_window(contractor)
    if at is None:
        _lock_org_calls(session, org_id)
        existing = live_call(
            session=session,
            org_id=org_id,
            contractor_id=contractor.id,
            project_id=project_id,
            purpose=purpose,
            now=now,
        )
        if existing is not None:
            raise CallConflict(
                f"a {CallPurpose(purpose).value} call to contractor {contractor.name} "
                f"({contractor.id})"
                + (f" about project {project_id}" if project_id else "")
                + f" is already {existing.status} (call {existing.id}); wait for it to end",
                existing_id=existing.id,
            )
    reason: str | None = None
    when = now
    if at is not None:
        if at.tzinfo is None or at.utcoffset() is None:
            raise VoiceInputError(
                "scheduled_for needs a time zone (e.g. 2026-12-01T10:00:00-05:00)"
            )
        if at < now - dt.timedelta(minutes=1):
            raise VoiceInputError(f"scheduled_for {at.isoformat()} is in the past")
        when = max(at, now)
    if ignore_hours and at is None:
        pass
    elif not hours.is_allowed(when, window):
        reason = f"outside the contractor's calling hours: {hours.refusal_reason(when, window)}"
        when = hours.next_allowed(when, window)
    elif at is None and active_calls(session=session, org_id=org_id, now=now) >= (
        get_settings().voice_max_concurrent_calls
    ):
        when = hours.next_allowed(now + BUSY_RETRY, window)
        reason = (
            f"all {get_settings().voice_max_concurrent_calls} call slots are busy; "
            "trying again in a few minutes"
        )
    if at is None and reason is None:
        call = _new_call(
            session=session,
            org_id=org_id,
            contractor=contractor,
            project_id=project_id,
            purpose=purpose,
            requested_by=requested_by,
        )
        return CallRequestResult(call=call, schedule=None)
    schedule = _new_schedule(
        session=session,
        org_id=org_id,
        contractor_id=contractor.id,
        project_id=project_id,
        purpose=purpose,
        when=when,
        reason=reason,
        requested_by=requested_by,
        source_event_id=source_event_id,
    )
    return CallRequestResult(call=None, schedule=schedule, reason=reason)


def cancel_schedules_for(
    *, session: Session, org_id: uuid.UUID, contractor_id: uuid.UUID, reason: str
) -> int:
    """Cancel a contractor's pending scheduled calls (after an opt-out); returns how many."""
    pending = session.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == org_id,
            CallSchedule.contractor_id == contractor_id,
            CallSchedule.status == ScheduleStatus.scheduled,
        )
    ).all()
    for schedule in pending:
        schedule.status = ScheduleStatus.cancelled
        schedule.reason = reason
        session.add(schedule)
    session.flush()
    return len(pending)


def claim_due_schedules(
    *, session: Session, now: dt.datetime | None = None, limit: int = 20
) -> list[Call]:
    """Turn due schedules into queued calls (each attempt a call); for the dispatcher job.

    Schedules are locked (``SKIP LOCKED``), so two dispatchers never claim one. A contractor
    who opted out since has the schedule cancelled; one outside their hours is moved to the
    next allowed moment; an organisation with every slot busy waits.
    """
    now = now or utcnow()
    contractor_call = and_(
        col(CallSchedule.contractor_id).is_not(None),
        col(CallSchedule.purpose) != CallPurpose.lead_qualification,
    )
    lead_call = and_(
        col(CallSchedule.purpose) == CallPurpose.lead_qualification,
        col(CallSchedule.to_number).is_not(None),
    )
    is_due = and_(
        col(CallSchedule.status) == ScheduleStatus.scheduled,
        col(CallSchedule.scheduled_for) <= now,
        or_(contractor_call, lead_call),
    )
    # The organisations' call locks first (in one order, so two dispatchers never deadlock),
    # as ``request_call`` takes its own: call slots are counted with no call being added.
    orgs = session.exec(select(CallSchedule.org_id).where(is_due).distinct()).all()
    for org_id in sorted(orgs):
        _lock_org_calls(session, org_id)
    due = session.exec(
        select(CallSchedule)
        .where(is_due, col(CallSchedule.org_id).in_(orgs))
        .order_by(col(CallSchedule.scheduled_for))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    calls: list[Call] = []
    busy: dict[uuid.UUID, int] = {}
    max_calls = get_settings().voice_max_concurrent_calls
    for schedule in due:
        if schedule.purpose == CallPurpose.lead_qualification:
            call = _claim_lead_schedule(session, schedule, now, busy, max_calls)
            if call is not None:
                calls.append(call)
            continue
        assert schedule.contractor_id is not None
        try:
            contractor = check_callable(
                session=session,
                org_id=schedule.org_id,
                contractor_id=schedule.contractor_id,
                project_id=schedule.project_id,
                purpose=schedule.purpose,
            )
        except (CallNotFound, OptedOut, VoiceInputError) as exc:
            schedule.status = ScheduleStatus.cancelled
            schedule.reason = f"not called: {exc}"
            session.add(schedule)
            continue
        window = call_window(contractor)
        if not hours.is_allowed(now, window):
            schedule.scheduled_for = hours.next_allowed(now, window)
            schedule.reason = f"moved into calling hours ({window.describe()})"
            session.add(schedule)
            continue
        if schedule.org_id not in busy:
            busy[schedule.org_id] = active_calls(session=session, org_id=schedule.org_id, now=now)
        if busy[schedule.org_id] >= max_calls:
            schedule.scheduled_for = now + BUSY_RETRY
            schedule.reason = f"all {max_calls} call slots were busy"
            session.add(schedule)
            continue
        busy[schedule.org_id] += 1
        schedule.attempts += 1
        schedule.status = ScheduleStatus.in_progress
        session.add(schedule)
        calls.append(
            _new_call(
                session=session,
                org_id=schedule.org_id,
                contractor=contractor,
                project_id=schedule.project_id,
                purpose=schedule.purpose,
                requested_by=schedule.requested_by,
                schedule=schedule,
                attempt=schedule.attempts,
            )
        )
    session.flush()
    return calls


# --- seller leads: consent, do-not-call, hours -------------------------------------------


# A consent_source that says there was none ("none", "no", "not given", "n/a") names no source.
_NO_CONSENT_SOURCE = re.compile(
    r"^\W*(?:(?:nil|null|n/?a|unknown|false|missing)?\W*$|(?:no|none|nothing|not|never|"
    r"without|didn't|did not|hasn't|has not|haven't|have not|wasn't|was not)\b)",
    re.I,
)


def has_consent(details: dict[str, Any] | None) -> bool:
    """True when the lead gave prior express consent to automated calls, with its source.

    ``consent_to_call`` must be JSON ``true`` and ``consent_source`` (where and when it was
    given, e.g. "web form 2026-11-20") non-empty text that does not say there was none
    ("none", "not given"); anything else counts as no consent.
    """
    details = details or {}
    source = details.get("consent_source")
    return (
        details.get("consent_to_call") is True
        and isinstance(source, str)
        and bool(source.strip())
        and _NO_CONSENT_SOURCE.match(source) is None
    )


def lead_windows(schedule: CallSchedule) -> tuple[hours.CallWindow, ...]:
    """A lead's calling hours in every zone they may be in (a call must fit them all).

    09:00-20:00 Mon-Sat in their time zone, else every zone their number's area code covers,
    else both mainland coasts.
    """
    return hours.lead_windows((schedule.details or {}).get("timezone"), schedule.to_number)


def is_do_not_call(*, session: Session, org_id: uuid.UUID, phone_number: str) -> bool:
    """True when the number asked not to be called (the organisation's do-not-call list)."""
    return (
        session.exec(
            select(DoNotCall.id).where(
                DoNotCall.org_id == org_id, DoNotCall.phone_number == phone_number
            )
        ).first()
        is not None
    )


def mark_number_opted_out(
    *,
    session: Session,
    org_id: uuid.UUID,
    phone_number: str,
    reason: str,
    call_id: uuid.UUID | None = None,
) -> int:
    """Put a number on the do-not-call list (once) and cancel its pending lead calls.

    Returns how many pending schedules were cancelled.
    """
    session.execute(
        insert(DoNotCall)
        .values(
            id=uuid.uuid4(),
            org_id=org_id,
            phone_number=phone_number,
            reason=reason[:2000],
            call_id=call_id,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(constraint="uq_do_not_call_org_phone")
    )
    pending = session.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == org_id,
            CallSchedule.to_number == phone_number,
            CallSchedule.purpose == CallPurpose.lead_qualification,
            CallSchedule.status == ScheduleStatus.scheduled,
        )
    ).all()
    for schedule in pending:
        schedule.status = ScheduleStatus.cancelled
        schedule.reason = f"not called: the number asked not to be called ({reason[:300]})"
        session.add(schedule)
    session.flush()
    return len(pending)


def lead_refusal(*, session: Session, schedule: CallSchedule) -> str | None:
    """Why a lead may not be called by the agent at all (None: they may, within hours)."""
    if not schedule.to_number:
        return "the lead has no usable phone number"
    if not has_consent(schedule.details):
        return (
            "no prior express consent to automated calls was recorded with the lead "
            "(consent_to_call true and a consent_source are required)"
        )
    if is_do_not_call(session=session, org_id=schedule.org_id, phone_number=schedule.to_number):
        return "the lead asked not to be called (the number is on the do-not-call list)"
    return None


def _claim_lead_schedule(
    session: Session,
    schedule: CallSchedule,
    now: dt.datetime,
    busy: dict[uuid.UUID, int],
    max_calls: int,
) -> Call | None:
    """A due lead schedule as a queued call, or moved (hours, slots) or cancelled (why)."""
    refusal = lead_refusal(session=session, schedule=schedule)
    if refusal is not None:
        schedule.status = ScheduleStatus.cancelled
        schedule.reason = f"not called: {refusal}"
        session.add(schedule)
        return None
    windows = lead_windows(schedule)
    if not hours.allowed_in_all(now, windows):
        schedule.scheduled_for = hours.next_allowed_in_all(now, windows)
        schedule.reason = f"moved into the lead's calling hours ({hours.describe_all(windows)})"
        session.add(schedule)
        return None
    if schedule.org_id not in busy:
        busy[schedule.org_id] = active_calls(session=session, org_id=schedule.org_id, now=now)
    if busy[schedule.org_id] >= max_calls:
        schedule.scheduled_for = now + BUSY_RETRY
        schedule.reason = f"all {max_calls} call slots were busy"
        session.add(schedule)
        return None
    busy[schedule.org_id] += 1
    schedule.attempts += 1
    schedule.status = ScheduleStatus.in_progress
    session.add(schedule)
    assert schedule.to_number is not None
    call = Call(
        org_id=schedule.org_id,
        contractor_id=None,
        project_id=None,
        schedule_id=schedule.id,
        purpose=CallPurpose.lead_qualification,
        status=CallStatus.queued,
        to_number=schedule.to_number,
        from_number=get_settings().twilio_voice_from,
        attempt=schedule.attempts,
        requested_by=schedule.requested_by,
        outcome_data={},
    )
    session.add(call)
    session.flush()
    return call


def _check_lead_before_placing(
    session: Session, call: Call, schedule: CallSchedule | None, now: dt.datetime
) -> PlaceCheck:
    """``check_before_placing`` for a lead: consent, do-not-call and hours, checked again."""
    if schedule is None:
        reason = "not placed: a lead call needs its schedule (the consent recorded with it)"
        _not_placed(session, call, now, reason)
        return PlaceCheck(allowed=False, outcome="cancelled", reason=reason)
    refusal = lead_refusal(session=session, schedule=schedule)
    if refusal is None and schedule.to_number != call.to_number:
        refusal = "the number differs from the one the lead gave"
    if refusal is not None:
        return _cancel_unplaced(session, call, schedule, now, f"not placed: {refusal}")
    windows = lead_windows(schedule)
    if hours.allowed_in_all(now, windows):
        return PlaceCheck(allowed=True)
    when = hours.next_allowed_in_all(now, windows)
    reason = _moved_reason(hours.refusal_reason_all(now, windows, "the lead"), when)
    _not_placed(session, call, now, reason)
    _move_pending(session, schedule, when, reason)
    return PlaceCheck(allowed=False, outcome="rescheduled", reason=reason, schedule=schedule)


def _cancel_unplaced(
    session: Session,
    call: Call,
    schedule: CallSchedule | None,
    now: dt.datetime,
    reason: str,
) -> PlaceCheck:
    """The call is not placed and its pending schedule is cancelled, saying why."""
    _not_placed(session, call, now, reason)
    if schedule is not None and schedule.status in PENDING_SCHEDULE_STATUSES:
        schedule.status = ScheduleStatus.cancelled
        schedule.reason = reason
        session.add(schedule)
        session.flush()
    return PlaceCheck(allowed=False, outcome="cancelled", reason=reason, schedule=schedule)


def _moved_reason(refusal: str, when: dt.datetime) -> str:
    return f"not placed: {refusal}; moved to {when.isoformat(timespec='minutes')}"


def _move_pending(
    session: Session, schedule: CallSchedule | None, when: dt.datetime, reason: str
) -> bool:
    """Move a pending schedule to ``when`` (the unplaced attempt does not count); False if none."""
    if schedule is None or schedule.status not in PENDING_SCHEDULE_STATUSES:
        return False
    schedule.status = ScheduleStatus.scheduled
    schedule.scheduled_for = when
    schedule.attempts = max(0, schedule.attempts - 1)
    schedule.reason = reason
    session.add(schedule)
    session.flush()
    return True


# --- placing -----------------------------------------------------------------------------


def mark_placed(*, session: Session, call: Call, call_sid: str, status: str) -> Call:
    """Twilio accepted the call: keep its CallSid and status."""
    call.call_sid = call_sid
    try:
        call.status = CallStatus(status)
    except ValueError:
        call.status = CallStatus.initiated
    call.note = None
    call.updated_at = utcnow()
    session.add(call)
    session.flush()
    return call


def mark_recorded(*, session: Session, call: Call, note: str) -> Call:
    """The call stays ``queued`` in the outbox (Twilio is not configured); ``note`` says why."""
    call.note = note
    _update_data(call, recorded_only=True)
    call.updated_at = utcnow()
    session.add(call)
    session.flush()
    return call


def mark_place_failed(
    *,
    session: Session,
    call: Call,
    error: str,
    now: dt.datetime | None = None,
    permanent: bool = False,
    code: int | None = None,
) -> CallSchedule | None:
    """Placing the call failed: retried like an unanswered one, unless ``permanent``.

    A permanent refusal (a Twilio 4xx such as 21211, invalid number) is not retried: the
    schedule fails with the reason and an action item asks the team to fix the contractor's
    number (or, for any other code, to check the Twilio account).
    """
    call.note = error[:2000]
    if not permanent:
        return record_status(session=session, call=call, status=CallStatus.failed.value, now=now)
    return _fail_permanently(session, call, error, code, now or utcnow())


def _fail_permanently(
    session: Session, call: Call, error: str, code: int | None, now: dt.datetime
) -> CallSchedule | None:
    """End a call Twilio will never place: no retry, the schedule failed, an action item."""
    if call.status in TERMINAL_STATUSES:
        return None
    call.status = CallStatus.failed
    call.ended_at = now
    call.updated_at = now
    lead = call.purpose == CallPurpose.lead_qualification
    who = "the lead" if lead else "the contractor"
    if lead and call.schedule_id:
        lead_schedule = session.get(CallSchedule, call.schedule_id)
        name = (lead_schedule.details or {}).get("name") if lead_schedule else None
        who = f"the lead {name}" if name else who
    if call.contractor_id is not None:
        try:
            who = construction_service.get_contractor(
                session=session, org_id=call.org_id, contractor_id=call.contractor_id
            ).name
        except construction_service.NotFoundError:
            pass
    digits = "".join(ch for ch in call.to_number if ch.isdigit())
    if code in NUMBER_ERRORS:
        item = {
            "kind": "fix_number",
            "text": f"Fix {who}'s phone number (ending {digits[-4:]}): Twilio refused it "
            f"({error}); then call them again",
            "code": code,
        }
        reason = (
            f"not called: Twilio refused the number ({error}); "
            f"fix {'the lead' if lead else 'the contractor'}'s number"
        )
    else:
        item = {
            "kind": "check_twilio",
            "text": f"Twilio refused the call to {who} ({error}): check the Twilio account "
            "and the contractor's number, then call them again",
            "code": code,
        }
        reason = f"not called: Twilio refused the call ({error}); not retried"
    schedule = session.get(CallSchedule, call.schedule_id) if call.schedule_id else None
    if schedule is not None and schedule.status in PENDING_SCHEDULE_STATUSES:
        schedule.status = ScheduleStatus.failed
        schedule.reason = reason[:2000]
        session.add(schedule)
    _update_data(call, finalized=True, action_items=[item])
    session.add(call)
    session.flush()
    _publish_completed(session, call)
    publish(
        session,
        org_id=call.org_id,
        name="action.items.created",
        payload={
            "call_id": call.id,
            "contractor_id": call.contractor_id,
            "project_id": call.project_id,
            "items": [item],
        },
    )
    return schedule


@dataclass(frozen=True)
class PlaceCheck:
    """Whether a queued call may be placed now; if not, what became of it and why."""

    allowed: bool
    outcome: str | None = None  # "rescheduled" or "cancelled"
    reason: str | None = None
    schedule: CallSchedule | None = None


def check_before_placing(
    *, session: Session, call: Call, now: dt.datetime | None = None
) -> PlaceCheck:
    """Check a queued call again right before Twilio is asked (a retry may come much later).

    A contractor who opted out since (or is gone, or lost their phone, or whose number reached
    someone else on a call since) has the call and its schedule cancelled; a call queued to a
    number that is no longer theirs is cancelled unplaced and its schedule moved to now (their
    current number is called instead); outside their calling hours the call is cancelled
    unplaced and its schedule moved to the next allowed moment (the attempt does not count).
    A seller lead is checked the same way against the consent recorded with the schedule, the
    do-not-call list and the lead's hours (09:00-20:00 Mon-Sat). The call ends ``canceled``
    with ``note`` saying why; nothing is published (it never rang).
    """
    now = now or utcnow()
    schedule = session.get(CallSchedule, call.schedule_id) if call.schedule_id else None
    if call.purpose == CallPurpose.lead_qualification:
        return _check_lead_before_placing(session, call, schedule, now)
    if call.contractor_id is None:
        return PlaceCheck(allowed=True)
    try:
        contractor = check_callable(
            session=session,
            org_id=call.org_id,
            contractor_id=call.contractor_id,
            project_id=call.project_id,
            purpose=CallPurpose(call.purpose),
        )
    except (CallNotFound, OptedOut, VoiceInputError) as exc:
        return _cancel_unplaced(session, call, schedule, now, f"not placed: {exc}")
    window = call_window(contractor)
    if call.to_number != contractor.phone:
        # Queued before their phone changed (perhaps to the number found wrong): the old
        # number is never dialled; a call to the phone now on file takes its place.
        refusal = (
            "the contractor's phone changed since the call was queued (to the number ending "
            f"{_last_four(call.to_number)}); their current number is called instead"
        )
        when = now if hours.is_allowed(now, window) else hours.next_allowed(now, window)
    elif hours.is_allowed(now, window):
        return PlaceCheck(allowed=True)
    else:
        refusal = hours.refusal_reason(now, window)
        when = hours.next_allowed(now, window)
    reason = _moved_reason(refusal, when)
    _not_placed(session, call, now, reason)
    moved = _move_pending(session, schedule, when, reason)
    if not moved and schedule is None:
        try:
            schedule = _new_schedule(
                session=session,
                org_id=call.org_id,
                contractor_id=contractor.id,
                project_id=call.project_id,
                purpose=CallPurpose(call.purpose),
                when=when,
                reason=reason,
                requested_by=call.requested_by,
            )
        except ScheduleConflict:
            schedule = None  # a call to them about the project is already pending
        else:
            call.schedule_id = schedule.id
            session.add(call)
            session.flush()
    return PlaceCheck(allowed=False, outcome="rescheduled", reason=reason, schedule=schedule)


def _not_placed(session: Session, call: Call, now: dt.datetime, reason: str) -> None:
    call.status = CallStatus.canceled
    call.note = reason[:2000]
    call.ended_at = now
    call.updated_at = now
    _update_data(call, finalized=True, not_placed=reason[:500])
    session.add(call)
    session.flush()


def sweep_stuck_calls(
    *, session: Session, now: dt.datetime | None = None, limit: int = 50
) -> list[Call]:
    """Fail calls left ``queued`` without a CallSid (never placed), and retry them.

    A call whose placing crashed, or whose ``place_call`` job was never enqueued, holds its
    schedule ``in_progress`` forever; after ``STALE_QUEUED`` it is failed and retried per its
    schedule's attempts like an unanswered call (or the schedule is closed as failed after
    the last). Calls recorded in the outbox (no Twilio) are left alone. Rows are locked
    (``SKIP LOCKED``), so a job placing the call at this moment keeps it.
    """
    now = now or utcnow()
    recorded_only = _recorded_only()
    stuck = session.exec(
        select(Call)
        .where(
            Call.status == CallStatus.queued,
            col(Call.call_sid).is_(None),
            col(Call.updated_at) < now - STALE_QUEUED,
            ~recorded_only,
        )
        .order_by(col(Call.updated_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for call in stuck:
        previous = f" ({call.note[:300]})" if call.note else ""
        minutes = int((now - call.updated_at).total_seconds() // 60)
        mark_place_failed(
            session=session,
            call=call,
            error=f"never placed: queued without a Twilio CallSid for {minutes} minutes" + previous,
            now=now,
        )
    return list(stuck)


# --- the conversation --------------------------------------------------------------------


@dataclass(frozen=True)
class CallContext:
    """What the voice agent knows going into a call (for the call graph and its prompt)."""

    call_id: uuid.UUID
    purpose: CallPurpose
    company: str
    contractor_name: str
    project_label: str
    scope: tuple[ScopeLine, ...]
    today: dt.date
    callback_number: str | None
    recording: bool = False
    windows: tuple[hours.CallWindow, ...] = ()
    """when the person called may be called (a callback is promised inside these)."""
    trade: str | None = None
    """the trade the bids were asked of ("roofing"): ``scope`` holds that trade's lines."""
    scope_note: str | None = None
    """why ``scope`` is the whole project's for a trade call (no line was that trade's)."""

    def to_json(self) -> dict[str, Any]:
        """The context as JSON values (the call graph's state)."""
        return {
            "call_windows": [w.to_json() for w in self.windows],
            "call_id": str(self.call_id),
            "purpose": self.purpose.value,
            "company": self.company,
            "contractor_name": self.contractor_name,
            "project_label": self.project_label,
            "scope": [
                {
                    "id": s.id,
                    "component": s.component,
                    "description": s.description,
                    "quantity": s.quantity,
                    "unit": s.unit,
                }
                for s in self.scope
            ],
            "today": self.today.isoformat(),
            "callback_number": self.callback_number,
            "recording": self.recording,
            "trade": self.trade,
            "scope_note": self.scope_note,
        }


def _quantity(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = f"{value.normalize():f}"
    return text


# A trade → the cost catalogue's categories or component keys its bid calls ask about, and
# the words that name its work in a scope line the catalogue does not know.
TRADE_SCOPE: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "roofing": (frozenset({"roof"}), ("roof", "roofing", "shingle", "reroof", "tear off")),
    "plumbing": (
        frozenset({"plumbing"}),
        ("plumbing", "plumber", "pipe", "repipe", "water heater", "sewer", "drain line"),
    ),
    "hvac": (
        frozenset({"hvac"}),
        ("hvac", "furnace", "heating", "boiler", "air conditioning", "a c", "ac", "condenser"),
    ),
    "electrical": (
        frozenset({"electrical"}),
        ("electrical", "electric", "panel", "wiring", "rewire", "outlet"),
    ),
    "flooring": (
        frozenset({"flooring"}),
        ("flooring", "floor", "carpet", "lvp", "vinyl plank", "hardwood"),
    ),
    "painting": (frozenset({"exterior_paint", "interior_paint"}), ("paint", "painting")),
    "drywall": (frozenset({"drywall_repair"}), ("drywall", "sheetrock", "plaster")),
    "windows": (frozenset({"windows"}), ("window",)),
    "gutters": (frozenset({"gutters"}), ("gutter", "downspout")),
    "siding": (frozenset({"siding"}), ("siding",)),
    "landscaping": (frozenset({"landscaping_cleanup"}), ("landscaping", "yard", "lawn")),
    "foundation": (frozenset({"foundation_repair", "structure"}), ("foundation",)),
    "waterproofing": (frozenset({"waterproofing"}), ("waterproofing", "sump", "drain tile")),
    "kitchen": (frozenset({"kitchen"}), ("kitchen", "cabinet", "countertop", "appliance")),
    "tile": (frozenset({"bath_tile"}), ("tile",)),
    "bathroom": (frozenset({"bath"}), ("bath", "bathroom", "tub", "vanity", "toilet")),
    "doors": (frozenset({"exterior_doors", "interior_doors"}), ("door",)),
}
_CATEGORY_OF = {entry.key: entry.category for entry in DEFAULT_CATALOGUE}


def trade_scope(
    scope: Sequence[ScopeLine], trade: str | None
) -> tuple[tuple[ScopeLine, ...], str | None]:
    """The scope lines a bid call for ``trade`` asks about, and a note when that is all of them.

    A line is the trade's when the cost catalogue component it names is in the trade's
    categories or components (``TRADE_SCOPE``), or, for a line the catalogue does not know,
    when its leading name says the trade's work. No trade, a trade not in the map (general
    contractors and the like bid the whole job): every line. No line of the trade: every
    line, with a note saying so.
    """
    lines = tuple(scope)
    wanted = TRADE_SCOPE.get(construction_service.normalise_trade(trade)) if trade else None
    if wanted is None or not lines:
        return lines, None
    names, words = wanted
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")(?:s|es|ing)?\b")
    kept: list[ScopeLine] = []
    for line in lines:
        found = match_component(line.component)
        if found is not None and found.how != "close spelling":
            if found.key in names or _CATEGORY_OF.get(found.key) in names:
                kept.append(line)
            continue
        head = re.split(r"[:,(]", line.component, maxsplit=1)[0]
        if pattern.search(" ".join(re.sub(r"[^a-z0-9]+", " ", head.lower()).split())):
            kept.append(line)
    if kept:
        return tuple(kept), None
    return lines, (
        f"no scope line of the project is {trade} work, so the call asks about the whole scope"
    )


# Calls that ask for a price cover the lines still open; calls about doing the work, the
# lines awarded to the contractor called.
_PRICE_PURPOSES = frozenset({CallPurpose.bid_request, CallPurpose.follow_up})
_WORK_PURPOSES = frozenset({CallPurpose.start_date, CallPurpose.scheduling})


def lines_for_call(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    contractor_id: uuid.UUID | None,
    purpose: CallPurpose,
) -> list[ScopeItem]:
    """The project's scope lines a call to ``contractor_id`` talks about.

    A bid call: the lines no accepted bid prices (a follow-up on a bid also keeps the lines
    awarded to this contractor); none when every line is awarded. A start-date or scheduling
    call: the lines of this contractor's accepted bids, or every line when they hold none line
    by line (a lump-sum award). Other purposes: every line.
    """
    items = construction_service.list_scope_items(
        session=session, org_id=org_id, project_id=project_id
    )
    if purpose not in _PRICE_PURPOSES | _WORK_PURPOSES:
        return items
    awarded: dict[uuid.UUID, uuid.UUID] = {}  # scope line → the contractor it was awarded to
    for bid in construction_service.list_bids(
        session=session, org_id=org_id, project_id=project_id
    ):
        if bid.status == BidStatus.accepted:
            for line in bid.line_items:
                awarded[uuid.UUID(str(line["scope_item_id"]))] = bid.contractor_id
    if purpose in _PRICE_PURPOSES:
        return [
            item
            for item in items
            if item.id not in awarded
            or (purpose == CallPurpose.follow_up and awarded[item.id] == contractor_id)
        ]
    mine = [item for item in items if awarded.get(item.id) == contractor_id]
    return mine or items


def _requested_trade(session: Session, call: Call) -> str | None:
    """The trade a bid call was asked for (``contractor.call.requested`` by trade), if any."""
    schedule = session.get(CallSchedule, call.schedule_id) if call.schedule_id else None
    if schedule is None or schedule.org_id != call.org_id:
        return None
    trade = (schedule.details or {}).get("trade")
    return str(trade) if isinstance(trade, str) and trade.strip() else None


def call_context(*, session: Session, call: Call, now: dt.datetime | None = None) -> CallContext:
    """The company, contractor, project and scope lines a call talks about.

    For a seller lead: ``contractor_name`` is the lead's name and ``project_label`` the
    property's address (from the schedule's details), and no scope lines.
    """
    settings = get_settings()
    organisation = auth_service.get_organisation(session=session, org_id=call.org_id)
    if call.purpose == CallPurpose.lead_qualification:
        schedule = session.get(CallSchedule, call.schedule_id) if call.schedule_id else None
        details = (schedule.details if schedule else None) or {}
        windows = hours.lead_windows(details.get("timezone"), call.to_number)
        window = windows[0]
        moment = now or call.started_at or utcnow()
        return CallContext(
            windows=windows,
            call_id=call.id,
            purpose=CallPurpose.lead_qualification,
            company=organisation.name if organisation else "our company",
            contractor_name=str(details.get("name") or "there"),
            project_label=str(details.get("address") or "your property"),
            scope=(),
            today=hours.local_time(moment, window).date(),
            callback_number=settings.voice_callback_number or settings.twilio_voice_from,
            recording=settings.voice_record_calls,
        )
    contractor: Contractor | None = None
    if call.contractor_id is not None:
        try:
            contractor = construction_service.get_contractor(
                session=session, org_id=call.org_id, contractor_id=call.contractor_id
            )
        except construction_service.NotFoundError:
            contractor = None
    scope: list[ScopeLine] = []
    label = "one of our properties"
    if call.project_id is not None:
        try:
            project = construction_service.get_project(
                session=session, org_id=call.org_id, project_id=call.project_id
            )
            label = construction_service.project_label(session=session, project=project)
            scope = [
                ScopeLine(
                    id=str(item.id),
                    component=item.component,
                    description=item.description,
                    quantity=_quantity(item.quantity),
                    unit=item.unit,
                )
                for item in lines_for_call(
                    session=session,
                    org_id=call.org_id,
                    project_id=project.id,
                    contractor_id=call.contractor_id,
                    purpose=CallPurpose(call.purpose),
                )
            ]
        except construction_service.NotFoundError:
            pass
    trade = _requested_trade(session, call) if call.purpose == CallPurpose.bid_request else None
    lines, scope_note = trade_scope(scope, trade)
    moment = now or call.started_at or utcnow()
    today = (
        hours.local_time(moment, call_window(contractor)).date() if contractor else moment.date()
    )
    return CallContext(
        windows=(call_window(contractor),) if contractor else (),
        call_id=call.id,
        purpose=CallPurpose(call.purpose),
        company=organisation.name if organisation else "our company",
        contractor_name=(contractor.name if contractor else "there"),
        project_label=label,
        scope=lines,
        today=today,
        callback_number=settings.voice_callback_number or settings.twilio_voice_from,
        recording=settings.voice_record_calls,
        trade=trade,
        scope_note=scope_note,
    )


@dataclass(frozen=True)
class AgentTurn:
    """The agent's next turn, as the call graph decided it."""

    text: str
    expect: str | None = None
    done: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    dialogue: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredTurn:
    """An agent turn already written: what to say, and whether the call ends after it."""

    turn: int
    text: str
    done: bool


def _insert_turn(
    session: Session,
    call: Call,
    turn: int,
    speaker: Speaker,
    text: str,
    confidence: Decimal | None = None,
) -> bool:
    """Write one turn once; False when that turn was already written (a replayed webhook)."""
    inserted = session.execute(
        insert(CallTranscript)
        .values(
            id=uuid.uuid4(),
            org_id=call.org_id,
            call_id=call.id,
            turn=turn,
            speaker=speaker.value,
            text=text,
            confidence=confidence,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(constraint="uq_call_transcripts_call_turn")
        .returning(col(CallTranscript.id))
    ).scalar_one_or_none()
    return inserted is not None


def stored_turn(*, session: Session, call: Call, turn: int) -> StoredTurn | None:
    """The agent turn ``turn`` as written, or None."""
    row = session.exec(
        select(CallTranscript).where(CallTranscript.call_id == call.id, CallTranscript.turn == turn)
    ).first()
    if row is None or row.speaker != Speaker.agent:
        return None
    final = call.outcome_data.get("final_turn")
    return StoredTurn(turn=turn, text=row.text, done=final is not None and int(final) <= turn)


def last_turn(*, session: Session, call: Call) -> int:
    """The highest turn written on a call (-1 before the greeting)."""
    value = session.exec(
        select(func.max(CallTranscript.turn)).where(CallTranscript.call_id == call.id)
    ).one()
    return -1 if value is None else int(value)


def bind_call_sid(*, session: Session, call: Call, call_sid: str) -> None:
    """Tie the call to Twilio's CallSid on its first webhook; refuse any other CallSid after."""
    call_sid = (call_sid or "").strip()
    if not call_sid.startswith("CA") or len(call_sid) > 64:
        raise WebhookRefused("the webhook carries no valid CallSid")
    if call.call_sid is None:
        call.call_sid = call_sid
        session.add(call)
        session.flush()
    elif call.call_sid != call_sid:
        raise WebhookRefused(f"call {call.id} belongs to another CallSid")


def _update_data(call: Call, **values: Any) -> None:
    call.outcome_data = {**(call.outcome_data or {}), **values}


def _start(call: Call, now: dt.datetime, answered_by: str | None) -> None:
    if call.started_at is None:
        call.started_at = now
    if answered_by:
        call.answered_by = answered_by[:30]
    if call.status not in TERMINAL_STATUSES:
        call.status = CallStatus.in_progress


def open_conversation(
    *,
    session: Session,
    call: Call,
    greeting: AgentTurn,
    answered_by: str | None = None,
    now: dt.datetime | None = None,
) -> StoredTurn:
    """Write the greeting as turn 0 (once) and return what to say."""
    now = now or utcnow()
    existing = stored_turn(session=session, call=call, turn=0)
    if existing is not None:
        return existing
    _start(call, now, answered_by)
    _insert_turn(session, call, 0, Speaker.agent, greeting.text)
    _update_data(
        call,
        dialogue=greeting.dialogue,
        facts=greeting.facts or CallFacts().to_json(),
        expect=greeting.expect,
        **({"final_turn": 0} if greeting.done else {}),
    )
    call.updated_at = now
    session.add(call)
    session.flush()
    return StoredTurn(turn=0, text=greeting.text, done=greeting.done)


def record_exchange(
    *,
    session: Session,
    call: Call,
    turn: int,
    heard: str,
    confidence: Decimal | None,
    reply: AgentTurn,
    now: dt.datetime | None = None,
) -> StoredTurn:
    """Write the callee's answer (``turn``) and the agent's reply (``turn + 1``) once."""
    now = now or utcnow()
    if not _insert_turn(session, call, turn, Speaker.callee(call.purpose), heard, confidence):
        replay = stored_turn(session=session, call=call, turn=turn + 1)
        if replay is None:
            raise WebhookRefused(f"turn {turn} of call {call.id} was already answered")
        return replay
    _insert_turn(session, call, turn + 1, Speaker.agent, reply.text)
    _start(call, now, None)
    _update_data(
        call,
        dialogue=reply.dialogue,
        facts=reply.facts,
        expect=reply.expect,
        **({"final_turn": turn + 1} if reply.done else {}),
    )
    call.updated_at = now
    session.add(call)
    session.flush()
    return StoredTurn(turn=turn + 1, text=reply.text, done=reply.done)


def expected_turn(*, session: Session, call: Call) -> int:
    """The turn number the next contractor answer must carry."""
    return last_turn(session=session, call=call) + 1


def facts_of(call: Call) -> CallFacts:
    """What the call has established so far."""
    return CallFacts.from_json((call.outcome_data or {}).get("facts"))


# --- voicemail ---------------------------------------------------------------------------


def spoken_number(number: str | None) -> str:
    """A phone number read out digit by digit in groups ("3 1 3, 5 5 5, 0 1 0 0")."""
    digits = "".join(ch for ch in (number or "") if ch.isdigit())
    if digits.startswith("1") and len(digits) == 11:
        digits = digits[1:]
    if len(digits) != 10:
        return " ".join(digits)
    groups = (digits[:3], digits[3:6], digits[6:])
    return ", ".join(" ".join(group) for group in groups)


def voicemail_text(context: CallContext) -> str:
    """The short message left on a contractor's voicemail."""
    callback = (
        f" Please call us back at {spoken_number(context.callback_number)}."
        if context.callback_number
        else ""
    )
    return (
        f"Hello {context.contractor_name}, this is the assistant of {context.company}, calling "
        f"about a rehab project at {context.project_label}.{callback} We'll also send you a "
        "text message with the details. Thank you."
    )


def lead_voicemail_text(context: CallContext) -> str:
    """The short message left on a seller lead's voicemail (no text message follows)."""
    callback = (
        f" Please call us back at {spoken_number(context.callback_number)}."
        if context.callback_number
        else ""
    )
    return (
        f"Hello {context.contractor_name}, this is the automated assistant of "
        f"{context.company}, calling about {context.project_label}, which you asked us about "
        f"selling.{callback} Thank you."
    )


def voicemail_followup_text(context: CallContext) -> str:
    """The WhatsApp text that follows a voicemail."""
    lines = ", ".join(line.spoken() for line in context.scope) or "the project"
    callback = f" or call {context.callback_number}" if context.callback_number else ""
    return (
        f"Hi {context.contractor_name}, this is {context.company}. We just left you a voicemail "
        f"about a rehab project at {context.project_label} ({lines}). Could you send us your "
        f"price, earliest start date and how long it would take? Reply here{callback}. "
        "Reply STOP and we won't contact you again."
    )


def leave_voicemail(
    *,
    session: Session,
    call: Call,
    context: CallContext,
    answered_by: str,
    now: dt.datetime | None = None,
) -> tuple[StoredTurn, list[uuid.UUID]]:
    """Write the voicemail message as the call's only turn, queue the WhatsApp follow-up.

    Returns what to say and the ids of the WhatsApp messages queued (to deliver after commit).
    A seller lead gets no WhatsApp text: they consented to calls, not to messages.
    """
    from domain.whatsapp import service as whatsapp_service

    now = now or utcnow()
    existing = stored_turn(session=session, call=call, turn=0)
    if existing is not None:
        return existing, []
    lead = call.purpose == CallPurpose.lead_qualification
    text = lead_voicemail_text(context) if lead else voicemail_text(context)
    _start(call, now, answered_by)
    _insert_turn(session, call, 0, Speaker.agent, text)
    _update_data(call, final_turn=0, voicemail=True)
    call.outcome = CallOutcome.voicemail
    session.add(call)
    queued: list[uuid.UUID] = []
    if call.to_number and not lead:
        conversation = whatsapp_service.get_or_create_conversation(
            session=session, org_id=call.org_id, phone_number=call.to_number
        )
        messages = whatsapp_service.queue_text(
            session=session,
            conversation=conversation,
            text=voicemail_followup_text(context),
            key=f"voice:{call.id}:voicemail",
            template_sid=get_settings().twilio_template_content_sid,
        )
        queued = [m.id for m in messages]
        _update_data(call, whatsapp_followup=[str(i) for i in queued])
    session.flush()
    return StoredTurn(turn=0, text=text, done=True), queued


# --- the end of a call -------------------------------------------------------------------


def _retry_delay(attempt: int) -> dt.timedelta:
    """Back-off before retrying after ``attempt`` failed: 30, 60, 120 ... minutes."""
    base = get_settings().voice_retry_backoff_minutes
    return dt.timedelta(minutes=base * 2 ** max(0, attempt - 1))


def _schedule_retry(
    session: Session, call: Call, now: dt.datetime, status: CallStatus
) -> CallSchedule | None:
    """Retry an unanswered call later, or give up after the last attempt; returns the schedule."""
    schedule = session.get(CallSchedule, call.schedule_id) if call.schedule_id else None
    if schedule is None and call.contractor_id is not None:
        try:
            schedule = _new_schedule(
                session=session,
                org_id=call.org_id,
                contractor_id=call.contractor_id,
                project_id=call.project_id,
                purpose=CallPurpose(call.purpose),
                when=now,
                reason=None,
                requested_by=call.requested_by,
                status=ScheduleStatus.in_progress,
            )
        except ScheduleConflict:
            return None  # another call to them about the project is pending: it retries
        schedule.attempts = call.attempt
        call.schedule_id = schedule.id
        session.add(call)
    if schedule is None:
        return None
    what = status.value.replace("-", " ")
    refused: str | None
    if call.purpose == CallPurpose.lead_qualification:
        refusal = lead_refusal(session=session, schedule=schedule)
        refused = None if refusal is None else f"not called again: {refusal}"
        windows = lead_windows(schedule)

        def next_try(moment: dt.datetime) -> dt.datetime:
            return hours.next_allowed_in_all(moment, windows)

    else:
        contractor = None
        if call.contractor_id is not None:
            try:
                contractor = construction_service.get_contractor(
                    session=session, org_id=call.org_id, contractor_id=call.contractor_id
                )
            except construction_service.NotFoundError:
                contractor = None
        refused = (
            "the contractor may not be called"
            if contractor is None or contractor.opted_out
            else None
        )
        if contractor is not None and refused is None:
            wrong = wrong_number_calls(
                session=session, org_id=call.org_id, contractors=[contractor]
            ).get(contractor.id)
            if wrong is not None:
                refused = f"not called again: {wrong_number_reason(wrong)}"
        window = call_window(contractor) if contractor is not None else None

        def next_try(moment: dt.datetime) -> dt.datetime:
            assert window is not None
            return hours.next_allowed(moment, window)

    if refused is not None:
        schedule.status = ScheduleStatus.cancelled
        schedule.reason = f"{what} on attempt {call.attempt}; {refused}"
    elif schedule.attempts < schedule.max_attempts:
        when = next_try(now + _retry_delay(schedule.attempts))
        schedule.status = ScheduleStatus.scheduled
        schedule.scheduled_for = when
        schedule.reason = (
            f"{what} on attempt {schedule.attempts} of {schedule.max_attempts}; "
            f"retrying at {when.isoformat(timespec='minutes')}"
        )
    else:
        schedule.status = ScheduleStatus.failed
        schedule.reason = f"{what} on all {schedule.max_attempts} attempts; giving up"
    session.add(schedule)
    session.flush()
    return schedule


def record_status(
    *,
    session: Session,
    call: Call,
    status: str,
    answered_by: str | None = None,
    duration_s: int | None = None,
    now: dt.datetime | None = None,
) -> CallSchedule | None:
    """Apply Twilio's status callback; finishes the call when the status is final.

    Statuses never go back (a late ``ringing`` after ``completed`` changes nothing). A call
    that was not answered is retried (its schedule is returned); an answered one is finalised.
    """
    now = now or utcnow()
    try:
        new = CallStatus(status)
    except ValueError as exc:
        raise VoiceInputError(f"unknown call status {status!r}") from exc
    if answered_by and call.answered_by is None:
        call.answered_by = answered_by[:30]
    if call.status in TERMINAL_STATUSES:
        if duration_s is not None:  # the conversation ended first; Twilio reports the length
            _update_data(call, duration_s=duration_s)
            session.add(call)
            session.flush()
        return None
    call.status = new
    call.updated_at = now
    if new == CallStatus.in_progress and call.started_at is None:
        call.started_at = now
    if duration_s is not None:
        _update_data(call, duration_s=duration_s)
    session.add(call)
    session.flush()
    if new not in TERMINAL_STATUSES:
        return None
    call.ended_at = now
    schedule = None
    if new in RETRY_STATUSES and call.outcome is None:
        call.outcome = CallOutcome.no_answer
        schedule = _schedule_retry(session, call, now, new)
        _publish_completed(
            session, call, will_retry=bool(schedule and schedule.status == "scheduled")
        )
        _update_data(call, finalized=True)
    else:
        finalize_call(session=session, call=call, now=now)
    session.add(call)
    session.flush()
    return schedule


@dataclass(frozen=True)
class VisitTime:
    """The clock a site visit was agreed for, on the contractor's wall clock."""

    time: str
    """``10:00``, as said."""
    timezone: str
    """the contractor's zone (``America/Chicago``)."""
    starts_at: dt.datetime
    """the moment, in UTC."""

    def clock_words(self) -> str:
        """``10 AM``."""
        hour, minute = (int(x) for x in self.time.split(":"))
        return spoken_clock(hour, minute)

    def words(self) -> str:
        """``at 10 AM (America/Chicago)``."""
        return f"at {self.clock_words()} ({self.timezone})"

    def facts(self) -> dict[str, Any]:
        """``time``, ``timezone`` and ``starts_at`` (UTC text), as ``appointment.scheduled``."""
        return {
            "time": self.time,
            "timezone": self.timezone,
            "starts_at": utc_text(self.starts_at),
        }


def visit_time(session: Session, call: Call, facts: Any, day: Any) -> VisitTime | None:
    """The site visit's clock on ``day`` in the contractor's zone, when one was said."""
    clock = getattr(facts, "site_visit_time", None)
    if not clock or not day:
        return None
    contractor = (
        session.get(Contractor, call.contractor_id) if call.contractor_id is not None else None
    )
    window = (
        call_window(contractor)
        if contractor is not None
        else hours.window_for(timezone=None, start=None, end=None)
    )
    try:
        starts_at = dt.datetime.combine(
            dt.date.fromisoformat(str(day)), dt.time.fromisoformat(clock), tzinfo=window.zone
        ).astimezone(dt.UTC)
    except ValueError:
        return None
    return VisitTime(time=clock, timezone=window.timezone, starts_at=starts_at)


def _publish_appointment(
    session: Session,
    call: Call,
    facts: Any,
    kind: str,
    value: Any,
    *,
    source: str | None = None,
) -> None:
    """Announce a start date or site visit the contractor agreed (``appointment.scheduled``).

    A site visit said with a clock ("Monday at 10am") keeps it: ``time`` (``10:00``, the
    contractor's wall clock), their ``timezone`` and ``starts_at``, the moment in UTC.
    """
    visit = visit_time(session, call, facts, value) if kind == "site_visit" else None
    payload: dict[str, Any] = {
        "call_id": call.id,
        "contractor_id": call.contractor_id,
        "project_id": call.project_id,
        "kind": kind,
        "date": value,
        "time": visit.time if visit else None,
        "timezone": visit.timezone if visit else None,
        "starts_at": visit.starts_at if visit else None,
        "duration_days": facts.duration_days if kind == "start" else None,
        "heard": facts.heard.get("start_date") if kind == "start" else None,
    }
    if source is not None:
        payload["source"] = source
    publish(session, org_id=call.org_id, name="appointment.scheduled", payload=payload)


def _publish_completed(session: Session, call: Call, *, will_retry: bool = False) -> None:
    publish(
        session,
        org_id=call.org_id,
        name="call.completed",
        payload={
            "call_id": call.id,
            "contractor_id": call.contractor_id,
            "project_id": call.project_id,
            "purpose": call.purpose,
            "status": call.status,
            "outcome": call.outcome,
            "attempt": call.attempt,
            "will_retry": will_retry,
            "bid_id": call.bid_id,
            "answered_by": call.answered_by,
            "duration_s": (call.outcome_data or {}).get("duration_s"),
            **(
                {
                    # Not the phone number: the lead is named by lead_id and the call by id
                    # (the number stays on the organisation's call row, not in the event log).
                    "lead_id": (call.outcome_data or {}).get("lead_id"),
                    "answers": (call.outcome_data or {}).get("answers"),
                }
                if call.purpose == CallPurpose.lead_qualification
                else {}
            ),
        },
    )


def _outcome(call: Call, facts: CallFacts) -> CallOutcome:
    if call.outcome == CallOutcome.voicemail:
        return CallOutcome.voicemail
    if facts.opted_out:
        return CallOutcome.opted_out
    if facts.priced:
        return CallOutcome.bid_received
    if facts.wrong_number:
        return CallOutcome.wrong_number
    if facts.declined:
        return CallOutcome.declined
    if facts.follow_up == "office":
        return CallOutcome.refer_to_office
    if facts.follow_up:
        return CallOutcome.quote_to_follow
    if facts.start_date or facts.site_visit:
        return CallOutcome.availability_confirmed
    if facts.callback:
        return CallOutcome.callback_requested
    return CallOutcome.unclear


def _line_items(facts: CallFacts, context: CallContext) -> list[dict[str, Any]]:
    known = {line.id: line for line in context.scope}
    items: list[dict[str, Any]] = []
    for item_id, amount in facts.line_prices.items():
        line = known.get(item_id)
        if line is None:
            continue
        rate = facts.line_rates.get(item_id)
        worked = (
            f"{line.quantity} {line.unit or ''} at {dollars(rate)}, ".replace(" ,", ",")
            if rate and line.quantity
            else ""
        )
        low = facts.price_ranges.get(item_id)
        said = f"said as {dollars(low)} to {dollars(amount)}, " if low else ""
        items.append(
            {
                "scope_item_id": item_id,
                "amount": amount,
                "note": f"{worked}{said}said on call {context.call_id}",
            }
        )
    return items


def action_items(
    facts: CallFacts,
    context: CallContext,
    outcome: CallOutcome,
    *,
    callback_note: str | None = None,
    start_on_file: str | None = None,
    visit: VisitTime | None = None,
) -> list[dict[str, Any]]:
    """What the team should do after the call, each with what it rests on.

    ``callback_note`` says what was done about a request to be called back (scheduled when,
    or why not); with it, a ``call_back`` item is listed whatever the outcome. A start date
    confirmed on a call without a bid (a start-date or scheduling call) is a ``confirm_start``
    item: the bid keeps its date until the team accepts the new one (``start_on_file`` says
    what the contractor's bid holds now). ``visit`` is the site visit's clock, when one was
    said ("on Tuesday, December 1 at 10 AM (America/Chicago)", with its time and moment).
    """
    items: list[dict[str, Any]] = []
    who = context.contractor_name
    if outcome == CallOutcome.bid_received:
        total = facts.bid_total()
        items.append(
            {
                "kind": "review_bid",
                "text": f"Review {who}'s bid of {dollars(total)} for {context.project_label}",
                "amount": f"{total:.2f}" if total is not None else None,
            }
        )
        unpriced = [
            line.component
            for line in context.scope
            if line.id not in facts.line_prices and facts.total is None
        ]
        if unpriced:
            items.append(
                {
                    "kind": "find_bids",
                    "text": f"No price from {who} for: {', '.join(unpriced)}",
                    "components": unpriced,
                }
            )
        for key, low in facts.price_ranges.items():
            line = next((s for s in context.scope if s.id == key), None)
            top = facts.total if key == "total" else facts.line_prices.get(key)
            what = f"the {line.component}" if line else "the job"
            items.append(
                {
                    "kind": "firm_price",
                    "text": f"{who} gave a range for {what} ({dollars(low)} to {dollars(top)}); "
                    "the bid holds the top: get a firm price",
                    "scope_item_id": line.id if line else None,
                    "low": low,
                    "high": top,
                }
            )
        if facts.insured is not True:
            items.append(
                {
                    "kind": "check_insurance",
                    "text": f"Get {who}'s certificate of insurance before awarding",
                }
            )
    for key, rate in facts.unit_rates.items():
        line = next((s for s in context.scope if s.id == key), None)
        what = f"the {line.component}" if line else "the job"
        items.append(
            {
                "kind": "price_per_unit",
                "text": f"{who} quoted {what} at {rate} but gave no total for it: get the "
                "total (it is not in the bid)",
                "scope_item_id": line.id if line else None,
                "rate": rate,
            }
        )
    if facts.site_visit:
        items.append(
            {
                "kind": "site_visit",
                "text": f"{who} visits {context.project_label} on {spoken_date(facts.site_visit)}"
                + (f" {visit.words()}" if visit else ""),
                "date": facts.site_visit,
                **(visit.facts() if visit else {"time": None, "timezone": None, "starts_at": None}),
            }
        )
    if facts.start_date and outcome == CallOutcome.bid_received:
        items.append(
            {
                "kind": "confirm_start",
                "text": f"{who} can start on {spoken_date(facts.start_date)}"
                + (f" ({facts.duration_days} days)" if facts.duration_days else ""),
                "date": facts.start_date,
            }
        )
    elif facts.start_date and outcome == CallOutcome.availability_confirmed:
        items.append(
            {
                "kind": "confirm_start",
                "text": f"{who} can start {context.project_label} on "
                f"{spoken_date(facts.start_date)} ({facts.start_date})"
                + (f", {facts.duration_days} days" if facts.duration_days else "")
                + (f" ({start_on_file})" if start_on_file else "")
                + ": confirm with them and update the bid's start date (it is not changed "
                "until you do)",
                "date": facts.start_date,
                "duration_days": facts.duration_days,
            }
        )
    if outcome == CallOutcome.callback_requested or callback_note:
        note = f": {callback_note}" if callback_note else ""
        items.append({"kind": "call_back", "text": f"{who} asked to be called back{note}"})
    if outcome == CallOutcome.voicemail:
        items.append({"kind": "await_reply", "text": f"Left {who} a voicemail and a WhatsApp text"})
    if outcome == CallOutcome.unclear:
        items.append(
            {"kind": "listen", "text": f"The call with {who} gave no clear answer: read it"}
        )
    if outcome == CallOutcome.refer_to_office:
        items.append(
            {
                "kind": "call_office",
                "text": f"Call {who}'s office for a price on {context.project_label} "
                "(no price given on the call)",
            }
        )
    if outcome == CallOutcome.quote_to_follow and facts.follow_up == "details":
        items.append(
            {
                "kind": "send_details",
                "text": f"Send {who} the details of {context.project_label}; "
                f"{who} will then send a quote",
            }
        )
    elif outcome == CallOutcome.quote_to_follow:
        how = {"text": "text", "email": "email"}.get(facts.follow_up or "", "send")
        items.append(
            {
                "kind": "await_quote",
                "text": f"{who} will {how} a quote for {context.project_label}: "
                "watch for it (no price given on the call)",
            }
        )
    if outcome == CallOutcome.wrong_number:
        items.append(
            {
                "kind": "fix_phone",
                "text": f"Someone else answered {who}'s number (wrong number): check the "
                "contractor's phone before calling again (they are not called until it "
                "changes)",
            }
        )
    return items


def _exclusions_text(facts: CallFacts) -> str | None:
    if facts.exclusions:
        return "; ".join(facts.exclusions)
    return "none" if facts.exclusions_answered else None


def _store_bid(session: Session, call: Call, facts: CallFacts, context: CallContext) -> str | None:
    """The call's bid through the construction service (once per call); why not, if it failed."""
    assert call.project_id is not None and call.contractor_id is not None
    existing = construction_service.bid_for_call(
        session=session, org_id=call.org_id, call_id=call.id
    )
    if existing is not None:
        call.bid_id = existing.id
        return None
    try:
        with session.begin_nested():
            bid = construction_service.create_bid(
                session=session,
                org_id=call.org_id,
                project_id=call.project_id,
                bid_in=BidCreate(
                    contractor_id=call.contractor_id,
                    total_amount=(Decimal(facts.total) if facts.total else None),
                    line_items=_line_items(facts, context),
                    exclusions=_exclusions_text(facts),
                    start_date=(
                        dt.date.fromisoformat(facts.start_date) if facts.start_date else None
                    ),
                    duration_days=facts.duration_days,
                    source=BidSource.call,
                    call_id=call.id,
                ),
            )
    except construction_service.ConstructionError as exc:
        log.warning("call bid refused", extra={"call_id": str(call.id)})
        return f"the bid could not be stored: {exc}"
    call.bid_id = bid.id
    return None


def _fact_sources(call: Call, facts: CallFacts) -> dict[str, str]:
    """Where each fact came from: as recorded before (the recording), else the live speech."""
    known = (call.outcome_data or {}).get("fact_sources") or {}
    return {key: known.get(key, SPEECH) for key in fact_values(facts)}


def end_conversation(*, session: Session, call: Call, now: dt.datetime | None = None) -> Call:
    """The agent said goodbye and hung up: the call is completed and finalised."""
    now = now or utcnow()
    if call.status not in TERMINAL_STATUSES:
        call.status = CallStatus.completed
        call.ended_at = now
    return finalize_call(session=session, call=call, now=now)


def finalize_call(*, session: Session, call: Call, now: dt.datetime | None = None) -> Call:
    """Turn an answered call's facts into its outcome, a bid, action items and events (once)."""
    now = now or utcnow()
    data = call.outcome_data or {}
    if data.get("finalized"):
        return call
    if call.purpose == CallPurpose.lead_qualification:
        return _finalize_lead_call(session, call, now)
    facts = facts_of(call)
    context = call_context(session=session, call=call, now=call.started_at or now)
    outcome = _outcome(call, facts)
    call.outcome = outcome
    if call.ended_at is None:
        call.ended_at = now
    bid_error: str | None = None
    if facts.opted_out and call.contractor_id is not None:
        heard = next(
            (row.text for row in _callee_rows(session, call) if _is_opt_out(row.text)),
            "asked on a call",
        )
        construction_service.mark_contractor_opted_out(
            session=session,
            org_id=call.org_id,
            contractor_id=call.contractor_id,
            reason=f'on call {call.id}: "{heard[:200]}"',
        )
        cancel_schedules_for(
            session=session,
            org_id=call.org_id,
            contractor_id=call.contractor_id,
            reason=f"the contractor opted out on call {call.id}",
        )
    elif facts.priced and call.project_id is not None and call.contractor_id is not None:
        bid_error = _store_bid(session, call, facts, context)
    if call.schedule_id:
        schedule = session.get(CallSchedule, call.schedule_id)
        if schedule is not None and schedule.status == ScheduleStatus.in_progress:
            schedule.status = ScheduleStatus.completed
            schedule.reason = f"answered on attempt {call.attempt}: {outcome.value}"
            session.add(schedule)
    callback_note: str | None = None
    if (
        facts.callback
        and call.contractor_id is not None
        and not facts.opted_out
        and outcome != CallOutcome.wrong_number  # whoever answered is not the contractor
    ):
        callback_note = _schedule_callback(session, call, facts, now)
    items = action_items(
        facts,
        context,
        outcome,
        callback_note=callback_note,
        start_on_file=_start_on_file(session, call) if facts.start_date else None,
        visit=visit_time(session, call, facts, facts.site_visit),
    ) + list(data.get("pending_action_items") or [])
    if bid_error:
        items.append(
            {
                "kind": "enter_bid",
                "text": f"Enter {context.contractor_name}'s bid by hand ({bid_error})",
            }
        )
    _update_data(
        call,
        finalized=True,
        action_items=items,
        bid_error=bid_error,
        fact_sources=_fact_sources(call, facts),
    )
    session.add(call)
    session.flush()
    _publish_completed(session, call)
    for kind, value in (("start", facts.start_date), ("site_visit", facts.site_visit)):
        if value:
            _publish_appointment(session, call, facts, kind, value)
    if items:
        publish(
            session,
            org_id=call.org_id,
            name="action.items.created",
            payload={
                "call_id": call.id,
                "contractor_id": call.contractor_id,
                "project_id": call.project_id,
                "items": items,
            }
            | ({"bid_id": call.bid_id} if call.bid_id is not None else {}),  # the call's bid
        )
    if (
        call.contractor_id is not None
        and outcome not in (CallOutcome.voicemail, CallOutcome.no_answer, CallOutcome.wrong_number)
        and any(row.text.strip() for row in _callee_rows(session, call))
    ):  # only a contractor who said something responded (not a canceled or silent call)
        publish(
            session,
            org_id=call.org_id,
            name="contractor.responded",
            payload={
                "contractor_id": call.contractor_id,
                "project_id": call.project_id,
                "call_id": call.id,
                "bid_id": call.bid_id,
                "outcome": outcome,
                **(
                    {"summary": said}
                    if outcome == CallOutcome.availability_confirmed
                    and (said := _agreed_summary(session, call, facts))
                    else {}
                ),
            },
        )
    return call


def _start_on_file(session: Session, call: Call) -> str | None:
    """What the called contractor's bid on the project says of the start (awarded bid first)."""
    if call.project_id is None or call.contractor_id is None:
        return None
    bids = [
        bid
        for bid in construction_service.list_bids(
            session=session, org_id=call.org_id, project_id=call.project_id
        )
        if bid.contractor_id == call.contractor_id
        and bid.status in (BidStatus.accepted, BidStatus.received)
        and bid.id != call.bid_id
    ]
    if not bids:
        return None
    bid = min(bids, key=lambda b: (b.status != BidStatus.accepted, -b.created_at.timestamp()))
    status = "awarded bid" if bid.status == BidStatus.accepted else "bid"
    if bid.start_date is None:
        return f"their {status} has no start date"
    return f"their {status} says {bid.start_date.isoformat()}"


def _agreed_summary(session: Session, call: Call, facts: CallFacts) -> str | None:
    """The dates a call without a bid settled, for the project's activity (a bid holds its own).

    "on a start date call, can start on Wednesday, December 9 (2026-12-09), 5 days"; a site
    visit with its clock: "site visit on Tuesday, December 1 at 10 AM
    (2026-12-01 10:00 America/Chicago)".
    """
    said = []
    if facts.start_date:
        said.append(
            f"can start on {spoken_date(facts.start_date)} ({facts.start_date})"
            + (f", {facts.duration_days} days" if facts.duration_days else "")
        )
    if facts.site_visit:
        visit = visit_time(session, call, facts, facts.site_visit)
        said.append(
            f"site visit on {spoken_date(facts.site_visit)} at {visit.clock_words()} "
            f"({facts.site_visit} {visit.time} {visit.timezone})"
            if visit
            else f"site visit on {spoken_date(facts.site_visit)} ({facts.site_visit})"
        )
    if not said:
        return None
    return f"on a {CallPurpose(call.purpose).value.replace('_', ' ')} call, " + "; ".join(said)


def callback_slot(
    when: CallbackTime | None,
    *,
    said_at: dt.datetime,
    now: dt.datetime,
    windows: tuple[hours.CallWindow, ...],
) -> hours.CallbackSlot:
    """When to call back someone who asked for it: the time they said, inside their hours.

    ``when`` is what they said ("Tuesday at 3", "in an hour", on their own clock, read in
    the first window's zone); without a time, a day later. See ``hours.callback_slot``.
    """
    asked = when.moment(said_at=said_at, zone=windows[0].zone) if when is not None else None
    return hours.callback_slot(asked, now=now, windows=windows)


def _callback_reason(call: Call, when: CallbackTime | None) -> str:
    heard = f' ("{when.heard[:120]}")' if when is not None and when.heard else ""
    return f"asked to be called back on call {call.id}{heard}"


def _schedule_callback(session: Session, call: Call, facts: CallFacts, now: dt.datetime) -> str:
    """A contractor who asked to be called back gets a call at the time they said.

    At the time they asked for when they said one (moved into their calling hours), else a
    day later within their hours. A call to them about the project for the same purpose that
    is still scheduled (an earlier callback) is moved to that time, not left where it was:
    the time the agent promised is the one called. Returns what was done, for the team's
    action item.
    """
    assert call.contractor_id is not None
    try:
        contractor = construction_service.get_contractor(
            session=session, org_id=call.org_id, contractor_id=call.contractor_id
        )
    except construction_service.NotFoundError:
        return "not scheduled: the contractor is no longer in the organisation"
    wrong = wrong_number_calls(session=session, org_id=call.org_id, contractors=[contractor])
    if contractor.id in wrong:
        return f"not scheduled: {wrong_number_reason(wrong[contractor.id])}"
    window = call_window(contractor)
    slot = callback_slot(
        facts.callback_when,
        said_at=call.ended_at or now,
        now=now,
        windows=(window,),
    )
    reason = _callback_reason(call, facts.callback_when)
    trade = _requested_trade(session, call)
    same_project = (
        col(CallSchedule.project_id).is_(None)
        if call.project_id is None
        else col(CallSchedule.project_id) == call.project_id
    )
    earlier = _scheduled_to_move(
        session,
        CallSchedule.org_id == call.org_id,
        CallSchedule.contractor_id == contractor.id,
        same_project,
        CallSchedule.purpose == CallPurpose(call.purpose),
    )
    if earlier is not None:
        return _move_callback(
            session,
            earlier,
            slot,
            window,
            reason,
            details={"trade": trade} if trade else {},
        )
    try:
        _new_schedule(
            session=session,
            org_id=call.org_id,
            contractor_id=contractor.id,
            project_id=call.project_id,
            purpose=CallPurpose(call.purpose),
            when=slot.when,
            reason=reason,
            requested_by=call.requested_by,
            details={"trade": trade} if trade else None,
        )
    except ScheduleConflict as exc:
        return f"not scheduled again: {exc}"
    return f"the agent calls back {slot.text}"


def _scheduled_to_move(session: Session, *where: Any) -> CallSchedule | None:
    """The callee's call still ``scheduled`` for the same purpose (locked), for a callback to move.

    One being placed (``in_progress``) is not moved; a dispatcher's claim is waited for.
    """
    return session.exec(
        select(CallSchedule)
        .where(*where, CallSchedule.status == ScheduleStatus.scheduled)
        .order_by(col(CallSchedule.scheduled_for), col(CallSchedule.id))
        .with_for_update()
    ).first()


def _move_callback(
    session: Session,
    schedule: CallSchedule,
    slot: hours.CallbackSlot,
    window: hours.CallWindow,
    reason: str,
    *,
    details: dict[str, Any],
) -> str:
    """Move the call already scheduled to the newly asked-for slot; what was done, in words.

    The callee asked again for another time, and the agent promised that one: the earlier
    schedule (one pending call per callee) is the one kept, at the new time, so the time
    promised is the time called.
    """
    before = schedule.scheduled_for
    local = hours.local_time(before, window)
    before_text = f"{local:%a %b} {local.day} at {local:%H:%M}"
    if abs(slot.when - before) <= dt.timedelta(minutes=1):
        return f"the agent calls back {slot.text} (the call already scheduled for then)"
    schedule.scheduled_for = slot.when
    schedule.reason = f"{reason}; moved from {utc_text(before)}"
    schedule.details = {**(schedule.details or {}), **details}
    session.add(schedule)
    session.flush()
    return (
        f"the agent's call already scheduled (schedule {schedule.id}) was moved from "
        f"{before_text} to {slot.text}"
    )


def _schedule_lead_callback(
    session: Session, call: Call, facts: LeadFacts, details: dict[str, Any], now: dt.datetime
) -> str:
    """A seller who asked to be called back gets another qualification call, when they said.

    Only with the consent the first call had (``has_consent``) and a number not on the
    do-not-call list; inside their calling hours (``lead_windows``), at the time they asked
    for or a day later; a lead call to the number still scheduled is moved to that time.
    Returns what was done, for the team's action item.
    """
    if not has_consent(details) or call.to_number is None:
        return "not scheduled: no recorded consent to automated calls, so call them yourself"
    if is_do_not_call(session=session, org_id=call.org_id, phone_number=call.to_number):
        return "not scheduled: the number is on the do-not-call list"
    windows = hours.lead_windows(details.get("timezone"), call.to_number)
    slot = callback_slot(
        facts.callback_when,
        said_at=call.ended_at or now,
        now=now,
        windows=windows,
    )
    reason = _callback_reason(call, facts.callback_when)
    earlier = _scheduled_to_move(
        session,
        CallSchedule.org_id == call.org_id,
        CallSchedule.to_number == call.to_number,
        CallSchedule.purpose == CallPurpose.lead_qualification,
    )
    if earlier is not None:
        return _move_callback(
            session,
            earlier,
            slot,
            windows[0],
            reason,
            details={**details, "callback_of": str(call.id)},
        )
    try:
        _new_schedule(
            session=session,
            org_id=call.org_id,
            contractor_id=None,
            project_id=None,
            purpose=CallPurpose.lead_qualification,
            when=slot.when,
            reason=reason,
            requested_by=call.requested_by,
            to_number=call.to_number,
            details={**details, "callback_of": str(call.id)},
        )
    except ScheduleConflict as exc:
        return f"not scheduled again: {exc}"
    return f"the agent calls back {slot.text}"


def _lead_outcome(call: Call, facts: LeadFacts) -> CallOutcome:
    if call.outcome == CallOutcome.voicemail:
        return CallOutcome.voicemail
    if facts.opted_out:
        return CallOutcome.opted_out
    if facts.interested is False:
        return CallOutcome.declined
    if facts.answered_anything:
        return CallOutcome.qualified
    if facts.callback:
        return CallOutcome.callback_requested
    return CallOutcome.unclear


def _sentence_start(text: str) -> str:
    """``text`` with its first letter capitalised and the rest kept ("The lead Kim Seller")."""
    return text[:1].upper() + text[1:]


def lead_action_items(
    facts: LeadFacts,
    outcome: CallOutcome,
    details: dict[str, Any],
    *,
    callback_note: str | None = None,
) -> list[dict[str, Any]]:
    """What the team should do after a lead-qualification call, from the recorded facts.

    ``callback_note`` says what was done about a request to be called back.
    """
    from domain.voice.lead import walkthrough_words

    name = details.get("name")
    lead = f"the lead {name}" if name else "the lead"
    address = str(details.get("address") or "the property")
    items: list[dict[str, Any]] = []

    def add(kind: str, text: str, **extra: Any) -> None:
        items.append({"kind": kind, "text": text, **extra, "lead_id": details.get("lead_id")})

    if outcome == CallOutcome.qualified:
        add("qualified_lead", team_summary(facts, address), answers=facts.answers())
    if facts.walkthrough_date and outcome != CallOutcome.opted_out:
        add(
            "walkthrough",
            f"Walk through {address} with {lead} on {walkthrough_words(facts)}",
            date=facts.walkthrough_date,
            time=facts.walkthrough_time,
        )
    if outcome == CallOutcome.declined:
        add(
            "lead_not_selling",
            f"{_sentence_start(lead)} ({address}) is no longer interested in selling",
        )
    if outcome == CallOutcome.opted_out:
        add(
            "lead_opted_out",
            f"{_sentence_start(lead)} ({address}) asked not to be called again: the number is "
            "on the do-not-call list",
        )
    if facts.callback and outcome != CallOutcome.opted_out:
        note = f": {callback_note}" if callback_note else ""
        add("call_back", f"{_sentence_start(lead)} asked to be called back{note}")
    if outcome == CallOutcome.voicemail:
        add("await_reply", f"Left {lead} a voicemail about {address} with our callback number")
    if outcome == CallOutcome.unclear:
        add("listen", f"The call with {lead} about {address} gave no clear answer: read it")
    return items


def _finalize_lead_call(session: Session, call: Call, now: dt.datetime) -> Call:
    """A lead-qualification call's outcome: answers stored, opt-out kept, events published."""
    data = call.outcome_data or {}
    facts = LeadFacts.from_json(data.get("facts"))
    schedule = session.get(CallSchedule, call.schedule_id) if call.schedule_id else None
    details = dict((schedule.details if schedule else None) or {})
    outcome = _lead_outcome(call, facts)
    call.outcome = outcome
    if call.ended_at is None:
        call.ended_at = now
    if facts.opted_out:
        heard = next(
            (row.text for row in _callee_rows(session, call) if _is_opt_out(row.text)),
            "asked on a call",
        )
        mark_number_opted_out(
            session=session,
            org_id=call.org_id,
            phone_number=call.to_number,
            reason=f'on call {call.id}: "{heard[:200]}"',
            call_id=call.id,
        )
    if schedule is not None and schedule.status == ScheduleStatus.in_progress:
        schedule.status = ScheduleStatus.completed
        schedule.reason = f"answered on attempt {call.attempt}: {outcome.value}"
        session.add(schedule)
    callback_note: str | None = None
    if facts.callback and outcome not in (
        CallOutcome.opted_out,
        CallOutcome.declined,
        CallOutcome.voicemail,
    ):
        callback_note = _schedule_lead_callback(session, call, facts, details, now)
    items = lead_action_items(facts, outcome, details, callback_note=callback_note)
    if outcome == CallOutcome.voicemail:
        answers = None
    else:
        answers = facts.answers()
    _update_data(
        call,
        finalized=True,
        action_items=items,
        answers=answers,
        lead_id=details.get("lead_id"),
    )
    session.add(call)
    session.flush()
    _publish_completed(session, call)
    if facts.walkthrough_date and outcome not in (CallOutcome.opted_out, CallOutcome.voicemail):
        publish(
            session,
            org_id=call.org_id,
            name="appointment.scheduled",
            payload={
                "call_id": call.id,
                "contractor_id": None,
                "project_id": None,
                "kind": "walkthrough",
                "date": facts.walkthrough_date,
                "time": facts.walkthrough_time,
                "timezone": hours.lead_windows(details.get("timezone"), call.to_number)[0].timezone,
                "duration_days": None,
                "lead_id": details.get("lead_id"),
                "property_id": details.get("property_id"),
                "address": details.get("address"),
            },
        )
    if items:
        publish(
            session,
            org_id=call.org_id,
            name="action.items.created",
            payload={
                "call_id": call.id,
                "contractor_id": None,
                "project_id": None,
                "schedule_id": call.schedule_id,
                "lead_id": details.get("lead_id"),
                "items": items,
                "source": "lead_qualification",
            },
        )
    return call


def _callee_rows(session: Session, call: Call) -> Sequence[CallTranscript]:
    """What the person called said (a lead's older rows are labelled ``contractor`` too)."""
    return session.exec(
        select(CallTranscript)
        .where(
            CallTranscript.call_id == call.id,
            col(CallTranscript.speaker).in_([Speaker.contractor.value, Speaker.lead.value]),
        )
        .order_by(col(CallTranscript.turn))
    ).all()


def _is_opt_out(text: str) -> bool:
    from domain.voice.extraction import wants_opt_out

    return wants_opt_out(text)


# --- recordings --------------------------------------------------------------------------


def note_recording(
    *, session: Session, call: Call, recording_sid: str, url: str, duration_s: int | None
) -> bool:
    """Remember a finished recording once; True when it is new (fetch it then)."""
    data = call.outcome_data or {}
    if (data.get("recording") or {}).get("sid") == recording_sid:
        return False
    _update_data(call, recording={"sid": recording_sid, "url": url, "duration_s": duration_s})
    session.add(call)
    session.flush()
    return True


def recording_problem(*, session: Session, call: Call, reason: str) -> None:
    """Why the call's recording could not be stored or transcribed (kept on the recording)."""
    recording = dict((call.outcome_data or {}).get("recording") or {})
    _update_data(call, recording=recording | {"error": reason[:500]})
    session.add(call)
    session.flush()


def attach_recording(*, session: Session, call: Call, document_id: uuid.UUID) -> None:
    """Link the stored recording (a documents row) to the call."""
    call.recording_document_id = document_id
    session.add(call)
    session.flush()


def recording_transcribed(call: Call) -> bool:
    """True when Whisper's transcript of the call's current recording is already kept."""
    data = call.outcome_data or {}
    sid = (data.get("recording") or {}).get("sid")
    return bool(data.get("recording_transcript")) and (
        (data.get("recording_transcript") or {}).get("sid") == sid
    )


def store_recording_transcript(
    *,
    session: Session,
    call: Call,
    text: str,
    model: str,
    segments: Sequence[str] = (),
) -> None:
    """Keep Whisper's transcript of the recording next to the live speech results."""
    sid = ((call.outcome_data or {}).get("recording") or {}).get("sid")
    _update_data(
        call,
        recording_transcript={
            "sid": sid,
            "text": text,
            "model": model,
            "segments": list(segments) or [text],
        },
    )
    session.add(call)
    session.flush()


_FACT_LABELS = {"total": "total", "start_date": "start date", "site_visit": "site visit"}


def _fact_label(key: str, context: CallContext) -> str:
    if key.startswith("line:"):
        line = next((s for s in context.scope if s.id == key.split(":", 1)[1]), None)
        return f"the {line.component if line else 'scope line'} price"
    return f"the {_FACT_LABELS.get(key, key.replace('_', ' '))}"


def _fact_text(key: str, value: str) -> str:
    if key.startswith("line:") or key == "total":
        try:
            return dollars(value)
        except ArithmeticError:
            return value
    if key in ("start_date", "site_visit"):
        try:
            return spoken_date(value)
        except ValueError:
            return value
    if key == "duration_days" and value.isdigit():
        return f"{value} days"
    return value


def apply_recording_transcript(
    *, session: Session, call: Call, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Add to the call what only its recording said; update the bid; note disagreements.

    The contractor's side of Whisper's transcript (``contractor_side``) is read by the same
    extraction as the live speech results, and merged by ``extraction.merge_recording``: a
    fact heard live is never changed, only what the live speech missed is added, and a
    recording that says otherwise becomes a ``check_recording`` action item. Each fact's
    source (``speech`` or ``recording``) is kept in ``outcome_data["fact_sources"]``. On a
    finished call an added bid figure updates the call's bid through
    ``construction_service.update_bid`` (or creates it when the call gave no price). Once per
    recording (``RecordingSid``). Returns the merge as stored (``recording_merge``).
    """
    now = now or utcnow()
    data = call.outcome_data or {}
    if call.purpose == CallPurpose.lead_qualification:
        return {}  # a seller's answers are confirmed on the call; there is no bid to fill
    sid = (data.get("recording") or {}).get("sid")
    done = data.get("recording_merge") or {}
    if done and done.get("sid") == sid:
        return dict(done)
    transcript = data.get("recording_transcript") or {}
    segments = [str(s) for s in transcript.get("segments") or [transcript.get("text") or ""]]
    agent_lines = [
        row.text
        for row in session.exec(
            select(CallTranscript).where(
                CallTranscript.call_id == call.id, CallTranscript.speaker == Speaker.agent
            )
        )
    ]
    heard = contractor_side(segments, agent_lines)
    context = call_context(session=session, call=call, now=call.started_at or now)
    speech = facts_of(call)
    recording = facts_from_transcript(
        ((None, segment) for segment in heard), scope=context.scope, today=context.today
    )
    merge = merge_recording(speech, recording)
    who = context.contractor_name
    items: list[dict[str, Any]] = []
    for disagreement in merge.disagreements:
        key = disagreement["fact"]
        said_live = disagreement["speech"]
        on_call = (
            f"{who} did not price it on the call"
            if said_live == "not priced on the call"
            else f"{who} confirmed {_fact_text(key, said_live)} on the call"
        )
        items.append(
            {
                "kind": "check_recording",
                "text": f"The recording has {_fact_label(key, context)} as "
                f"{_fact_text(key, disagreement['recording'])} but {on_call}: listen to it "
                "before relying on the bid",
                **disagreement,
            }
        )
    if recording.opted_out and not speech.opted_out:
        items.append(
            {
                "kind": "check_opt_out",
                "text": f"In the recording {who} may have asked not to be called again: listen "
                "and mark them opted out if so",
            }
        )
    merged = merge.facts
    stored = {
        "sid": sid,
        "heard": heard,
        "facts": recording.to_json(),
        "added": list(merge.added),
        "disagreements": list(merge.disagreements),
        "bid_updated": False,
    }
    _update_data(call, facts=merged.to_json(), fact_sources=merge.sources, recording_merge=stored)
    finalized = bool(data.get("finalized"))
    bid_figures = [k for k in merge.added if k.startswith("line:") or k in BID_FACTS]
    if (
        finalized
        and bid_figures
        and call.project_id is not None
        and call.contractor_id is not None
        and not (speech.opted_out or speech.declined)
    ):
        problem = _bid_from_recording(session, call, merged, context, bid_figures, stored)
        if problem:
            items.append({"kind": "enter_bid", "text": f"Update {who}'s bid by hand ({problem})"})
    if stored.get("bid_created"):
        items[:0] = [
            item
            for item in action_items(merged, context, CallOutcome.bid_received)
            if item["kind"] == "review_bid"
        ]
    if finalized:
        _after_recording(session, call, merge, merged, items, context)
    elif items:  # finalize_call adds them to the call's action items
        _update_data(call, pending_action_items=items)
    _update_data(call, recording_merge=stored)
    call.updated_at = now
    session.add(call)
    session.flush()
    return stored


def _bid_from_recording(
    session: Session,
    call: Call,
    merged: CallFacts,
    context: CallContext,
    added: list[str],
    stored: dict[str, Any],
) -> str | None:
    """Put the recording's added figures on the call's bid (create it if the call had none)."""
    assert call.project_id is not None and call.contractor_id is not None
    existing = construction_service.bid_for_call(
        session=session, org_id=call.org_id, call_id=call.id
    )
    if existing is None:
        if not merged.priced:
            return None
        problem = _store_bid(session, call, merged, context)
        if problem is None:
            stored["bid_created"] = True
            call.outcome = CallOutcome.bid_received
        return problem
    lines = any(key.startswith("line:") for key in added)
    try:
        with session.begin_nested():
            construction_service.update_bid(
                session=session,
                org_id=call.org_id,
                bid_id=existing.id,
                line_items=_line_items(merged, context) if lines else None,
                total_amount=merged.bid_total() if lines or "total" in added else None,
                start_date=(
                    dt.date.fromisoformat(merged.start_date)
                    if "start_date" in added and merged.start_date
                    else None
                ),
                duration_days=merged.duration_days if "duration_days" in added else None,
                exclusions=_exclusions_text(merged) if "exclusions" in added else None,
                reason=f"heard in the recording of call {call.id}: {', '.join(added)}",
            )
    except construction_service.ConstructionError as exc:
        log.warning("call bid not updated from the recording", extra={"call_id": str(call.id)})
        return f"the recording's {', '.join(added)} could not be added to bid {existing.id}: {exc}"
    call.bid_id = existing.id
    stored["bid_updated"] = True
    return None


def _after_recording(
    session: Session,
    call: Call,
    merge: RecordingMerge,
    merged: CallFacts,
    items: list[dict[str, Any]],
    context: CallContext,
) -> None:
    """A finished call's new action items and appointments from its recording (events)."""
    if call.outcome == CallOutcome.unclear and merge.added:
        call.outcome = _outcome(call, merged)
    for kind, key in (("start", "start_date"), ("site_visit", "site_visit")):
        value = getattr(merged, key)
        if key in merge.added and value:
            _publish_appointment(session, call, merged, kind, value, source=RECORDING)
    if not items:
        return
    existing = list((call.outcome_data or {}).get("action_items") or [])
    _update_data(call, action_items=existing + items)
    publish(
        session,
        org_id=call.org_id,
        name="action.items.created",
        payload={
            "call_id": call.id,
            "contractor_id": call.contractor_id,
            "project_id": call.project_id,
            "items": items,
            "source": RECORDING,
        },
    )


# --- availability ------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractorSlot:
    """Whether one contractor may be called now."""

    contractor: Contractor
    callable_now: bool
    reason: str | None
    local_time: str
    window: str
    next_allowed_at: dt.datetime | None


@dataclass(frozen=True)
class Availability:
    """Free call slots, upcoming scheduled calls and who may be called now."""

    checked_at: dt.datetime
    max_concurrent_calls: int
    active_calls: int
    upcoming: list[CallSchedule]
    contractors: list[ContractorSlot]

    @property
    def free_slots(self) -> int:
        """Slots not taken by a call in progress."""
        return max(0, self.max_concurrent_calls - self.active_calls)


def contractor_slot(
    contractor: Contractor, now: dt.datetime, *, wrong_number: Call | None = None
) -> ContractorSlot:
    """Whether ``contractor`` may be called at ``now``, and if not why and from when.

    ``wrong_number``: the last answered call to their current phone, when it reached someone
    else (``wrong_number_calls``): not called until the phone is changed.
    """
    window = call_window(contractor)
    local = hours.local_time(now, window)
    reason: str | None = None
    next_at: dt.datetime | None = None
    if contractor.opted_out:
        reason = "opted out: never called"
    elif not contractor.phone:
        reason = "no phone number"
    elif wrong_number is not None:
        reason = f"wrong number: {wrong_number_reason(wrong_number)}"
    elif not hours.is_allowed(now, window):
        reason = f"outside calling hours ({window.describe()})"
        next_at = hours.next_allowed(now, window)
    return ContractorSlot(
        contractor=contractor,
        callable_now=reason is None,
        reason=reason,
        local_time=f"{local:%H:%M} {window.timezone}",
        window=window.describe(),
        next_allowed_at=next_at if reason is None or next_at else None,
    )


def availability(
    *,
    session: Session,
    org_id: uuid.UUID,
    trade: str | None = None,
    now: dt.datetime | None = None,
) -> Availability:
    """The agent's free call slots and which contractors can be called now."""
    now = now or utcnow()
    contractors = construction_service.list_contractors(session=session, org_id=org_id, trade=trade)
    wrong = wrong_number_calls(session=session, org_id=org_id, contractors=contractors)
    return Availability(
        checked_at=now,
        max_concurrent_calls=get_settings().voice_max_concurrent_calls,
        active_calls=active_calls(session=session, org_id=org_id, now=now),
        upcoming=list_schedules(session=session, org_id=org_id, limit=20),
        contractors=[contractor_slot(c, now, wrong_number=wrong.get(c.id)) for c in contractors],
    )


# --- requests from events ----------------------------------------------------------------


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _org_user_id(session: Session, org_id: uuid.UUID, value: Any) -> uuid.UUID | None:
    """``value`` as the id of one of the organisation's users; None when it names none."""
    user_id = _uuid(value)
    if user_id is None:
        return None
    if auth_service.get_user(session=session, org_id=org_id, user_id=user_id) is None:
        log.warning("requested_by %s is not a user of this organisation; ignored", user_id)
        return None
    return user_id


@dataclass(frozen=True)
class BidCallPlan:
    """What a "get bids" request led to: schedules made and contractors passed over (why)."""

    schedules: list[CallSchedule]
    skipped: dict[str, str]


@dataclass(frozen=True)
class BidCallPick:
    """Who a bid request calls and who it passes over (each with why), before any is placed."""

    to_call: list[Contractor]
    skipped: dict[uuid.UUID, str]
    """contractor id → "<name> skipped: <why>"."""


def pick_bid_contractors(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID | None,
    candidates: Sequence[Contractor],
    wanted: int,
    purpose: CallPurpose = CallPurpose.bid_request,
    now: dt.datetime | None = None,
) -> BidCallPick:
    """The one rule of who a "get bids" request calls: the request tool and the event agree.

    In ``candidates``' order, up to ``wanted`` contractors; passed over (and named, with why):
    one who already bid on the project, opted out, has no phone, whose current number reached
    someone else on the last answered call (until the phone changes), or with a call about the
    project scheduled, under way or placed in the last ``RECENT_CALL``. Candidates after the
    ``wanted``-th are neither called nor listed.
    """
    now = now or utcnow()
    already_bid: set[uuid.UUID] = set()
    busy: dict[uuid.UUID, str] = {}
    if project_id is not None:
        already_bid = {
            bid.contractor_id
            for bid in construction_service.list_bids(
                session=session, org_id=org_id, project_id=project_id
            )
        }
        busy = contractors_in_contact(
            session=session, org_id=org_id, project_id=project_id, now=now
        )
    wrong = wrong_number_calls(session=session, org_id=org_id, contractors=candidates)
    to_call: list[Contractor] = []
    skipped: dict[uuid.UUID, str] = {}
    for contractor in candidates:
        if len(to_call) >= wanted:
            break
        why: str | None = None
        if contractor.id in already_bid:
            why = "already bid on this project"
        elif contractor.id in wrong:
            # before "called an hour ago": "update their phone" says more
            why = wrong_number_reason(wrong[contractor.id])
        else:
            try:
                check_callable(
                    session=session,
                    org_id=org_id,
                    contractor_id=contractor.id,
                    project_id=project_id,
                    purpose=purpose,
                )
            except OptedOut:
                why = "asked not to be called"
            except VoiceInputError as exc:
                why = str(exc)
            else:
                why = busy.get(contractor.id)
        if why is not None:
            skipped[contractor.id] = f"{contractor.name} skipped: {why}"
            continue
        to_call.append(contractor)
    return BidCallPick(to_call, skipped)


def plan_bid_calls(
    *,
    session: Session,
    org_id: uuid.UUID,
    payload: dict[str, Any],
    source_event_id: uuid.UUID,
    now: dt.datetime | None = None,
) -> BidCallPlan:
    """Schedule calls for ``contractor.call.requested`` (once per event; a job places them).

    The payload names a ``contractor_id``, or a ``trade`` (and ``count``, default
    ``VOICE_BIDS_PER_REQUEST``), with a ``project_id``, a ``purpose`` and ``requested_by``.
    Contractors who opted out, have no phone, whose current number reached someone else on
    the last answered call (``WrongNumber``) or who already bid on the project are passed over,
    and so is one with a call about the project scheduled or under way (a schedule
    ``scheduled``/``in_progress``: the partial unique index backs this against two requests
    at once) or placed in the last ``RECENT_CALL`` (ringing now, or a voicemail left), however
    the call was asked for (``/calls/initiate`` included).
    """
    now = now or utcnow()
    existing = session.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == org_id, CallSchedule.source_event_id == source_event_id
        )
    ).all()
    if existing:
        return BidCallPlan(list(existing), {})
    project_id = _uuid(payload.get("project_id"))
    if project_id is not None:
        _project(session, org_id, project_id)
    try:
        purpose = CallPurpose(payload.get("purpose") or CallPurpose.bid_request.value)
    except ValueError as exc:
        raise VoiceInputError(f"unknown call purpose {payload.get('purpose')!r}") from exc
    requested_by = _org_user_id(session, org_id, payload.get("requested_by"))
    contractor_id = _uuid(payload.get("contractor_id"))
    trade = str(payload.get("trade") or "").strip() or None
    if contractor_id is not None:
        candidates = [_contractor(session, org_id, contractor_id)]
        wanted = 1
    else:
        if trade is None:
            raise VoiceInputError("contractor.call.requested needs a contractor_id or a trade")
        candidates = construction_service.list_contractors(
            session=session, org_id=org_id, trade=trade, include_opted_out=False
        )
        try:
            wanted = int(payload.get("count") or get_settings().voice_bids_per_request)
        except (TypeError, ValueError):
            wanted = get_settings().voice_bids_per_request
        wanted = max(1, min(wanted, 10))
    picked = pick_bid_contractors(
        session=session,
        org_id=org_id,
        project_id=project_id,
        candidates=candidates,
        wanted=wanted,
        purpose=purpose,
        now=now,
    )
    schedules: list[CallSchedule] = []
    skipped: dict[str, str] = {str(k): v for k, v in picked.skipped.items()}
    for contractor in picked.to_call:
        window = call_window(contractor)
        when = hours.next_allowed(now, window)
        try:
            schedule = _new_schedule(
                session=session,
                org_id=org_id,
                contractor_id=contractor.id,
                project_id=project_id,
                purpose=purpose,
                when=when,
                reason=None if when <= now else f"outside calling hours ({window.describe()})",
                requested_by=requested_by,
                source_event_id=source_event_id,
                details={"requested": "contractor.call.requested"}
                | ({"trade": trade} if trade else {}),
            )
        except ScheduleConflict as exc:  # another request got there first
            skipped[str(contractor.id)] = str(exc)
            continue
        schedules.append(schedule)
    return BidCallPlan(schedules, skipped)


def contractors_in_contact(
    *,
    session: Session,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    now: dt.datetime | None = None,
) -> dict[uuid.UUID, str]:
    """Contractors not to call again about a project now, each with why.

    A scheduled or in-progress call schedule, or a call (of any status, however it was
    asked for) placed in the last ``RECENT_CALL``. No row limit: every such contractor.
    """
    now = now or utcnow()
    found: dict[uuid.UUID, str] = {}
    for contractor_id, status, when in session.exec(
        select(CallSchedule.contractor_id, CallSchedule.status, CallSchedule.scheduled_for).where(
            CallSchedule.org_id == org_id,
            CallSchedule.project_id == project_id,
            col(CallSchedule.contractor_id).is_not(None),
            col(CallSchedule.status).in_([s.value for s in PENDING_SCHEDULE_STATUSES]),
        )
    ).all():
        assert contractor_id is not None
        found[contractor_id] = (
            "a call about this project is under way"
            if status == ScheduleStatus.in_progress
            else f"a call about this project is already scheduled for "
            f"{when.isoformat(timespec='minutes')}"
        )
    for contractor_id, status, outcome, created in session.exec(
        select(Call.contractor_id, Call.status, Call.outcome, Call.created_at)
        .where(
            Call.org_id == org_id,
            Call.project_id == project_id,
            col(Call.contractor_id).is_not(None),
            col(Call.created_at) > now - RECENT_CALL,
        )
        .order_by(col(Call.created_at).desc())
    ).all():
        assert contractor_id is not None
        if contractor_id in found:
            continue
        if status not in TERMINAL_STATUSES:
            found[contractor_id] = f"a call about this project is {status} now"
        else:
            found[contractor_id] = (
                f"called about this project at {created.isoformat(timespec='minutes')} "
                f"({outcome or status}); not called again within "
                f"{int(RECENT_CALL.total_seconds() // 3600)} hours"
            )
    return found


def submit_lead(
    *,
    session: Session,
    org_id: uuid.UUID,
    lead: LeadCallRequest,
    requested_by: uuid.UUID | None,
) -> CallSchedule:
    """A seller lead from the team (or its CRM): ``lead.qualification.needed``, planned now.

    The event is published for the record (and any other subscriber) and the call is planned
    at once with the event's id, so the voice subscriber finds it done when the event arrives.
    ``VoiceInputError`` for an unusable number or time zone, or consent without its source;
    ``CallNotFound`` for a property or deal not in the organisation.
    """
    try:
        number = construction_service.normalise_phone(lead.phone)
    except construction_service.ConstructionInputError as exc:
        raise VoiceInputError(str(exc)) from exc
    if lead.timezone is not None and hours.valid_timezone(lead.timezone) is None:
        raise VoiceInputError(f"{lead.timezone!r} is not a time zone (e.g. America/Detroit)")
    from domain.deal import service as deal_service
    from domain.property import service as property_service

    if lead.property_id is not None and (
        property_service.get(session=session, org_id=org_id, property_id=lead.property_id) is None
    ):
        raise CallNotFound(f"property {lead.property_id} not found")
    if lead.deal_id is not None:
        try:
            deal_service.get_deal(session=session, org_id=org_id, deal_id=lead.deal_id)
        except deal_service.DealNotFoundError as exc:
            raise CallNotFound(f"deal {lead.deal_id} not found") from exc
    if lead.consent_to_call and not (lead.consent_source or "").strip():
        raise VoiceInputError(
            "consent_to_call needs a consent_source: where and when the lead agreed to "
            "automated calls (e.g. 'web form 2026-11-20')"
        )
    payload: dict[str, Any] = {
        key: value
        for key, value in {
            "phone": number,
            "address": lead.address.strip(),
            "name": lead.name,
            "lead_id": lead.lead_id,
            "property_id": lead.property_id,
            "deal_id": lead.deal_id,
            "timezone": lead.timezone,
            "consent_to_call": lead.consent_to_call,
            "consent_source": lead.consent_source,
            "requested_by": requested_by,
            "source": "api",
        }.items()
        if value is not None
    }
    event_id = publish(session, org_id=org_id, name="lead.qualification.needed", payload=payload)
    return plan_lead_call(
        session=session,
        org_id=org_id,
        payload=dict(normalise_payload(payload)),
        source_event_id=event_id,
    )


def plan_lead_call(
    *,
    session: Session,
    org_id: uuid.UUID,
    payload: dict[str, Any],
    source_event_id: uuid.UUID,
    now: dt.datetime | None = None,
) -> CallSchedule:
    """Schedule (or leave to the team) the call for ``lead.qualification.needed``, once per event.

    US law (the TCPA) lets an artificial-voice call reach a consumer's phone only with their
    prior express consent, so the voice agent calls a seller lead only when the payload says
    ``consent_to_call: true`` with a ``consent_source`` (where and when it was given). Then a
    ``lead_qualification`` call is ``scheduled``: due now, or at the next opening of the lead's
    hours (09:00-20:00 Mon-Sat in the payload's ``timezone``, else in every zone of the
    number's area code, else on both mainland coasts), and
    the dispatcher places it like a contractor call. Without consent the call is recorded
    ``for_team`` and ``action.items.created`` asks the team to call, saying why the agent did
    not. A number on the do-not-call list, or one with a lead call already pending, is not
    scheduled again (recorded ``cancelled`` with the reason); no usable number: ``cancelled``
    and an action item asks for one.
    """
    now = now or utcnow()
    existing = session.exec(
        select(CallSchedule).where(
            CallSchedule.org_id == org_id, CallSchedule.source_event_id == source_event_id
        )
    ).first()
    if existing is not None:
        return existing
    raw = str(payload.get("phone") or payload.get("phone_number") or "").strip()
    number: str | None = None
    if raw:
        try:
            number = construction_service.normalise_phone(raw)
        except construction_service.ConstructionInputError:
            number = None
    details: dict[str, Any] = {
        k: str(v)[:300] for k, v in payload.items() if k in LEAD_DETAIL_KEYS and v is not None
    }
    consent_source = payload.get("consent_source")
    consent = has_consent(
        {"consent_to_call": payload.get("consent_to_call"), "consent_source": consent_source}
    )
    timezone = hours.valid_timezone(payload.get("timezone"))
    if consent:
        details |= {"consent_to_call": True, "consent_source": str(consent_source).strip()[:300]}
    if timezone:
        details["timezone"] = timezone
    who = details.get("name") or (f"lead {details['lead_id']}" if details.get("lead_id") else "")
    about = details.get("address")
    lead = f"the lead {who}".strip() if who else "the lead"
    requested_by = _org_user_id(session, org_id, payload.get("requested_by"))

    def record(status: ScheduleStatus, reason: str | None, when: dt.datetime = now) -> CallSchedule:
        return _new_schedule(
            session=session,
            org_id=org_id,
            contractor_id=None,
            project_id=None,
            purpose=CallPurpose.lead_qualification,
            when=when,
            reason=reason,
            requested_by=requested_by,
            source_event_id=source_event_id,
            to_number=number,
            details=details,
            status=status,
        )

    item: dict[str, Any] | None
    if number is None:
        schedule = record(
            ScheduleStatus.cancelled,
            "not called: the lead has no usable phone number"
            + (f" ({raw[:40]!r})" if raw else "")
            + "; lead qualification calls need one",
        )
        item = {
            "kind": "find_lead_phone",
            "text": f"Find a phone number for {lead}"
            + (f" ({about})" if about else "")
            + ": no usable number came with the lead",
        }
    elif is_do_not_call(session=session, org_id=org_id, phone_number=number):
        schedule = record(
            ScheduleStatus.cancelled,
            "not called: the lead asked not to be called (the number is on the do-not-call list)",
        )
        item = {
            "kind": "lead_opted_out",
            "text": f"{_sentence_start(lead)} asked not to be called (do-not-call list): "
            "do not phone them",
            "phone": number,
        }
    elif not consent:
        schedule = record(
            ScheduleStatus.for_team,
            "left to the team: no prior express consent to automated calls was recorded with "
            "the lead (consent_to_call true and a consent_source), so the voice agent may not "
            "call",
        )
        item = {
            "kind": "call_lead",
            "text": f"Call {lead} at {number}"
            + (f" about {about}" if about else "")
            + " to qualify them: the voice agent did not call because no consent to automated "
            "calls was recorded with the lead",
            "phone": number,
            "reason": "no_consent",
        }
    else:
        windows = hours.lead_windows(timezone, number)
        when = hours.next_allowed_in_all(now, windows)
        try:
            schedule = record(
                ScheduleStatus.scheduled,
                None
                if when <= now
                else f"outside the lead's calling hours ({hours.describe_all(windows)})",
                when,
            )
        except ScheduleConflict as exc:
            schedule = record(ScheduleStatus.cancelled, f"not scheduled again: {exc}")
        item = None
    if item is not None:
        item |= {"schedule_id": str(schedule.id), "lead_id": details.get("lead_id")}
        publish(
            session,
            org_id=org_id,
            name="action.items.created",
            payload={
                "call_id": None,
                "contractor_id": None,
                "project_id": None,
                "schedule_id": schedule.id,
                "items": [item],
                "source": "lead.qualification.needed",
            },
        )
    return schedule


# --- what the team sees of seller lead calls ----------------------------------------------

LEAD_PENDING_VIEW = (ScheduleStatus.scheduled, ScheduleStatus.in_progress, ScheduleStatus.for_team)


@dataclass(frozen=True)
class LeadCallView:
    """One lead-qualification call as the team reads it."""

    call_id: uuid.UUID
    name: str | None
    address: str | None
    lead_id: str | None
    phone: str | None
    at: dt.datetime
    status: str
    outcome: str | None
    summary: str
    """the seller's answers in one line (qualified), or what happened."""
    next_steps: tuple[str, ...]
    """the call's action items, in words."""


@dataclass(frozen=True)
class LeadScheduleView:
    """A lead call still to be made: by the agent (scheduled) or by the team (for_team)."""

    schedule_id: uuid.UUID
    name: str | None
    address: str | None
    lead_id: str | None
    phone: str | None
    status: str
    scheduled_for: dt.datetime
    local_time: str
    """when, on the lead's clock ("Mon Nov 30 16:00 Asia/Tokyo")."""
    reason: str | None


@dataclass(frozen=True)
class LeadActivity:
    """Recent seller lead calls and the ones still to be made (``lead_activity``)."""

    calls: tuple[LeadCallView, ...]
    upcoming: tuple[LeadScheduleView, ...]
    matched: str | None


_LEAD_OUTCOME_WORDS = {
    CallOutcome.callback_requested: "asked to be called back",
    CallOutcome.declined: "no longer wants to sell",
    CallOutcome.opted_out: "asked not to be called again (do-not-call list)",
    CallOutcome.voicemail: "voicemail left with our callback number",
    CallOutcome.no_answer: "no answer",
    CallOutcome.unclear: "no clear answer",
}


def _lead_identity(details: dict[str, Any], phone: str | None) -> dict[str, Any]:
    """Who a lead call is with, as the team's views name them."""
    return {
        "name": details.get("name"),
        "address": details.get("address"),
        "lead_id": details.get("lead_id"),
        "phone": phone,
    }


def _lead_matches(needle: str | None, details: dict[str, Any], phone: str | None) -> bool:
    """Whether a lead's details or number match what the team asked about (any of them)."""
    if not needle:
        return True
    text = needle.strip().lower()
    for key in ("name", "address", "lead_id"):
        value = str(details.get(key) or "").lower()
        if value and (text in value or value in text):
            return True
    digits = re.sub(r"\D", "", needle)
    return len(digits) >= 7 and phone is not None and digits[-10:] in re.sub(r"\D", "", phone)


def lead_activity(
    *,
    session: Session,
    org_id: uuid.UUID,
    lead: str | None = None,
    limit: int = 10,
    scan: int = 200,
) -> LeadActivity:
    """The organisation's latest seller lead calls and the lead calls still to be made.

    ``lead`` narrows both to a lead by name, address, lead id or phone number (a part of
    any of them). Calls come newest first with the answers taken (``team_summary``) or what
    happened, and their action items; the lead calls still to be made come soonest first,
    with the time on the lead's own clock. The latest ``scan`` calls and schedules are read.
    """
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    calls = list(
        session.exec(
            select(Call)
            .where(Call.org_id == org_id, Call.purpose == CallPurpose.lead_qualification)
            .order_by(col(Call.created_at).desc(), col(Call.id))
            .limit(scan)
        )
    )
    schedule_ids = {c.schedule_id for c in calls if c.schedule_id is not None}
    schedules = {
        s.id: s
        for s in session.exec(
            select(CallSchedule).where(
                CallSchedule.org_id == org_id, col(CallSchedule.id).in_(schedule_ids)
            )
        )
    }
    views: list[LeadCallView] = []
    for call in calls:
        schedule = schedules.get(call.schedule_id) if call.schedule_id else None
        details = dict((schedule.details if schedule else None) or {})
        if not _lead_matches(lead, details, call.to_number):
            continue
        data = call.outcome_data or {}
        address = str(details.get("address") or "the property")
        if call.outcome == CallOutcome.qualified:
            summary = team_summary(LeadFacts.from_json(data.get("facts")), address)
        elif call.outcome is not None:
            summary = _LEAD_OUTCOME_WORDS.get(call.outcome, str(call.outcome))
        else:
            summary = f"call {call.status}"
        views.append(
            LeadCallView(
                call_id=call.id,
                **_lead_identity(details, call.to_number),
                at=call.started_at or call.created_at,
                status=str(call.status),
                outcome=str(call.outcome) if call.outcome else None,
                summary=summary,
                next_steps=tuple(
                    str(item.get("text"))
                    for item in data.get("action_items") or []
                    if isinstance(item, dict) and item.get("text")
                ),
            )
        )
        if len(views) >= limit:
            break
    pending = session.exec(
        select(CallSchedule)
        .where(
            CallSchedule.org_id == org_id,
            CallSchedule.purpose == CallPurpose.lead_qualification,
            col(CallSchedule.status).in_([s.value for s in LEAD_PENDING_VIEW]),
        )
        .order_by(col(CallSchedule.scheduled_for), col(CallSchedule.id))
        .limit(scan)
    ).all()
    upcoming: list[LeadScheduleView] = []
    for schedule in pending:
        details = dict(schedule.details or {})
        if not _lead_matches(lead, details, schedule.to_number):
            continue
        window = lead_windows(schedule)[0]
        local = hours.local_time(schedule.scheduled_for, window)
        upcoming.append(
            LeadScheduleView(
                schedule_id=schedule.id,
                **_lead_identity(details, schedule.to_number),
                status=str(schedule.status),
                scheduled_for=schedule.scheduled_for,
                local_time=f"{local:%a %b} {local.day} {local:%H:%M} {window.timezone}",
                reason=schedule.reason,
            )
        )
        if len(upcoming) >= limit:
            break
    return LeadActivity(calls=tuple(views), upcoming=tuple(upcoming), matched=lead or None)


@dataclass(frozen=True)
class LeadView:
    """A seller lead as the team lists them: who, which property, where it stands."""

    schedule_id: uuid.UUID
    name: str | None
    address: str | None
    lead_id: str | None
    phone: str | None
    status: str
    """the lead's latest schedule status (scheduled, in_progress, completed, for_team ...)."""
    received_at: dt.datetime
    consent_source: str | None
    last_call_at: dt.datetime | None
    last_call: str | None
    """the latest call in words: the answers taken (qualified) or what happened."""


def list_leads(
    *,
    session: Session,
    org_id: uuid.UUID,
    since: dt.datetime | None = None,
    before: dt.datetime | None = None,
    limit: int = 20,
    scan: int = 500,
) -> list[LeadView]:
    """The organisation's seller leads, newest first, one per phone number.

    A lead is a lead-qualification request (``submit_lead``): its schedule carries the name,
    address and consent. A number submitted again is one lead (its latest request).
    ``since`` keeps the leads received from then on, ``before`` those received before then.
    Each lead comes with its latest call
    (summarised as ``lead_activity`` does), when there is one.
    """
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    statement = select(CallSchedule).where(
        CallSchedule.org_id == org_id, CallSchedule.purpose == CallPurpose.lead_qualification
    )
    if since is not None:
        statement = statement.where(col(CallSchedule.created_at) >= since)
    if before is not None:
        statement = statement.where(col(CallSchedule.created_at) < before)
    schedules = session.exec(
        statement.order_by(col(CallSchedule.created_at).desc(), col(CallSchedule.id)).limit(scan)
    ).all()
    # One lead per number: its newest request that is not a cancelled duplicate (a number
    # submitted again while its call is scheduled is recorded cancelled; the lead is still
    # the live one), else its newest.
    by_number: dict[str, list[CallSchedule]] = {}
    for schedule in schedules:
        by_number.setdefault(schedule.to_number or str(schedule.id), []).append(schedule)
    latest = [
        next((s for s in group if s.status != ScheduleStatus.cancelled), group[0])
        for group in by_number.values()
    ][:limit]
    numbers = [s.to_number for s in latest if s.to_number]
    last_calls: dict[str, Call] = {}
    if numbers:
        for found in session.exec(
            select(Call)
            .where(
                Call.org_id == org_id,
                Call.purpose == CallPurpose.lead_qualification,
                col(Call.to_number).in_(numbers),
            )
            .order_by(col(Call.created_at).desc(), col(Call.id))
        ):
            last_calls.setdefault(found.to_number, found)
    views: list[LeadView] = []
    for schedule in latest:
        details = dict(schedule.details or {})
        call = last_calls.get(schedule.to_number or "")
        summary: str | None = None
        if call is not None:
            data = call.outcome_data or {}
            if call.outcome == CallOutcome.qualified:
                address = str(details.get("address") or "the property")
                summary = team_summary(LeadFacts.from_json(data.get("facts")), address)
            elif call.outcome is not None:
                summary = _LEAD_OUTCOME_WORDS.get(call.outcome, str(call.outcome))
            else:
                summary = f"call {call.status}"
        views.append(
            LeadView(
                schedule_id=schedule.id,
                **_lead_identity(details, schedule.to_number),
                status=str(schedule.status),
                received_at=schedule.created_at,
                consent_source=details.get("consent_source"),
                last_call_at=(call.started_at or call.created_at) if call is not None else None,
                last_call=summary,
            )
        )
    return views
