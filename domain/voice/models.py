"""AI phone calls to contractors and seller leads, transcripts, schedules (``voice_service``).

``contractor_id`` and ``project_id`` point at ``construction_service`` as plain indexed UUIDs,
not foreign keys, so the voice module can be split out without a data migration.
``calls.call_sid`` is unique: Twilio may repeat a status callback, and it must find one row.
A seller lead has no row of its own here: its schedule carries ``to_number`` and ``details``
(name, address, the consent recorded with it). ``do_not_call`` holds the numbers (E.164) that
asked not to be called, per organisation: no call is ever placed to them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from domain.voice.enums import (
    CallDirection,
    CallOutcome,
    CallPurpose,
    CallStatus,
    ScheduleStatus,
    Speaker,
)
from store.base import CreatedAt, OrgScoped, Timestamps, UUIDPrimaryKey, jsonb, tstz

SCHEMA = "voice_service"
# Schedule statuses that still lead to a call (the partial unique index below).
PENDING_SCHEDULE_STATUSES = (ScheduleStatus.scheduled, ScheduleStatus.in_progress)
PENDING_SQL = "(" + ", ".join(f"'{s.value}'" for s in PENDING_SCHEDULE_STATUSES) + ")"
LEAD_PURPOSE_SQL = f"'{CallPurpose.lead_qualification.value}'"


class CallSchedule(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A call to place later (``POST /calls/schedule``), retried up to ``max_attempts``."""

    __tablename__ = "call_schedules"
    __table_args__ = (
        # The dispatcher looks for due rows: status = 'scheduled' and scheduled_for <= now.
        Index("ix_call_schedules_status_scheduled_for", "status", "scheduled_for"),
        # At most one pending call per contractor and project: a second "get bids" request
        # (or two delivered at once) never phones the same contractor twice (revision 0005).
        Index(
            "uq_call_schedules_pending_contractor_project",
            "org_id",
            "project_id",
            "contractor_id",
            unique=True,
            postgresql_where=text(f"status IN {PENDING_SQL}"),
        ),
        # At most one pending lead-qualification call per phone number: two events about the
        # same seller (or two delivered at once) never ring them twice.
        Index(
            "uq_call_schedules_pending_lead_number",
            "org_id",
            "to_number",
            unique=True,
            postgresql_where=text(f"purpose = {LEAD_PURPOSE_SQL} AND status IN {PENDING_SQL}"),
        ),
        {"schema": SCHEMA},
    )

    # NULL for a seller lead to qualify: the lead is no contractor (``to_number``, ``details``).
    contractor_id: uuid.UUID | None = Field(
        default=None, index=True, description="construction_service.contractors.id"
    )
    project_id: uuid.UUID | None = Field(
        default=None, index=True, description="construction_service.projects.id"
    )
    purpose: CallPurpose = Field(sa_type=String(50))  # type: ignore[call-overload]
    scheduled_for: dt.datetime = tstz(nullable=False)
    status: ScheduleStatus = Field(default=ScheduleStatus.scheduled, sa_type=String(20))  # type: ignore[call-overload]
    attempts: int = 0
    max_attempts: int = 3
    to_number: str | None = Field(default=None, max_length=20, description="E.164, for a lead")
    requested_by: uuid.UUID | None = Field(default=None, description="auth.users.id")
    # The event that asked for this call: handlers create one schedule per (event, contractor).
    source_event_id: uuid.UUID | None = Field(default=None, index=True, description="events.outbox")
    reason: str | None = Field(
        default=None,
        sa_type=Text,  # type: ignore[call-overload]
        description="why it is scheduled (outside hours, retry, no free line) or why it stopped",
    )
    details: dict[str, Any] = jsonb(
        sa_column_kwargs={"server_default": text("'{}'::jsonb")},
        description="what the request carried (a lead's name and property ...)",
    )


class DoNotCall(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """A phone number that asked not to be called (a seller lead on a call): never dialled."""

    __tablename__ = "do_not_call"
    __table_args__ = (
        UniqueConstraint("org_id", "phone_number", name="uq_do_not_call_org_phone"),
        {"schema": SCHEMA},
    )

    phone_number: str = Field(max_length=20, description="E.164")
    reason: str = Field(sa_type=Text)  # type: ignore[call-overload]
    call_id: uuid.UUID | None = Field(
        default=None, description="voice_service.calls.id of the call it was asked on"
    )


class Call(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """One phone call (one attempt) with a contractor, and what came of it."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_org_contractor_created", "org_id", "contractor_id", "created_at"),
        {"schema": SCHEMA},
    )

    contractor_id: uuid.UUID | None = Field(
        default=None, index=True, description="construction_service.contractors.id"
    )
    project_id: uuid.UUID | None = Field(
        default=None, index=True, description="construction_service.projects.id"
    )
    schedule_id: uuid.UUID | None = Field(
        default=None, foreign_key=f"{SCHEMA}.call_schedules.id", index=True, ondelete="SET NULL"
    )
    purpose: CallPurpose = Field(sa_type=String(50))  # type: ignore[call-overload]
    status: CallStatus = Field(default=CallStatus.queued, sa_type=String(20))  # type: ignore[call-overload]
    call_sid: str | None = Field(default=None, max_length=64, unique=True, description="Twilio")
    direction: CallDirection = Field(default=CallDirection.outbound, sa_type=String(10))  # type: ignore[call-overload]
    to_number: str = Field(max_length=20, description="E.164")
    from_number: str | None = Field(default=None, max_length=20, description="E.164")
    outcome: CallOutcome | None = Field(default=None, sa_type=String(50))  # type: ignore[call-overload]
    outcome_data: dict[str, Any] = jsonb(description="answers taken: bid amount, start date ...")
    attempt: int = Field(default=1, ge=1)
    started_at: dt.datetime | None = tstz()
    ended_at: dt.datetime | None = tstz()
    recording_document_id: uuid.UUID | None = Field(
        default=None, index=True, description="documents.documents.id"
    )
    answered_by: str | None = Field(
        default=None, max_length=30, description="Twilio's AnsweredBy: human, machine_end_beep ..."
    )
    bid_id: uuid.UUID | None = Field(
        default=None, index=True, description="construction_service.bids.id taken on this call"
    )
    requested_by: uuid.UUID | None = Field(default=None, description="auth.users.id")
    note: str | None = Field(
        default=None,
        sa_type=Text,  # type: ignore[call-overload]
        description="why the call was not placed, or what went wrong",
    )


class CallTranscript(UUIDPrimaryKey, OrgScoped, CreatedAt, table=True):
    """One turn of a call's conversation, in order."""

    __tablename__ = "call_transcripts"
    __table_args__ = (
        UniqueConstraint("call_id", "turn", name="uq_call_transcripts_call_turn"),
        {"schema": SCHEMA},
    )

    call_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.calls.id", index=True, ondelete="CASCADE")
    turn: int = Field(ge=0, description="0-based turn index within the call")
    speaker: Speaker = Field(sa_type=String(20))  # type: ignore[call-overload]
    text: str = Field(sa_type=Text)  # type: ignore[call-overload]
    confidence: Decimal | None = Field(default=None, max_digits=3, decimal_places=2)


# --- API shapes --------------------------------------------------------------------------


class CallRead(SQLModel):
    """A call as the API returns it, with the TwiML URL Twilio (or the simulator) fetches."""

    id: uuid.UUID
    org_id: uuid.UUID
    contractor_id: uuid.UUID | None
    project_id: uuid.UUID | None
    schedule_id: uuid.UUID | None
    purpose: CallPurpose
    status: CallStatus
    call_sid: str | None
    to_number: str
    from_number: str | None
    outcome: CallOutcome | None
    outcome_data: dict[str, Any]
    attempt: int
    answered_by: str | None
    bid_id: uuid.UUID | None
    note: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    recording_document_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    twiml_url: str = Field(description="where the call's conversation starts (Twilio fetches it)")


class TranscriptTurnRead(SQLModel):
    """One turn of a call's conversation."""

    turn: int
    speaker: Speaker
    text: str
    confidence: Decimal | None
    created_at: dt.datetime


class CallTranscriptRead(SQLModel):
    """A call's transcript, oldest turn first, and what was taken from it."""

    call: CallRead
    turns: list[TranscriptTurnRead]
    facts: dict[str, Any] = Field(description="prices per scope line, start date, duration ...")
    action_items: list[dict[str, Any]]
    fact_sources: dict[str, str] = Field(
        default_factory=dict,
        description='where each fact came from: "speech" (heard live) or "recording" (only in '
        "the call's recording); keys line:<scope item id>, total, start_date, duration_days ...",
    )
    recording_transcript: str | None = Field(
        default=None, description="Whisper's transcript of the call's recording, when recorded"
    )


class LeadCallRequest(SQLModel):
    """Body of ``POST /calls/leads``: a seller lead to qualify by phone.

    The agent dials only with ``consent_to_call: true`` and a ``consent_source`` (the lead's
    prior express consent to automated calls, and where and when it was given); otherwise the
    call is left to the team.
    """

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    phone: str = Field(min_length=3, max_length=32, description="the lead's phone number")
    address: str = Field(min_length=3, max_length=300, description="the property to sell")
    name: str | None = Field(default=None, max_length=120)
    lead_id: str | None = Field(default=None, max_length=100, description="your CRM's id")
    property_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    timezone: str | None = Field(
        default=None, max_length=64, description="the lead's IANA time zone (calling hours)"
    )
    consent_to_call: bool = False
    consent_source: str | None = Field(
        default=None,
        max_length=300,
        description="where and when the lead consented, e.g. 'web form 2026-11-20'",
    )


class ScheduleRead(SQLModel):
    """A scheduled call as the API returns it."""

    id: uuid.UUID
    org_id: uuid.UUID
    contractor_id: uuid.UUID | None
    project_id: uuid.UUID | None
    purpose: CallPurpose
    scheduled_for: dt.datetime
    status: ScheduleStatus
    attempts: int
    max_attempts: int
    to_number: str | None
    reason: str | None
    created_at: dt.datetime


class CallRequest(SQLModel):
    """Body of ``POST /calls/initiate``: whom to call, about which project, and why."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    contractor_id: uuid.UUID
    project_id: uuid.UUID | None = Field(
        default=None, description="required for bid requests, scheduling and follow-ups"
    )
    purpose: CallPurpose = CallPurpose.bid_request


class ScheduleRequest(CallRequest):
    """Body of ``POST /calls/schedule``: a call request and when to place it."""

    scheduled_for: dt.datetime = Field(
        description="when to call (with a time zone); moved into the contractor's hours"
    )


class InitiateResult(SQLModel):
    """What ``POST /calls/initiate`` did: placed (or recorded) the call, or scheduled it."""

    status: str = Field(
        description="placed, recorded (no Twilio: in the outbox), scheduled, failed, retrying, "
        "or rescheduled/cancelled (not callable any more when it was placed)"
    )
    call: CallRead | None = None
    schedule: ScheduleRead | None = None
    scheduled_for: dt.datetime | None = None
    reason: str | None = Field(default=None, description="why it was scheduled, not placed")


class ContractorAvailability(SQLModel):
    """Whether one contractor may be called now, and if not, from when."""

    contractor_id: uuid.UUID
    name: str
    trades: list[str]
    callable_now: bool
    reason: str | None
    local_time: str = Field(description="the contractor's wall clock, e.g. 14:05 America/Chicago")
    window: str = Field(description="their calling hours, e.g. 08:00-20:00 America/Chicago")
    next_allowed_at: dt.datetime | None


class AgentAvailability(SQLModel):
    """The voice agent's free call slots, what is scheduled, and who can be called now."""

    checked_at: dt.datetime
    max_concurrent_calls: int
    active_calls: int
    free_slots: int
    twilio_configured: bool = Field(description="false: calls are recorded in the outbox only")
    upcoming: list[ScheduleRead]
    contractors: list[ContractorAvailability]
