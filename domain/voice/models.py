"""AI phone calls to contractors, their transcripts and schedules (schema ``voice_service``).

``contractor_id`` and ``project_id`` point at ``construction_service`` as plain indexed UUIDs,
not foreign keys, so the voice module can be split out without a data migration.
``calls.call_sid`` is unique: Twilio may repeat a status callback, and it must find one row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field

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


class CallSchedule(UUIDPrimaryKey, OrgScoped, Timestamps, table=True):
    """A call to place later (``POST /calls/schedule``), retried up to ``max_attempts``."""

    __tablename__ = "call_schedules"
    __table_args__ = (
        # The dispatcher looks for due rows: status = 'scheduled' and scheduled_for <= now.
        Index("ix_call_schedules_status_scheduled_for", "status", "scheduled_for"),
        {"schema": SCHEMA},
    )

    contractor_id: uuid.UUID = Field(index=True, description="construction_service.contractors.id")
    project_id: uuid.UUID | None = Field(
        default=None, index=True, description="construction_service.projects.id"
    )
    purpose: CallPurpose = Field(sa_type=String(50))  # type: ignore[call-overload]
    scheduled_for: dt.datetime = tstz(nullable=False)
    status: ScheduleStatus = Field(default=ScheduleStatus.scheduled, sa_type=String(20))  # type: ignore[call-overload]
    attempts: int = 0
    max_attempts: int = 3


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
